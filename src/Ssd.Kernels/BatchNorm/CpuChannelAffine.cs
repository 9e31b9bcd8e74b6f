using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.BatchNorm;

/// <summary>
/// <see cref="ChannelAffine"/> (BatchNorm, Scale, ReLU over one channel axis), bit for bit its reference: each
/// (outer, channel) row of Inner elements is one run with the channel's constants broadcast, and every lane does
/// the reference's operations in its order: subtract, divide, multiply, add (no FMA), then MAXPS(x, 0) for the ReLU
/// (x &gt; 0 ? x : 0, so NaN and -0 give +0). Rows are spread over the worker threads; safe in place.
/// </summary>
internal static unsafe class CpuChannelAffine
{
    /// <summary>The constants of one affine, prepared once (the divisor computed as the reference does).</summary>
    public sealed class Prepared
    {
        public Prepared(ChannelAffine affine)
        {
            ArgumentNullException.ThrowIfNull(affine);
            Affine = affine;
            Channels = (affine.Mean ?? affine.Scale)?.Length ?? 0;
            StdDev = affine.StdDev();
        }

        public ChannelAffine Affine { get; }
        public int Channels { get; }
        public float[]? StdDev { get; }
    }

    public static void Forward(ChannelGeometry g, ChannelAffine affine, ReadOnlySpan<float> x, Span<float> y, CpuOpOptions options = default) =>
        Forward(g, new Prepared(affine), x, y, options);

    public static void Forward(ChannelGeometry g, Prepared p, ReadOnlySpan<float> x, Span<float> y, CpuOpOptions options = default)
    {
        if (p.Channels == 0) g.Check("channel affine", x.Length, y.Length);
        else p.Affine.Check(g, x.Length, y.Length);
        int rows = g.Outer * g.Channels;
        int perTask = CpuOpOptions.ItemsPerTask(rows, g.Inner, 16384);
        var a = p.Affine;
        fixed (float* px = x, py = y, pm = a.Mean, ps = p.StdDev, pk = a.Scale, pb = a.Bias)
        {
            var job = new Job(px, py, pm, ps, pk, pb, a.Flags, g, perTask, options.ResolvedIsa);
            WorkerPool.Run((rows + perTask - 1) / perTask, options.WorkersFor(g.Count), job, static (j, _, t) => j.Run(t));
        }
    }

    private readonly struct Job(float* x, float* y, float* mean, float* sd, float* scale, float* bias, int flags, ChannelGeometry g,
        int perTask, CpuIsa isa)
    {
        public void Run(int task)
        {
            int rows = g.Outer * g.Channels, end = Math.Min(rows, (task + 1) * perTask);
            for (int row = task * perTask; row < end; row++)
            {
                int c = row % g.Channels;
                float m = (flags & ChannelAffine.NormalizeFlag) != 0 ? mean[c] : 0f, d = (flags & ChannelAffine.NormalizeFlag) != 0 ? sd[c] : 1f;
                float s = (flags & ChannelAffine.ScaleFlag) != 0 ? scale[c] : 1f, b = (flags & ChannelAffine.BiasFlag) != 0 ? bias[c] : 0f;
                Row(x + (long)row * g.Inner, y + (long)row * g.Inner, m, d, s, b);
            }
        }

        private void Row(float* src, float* dst, float m, float d, float s, float b)
        {
            bool norm = (flags & ChannelAffine.NormalizeFlag) != 0, scaled = (flags & ChannelAffine.ScaleFlag) != 0;
            bool biased = (flags & ChannelAffine.BiasFlag) != 0, relu = (flags & ChannelAffine.ReluFlag) != 0;
            int i = 0, n = g.Inner;
            if (isa == CpuIsa.Avx512)
            {
                Vector512<float> vm = Vector512.Create(m), vd = Vector512.Create(d), vs = Vector512.Create(s), vb = Vector512.Create(b);
                for (; i + 16 <= n; i += 16)
                {
                    var v = Vector512.Load(src + i);
                    if (norm) v = (v - vm) / vd;
                    if (scaled) v *= vs;
                    if (biased) v += vb;
                    if (relu) v = Avx512F.Max(v, Vector512<float>.Zero);
                    Vector512.Store(v, dst + i);
                }
            }
            else if (isa == CpuIsa.Avx2)
            {
                Vector256<float> vm = Vector256.Create(m), vd = Vector256.Create(d), vs = Vector256.Create(s), vb = Vector256.Create(b);
                for (; i + 8 <= n; i += 8)
                {
                    var v = Vector256.Load(src + i);
                    if (norm) v = (v - vm) / vd;
                    if (scaled) v *= vs;
                    if (biased) v += vb;
                    if (relu) v = Avx.Max(v, Vector256<float>.Zero);
                    Vector256.Store(v, dst + i);
                }
            }
            else
            {
                Vector<float> vm = new(m), vd = new(d), vs = new(s), vb = new(b);
                for (int w = Vector<float>.Count; i + w <= n; i += w)
                {
                    var v = new Vector<float>(new ReadOnlySpan<float>(src + i, w));
                    if (norm) v = (v - vm) / vd;
                    if (scaled) v *= vs;
                    if (biased) v += vb;
                    if (relu) v = Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), v, Vector<float>.Zero);
                    v.CopyTo(new Span<float>(dst + i, w));
                }
            }
            for (; i < n; i++) dst[i] = ChannelAffine.Apply(src[i], flags, m, d, s, b);
        }
    }
}
