namespace Ssd.Cli;

/// <summary>
/// Output paths checked before any work starts, so that a bad one fails in a second rather than after the whole run,
/// and never overwrites what the command reads: each is refused (exit 2) when it names an input or the model (compared
/// after resolving symbolic links), when it is a folder where a file is wanted (or the reverse), or when its folder
/// cannot be created or written (probed with a temporary file that is removed at once).
/// </summary>
public static class OutputPaths
{
    /// <summary>
    /// Checks a file output: <paramref name="what"/> names the option in messages (e.g. "--json"). Its folder is made;
    /// with <paramref name="create"/> false the folders the check made are removed again, and the command makes them
    /// when it writes the file (<see cref="MakeFolderOf"/>), so a call that fails first leaves none behind.
    /// </summary>
    public static void CheckFile(string path, string what, IEnumerable<string> readPaths, bool create = true)
    {
        if (string.IsNullOrWhiteSpace(path)) throw CliException.Usage($"{what}: the output path is empty");
        if (Directory.Exists(path)) throw CliException.Usage($"{what} {path}: is a folder; give a file name");
        RefuseInputs(path, what, readPaths);
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        CheckWritableFolder(folder, $"{what} {path}", create);
    }

    /// <summary>Makes the folder of a file output checked with <c>create: false</c>, just before the file is written.</summary>
    public static void MakeFolderOf(string path) => Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);

    /// <summary>
    /// Checks (and creates) an output folder. With <paramref name="create"/> false the folders the check made are
    /// removed again, so a call that fails before it writes there leaves none behind (`detect --annotate`): the command
    /// creates the folder when it writes the first file into it.
    /// </summary>
    public static void CheckFolder(string folder, string what, bool create = true)
    {
        if (string.IsNullOrWhiteSpace(folder)) throw CliException.Usage($"{what}: the output folder is empty");
        if (File.Exists(folder)) throw CliException.Usage($"{what} {folder}: is a file; give a folder");
        CheckWritableFolder(Path.GetFullPath(folder), $"{what} {folder}", create);
    }

    /// <summary>Refuses an output that is one of the files the command reads.</summary>
    public static void RefuseInputs(string path, string what, IEnumerable<string> readPaths)
    {
        string target = Canonical(path);
        foreach (var read in readPaths)
            if (string.Equals(Canonical(read), target, StringComparison.Ordinal))
                throw CliException.Usage($"{what} {path}: names a file this command reads ({read}); refusing to overwrite it");
    }

    /// <summary>The absolute path with every symbolic link along it resolved (as far as the path exists).</summary>
    public static string Canonical(string path)
    {
        string full = Path.GetFullPath(path);
        string root = Path.GetPathRoot(full)!;
        string current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            try
            {
                FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
                if (info.Exists && info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                    current = target.FullName;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return current;
    }

    private static void CheckWritableFolder(string folder, string what, bool create = true)
    {
        // The folders that do not exist yet, deepest first (removed again after the probe unless create).
        var missing = new List<string>();
        for (string? d = folder; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d)) missing.Add(d);
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".ssd-write-test-{Guid.NewGuid():N}.tmp");
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw CliException.Usage($"{what}: cannot write there: {e.Message}", e);
        }
        finally
        {
            if (!create)
                foreach (var d in missing)
                {
                    // Only an empty folder is removed (one something else filled meanwhile stays).
                    try { Directory.Delete(d, recursive: false); }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException) { break; }
                }
        }
    }
}
