using Ssd.Imaging;
using Ssd.Engine.Imaging;

namespace Ssd.Cli.Evaluation;

/// <summary>The one place where `ssd eval` reads an image file (Ssd.Imaging's SkiaSharp decoder, with its default pixel budget).</summary>
internal static class EvalImages
{
    public static RgbImage Load(string path) => ImageDecoder.Load(path);
}
