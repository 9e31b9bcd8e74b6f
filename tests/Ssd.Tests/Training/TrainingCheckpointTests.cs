using Ssd.Engine.Graph;
using Ssd.Engine.Training;
using Ssd.Engine.Training.Optim;
using Ssd.Weights.Model;
using Ssd.Weights.Model.Architecture;
using Ssd.Weights.SafeTensors;

namespace Ssd.Tests.Training;

/// <summary>The checkpoint file: everything round-trips exactly; a file that lacks a part is refused by name.</summary>
public class TrainingCheckpointTests
{
    [Test]
    public void ACheckpointRoundTripsWeightsOptimizerAndCountersExactlyAndRefusesWhatIsNotOne()
    {
        var created = VggSsd.Create(ModelFlavor.Torchvision, 300, 3, 16);
        var weights = ModelWeights.From(created.Tensors);
        Ssd.Engine.Training.Init.WeightInit.Initialize(ModelFlavor.Torchvision, weights, 11);
        var parameters = weights.Names.Select(n => new Parameter(n, weights.Shape(n), weights[n])).ToArray();
        var rng = new Random(5);
        foreach (var p in parameters) for (int i = 0; i < p.Grad.Length; i++) p.Grad[i] = (float)(rng.NextDouble() - 0.5);
        var sgd = new Sgd(ParameterGroup.Single(parameters, 0.01, 5e-4), 0.9);
        var schedule = new LrSchedule(sgd, ScheduleKind.MultiStep, 0, [3], 0.1, warmupSteps: 2);
        for (int s = 0; s < 2; s++) { sgd.Step(); schedule.Step(); }

        using var dir = Ssd.Tests.Cli.CliRunner.Temp();
        var path = dir["checkpoint.safetensors"];
        new TrainingCheckpoint(created.Description, weights.ToTensors(), sgd.ExportState(), 2, schedule.Main!.ExportState(), schedule.Warmup!.ExportState(),
            12.5, "{\"--lr\":\"0.01\"}").Save(path);
        var back = TrainingCheckpoint.Load(path);
        Assert.That(back.Step, Is.EqualTo(2));
        Assert.That(back.ElapsedSeconds, Is.EqualTo(12.5));
        Assert.That(back.Run, Does.Contain("--lr"));
        Assert.That(back.MainSchedule, Is.EqualTo(schedule.Main.ExportState()));
        Assert.That(back.WarmupSchedule, Is.EqualTo(schedule.Warmup.ExportState()));
        Assert.That(back.Model.ToJson(), Is.EqualTo(created.Description.ToJson()));
        foreach (var p in parameters) Assert.That(back.Weights[p.Name].ToFloat32(), Is.EqualTo(p.Value), p.Name);
        var state = sgd.ExportState();
        Assert.That(back.Optimizer.GroupLrs, Is.EqualTo(state.GroupLrs));
        Assert.That(back.Optimizer.Steps, Is.EqualTo(2));
        Assert.That(back.Optimizer.Buffers.Keys, Is.EquivalentTo(state.Buffers.Keys));
        foreach (var (key, buffer) in state.Buffers) Assert.That(back.Optimizer.Buffers[key], Is.EqualTo(buffer), key);

        // A model file is not a checkpoint; neither is a checkpoint without its training part.
        var model = dir["model.safetensors"];
        ModelFile.Save(model, created.Description, weights.ToTensors());
        Assert.That(() => TrainingCheckpoint.Load(model), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("ssd.train").And.Message.Contains(model));
        var file = SafeTensorsFile.Read(path);
        var meta = file.Metadata.Where(m => m.Key != SafeTensorsFile.MetadataKey).ToDictionary(m => m.Key, m => m.Value);
        meta[TrainingCheckpoint.MetadataKey] = "{\"format\":1,\"step\":-4,\"elapsedSeconds\":0,\"run\":{}}";
        SafeTensorsFile.Write(dir["bad.safetensors"], file.Tensors.Values, meta);
        Assert.That(() => TrainingCheckpoint.Load(dir["bad.safetensors"]), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("step -4"));
    }
}
