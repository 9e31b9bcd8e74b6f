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
        if (alignment <= 0) throw new ArgumentException($"alignment {alignment} must be positive");
        for (int i = 0; i < requests.Count; i++)
        {
            var r = requests[i];
            if (r.Size < 0) throw new ArgumentException($"buffer {i}: size {r.Size} is negative");
            if (r.Last < r.First) throw new ArgumentException($"buffer {i}: live interval [{r.First}, {r.Last}] ends before it starts");
        }
        var offsets = new long[requests.Count];
        var order = Enumerable.Range(0, requests.Count).OrderByDescending(i => requests[i].Size).ThenBy(i => requests[i].First).ToList();
        var placed = new List<int>();
        long arena = 0;
        foreach (int i in order)
        {
            var r = requests[i];
            var conflicts = placed.Where(j => Overlap(requests[j], r)).OrderBy(j => offsets[j]).ToList();
            long offset = 0;
            foreach (int j in conflicts)
            {
                if (offset + r.Size <= offsets[j]) break; // fits in the gap before j
                offset = Math.Max(offset, Align(offsets[j] + requests[j].Size, alignment));
            }
            offsets[i] = offset;
            placed.Add(i);
            arena = Math.Max(arena, offset + r.Size);
        }
        return new MemoryPlan(offsets, arena, requests.Sum(r => r.Size));
    }

    /// <summary>True when the two buffers' live intervals intersect (they may not share memory).</summary>
    public static bool Overlap(BufferRequest a, BufferRequest b) => a.First <= b.Last && b.First <= a.Last;

    private static long Align(long x, int a) => (x + a - 1) / a * a;
}
