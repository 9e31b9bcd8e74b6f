using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Activation;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Conv;

/// <summary>Which conv2d gradient kernels run.</summary>
internal enum Conv2dBackwardVariant
{
    /// <summary>Let <see cref="Conv2dBackwardOp.Choose"/> decide.</summary>
    Auto = 0,
    /// <summary>Versions 1: one thread per result, every case.</summary>
    Naive = 1,
    /// <summary>Versions 2: implicit GEMMs (dw with a split reduction), groups == 1.</summary>
    Tiled = 2,
}

/// <summary>
/// Launches the gradients of a 2D convolution on a device (<see cref="Conv2dBackwardReference"/>'s definitions).
/// Owns scratch buffers (the ReLU-masked gradient, dw's split partial sums), grown on demand: use one instance per
/// concurrent caller. Kernels are loaded once per device.
/// </summary>
internal sealed class Conv2dBackwardOp(ComputeDevice device) : IDisposable
{
    private readonly ChannelReduceOp reduce = new(device);
    private MemoryBuffer1D<float, Stride1D.Dense>? masked, partial;

    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry> input1 =
        device.Kernel("conv2d.backward.input.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry>(
            Conv2dBackwardKernels.InputGradient1));
    private readonly ReluOp relu = new(device);
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry> weight1 =
        device.Kernel("conv2d.backward.weight.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry>(
            Conv2dBackwardKernels.WeightGradient1));

    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry> Input2 =>
        device.Kernel("conv2d.backward.input.2", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry>(
            Conv2dBackwardKernels.InputGradient2));
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry, int> Weight2 =>
        device.Kernel("conv2d.backward.weight.2", a => a.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dGeometry, int>(
            Conv2dBackwardKernels.WeightGradient2));
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int> SumSplits =>
        device.Kernel("conv2d.backward.sumsplits.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(
            Conv2dBackwardKernels.SumSplits1));

    /// <summary>Naive for grouped convolutions and on the CPU simulator (its group barriers cost milliseconds), else Tiled.</summary>
    public static Conv2dBackwardVariant Choose(Conv2dParams p, BackendKind backend) =>
        p.Groups != 1 || backend == BackendKind.CpuSim ? Conv2dBackwardVariant.Naive : Conv2dBackwardVariant.Tiled;

    /// <summary>
    /// dx, dw and db. With a fused ReLU, <paramref name="output"/> is the forward's y and dy is masked by y &gt; 0
    /// first (into scratch); otherwise <paramref name="output"/> is not read. <paramref name="dBias"/> is ignored
    /// without a bias. Skip a gradient by passing an empty view (conv1_1 needs no dx).
    /// </summary>
    public void Backward(ArrayView<float> input, TensorShape inShape, ArrayView<float> weight, Conv2dParams p, int outChannels,
        ArrayView<float> output, ArrayView<float> dOutput, ArrayView<float> dInput, ArrayView<float> dWeight, ArrayView<float> dBias,
        Conv2dBackwardVariant variant = Conv2dBackwardVariant.Auto, AcceleratorStream? stream = null)
    {
        var outShape = Check(inShape, p, outChannels, input.Length, weight.Length, dOutput.Length);
        var g = dOutput;
        if (p.FuseRelu)
        {
            if (output.Length != outShape.Count)
                throw new ArgumentException($"conv2d backward: the fused ReLU needs the output y ({outShape.Count} floats), got {output.Length}");
            g = Scratch(ref masked, outShape.Count);
            relu.Backward(output, dOutput, g, stream);
        }
        if (dInput.Length > 0) InputGradient(g, inShape, weight, p, outChannels, dInput, variant, stream);
        if (dWeight.Length > 0) WeightGradient(input, inShape, g, p, outChannels, dWeight, variant, stream);
        if (p.HasBias && dBias.Length > 0) BiasGradient(g, outShape, dBias, stream);
    }

    /// <summary>dx from the pre-activation gradient (the ReLU flag of <paramref name="p"/> is ignored).</summary>
    public void InputGradient(ArrayView<float> dOutput, TensorShape inShape, ArrayView<float> weight, Conv2dParams p, int outChannels,
        ArrayView<float> dInput, Conv2dBackwardVariant variant = Conv2dBackwardVariant.Auto, AcceleratorStream? stream = null)
    {
        var outShape = Check(inShape, p, outChannels, inShape.Count, weight.Length, dOutput.Length);
        if (dInput.Length != inShape.Count) throw new ArgumentException($"conv2d backward: dx has {dInput.Length} floats, input {inShape} needs {inShape.Count}");
        var g = new Conv2dGeometry(inShape, outShape, p);
        var s = stream ?? device.Accelerator.DefaultStream;
        switch (Resolve(variant, p))
        {
            case Conv2dBackwardVariant.Naive: input1(s, (int)inShape.Count, dOutput, weight, dInput, g); break;
            default:
                Input2(s, new KernelConfig(TiledGemm.Tiles(inShape.C, (int)(inShape.Count / inShape.C)), TiledGemm.GroupSize), dOutput, weight, dInput, g);
                break;
        }
    }

    /// <summary>dw (overwritten) from the pre-activation gradient.</summary>
    public void WeightGradient(ArrayView<float> input, TensorShape inShape, ArrayView<float> dOutput, Conv2dParams p, int outChannels,
        ArrayView<float> dWeight, Conv2dBackwardVariant variant = Conv2dBackwardVariant.Auto, AcceleratorStream? stream = null)
    {
        var outShape = Check(inShape, p, outChannels, input.Length, p.WeightCount(inShape.C, outChannels), dOutput.Length);
        if (dWeight.Length != p.WeightCount(inShape.C, outChannels))
            throw new ArgumentException($"conv2d backward: dw has {dWeight.Length} floats, the weights have {p.WeightCount(inShape.C, outChannels)}");
        var g = new Conv2dGeometry(inShape, outShape, p);
        var s = stream ?? device.Accelerator.DefaultStream;
        if (Resolve(variant, p) == Conv2dBackwardVariant.Naive)
        {
            weight1(s, (int)dWeight.Length, input, dOutput, dWeight, g);
            return;
        }
        var (splits, chunk) = Splits(g);
        int tiles = TiledGemm.Tiles(g.GemmM, g.GemmK);
        if (splits == 1)
        {
            Weight2(s, new KernelConfig(tiles, TiledGemm.GroupSize), input, dOutput, dWeight, g, chunk);
            return;
        }
        int count = (int)dWeight.Length;
        var buffer = Scratch(ref partial, (long)splits * count);
        Weight2(s, new KernelConfig(tiles * splits, TiledGemm.GroupSize), input, dOutput, buffer, g, chunk);
        SumSplits(s, count, buffer, dWeight, count, splits);
    }

    /// <summary>
    /// How dw's reduction over N*OH*OW columns is cut: enough groups for four per multiprocessor, no chunk shorter
    /// than 64 reduction steps, the partial sums bounded to 64 M floats.
    /// </summary>
    public (int Splits, int Chunk) Splits(Conv2dGeometry g)
    {
        int k = g.N * g.OutPlane;
        int tiles = TiledGemm.Tiles(g.GemmM, g.GemmK);
        int wanted = (4 * Math.Max(1, device.Accelerator.NumMultiprocessors) + tiles - 1) / tiles;
        int byLength = Math.Max(1, k / (64 * TiledGemm.TileK));
        int byMemory = (int)Math.Max(1, (64L << 20) / ((long)g.GemmM * g.GemmK));
        int splits = Math.Clamp(wanted, 1, Math.Min(byLength, byMemory));
        int chunk = (k + splits - 1) / splits;
        chunk = (chunk + TiledGemm.TileK - 1) / TiledGemm.TileK * TiledGemm.TileK;
        return ((k + chunk - 1) / chunk, chunk);
    }

    /// <summary>db[o] = the sum of the pre-activation gradient over images and pixels of channel o.</summary>
    public void BiasGradient(ArrayView<float> dOutput, TensorShape outShape, ArrayView<float> dBias, AcceleratorStream? stream = null) =>
        reduce.Sum(outShape.N, outShape.C, outShape.PlaneSize, dOutput, dBias, 1f, stream);

    private Conv2dBackwardVariant Resolve(Conv2dBackwardVariant variant, Conv2dParams p)
    {
        if (variant == Conv2dBackwardVariant.Auto) variant = Choose(p, device.Kind);
        if (variant == Conv2dBackwardVariant.Tiled && p.Groups != 1)
            throw new ArgumentException($"conv2d backward: the Tiled variant needs groups == 1, got {p.Groups}; use Naive");
        if (variant is not (Conv2dBackwardVariant.Naive or Conv2dBackwardVariant.Tiled))
            throw new ArgumentException($"conv2d backward: unknown variant {variant}");
        return variant;
    }

    private static TensorShape Check(TensorShape inShape, Conv2dParams p, int outChannels, long inputLength, long weightLength, long dOutputLength)
    {
        var outShape = Conv2dBackwardReference.CheckLengths(inShape, p, outChannels, inputLength, weightLength, dOutputLength);
        if (inShape.Count > int.MaxValue || weightLength > int.MaxValue)
            throw new ArgumentException($"conv2d backward: input {inShape} or weight ({weightLength}) exceeds 2^31 elements");
        return outShape;
    }

    private ArrayView<float> Scratch(ref MemoryBuffer1D<float, Stride1D.Dense>? buffer, long length)
    {
        if (buffer is null || buffer.Length < length)
        {
            // Work queued earlier may still read the old buffer.
            if (buffer is not null) device.Synchronize();
            buffer?.Dispose();
            buffer = device.Allocate(length);
        }
        return buffer.View.SubView(0, length);
    }

    public void Dispose()
    {
        masked?.Dispose();
        partial?.Dispose();
    }
}
