using Ssd.Data;
using Ssd.Engine.Imaging;
using Ssd.Imaging;

namespace Ssd.Cli;

/// <summary>The one place where `ssd eval` and `ssd train` get a data set image's pixels: drawn by the set when it is
/// held in memory (<see cref="DataSetImage.Render"/>, e.g. shapes:SEED:COUNT), else decoded from its file by
/// Ssd.Imaging's SkiaSharp decoder with its default pixel budget.</summary>
internal static class DataSetImages
{
    public static RgbImage Load(DataSetImage image) =>
        image.Render is { } render ? new RgbImage(image.Width!.Value, image.Height!.Value, render()) : ImageDecoder.Load(image.FilePath);

    /// <summary>Whether the image can be had: drawn in memory, or its file exists.</summary>
    public static bool Exists(DataSetImage image) => image.Render is not null || File.Exists(image.FilePath);
}
