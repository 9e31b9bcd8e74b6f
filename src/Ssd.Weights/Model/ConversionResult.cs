using Ssd.Weights.Tensors;

namespace Ssd.Weights.Model;

/// <summary>
/// A converted model: the description, its float32 tensors by name, non-fatal findings (NaN weights...), and what
/// the source declared that the model does not use (Caffe: fields of parts Ssd does not run, unknown fields skipped
/// with <see cref="ConversionOptions.Lenient"/>), which <see cref="ModelFile.Save(string, ConversionResult)"/>
/// records in the file's "ssd.ignored" metadata.
/// </summary>
public sealed record ConversionResult(ModelDescription Description, IReadOnlyDictionary<string, TensorData> Tensors, IReadOnlyList<string> Warnings,
    IReadOnlyList<string>? Ignored = null);

/// <summary>User choices that a checkpoint cannot tell (or that override what it says).</summary>
public sealed record ConversionOptions
{
    /// <summary>One name per class index including the background (null: the checkpoint's or the flavour's default).</summary>
    public string[]? ClassNames { get; init; }
    /// <summary>The per-channel mean in the network's channel order (null: the flavour's default).</summary>
    public float[]? Mean { get; init; }
    /// <summary>The per-channel standard deviation (null: the flavour's default, 1 for Caffe).</summary>
    public float[]? Std { get; init; }
    /// <summary>Multiplies (pixel - mean) before the division by Std: OpenCV blobFromImage's scale factor.</summary>
    public float? Scale { get; init; }
    /// <summary>The pixel range (null: the flavour's default).</summary>
    public PixelRange? PixelRange { get; init; }
    /// <summary>The channel order (null: the flavour's default, BGR for Caffe, RGB for torch).</summary>
    public ChannelOrder? ChannelOrder { get; init; }
    /// <summary>The network input size in pixels (null: the checkpoint's, or 300 x 300).</summary>
    public (int Width, int Height)? InputSize { get; init; }
    /// <summary>Caffe: unknown fields in a deploy file's layer parameters are warnings (and "ssd.ignored" entries), not errors.</summary>
    public bool Lenient { get; init; }
    /// <summary>Resource budgets of the readers (default: <see cref="ReaderBudgets.Default"/>).</summary>
    public ReaderBudgets? Budgets { get; init; }
}

internal static class TensorChecks
{
    /// <summary>The tensor as float32 under a new name and shape (same element count), warning on NaN/Inf.
    /// Float32 data is shared, not copied.</summary>
    public static TensorData AsFloat32(TensorData t, string name, int[] shape, List<string> warnings)
    {
        var bytes = t.DType == TensorDType.Float32 ? t.Bytes : t.ToFloat32Bytes();
        var result = new TensorData(name, shape, TensorDType.Float32, bytes);
        long bad = result.CountNonFinite();
        if (bad > 0) warnings.Add($"tensor '{name}' (from '{t.Name}') has {bad} NaN/Inf values");
        return result;
    }

    public static string Shape(int[] s) => "[" + string.Join(",", s) + "]";
}
