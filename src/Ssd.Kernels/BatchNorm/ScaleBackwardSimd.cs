using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.BatchNorm;

/// <summary>
/// A per-channel Scale's gradients on the CPU (<see cref="ScaleBackwardReference"/>): one task per channel, dx = dy * s
/// bit for bit, ds and db as vectorised float sums (a declared bound against the reference's double sums).
/// </summary>
internal static unsafe class ScaleBackwardSimd
{
    /// <remarks><paramref name="dBias"/>: [channels], or empty when the layer has no bias.</remarks>
    public static void Backward(int outer, int channels, int inner, ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<float> dY,
        Span<float> dX, Span<float> dScale, Span<float> dBias, CpuOpOptions options = default)
    {
        ScaleChecks.Backward(outer, channels, inner, x.Length, scale.Length, dY.Length, dX.Length, dScale.Length, dBias.Length);
        fixed (float* px = x, ps = scale, pdy = dY, pdx = dX, pds = dScale, pdb = dBias)
        {
            var job = (X: (nint)px, S: (nint)ps, Dy: (nint)pdy, Dx: (nint)pdx, Ds: (nint)pds, Db: dBias.Length > 0 ? (nint)pdb : 0,
                Outer: outer, Channels: channels, Inner: inner, Isa: options.ResolvedIsa);
            WorkerPool.Run(channels, options.WorkersFor(3L * x.Length), job, static (j, _, k) =>
            {
                float s = ((float*)j.S)[k], ds = 0f, db = 0f;
                for (int o = 0; o < j.Outer; o++)
                {
                    long at = ((long)o * j.Channels + k) * j.Inner;
                    float* dy = (float*)j.Dy + at;
                    SimdMath.Scale(dy, s, (float*)j.Dx + at, j.Inner, j.Isa);
                    ds += SimdMath.Dot(dy, (float*)j.X + at, j.Inner, j.Isa);
                    if (j.Db != 0) db += SimdMath.Sum(dy, j.Inner, j.Isa);
                }
                ((float*)j.Ds)[k] = ds;
                if (j.Db != 0) ((float*)j.Db)[k] = db;
            });
        }
    }
}
