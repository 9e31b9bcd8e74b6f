using Ssd.Engine.Backends;
using Ssd.Engine.Backends.Cpu;
using Ssd.Engine.Backends.Ilgpu;
using Ssd.Engine.Graph;
using Ssd.Engine.Memory;
using Ssd.Engine.Network;
using Ssd.Kernels.Activation;
using Ssd.Kernels.Core;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;
using Ssd.Weights.Torch;
using static Ssd.Tests.Engine.NetworkFixtures;

namespace Ssd.Tests.Engine;

/// <summary>
/// A plan that can be trained: the backward schedule replays the forward steps in reverse; the training memory plan
/// keeps every value a backward step reads (checked by replaying every write of the schedule against the arena
/// layout, not by trusting the lifetimes); BatchNorm is folded only for inference; backward runs through the op
/// registry; and edited weights reach the next forward pass exactly as a freshly loaded network would see them.
/// </summary>
public class TrainingPlanTests
{
    private static ConversionResult Torchvision() => TorchConverter.Convert(TorchCheckpoint.Load(Network("torchvision/model.pth")));

    /// <summary>Every read and write of the training schedule at its time: forward step s at s, the loss's gradients at
    /// S, backward entry j at S + 1 + j (the times <see cref="BackwardPlan.Lifetimes"/> documents).</summary>
    private static (List<(int Time, PlanValue Value)> Writes, List<(int Time, PlanValue Value)> Reads) Events(ExecutionPlan plan)
    {
        var b = plan.Backward!;
        var writes = new List<(int, PlanValue)> { (-1, plan.Input) };
        var reads = new List<(int, PlanValue)>();
        int s0 = plan.Steps.Count;
        for (int s = 0; s < s0; s++)
        {
            foreach (var x in plan.Steps[s].Inputs) reads.Add((s, x));
            writes.Add((s, plan.Steps[s].Output));
            foreach (var v in b.Saved[plan.Steps[s]]) writes.Add((s, v));
        }
        writes.Add((s0, b.LocGradient));
        writes.Add((s0, b.ConfGradient));
        for (int j = 0; j < b.Entries.Count; j++)
            switch (b.Entries[j])
            {
                case BackwardStep step:
                    foreach (var v in step.Reads.Append(step.OutputGradient)) reads.Add((s0 + 1 + j, v));
                    foreach (var v in step.InputGradients) writes.Add((s0 + 1 + j, v));
                    break;
                case GradientSum sum:
                    foreach (var v in sum.Parts) reads.Add((s0 + 1 + j, v));
                    writes.Add((s0 + 1 + j, sum.Gradient));
                    break;
            }
        return (writes, reads);
    }

    private static bool Overlap(ArenaSlice a, ArenaSlice b) => a.Offset < b.Offset + b.Length && b.Offset < a.Offset + a.Length;

    [Test]
    public void TheTrainingMemoryPlanKeepsEveryValueBackwardReads()
    {
        var model = Torchvision();
        var plan = PlanBuilder.Build(model.Description, model.Tensors, 300, 300, batch: 2, mode: PlanMode.Training);
        var layout = ArenaLayout.For(plan);
        var (writes, reads) = Events(plan);
        int backwardStart = plan.Steps.Count;
        int checkedReads = 0;
        foreach (var (t, v) in reads)
        {
            // The write that produced what this read sees: the last one to v's storage root before t.
            int written = writes.Where(w => w.Value.Root == v.Root && w.Time < t).Max(w => w.Time);
            var clobber = writes.FirstOrDefault(w => w.Time > written && w.Time < t && w.Value.Root != v.Root && Overlap(layout.Slices[w.Value], layout.Slices[v]));
            Assert.That(clobber.Value, Is.Null, $"{v} (written at {written}) is overwritten by {clobber.Value} at {clobber.Time} before it is read at {t}");
            if (t > backwardStart) checkedReads++;
        }
        Assert.That(checkedReads, Is.GreaterThan(100), "backward reads checked");

        // What the families say backward reads is there: activations for conv and ReLU, argmax for max pooling, the
        // input for L2Norm.
        var steps = plan.Backward!.Entries.OfType<BackwardStep>().ToList();
        foreach (var b in steps.Where(b => b.Forward is PoolStep))
            Assert.That(b.Reads, Is.EqualTo(plan.Backward.Saved[b.Forward]), $"{b.Forward.Layer} reads its argmax");
        var norm = steps.Single(b => b.Forward is NormalizeStep);
        Assert.That(norm.Reads, Is.EqualTo(new[] { norm.Forward.Inputs[0] }), "L2Norm's backward recomputes the norms from its input");
        foreach (var b in steps.Where(b => b.Forward is ConvStep c && c.Params.FuseRelu))
            Assert.That(b.Reads, Is.EqualTo(new[] { b.Forward.Inputs[0], b.Forward.Output }));

        // Training keeps what inference frees: when backward starts, every value a backward step reads is live at
        // once, so the arena holds at least all of them; the inference arena holds far less.
        long inference = SsdNetwork.PlannedArenaBytes(model.Description, model.Tensors, batch: 2);
        long training = SsdNetwork.PlannedArenaBytes(model.Description, model.Tensors, batch: 2, mode: PlanMode.Training);
        long readByBackward = steps.SelectMany(b => b.Reads).Select(v => v.Root).Distinct().Sum(r => r.Count) * sizeof(float);
        TestContext.Out.WriteLine($"SSD300 (reduced width) batch 2 arena: inference {inference / 1048576.0:F1} MiB, training {training / 1048576.0:F1} MiB, "
            + $"read by backward {readByBackward / 1048576.0:F1} MiB");
        Assert.That(training, Is.GreaterThanOrEqualTo(readByBackward));
        Assert.That(inference, Is.LessThan(readByBackward));
    }

    [Test]
    public void BackwardReplaysTheStepsOnTheWayToTheLossInReversePlanOrder()
    {
        var model = Torchvision();
        var plan = PlanBuilder.Build(model.Description, model.Tensors, 300, 300, mode: PlanMode.Training);
        var b = plan.Backward!;
        var order = b.Entries.OfType<BackwardStep>().Select(e => plan.Steps.ToList().IndexOf(e.Forward)).ToList();
        Assert.That(order, Is.Ordered.Descending);
        Assert.That(order.Distinct().Count(), Is.EqualTo(order.Count));
        // The conf softmax ends the graph: the loss's gradient is the logits', and the softmax has no backward step.
        var softmax = plan.Steps.OfType<SoftmaxStep>().Single();
        Assert.That(b.LossConf, Is.SameAs(softmax.Input));
        Assert.That(b.Entries.OfType<BackwardStep>().Any(e => e.Forward == softmax), Is.False);
        Assert.That(order, Has.Count.EqualTo(plan.Steps.Count - 1));
        // The six sources feed a head pair and (but the first and last) the next layer, and conv4_3 feeds the L2Norm
        // and pool4: their gradients are sums of shares, summed before the backward of the step that produced them.
        var sums = b.Entries.OfType<GradientSum>().ToList();
        Assert.That(sums, Has.Count.EqualTo(7));
        Assert.That(sums.Count(s => s.Parts.Length == 3), Is.EqualTo(4), "fc7 and extra 1-3: two heads and the next layer");
        foreach (var sum in sums)
        {
            int at = b.Entries.ToList().IndexOf(sum);
            int producer = b.Entries.ToList().FindIndex(e => e is BackwardStep s && b.GradientOf(s.Forward.Output) == sum.Gradient);
            Assert.That(at, Is.LessThan(producer), $"{sum.Gradient} is summed before its producer's backward");
            Assert.That(sum.Parts, Has.Length.GreaterThanOrEqualTo(2));
        }
    }

    [Test]
    public void BatchNormIsFoldedOnlyForInferenceAndTrainingRunsNothingInPlace()
    {
        var (model, tensors) = TinySsd.Create(batchNorm: true);
        var inference = PlanBuilder.Build(model, tensors, 24, 20);
        Assert.That(inference.Steps.OfType<ConvStep>().Single(s => s.Layer == "conv1").FusedLayers, Is.EqualTo(new[] { "conv1", "bn", "scale", "relu1" }));
        ExecutionPlan? training = null;
        try { training = PlanBuilder.Build(model, tensors, 24, 20, mode: PlanMode.Training); }
        catch (InvalidDataException e) { Assert.That(e.Message, Does.Contain("'bn'").And.Contain("training")); }
        if (training is not null)
            Assert.That(training.Steps.OfType<ConvStep>().Single(s => s.Layer == "conv1").FusedLayers, Does.Not.Contain("bn"));

        // relu1 moved after pool1 cannot fuse into a convolution: inference runs it in place, training does not.
        var (plain, plainTensors) = TinySsd.Create();
        var layers = plain.Layers.Where(l => l.Name != "relu1").ToList();
        layers.Insert(layers.FindIndex(l => l.Name == "pool1") + 1, new ReluLayer { Name = "relu1", Inputs = ["pool1"], Outputs = ["pool1"] });
        var unfused = plain with { Layers = [.. layers] };
        var inPlace = PlanBuilder.Build(unfused, plainTensors, 24, 20).Steps.OfType<ReluStep>().Single();
        Assert.That(inPlace.Output.AliasOf, Is.SameAs(inPlace.Input), "inference runs the ReLU in place");
        var kept = PlanBuilder.Build(unfused, plainTensors, 24, 20, mode: PlanMode.Training).Steps.OfType<ReluStep>().Single();
        Assert.That(kept.Output.AliasOf, Is.Null, "training keeps the ReLU's input");
    }

    /// <summary>
    /// data [1, 3, 4, 4] seen as [1, 4, 3, 4]; loc = relu1(view); conf = relu3(relu2(view)) as logits over 4 classes: every
    /// op has a backward, and no value that needs a gradient is read twice.
    /// </summary>
    private static (ModelDescription, ModelWeights) ReluNet()
    {
        LayerSpec[] layers =
        [
            new ReshapeLayer { Name = "view", Inputs = ["data"], Outputs = ["view"], Dims = [0, 4, 3, 4] },
            new ReluLayer { Name = "relu1", Inputs = ["view"], Outputs = ["relu1"] },
            new FlattenLayer { Name = "loc", Inputs = ["relu1"], Outputs = ["loc"] },
            new ReluLayer { Name = "relu2", Inputs = ["view"], Outputs = ["relu2"] },
            new ReluLayer { Name = "relu3", Inputs = ["relu2"], Outputs = ["relu3"] },
            new FlattenLayer { Name = "conf", Inputs = ["relu3"], Outputs = ["conf"] },
        ];
        var model = new ModelDescription
        {
            Name = "relu-net", Flavor = ModelFlavor.Caffe,
            Input = new InputSpec { Width = 4, Height = 4, ChannelOrder = ChannelOrder.Bgr, Mean = [0f], Std = [1f], PixelRange = PixelRange.Byte, Resize = ResizeMethod.OpenCvLinear },
            Layers = layers,
            Outputs = new OutputSpec { Loc = "loc", Conf = "conf", ConfIsProbability = false },
            Priors = new PriorConfig { Style = ModelFlavor.Caffe, Maps = [new PriorSpec { Source = "view", MinSizes = [2f] }] },
            PostProcess = new PostProcessSpec { Style = ModelFlavor.Caffe, NumClasses = 4, ConfidenceThreshold = 0.5f, NmsThreshold = 0.45f, TopK = 5 },
        };
        return (model, ModelWeights.Create([]));
    }

    public static IEnumerable<string> Backends => ["cpu", "cpu-sim", .. TestDevices.DeviceNames];

    private static IBackend Create(string name) => name switch
    {
        "cpu-sim" => new IlgpuBackend(TestDevices.CpuSim),
        _ => Backend(name),
    };

    [TestCaseSource(nameof(Backends))]
    public void BackwardRunsThroughTheOpRegistryAndMatchesTheReferences(string backendName)
    {
        var (model, weights) = ReluNet();
        using var backend = Create(backendName);
        using var net = SsdNetwork.Load(model, weights, backend, mode: PlanMode.Training, keepGradients: ["relu2", "relu1"], capture: ["relu2"]);
        var x = TestData.Uniform(1, 48, -1f, 1f);
        x[5] = 0f;
        x[6] = -0f;
        var output = net.Forward(x, capture: ["relu2"]);
        var dLoc = TestData.Uniform(2, 48);
        var dConf = TestData.Uniform(3, 48);
        net.Backward(dLoc, dConf);

        // By hand: the gradient of relu2's output is relu3's backward of d conf, on relu3's output (= conf).
        var dRelu2 = new float[48];
        ReluBackwardReference.Backward(output.Conf, dConf, dRelu2);
        CpuVariantsBits(net.ReadGradient("relu2"), dRelu2, "d relu2");
        // relu1's output is loc, whose gradient is d loc itself.
        CpuVariantsBits(net.ReadGradient("relu1"), dLoc, "d relu1 (= d loc)");
        Assert.That(net.Plan.Backward!.Entries.OfType<BackwardStep>().Select(b => b.Forward.Layer), Is.EqualTo(new[] { "relu3", "relu2", "relu1" }));
    }

    private static void CpuVariantsBits(float[] actual, float[] expected, string what) => Ssd.Tests.Kernels.CpuVariants.AssertBits(actual, expected, what);

    [Test]
    public void ATrainingLoadNamesTheOpWithoutABackward()
    {
        // The SSD graph trains (every op on the way to the loss has a backward, shared values' gradients are summed).
        var (model, tensors) = TinySsd.Create();
        using var backend = new CpuBackend();
        using (var net = SsdNetwork.Load(model, ModelWeights.From(tensors), backend, mode: PlanMode.Training))
            Assert.That(net.ParameterGradients, Is.Not.Empty);
        // An op whose family has no backward (an Eltwise max) is named with its layer.
        var a = new PlanValue(0, "a", [1, 4]);
        var b = new PlanValue(1, "b", [1, 4]);
        var y = new PlanValue(2, "y", [1, 4]);
        var step = new EltwiseStep("max1", [a, b], y, Ssd.Kernels.Eltwise.EltwiseMode.Max, []);
        var context = new CpuOpContext(new float[16]);
        var e = Assert.Catch<NotSupportedException>(() => OpRegistry.Create(step, OpPass.Backward,
            new OpBinding([new ArenaSlice(0, 4), new ArenaSlice(4, 4), new ArenaSlice(12, 4)], [new ArenaSlice(0, 4), new ArenaSlice(4, 4)]), context));
        TestContext.Out.WriteLine(e!.Message);
        Assert.That(e.Message, Does.Contain("layer 'max1'"));
    }

    [TestCaseSource(typeof(NetworkFixtures), nameof(BackendNames))]
    public void UpdatingAWeightChangesTheNextForwardExactlyAsAFreshNetworkWould(string backendName)
    {
        // BatchNorm and Scale are folded into conv1: their edit must reach the folded weights, the packed or
        // Winograd-transformed panels (CPU) or the device copies.
        var (model, tensors) = TinySsd.Create(batchNorm: true);
        var weights = ModelWeights.From(tensors);
        var x = TestData.Uniform(7, 3 * 20 * 24, -100f, 150f);
        using var backend = Backend(backendName);
        using var net = SsdNetwork.Load(model, weights, backend);
        var before = net.Forward(x);

        net.Weights["conv1.weight"][5] += 0.25f;
        net.Weights["bn.mean"][2] += 0.5f;
        net.Weights["scale.bias"][7] -= 0.3f;
        net.Weights["conv2.weight"][100] *= -2f;
        net.Weights["norm.scale"][1] *= 1.5f;
        net.Weights["conf.bias"][0] += 1f;
        net.InvalidateWeights();
        var after = net.Forward(x);

        using var freshBackend = Backend(backendName);
        using var fresh = SsdNetwork.Load(model, ModelWeights.From(weights.ToTensors()), freshBackend);
        var expected = fresh.Forward(x);
        Assert.That(after.Loc, Is.EqualTo(expected.Loc).AsCollection, "loc after the update, bit for bit a fresh network's");
        Assert.That(after.Conf, Is.EqualTo(expected.Conf).AsCollection, "conf after the update");
        Assert.That(after.Conf, Is.Not.EqualTo(before.Conf).AsCollection, "the update changed the output");
    }
}
