using System.Numerics;
using Ssd.Engine.Training.Data.Augment;
using Ssd.Engine.Training.Input;

namespace Ssd.Tests.Training.Data;

/// <summary>
/// A black 96x72 image with six solid rectangles in a 3x2 grid (integer corners, label g + 1 for rectangle g, each its
/// own colour, none black or a zoom-out fill), and the check that each object's box is exactly the bounding box of its
/// colour's pixels: the geometric steps only move pixels, so a box that follows its pixels passes.
/// </summary>
internal static class AugmentScene
{
    public const int W = 96, H = 72;

    public static (int R, int G, int B) Colour(int g) => (250 - 20 * g, 10 + 20 * g, 200);

    public static (RgbPixels<T> Image, LabelledBoxes Objects) Make<T>() where T : unmanaged, INumber<T>
    {
        var px = new T[3 * W * H];
        var corners = new List<double>();
        var labels = new List<int>();
        for (int g = 0; g < 6; g++)
        {
            int x1 = 3 + 31 * (g % 3) + g, y1 = 5 + 36 * (g / 3), x2 = x1 + 12 + 2 * g, y2 = y1 + 10 + 3 * g;
            Assert.That(x2 <= W && y2 <= H, "the scene's rectangles lie inside the image");
            var (r, gg, b) = Colour(g);
            for (int y = y1; y < y2; y++)
                for (int x = x1; x < x2; x++)
                {
                    int i = 3 * (y * W + x);
                    (px[i], px[i + 1], px[i + 2]) = (T.CreateChecked(r), T.CreateChecked(gg), T.CreateChecked(b));
                }
            corners.AddRange([x1, y1, x2, y2]);
            labels.Add(g + 1);
        }
        return (new RgbPixels<T>(W, H, px), new LabelledBoxes([.. corners], [.. labels]));
    }

    public static void AssertBoxesFollowPixels<T>(RgbPixels<T> image, LabelledBoxes objects, string at) where T : unmanaged, INumber<T>
    {
        for (int k = 0; k < objects.Count; k++)
        {
            var (r, g, b) = Colour(objects.Labels[k] - 1);
            T tr = T.CreateChecked(r), tg = T.CreateChecked(g), tb = T.CreateChecked(b);
            int x1 = int.MaxValue, y1 = int.MaxValue, x2 = -1, y2 = -1;
            for (int y = 0; y < image.Height; y++)
                for (int x = 0; x < image.Width; x++)
                {
                    int i = 3 * (y * image.Width + x);
                    if (image.Pixels[i] != tr || image.Pixels[i + 1] != tg || image.Pixels[i + 2] != tb) continue;
                    x1 = Math.Min(x1, x); y1 = Math.Min(y1, y); x2 = Math.Max(x2, x + 1); y2 = Math.Max(y2, y + 1);
                }
            Assert.That(objects.Corners.AsSpan(4 * k, 4).ToArray(), Is.EqualTo(new double[] { x1, y1, x2, y2 }),
                $"{at}: object {objects.Labels[k]} box against its pixels");
        }
    }
}
