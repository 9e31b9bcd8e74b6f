namespace Ssd.Tests.Weights;

/// <summary>Locations of the test fixtures and of the shared (never copied) real models.</summary>
public static class WeightsPaths
{
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Ssd.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Ssd.sln not found above the test directory");
        }
    }

    public static string Fixtures => Path.Combine(RepoRoot, "tests", "Ssd.Tests", "Fixtures");

    /// <summary>SSD_SHARED, else &lt;root&gt;/../shared, else /work/shared.</summary>
    public static string Shared
    {
        get
        {
            if (Environment.GetEnvironmentVariable("SSD_SHARED") is { Length: > 0 } env) return env;
            var sibling = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
            return Directory.Exists(sibling) ? sibling : "/work/shared";
        }
    }

    public static string FaceModelDir
    {
        get
        {
            var dir = Path.Combine(Shared, "models", "yufacedetectnet-open-v2");
            if (!File.Exists(Path.Combine(dir, "model.caffemodel"))) Assert.Ignore($"shared model not found at {dir}");
            return dir;
        }
    }
}
