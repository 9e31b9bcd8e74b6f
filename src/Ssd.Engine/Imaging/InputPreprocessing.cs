using Ssd.Kernels.Preprocess;
using Ssd.Weights.Model;

namespace Ssd.Engine.Imaging;

/// <summary>Maps a model's <see cref="InputSpec"/> to the pre-processing kernels' settings.</summary>
public static class InputPreprocessing
{
    /// <summary>The settings that resize, reorder and normalise an image into the network input <paramref name="spec"/> describes.</summary>
    public static PreprocessSettings FromSpec(InputSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Channels != 3) throw new ArgumentException($"input '{spec.Blob}': {spec.Channels} channels; pre-processing supports 3 (RGB/BGR)");
        var settings = new PreprocessSettings
        {
            Width = spec.Width,
            Height = spec.Height,
            Resize = spec.Resize == ResizeMethod.OpenCvLinear ? ResizeKind.OpenCvLinear : ResizeKind.TorchBilinear,
            Bgr = spec.ChannelOrder == ChannelOrder.Bgr,
            UnitRange = spec.PixelRange == PixelRange.Unit,
            Mean = spec.Mean,
            Std = spec.Std,
            Scale = spec.Scale,
        };
        settings.Validate();
        return settings;
    }
}
