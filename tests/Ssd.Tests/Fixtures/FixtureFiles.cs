namespace Ssd.Tests.Fixtures;

/// <summary>Finds committed fixture files under tests/Ssd.Tests/Fixtures from the repository root (the folder holding Ssd.sln).</summary>
public static class FixtureFiles
{
    public static string Path(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Ssd.sln")))
                return System.IO.Path.Combine(dir.FullName, "tests", "Ssd.Tests", "Fixtures", name);
        }
        throw new FileNotFoundException($"fixture {name}: no Ssd.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>A raw little-endian float32 fixture file.</summary>
    public static float[] ReadFloat32(string name)
    {
        var bytes = File.ReadAllBytes(Path(name));
        if (bytes.Length % 4 != 0) throw new InvalidDataException($"{name}: {bytes.Length} bytes is not whole float32s");
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}
