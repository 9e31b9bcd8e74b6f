using System.Globalization;
using Ssd.Data;

namespace Ssd.Cli.Training;

/// <summary>
/// The check of a training set before the first step: images that are missing, boxes the loader skipped (degenerate,
/// or outside their image: <see cref="BoxChecks"/>) and classes the model does not have (when training a model that
/// has its own class list). Each problem is listed; <see cref="Apply"/> then either stops (the caller's error) or,
/// with --skip-bad, trains without the missing images and without the objects of unknown classes.
/// </summary>
public sealed class DataSetCheck
{
    /// <summary>Every problem found, one line each ("FILE: FIELD: PROBLEM").</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>The set without its missing images (the same set when none is).</summary>
    public DetectionDataSet Usable { get; }

    /// <summary>Data set class index to the model's class (-1: unknown to the model, its objects dropped).</summary>
    public int[] Classes { get; }

    private DataSetCheck(IReadOnlyList<string> problems, DetectionDataSet usable, int[] classes) => (Problems, Usable, Classes) = (problems, usable, classes);

    /// <summary>
    /// Checks <paramref name="set"/>; <paramref name="modelClasses"/> (with the background at
    /// <paramref name="background"/>) is the class list of the model trained, null when the model's classes are the
    /// data set's (a new network from --arch).
    /// </summary>
    public static DataSetCheck Run(DetectionDataSet set, IReadOnlyList<string?>? modelClasses, int background)
    {
        var problems = new List<string>();
        var missing = new bool[set.Images.Count];
        Parallel.For(0, set.Images.Count, i => missing[i] = !DataSetImages.Exists(set.Images[i]));
        for (int i = 0; i < missing.Length; i++)
            if (missing[i]) problems.Add($"{set.Images[i].FilePath}: missing image");
        problems.AddRange(set.Issues.Select(i => i.ToString()));

        var classes = new int[set.Classes.Count];
        for (int c = 0; c < classes.Length; c++) classes[c] = c + 1;
        if (modelClasses is not null)
        {
            var counts = new int[set.Classes.Count];
            foreach (var image in set.Images)
                foreach (var o in image.Objects) counts[o.ClassIndex]++;
            var known = string.Join(", ", modelClasses.Where((n, k) => k != background && n is not null));
            for (int c = 0; c < classes.Length; c++)
            {
                var name = set.Classes[c].Name.Trim();
                int found = -1;
                for (int k = 0; k < modelClasses.Count && found < 0; k++)
                    if (k != background && string.Equals(modelClasses[k]?.Trim(), name, StringComparison.OrdinalIgnoreCase)) found = k;
                classes[c] = found;
                if (found < 0)
                    problems.Add(string.Create(CultureInfo.InvariantCulture, $"{set.Source}: class '{name}' ({counts[c]} objects): unknown class, not one of the model's ({known})"));
            }
        }
        var usable = missing.Any(m => m)
            ? new DetectionDataSet(set.Source, set.Classes, [.. set.Images.Where((_, i) => !missing[i])], set.Issues)
            : set;
        return new DataSetCheck(problems, usable, classes);
    }

    /// <summary>The report: a header line, then each problem.</summary>
    public string Report(string source, bool skipped) =>
        $"data set check of {source}: {Problems.Count} problem(s){(skipped ? " (--skip-bad: missing images and objects of unknown classes left out, skipped boxes not trained on)" : "")}\n"
        + string.Concat(Problems.Select(p => p + "\n"));
}
