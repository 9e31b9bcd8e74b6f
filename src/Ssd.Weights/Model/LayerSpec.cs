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
    public required string Name { get; init; }
    public required string[] Inputs { get; init; }
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
    public required int InChannels { get; init; }
    public required int OutChannels { get; init; }
    public required int KernelH { get; init; }
    public required int KernelW { get; init; }
    public int StrideH { get; init; } = 1;
    public int StrideW { get; init; } = 1;
    public int PadH { get; init; }
    public int PadW { get; init; }
    public int DilationH { get; init; } = 1;
    public int DilationW { get; init; } = 1;
    public int Groups { get; init; } = 1;
    public required string Weight { get; init; }
    public string? Bias { get; init; }

    public override IEnumerable<(string, int[])> TensorShapes()
    {
        yield return (Weight, [OutChannels, InChannels / Groups, KernelH, KernelW]);
        if (Bias is not null) yield return (Bias, [OutChannels]);
    }
}

/// <summary>max(x, 0) + NegativeSlope * min(x, 0).</summary>
public sealed record ReluLayer : LayerSpec
{
    public float NegativeSlope { get; init; }
}

public enum PoolMethod { Max, Average }

/// <summary>Output size rounding: Caffe always rounds up (ceil); PyTorch rounds down unless ceil_mode.</summary>
public enum PoolRounding { Ceil, Floor }

public sealed record PoolingLayer : LayerSpec
{
    public required PoolMethod Method { get; init; }
    public int KernelH { get; init; }
    public int KernelW { get; init; }
    public int StrideH { get; init; } = 1;
    public int StrideW { get; init; } = 1;
    public int PadH { get; init; }
    public int PadW { get; init; }
    public bool Global { get; init; }
    public required PoolRounding Rounding { get; init; }
}

/// <summary>Where eps enters the L2 norm: Caffe sqrt(sum x^2 + eps); ssd.pytorch sqrt(sum x^2) + eps;
/// torchvision F.normalize max(sqrt(sum x^2), eps).</summary>
public enum NormEps { InsideSqrt, OutsideSqrt, ClampMin }

/// <summary>SSD's L2 normalisation with a learned per-channel (or shared) scale, Scale [C] or [1].</summary>
public sealed record NormalizeLayer : LayerSpec
{
    public bool AcrossSpatial { get; init; }
    public bool ChannelShared { get; init; }
    public required float Eps { get; init; }
    public required NormEps EpsMode { get; init; }
    public required int Channels { get; init; }
    public required string Scale { get; init; }

    public override IEnumerable<(string, int[])> TensorShapes() { yield return (Scale, [ChannelShared ? 1 : Channels]); }
}

public sealed record PermuteLayer : LayerSpec
{
    public required int[] Order { get; init; }
}

/// <summary>Merges axes Axis..EndAxis (EndAxis -1 = last) into one.</summary>
public sealed record FlattenLayer : LayerSpec
{
    public int Axis { get; init; } = 1;
    public int EndAxis { get; init; } = -1;
}

public sealed record ConcatLayer : LayerSpec
{
    public int Axis { get; init; } = 1;
}

/// <summary>Caffe Reshape: a dim 0 copies the input dim, -1 is inferred (applied to all axes).</summary>
public sealed record ReshapeLayer : LayerSpec
{
    public required int[] Dims { get; init; }
}

public sealed record SoftmaxLayer : LayerSpec
{
    public int Axis { get; init; } = 1;
}

/// <summary>Inference batch norm (x - Mean) / sqrt(Variance + Eps); Caffe's moving-average factor is already
/// divided out at conversion. Usually followed by a Scale layer; both can be folded into the convolution.</summary>
public sealed record BatchNormLayer : LayerSpec
{
    public required int Channels { get; init; }
    public required float Eps { get; init; }
    public required string Mean { get; init; }
    public required string Variance { get; init; }

    public override IEnumerable<(string, int[])> TensorShapes() { yield return (Mean, [Channels]); yield return (Variance, [Channels]); }
}

/// <summary>
/// Caffe's Scale with a learned scale: x * Scale (+ Bias), the factors spanning input axes [Axis, Axis + NumAxes)
/// (NumAxes -1: every axis from Axis on), broadcast over the others. Channels is the number of factors; Scale and
/// Bias are stored flat. SSD models use Axis 1, NumAxes 1: one factor per channel.
/// </summary>
public sealed record ScaleLayer : LayerSpec
{
    public required int Channels { get; init; }
    public int Axis { get; init; } = 1;
    public int NumAxes { get; init; } = 1;
    public required string Scale { get; init; }
    public string? Bias { get; init; }

    public override IEnumerable<(string, int[])> TensorShapes()
    {
        yield return (Scale, [Channels]);
        if (Bias is not null) yield return (Bias, [Channels]);
    }
}

/// <summary>Caffe's EltwiseOp (PROD, SUM, MAX).</summary>
public enum EltwiseOperation { Prod, Sum, Max }

/// <summary>
/// Caffe's Eltwise over two or more inputs of one shape: the sum (with one coefficient per input, or none), the
/// product or the maximum, element by element (ResNet's shortcut sum).
/// </summary>
public sealed record EltwiseLayer : LayerSpec
{
    public EltwiseOperation Operation { get; init; } = EltwiseOperation.Sum;
    /// <summary>One per input (a weighted sum), or empty (all 1).</summary>
    public float[] Coefficients { get; init; } = [];
}
