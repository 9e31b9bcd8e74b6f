namespace Ssd.Data;

/// <summary>The names of one side of a mapping that the other side lacks.</summary>
public sealed class ClassMappingException(string message, IReadOnlyList<string> missingInModel, IReadOnlyList<string> unusedModelClasses)
    : Exception(message)
{
    /// <summary>Data set classes no model class is named like.</summary>
    public IReadOnlyList<string> MissingInModel { get; } = missingInModel;

    /// <summary>Model classes no data set class is named like.</summary>
    public IReadOnlyList<string> UnusedModelClasses { get; } = unusedModelClasses;
}

/// <summary>
/// A model's classes mapped to a data set's by name, ignoring case and surrounding spaces. Every data set class must
/// have a model class; model classes the data set lacks (the background, torchvision's "N/A" placeholders, classes
/// of a larger label set) map to -1 and their detections are dropped.
/// </summary>
public sealed class ClassMapping
{
    private readonly int[] toDataSet;

    private ClassMapping(int[] toDataSet, IReadOnlyList<string> unused)
    {
        this.toDataSet = toDataSet;
        UnusedModelClasses = unused;
    }

    /// <summary>The data set class index of a model class index, or -1.</summary>
    public int this[int modelClass] => (uint)modelClass < (uint)toDataSet.Length ? toDataSet[modelClass] : -1;

    /// <summary>Model classes (other than the background) that no data set class matches.</summary>
    public IReadOnlyList<string> UnusedModelClasses { get; }

    /// <param name="modelClasses">The model's class names by class index (null for an unnamed index).</param>
    /// <param name="backgroundIndex">The model's background index (-1 for none); it never maps.</param>
    /// <param name="dataSet">The data set whose classes the names are matched against (ignoring case).</param>
    public static ClassMapping ByName(IReadOnlyList<string?> modelClasses, int backgroundIndex, DetectionDataSet dataSet)
    {
        var map = new int[modelClasses.Count];
        var used = new bool[dataSet.Classes.Count];
        var unused = new List<string>();
        for (int c = 0; c < modelClasses.Count; c++)
        {
            map[c] = -1;
            if (c == backgroundIndex) continue;
            var name = modelClasses[c];
            int k = name is null ? -1 : dataSet.FindClass(name);
            if (k >= 0 && used[k])
                throw new ClassMappingException($"model classes {Array.FindIndex(map, x => x == k)} and {c} are both named '{name}' (names are compared ignoring case)", [], []);
            if (k >= 0) { map[c] = k; used[k] = true; }
            else unused.Add(name ?? $"#{c}");
        }
        var missing = dataSet.Classes.Where((_, k) => !used[k]).Select(c => c.Name).ToList();
        if (missing.Count > 0)
        {
            var message = $"{missing.Count} of the data set's {dataSet.Classes.Count} classes have no model class of the same name: "
                + string.Join(", ", missing.Select(n => $"'{n}'"));
            if (unused.Count > 0)
                message += $"; model classes without a data set class: {string.Join(", ", unused.Take(40).Select(n => $"'{n}'"))}{(unused.Count > 40 ? $" and {unused.Count - 40} more" : "")}";
            message += " (names are compared ignoring case; give the model the data set's names with `ssd convert --classes-file`)";
            throw new ClassMappingException(message, missing, unused);
        }
        return new ClassMapping(map, unused);
    }
}
