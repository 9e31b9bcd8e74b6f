using Ssd.Kernels.BatchNorm;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Eltwise;
using Ssd.Kernels.Core;
using Ssd.Kernels.L2Norm;
using Ssd.Kernels.Pooling;
using Ssd.Weights.Model;

namespace Ssd.Engine.Graph;

/// <summary>One executable step: a layer (or a conv with folded BatchNorm/Scale and fused ReLU) reading Inputs and
/// writing Output. Flatten and Reshape are not steps: their outputs are views of their inputs.</summary>
public abstract record PlanStep(string Layer, PlanValue[] Inputs, PlanValue Output);

/// <summary>y = conv(x, Weight) + Bias (then ReLU when Params.FuseRelu); Weight and Bias already hold any folded
/// BatchNorm and Scale. FusedLayers names the layers merged into this step.</summary>
public sealed record ConvStep(string Layer, PlanValue Input, PlanValue Output, Conv2dParams Params, int OutChannels,
    float[] Weight, float[]? Bias, string[] FusedLayers) : PlanStep(Layer, [Input], Output)
{
    /// <summary>The input's NCHW shape.</summary>
    public TensorShape InShape => Input.Nchw;

    /// <summary>The weights as the executors read them.</summary>
    public ConvWeights Weights() => new(Weight, Bias);
}

/// <summary>max(x, 0); Output may share the input's storage (in-place).</summary>
public sealed record ReluStep(string Layer, PlanValue Input, PlanValue Output) : PlanStep(Layer, [Input], Output);

/// <summary>Max or average pooling over windows of <paramref name="Geometry"/>.</summary>
/// <param name="Layer">The layer's name.</param>
/// <param name="Input">The pooled value.</param>
/// <param name="Output">The result.</param>
/// <param name="Geometry">Kernel, stride, padding and rounding.</param>
/// <param name="Method">Max or average.</param>
public sealed record PoolStep(string Layer, PlanValue Input, PlanValue Output, PoolGeometry Geometry, PoolMethod Method)
    : PlanStep(Layer, [Input], Output);

/// <summary>SSD's L2 normalisation over channels with a learned scale.</summary>
public sealed record NormalizeStep(string Layer, PlanValue Input, PlanValue Output, float[] Scale, L2NormEpsilon Mode, float Eps)
    : PlanStep(Layer, [Input], Output)
{
    /// <summary>The scale as the executors read it.</summary>
    public float[] ScaleValues() => Scale;
}

/// <summary>The input's axes reordered (SSD's heads: NCHW to NHWC before flattening).</summary>
/// <param name="Layer">The layer's name.</param>
/// <param name="Input">The permuted value.</param>
/// <param name="Output">The result.</param>
/// <param name="Order">Output axis i is input axis Order[i].</param>
public sealed record PermuteStep(string Layer, PlanValue Input, PlanValue Output, int[] Order) : PlanStep(Layer, [Input], Output);

/// <summary>Concatenation along one axis: Rows = product of the dims before the axis; each input contributes a
/// contiguous run of (its count / Rows) floats to every output row.</summary>
public sealed record ConcatStep(string Layer, PlanValue[] Sources, PlanValue Output, int Axis, int Rows) : PlanStep(Layer, Sources, Output);

/// <summary>Softmax over Classes, the tensor viewed as [Outer, Classes, Inner].</summary>
public sealed record SoftmaxStep(string Layer, PlanValue Input, PlanValue Output, int Outer, int Classes, int Inner)
    : PlanStep(Layer, [Input], Output);

/// <summary>
/// Caffe Eltwise over Sources (two or more values of one shape): sum (with Coefficients, one per source, or none),
/// product or max. Output may share the first source's storage (in place).
/// </summary>
public sealed record EltwiseStep(string Layer, PlanValue[] Sources, PlanValue Output, EltwiseMode Mode, float[] Coefficients)
    : PlanStep(Layer, Sources, Output);

/// <summary>
/// BatchNorm, Scale and ReLU on one channel axis (the tensor seen as Geometry), kept as an op because no
/// convolution could absorb them: after an Eltwise, on the network input, or on a value something else also reads.
/// FusedLayers names the layers merged into it. Output may share the input's storage (in place).
/// </summary>
public sealed record AffineStep(string Layer, PlanValue Input, PlanValue Output, ChannelGeometry Geometry, ChannelAffine Affine,
    string[] FusedLayers) : PlanStep(Layer, [Input], Output)
{
    /// <summary>The stages as the executors read them.</summary>
    public ChannelAffine AffineValues() => Affine;
}
