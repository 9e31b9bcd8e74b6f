using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Memory;
using Ssd.Engine.Network;
using Ssd.Weights.Model;
using Ssd.Weights.Torch;
using static Ssd.Tests.Engine.NetworkFixtures;

namespace Ssd.Tests.Engine;

public class MemoryPlannerTests
{
    /// <summary>The property the arena relies on: two buffers live at the same step never share a float.</summary>
    private static void AssertNoLiveOverlap(IReadOnlyList<BufferRequest> requests, MemoryPlan plan)
    {
        Assert.That(plan.Offsets, Has.Length.EqualTo(requests.Count));
        for (int i = 0; i < requests.Count; i++)
        {
            Assert.That(plan.Offsets[i] % MemoryPlanner.Alignment, Is.Zero, $"buffer {i} is not aligned");
            Assert.That(plan.Offsets[i] + requests[i].Size, Is.LessThanOrEqualTo(plan.ArenaSize), $"buffer {i} ends outside the arena");
            for (int j = i + 1; j < requests.Count; j++)
            {
                if (!MemoryPlanner.Overlap(requests[i], requests[j]) || requests[i].Size == 0 || requests[j].Size == 0) continue;
                bool disjoint = plan.Offsets[i] + requests[i].Size <= plan.Offsets[j] || plan.Offsets[j] + requests[j].Size <= plan.Offsets[i];
                Assert.That(disjoint, $"buffers {i} {requests[i]} at {plan.Offsets[i]} and {j} {requests[j]} at {plan.Offsets[j]} are live together and overlap");
            }
        }
    }

    [Test]
    public void RandomDagLikePlansNeverOverlapLiveBuffers([Range(0, 199)] int seed)
    {
        // A DAG-like plan: step s produces buffer s, which is read by up to three later steps (skip connections
        // like SSD's sources feeding the heads); some buffers are pinned to the end (outputs).
        var rng = new Random(seed);
        int steps = rng.Next(1, 60);
        var requests = new List<BufferRequest>();
        for (int s = 0; s < steps; s++)
        {
            int last = s;
            for (int r = rng.Next(0, 4); r > 0; r--) last = Math.Max(last, rng.Next(s, steps));
            if (rng.NextDouble() < 0.1) last = steps;
            requests.Add(new BufferRequest(rng.Next(0, 5) == 0 ? rng.Next(0, 10) : rng.Next(1, 100_000), s, last));
        }
        var plan = MemoryPlanner.Plan(requests);
        AssertNoLiveOverlap(requests, plan);
        // Never worse than giving every buffer its own aligned region.
        Assert.That(plan.ArenaSize, Is.LessThanOrEqualTo(requests.Sum(r => (r.Size + 63) / 64 * 64)));
    }

    [Test]
    public void VggLikeChainReusesMemory()
    {
        // 16 layers in a chain, each read only by the next: only two neighbours are ever live together.
        long[] sizes = [64 * 300 * 300, 64 * 300 * 300, 64 * 150 * 150, 128 * 150 * 150, 128 * 150 * 150, 128 * 75 * 75, 256 * 75 * 75, 256 * 75 * 75,
            256 * 75 * 75, 256 * 38 * 38, 512 * 38 * 38, 512 * 38 * 38, 512 * 38 * 38, 512 * 19 * 19, 512 * 19 * 19, 512 * 19 * 19];
        var requests = sizes.Select((s, i) => new BufferRequest(s, i, i + 1)).ToList();
        var plan = MemoryPlanner.Plan(requests);
        AssertNoLiveOverlap(requests, plan);
        TestContext.Out.WriteLine($"arena {plan.ArenaSize} floats for {plan.Requested} requested");
        // The lower bound for a chain is the largest pair of neighbours; the greedy placement reaches it here.
        long bound = sizes.Zip(sizes.Skip(1), (a, b) => a + b).Max();
        Assert.That(plan.ArenaSize, Is.LessThanOrEqualTo(bound + MemoryPlanner.Alignment));
        Assert.That(plan.ArenaSize, Is.LessThan(plan.Requested / 2));
    }

    [Test]
    public void RealNetworkPlanPlacesEveryLiveValueApart()
    {
        var model = TorchConverter.Convert(TorchCheckpoint.Load(Network("torchvision/model.pth")));
        using var backend = new CpuBackend();
        using var net = SsdNetwork.Load(model.Description, model.Tensors, backend);
        var roots = net.Plan.Values.Select(v => v.Root).Distinct().ToList();
        var requests = roots.Select(r => { var (f, l) = net.Plan.Lifetime(r); return new BufferRequest(r.Count, f, l); }).ToList();
        AssertNoLiveOverlap(requests, MemoryPlanner.Plan(requests));
        TestContext.Out.WriteLine($"torchvision SSD300/32: arena {net.Memory.ArenaSize} floats for {net.Memory.Requested} requested");
        Assert.That(net.Memory.ArenaSize, Is.LessThan(net.Memory.Requested / 2));
    }

    [Test]
    public void BadRequestsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => MemoryPlanner.Plan([new BufferRequest(-1, 0, 0)]));
        Assert.Throws<ArgumentException>(() => MemoryPlanner.Plan([new BufferRequest(4, 3, 2)]));
    }
}
