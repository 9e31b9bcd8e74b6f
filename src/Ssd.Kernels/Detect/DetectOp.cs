using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Core;
using Ssd.Kernels.Softmax;
using Ssd.Kernels.Sort;
using Ssd.Weights.Model;

using DetectKernel = System.Action<ILGPU.Runtime.AcceleratorStream, ILGPU.Index1D, Ssd.Kernels.Detect.DetectShape, Ssd.Kernels.Detect.DetectViews>;

namespace Ssd.Kernels.Detect;

/// <summary>
/// The whole post-processing of a batch on the device, by <see cref="PostProcessRules"/>: decode
/// (<see cref="BoxCodingKernels"/>, clipped when the rules say), softmax when the confidences are logits
/// (<see cref="SoftmaxKernels"/>; both bit-exact with the host), then per (image, class) segment the score keys in
/// one bitonic sort, the top-k candidates, the IoU bitmask, the greedy scan, and a second sort that merges the kept
/// boxes of every class per image into the compact result [N, 1 + Capacity x 6], which the host downloads once.
/// Scratch buffers are kept between calls of the same batch size.
/// </summary>
internal sealed class DetectOp(ComputeDevice device, PostProcessRules rules) : IDisposable
{
    private readonly BitonicSortOp sort = new(device);
    private readonly SoftmaxOp softmax = new(device);
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> decodeCaffe1 =
        device.Kernel("boxcoding.caffe.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(BoxCodingKernels.DecodeCaffe1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float> decodeSsdPytorch1 =
        device.Kernel("boxcoding.ssdpytorch.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>(BoxCodingKernels.DecodeSsdPytorch1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, DecodeWeights> decodeTorchvision1 =
        device.Kernel("boxcoding.torchvision.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, DecodeWeights>(BoxCodingKernels.DecodeTorchvision1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, float, float> clip1 =
        device.Kernel("boxcoding.clip.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, float, float>(BoxCodingKernels.Clip1));
    private readonly DetectKernel segmentKeys1 = Load(device, "segmentkeys", DetectKernels.SegmentKeys1);
    private readonly DetectKernel candidates1 = Load(device, "candidates", DetectKernels.Candidates1);
    private readonly DetectKernel trick1 = Load(device, "coordinatetrick", DetectKernels.CoordinateTrick1);
    private readonly DetectKernel iouMask1 = Load(device, "ioumask", DetectKernels.IouMask1);
    private readonly DetectKernel greedyScan1 = Load(device, "greedyscan", DetectKernels.GreedyScan1);
    private readonly DetectKernel mergeKeys1 = Load(device, "mergekeys", DetectKernels.MergeKeys1);
    private readonly DetectKernel output1 = Load(device, "output", DetectKernels.Output1);
    private Scratch? scratch;

    public PostProcessRules Rules { get; } = rules;

    /// <summary>
    /// Post-processes a batch: priors in the decoder's layout (<see cref="PostProcessRules.PriorFloats"/> per prior),
    /// loc [N, P, 4], conf [N, P, C], on <paramref name="stream"/>; downloads the compact result [N, Stride] (see
    /// <see cref="DetectShape.Stride"/>) once and returns it (valid until the next call).
    /// </summary>
    public (DetectShape Shape, float[] Result) Run(ArrayView<float> priors, ArrayView<float> loc, ArrayView<float> conf, int images, AcceleratorStream? stream = null)
    {
        if (images <= 0 || loc.Length % (4L * images) != 0) throw new ArgumentException($"detect: {loc.Length} location floats are not {images} images x P x 4");
        int p = (int)(loc.Length / (4L * images));
        var s = Rules.Shape(images, p);
        if (priors.Length != (long)Rules.PriorFloats * p) throw new ArgumentException($"detect: {priors.Length} prior floats, expected {p} x {Rules.PriorFloats} ({Rules.Decoder} layout)");
        if (conf.Length != (long)images * p * s.Classes) throw new ArgumentException($"detect: {conf.Length} confidence floats, expected {images} x {p} x {s.Classes}");
        var st = stream ?? device.Accelerator.DefaultStream;
        var b = Buffers(s, st);
        var v = b.Views with { Scores = conf };

        int count = images * p;
        switch (Rules.Decoder)
        {
            case ModelFlavor.Caffe: decodeCaffe1(st, count, priors, loc, v.Boxes, p); break;
            case ModelFlavor.SsdPytorch: decodeSsdPytorch1(st, count, priors, loc, v.Boxes, p, Rules.Variance0, Rules.Variance1); break;
            default: decodeTorchvision1(st, count, priors, loc, v.Boxes, p, Rules.Weights); break;
        }
        if (Rules.Clip) clip1(st, 4 * count, v.Boxes, Rules.FrameWidth, Rules.FrameHeight);
        if (!Rules.Params.ConfIsProbability)
        {
            v = v with { Scores = b.Probabilities };
            softmax.Rows(count, s.Classes, conf, v.Scores, st);
        }

        int total = s.Segments * s.Priors, slots = s.Segments * s.TopK;
        segmentKeys1(st, total, s, v);
        sort.Sort(v.Keys, total, st);
        candidates1(st, slots, s, v);
        if (Rules.CoordinateTrick) trick1(st, s.Images, s, v);
        iouMask1(st, slots * s.Words, s, v);
        greedyScan1(st, s.Segments, s, v);
        mergeKeys1(st, slots, s, v);
        sort.Sort(v.Merged, slots, st);
        output1(st, s.Images, s, v);
        v.Result.CopyToCPU(st, b.Result);
        st.Synchronize();
        return (s, b.Result);
    }

    private Scratch Buffers(DetectShape s, AcceleratorStream stream)
    {
        if (scratch is { } b && b.Shape == s) return b;
        stream.Synchronize(); // queued kernels may still use the old buffers
        scratch?.Dispose();
        return scratch = new Scratch(device.Accelerator, s, !Rules.Params.ConfIsProbability);
    }

    public void Dispose()
    {
        scratch?.Dispose();
        scratch = null;
    }

    private static DetectKernel Load(ComputeDevice device, string name, Action<Index1D, DetectShape, DetectViews> kernel) =>
        device.Kernel($"detect.{name}.1", a => a.LoadAutoGroupedKernel(kernel));

    /// <summary>The buffers of a batch shape, as <see cref="DetectViews"/> (Scores are the caller's), and the result's host copy.</summary>
    private sealed class Scratch : IDisposable
    {
        private readonly List<MemoryBuffer> buffers = [];

        public Scratch(Accelerator a, DetectShape s, bool logits)
        {
            ArrayView<T> Allocate<T>(long length) where T : unmanaged
            {
                var b = a.Allocate1D<T>(length);
                buffers.Add(b);
                return b.View;
            }
            Shape = s;
            long slots = (long)s.Segments * s.TopK;
            Probabilities = Allocate<float>(logits ? (long)s.Images * s.Priors * s.Classes : 1);
            Views = new DetectViews(Boxes: Allocate<float>(4L * s.Images * s.Priors), Scores: default,
                Keys: Allocate<ulong>(BitonicSortOp.PaddedLength(s.Segments * s.Priors)), Candidates: Allocate<int>(slots),
                CandidateScores: Allocate<float>(slots), Offsets: Allocate<float>(s.Segments), Mask: Allocate<uint>(slots * s.Words),
                Removed: Allocate<uint>((long)s.Segments * s.Words), Keep: Allocate<int>(slots),
                Merged: Allocate<ulong>(BitonicSortOp.PaddedLength((int)slots)), Result: Allocate<float>((long)s.Images * s.Stride));
            Result = new float[s.Images * s.Stride];
        }

        public DetectShape Shape { get; }
        public ArrayView<float> Probabilities { get; }
        public DetectViews Views { get; }
        public float[] Result { get; }

        public void Dispose() => buffers.ForEach(b => b.Dispose());
    }
}
