using Ssd.Cli.Imaging;
using Ssd.Engine.Imaging;

namespace Ssd.Cli.Evaluation;

/// <summary>The one place where `ssd eval` reads an image file (the CLI's decoder; swap it here for another).</summary>
internal static class EvalImages
{
    public static RgbImage Load(string path) => ImageDecoder.Load(path);
}
