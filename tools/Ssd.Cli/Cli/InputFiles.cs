using Microsoft.Extensions.FileSystemGlobbing;

namespace Ssd.Cli;

/// <summary>The image files named on a command line, and the arguments that named none.</summary>
public sealed record InputSet(IReadOnlyList<string> Files, IReadOnlyList<(string Input, string Error)> Errors);

/// <summary>
/// Expands `detect`'s inputs, in the order given: a file is taken as it is (whatever its extension; the decoder
/// decides), a folder gives its image files (.jpg .jpeg .png .webp .bmp .gif, any case) sorted by name, with
/// --recursive those of its subfolders too (links to files are followed, links to folders are not), and a glob pattern
/// (* within a name, ** for any depth of folders, e.g. 'photos/**/*.jpg', quoted so that the shell leaves it) the image files it
/// matches, sorted. A path given twice is taken once. An argument that names nothing (a missing path, an empty folder,
/// a pattern without matches) is an error for that argument; the others go on.
/// </summary>
public static class InputFiles
{
    public static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"];

    public static bool IsImageName(string path) => ImageExtensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    public static InputSet Expand(IEnumerable<string> inputs, bool recursive = false)
    {
        var files = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var errors = new List<(string, string)>();
        void Add(string path)
        {
            if (seen.Add(Path.GetFullPath(path))) files.Add(path);
        }
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                var found = Folder(input, recursive);
                if (found.Count == 0)
                    errors.Add((input, $"{input}: no image files in this folder ({string.Join(" ", ImageExtensions)})"
                        + (recursive ? "" : "; --recursive looks in its subfolders too")));
                found.ForEach(Add);
            }
            else if (File.Exists(input)) Add(input);
            else if (IsPattern(input))
            {
                var found = Glob(input);
                if (found.Count == 0) errors.Add((input, $"{input}: no image file matches this pattern"));
                found.ForEach(Add);
            }
            else errors.Add((input, $"{input}: no such file or folder"));
        }
        return new InputSet(files, errors);
    }

    /// <summary>A folder's image files (symbolic links to files included), with its subfolders' when recursive, sorted.</summary>
    private static List<string> Folder(string folder, bool recursive)
    {
        var files = new List<string>();
        var pending = new Stack<string>([folder]);
        var flat = new EnumerationOptions { IgnoreInaccessible = true };
        // Subfolders reached through a symbolic link are skipped: a link back up would loop forever.
        var realFolders = new EnumerationOptions { IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint };
        while (pending.TryPop(out var current))
        {
            files.AddRange(Directory.EnumerateFiles(current, "*", flat).Where(IsImageName));
            if (recursive)
                foreach (var sub in Directory.EnumerateDirectories(current, "*", realFolders)) pending.Push(sub);
        }
        files.Sort(StringComparer.Ordinal);
        return files;
    }

    private static bool IsPattern(string input) => input.Contains('*');

    /// <summary>The files a pattern matches: the part before the first wildcard segment is the folder searched.</summary>
    private static List<string> Glob(string pattern)
    {
        var parts = pattern.Replace('\\', '/').Split('/');
        int first = Array.FindIndex(parts, IsPattern);
        string root = first == 0 ? "." : string.Join('/', parts[..first]);
        if (root.Length == 0) root = "/";
        string relative = string.Join('/', parts[first..]);
        if (!Directory.Exists(root)) return [];
        // The folder walk of Folder() (no links to folders, so no loops), matched in memory.
        var matcher = new Matcher(StringComparison.Ordinal);
        matcher.AddInclude(relative);
        var full = Path.GetFullPath(root);
        var result = matcher.Match(full, Folder(root, recursive: true).Select(Path.GetFullPath));
        return result.Files
            .Select(f => first == 0 ? f.Path : Path.Combine(root, f.Path))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToList();
    }
}
