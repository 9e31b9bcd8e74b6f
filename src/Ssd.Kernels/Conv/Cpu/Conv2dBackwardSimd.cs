using Ssd.Kernels.Activation;
using Ssd.Kernels.Core;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// The gradients of one convolution layer on the managed CPU backend (<see cref="Conv2dBackwardReference"/>'s
/// definitions), every kernel, stride, padding, dilation and groups, on the forward's GEMM micro-kernels
/// (<see cref="MicroKernel"/>), multithreaded over <see cref="WorkerPool"/>:
/// <list type="bullet">
/// <item>dx = col2im(W^T g): per image and group, the columns gradient [C/groups*kH*kW, OH*OW] = W^T [.., outC/groups]
/// * g [outC/groups, OH*OW] is computed block by block (W^T packed into micro-kernel panels once per call, g read in
/// place as the forward's 1x1 path reads its input) into per-worker scratch and scattered back onto the input planes.
/// A task owns a block of input channels of one image, so no two tasks write the same dx and none waits.</item>
/// <item>dw = g * im2col(x)^T, summed over images and pixels: g is packed into panels of MR output channels and the
/// im2col transposed into panels of NR taps, pixel block by pixel block; the result [outC/groups, C/groups*kH*kW] is
/// cut into column tiles and, when it is too small to keep every worker busy (conv1_1: 64 x 27), the reduction too,
/// each part into its own partial sum, added in order at the end. A 3x3 stride-1 layer's dw runs as Winograd F(4x4)
/// instead (<see cref="WinogradWeightGradient"/>) where that does less work for the input's shape (or where forced).</item>
/// <item>db = the per-channel sum of g.</item>
/// </list>
/// Every task writes fixed places in a fixed order, so results do not depend on the thread count or the scheduling.
/// Scratch belongs to the calling thread, shared by every layer it runs (as the forward's is, see GemmConv): a
/// network's backward holds the largest layer's scratch, not the sum over its layers. The object only points at it
/// during a call, so concurrent callers on different threads may share one object.
/// </summary>
internal sealed unsafe class Conv2dBackwardSimd
{
    /// <summary>
    /// dx: output pixels a band aims at, rows of the columns gradient per GEMM chunk (a multiple of every MR), the
    /// reduction block (over output channels), and the tasks a phase aims at whatever the thread count.
    /// </summary>
    private const int DxBandPixels = 256, DxRows = 96, DxReduction = 128, DxTasks = 16;
    /// <summary>dw's reduction block, in output pixels.</summary>
    private const int DwBlock = 128;
    /// <summary>Budget of dw's partial sums, in floats.</summary>
    private const long PartialBudget = 8L << 20;
    /// <summary>
    /// dw's work is cut into about this many tasks whatever the thread count, so that the partial sums, hence the
    /// result's bits, do not depend on it.
    /// </summary>
    private const int WeightTasks = 16;

    private readonly MicroKernel _mk;
    private readonly int _cg, _og, _taps, _k;
    private readonly WinogradWeightGradient? _winogradDw;
    private readonly bool _forceWinograd;
    [ThreadStatic] private static AlignedBuffer? s_wt, s_partial;
    [ThreadStatic] private static AlignedBuffer[]? s_scratchA, s_scratchB;
    [ThreadStatic] private static float[]? s_masked;

    public Conv2dParams Params { get; }
    public int InChannels { get; }
    public int OutChannels { get; }
    public CpuIsa Isa { get; }
    public int Threads { get; }

    /// <summary>
    /// The gradients of a conv layer of <paramref name="inChannels"/> -> <paramref name="outChannels"/>;
    /// <paramref name="forceWinograd"/>: dw by <see cref="WinogradWeightGradient"/> wherever it applies, not only where
    /// it <see cref="WinogradWeightGradient.Picks"/> the input (tests; any ISA).
    /// </summary>
    public Conv2dBackwardSimd(Conv2dParams p, int inChannels, int outChannels, CpuOpOptions options = default, bool forceWinograd = false)
    {
        p.Validate();
        if (inChannels <= 0 || outChannels <= 0 || inChannels % p.Groups != 0 || outChannels % p.Groups != 0)
            throw new ArgumentException($"conv2d backward: channels {inChannels} -> {outChannels} must be positive and divisible by groups {p.Groups}");
        (Params, InChannels, OutChannels) = (p, inChannels, outChannels);
        Isa = options.ResolvedIsa;
        Threads = options.ResolvedThreads;
        _mk = MicroKernel.For(Isa);
        _cg = inChannels / p.Groups;
        _og = outChannels / p.Groups;
        _taps = p.KernelH * p.KernelW;
        _k = _cg * _taps;
        if (WinogradWeightGradient.Applies(p)) _winogradDw = new WinogradWeightGradient(p, inChannels, outChannels, options);
        _forceWinograd = forceWinograd;
    }

    /// <summary>Whether dw on input <paramref name="inShape"/> runs as Winograd F(4x4) (<see cref="WinogradWeightGradient"/>).</summary>
    public bool WinogradWeights(TensorShape inShape) => _winogradDw is not null && (_forceWinograd || _winogradDw.Picks(inShape));

    /// <summary>
    /// dx, dw and db (see <see cref="Conv2dBackwardReference.Backward"/>): with a fused ReLU, <paramref name="output"/>
    /// is the forward's y and dy is masked by it first. Pass an empty dx or dw to skip it (conv1_1 needs no dx).
    /// <paramref name="winogradDx"/>: dx by that forward convolution of the masked gradient instead (made for this layer,
    /// input shape and weights), where <see cref="WinogradInputGradient.For"/> gave one.
    /// </summary>
    public void Backward(ReadOnlySpan<float> input, TensorShape inShape, ReadOnlySpan<float> weight, ReadOnlySpan<float> output,
        ReadOnlySpan<float> dOutput, Span<float> dInput, Span<float> dWeight, Span<float> dBias, WinogradInputGradient? winogradDx = null)
    {
        var outShape = Check(inShape, input.Length, weight.Length, dOutput.Length);
        ReadOnlySpan<float> g = dOutput;
        if (Params.FuseRelu)
        {
            if (output.Length != outShape.Count)
                throw new ArgumentException($"conv2d backward: the fused ReLU needs the output y ({outShape.Count} floats), got {output.Length}");
            if (s_masked is null || s_masked.Length < outShape.Count) s_masked = GC.AllocateUninitializedArray<float>((int)outShape.Count);
            var masked = s_masked.AsSpan(0, (int)outShape.Count);
            ReluBackwardSimd.Backward(output, dOutput, masked, new CpuOpOptions(Isa, Threads));
            g = masked;
        }
        if (winogradDx is not null && (winogradDx.Params != Params || winogradDx.InChannels != InChannels || winogradDx.OutChannels != OutChannels
            || winogradDx.GradientShape != outShape))
            throw new ArgumentException($"conv2d backward: the Winograd dx was made for {winogradDx.Params} {winogradDx.InChannels} -> {winogradDx.OutChannels}, output {winogradDx.GradientShape}, not this layer's {Params} output {outShape}");
        if (dInput.Length > 0 && winogradDx is not null) winogradDx.Run(g, dInput);
        else if (dInput.Length > 0) InputGradient(g, inShape, weight, dInput);
        if (dWeight.Length > 0) WeightGradient(input, inShape, g, dWeight);
        if (Params.HasBias && dBias.Length > 0) BiasGradient(g, outShape, dBias);
    }

    // ---- dx ----

    /// <summary>dx from the pre-activation gradient (the ReLU flag is ignored).</summary>
    public void InputGradient(ReadOnlySpan<float> dOutput, TensorShape inShape, ReadOnlySpan<float> weight, Span<float> dInput)
    {
        var outShape = Check(inShape, inShape.Count, weight.Length, dOutput.Length);
        if (dInput.Length != inShape.Count) throw new ArgumentException($"conv2d backward: dx has {dInput.Length} floats, input {inShape} needs {inShape.Count}");
        var plan = InputPlan.For(this, inShape, outShape);
        int mr = _mk.MR;
        long wtLength = (long)Params.Groups * plan.KPanels * _og * mr;
        if (s_wt is null || s_wt.Length < wtLength) s_wt = new AlignedBuffer(wtLength);
        var scratch = new Scratch(s_wt, EnsureScratch(ref s_scratchA, (long)DxRows * plan.BandStride), EnsureScratch(ref s_scratchB, (long)_og * plan.BandStride));
        int workers = WorkerPool.WorkersFor(2.0 * inShape.N * OutChannels * _k * outShape.PlaneSize, Threads);
        fixed (float* pw = weight, pg = dOutput, pdx = dInput)
        {
            var job = new InputJob(this, scratch, pw, pg, pdx, inShape, outShape, plan);
            WorkerPool.Run(Params.Groups * plan.KPanels, workers, job, static (j, _, t) => j.PackPanel(t));
            WorkerPool.Run((int)Math.Min(int.MaxValue, (inShape.Count + 65535) / 65536), workers, job, static (j, _, t) => j.Clear(t));
            // Even bands, then odd ones: bands two apart never touch the same input row, so no two tasks of a phase
            // write the same dx element, and each element gets its two phases' sums in the same order every time.
            for (int phase = 0; phase < 2; phase++)
                WorkerPool.Run(plan.Tasks(inShape.N * Params.Groups, phase), workers, (job, phase), static (s, worker, t) => s.job.Run(worker, t, s.phase));
        }
    }

    /// <summary>
    /// How dx is cut: output rows into bands of <see cref="Rows"/> rows (at least <see cref="MinRows"/>, so that bands
    /// two apart read disjoint input rows), each band's input channels into ranges whose rows start on a panel.
    /// </summary>
    private readonly record struct InputPlan(int Rows, int Bands, int BandStride, int KPanels, int Unit, int ChannelRanges, int ChannelsPerRange)
    {
        public static InputPlan For(Conv2dBackwardSimd l, TensorShape xs, TensorShape ys)
        {
            var p = l.Params;
            int span = (p.KernelH - 1) * p.DilationH - p.StrideH;
            int minRows = span < 0 ? 1 : span / p.StrideH + 1;
            int rows = Math.Min(ys.H, Math.Max(minRows, (DxBandPixels + ys.W - 1) / ys.W));
            int bands = (ys.H + rows - 1) / rows;
            int nr = l._mk.NR, mr = l._mk.MR;
            int stride = (rows * ys.W + nr - 1) / nr * nr;
            int unit = mr / Gcd(l._taps, mr);
            // Enough tasks per phase for the workers, counted without the thread count (so results do not depend on it).
            int perPhase = Math.Max(1, xs.N * p.Groups * (bands / 2));
            int wanted = (DxTasks + perPhase - 1) / perPhase;
            int units = (l._cg + unit - 1) / unit;
            int ranges = Math.Clamp(wanted, 1, units);
            int perRange = (units + ranges - 1) / ranges * unit;
            ranges = (l._cg + perRange - 1) / perRange;
            return new InputPlan(rows, bands, stride, (l._k + mr - 1) / mr, unit, ranges, perRange);
        }

        /// <summary>Bands of <paramref name="phase"/> (0: even, 1: odd) times channel ranges times images and groups.</summary>
        public int Tasks(int imagesGroups, int phase) => imagesGroups * ((Bands + 1 - phase) / 2) * ChannelRanges;
    }

    private readonly struct InputJob(Conv2dBackwardSimd layer, Scratch scratch, float* w, float* g, float* dx, TensorShape xs, TensorShape ys, InputPlan plan)
    {
        /// <summary>Packs W^T panel <paramref name="task"/> (group task / KPanels, rows task % KPanels * MR ..).</summary>
        public void PackPanel(int task)
        {
            var l = layer;
            int mr = l._mk.MR, group = task / plan.KPanels, r0 = task % plan.KPanels * mr;
            float* dst = scratch.Shared.Pointer + (long)task * l._og * mr;
            for (int o = 0; o < l._og; o++)
            {
                float* row = w + (long)(group * l._og + o) * l._k;
                for (int i = 0; i < mr; i++) dst[o * mr + i] = r0 + i < l._k ? row[r0 + i] : 0f;
            }
        }

        public void Clear(int task)
        {
            long start = (long)task * 65536, count = Math.Min(65536, xs.Count - start);
            new Span<float>(dx + start, (int)count).Clear();
        }

        public void Run(int worker, int task, int phase)
        {
            var l = layer;
            var p = l.Params;
            int mr = l._mk.MR, nr = l._mk.NR, og = l._og, stride = plan.BandStride;
            int range = task % plan.ChannelRanges; task /= plan.ChannelRanges;
            int bandsInPhase = (plan.Bands + 1 - phase) / 2;
            int band = task % bandsInPhase * 2 + phase; task /= bandsInPhase;
            int group = task % p.Groups, n = task / p.Groups;
            int c0 = range * plan.ChannelsPerRange, c1 = Math.Min(l._cg, c0 + plan.ChannelsPerRange);
            int plane = ys.H * ys.W, p0 = band * plan.Rows * ys.W, count = Math.Min(plan.Rows * ys.W, plane - p0);
            int panelsN = (count + nr - 1) / nr;
            float* cols = scratch.A[worker].Pointer, packed = scratch.B[worker].Pointer;

            // The band's g as contiguous panels [q][o][NR], the last one zero-padded.
            float* gBand = g + ((long)n * l.OutChannels + (long)group * og) * plane + p0;
            for (int q = 0; q < panelsN; q++)
            {
                int pixels = Math.Min(nr, count - q * nr);
                float* dst = packed + (long)q * og * nr;
                for (int o = 0; o < og; o++)
                {
                    new ReadOnlySpan<float>(gBand + (long)o * plane + q * nr, pixels).CopyTo(new Span<float>(dst + o * nr, pixels));
                    if (pixels < nr) new Span<float>(dst + o * nr + pixels, nr - pixels).Clear();
                }
            }

            float* dxGroup = dx + ((long)n * xs.C + (long)group * l._cg) * xs.H * xs.W;
            float* wtGroup = scratch.Shared.Pointer + (long)group * plan.KPanels * og * mr;
            for (int r0 = c0 * l._taps, rEnd = c1 * l._taps; r0 < rEnd; r0 += DxRows)
            {
                int rows = Math.Min(DxRows, rEnd - r0), panels = (rows + mr - 1) / mr;
                float* wt = wtGroup + (long)(r0 / mr) * og * mr;
                // The reduction over output channels in blocks: an A slice stays in L1 across the band's pixel panels.
                for (int k0 = 0; k0 < og; k0 += DxReduction)
                {
                    int kc = Math.Min(DxReduction, og - k0), flags = k0 > 0 ? MicroKernel.Accumulate : 0;
                    for (int r = 0; r < panels; r++)
                        for (int q = 0; q < panelsN; q++)
                            l._mk.Run(kc, wt + ((long)r * og + k0) * mr, packed + ((long)q * og + k0) * nr, nr,
                                cols + (long)r * mr * stride + q * nr, stride, null, flags);
                }
                Col2Im(cols, r0, rows, p0, count, dxGroup);
            }
        }

        /// <summary>Adds columns-gradient rows [r0, r0 + rows) (row (c, ky, kx) of the group, output pixels p0 ..) onto dx.</summary>
        private void Col2Im(float* cols, int r0, int rows, int p0, int count, float* dxGroup)
        {
            var p = layer.Params;
            int inPlane = xs.H * xs.W;
            for (int row = 0; row < rows; row++)
            {
                int k = r0 + row, c = k / layer._taps, tap = k % layer._taps, ky = tap / p.KernelW, kx = tap % p.KernelW;
                float* src = cols + (long)row * plan.BandStride;
                float* dst = dxGroup + (long)c * inPlane;
                // Output pixels p0 .. p0 + count, row by row of the output.
                for (int j = 0; j < count;)
                {
                    int pix = p0 + j, oy = pix / ys.W, ox = pix % ys.W, len = Math.Min(ys.W - ox, count - j);
                    int iy = oy * p.StrideH - p.PadH + ky * p.DilationH;
                    if ((uint)iy < (uint)xs.H)
                    {
                        float* dRow = dst + (long)iy * xs.W;
                        int ix0 = ox * p.StrideW - p.PadW + kx * p.DilationW;
                        if (p.StrideW == 1)
                        {
                            int lo = Math.Clamp(-ix0, 0, len), hi = Math.Clamp(xs.W - ix0, lo, len);
                            SimdMath.Add(dRow + ix0 + lo, src + j + lo, hi - lo, layer.Isa);
                        }
                        else
                            for (int t = 0, ix = ix0; t < len; t++, ix += p.StrideW)
                                if ((uint)ix < (uint)xs.W) dRow[ix] += src[j + t];
                    }
                    j += len;
                }
            }
        }
    }

    // ---- dw ----

    /// <summary>dw (overwritten) from the pre-activation gradient.</summary>
    public void WeightGradient(ReadOnlySpan<float> input, TensorShape inShape, ReadOnlySpan<float> dOutput, Span<float> dWeight)
    {
        if (WinogradWeights(inShape))
        {
            CheckWeightGradient(inShape, input.Length, dOutput.Length, dWeight.Length);
            _winogradDw!.Run(input, inShape, dOutput, dWeight);
        }
        else DirectWeightGradient(input, inShape, dOutput, dWeight);
    }

    private TensorShape CheckWeightGradient(TensorShape inShape, long inputLength, long dOutputLength, long dWeightLength)
    {
        long wc = Params.WeightCount(InChannels, OutChannels);
        var outShape = Check(inShape, inputLength, wc, dOutputLength);
        if (dWeightLength != wc) throw new ArgumentException($"conv2d backward: dw has {dWeightLength} floats, the weights have {wc}");
        return outShape;
    }

    /// <summary>dw (overwritten) by the direct GEMM, whatever <see cref="WinogradWeights"/> says (benchmarks compare the two).</summary>
    public void DirectWeightGradient(ReadOnlySpan<float> input, TensorShape inShape, ReadOnlySpan<float> dOutput, Span<float> dWeight)
    {
        var outShape = CheckWeightGradient(inShape, input.Length, dOutput.Length, dWeight.Length);
        int mr = _mk.MR, nr = _mk.NR, plane = outShape.PlaneSize;
        int oPanels = (_og + mr - 1) / mr, kPanels = (_k + nr - 1) / nr;
        long oPad = (long)oPanels * mr, kPad = (long)kPanels * nr;
        // Reduction blocks of DwBlock pixels, numbered image by image (an image's last block may be short).
        int reductionBlocks = inShape.N * ((plane + DwBlock - 1) / DwBlock);
        // About WeightTasks tasks: the reduction split first (each split packs g and im2col once, into its own partial
        // sums, within the budget), then the columns cut into tiles of at least 4 panels (each tile packs all of g).
        int splits = (int)Math.Clamp(Math.Min(WeightTasks, PartialBudget / (oPad * kPad)), 1, reductionBlocks);
        int tiles = Math.Clamp((WeightTasks + splits - 1) / splits, 1, Math.Max(1, kPanels / 4));
        int panelsPerTile = (kPanels + tiles - 1) / tiles;
        tiles = (kPanels + panelsPerTile - 1) / panelsPerTile;
        long partialLength = splits * oPad * kPad;
        if (s_partial is null || s_partial.Length < partialLength) s_partial = new AlignedBuffer(partialLength);
        var scratch = new Scratch(s_partial, EnsureScratch(ref s_scratchA, oPad * DwBlock), EnsureScratch(ref s_scratchB, (long)panelsPerTile * nr * DwBlock));
        int workers = WorkerPool.WorkersFor(2.0 * inShape.N * OutChannels * _k * plane, Threads);
        fixed (float* px = input, pg = dOutput, pdw = dWeight)
        {
            for (int group = 0; group < Params.Groups; group++)
            {
                var job = new WeightJob(this, scratch, px, pg, pdw, inShape, outShape, group, oPad, kPad, panelsPerTile, tiles, splits, reductionBlocks);
                WorkerPool.Run(tiles * splits, workers, job, static (j, worker, t) => j.Run(worker, t));
                WorkerPool.Run(_og, _og * _k < 65536 ? 1 : workers, job, static (j, _, o) => j.Sum(o));
            }
        }
    }

    private readonly struct WeightJob(Conv2dBackwardSimd layer, Scratch scratch, float* x, float* g, float* dw, TensorShape xs, TensorShape ys,
        int group, long oPad, long kPad, int panelsPerTile, int tiles, int splits, int reductionBlocks)
    {
        public void Run(int worker, int task)
        {
            var l = layer;
            int mr = l._mk.MR, nr = l._mk.NR, og = l._og, plane = ys.H * ys.W;
            int tile = task % tiles, split = task / tiles;
            int kp0 = tile * panelsPerTile, kp1 = Math.Min((int)(kPad / nr), kp0 + panelsPerTile);
            int oPanels = (int)(oPad / mr);
            // This split's reduction blocks [b0, b1).
            int b0 = (int)((long)reductionBlocks * split / splits), b1 = (int)((long)reductionBlocks * (split + 1) / splits);
            float* a = scratch.A[worker].Pointer, b = scratch.B[worker].Pointer;
            float* c = scratch.Shared.Pointer + split * oPad * kPad;
            bool first = true;
            int blocksPerImage = (plane + DwBlock - 1) / DwBlock;
            for (int blockIndex = b0; blockIndex < b1; blockIndex++)
            {
                int n = blockIndex / blocksPerImage, p0 = blockIndex % blocksPerImage * DwBlock;
                int count = Math.Min(DwBlock, plane - p0);
                float* gBlock = g + ((long)n * l.OutChannels + (long)group * og) * plane + p0;
                PackOutputGradient(gBlock, plane, count, a, oPanels);
                float* xImage = x + ((long)n * xs.C + (long)group * l._cg) * xs.H * xs.W;
                for (int kp = kp0; kp < kp1; kp++)
                    PackTransposedIm2Col(xImage, p0, count, kp * nr, b + (long)(kp - kp0) * nr * count);
                int flags = first ? 0 : MicroKernel.Accumulate;
                for (int kp = kp0; kp < kp1; kp++)
                {
                    float* bPanel = b + (long)(kp - kp0) * nr * count;
                    for (int op = 0; op < oPanels; op++)
                        l._mk.Run(count, a + (long)op * mr * count, bPanel, nr, c + op * mr * kPad + (long)kp * nr, (nint)kPad, null, flags);
                }
                first = false;
            }
            if (first)
            {
                // No reduction block fell to this split (more splits than blocks): its part is zero.
                for (int r = 0; r < oPad; r++) new Span<float>(c + r * kPad + (long)kp0 * nr, (kp1 - kp0) * nr).Clear();
            }
        }

        /// <summary>g rows of this group at pixels [p0, p0 + count) as panels [o / MR][pixel][o % MR], zero past og.</summary>
        private void PackOutputGradient(float* gBlock, int plane, int count, float* dst, int oPanels)
        {
            int mr = layer._mk.MR;
            for (int op = 0; op < oPanels; op++)
            {
                float* panel = dst + (long)op * mr * count;
                for (int i = 0; i < mr; i++)
                {
                    int o = op * mr + i;
                    if (o >= layer._og)
                    {
                        for (int j = 0; j < count; j++) panel[j * mr + i] = 0f;
                        continue;
                    }
                    float* src = gBlock + (long)o * plane;
                    for (int j = 0; j < count; j++) panel[j * mr + i] = src[j];
                }
            }
        }

        /// <summary>im2col(x) rows k0 .. k0 + NR (zero past K) at output pixels [p0, p0 + count), transposed: [pixel][k - k0].</summary>
        private void PackTransposedIm2Col(float* xImage, int p0, int count, int k0, float* dst)
        {
            var p = layer.Params;
            int nr = layer._mk.NR, taps = layer._taps;
            long inPlane = (long)xs.H * xs.W;
            for (int kk = 0; kk < nr; kk++)
            {
                int k = k0 + kk;
                if (k >= layer._k)
                {
                    for (int j = 0; j < count; j++) dst[j * nr + kk] = 0f;
                    continue;
                }
                int c = k / taps, tap = k % taps, ky = tap / p.KernelW, kx = tap % p.KernelW;
                float* src = xImage + c * inPlane;
                for (int j = 0; j < count;)
                {
                    int pix = p0 + j, oy = pix / ys.W, ox = pix % ys.W, len = Math.Min(ys.W - ox, count - j);
                    int iy = oy * p.StrideH - p.PadH + ky * p.DilationH;
                    float* d = dst + (long)j * nr + kk;
                    if ((uint)iy >= (uint)xs.H)
                        for (int t = 0; t < len; t++) d[t * nr] = 0f;
                    else
                    {
                        float* row = src + (long)iy * xs.W;
                        for (int t = 0, ix = ox * p.StrideW - p.PadW + kx * p.DilationW; t < len; t++, ix += p.StrideW)
                            d[t * nr] = (uint)ix < (uint)xs.W ? row[ix] : 0f;
                    }
                    j += len;
                }
            }
        }

        /// <summary>dw row o of this group = the sum of the splits' partial rows, in split order.</summary>
        public void Sum(int o)
        {
            var l = layer;
            float* dst = dw + (long)(group * l._og + o) * l._k;
            float* src = scratch.Shared.Pointer + o * kPad;
            new ReadOnlySpan<float>(src, l._k).CopyTo(new Span<float>(dst, l._k));
            for (int s = 1; s < splits; s++) SimdMath.Add(dst, src + s * oPad * kPad, l._k, l.Isa);
        }
    }

    // ---- db and the fused ReLU ----

    /// <summary>db[o] = the sum over images and pixels of the pre-activation gradient of channel o.</summary>
    public void BiasGradient(ReadOnlySpan<float> dOutput, TensorShape outShape, Span<float> dBias)
    {
        if (dOutput.Length != outShape.Count) throw new ArgumentException($"conv2d backward: dy has {dOutput.Length} floats, output {outShape} needs {outShape.Count}");
        if (dBias.Length != outShape.C) throw new ArgumentException($"conv2d backward: db has {dBias.Length} floats, expected one per output channel ({outShape.C})");
        fixed (float* pg = dOutput, pdb = dBias)
        {
            var job = (G: (nint)pg, Db: (nint)pdb, Shape: outShape, Isa);
            WorkerPool.Run(outShape.C, outShape.Count < 65536 ? 1 : Threads, job, static (j, _, o) =>
            {
                int plane = j.Shape.PlaneSize;
                float s = 0f;
                for (int n = 0; n < j.Shape.N; n++) s += SimdMath.Sum((float*)j.G + ((long)n * j.Shape.C + o) * plane, plane, j.Isa);
                ((float*)j.Db)[o] = s;
            });
        }
    }

    private TensorShape Check(TensorShape inShape, long inputLength, long weightLength, long dOutputLength)
    {
        if (inShape.C != InChannels) throw new ArgumentException($"conv2d backward: input {inShape} has {inShape.C} channels, the layer expects {InChannels}");
        var outShape = Conv2dBackwardReference.CheckLengths(inShape, Params, OutChannels, inputLength, weightLength, dOutputLength);
        if (inShape.Count > int.MaxValue) throw new ArgumentException($"conv2d backward: input {inShape} exceeds 2^31 elements");
        return outShape;
    }

    /// <summary>A call's scratch: one buffer all workers share (dx: W^T's panels; dw: the partial sums) and two per worker.</summary>
    private readonly record struct Scratch(AlignedBuffer Shared, AlignedBuffer[] A, AlignedBuffer[] B);

    private AlignedBuffer[] EnsureScratch(ref AlignedBuffer[]? buffers, long length)
    {
        if (buffers is not null && buffers.Length >= Threads && buffers[0].Length >= length) return buffers;
        long size = Math.Max(length, buffers?[0].Length ?? 0);
        buffers = new AlignedBuffer[Math.Max(Threads, buffers?.Length ?? 0)];
        for (int i = 0; i < buffers.Length; i++) buffers[i] = new AlignedBuffer(size);
        return buffers;
    }

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
}
