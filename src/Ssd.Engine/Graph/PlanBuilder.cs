using Ssd.Kernels.BatchNorm;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Eltwise;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Pooling;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Engine.Graph;

/// <summary>
/// Turns a <see cref="ModelDescription"/> into an <see cref="ExecutionPlan"/> for one input size and batch:
/// infers every blob's shape (NCHW; Flatten/Reshape/Permute/Concat/Softmax as Caffe defines them), resolves
/// in-place layers by the layer order, folds BatchNorm and Scale into the convolution before them (or, where no
/// convolution can absorb them, runs them as one affine step with a following ReLU), fuses a ReLU into the
/// convolution when nothing else reads the pre-activation value, and turns Flatten/Reshape into views.
/// In training mode it folds nothing but the ReLU (whose mask the convolution's backward keeps), runs nothing in place,
/// and adds the backward schedule.
/// Impossible shapes give InvalidDataException naming the layer.
/// </summary>
public static class PlanBuilder
{
    /// <summary>Converts the tensors to float32 for this plan alone; callers that build several plans pass one
    /// <see cref="ModelWeights"/> to the overload below instead.</summary>
    public static ExecutionPlan Build(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors,
        int width, int height, int batch = 1, IEnumerable<string>? keep = null, PlanMode mode = PlanMode.Inference) =>
        Build(model, ModelWeights.From(tensors), width, height, batch, keep, mode);

    /// <summary>
    /// The plan for one input size and batch. Weights are read from <paramref name="weights"/>: unfolded steps hold
    /// its arrays themselves, folded convolutions arrays computed from them. <paramref name="mode"/> Training keeps
    /// what backward needs: BatchNorm and Scale are not folded, no layer runs in place, and the plan has its backward
    /// schedule (<see cref="ExecutionPlan.Backward"/>).
    /// </summary>
    public static ExecutionPlan Build(ModelDescription model, ModelWeights weights,
        int width, int height, int batch = 1, IEnumerable<string>? keep = null, PlanMode mode = PlanMode.Inference)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"input size {width}x{height} must be positive");
        if (batch <= 0) throw new ArgumentException($"batch {batch} must be positive");
        model.Validate(weights.Names);
        bool inference = mode == PlanMode.Inference;

        // 1. Bind names to values in layer order and infer shapes.
        var values = new List<PlanValue>();
        PlanValue NewValue(string name, int[] shape) { var v = new PlanValue(values.Count, name, shape); values.Add(v); return v; }
        var input = NewValue(model.Input.Blob, [batch, model.Input.Channels, height, width]);
        var bound = new Dictionary<string, PlanValue> { [input.Name] = input };
        var nodes = new List<(LayerSpec Layer, PlanValue[] In, PlanValue Out)>();
        foreach (var layer in model.Layers)
        {
            if (layer.Outputs.Length != 1)
                throw Error(layer, $"has {layer.Outputs.Length} outputs; the engine supports layers with one output");
            var ins = layer.Inputs.Select(n => bound.TryGetValue(n, out var v) ? v : throw Error(layer, $"reads blob '{n}' before any layer writes it")).ToArray();
            int[] shape;
            try { shape = ShapeInference.Output(layer, ins.Select(v => v.Shape).ToArray(), model.Flavor); }
            catch (ArgumentException e) { throw Error(layer, e.Message); }
            var output = NewValue(layer.Outputs[0], shape);
            bound[output.Name] = output;
            nodes.Add((layer, ins, output));
        }

        var loc = Final(bound, model.Outputs.Loc, "the loc output");
        var conf = Final(bound, model.Outputs.Conf, "the conf output");
        var pinned = new HashSet<PlanValue> { loc, conf };
        foreach (var name in keep ?? []) pinned.Add(Final(bound, name, "a captured blob"));
        foreach (var spec in model.Priors.Maps) Final(bound, spec.Source, $"prior source");

        var readers = new Dictionary<PlanValue, int>();
        foreach (var (_, ins, _) in nodes) foreach (var v in ins) readers[v] = readers.GetValueOrDefault(v) + 1;
        bool OnlyReader(PlanValue v) => readers.GetValueOrDefault(v) == 1 && !pinned.Contains(v) && v != input;
        // Whether the layer at node `at` may write over x's storage: it is x's only reader, the storage holds neither
        // the input nor a kept value, and no later layer reads a value (existing now) that shares it. Unlike
        // OnlyReader, x may itself live in another value's storage (an Eltwise run in place over its first input).
        // Never in training, where backward reads the values.
        bool Overwritable(PlanValue x, int at, PlanValue output) =>
            inference && readers.GetValueOrDefault(x) == 1 && x.Root != input.Root && !pinned.Any(v => v.Root == x.Root)
            && !nodes.Skip(at + 1).Any(n => n.In.Any(v => v.Id < output.Id && v.Root == x.Root));

        // 2. Lower layers to steps, folding and fusing into the convolution that produced the value.
        var steps = new List<PlanStep>();
        var convOf = new Dictionary<PlanValue, int>(); // value -> index in steps of the ConvStep that writes it
        var affineOf = new Dictionary<PlanValue, int>(); // value -> index in steps of the AffineStep that writes it
        float[] F(string name) => weights[name];
        for (int node = 0; node < nodes.Count; node++)
        {
            var (layer, ins, output) = nodes[node];
            var x = ins[0];
            switch (layer)
            {
                case ConvolutionLayer c:
                {
                    var p = new Conv2dParams(c.KernelH, c.KernelW, c.StrideH, c.StrideW, c.PadH, c.PadW, c.DilationH, c.DilationW, c.Groups,
                        HasBias: c.Bias is not null);
                    convOf[output] = steps.Count;
                    steps.Add(new ConvStep(c.Name, x, output, p, c.OutChannels, F(c.Weight), c.Bias is null ? null : F(c.Bias), [c.Name]));
                    break;
                }
                case BatchNormLayer or ScaleLayer:
                {
                    if (!inference)
                        throw Error(layer, "training keeps BatchNorm and Scale as their own ops (batch statistics, learned parameters), which the engine does not run yet");
                    var g = layer is ScaleLayer sc ? ShapeInference.ScaleGeometry(sc, x.Shape) : ShapeInference.BatchNormGeometry(x.Shape);
                    bool perChannel = x.Shape.Length == 4 && g == ShapeInference.BatchNormGeometry(x.Shape);
                    if (perChannel && convOf.TryGetValue(x, out int at) && OnlyReader(x) && !((ConvStep)steps[at]).Params.FuseRelu)
                    {
                        var conv = (ConvStep)steps[at];
                        steps[at] = layer is BatchNormLayer bn
                            ? ConvFolding.FoldBatchNorm(conv, F(bn.Mean), F(bn.Variance), bn.Eps, output, bn.Name)
                            : ConvFolding.FoldScale(conv, F(((ScaleLayer)layer).Scale), ((ScaleLayer)layer).Bias is { } b ? F(b) : null, output, layer.Name);
                        convOf[output] = at;
                        break;
                    }
                    // Kept as an op: a Scale joins the BatchNorm just before it (same axis), anything else starts a step.
                    if (layer is ScaleLayer s && affineOf.TryGetValue(x, out int a) && OnlyReader(x)
                        && steps[a] is AffineStep { Affine: { Scale: null, Relu: false } } prior && prior.Geometry == g)
                    {
                        steps[a] = Extend(prior, output, prior.Affine with { Scale = F(s.Scale), Bias = s.Bias is { } b ? F(b) : null }, s.Name);
                        affineOf[output] = a;
                        break;
                    }
                    var affine = layer is BatchNormLayer n
                        ? new ChannelAffine { Mean = F(n.Mean), Variance = F(n.Variance), Eps = n.Eps }
                        : new ChannelAffine { Scale = F(((ScaleLayer)layer).Scale), Bias = ((ScaleLayer)layer).Bias is { } sb ? F(sb) : null };
                    if (Overwritable(x, node, output)) output.AliasOf = x;
                    affineOf[output] = steps.Count;
                    steps.Add(new AffineStep(layer.Name, x, output, g, affine, [layer.Name]));
                    break;
                }
                case ReluLayer r:
                {
                    if (r.NegativeSlope != 0f) throw Error(layer, $"has negative_slope {r.NegativeSlope}; only plain ReLU is supported");
                    if (convOf.TryGetValue(x, out int at) && OnlyReader(x) && !((ConvStep)steps[at]).Params.FuseRelu)
                    {
                        var conv = (ConvStep)steps[at];
                        steps[at] = conv with { Output = output, Params = conv.Params with { FuseRelu = true }, FusedLayers = [.. conv.FusedLayers, r.Name] };
                        convOf[output] = at;
                        break;
                    }
                    if (affineOf.TryGetValue(x, out int a) && OnlyReader(x) && steps[a] is AffineStep { Affine.Relu: false } prior)
                    {
                        steps[a] = Extend(prior, output, prior.Affine with { Relu = true }, r.Name);
                        affineOf[output] = a;
                        break;
                    }
                    // In place when this ReLU is the last use of a value that owns its storage.
                    if (inference && OnlyReader(x) && x.AliasOf is null) output.AliasOf = x;
                    steps.Add(new ReluStep(r.Name, x, output));
                    break;
                }
                case FlattenLayer or ReshapeLayer:
                    output.AliasOf = x;
                    break;
                case PoolingLayer p:
                    steps.Add(new PoolStep(p.Name, x, output, ShapeInference.Pool(p, x.Nchw, model.Flavor), p.Method));
                    break;
                case NormalizeLayer n:
                    steps.Add(new NormalizeStep(n.Name, x, output, F(n.Scale), n.EpsMode switch
                    {
                        NormEps.InsideSqrt => L2NormEpsilon.InsideSqrt,
                        NormEps.OutsideSqrt => L2NormEpsilon.AfterSqrt,
                        _ => L2NormEpsilon.ClampMin,
                    }, n.Eps));
                    break;
                case PermuteLayer p:
                    steps.Add(new PermuteStep(p.Name, x, output, p.Order));
                    break;
                case ConcatLayer c:
                {
                    int axis = ShapeInference.Axis(c.Axis, output.Shape.Length);
                    steps.Add(new ConcatStep(c.Name, ins, output, axis, checked((int)output.Shape[..axis].Aggregate(1L, (a, d) => a * d))));
                    break;
                }
                case EltwiseLayer e:
                {
                    var operation = e.Operation switch
                    {
                        EltwiseOperation.Sum => EltwiseMode.Sum,
                        EltwiseOperation.Prod => EltwiseMode.Product,
                        _ => EltwiseMode.Max,
                    };
                    // In place over the first input when this is its last use and no later input shares its storage.
                    if (Overwritable(x, node, output) && ins.Skip(1).All(v => v.Root != x.Root)) output.AliasOf = x;
                    steps.Add(new EltwiseStep(e.Name, ins, output, operation, e.Coefficients));
                    break;
                }
                case SoftmaxLayer s:
                {
                    int axis = ShapeInference.Axis(s.Axis, x.Shape.Length);
                    int outer = (int)x.Shape[..axis].Aggregate(1L, (a, d) => a * d), inner = (int)x.Shape[(axis + 1)..].Aggregate(1L, (a, d) => a * d);
                    steps.Add(new SoftmaxStep(s.Name, x, output, outer, x.Shape[axis], inner));
                    break;
                }
                default:
                    throw Error(layer, "is not supported by the engine");
            }
        }

        var plan = new ExecutionPlan
        {
            Values = values, Steps = steps, Input = input, Loc = loc, Conf = conf, Blobs = bound, Pinned = pinned, Batch = batch, Mode = mode,
        };
        return inference ? plan : plan with { Backward = BackwardPlan.Build(plan) };
    }

    /// <summary>An affine step with one more layer merged in, now writing <paramref name="output"/> (in place when the step was).</summary>
    private static AffineStep Extend(AffineStep step, PlanValue output, ChannelAffine affine, string layer)
    {
        if (step.Output.AliasOf is { } storage) output.AliasOf = storage;
        return step with { Output = output, Affine = affine, FusedLayers = [.. step.FusedLayers, layer] };
    }

    private static PlanValue Final(Dictionary<string, PlanValue> bound, string name, string what) =>
        bound.TryGetValue(name, out var v) ? v : throw new InvalidDataException($"{what} names blob '{name}', which no layer writes");

    private static InvalidDataException Error(LayerSpec layer, string message) => new($"layer '{layer.Name}' ({layer.Type}): {message}");
}
