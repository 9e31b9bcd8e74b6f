using Ssd.Weights.SafeTensors;
using Ssd.Weights.Tensors;

namespace Ssd.Weights.Model;

/// <summary>
/// A converted model on disk: a safetensors file whose tensors are the model's float32 weights and whose
/// string metadata holds the description JSON under the key "ssd.model".
/// </summary>
public static class ModelFile
{
    public const string DescriptionKey = "ssd.model";

    public static void Save(string path, ModelDescription description, IReadOnlyDictionary<string, TensorData> tensors)
    {
        description.Validate(tensors.Keys.ToList());
        var metadata = new Dictionary<string, string> { [DescriptionKey] = description.ToJson() };
        SafeTensorsFile.Write(path, tensors.Values.OrderBy(t => t.Name, StringComparer.Ordinal), metadata);
    }

    public static (ModelDescription Description, IReadOnlyDictionary<string, TensorData> Tensors) Load(string path)
    {
        CheckpointFormat.RequireModelFile(path);
        var file = SafeTensorsFile.Read(path);
        var (tensors, metadata) = (file.Tensors, file.Metadata);
        if (!metadata.TryGetValue(DescriptionKey, out var json))
            throw new InvalidDataException($"{path}: safetensors file has no '{DescriptionKey}' metadata; convert the checkpoint with `ssd convert` first");
        var description = ModelDescription.FromJson(json);
        description.Validate(tensors.Keys.ToList());
        return (description, tensors);
    }
}
