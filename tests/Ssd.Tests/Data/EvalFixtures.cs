using System.Text.Json;
using Ssd.Tests.Acceptance;

namespace Ssd.Tests.Data;

/// <summary>The reference scores written by tools/fixtures/make_eval_fixtures.py (pycocotools, voc_eval.py).</summary>
public static class EvalFixtures
{
    public const string Script = "make_eval_fixtures.py";

    public static string File(string set, string name) => PeerFixtures.Generated("eval", Path.Combine(set, name), Script);

    public static JsonElement Expected(string set)
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(File(set, "expected.json")));
        return doc.RootElement.Clone();
    }

    public static double[] Doubles(string set, string name)
    {
        var bytes = System.IO.File.ReadAllBytes(File(set, name));
        var values = new double[bytes.Length / 8];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    /// <summary>A reference AP: a number, or null for a class without ground truth (NaN here).</summary>
    public static double Ap(JsonElement e) => e.ValueKind == JsonValueKind.Null ? double.NaN : e.GetDouble();

    /// <summary>The real BCCD set in the shared folder (never copied into the repository).</summary>
    public static string Bccd
    {
        get
        {
            var dir = Path.Combine(Weights.WeightsPaths.Shared, "datasets", "BCCD");
            if (!Directory.Exists(Path.Combine(dir, "Annotations")))
            {
                if (Environment.GetEnvironmentVariable("SSD_REQUIRE_PEERS") == "1") Assert.Fail($"BCCD not found at {dir}");
                Assert.Ignore($"BCCD not found at {dir}");
            }
            return dir;
        }
    }
}
