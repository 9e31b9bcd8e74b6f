using System.Text.Json.Serialization;

namespace Ssd.Weights.Model;

/// <summary>One layer of the canonical graph: reads the blobs named Inputs, writes the blobs named Outputs.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(ConvolutionLayer), "Convolution")]
[JsonDerivedType(typeof(ReluLayer), "ReLU")]
[JsonDerivedType(typeof(PoolingLayer), "Pooling")]
[JsonDerivedType(typeof(NormalizeLayer), "Normalize")]
[JsonDerivedType(typeof(PermuteLayer), "Permute")]
[JsonDerivedType(typeof(FlattenLayer), "Flatten")]
[JsonDerivedType(typeof(ConcatLayer), "Concat")]
[JsonDerivedType(typeof(ReshapeLayer), "Reshape")]
[JsonDerivedType(typeof(SoftmaxLayer), "Softmax")]
[JsonDerivedType(typeof(BatchNormLayer), "BatchNorm")]
[JsonDerivedType(typeof(ScaleLayer), "Scale")]
[JsonDerivedType(typeof(EltwiseLayer), "Eltwise")]
public abstract record LayerSpec
{
    /// <summary>The layer's unique name (from the checkpoint).</summary>
    public required string Name { get; init; }
    /// <summary>The names of the blobs it reads, in order.</summary>
    public required string[] Inputs { get; init; }
    /// <summary>The names of the blobs it writes (an in-place layer writes its input's name).</summary>
    public required string[] Outputs { get; init; }

    /// <summary>The layer type as written in JSON ("Convolution", "ReLU", ...), from the JsonDerivedType list.</summary>
    [JsonIgnore]
    public string Type => ((JsonDerivedTypeAttribute[])typeof(LayerSpec).GetCustomAttributes(typeof(JsonDerivedTypeAttribute), false))
        .First(a => a.DerivedType == GetType()).TypeDiscriminator as string ?? GetType().Name;

    /// <summary>The tensor names this layer reads, with the shape each must have.</summary>
    public virtual IEnumerable<(string Tensor, int[] Shape)> TensorShapes() => [];
}

/// <summary>2-D convolution; Weight is [Out, In/Groups, KernelH, KernelW], Bias [Out] or absent.</summary>
public sealed record ConvolutionLayer : LayerSpec
{
    /// <summary>The input channels.</summary>
    public required int InChannels { get; init; }
    /// <summary>The output channels (filters).</summary>
    public required int OutChannels { get; init; }
    /// <summary>The kernel height.</summary>
    public required int KernelH { get; init; }
    /// <summary>The kernel width.</summary>
    public required int KernelW { get; init; }
    /// <summary>The vertical stride.</summary>
    public int StrideH { get; init; } = 1;
    /// <summary>The horizontal stride.</summary>
    public int StrideW { get; init; } = 1;
    /// <summary>Zero rows added above and below.</summary>
    public int PadH { get; init; }
    /// <summary>Zero columns added left and right.</summary>
    public int PadW { get; init; }
    /// <summary>The vertical dilation (fc6: 6).</summary>
    public int DilationH { get; init; } = 1;
    /// <summary>The horizontal dilation.</summary>
    public int DilationW { get; init; } = 1;
    /// <summary>Channel groups (1: dense; InChannels: depthwise).</summary>
    public int Groups { get; init; } = 1;
    /// <summary>The name of the weight tensor in the model file.</summary>
    public required string Weight { get; init; }
    /// <summary>The name of the bias tensor, or null when the convolution has none.</summary>
    public string? Bias { get; init; }

    /// <inheritdoc/>
    public override IEnumerable<(string, int[])> TensorShapes()
    {
        yield return (Weight, [OutChannels, InChannels / Groups, KernelH, KernelW]);
        if (Bias is not null) yield return (Bias, [OutChannels]);
    }
}

/// <summary>max(x, 0) + NegativeSlope * min(x, 0).</summary>
public sealed record ReluLayer : LayerSpec
{
    /// <summary>The slope for negative inputs (0: plain ReLU).</summary>
    public float NegativeSlope { get; init; }
}

/// <summary>What a pooling window computes.</summary>
public enum PoolMethod
{
    /// <summary>The largest value in the window.</summary>
    Max,
    /// <summary>The mean of the window (the divisor follows the flavour: Caffe counts padding inside the input).</summary>
    Average,
}

/// <summary>Output size rounding: Caffe always rounds up (ceil); PyTorch rounds down unless ceil_mode.</summary>
public enum PoolRounding
{
    /// <summary>Rounded up (Caffe, torch's ceil_mode=True).</summary>
    Ceil,
    /// <summary>Rounded down (torch's default).</summary>
    Floor,
}

/// <summary>Max or average pooling over a KernelH x KernelW window, or over the whole map when <see cref="Global"/>.</summary>
public sealed record PoolingLayer : LayerSpec
{
    /// <summary>Max or average.</summary>
    public required PoolMethod Method { get; init; }
    /// <summary>The window height (ignored when <see cref="Global"/>).</summary>
    public int KernelH { get; init; }
    /// <summary>The window width (ignored when <see cref="Global"/>).</summary>
    public int KernelW { get; init; }
    /// <summary>The vertical stride.</summary>
    public int StrideH { get; init; } = 1;
    /// <summary>The horizontal stride.</summary>
    public int StrideW { get; init; } = 1;
    /// <summary>Rows of padding above and below (never selected by max pooling).</summary>
    public int PadH { get; init; }
    /// <summary>Columns of padding left and right.</summary>
    public int PadW { get; init; }
    /// <summary>Whether the window is the whole feature map (global pooling).</summary>
    public bool Global { get; init; }
    /// <summary>How the output size is rounded.</summary>
    public required PoolRounding Rounding { get; init; }
}

/// <summary>Where eps enters the L2 norm: Caffe sqrt(sum x^2 + eps); ssd.pytorch sqrt(sum x^2) + eps;
/// torchvision F.normalize max(sqrt(sum x^2), eps).</summary>
public enum NormEps
{
    /// <summary>Caffe Normalize: x / sqrt(sum x^2 + eps).</summary>
    InsideSqrt,
    /// <summary>ssd.pytorch L2Norm: x / (sqrt(sum x^2) + eps).</summary>
    OutsideSqrt,
    /// <summary>torchvision F.normalize: x / max(sqrt(sum x^2), eps).</summary>
    ClampMin,
}

/// <summary>SSD's L2 normalisation with a learned per-channel (or shared) scale, Scale [C] or [1].</summary>
public sealed record NormalizeLayer : LayerSpec
{
    /// <summary>Whether one norm spans the whole map (Caffe across_spatial); SSD: false, one norm per position.</summary>
    public bool AcrossSpatial { get; init; }
    /// <summary>Whether one scale serves every channel.</summary>
    public bool ChannelShared { get; init; }
    /// <summary>The epsilon, placed as <see cref="EpsMode"/> says (Caffe 1e-10, ssd.pytorch 1e-10, torchvision 1e-12).</summary>
    public required float Eps { get; init; }
    /// <summary>Where the epsilon enters the norm.</summary>
    public required NormEps EpsMode { get; init; }
    /// <summary>The channels normalised.</summary>
    public required int Channels { get; init; }
    /// <summary>The name of the learned scale tensor ([Channels], or [1] when shared; initialised to 20 in SSD).</summary>
    public required string Scale { get; init; }

    /// <inheritdoc/>
    public override IEnumerable<(string, int[])> TensorShapes() { yield return (Scale, [ChannelShared ? 1 : Channels]); }
}

/// <summary>Reorders the axes: output axis i is input axis Order[i] (the heads' NCHW to NHWC).</summary>
public sealed record PermuteLayer : LayerSpec
{
    /// <summary>The input axis each output axis takes, a permutation of 0..rank-1.</summary>
    public required int[] Order { get; init; }
}

/// <summary>Merges axes Axis..EndAxis (EndAxis -1 = last) into one.</summary>
public sealed record FlattenLayer : LayerSpec
{
    /// <summary>The first axis merged.</summary>
    public int Axis { get; init; } = 1;
    /// <summary>The last axis merged (-1: the last axis).</summary>
    public int EndAxis { get; init; } = -1;
}

/// <summary>Joins its inputs along <see cref="Axis"/>; the other dimensions must agree.</summary>
public sealed record ConcatLayer : LayerSpec
{
    /// <summary>The axis the inputs are joined along (1: channels).</summary>
    public int Axis { get; init; } = 1;
}

/// <summary>Caffe Reshape: a dim 0 copies the input dim, -1 is inferred (applied to all axes).</summary>
public sealed record ReshapeLayer : LayerSpec
{
    /// <summary>The output dimensions: 0 copies the input's, -1 is inferred (at most one).</summary>
    public required int[] Dims { get; init; }
}

/// <summary>The softmax over <see cref="Axis"/> (the class scores of each prior).</summary>
public sealed record SoftmaxLayer : LayerSpec
{
    /// <summary>The axis the softmax runs over.</summary>
    public int Axis { get; init; } = 1;
}

/// <summary>Inference batch norm (x - Mean) / sqrt(Variance + Eps); Caffe's moving-average factor is already
/// divided out at conversion. Usually followed by a Scale layer; both can be folded into the convolution.</summary>
public sealed record BatchNormLayer : LayerSpec
{
    /// <summary>The channels normalised.</summary>
    public required int Channels { get; init; }
    /// <summary>The epsilon added to the variance.</summary>
    public required float Eps { get; init; }
    /// <summary>The name of the running-mean tensor, [Channels].</summary>
    public required string Mean { get; init; }
    /// <summary>The name of the running-variance tensor, [Channels].</summary>
    public required string Variance { get; init; }

    /// <inheritdoc/>
    public override IEnumerable<(string, int[])> TensorShapes() { yield return (Mean, [Channels]); yield return (Variance, [Channels]); }
}

/// <summary>
/// Caffe's Scale with a learned scale: x * Scale (+ Bias), the factors spanning input axes [Axis, Axis + NumAxes)
/// (NumAxes -1: every axis from Axis on), broadcast over the others. Channels is the number of factors; Scale and
/// Bias are stored flat. SSD models use Axis 1, NumAxes 1: one factor per channel.
/// </summary>
public sealed record ScaleLayer : LayerSpec
{
    /// <summary>The number of factors (channels when Axis 1, NumAxes 1).</summary>
    public required int Channels { get; init; }
    /// <summary>The first input axis the factors span.</summary>
    public int Axis { get; init; } = 1;
    /// <summary>How many axes the factors span (-1: every axis from Axis on).</summary>
    public int NumAxes { get; init; } = 1;
    /// <summary>The name of the scale tensor, flat [Channels].</summary>
    public required string Scale { get; init; }
    /// <summary>The name of the bias tensor, flat [Channels], or null when there is none.</summary>
    public string? Bias { get; init; }

    /// <inheritdoc/>
    public override IEnumerable<(string, int[])> TensorShapes()
    {
        yield return (Scale, [Channels]);
        if (Bias is not null) yield return (Bias, [Channels]);
    }
}

/// <summary>Caffe's EltwiseOp (PROD, SUM, MAX).</summary>
public enum EltwiseOperation
{
    /// <summary>The element-wise product of the inputs.</summary>
    Prod,
    /// <summary>The element-wise sum, each input times its coefficient.</summary>
    Sum,
    /// <summary>The element-wise maximum.</summary>
    Max,
}

/// <summary>
/// Caffe's Eltwise over two or more inputs of one shape: the sum (with one coefficient per input, or none), the
/// product or the maximum, element by element (ResNet's shortcut sum).
/// </summary>
public sealed record EltwiseLayer : LayerSpec
{
    /// <summary>The operation applied element by element.</summary>
    public EltwiseOperation Operation { get; init; } = EltwiseOperation.Sum;
    /// <summary>One per input (a weighted sum), or empty (all 1).</summary>
    public float[] Coefficients { get; init; } = [];
}
