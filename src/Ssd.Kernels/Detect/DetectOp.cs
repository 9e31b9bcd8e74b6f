using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.BoxCoding;
using Ssd.Kernels.Core;
using Ssd.Kernels.Softmax;
using Ssd.Kernels.Sort;
using Ssd.Weights.Model;

namespace Ssd.Kernels.Detect;

/// <summary>
/// The whole post-processing of a batch on the device, by <see cref="PostProcessRules"/>: decode
/// (<see cref="BoxCodingKernels"/>, clipped when the rules say), softmax when the confidences are logits
/// (<see cref="SoftmaxKernels"/>; both bit-exact with the host), then per (image, class) segment the score keys in
/// one bitonic sort, the top-k candidates, the IoU bitmask, the greedy scan, and a second sort that merges the kept
/// boxes of every class per image into the compact result [N, 1 + Capacity x 6], which the host downloads once.
/// Scratch buffers are kept between calls of the same batch size.
/// </summary>
public sealed class DetectOp(ComputeDevice device, PostProcessRules rules) : IDisposable
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
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<ulong>, DetectShape> segmentKeys1 =
        device.Kernel("detect.segmentkeys.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<ulong>, DetectShape>(DetectKernels.SegmentKeys1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<ulong>, ArrayView<int>, ArrayView<float>, DetectShape> candidates1 =
        device.Kernel("detect.candidates.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<ulong>, ArrayView<int>, ArrayView<float>, DetectShape>(DetectKernels.Candidates1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, DetectShape> trick1 =
        device.Kernel("detect.coordinatetrick.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, DetectShape>(DetectKernels.CoordinateTrick1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<uint>, DetectShape> iouMask1 =
        device.Kernel("detect.ioumask.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<uint>, DetectShape>(DetectKernels.IouMask1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<uint>, ArrayView<uint>, ArrayView<int>, DetectShape> greedyScan1 =
        device.Kernel("detect.greedyscan.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<uint>, ArrayView<uint>, ArrayView<int>, DetectShape>(DetectKernels.GreedyScan1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<float>, ArrayView<ulong>, DetectShape> mergeKeys1 =
        device.Kernel("detect.mergekeys.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<ulong>, DetectShape>(DetectKernels.MergeKeys1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<ulong>, ArrayView<int>, ArrayView<float>, ArrayView<float>, DetectShape> output1 =
        device.Kernel("detect.output.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<ulong>, ArrayView<int>, ArrayView<float>, ArrayView<float>, DetectShape>(DetectKernels.Output1));
    private Scratch? scratch;

    public PostProcessRules Rules { get; } = rules;

    /// <summary>
    /// Post-processes a batch: priors in the decoder's layout (<see cref="PostProcessRules.PriorFloats"/> per prior),
    /// loc [N, P, 4], conf [N, P, C]; writes result [N, Stride] (see <see cref="DetectShape.Stride"/>). Queued on
    /// <paramref name="stream"/>; the caller synchronises (or downloads).
    /// </summary>
    public DetectShape Run(ArrayView<float> priors, ArrayView<float> loc, ArrayView<float> conf, int images, ArrayView<float> result, AcceleratorStream? stream = null)
    {
        if (images <= 0 || loc.Length % (4L * images) != 0) throw new ArgumentException($"detect: {loc.Length} location floats are not {images} images x P x 4");
        int p = (int)(loc.Length / (4L * images));
        var s = Rules.Shape(images, p);
        if (priors.Length != (long)Rules.PriorFloats * p) throw new ArgumentException($"detect: {priors.Length} prior floats, expected {p} x {Rules.PriorFloats} ({Rules.Decoder} layout)");
        if (conf.Length != (long)images * p * s.Classes) throw new ArgumentException($"detect: {conf.Length} confidence floats, expected {images} x {p} x {s.Classes}");
        if (result.Length < (long)images * s.Stride) throw new ArgumentException($"detect: the result holds {result.Length} floats, needs {images} x {s.Stride}");
        var st = stream ?? device.Accelerator.DefaultStream;
        var b = Buffers(s, st);

        var boxes = b.Boxes.View;
        int count = images * p;
        switch (Rules.Decoder)
        {
            case ModelFlavor.Caffe: decodeCaffe1(st, count, priors, loc, boxes, p); break;
            case ModelFlavor.SsdPytorch: decodeSsdPytorch1(st, count, priors, loc, boxes, p, Rules.Variance0, Rules.Variance1); break;
            default: decodeTorchvision1(st, count, priors, loc, boxes, p, Rules.Weights); break;
        }
        if (Rules.Clip) clip1(st, 4 * count, boxes, Rules.FrameWidth, Rules.FrameHeight);
        var scores = conf;
        if (!Rules.Params.ConfIsProbability)
        {
            softmax.Rows(count, s.Classes, conf, b.Probabilities.View, st);
            scores = b.Probabilities.View;
        }

        int total = s.Segments * s.Priors, slots = s.Segments * s.TopK;
        segmentKeys1(st, total, scores, b.Keys.View, s);
        sort.Sort(b.Keys.View, total, st);
        candidates1(st, slots, b.Keys.View, b.Candidates.View, b.CandidateScores.View, s);
        if (Rules.CoordinateTrick) trick1(st, s.Images, boxes, b.Candidates.View, b.Offsets.View, s);
        iouMask1(st, slots * s.Words, boxes, b.Candidates.View, b.Offsets.View, b.Mask.View, s);
        greedyScan1(st, s.Segments, b.Candidates.View, b.Mask.View, b.Removed.View, b.Keep.View, s);
        mergeKeys1(st, slots, b.Keep.View, b.CandidateScores.View, b.Merged.View, s);
        sort.Sort(b.Merged.View, slots, st);
        output1(st, s.Images, b.Merged.View, b.Candidates.View, boxes, result, s);
        return s;
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

    private sealed class Scratch(Accelerator a, DetectShape s, bool logits) : IDisposable
    {
        public DetectShape Shape { get; } = s;
        public MemoryBuffer1D<float, Stride1D.Dense> Boxes { get; } = a.Allocate1D<float>(4L * s.Images * s.Priors);
        public MemoryBuffer1D<float, Stride1D.Dense> Probabilities { get; } = a.Allocate1D<float>(logits ? (long)s.Images * s.Priors * s.Classes : 1);
        public MemoryBuffer1D<ulong, Stride1D.Dense> Keys { get; } = a.Allocate1D<ulong>(BitonicSortOp.PaddedLength(s.Segments * s.Priors));
        public MemoryBuffer1D<int, Stride1D.Dense> Candidates { get; } = a.Allocate1D<int>((long)s.Segments * s.TopK);
        public MemoryBuffer1D<float, Stride1D.Dense> CandidateScores { get; } = a.Allocate1D<float>((long)s.Segments * s.TopK);
        public MemoryBuffer1D<float, Stride1D.Dense> Offsets { get; } = a.Allocate1D<float>(s.Segments);
        public MemoryBuffer1D<uint, Stride1D.Dense> Mask { get; } = a.Allocate1D<uint>((long)s.Segments * s.TopK * s.Words);
        public MemoryBuffer1D<uint, Stride1D.Dense> Removed { get; } = a.Allocate1D<uint>((long)s.Segments * s.Words);
        public MemoryBuffer1D<int, Stride1D.Dense> Keep { get; } = a.Allocate1D<int>((long)s.Segments * s.TopK);
        public MemoryBuffer1D<ulong, Stride1D.Dense> Merged { get; } = a.Allocate1D<ulong>(BitonicSortOp.PaddedLength(s.Segments * s.TopK));

        public void Dispose()
        {
            foreach (var b in new IDisposable[] { Boxes, Probabilities, Keys, Candidates, CandidateScores, Offsets, Mask, Removed, Keep, Merged }) b.Dispose();
        }
    }
}
