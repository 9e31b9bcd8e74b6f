namespace Ssd.Tests.PostProcessing;

/// <summary>Reads fixture files under tests/Ssd.Tests/Fixtures (written by scripts in tools/fixtures).</summary>
public static class Fixtures
{
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Ssd.sln")))
                    return Path.Combine(dir.FullName, "tests", "Ssd.Tests", "Fixtures");
            throw new DirectoryNotFoundException("fixtures: no Ssd.sln above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>A raw little-endian float32 file.</summary>
    public static float[] ReadFloat32(string relativePath)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Root, relativePath));
        if (bytes.Length % 4 != 0) throw new InvalidDataException($"{relativePath}: {bytes.Length} bytes is not whole float32s");
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}
