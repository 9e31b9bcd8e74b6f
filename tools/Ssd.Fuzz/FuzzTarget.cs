using Ssd.Weights;

namespace Ssd.Fuzz;

/// <summary>Where the seed files are: the repository (fixtures, the example model) and the shared real models.</summary>
public sealed record FuzzContext(string RepoRoot, string SharedRoot)
{
    public static FuzzContext Find()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Ssd.sln"))) dir = Path.GetDirectoryName(dir);
        dir ??= Directory.GetCurrentDirectory();
        var shared = Environment.GetEnvironmentVariable("SSD_SHARED") is { Length: > 0 } env ? env
            : Directory.Exists(Path.Combine(dir, "..", "shared")) ? Path.GetFullPath(Path.Combine(dir, "..", "shared")) : "/work/shared";
        return new FuzzContext(dir, shared);
    }

    public string Fixtures => Path.Combine(RepoRoot, "tests", "Ssd.Tests", "Fixtures");

    /// <summary>The files matching a pattern under a folder (none when the folder is absent).</summary>
    public IEnumerable<byte[]> Files(string folder, string pattern) =>
        Directory.Exists(folder) ? Directory.GetFiles(folder, pattern).Order(StringComparer.Ordinal).Select(File.ReadAllBytes) : [];
}

/// <summary>
/// One reader under fuzz. A target names itself, supplies seed inputs, mutates them (by default with byte
/// mutations) and runs one input. Run may throw: the documented errors (<see cref="IsDocumented"/>, by default
/// <see cref="ReaderErrors.IsFileContentError"/>) are expected outcomes, anything else is a crash. A target that
/// writes files writes them into <c>scratch</c> and returns the names it meant to leave there; every other file
/// left behind is a finding. To fuzz a new reader (VOC XML, COCO JSON, images), add a subclass and list it in
/// <see cref="FuzzTargets.All"/>.
/// </summary>
public abstract class FuzzTarget
{
    public abstract string Name { get; }
    public abstract string Description { get; }

    /// <summary>Loads what Run needs besides its input (reference blobs, tensors); called once, before Seeds or Run.</summary>
    public virtual void Prepare(FuzzContext context) { }

    /// <summary>Seed inputs; an empty list disables the target (e.g. when shared models are absent).</summary>
    public abstract IReadOnlyList<byte[]> Seeds(FuzzContext context);

    public virtual byte[] Mutate(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds) => Mutators.Bytes(seed, rng, seeds);

    /// <summary>Runs one input; returns the files (names in <paramref name="scratch"/>) it left on purpose.</summary>
    public abstract IReadOnlyCollection<string> Run(byte[] input, string scratch);

    public virtual bool IsDocumented(Exception e) => ReaderErrors.IsFileContentError(e);
}
