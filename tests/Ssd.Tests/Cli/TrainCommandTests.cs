using System.Text.Json;
using Ssd.Cli.Training;
using Ssd.Data.Coco;
using Ssd.Engine.Backends.Cpu;
using Ssd.Engine.Graph;
using Ssd.Engine.Training;
using Ssd.Engine.Training.Init;
using Ssd.Engine.Training.Optim;
using Ssd.Tests.Acceptance;
using Ssd.Weights.Model;
using Ssd.Weights.Model.Architecture;

namespace Ssd.Tests.Cli;

/// <summary>`ssd train`: a tiny run writes its model and log, the log's first loss is the engine's on that batch, and
/// bad arguments or data give the documented exit codes.</summary>
public class TrainCommandTests
{
    private static string Instances => PeerFixtures.Generated(Path.Combine("train_step", "torchvision"), "instances.json", "make_train_step_fixtures.py");
    private static string Data => $"coco:{Instances}:{Path.Combine(Path.GetDirectoryName(Instances)!, "images")}";

    private static string NewRunDir() => Path.Combine(Path.GetTempPath(), "ssd-train-" + Guid.NewGuid().ToString("N"));

    [Test]
    public void ATinyRunWritesTheModelAndALogWhoseFirstLossIsTheEngines()
    {
        var run = NewRunDir();
        try
        {
            var r = CliRunner.Run("train", "--arch", "ssd300-vgg16", "--width-divisor", "16", "--data", Data, "--out", run, "--batch", "2",
                "--steps", "2", "--augment", "none", "--no-shuffle", "--seed", "5", "--lr", "1e-3", "--backend", "cpu");
            TestContext.Out.WriteLine(r);
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            var lines = File.ReadAllLines(Path.Combine(run, "log.jsonl"));
            Assert.That(lines, Has.Length.EqualTo(2));
            var first = JsonDocument.Parse(lines[0]).RootElement;
            Assert.That(first.GetProperty("step").GetInt64(), Is.EqualTo(1));
            Assert.That(JsonDocument.Parse(lines[1]).RootElement.GetProperty("step").GetInt64(), Is.EqualTo(2));
            foreach (var key in new[] { "loss", "loc_loss", "conf_loss", "lr", "images_per_s" })
                Assert.That(double.IsFinite(first.GetProperty(key).GetDouble()), $"{key} in the log");
            Assert.That(first.GetProperty("lr").GetDouble(), Is.EqualTo(1e-3));
            Assert.That(first.TryGetProperty("grad_norm", out _), Is.False, "no grad_norm without --clip-grad-norm");

            // The same model built here, its loss on images 0 and 1 of the set.
            var set = CocoDataSet.Load(Instances, Path.Combine(Path.GetDirectoryName(Instances)!, "images"));
            var created = VggSsd.Create(ModelFlavor.Torchvision, 300, set.Classes.Count + 1, 16);
            var weights = ModelWeights.From(created.Tensors);
            WeightInit.Initialize(ModelFlavor.Torchvision, weights, 5);
            using var backend = new CpuBackend();
            using var trainer = Trainer.Create(created.Description, weights, backend, 2, ps => new Sgd(ParameterGroup.Single(ps, 1e-3, 5e-4), 0.9));
            var batch = new TrainingBatches(set, ModelFlavor.Torchvision, created.Description.Input, 2).Prepare([0, 1]);
            var loss = trainer.Evaluate(batch.Input, batch.Truths);
            Assert.That(first.GetProperty("loss").GetDouble(), Is.EqualTo(loss.Loss).Within(1e-6 * Math.Abs(loss.Loss)), "the log's first loss is the engine's");
            Assert.That(first.GetProperty("loc_loss").GetDouble(), Is.EqualTo(loss.LocLoss).Within(1e-6 * Math.Abs(loss.LocLoss)));

            // The model is ready for detect, with the tensor names of the model it started from.
            var saved = ModelFile.Load(Path.Combine(run, "model.safetensors"));
            Assert.That(saved.Tensors.Keys, Is.EquivalentTo(created.Tensors.Keys));
            Assert.That(saved.Description.PostProcess.ClassNames, Is.EqualTo(new[] { "background", "red", "green", "blue" }));
            var d = CliRunner.Run("detect", "--model", Path.Combine(run, "model.safetensors"), "--backend", "cpu",
                Path.Combine(Path.GetDirectoryName(Instances)!, "images", "img0.png"));
            Assert.That(d.Code, Is.EqualTo(0), d.ToString());
        }
        finally
        {
            if (Directory.Exists(run)) Directory.Delete(run, true);
        }
    }

    /// <summary>--augment ssd trains, and the run is a function of the seed: the same seed gives the same losses.</summary>
    [Test]
    public void AugmentedTrainingIsReproducibleFromTheSeed()
    {
        string[] Losses(string run, string seed)
        {
            var r = CliRunner.Run("train", "--arch", "ssd300-vgg16", "--width-divisor", "16", "--data", Data, "--out", run, "--steps", "2",
                "--batch", "2", "--augment", "ssd", "--seed", seed, "--backend", "cpu");
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            return [.. File.ReadAllLines(Path.Combine(run, "log.jsonl")).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("loss").GetRawText())];
        }
        string a = NewRunDir(), b = NewRunDir(), c = NewRunDir();
        try
        {
            var first = Losses(a, "3");
            Assert.That(first, Has.Length.EqualTo(2));
            Assert.That(Losses(b, "3"), Is.EqualTo(first), "same seed, same augmented batches");
            Assert.That(Losses(c, "4"), Is.Not.EqualTo(first), "another seed, other batches");
        }
        finally
        {
            foreach (var d in new[] { a, b, c }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    /// <summary>A bad --clip-grad-norm or --augment is a usage error (exit 2) naming the option, with no trace and no run folder.</summary>
    [TestCase("--clip-grad-norm", "0")]
    [TestCase("--clip-grad-norm", "-1")]
    [TestCase("--clip-grad-norm", "abc")]
    [TestCase("--clip-grad-norm", "NaN")]
    [TestCase("--clip-grad-norm", "1e999")]
    [TestCase("--augment", "bogus")]
    public void ABadClipNormOrAugmentationIsAUsageErrorAndWritesNothing(string option, string value)
    {
        var run = NewRunDir();
        try
        {
            var r = CliRunner.Run("train", "--arch", "ssd300-vgg16", "--width-divisor", "16", "--data", Data, "--out", run, "--steps", "1",
                "--backend", "cpu", option, value).AssertCleanErrors();
            TestContext.Out.WriteLine(r);
            Assert.That(r.Code, Is.EqualTo(2), r.ToString());
            Assert.That(r.Err, Does.Contain(option).And.Contain(value == "1e999" ? "" : value), "the message names the option and the value");
            Assert.That(Directory.Exists(run), Is.False, "no run folder");
        }
        finally
        {
            if (Directory.Exists(run)) Directory.Delete(run, true);
        }
    }

    [Test]
    public void BadArgumentsAndDataGiveTheDocumentedExitCodes()
    {
        var run = NewRunDir();
        try
        {
            string[] Args(params string[] extra) => ["train", "--arch", "ssd300-vgg16", "--width-divisor", "16", "--out", run, "--steps", "1", .. extra];
            Assert.That(CliRunner.Run(Args("--data", Data, "--augment", "crop")).AssertCleanErrors().Code, Is.EqualTo(2), "an unknown augmentation");
            Assert.That(CliRunner.Run(Args("--data", Data, "--epochs", "1")).AssertCleanErrors().Code, Is.EqualTo(2), "two limits");
            Assert.That(CliRunner.Run(Args("--data", Data, "--schedule", "multistep:5,3")).AssertCleanErrors().Code, Is.EqualTo(2), "decreasing milestones");
            Assert.That(CliRunner.Run(Args("--data", Data, "--lr", "-1")).AssertCleanErrors().Code, Is.EqualTo(2), "negative lr");
            Assert.That(CliRunner.Run(Args("--data", Data, "--model", "x.safetensors")).AssertCleanErrors().Code, Is.EqualTo(2), "both --model and --arch");
            Assert.That(CliRunner.Run(Args("--data", Data, "--arch", "ssd400")).Code, Is.EqualTo(2), "unknown arch");

            var missing = Path.Combine(run + "-data", "missing.json");
            Assert.That(CliRunner.Run(Args("--data", $"coco:{missing}")).AssertCleanErrors().Code, Is.EqualTo(1), "a missing instances file is bad data");
            Directory.CreateDirectory(run + "-data");
            File.WriteAllText(Path.Combine(run + "-data", "broken.json"), "{\"images\": [");
            Assert.That(CliRunner.Run(Args("--data", $"coco:{Path.Combine(run + "-data", "broken.json")}")).AssertCleanErrors().Code, Is.EqualTo(1), "broken JSON");
            Assert.That(CliRunner.Run("train", "--model", Path.Combine(run + "-data", "none.safetensors"), "--data", Data, "--out", run, "--steps", "1")
                .AssertCleanErrors().Code, Is.EqualTo(3), "a missing model file");
            Assert.That(File.Exists(Path.Combine(run, "model.safetensors")), Is.False, "nothing written by a failed run");
        }
        finally
        {
            if (Directory.Exists(run)) Directory.Delete(run, true);
            if (Directory.Exists(run + "-data")) Directory.Delete(run + "-data", true);
        }
    }
}
