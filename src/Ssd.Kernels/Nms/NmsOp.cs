using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;
using Ssd.Kernels.Sort;

namespace Ssd.Kernels.Nms;

/// <summary>
/// Multi-class NMS on the device (semantics in <see cref="NmsConfig"/>): per (image, class) segment, score keys
/// sorted in one bitonic sort, the top-k candidates, an IoU bitmask (one thread per candidate and 32-candidate
/// block), a greedy scan per segment, then a second sort merging the kept boxes of all classes per image.
/// </summary>
public sealed class NmsOp(ComputeDevice device)
{
    private readonly BitonicSortOp sort = new(device);
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<ulong>, NmsShape> scoreKeys1 =
        device.Kernel("nms.scorekeys.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<ulong>, NmsShape>(NmsKernels.ScoreKeys1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<ulong>, ArrayView<int>, NmsShape> candidates1 =
        device.Kernel("nms.candidates.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<ulong>, ArrayView<int>, NmsShape>(NmsKernels.Candidates1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<uint>, NmsShape> iouMask1 =
        device.Kernel("nms.ioumask.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<uint>, NmsShape>(NmsKernels.IouMask1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<int>, ArrayView<uint>, ArrayView<uint>, ArrayView<int>, NmsShape> greedyScan1 =
        device.Kernel("nms.greedyscan.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<int>, ArrayView<uint>, ArrayView<uint>, ArrayView<int>, NmsShape>(NmsKernels.GreedyScan1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<ulong>, ArrayView<int>, ArrayView<ulong>, NmsShape> mergeKeys1 =
        device.Kernel("nms.mergekeys.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<ulong>, ArrayView<int>, ArrayView<ulong>, NmsShape>(NmsKernels.MergeKeys1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<ulong>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<int>, NmsShape> output1 =
        device.Kernel("nms.output.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<ulong>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<int>, NmsShape>(NmsKernels.Output1));

    /// <summary>
    /// boxes [N, P, 4], scores [N, P, C]; writes detections [N, KeepTopK, 7] (image, class, score, x1, y1, x2, y2;
    /// slots past an image's count are left as they were) and counts [N].
    /// </summary>
    public void Run(ArrayView<float> boxes, ArrayView<float> scores, int images, NmsConfig config, ArrayView<float> detections, ArrayView<int> counts)
    {
        if (images <= 0 || boxes.Length % (4L * images) != 0) throw new ArgumentException($"nms: {boxes.Length} box floats are not {images} images x P x 4");
        int p = (int)(boxes.Length / (4L * images));
        config.Validate(p);
        int c = config.NumClasses, k = Math.Min(config.PreNmsTopK, p), words = (k + 31) / 32;
        if (scores.Length != (long)images * p * c) throw new ArgumentException($"nms: scores hold {scores.Length} floats, expected {images} x {p} x {c}");
        if (detections.Length < (long)images * config.KeepTopK * NmsConfig.DetectionSize) throw new ArgumentException($"nms: detections hold {detections.Length} floats, need {images} x {config.KeepTopK} x 7");
        if (counts.Length < images) throw new ArgumentException($"nms: counts hold {counts.Length}, need {images}");
        int segments = images * (c - 1), perImage = (c - 1) * k;
        if (p > UniqueKey.MaxItems || segments > UniqueKey.MaxSegments || perImage > UniqueKey.MaxItems)
            throw new ArgumentException($"nms: {p} boxes, {segments} image-class segments or {perImage} candidates per image exceed 65536");
        if ((long)segments * p > 1 << 30) throw new ArgumentException("nms: too many boxes x classes for one sort");

        var shape = new NmsShape(images, p, c, config.BackgroundLabel, k, words, config.ScoreThreshold, config.IouThreshold, (int)config.Iou, config.KeepTopK);
        var accel = device.Accelerator;
        var stream = accel.DefaultStream;
        int total = segments * p;
        using var keys = accel.Allocate1D<ulong>(BitonicSortOp.PaddedLength(total));
        using var candidates = accel.Allocate1D<int>((long)segments * k);
        using var mask = accel.Allocate1D<uint>((long)segments * k * words);
        using var removed = accel.Allocate1D<uint>((long)segments * words);
        using var keep = accel.Allocate1D<int>((long)segments * k);
        using var merged = accel.Allocate1D<ulong>(BitonicSortOp.PaddedLength(images * perImage));

        scoreKeys1(stream, total, scores, keys.View, shape);
        sort.Sort(keys.View, total, stream);
        candidates1(stream, segments * k, keys.View, candidates.View, shape);
        iouMask1(stream, segments * k * words, boxes, candidates.View, mask.View, shape);
        greedyScan1(stream, segments, candidates.View, mask.View, removed.View, keep.View, shape);
        mergeKeys1(stream, images * perImage, keys.View, keep.View, merged.View, shape);
        sort.Sort(merged.View, images * perImage, stream);
        output1(stream, images, merged.View, keep.View, candidates.View, boxes, detections, counts, shape);
        stream.Synchronize();
    }

    /// <summary>Reads the device output back as per-image detection arrays.</summary>
    public static Detection[][] Read(float[] detections, int[] counts, int images, int keepTopK)
    {
        var result = new Detection[images][];
        for (int n = 0; n < images; n++)
        {
            result[n] = new Detection[counts[n]];
            for (int j = 0; j < counts[n]; j++)
            {
                int d = (n * keepTopK + j) * NmsConfig.DetectionSize;
                result[n][j] = new Detection((int)detections[d], (int)detections[d + 1], detections[d + 2],
                    detections[d + 3], detections[d + 4], detections[d + 5], detections[d + 6]);
            }
        }
        return result;
    }
}
