using Ssd.Engine.Detection;
using Ssd.Weights.Model;
using Ssd.Weights.Tensors;

namespace Ssd.Cli;

/// <summary>
/// Loads a converted model for a command, every failure a <see cref="CliException"/> with exit code 3 naming the file:
/// a missing file, a folder, a checkpoint that needs `ssd convert` first, a corrupt or hostile model file, and a
/// backend that cannot run (no CUDA device for --backend cuda).
/// </summary>
public static class ModelFiles
{
    public static LoadedModel Load(string path)
    {
        CheckPath(path, "model");
        try { return ModelFile.Read(path); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw CliException.Model(e.Message.Contains(path, StringComparison.Ordinal) || e.Message.Contains(Path.GetFileName(path), StringComparison.Ordinal)
                ? e.Message : $"{path}: {e.Message}", e);
        }
    }

    public static SsdDetector LoadDetector(string path, SsdDetectorOptions options)
    {
        var (description, tensors, _) = Load(path);
        return CreateDetector(path, description, tensors, options);
    }

    /// <summary>The detector for a loaded model; a backend that cannot run (or a size the model cannot take) exits 3.</summary>
    public static SsdDetector CreateDetector(string path, ModelDescription description, IReadOnlyDictionary<string, TensorData> tensors, SsdDetectorOptions options)
    {
        try { return SsdDetector.Create(description, tensors, options); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw CliException.Model($"cannot run {path} on the {DetectorBackendNames.Name(options.Backend)} backend: {e.Message}", e);
        }
    }

    /// <summary>The commands that read or write a model file's description.</summary>
    private static readonly string[] DescriptionCommands = ["detect", "eval", "inspect", "bench", "convert", "train"];

    /// <summary>
    /// When the command line names a command that reads or writes a model description, builds the description's JSON
    /// metadata on a background thread (<see cref="ModelDescription.PrepareJson"/>) while the runtime and the parser
    /// start up on this one: a one-image `ssd detect` otherwise does it on its way to the model, on one core. A failure
    /// there is ignored (the model read reports its own errors); it changes nothing that is read or written.
    /// </summary>
    public static void PrepareInBackground(string[] args)
    {
        if (args.FirstOrDefault(a => !a.StartsWith('-')) is not { } command || !DescriptionCommands.Contains(command)
            || args.Any(a => a is "--help" or "-h" or "-?" or "/?" or "/h")) return;
        new Thread(() =>
        {
            try { ModelDescription.PrepareJson(); }
            catch (Exception) { } // the foreground read reports whatever is wrong
        }) { IsBackground = true, Name = "ssd: prepare model JSON" }.Start();
    }

    /// <summary>Refuses a missing path or a folder where a file is wanted (exit 3), naming <paramref name="what"/>.</summary>
    public static void CheckPath(string path, string what)
    {
        if (Directory.Exists(path)) throw CliException.Model($"{path}: is a folder, not a {what} file");
        if (!File.Exists(path)) throw CliException.Model($"{path}: no such {what} file");
    }
}
