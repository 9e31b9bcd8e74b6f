using System.Text.Json;
using Ssd.Tests.Fixtures;

namespace Ssd.Tests.Examples;

/// <summary>
/// README's first command, run as written (its output folder moved to a temporary one), checked against the
/// synthetic generator's ground truth for the sample image: every confident detection must be a real shape.
/// </summary>
public class ReadmeExampleTests
{
    private static string Root => Path.GetFullPath(Path.Combine(FixtureFiles.Path("."), "..", "..", ".."));

    [Test]
    public void ReadmeDetectCommandFindsTheShapes()
    {
        var line = File.ReadAllLines(Path.Combine(Root, "README.md")).First(l => l.StartsWith("./ssd detect ", StringComparison.Ordinal));
        var outDir = Path.Combine(Path.GetTempPath(), $"ssd-readme-{Guid.NewGuid():N}");
        var args = line["./ssd ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(a => a == "out" ? outDir : a.StartsWith("out/", StringComparison.Ordinal) ? Path.Combine(outDir, a[4..]) : a)
            .Select(a => a.StartsWith("examples/", StringComparison.Ordinal) ? Path.Combine(Root, a) : a)
            .ToArray();
        try
        {
            Assert.That(Ssd.Cli.Program.Main(args), Is.EqualTo(0), string.Join(' ', args));

            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "detections.json")));
            var image = json.RootElement.GetProperty("images")[0];
            Assert.That((image.GetProperty("width").GetInt32(), image.GetProperty("height").GetInt32()), Is.EqualTo((300, 300)));
            var detections = image.GetProperty("detections").EnumerateArray()
                .Select(d => (Label: d.GetProperty("label").GetString()!, Box: d.GetProperty("box").EnumerateArray().Select(v => v.GetSingle()).ToArray()))
                .ToList();

            using var truthDoc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "examples", "shapes", "ground_truth.json")));
            var imageName = Path.GetFileName(args.First(a => a.EndsWith(".jpg", StringComparison.Ordinal)));
            var truth = truthDoc.RootElement.GetProperty("ground_truth").GetProperty(imageName).EnumerateArray()
                .Select(t => (Label: t.GetProperty("label").GetString()!, Box: t.GetProperty("box_xyxy").EnumerateArray().Select(v => v.GetSingle()).ToArray()))
                .ToList();

            Assert.That(detections, Has.Count.GreaterThanOrEqualTo(2), "the example should find at least two of its shapes");
            foreach (var d in detections)
                Assert.That(truth.Any(t => t.Label == d.Label && Iou(t.Box, d.Box) >= 0.5f), $"{d.Label} at [{string.Join(", ", d.Box)}] matches no {d.Label} in the ground truth");
            Assert.That(File.Exists(Path.Combine(outDir, Path.GetFileNameWithoutExtension(imageName) + ".png")), "annotated image");
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
        }
    }

    /// <summary>
    /// README's C# example is samples/Ssd.Sample/Program.cs word for word (CI builds and runs that sample against the
    /// packages: samples/run.sh); here it also runs, compiled into the tests, on the example model and image.
    /// </summary>
    [Test]
    public void ReadmeCSharpExampleIsTheSample()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        var sample = File.ReadAllText(Path.Combine(Root, "samples", "Ssd.Sample", "Program.cs"));
        Assert.That(readme, Does.Contain("```csharp\n" + sample + "```"), "README's C# block is samples/Ssd.Sample/Program.cs");
    }

    private static float Iou(float[] a, float[] b)
    {
        float iw = MathF.Max(0, MathF.Min(a[2], b[2]) - MathF.Max(a[0], b[0]));
        float ih = MathF.Max(0, MathF.Min(a[3], b[3]) - MathF.Max(a[1], b[1]));
        float inter = iw * ih;
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
    }
}
