namespace Ssd.Cli;

/// <summary>
/// Names the annotated copies of the inputs in one output folder so that no two collide: NAME.png after the input's
/// name without its extension, then NAME-2.png, NAME-3.png, ... for later inputs of the same name (photos/a.jpg,
/// other/a.jpg, a.png), in input order, compared without regard to case (so the names are safe on any file system).
/// </summary>
public static class AnnotationPaths
{
    public static IReadOnlyDictionary<string, string> Assign(IEnumerable<string> inputs, string folder)
    {
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            string stem = Path.GetFileNameWithoutExtension(input);
            if (stem.Length == 0) stem = "image";
            string name = stem + ".png";
            for (int n = 2; !used.Add(name); n++) name = $"{stem}-{n}.png";
            paths[input] = Path.Combine(folder, name);
        }
        return paths;
    }
}
