namespace Ssd.Engine.Memory;

/// <summary>A buffer to place: Size floats, live from step First to step Last inclusive.</summary>
public readonly record struct BufferRequest(long Size, int First, int Last);

/// <summary>Each request's offset in one arena of ArenaSize floats; Requested is the sum of all sizes (what
/// separate allocations would need).</summary>
public sealed record MemoryPlan(long[] Offsets, long ArenaSize, long Requested);

/// <summary>
/// Liveness-based placement of activation buffers in one arena: two buffers may share memory only when their live
/// intervals do not intersect. Greedy by size (largest first), each at the lowest aligned offset that does not
/// overlap a placed buffer live at the same time — the usual offset-assignment heuristic of inference engines.
/// </summary>
public static class MemoryPlanner
{
    /// <summary>Offsets are multiples of Alignment floats (256 bytes), which keeps every view aligned for vector loads.</summary>
    public const int Alignment = 64;

    /// <summary>Places every request (largest first, lowest aligned free offset among the buffers live with it).</summary>
    /// <param name="requests">The buffers with their sizes and live intervals.</param>
    /// <param name="alignment">Offsets are multiples of this many floats.</param>
    public static MemoryPlan Plan(IReadOnlyList<BufferRequest> requests, int alignment = Alignment)
    {
        var copy = new BufferRequest[requests.Count];
        for (int i = 0; i < copy.Length; i++) copy[i] = requests[i];
        return Plan(copy, alignment);
    }

    // Arrays and loops, no Linq or List over BufferRequest: the framework's generic code instantiated over an Ssd value
    // type is JIT-compiled at every start (ReadyToRun cannot hold it), and this runs in every network's build (issue 13).
    internal static MemoryPlan Plan(BufferRequest[] requests, int alignment = Alignment)
    {
        if (alignment <= 0) throw new ArgumentException($"alignment {alignment} must be positive");
        long requested = 0;
        for (int i = 0; i < requests.Length; i++)
        {
            var r = requests[i];
            if (r.Size < 0) throw new ArgumentException($"buffer {i}: size {r.Size} is negative");
            if (r.Last < r.First) throw new ArgumentException($"buffer {i}: live interval [{r.First}, {r.Last}] ends before it starts");
            requested = checked(requested + r.Size);
        }
        var offsets = new long[requests.Length];
        // Largest first, then earliest first, then in request order (a stable sort).
        var order = new int[requests.Length];
        for (int i = 0; i < order.Length; i++)
        {
            int k = i;
            for (; k > 0 && PlacedBefore(requests[i], requests[order[k - 1]]); k--) order[k] = order[k - 1];
            order[k] = i;
        }
        var placed = new int[requests.Length];
        var conflicts = new int[requests.Length];
        int placedCount = 0;
        long arena = 0;
        foreach (int i in order)
        {
            var r = requests[i];
            // The placed buffers live at the same time, by offset (ties in placement order).
            int n = 0;
            for (int p = 0; p < placedCount; p++)
            {
                int j = placed[p];
                if (!Overlap(requests[j], r)) continue;
                int k = n++;
                for (; k > 0 && offsets[conflicts[k - 1]] > offsets[j]; k--) conflicts[k] = conflicts[k - 1];
                conflicts[k] = j;
            }
            long offset = 0;
            for (int c = 0; c < n; c++)
            {
                int j = conflicts[c];
                if (offset + r.Size <= offsets[j]) break; // fits in the gap before j
                offset = Math.Max(offset, Align(offsets[j] + requests[j].Size, alignment));
            }
            offsets[i] = offset;
            placed[placedCount++] = i;
            arena = Math.Max(arena, offset + r.Size);
        }
        return new MemoryPlan(offsets, arena, requested);
    }

    private static bool PlacedBefore(BufferRequest a, BufferRequest b) => a.Size > b.Size || a.Size == b.Size && a.First < b.First;

    /// <summary>True when the two buffers' live intervals intersect (they may not share memory).</summary>
    public static bool Overlap(BufferRequest a, BufferRequest b) => a.First <= b.Last && b.First <= a.Last;

    private static long Align(long x, int a) => (x + a - 1) / a * a;
}
