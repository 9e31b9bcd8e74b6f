using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.Roofline;

/// <summary>One step of SSD300 as the roofline sees it: a convolution (whose variant the rule chooses) or fixed launches.</summary>
internal sealed record WorkloadStep(string Name, string Shape, (TensorShape Input, int OutC, Conv2dParams P)? Conv, IReadOnlyList<LaunchCost> Launches);

/// <summary>
/// SSD300 (the paper's Caffe VGG16 VOC model: 21 classes, 8732 priors, DetectionOutput top_k 400, keep_top_k 200) at a
/// batch size, step by step as the engine runs it on a device: 35 convolutions (ReLU fused), 5 max pools, conv4_3's
/// L2Norm, the heads' permutes and concats, the confidence softmax and the device DetectionOutput (decode, per-class
/// keys, bitonic sort, candidates, IoU masks, greedy scan, merge, second sort, output). SSD512 (<c>size</c> 512: 24564
/// priors, one more extra layer and source) the same way.
/// </summary>
internal static class Ssd300Workload
{
    public const int Classes = 21, Priors = 8732, TopK = 400;

    /// <summary>Default boxes of SSD300 and SSD512.</summary>
    public static int PriorsOf(int size) => size == 512 ? 24564 : Priors;

    private static (string Name, int InC, int Size, int OutC, int K, int Stride, int Pad, int Dilation)[] Convs(int size) => size == 512 ? Convs512 : Convs300;

    private static (string Name, int InC, int Size, int OutC, int K, int Stride, int Pad, int Dilation)[] Convs512 =>
    [
        ("conv1_1", 3, 512, 64, 3, 1, 1, 1), ("conv1_2", 64, 512, 64, 3, 1, 1, 1),
        ("conv2_1", 64, 256, 128, 3, 1, 1, 1), ("conv2_2", 128, 256, 128, 3, 1, 1, 1),
        ("conv3_1", 128, 128, 256, 3, 1, 1, 1), ("conv3_2", 256, 128, 256, 3, 1, 1, 1), ("conv3_3", 256, 128, 256, 3, 1, 1, 1),
        ("conv4_1", 256, 64, 512, 3, 1, 1, 1), ("conv4_2", 512, 64, 512, 3, 1, 1, 1), ("conv4_3", 512, 64, 512, 3, 1, 1, 1),
        ("conv5_1", 512, 32, 512, 3, 1, 1, 1), ("conv5_2", 512, 32, 512, 3, 1, 1, 1), ("conv5_3", 512, 32, 512, 3, 1, 1, 1),
        ("fc6", 512, 32, 1024, 3, 1, 6, 6), ("fc7", 1024, 32, 1024, 1, 1, 0, 1),
        ("conv6_1", 1024, 32, 256, 1, 1, 0, 1), ("conv6_2", 256, 32, 512, 3, 2, 1, 1),
        ("conv7_1", 512, 16, 128, 1, 1, 0, 1), ("conv7_2", 128, 16, 256, 3, 2, 1, 1),
        ("conv8_1", 256, 8, 128, 1, 1, 0, 1), ("conv8_2", 128, 8, 256, 3, 2, 1, 1),
        ("conv9_1", 256, 4, 128, 1, 1, 0, 1), ("conv9_2", 128, 4, 256, 3, 2, 1, 1),
        ("conv10_1", 256, 2, 128, 1, 1, 0, 1), ("conv10_2", 128, 2, 256, 4, 1, 1, 1),
    ];

    private static (string Name, int InC, int Size, int OutC, int K, int Stride, int Pad, int Dilation)[] Convs300 =>
    [
        ("conv1_1", 3, 300, 64, 3, 1, 1, 1), ("conv1_2", 64, 300, 64, 3, 1, 1, 1),
        ("conv2_1", 64, 150, 128, 3, 1, 1, 1), ("conv2_2", 128, 150, 128, 3, 1, 1, 1),
        ("conv3_1", 128, 75, 256, 3, 1, 1, 1), ("conv3_2", 256, 75, 256, 3, 1, 1, 1), ("conv3_3", 256, 75, 256, 3, 1, 1, 1),
        ("conv4_1", 256, 38, 512, 3, 1, 1, 1), ("conv4_2", 512, 38, 512, 3, 1, 1, 1), ("conv4_3", 512, 38, 512, 3, 1, 1, 1),
        ("conv5_1", 512, 19, 512, 3, 1, 1, 1), ("conv5_2", 512, 19, 512, 3, 1, 1, 1), ("conv5_3", 512, 19, 512, 3, 1, 1, 1),
        ("fc6", 512, 19, 1024, 3, 1, 6, 6), ("fc7", 1024, 19, 1024, 1, 1, 0, 1),
        ("conv6_1", 1024, 19, 256, 1, 1, 0, 1), ("conv6_2", 256, 19, 512, 3, 2, 1, 1),
        ("conv7_1", 512, 10, 128, 1, 1, 0, 1), ("conv7_2", 128, 10, 256, 3, 2, 1, 1),
        ("conv8_1", 256, 5, 128, 1, 1, 0, 1), ("conv8_2", 128, 5, 256, 3, 1, 0, 1),
        ("conv9_1", 256, 3, 128, 1, 1, 0, 1), ("conv9_2", 128, 3, 256, 3, 1, 0, 1),
    ];

    // (source, channels, size, boxes per cell)
    private static (string Name, int C, int Size, int Boxes)[] Sources(int size) => size == 512
        ? [("conv4_3_norm", 512, 64, 4), ("fc7", 1024, 32, 6), ("conv6_2", 512, 16, 6), ("conv7_2", 256, 8, 6), ("conv8_2", 256, 4, 6), ("conv9_2", 256, 2, 4), ("conv10_2", 256, 1, 4)]
        : [("conv4_3_norm", 512, 38, 4), ("fc7", 1024, 19, 6), ("conv6_2", 512, 10, 6), ("conv7_2", 256, 5, 6), ("conv8_2", 256, 3, 4), ("conv9_2", 256, 1, 4)];

    // Pools after these convolutions: (name, channels, input size, kernel, stride, pad, output size).
    private static (string After, string Name, int C, int In, int K, int S, int P, int Out)[] Pools(int size) => size == 512
        ? [
            ("conv1_2", "pool1", 64, 512, 2, 2, 0, 256), ("conv2_2", "pool2", 128, 256, 2, 2, 0, 128), ("conv3_3", "pool3", 256, 128, 2, 2, 0, 64),
            ("conv4_3", "pool4", 512, 64, 2, 2, 0, 32), ("conv5_3", "pool5", 512, 32, 3, 1, 1, 32),
        ]
        : [
            ("conv1_2", "pool1", 64, 300, 2, 2, 0, 150), ("conv2_2", "pool2", 128, 150, 2, 2, 0, 75), ("conv3_3", "pool3", 256, 75, 2, 2, 0, 38),
            ("conv4_3", "pool4", 512, 38, 2, 2, 0, 19), ("conv5_3", "pool5", 512, 19, 3, 1, 1, 19),
        ];

    /// <summary>The steps of SSD300 (or, with <paramref name="size"/> 512, SSD512) at <paramref name="batch"/>.</summary>
    public static IReadOnlyList<WorkloadStep> Steps(int batch, int size = 300)
    {
        if (size is not (300 or 512)) throw new ArgumentException($"the roofline workload is SSD300 or SSD512, not {size}");
        int priors = PriorsOf(size);
        var steps = new List<WorkloadStep>();
        foreach (var c in Convs(size))
        {
            steps.Add(Conv(c.Name, new TensorShape(batch, c.InC, c.Size, c.Size), c.OutC, Conv2dParams.Square(c.K, c.Stride, c.Pad, c.Dilation, fuseRelu: true)));
            if (c.Name == "conv4_3")
            {
                int m = c.Size;
                long n = (long)batch * 512 * m * m;
                steps.Add(new("conv4_3_norm", $"{batch}x512x{m}x{m}", null, [RooflineModel.Streaming("l2norm.L2Norm1", (long)batch * m * m, 8.0 * n, 4.0 * n, flopsPerElement: 3 * 512)]));
            }
            foreach (var p in Pools(size).Where(p => p.After == c.Name))
            {
                long outputs = (long)batch * p.C * p.Out * p.Out, inputs = (long)batch * p.C * p.In * p.In;
                steps.Add(new(p.Name, $"{batch}x{p.C}x{p.In}x{p.In} k{p.K} s{p.S}", null,
                    [RooflineModel.Streaming("pooling.MaxPool1", outputs, 4.0 * inputs, 4.0 * outputs, flopsPerElement: p.K * p.K)]));
            }
        }
        foreach (var s in Sources(size))
        {
            var input = new TensorShape(batch, s.C, s.Size, s.Size);
            steps.Add(Conv(s.Name + "_mbox_loc", input, s.Boxes * 4, Conv2dParams.Square(3, pad: 1)));
            steps.Add(Conv(s.Name + "_mbox_conf", input, s.Boxes * Classes, Conv2dParams.Square(3, pad: 1)));
        }
        double loc = 4.0 * batch * priors * 4, conf = 4.0 * batch * priors * Classes;
        var layout = new List<LaunchCost>();
        foreach (var s in Sources(size))
        {
            long l = (long)batch * s.Size * s.Size * s.Boxes * 4, f = (long)batch * s.Size * s.Size * s.Boxes * Classes;
            layout.Add(RooflineModel.Streaming("layout.Permute1", l, 4.0 * l, 4.0 * l));
            layout.Add(RooflineModel.Streaming("layout.Permute1", f, 4.0 * f, 4.0 * f));
        }
        layout.Add(RooflineModel.Streaming("layout.CopyRows1", (long)(loc / 4), loc, loc));
        layout.Add(RooflineModel.Streaming("layout.CopyRows1", (long)(conf / 4), conf, conf));
        steps.Add(new($"permute + concat ({2 * Sources(size).Length} + 2)", $"loc {batch}x{priors}x4, conf {batch}x{priors}x{Classes}", null, layout));
        steps.Add(new("mbox_conf_softmax", $"{batch}x{priors}x{Classes}", null,
            [RooflineModel.Streaming("softmax.Softmax1", (long)batch * priors, conf, conf, flopsPerElement: 4 * Classes)]));
        steps.Add(new("detection_output", $"{batch} images, {Classes - 1} classes, top_k {TopK}", null, Detect(batch, priors)));
        return steps;
    }

    private static WorkloadStep Conv(string name, TensorShape input, int outC, Conv2dParams p) =>
        new(name, $"{input} -> {outC} k{p.KernelH} s{p.StrideH} p{p.PadH}" + (p.DilationH > 1 ? $" d{p.DilationH}" : ""), (input, outC, p), []);

    /// <summary>The device DetectionOutput's launches (Ssd.Kernels.Detect.DetectOp) for a Caffe SSD of <paramref name="priors"/> priors at this batch.</summary>
    private static IReadOnlyList<LaunchCost> Detect(int batch, int priors)
    {
        int segments = batch * (Classes - 1), slots = segments * TopK, words = (TopK + 31) / 32;
        var launches = new List<LaunchCost>
        {
            RooflineModel.Streaming("boxcoding.DecodeCaffe1", (long)batch * priors, 4.0 * 4 * (batch + 2) * priors, 16.0 * batch * priors, flopsPerElement: 30),
            RooflineModel.Streaming("detect.SegmentKeys1", (long)segments * priors, 4.0 * batch * priors * Classes, 8.0 * segments * priors),
        };
        launches.AddRange(Bitonic((long)segments * priors));
        launches.Add(RooflineModel.Streaming("detect.Candidates1", slots, 8.0 * slots, 8.0 * slots));
        launches.Add(RooflineModel.Streaming("detect.IouMask1", (long)slots * words, 16.0 * slots * 32, 4.0 * slots * words, flopsPerElement: 32 * 12));
        // The greedy scan walks each class's TopK candidates in order: one dependent round trip (~0.4 us through L2) per candidate.
        launches.Add(new LaunchCost("detect.GreedyScan1", 64, (segments + 63) / 64, MathPipe.Fp32)
        {
            DramBytes = 4.0 * slots * words, L2Bytes = 4.0 * slots * words, LatencySeconds = TopK * GreedyStepSeconds,
        });
        launches.Add(RooflineModel.Streaming("detect.MergeKeys1", slots, 8.0 * slots, 8.0 * slots));
        launches.AddRange(Bitonic(slots));
        launches.Add(RooflineModel.Streaming("detect.Output1", batch * 200L, 8.0 * slots, 4.0 * batch * 200 * 6));
        return launches;
    }

    /// <summary>The greedy scan's latency: <see cref="TopK"/> dependent steps per class, in parallel over classes.</summary>
    public const double GreedyStepSeconds = 0.4e-6;

    /// <summary>Ssd.Kernels.Sort.BitonicSortOp: log2(n)(log2(n)+1)/2 passes over the padded keys, each reading and writing them.</summary>
    private static IEnumerable<LaunchCost> Bitonic(long count)
    {
        long n = 1;
        while (n < count) n <<= 1;
        int log = (int)Math.Log2(n);
        yield return RooflineModel.Streaming("sort.FillMax1", n - count, 0, 8.0 * (n - count));
        for (int i = 0; i < log * (log + 1) / 2; i++)
            yield return RooflineModel.Streaming("sort.BitonicStep1", n / 2, 16.0 * n / 2, 16.0 * n / 2);
    }
}
