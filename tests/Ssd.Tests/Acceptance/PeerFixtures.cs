using System.Text.Json;
using Ssd.Engine.Imaging;
using Ssd.Tests.Fixtures;

namespace Ssd.Tests.Acceptance;

/// <summary>
/// Reads the peer-generated acceptance fixtures under Fixtures/generated/FOLDER (written by the scripts in
/// tools/fixtures that CI runs before the tests). A missing file ignores the test, or fails it when
/// SSD_REQUIRE_PEERS=1.
/// </summary>
public static class PeerFixtures
{
    public static string Generated(string folder, string name, string script)
    {
        var path = FixtureFiles.Path(Path.Combine("generated", folder, name));
        if (!File.Exists(path))
        {
            var why = $"{folder}/{name} missing: run /usr/bin/python3 tools/fixtures/{script}";
            if (Environment.GetEnvironmentVariable("SSD_REQUIRE_PEERS") == "1") Assert.Fail(why);
            Assert.Ignore(why);
        }
        return path;
    }

    /// <summary>An h x w x 3 BGR byte dump (cv2.imread's array) as an RGB image.</summary>
    public static RgbImage FromBgr(string path, int width, int height)
    {
        var bgr = File.ReadAllBytes(path);
        Assert.That(bgr, Has.Length.EqualTo(width * height * 3), $"{path}: {width}x{height} BGR bytes");
        var rgb = new byte[bgr.Length];
        for (int i = 0; i < bgr.Length; i += 3) (rgb[i], rgb[i + 1], rgb[i + 2]) = (bgr[i + 2], bgr[i + 1], bgr[i]);
        return new RgbImage(width, height, rgb);
    }

    /// <summary>Detections as written by the scripts: rows [class, score, x1, y1, x2, y2] in image pixels.</summary>
    public static PeerDetection[] ReadDetections(JsonElement rows) =>
        rows.EnumerateArray().Select(r => new PeerDetection(r[0].GetInt32(), r[1].GetSingle(),
            r[2].GetSingle(), r[3].GetSingle(), r[4].GetSingle(), r[5].GetSingle())).ToArray();
}

/// <summary>One detection of a reference implementation, box corners in image pixels.</summary>
public sealed record PeerDetection(int ClassId, float Score, float X1, float Y1, float X2, float Y2);
