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

    /// <summary>Refuses a missing path or a folder where a file is wanted (exit 3), naming <paramref name="what"/>.</summary>
    public static void CheckPath(string path, string what)
    {
        if (Directory.Exists(path)) throw CliException.Model($"{path}: is a folder, not a {what} file");
        if (!File.Exists(path)) throw CliException.Model($"{path}: no such {what} file");
    }
}
