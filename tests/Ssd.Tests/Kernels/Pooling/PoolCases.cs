using Ssd.Kernels.Core;
using Ssd.Kernels.Pooling;
using Ssd.Tests.Kernels.OpMatrix;
using static Ssd.Tests.Kernels.OpMatrix.OpMatrix;

namespace Ssd.Tests.Kernels.Pooling;

/// <summary>Max and average pooling (both divisors) for the op matrix: each flavour's output rule, odd edges,
/// global pooling, batch 2, and SSD300's pool1, pool3 and pool5.</summary>
public sealed class PoolCases : IOpCaseList
{
    private static readonly (string Name, Func<PoolGeometry> Geometry, CaseSize Size)[] Geometries =
    [
        ("odd k3 s2 p1 Caffe ceil", () => PoolGeometry.Create(new(2, 3, 7, 9), 3, 3, 2, 2, 1, 1, PoolOutputRule.CaffeCeil), CaseSize.Small),
        ("odd k3 s2 p1 torch floor", () => PoolGeometry.Create(new(2, 3, 7, 9), 3, 3, 2, 2, 1, 1, PoolOutputRule.TorchFloor), CaseSize.Small),
        ("odd k3 s2 p1 torch ceil", () => PoolGeometry.Create(new(2, 3, 8, 10), 3, 3, 2, 2, 1, 1, PoolOutputRule.TorchCeil), CaseSize.Small),
        ("k2 s2 odd 7x5 Caffe ceil", () => PoolGeometry.Create(new(1, 2, 7, 5), 2, 2, 2, 2, 0, 0, PoolOutputRule.CaffeCeil), CaseSize.Small),
        ("1x3 kernel s1 pad 0x1 wide", () => PoolGeometry.Create(new(1, 2, 5, 53), 1, 3, 1, 1, 0, 1, PoolOutputRule.TorchFloor), CaseSize.Small),
        ("global 6x7", () => PoolGeometry.Global(new(2, 5, 6, 7)), CaseSize.Small),
        ("k5 s1 p2 batch 2", () => PoolGeometry.Create(new(2, 3, 11, 35), 5, 5, 1, 1, 2, 2, PoolOutputRule.CaffeCeil), CaseSize.Large),
        ("SSD300 pool1 64x300x300", () => PoolGeometry.Create(new(1, 64, 300, 300), 2, 2, 0, PoolOutputRule.CaffeCeil), CaseSize.Large),
        ("SSD300 pool3 ceil 256x75x75", () => PoolGeometry.Create(new(1, 256, 75, 75), 2, 2, 0, PoolOutputRule.TorchCeil), CaseSize.Large),
        ("SSD300 pool5 3x3 s1 p1 512x19x19", () => PoolGeometry.Create(new(1, 512, 19, 19), 3, 1, 1, PoolOutputRule.CaffeCeil), CaseSize.Large),
    ];

    public static IEnumerable<IOpCase> Cases => Forward.Concat(Training).Concat(Backward);

    private static IEnumerable<IOpCase> Forward =>
        from g in Geometries
        from kind in new[] { (Name: "max", P: (Func<PoolGeometry, PoolParams>)(x => new PoolParams(x, true))),
            ("avg padded", x => new PoolParams(x, false, AvgPoolDivisor.PaddedWindow)), ("avg valid", x => new PoolParams(x, false, AvgPoolDivisor.ValidWindow)) }
        let p = kind.P(g.Geometry())
        select (IOpCase)new OpCase<PoolParams>($"{kind.Name} pool {g.Name}", PoolVariants.Pool, OpPass.Forward, p,
            [Spiky(11, p.Geometry.Input.Count)], [p.Geometry.Output.Count], g.Size);

    /// <summary>Training-mode max pooling: the output and each window's argmax (int32 bits in the saved float slot).</summary>
    private static IEnumerable<IOpCase> Training =>
        from g in Geometries
        let p = new PoolParams(g.Geometry(), true)
        select (IOpCase)new OpCase<PoolParams>($"max pool with argmax {g.Name}", PoolVariants.Pool, OpPass.Forward, p,
            [Spiky(12, p.Geometry.Input.Count)], [p.Geometry.Output.Count, p.Geometry.Output.Count], g.Size);

    /// <summary>Backward: max reads the argmax the forward saves (the reference's, on spiky data) and dy; average dy.</summary>
    private static IEnumerable<IOpCase> Backward =>
        from g in Geometries
        from kind in new (string Name, bool Max, AvgPoolDivisor Divisor)[] { ("max", true, AvgPoolDivisor.PaddedWindow),
            ("avg padded", false, AvgPoolDivisor.PaddedWindow), ("avg valid", false, AvgPoolDivisor.ValidWindow) }
        let p = new PoolParams(g.Geometry(), kind.Max, kind.Divisor)
        let dy = Uniform(13, p.Geometry.Output.Count)
        select (IOpCase)new OpCase<PoolParams>($"{kind.Name} pool backward {g.Name}", PoolVariants.Pool, OpPass.Backward, p,
            kind.Max ? [Argmax(p.Geometry), dy] : [dy], [p.Geometry.Input.Count], g.Size);

    private static float[] Argmax(PoolGeometry g)
    {
        var (y, argmax) = (new float[g.Output.Count], new int[g.Output.Count]);
        PoolBackwardReference.MaxWithArgmax(g, Spiky(12, g.Input.Count), y, argmax);
        return [.. argmax.Select(BitConverter.Int32BitsToSingle)];
    }
}
