using System.Text.Json;
using Ssd.Engine.Training.Optim;
using Ssd.Weights.Model;
using Ssd.Weights.SafeTensors;
using Ssd.Weights.Tensors;

namespace Ssd.Engine.Training;

/// <summary>
/// Everything a training run carries from one step to the next, in one safetensors file, so that a run resumed from
/// it continues bit for bit as the run that was not stopped (same machine and thread count): the model's description
/// ("ssd.model") and its float32 weights (under their own names), the optimizer's state (its buffers as
/// "optimizer/PARAM/BUFFER" tensors, the rest under "ssd.optimizer": steps, hyper-parameters, each group's current
/// rate), and under "ssd.train" the optimizer steps taken (= batches consumed: the sampler and every augmentation draw
/// are pure functions of the seed and the batch position, so the step is their whole state), the schedulers'
/// counters, the training wall time so far (for a time budget), and the run's options (a JSON object the trainer
/// defines). Written atomically (<see cref="SafeTensorsFile.Write"/>): a failure or a signal leaves the previous
/// checkpoint as it was.
/// </summary>
public sealed record TrainingCheckpoint(ModelDescription Model, IReadOnlyDictionary<string, TensorData> Weights, OptimizerState Optimizer,
    long Step, string? MainSchedule, string? WarmupSchedule, double ElapsedSeconds, string Run)
{
    /// <summary>The checkpoint's file name in a run's output folder.</summary>
    public const string FileName = "checkpoint.safetensors";
    /// <summary>Metadata key of the training header (step, schedules, time, options).</summary>
    public const string MetadataKey = "ssd.train";
    private const string OptimizerPrefix = "optimizer/";
    private const int Format = 1;

    private sealed record Header(int Format, long Step, string? MainSchedule, string? WarmupSchedule, double ElapsedSeconds, JsonElement Run);

    /// <summary>Writes the checkpoint atomically.</summary>
    /// <param name="path">The safetensors file.</param>
    /// <exception cref="InvalidDataException">A weight's name clashes with the optimizer's tensors.</exception>
    public void Save(string path)
    {
        if (Weights.Keys.FirstOrDefault(n => n.StartsWith(OptimizerPrefix, StringComparison.Ordinal)) is { } clash)
            throw new ArgumentException($"checkpoint: model tensor '{clash}' would clash with the optimizer's tensors");
        ArgumentOutOfRangeException.ThrowIfNegative(Step);
        var (optimizerTensors, optimizerMeta) = Optimizer.ToTensors(OptimizerPrefix);
        using var run = JsonDocument.Parse(Run);
        var header = JsonSerializer.Serialize(new Header(Format, Step, MainSchedule, WarmupSchedule, ElapsedSeconds, run.RootElement), Json);
        var metadata = new Dictionary<string, string>
        {
            [ModelFile.DescriptionKey] = Model.ToJson(),
            [OptimizerState.MetadataKey] = optimizerMeta,
            [MetadataKey] = header,
        };
        SafeTensorsFile.Write(path, Weights.Values.OrderBy(t => t.Name, StringComparer.Ordinal).Concat(optimizerTensors), metadata);
    }

    /// <summary>Reads a checkpoint; anything malformed or missing gives an InvalidDataException naming the file.</summary>
    public static TrainingCheckpoint Load(string path)
    {
        var file = SafeTensorsFile.Read(path);
        try
        {
            string Meta(string key) => file.Metadata.TryGetValue(key, out var v) ? v
                : throw new InvalidDataException($"no '{key}' metadata: not a checkpoint written by `ssd train`");
            var header = Meta(MetadataKey);
            var weights = file.Tensors.Where(t => !t.Key.StartsWith(OptimizerPrefix, StringComparison.Ordinal)).ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);
            var model = ModelDescription.FromJson(Meta(ModelFile.DescriptionKey), weights.Keys.ToList());
            var optimizer = OptimizerState.FromTensors(file.Tensors, Meta(OptimizerState.MetadataKey), OptimizerPrefix);
            Header? h;
            try { h = JsonSerializer.Deserialize<Header>(header, Json); }
            catch (JsonException e) { throw new InvalidDataException($"'{MetadataKey}' metadata is not valid JSON ({e.Message})", e); }
            if (h is null || h.Format != Format) throw new InvalidDataException($"'{MetadataKey}' metadata: format {h?.Format} is not {Format}");
            if (h.Step < 0 || !(h.ElapsedSeconds >= 0 && double.IsFinite(h.ElapsedSeconds))) throw new InvalidDataException($"'{MetadataKey}' metadata: step {h.Step}, elapsed {h.ElapsedSeconds} s");
            if (h.Run.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"'{MetadataKey}' metadata: the run's options are not an object");
            if (weights.Values.FirstOrDefault(t => t.DType != TensorDType.Float32) is { } other)
                throw new InvalidDataException($"tensor '{other.Name}' is {other.DType}, a checkpoint's weights are float32");
            return new TrainingCheckpoint(model, weights, optimizer, h.Step, h.MainSchedule, h.WarmupSchedule, h.ElapsedSeconds, h.Run.GetRawText());
        }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
