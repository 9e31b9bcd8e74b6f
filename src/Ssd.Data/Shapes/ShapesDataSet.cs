namespace Ssd.Data.Shapes;

/// <summary>One drawn shape: its class (an index of <see cref="ShapesDataSet.ClassNames"/>) and its tight box in
/// pixels from 0 (x1, y1, x2, y2; pixel x covers [x, x + 1)).</summary>
public sealed record ShapeObject(int ClassIndex, PixelBox Box);

/// <summary>One image of the shapes data set: Size x Size RGB bytes (row-major, 3 a pixel) and its shapes in drawing order.</summary>
public sealed record ShapesImage(int Seed, int Index, int Size, byte[] Rgb, IReadOnlyList<ShapeObject> Objects);

/// <summary>
/// The synthetic "shapes" detection data set of the bundled example (the C# port of tools/example/shapes_dataset.py;
/// the same distribution, not the same pixels). Every image is a pure function of (seed, index). 300 x 300 RGB: a
/// two-colour gradient at a random angle, pixel noise, 0-8 thin lines and 0-12 small blobs (at most 16 px, never
/// object-sized); then 1-4 filled circles, squares (rotated up to 30 degrees), triangles and five-pointed stars of
/// 30-150 px, each in a colour that contrasts with the background under it; a later shape may cover at most 30 % of
/// the smaller of its box and an earlier one's. Boxes are the tight boxes of the drawn shapes (clipped to the image).
/// Drawn by a small managed rasteriser (4 x 4 samples a pixel): no image library.
/// </summary>
public static class ShapesDataSet
{
    /// <summary>The classes, in label order (label = index + 1; 0 is the background).</summary>
    public static IReadOnlyList<string> ClassNames { get; } = ["circle", "square", "triangle", "star"];

    /// <summary>The side of every image.</summary>
    public const int ImageSize = 300;

    /// <summary>The smallest and the largest shape (the longer side of its box, before clipping).</summary>
    public const int MinObject = 30, MaxObject = 150;

    /// <summary>The seeds of the example: training streams seed 1, evaluation uses 1000, the sample images 2000.</summary>
    public const int TrainSeed = 1, EvalSeed = 1000, SampleSeed = 2000;

    /// <summary>The most images one set may hold (an in-memory set keeps only its boxes; images are drawn on demand).</summary>
    public const int MaxCount = 10_000_000;

    /// <summary>
    /// Image <paramref name="index"/> of the set <paramref name="seed"/>. With <paramref name="only"/> = k, the same
    /// draws, but the image returned holds only shape k, in white on black: the pixels of that shape alone.
    /// </summary>
    public static ShapesImage Make(int seed, int index, int? only = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        const int size = ImageSize;
        var rng = new ShapesRandom(seed, index);
        var rgb = new byte[3 * size * size];
        var canvas = new Raster(size, size, rgb);
        Background(rng, canvas);
        var alone = only is null ? null : new Raster(size, size, new byte[rgb.Length]);
        var objects = new List<ShapeObject>();
        var boxes = new List<(double X1, double Y1, double X2, double Y2)>();
        int wanted = rng.Integer(1, 5);
        for (int attempts = 0; objects.Count < wanted && attempts < 40; attempts++)
        {
            int cls = rng.Integer(0, ClassNames.Count);
            double extent = rng.Uniform(MinObject, MaxObject), half = extent / 2;
            var shape = Shape(rng, cls, extent);
            double cx = rng.Uniform(half + 1, size - half - 1), cy = rng.Uniform(half + 1, size - half - 1);
            IRegion region = shape is null ? new Disc(cx, cy, half) : new Polygon([.. shape.Select(p => (p.X + cx, p.Y + cy))]);
            var box = region.Bounds;
            // Some overlap, never enough to hide most of a shape.
            if (boxes.Any(b => CoveredFraction(box, b) > 0.3)) continue;
            var colour = Contrasting(rng, canvas, box);
            canvas.Fill(region, colour);
            if (only == objects.Count) alone!.Fill(region, (255, 255, 255));
            boxes.Add(box);
            objects.Add(new ShapeObject(cls, PixelBox.FromCorners(Math.Clamp(box.X1, 0, size), Math.Clamp(box.Y1, 0, size),
                Math.Clamp(box.X2, 0, size), Math.Clamp(box.Y2, 0, size))));
        }
        if (only is { } k && (uint)k >= (uint)objects.Count) throw new ArgumentOutOfRangeException(nameof(only), $"image {index} of seed {seed} has {objects.Count} shape(s)");
        return new ShapesImage(seed, index, size, alone?.Rgb ?? rgb, objects);
    }

    /// <summary>The file name of image <paramref name="index"/> ("shapes_0042.jpg").</summary>
    public static string FileName(int index) => $"shapes_{index:D4}.jpg";

    /// <summary>
    /// Images <paramref name="start"/> .. start + count - 1 of the set <paramref name="seed"/> as a data set held in
    /// memory (the spec <c>shapes:SEED:COUNT</c>): COCO conventions (image ids 1..count, annotation ids 1.. over the
    /// set, pixels from 0, categories 1..4), each image's pixels drawn again when <see cref="DataSetImage.Render"/> is
    /// called; the file paths are names only (<see cref="FileName"/>). <paramref name="drawn"/>, when given, sees each
    /// image as it is drawn (from several threads): `ssd datasets shapes` writes them to files.
    /// </summary>
    public static DetectionDataSet Create(int seed, int count, int start = 0, Action<ShapesImage>? drawn = null, CancellationToken cancel = default)
    {
        if (count < 1 || start < 0 || (long)start + count > MaxCount)
            throw new ArgumentOutOfRangeException(nameof(count), $"shapes: images {start}..{(long)start + count - 1}; the set holds indices 0 to {MaxCount - 1}");
        var images = new DataSetImage[count];
        Parallel.For(0, count, new ParallelOptions { CancellationToken = cancel }, k =>
        {
            int index = start + k;
            var sample = Make(seed, index);
            drawn?.Invoke(sample);
            images[k] = new DataSetImage((k + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), Path.Combine($"shapes-{seed}", FileName(index)),
                [.. sample.Objects.Select(o => new GroundTruthObject(o.ClassIndex, o.Box) { Area = o.Box.Width * o.Box.Height })])
            {
                CocoId = k + 1, Width = sample.Size, Height = sample.Size, PixelOrigin = 0, Render = () => Make(seed, index).Rgb,
            };
        });
        long next = 1;
        for (int k = 0; k < count; k++)
            images[k] = images[k] with { Objects = [.. images[k].Objects.Select(o => o with { Id = next++ })] };
        var source = start == 0 ? $"shapes:{seed}:{count}" : $"shapes:{seed}:{count} from index {start}";
        return new DetectionDataSet(source, [.. ClassNames.Select((n, c) => new DataSetClass(n, c + 1))], images);
    }

    private static void Background(ShapesRandom rng, Raster canvas)
    {
        int size = canvas.Width;
        Span<double> c0 = stackalloc double[3], c1 = stackalloc double[3];
        for (int c = 0; c < 3; c++) c0[c] = rng.Uniform(0, 255);
        for (int c = 0; c < 3; c++) c1[c] = rng.Uniform(0, 255);
        double angle = rng.Uniform(0, 2 * Math.PI), cos = Math.Cos(angle), sin = Math.Sin(angle);
        // t = cos x + sin y over [0, 1]^2, scaled to [0, 1]: its extremes are at the corners.
        double[] corners = [0, cos, sin, cos + sin];
        double lo = corners.Min(), range = Math.Max(corners.Max() - lo, 1e-6);
        double sigma = rng.Uniform(2, 12);
        var rgb = canvas.Rgb;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                double t = (cos * x / (size - 1) + sin * y / (size - 1) - lo) / range;
                for (int c = 0; c < 3; c++)
                    rgb[3 * (y * size + x) + c] = (byte)Math.Clamp(c0[c] * (1 - t) + c1[c] * t + sigma * rng.Normal(), 0, 255);
            }
        // Thin lines and small blobs: clutter to ignore, all well under MinObject.
        int lines = rng.Integer(0, 9);
        for (int i = 0; i < lines; i++)
        {
            double x0 = rng.Integer(0, size), y0 = rng.Integer(0, size), x1 = rng.Integer(0, size), y1 = rng.Integer(0, size);
            canvas.Fill(new Stroke(x0 + 0.5, y0 + 0.5, x1 + 0.5, y1 + 0.5, rng.Integer(1, 3)), rng.Colour());
        }
        int blobs = rng.Integer(0, 13);
        for (int i = 0; i < blobs; i++)
        {
            double cx = rng.Integer(0, size) + 0.5, cy = rng.Integer(0, size) + 0.5, a = rng.Integer(2, 9), b = rng.Integer(2, 9);
            canvas.Fill(new Ellipse(cx, cy, a, b, rng.Uniform(0, Math.PI)), rng.Colour());
        }
    }

    /// <summary>The vertices (centred near 0, the tight box's longer side exactly <paramref name="extent"/>) of one
    /// shape; null for a circle.</summary>
    private static List<(double X, double Y)>? Shape(ShapesRandom rng, int cls, double extent)
    {
        double r = extent / 2;
        List<(double X, double Y)> pts;
        switch (ClassNames[cls])
        {
            case "circle":
                return null;
            case "square":
                pts = Rotate([(-r, -r), (r, -r), (r, r), (-r, r)], rng.Uniform(-Math.PI / 6, Math.PI / 6));
                break;
            case "triangle":
                {
                    double[] angles = [90, 210, 330];
                    pts = [.. angles.Select(a => a * Math.PI / 180 + rng.Uniform(-0.35, 0.35)).Select(a => (Math.Cos(a) * r, -Math.Sin(a) * r))];
                    pts = Rotate(pts, rng.Uniform(0, 2 * Math.PI));
                    break;
                }
            default:
                {
                    double inner = rng.Uniform(0.38, 0.5);
                    pts = [.. Enumerable.Range(0, 10).Select(k =>
                    {
                        double radius = (k % 2 == 0 ? 1 : inner) * r, a = Math.PI / 2 + k * Math.PI / 5;
                        return (Math.Cos(a) * radius, -Math.Sin(a) * radius);
                    })];
                    pts = Rotate(pts, rng.Uniform(0, 2 * Math.PI));
                    break;
                }
        }
        double longer = Math.Max(pts.Max(p => p.X) - pts.Min(p => p.X), pts.Max(p => p.Y) - pts.Min(p => p.Y));
        return [.. pts.Select(p => (p.X * extent / longer, p.Y * extent / longer))];
    }

    private static List<(double X, double Y)> Rotate(List<(double X, double Y)> pts, double angle)
    {
        double c = Math.Cos(angle), s = Math.Sin(angle);
        return [.. pts.Select(p => (p.X * c - p.Y * s, p.X * s + p.Y * c))];
    }

    /// <summary>Intersection over the smaller box's area.</summary>
    private static double CoveredFraction((double X1, double Y1, double X2, double Y2) a, (double X1, double Y1, double X2, double Y2) b)
    {
        double ix = Math.Max(0, Math.Min(a.X2, b.X2) - Math.Max(a.X1, b.X1)), iy = Math.Max(0, Math.Min(a.Y2, b.Y2) - Math.Max(a.Y1, b.Y1));
        double smaller = Math.Min((a.X2 - a.X1) * (a.Y2 - a.Y1), (b.X2 - b.X1) * (b.Y2 - b.Y1));
        return ix * iy / smaller;
    }

    /// <summary>A colour at least 110 away (Euclidean, RGB) from the mean of the pixels under the box; 50 tries, else the mean's complement.</summary>
    private static (byte R, byte G, byte B) Contrasting(ShapesRandom rng, Raster canvas, (double X1, double Y1, double X2, double Y2) box)
    {
        int x0 = Math.Clamp((int)Math.Round(box.X1), 0, canvas.Width - 1), y0 = Math.Clamp((int)Math.Round(box.Y1), 0, canvas.Height - 1);
        int x1 = Math.Clamp((int)Math.Round(box.X2), x0, canvas.Width - 1), y1 = Math.Clamp((int)Math.Round(box.Y2), y0, canvas.Height - 1);
        double r = 0, g = 0, b = 0;
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
            {
                int at = 3 * (y * canvas.Width + x);
                (r, g, b) = (r + canvas.Rgb[at], g + canvas.Rgb[at + 1], b + canvas.Rgb[at + 2]);
            }
        double n = (x1 - x0 + 1) * (y1 - y0 + 1);
        (r, g, b) = (r / n, g / n, b / n);
        for (int i = 0; i < 50; i++)
        {
            var c = rng.Colour();
            double dr = c.R - r, dg = c.G - g, db = c.B - b;
            if (dr * dr + dg * dg + db * db > 110 * 110) return c;
        }
        return ((byte)(255 - r), (byte)(255 - g), (byte)(255 - b));
    }
}

/// <summary>The generator's random stream: xoshiro256** seeded by SplitMix64 from (seed, index), so an image is a pure
/// function of the pair, the same on every machine and .NET version.</summary>
internal sealed class ShapesRandom(int seed, int index)
{
    private Ssd.Weights.Xoshiro256 stream = new(((ulong)(uint)seed << 32) ^ (uint)index ^ 0x5348415045535344UL);   // "SHAPESSD"
    private double spare = double.NaN;

    /// <summary>Uniform in [0, 1), 53 bits.</summary>
    public double Double() => stream.NextDouble();

    /// <summary>Uniform in [lo, hi).</summary>
    public double Uniform(double lo, double hi) => lo + (hi - lo) * Double();

    /// <summary>Uniform integer in [lo, hi).</summary>
    public int Integer(int lo, int hi) => lo + (int)(Double() * (hi - lo));

    /// <summary>Standard normal (Box-Muller, both values used).</summary>
    public double Normal()
    {
        if (!double.IsNaN(spare))
        {
            double v = spare;
            spare = double.NaN;
            return v;
        }
        double u1 = 1 - Double(), u2 = Double(), r = Math.Sqrt(-2 * Math.Log(u1));
        spare = r * Math.Sin(2 * Math.PI * u2);
        return r * Math.Cos(2 * Math.PI * u2);
    }

    public (byte R, byte G, byte B) Colour() => ((byte)Integer(0, 256), (byte)Integer(0, 256), (byte)Integer(0, 256));
}
