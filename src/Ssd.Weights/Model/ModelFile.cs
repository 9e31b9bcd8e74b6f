using Ssd.Weights.SafeTensors;
using Ssd.Weights.Tensors;

namespace Ssd.Weights.Model;

/// <summary>
/// A converted model on disk: a safetensors file whose tensors are the model's float32 weights and whose
/// string metadata holds the description JSON under the key "ssd.model".
/// </summary>
public static class ModelFile
{
    /// <summary>Metadata key of the description JSON.</summary>
    public const string DescriptionKey = "ssd.model";
    /// <summary>Metadata key of what the conversion ignored (a JSON array of strings; absent when nothing was).</summary>
    public const string IgnoredKey = "ssd.ignored";

    /// <summary>Writes a conversion's model, with its ignored list under <see cref="IgnoredKey"/>.</summary>
    public static void Save(string path, ConversionResult result) => Save(path, result.Description, result.Tensors, result.Ignored);

    /// <summary>Validates and writes a model file atomically (a temporary file renamed into place; no half file on failure).</summary>
    /// <param name="path">The .safetensors file to write.</param>
    /// <param name="description">The description, stored under <see cref="DescriptionKey"/>.</param>
    /// <param name="tensors">Every tensor the description references (extra ones are stored too).</param>
    /// <param name="ignored">What the conversion ignored, stored under <see cref="IgnoredKey"/> (none: absent).</param>
    /// <exception cref="InvalidDataException">The description is invalid or references a missing tensor.</exception>
    public static void Save(string path, ModelDescription description, IReadOnlyDictionary<string, TensorData> tensors, IReadOnlyList<string>? ignored = null)
    {
        description.Validate(tensors.Keys.ToList());
        var metadata = new Dictionary<string, string> { [DescriptionKey] = description.ToJson() };
        if (ignored is { Count: > 0 }) metadata[IgnoredKey] = System.Text.Json.JsonSerializer.Serialize(ignored);
        SafeTensorsFile.Write(path, tensors.Values.OrderBy(t => t.Name, StringComparer.Ordinal), metadata);
    }

    /// <summary>
    /// Reads a model file and validates its description once (JSON, every required field, the graph, the tensors
    /// it references), so every consumer (inspect, detect, bench) gets a checked model or an InvalidDataException
    /// naming the file and the problem.
    /// </summary>
    public static (ModelDescription Description, IReadOnlyDictionary<string, TensorData> Tensors) Load(string path, ReaderBudgets? budgets = null)
    {
        var model = Read(path, budgets);
        return (model.Description, model.Tensors);
    }

    /// <summary>
    /// A model file's bytes read from <paramref name="stream"/> (from its position to its end), with the checks and
    /// budgets of the file path: a checkpoint that needs converting says so, a broken file gives the same
    /// InvalidDataException (naming <paramref name="name"/>). A stream that cannot seek is copied to memory first, at
    /// most <see cref="ReaderBudgets.StreamBytes"/>. The stream is not closed.
    /// </summary>
    public static (ModelDescription Description, IReadOnlyDictionary<string, TensorData> Tensors) Load(Stream stream, string name = "stream", ReaderBudgets? budgets = null)
    {
        var model = Read(stream, name, budgets);
        return (model.Description, model.Tensors);
    }

    /// <summary><see cref="Load(Stream, string, ReaderBudgets?)"/>, with what the conversion ignored.</summary>
    public static LoadedModel Read(Stream stream, string name = "stream", ReaderBudgets? budgets = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        budgets ??= ReaderBudgets.Default;
        if (!stream.CanSeek) stream = new MemoryStream(InputFile.ReadAll(stream, name, "stream.bytes", budgets.StreamBytes), writable: false);
        long start = stream.Position;
        Span<byte> head = stackalloc byte[16];
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = start;
        CheckpointFormat.RequireModelFile(CheckpointFormat.Detect(head[..n], Path.GetExtension(name)), name, Path.GetFileName(name));
        return Describe(SafeTensorsFile.Read(stream, name, budgets), name);
    }

    /// <summary><see cref="Load(string, ReaderBudgets?)"/>, with what the conversion ignored (<see cref="IgnoredKey"/>).</summary>
    public static LoadedModel Read(string path, ReaderBudgets? budgets = null)
    {
        CheckpointFormat.RequireModelFile(path);
        return Describe(SafeTensorsFile.Read(path, budgets), path);
    }

    private static LoadedModel Describe(SafeTensorsFile file, string path)
    {
        var (tensors, metadata) = (file.Tensors, file.Metadata);
        if (!metadata.TryGetValue(DescriptionKey, out var json))
            throw new InvalidDataException($"{path}: safetensors file has no '{DescriptionKey}' metadata; convert the checkpoint with `ssd convert` first");
        try
        {
            var description = ModelDescription.FromJson(json, tensors.Keys.ToList());
            string[] ignored = [];
            if (metadata.TryGetValue(IgnoredKey, out var list))
            {
                try { ignored = System.Text.Json.JsonSerializer.Deserialize<string[]>(list) ?? []; }
                catch (System.Text.Json.JsonException) { throw new InvalidDataException($"'{IgnoredKey}' metadata is not a JSON list of strings"); }
                if (ignored.Any(i => i is null)) throw new InvalidDataException($"'{IgnoredKey}' metadata holds a null");
            }
            return new LoadedModel(description, tensors, ignored);
        }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }
}

/// <summary>A model file's contents: the validated description, the tensors, and what its conversion ignored.</summary>
public sealed record LoadedModel(ModelDescription Description, IReadOnlyDictionary<string, TensorData> Tensors, IReadOnlyList<string> Ignored);
