using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Convolution as a packed-weight GEMM per image and group: C[og, OH*OW] = A[og, K] * B[K, OH*OW] with A the weights
/// (packed once, <see cref="WeightPanels"/>) and B the im2col of the input, packed block by block into per-worker
/// scratch (a 1x1 stride-1 conv reads B straight from the input). The output is split into tiles of
/// (image, group, row panels, up to <see cref="MaxPanelsPerTask"/> pixel panels) that the workers pull; within a tile,
/// K is walked in blocks of <see cref="KBlock"/> so a packed B block stays in L2 while every weight panel passes over it.
/// Bias and ReLU are applied by the micro-kernel (bias on the first K block, ReLU on the last).
/// </summary>
internal sealed unsafe class GemmConv
{
    public const int KBlock = 256;
    public const int MaxPanelsPerTask = 6;

    private readonly Conv2dParams _p;
    private readonly int _inC, _outC, _cg, _og, _k;
    private readonly MicroKernel _mk;
    private readonly WeightPanels _a;
    private readonly int _threads;
    private readonly bool _pointwise;
    // Per worker: packed B block [MaxPanelsPerTask][KBlock][NR] and an MR x NR edge tile.
    private readonly AlignedBuffer[] _bPack, _tile;

    public GemmConv(Conv2dParams p, int inC, int outC, ReadOnlySpan<float> weights, ReadOnlySpan<float> bias, MicroKernel mk, int threads)
    {
        (_p, _inC, _outC, _mk, _threads) = (p, inC, outC, mk, threads);
        _cg = inC / p.Groups;
        _og = outC / p.Groups;
        _k = _cg * p.KernelH * p.KernelW;
        _a = new WeightPanels(weights, bias, p.HasBias, p.Groups, _og, _k, mk.MR);
        _pointwise = p is { KernelH: 1, KernelW: 1, StrideH: 1, StrideW: 1, PadH: 0, PadW: 0 };
        _bPack = new AlignedBuffer[threads];
        _tile = new AlignedBuffer[threads];
        for (int i = 0; i < threads; i++)
        {
            _bPack[i] = new AlignedBuffer((long)MaxPanelsPerTask * KBlock * mk.NR);
            _tile[i] = new AlignedBuffer((long)mk.MR * mk.NR);
        }
    }

    /// <summary>The layer's new weights and bias, packed in place (a training step's refresh).</summary>
    public void Refresh(ReadOnlySpan<float> weights, ReadOnlySpan<float> bias) => _a.Fill(weights, bias);

    /// <summary>Largest im2col matrix (floats) that small images pack once, up front, for all output-channel blocks.</summary>
    public const long MaxSharedPack = 8L << 20;
    // The shared im2col matrix of the calling thread (a layer is used by one caller at a time); grown on first use.
    [ThreadStatic] private static AlignedBuffer? s_packed;

    /// <remarks><paramref name="Packed"/>: 0, or B for image n, group g already packed: panel q's rows k at Packed + (q*K + k)*NR.</remarks>
    private readonly record struct Plan(nint X, nint Y, TensorShape Xs, TensorShape Ys,
        int PixelPanels, int NBlocks, int PanelsPerNBlock, int MBlocks, int PanelsPerMBlock, nint Packed = 0, int N = 0, int G = 0);

    public void Forward(ReadOnlySpan<float> x, TensorShape xs, Span<float> y, TensorShape ys)
    {
        int hw = ys.H * ys.W, nr = _mk.NR;
        int pixelPanels = (hw + nr - 1) / nr;
        int nBlocks = (pixelPanels + MaxPanelsPerTask - 1) / MaxPanelsPerTask;
        int panelsPerN = (pixelPanels + nBlocks - 1) / nBlocks;
        nBlocks = (pixelPanels + panelsPerN - 1) / panelsPerN;
        // Small images (the SSD extras): split the output channels too, so both cores get work.
        int perImage = xs.N * _p.Groups * nBlocks;
        int mBlocks = Math.Clamp((4 * _threads + perImage - 1) / perImage, 1, _a.PanelsPerGroup);
        int panelsPerM = (_a.PanelsPerGroup + mBlocks - 1) / mBlocks;
        mBlocks = (_a.PanelsPerGroup + panelsPerM - 1) / panelsPerM;
        int tasks = perImage * mBlocks;
        int workers = WorkerPool.WorkersFor(2.0 * xs.N * _outC * _k * hw, _threads);
        long packed = (long)_k * pixelPanels * nr;
        fixed (float* px = x, py = y)
        {
            if (mBlocks == 1 || _pointwise || packed > MaxSharedPack)
            {
                var plan = new Plan((nint)px, (nint)py, xs, ys, pixelPanels, nBlocks, panelsPerN, mBlocks, panelsPerM);
                WorkerPool.Run(tasks, workers, (this, plan), static (s, worker, t) => s.Item1.RunTask(s.plan, worker, t));
                return;
            }
            // Small image, output channels split across tasks: packing B in every task would repeat the im2col
            // (the scalar gather of a strided or dilated conv) once per channel block. Pack it once per image and group
            // instead, in parallel, then let the tasks share it, and split the output channels finer.
            if (s_packed is null || s_packed.Length < packed) s_packed = new AlignedBuffer(packed);
            float* b = s_packed.Pointer;
            int kBlocks = (_k + KBlock - 1) / KBlock;
            mBlocks = Math.Clamp((8 * _threads + nBlocks - 1) / nBlocks, 1, _a.PanelsPerGroup);
            panelsPerM = (_a.PanelsPerGroup + mBlocks - 1) / mBlocks;
            mBlocks = (_a.PanelsPerGroup + panelsPerM - 1) / panelsPerM;
            for (int n = 0; n < xs.N; n++)
                for (int g = 0; g < _p.Groups; g++)
                {
                    var plan = new Plan((nint)px, (nint)py, xs, ys, pixelPanels, nBlocks, panelsPerN, mBlocks, panelsPerM, (nint)b, n, g);
                    WorkerPool.Run(kBlocks * pixelPanels, workers, (this, plan), static (s, _, t) => s.Item1.PackTask(s.plan, t));
                    WorkerPool.Run(nBlocks * mBlocks, workers, (this, plan), static (s, worker, t) => s.Item1.RunTask(s.plan, worker, t));
                }
        }
    }

    /// <summary>Packs K block <c>task / PixelPanels</c> of pixel panel <c>task % PixelPanels</c> into the shared B.</summary>
    private void PackTask(in Plan plan, int task)
    {
        int q = task % plan.PixelPanels, k0 = task / plan.PixelPanels * KBlock, kc = Math.Min(KBlock, _k - k0);
        int hw = plan.Ys.H * plan.Ys.W, nr = _mk.NR;
        var xs = plan.Xs;
        float* xImage = (float*)plan.X + ((long)plan.N * _inC + (long)plan.G * _cg) * xs.H * xs.W;
        Im2ColPacker.PackPanel(xImage, xs.H, xs.W, plan.Ys.W, _p, k0, kc, q * nr, Math.Min(nr, hw - q * nr), nr,
            (float*)plan.Packed + ((long)q * _k + k0) * nr);
    }

    private void RunTask(in Plan plan, int worker, int task)
    {
        int nb = task % plan.NBlocks; task /= plan.NBlocks;
        int mb = task % plan.MBlocks; task /= plan.MBlocks;
        int g = task % _p.Groups;
        int n = task / _p.Groups;
        bool shared = plan.Packed != 0;
        if (shared) (n, g) = (plan.N, plan.G);

        var xs = plan.Xs;
        int hw = plan.Ys.H * plan.Ys.W, nr = _mk.NR, mr = _mk.MR;
        int q0 = nb * plan.PanelsPerNBlock, q1 = Math.Min(plan.PixelPanels, q0 + plan.PanelsPerNBlock);
        int r0 = mb * plan.PanelsPerMBlock, r1 = Math.Min(_a.PanelsPerGroup, r0 + plan.PanelsPerMBlock);
        float* xImage = (float*)plan.X + ((long)n * _inC + (long)g * _cg) * xs.H * xs.W;
        float* yGroup = (float*)plan.Y + ((long)n * _outC + (long)g * _og) * hw;
        float* bPack = _bPack[worker].Pointer, tile = _tile[worker].Pointer;
        float* a = _a.Data.Pointer;

        for (int k0 = 0; k0 < _k; k0 += KBlock)
        {
            int kc = Math.Min(KBlock, _k - k0);
            // B for this K block: one pointer and row stride per pixel panel.
            for (int q = q0; q < q1 && !shared; q++)
            {
                int pixels = Math.Min(nr, hw - q * nr);
                float* dst = bPack + (long)(q - q0) * KBlock * nr;
                if (_pointwise)
                {
                    if (pixels < nr) Im2ColPacker.CopyPanel(xImage + (long)k0 * hw + q * nr, hw, kc, pixels, nr, dst);
                }
                else
                    Im2ColPacker.PackPanel(xImage, xs.H, xs.W, plan.Ys.W, _p, k0, kc, q * nr, pixels, nr, dst);
            }

            int flags = (k0 > 0 ? MicroKernel.Accumulate : 0) | (_p.FuseRelu && k0 + kc == _k ? MicroKernel.Relu : 0);
            for (int r = r0; r < r1; r++)
            {
                float* aPanel = a + _a.PanelOffset(g, r, k0);
                float* bias = k0 == 0 ? _a.BiasFor(g, r) : null;
                int rows = Math.Min(mr, _og - r * mr);
                for (int q = q0; q < q1; q++)
                {
                    int pixels = Math.Min(nr, hw - q * nr);
                    float* b; nint ldb;
                    if (_pointwise && pixels == nr) { b = xImage + (long)k0 * hw + q * nr; ldb = hw; }
                    else if (shared) { b = (float*)plan.Packed + ((long)q * _k + k0) * nr; ldb = nr; }
                    else { b = bPack + (long)(q - q0) * KBlock * nr; ldb = nr; }
                    float* c = yGroup + (long)r * mr * hw + (long)q * nr;
                    if (rows == mr && pixels == nr)
                    {
                        _mk.Run(kc, aPanel, b, ldb, c, hw, bias, flags);
                        continue;
                    }
                    // Edge tile: run the full-size kernel on scratch and copy back only the real rows and pixels.
                    if ((flags & MicroKernel.Accumulate) != 0)
                        for (int i = 0; i < rows; i++)
                            new ReadOnlySpan<float>(c + (long)i * hw, pixels).CopyTo(new Span<float>(tile + i * nr, pixels));
                    _mk.Run(kc, aPanel, b, ldb, tile, nr, bias, flags);
                    for (int i = 0; i < rows; i++)
                        new ReadOnlySpan<float>(tile + i * nr, pixels).CopyTo(new Span<float>(c + (long)i * hw, pixels));
                }
            }
        }
    }
}
