using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ssd.Cli.Training;
using Ssd.Engine.Training;
using Ssd.Engine.Training.Optim;
using Ssd.Tests.Acceptance;
using Ssd.Weights.Model;
using Ssd.Weights.SafeTensors;

namespace Ssd.Tests.Cli;

/// <summary>
/// `ssd train` for people (issue 12): checkpoints and a resume that equals the run that was not stopped, Ctrl+C,
/// conflicting resume options, the data set check, evaluation during training, the prefetch pipeline's determinism.
/// Tiny networks (width / 16) on the four-image set of the training-step fixtures: a few seconds each.
/// </summary>
public class TrainRunTests
{
    private static string Instances => PeerFixtures.Generated(Path.Combine("train_step", "torchvision"), "instances.json", "make_train_step_fixtures.py");
    private static string Images => Path.Combine(Path.GetDirectoryName(Instances)!, "images");
    private static string Data => $"coco:{Instances}:{Images}";

    /// <summary>A run that exercises every piece of state: shuffled epochs, augmentation draws, warm-up and a milestone, momentum.</summary>
    private static string[] Train(string run, int steps, params string[] extra) => TrainOn("cpu", run, steps, extra);

    private static string[] TrainOn(string backend, string run, int steps, params string[] extra) =>
        ["train", "--arch", "ssd300-vgg16", "--width-divisor", "16", "--data", Data, "--out", run, "--batch", "2", "--steps", steps.ToString(),
         "--augment", "ssd", "--seed", "7", "--schedule", "multistep:4", "--warmup-steps", "2", "--lr", "1e-4", "--backend", backend, .. extra];

    /// <summary>Each log line's step, losses and rate as JSON text (exact: bit for bit).</summary>
    private static string[] Losses(string run) =>
        [.. File.ReadAllLines(Path.Combine(run, "log.jsonl")).Select(l =>
        {
            var r = JsonDocument.Parse(l).RootElement;
            return string.Join(" ", new[] { "step", "loss", "loc_loss", "conf_loss", "lr" }.Select(k => r.GetProperty(k).GetRawText()));
        })];

    private static void AssertSameWeights(string expected, string actual)
    {
        var a = ModelFile.Load(expected).Tensors;
        var b = ModelFile.Load(actual).Tensors;
        Assert.That(b.Keys, Is.EquivalentTo(a.Keys));
        foreach (var (name, t) in a) Assert.That(b[name].Bytes, Is.EqualTo(t.Bytes), $"tensor {name}");
    }

    private static void Delete(params string[] dirs)
    {
        foreach (var d in dirs) if (Directory.Exists(d)) Directory.Delete(d, true);
    }

    private static string NewRunDir() => Path.Combine(Path.GetTempPath(), "ssd-train-" + Guid.NewGuid().ToString("N"));

    [Test]
    public void AnAdamWRunResumedEqualsTheUninterruptedRunBitForBit()
    {
        string whole = NewRunDir(), parts = NewRunDir();
        try
        {
            var r = CliRunner.Run(Train(whole, 4, "--optimizer", "adamw", "--weight-decay", "1e-4"));
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            r = CliRunner.Run(Train(parts, 2, "--optimizer", "adamw", "--weight-decay", "1e-4"));
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            var checkpoint = TrainingCheckpoint.Load(Path.Combine(parts, TrainingCheckpoint.FileName));
            Assert.That(checkpoint.Optimizer.Kind, Is.EqualTo("adamw"));
            Assert.That(checkpoint.Optimizer.Buffers.Keys, Has.Some.EndsWith("/exp_avg_sq"), "AdamW's moments are in the checkpoint");
            var conflict = CliRunner.Run("train", "--resume", parts, "--steps", "4", "--optimizer", "sgd", "--backend", "cpu");
            Assert.That(conflict.Code, Is.EqualTo(2), conflict.ToString());
            Assert.That(conflict.Err, Does.Contain("--optimizer"));
            r = CliRunner.Run("train", "--resume", parts, "--steps", "4", "--backend", "cpu");
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            Assert.That(Losses(parts), Is.EqualTo(Losses(whole)));
            AssertSameWeights(Path.Combine(whole, "model.safetensors"), Path.Combine(parts, "model.safetensors"));

            // AdamW and SGD give different updates from the same start (the option is not ignored).
            var sgd = NewRunDir();
            try
            {
                Assert.That(CliRunner.Run(Train(sgd, 2, "--weight-decay", "1e-4")).Code, Is.EqualTo(0));
                Assert.That(Losses(sgd)[1], Is.Not.EqualTo(Losses(whole)[1]));
            }
            finally { Delete(sgd); }
            var bad = CliRunner.Run(Train(NewRunDir(), 2, "--optimizer", "adam"));
            Assert.That(bad.Code, Is.EqualTo(2), bad.ToString());
            Assert.That(bad.Err, Does.Contain("--optimizer"));
        }
        finally { Delete(whole, parts); }
    }

    /// <summary>
    /// --augment flip --clip-grad-norm: every log line has the norm before clipping, the checkpoint stores the option,
    /// and a resume keeps it (the resumed run equals the uninterrupted one bit for bit; another value is refused).
    /// The clipping is not ignored: a run without it ends with other weights.
    /// </summary>
    [Test]
    public void AFlippedClippedRunLogsTheNormAndItsResumeKeepsTheClipping()
    {
        string whole = NewRunDir(), parts = NewRunDir(), free = NewRunDir();
        string[] Run(string run, int steps, params string[] extra) =>
            ["train", "--arch", "ssd300-vgg16", "--width-divisor", "16", "--data", Data, "--out", run, "--batch", "2", "--steps", steps.ToString(),
             "--augment", "flip", "--seed", "3", "--lr", "1e-2", "--backend", "cpu", .. extra];
        try
        {
            var r = CliRunner.Run(Run(whole, 3, "--clip-grad-norm", "0.05"));
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            var norms = File.ReadAllLines(Path.Combine(whole, "log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("grad_norm").GetDouble()).ToArray();
            TestContext.Out.WriteLine($"grad_norm: {string.Join(", ", norms)}");
            Assert.That(norms, Has.Length.EqualTo(3).And.All.GreaterThan(0.05), "each step's norm before clipping, above N: clipped");

            r = CliRunner.Run(Run(parts, 2, "--clip-grad-norm", "0.05"));
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            var stored = JsonSerializer.Deserialize<Dictionary<string, string?>>(TrainingCheckpoint.Load(Path.Combine(parts, TrainingCheckpoint.FileName)).Run)!;
            Assert.That(stored["--clip-grad-norm"], Is.EqualTo("0.05"), "the run's options hold the clipping");
            var conflict = CliRunner.Run("train", "--resume", parts, "--steps", "3", "--clip-grad-norm", "1", "--backend", "cpu").AssertCleanErrors();
            Assert.That(conflict.Code, Is.EqualTo(2), conflict.ToString());
            Assert.That(conflict.Err, Does.Contain("--clip-grad-norm"));
            r = CliRunner.Run("train", "--resume", parts, "--steps", "3", "--backend", "cpu");
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            Assert.That(File.ReadAllLines(Path.Combine(parts, "log.jsonl")), Is.EqualTo(File.ReadAllLines(Path.Combine(whole, "log.jsonl")))
                .Using<string>((x, y) => string.Equals(Without(x, "images_per_s", "data_wait_s"), Without(y, "images_per_s", "data_wait_s"), StringComparison.Ordinal)),
                "the same log but for the timings");
            AssertSameWeights(Path.Combine(whole, "model.safetensors"), Path.Combine(parts, "model.safetensors"));

            r = CliRunner.Run(Run(free, 3));
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            Assert.That(File.ReadAllBytes(Path.Combine(free, "model.safetensors")), Is.Not.EqualTo(File.ReadAllBytes(Path.Combine(whole, "model.safetensors"))),
                "without clipping, other weights");
        }
        finally { Delete(whole, parts, free); }
    }

    /// <summary>A log line without the named (timing) fields.</summary>
    private static string Without(string line, params string[] keys)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(line)!.AsObject();
        foreach (var k in keys) node.Remove(k);
        return node.ToJsonString();
    }

    /// <summary>On the CPU backend and on an ILGPU device (PoCL): every kernel there sums in a fixed order, so a
    /// resumed run is bit for bit the uninterrupted one on the same device too.</summary>
    [TestCase("cpu")]
    [TestCase("opencl")]
    public void ARunStoppedAtStepKAndResumedEqualsTheUninterruptedRunBitForBit(string backend)
    {
        if (backend == "opencl") _ = TestDevices.OpenCL; // ignored (failed under SSD_REQUIRE_OPENCL=1) without an OpenCL device
        string whole = NewRunDir(), parts = NewRunDir();
        try
        {
            var r = CliRunner.Run(TrainOn(backend, whole, 6));
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            r = CliRunner.Run(TrainOn(backend, parts, 3, "--checkpoint-every", "2"));
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            var checkpoint = TrainingCheckpoint.Load(Path.Combine(parts, TrainingCheckpoint.FileName));
            Assert.That(checkpoint.Step, Is.EqualTo(3));
            Assert.That(checkpoint.Optimizer.Buffers.Keys, Has.Some.EndsWith("/momentum_buffer"), "the momentum buffers are in the checkpoint");
            Assert.That(checkpoint.WarmupSchedule, Is.Not.Null);

            // Resumed with only the new limit: every other option comes from the checkpoint.
            r = CliRunner.Run("train", "--resume", parts, "--steps", "6", "--backend", backend);
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            Assert.That(r.Err, Does.Contain("resuming"));
            var expected = Losses(whole);
            Assert.That(expected, Has.Length.EqualTo(6));
            Assert.That(Losses(parts), Is.EqualTo(expected), "the same losses and rates, step by step");
            AssertSameWeights(Path.Combine(whole, "model.safetensors"), Path.Combine(parts, "model.safetensors"));
            Assert.That(TrainingCheckpoint.Load(Path.Combine(parts, TrainingCheckpoint.FileName)).Step, Is.EqualTo(6));
            Assert.That(File.ReadAllLines(Path.Combine(whole, "log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("lr").GetDouble()).Distinct().Count(),
                Is.GreaterThanOrEqualTo(3), "the test's schedule changes the rate (warm-up, milestone)");
        }
        finally { Delete(whole, parts); }
    }

    /// <summary>A time budget's cosine: the base rate until the probe step, then the cosine of the progress, each
    /// step moving it on by its share of the steps left: with a steady pace, torch's cosine over the rest of the run
    /// (checked against the closed form); with a pace that changes, a rate that falls steadily and reaches 0 at the
    /// budget's last step.</summary>
    [Test]
    public void ATimeBudgetsScheduleSpansTheBudget()
    {
        static (Sgd, RunSchedule) Make(ScheduleKind kind, double[]? milestones, long? total, int warmup = 0)
        {
            var sgd = new Sgd(ParameterGroup.Single([new Parameter("w", [1], [0f])], 0.1, 0), 0.9);
            return (sgd, new RunSchedule(sgd, kind, milestones, warmup, total));
        }
        var (opt, schedule) = Make(ScheduleKind.Cosine, null, null);
        Assert.That(schedule.ProbeStep, Is.EqualTo(10));
        Assert.That(schedule.Total, Is.Null);
        var lrs = new List<double>();
        for (long step = 1; step <= 40; step++)
        {
            lrs.Add(opt.Groups[0].Lr);
            schedule.Step(stepsLeft: 40 - step);
            if (step == schedule.ProbeStep) schedule.Begin();
        }
        Assert.That(schedule.Progress, Is.EqualTo(1));
        for (int i = 0; i < 10; i++) Assert.That(lrs[i], Is.EqualTo(0.1), $"step {i + 1}: before the probe, the base rate");
        for (int e = 0; e < 30; e++)
            Assert.That(lrs[10 + e], Is.EqualTo(0.1 * (1 + Math.Cos(Math.PI * e / 30)) / 2).Within(1e-12), $"step {11 + e}: cosine over the 30 steps left");

        // The pace doubles at step 20 (the estimate of the steps left jumps from 20 to 40) and halves again at 40:
        // the rate keeps falling, without a jump, and is 0 after the last step (60).
        var (optB, budget) = Make(ScheduleKind.Cosine, null, null);
        var rates = new List<double>();
        for (long step = 1; step <= 60; step++)
        {
            rates.Add(optB.Groups[0].Lr);
            double left = step < 20 ? 40 - step : step < 40 ? 2 * (40 - step) + 20 : 60 - step;
            budget.Step(left);
            if (step == budget.ProbeStep) budget.Begin();
        }
        Assert.That(optB.Groups[0].Lr, Is.EqualTo(0).Within(1e-15), "the budget's last step ends the cosine");
        for (int i = 11; i < 60; i++)
        {
            Assert.That(rates[i], Is.LessThan(rates[i - 1]), $"step {i + 1}: the rate falls");
            Assert.That(rates[i - 1] - rates[i], Is.LessThan(0.1 * Math.PI / 2 / 10), $"step {i + 1}: no jump");
        }

        var (opt2, fractions) = Make(ScheduleKind.MultiStep, [0.5, 0.75], 40);
        Assert.That(fractions.ProbeStep, Is.Zero, "a known length needs no estimate");
        var lrs2 = new List<double>();
        for (int step = 1; step <= 40; step++) { lrs2.Add(opt2.Groups[0].Lr); fractions.Step(); }
        Assert.That(lrs2.FindIndex(l => l < 0.1 * 0.99), Is.EqualTo(20), "x0.1 at half the run (step 21 uses it)");
        Assert.That(lrs2.FindIndex(l => l < 0.01 * 0.99), Is.EqualTo(30), "and at three quarters");
        Assert.That(() => RunSchedule.Parse("multistep:0.5,20"), Throws.ArgumentException, "steps and fractions mixed");
        Assert.That(() => RunSchedule.Parse("multistep:1.5"), Throws.ArgumentException);
    }

    [Test]
    public void ResumeRefusesOptionsThatDifferFromTheRuns()
    {
        string run = NewRunDir(), cosine = NewRunDir();
        try
        {
            Assert.That(CliRunner.Run(Train(run, 1)).Code, Is.EqualTo(0));
            var same = CliRunner.Run("train", "--resume", run, "--steps", "1", "--lr", "1e-4", "--seed", "7", "--backend", "cpu");
            Assert.That(same.Code, Is.EqualTo(0), "the run's own values may be given again: " + same);
            var lr = CliRunner.Run("train", "--resume", run, "--steps", "2", "--lr", "1e-2").AssertCleanErrors();
            Assert.That(lr.Code, Is.EqualTo(2), lr.ToString());
            Assert.That(lr.Err, Does.Contain("--lr"));
            Assert.That(CliRunner.Run("train", "--resume", run, "--steps", "2", "--no-shuffle").AssertCleanErrors().Code, Is.EqualTo(2), "another order");
            Assert.That(CliRunner.Run("train", "--resume", run, "--steps", "2", "--out", cosine).AssertCleanErrors().Code, Is.EqualTo(2), "another --out");
            Assert.That(CliRunner.Run(Train(run, 2)).AssertCleanErrors().Code, Is.EqualTo(2), "a new run into a folder with a checkpoint");
            Assert.That(CliRunner.Run("train", "--resume", cosine, "--steps", "2").AssertCleanErrors().Code, Is.EqualTo(2), "no checkpoint there");

            var c = CliRunner.Run("train", "--arch", "ssd300-vgg16", "--width-divisor", "16", "--data", Data, "--out", cosine, "--batch", "2",
                "--steps", "1", "--schedule", "cosine", "--backend", "cpu");
            Assert.That(c.Code, Is.EqualTo(0), c.ToString());
            Assert.That(CliRunner.Run("train", "--resume", cosine, "--steps", "3").AssertCleanErrors().Code, Is.EqualTo(2), "cosine spans the run's steps");

            File.WriteAllBytes(Path.Combine(run, TrainingCheckpoint.FileName), [1, 2, 3]);
            Assert.That(CliRunner.Run("train", "--resume", run, "--steps", "2").AssertCleanErrors().Code, Is.EqualTo(3), "a corrupt checkpoint");
        }
        finally { Delete(run, cosine); }
    }

    /// <summary>SIGINT to a real process: it finishes the step, writes the checkpoint and the model, exits 130; the
    /// resumed run then equals a run that was never stopped.</summary>
    [Test]
    public void CtrlCFinishesTheStepWritesACheckpointAndResumesExactly()
    {
        string stopped = NewRunDir(), whole = NewRunDir();
        try
        {
            var log = Path.Combine(stopped, "log.jsonl");
            var (r, _) = CliRunner.RunProcess(Train(stopped, 100000), timeout: TimeSpan.FromMinutes(4), whileRunning: p =>
            {
                var wait = Stopwatch.StartNew();
                while (!p.HasExited && wait.Elapsed < TimeSpan.FromMinutes(3) && (!File.Exists(log) || File.ReadAllLines(log).Length < 2)) Thread.Sleep(50);
                using var kill = Process.Start("kill", ["-INT", p.Id.ToString()]);
                kill.WaitForExit();
            });
            Assert.That(r.Code, Is.EqualTo(130), r.ToString());
            Assert.That(r.Err, Does.Contain("--resume"));
            int k = File.ReadAllLines(log).Length;
            Assert.That(k, Is.GreaterThanOrEqualTo(2));
            Assert.That(TrainingCheckpoint.Load(Path.Combine(stopped, TrainingCheckpoint.FileName)).Step, Is.EqualTo(k), "the checkpoint is at the last logged step");
            Assert.That(File.Exists(Path.Combine(stopped, "model.safetensors")));
            Assert.That(Directory.GetFiles(stopped).Select(Path.GetFileName), Has.None.EndsWith(".tmp"));

            var resumed = CliRunner.Run("train", "--resume", stopped, "--steps", (k + 1).ToString());
            Assert.That(resumed.Code, Is.EqualTo(0), resumed.ToString());
            Assert.That(CliRunner.Run(Train(whole, k + 1)).Code, Is.EqualTo(0));
            Assert.That(Losses(stopped), Is.EqualTo(Losses(whole)));
            AssertSameWeights(Path.Combine(whole, "model.safetensors"), Path.Combine(stopped, "model.safetensors"));
        }
        finally { Delete(stopped, whole); }
    }

    [Test]
    public void TheBatchesDoNotDependOnTheNumberOfDataWorkers()
    {
        string one = NewRunDir(), two = NewRunDir();
        try
        {
            var a = CliRunner.Run(Train(one, 3, "--data-workers", "1"));
            Assert.That(a.Code, Is.EqualTo(0), a.ToString());
            var b = CliRunner.Run(Train(two, 3, "--data-workers", "2"));
            Assert.That(b.Code, Is.EqualTo(0), b.ToString());
            Assert.That(Losses(two), Is.EqualTo(Losses(one)));
            foreach (var line in File.ReadAllLines(Path.Combine(one, "log.jsonl")))
                Assert.That(JsonDocument.Parse(line).RootElement.GetProperty("data_wait_s").GetDouble(), Is.GreaterThanOrEqualTo(0));
            Assert.That(a.Out, Does.Contain("waiting for data"));
            Assert.That(a.Err, Does.Contain("images/s").And.Contain("ETA"), "the plain progress lines");
        }
        finally { Delete(one, two); }
    }

    /// <summary>A copy of the four-image set with a missing image, a degenerate box and a class the model lacks.</summary>
    private static string BrokenSet(string dir, bool unknownClass)
    {
        Directory.CreateDirectory(dir);
        var json = JsonNode.Parse(File.ReadAllText(Instances))!;
        json["images"]!.AsArray().Add(new JsonObject { ["id"] = 9, ["file_name"] = "gone.png", ["width"] = 100, ["height"] = 100 });
        var anns = json["annotations"]!.AsArray();
        anns.Add(new JsonObject { ["id"] = 90, ["image_id"] = 2, ["category_id"] = 1, ["bbox"] = new JsonArray(10.0, 10.0, 0.0, 20.0), ["area"] = 0.0, ["iscrowd"] = 0 });
        if (unknownClass)
        {
            json["categories"]!.AsArray().Add(new JsonObject { ["id"] = 4, ["name"] = "yellow" });
            anns.Add(new JsonObject { ["id"] = 91, ["image_id"] = 3, ["category_id"] = 4, ["bbox"] = new JsonArray(10.0, 10.0, 50.0, 50.0), ["area"] = 2500.0, ["iscrowd"] = 0 });
        }
        var path = Path.Combine(dir, "instances.json");
        File.WriteAllText(path, json.ToJsonString());
        return $"coco:{path}:{Images}";
    }

    [Test]
    public void TheDataSetCheckListsEveryProblemOrSkipsThemWithAReport()
    {
        string run = NewRunDir(), data = NewRunDir(), tuned = NewRunDir();
        try
        {
            var broken = BrokenSet(data, unknownClass: false);
            string[] Args(string folder, string set, params string[] extra) =>
                ["train", "--arch", "ssd300-vgg16", "--width-divisor", "16", "--data", set, "--out", folder, "--batch", "2", "--steps", "1", "--backend", "cpu", .. extra];
            var r = CliRunner.Run(Args(run, broken)).AssertCleanErrors();
            Assert.That(r.Code, Is.EqualTo(5), r.ToString());
            Assert.That(r.Err, Does.Contain("gone.png").And.Contain("missing image").And.Contain("degenerate box"), "both problems, in one error");
            Assert.That(File.Exists(Path.Combine(run, "model.safetensors")), Is.False, "nothing trained");

            r = CliRunner.Run(Args(run, broken, "--skip-bad"));
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            var report = File.ReadAllText(Path.Combine(run, "data_check.txt"));
            Assert.That(report, Does.Contain("gone.png").And.Contain("degenerate box"));

            // A model with its own classes: a class it does not have is a problem too.
            var withYellow = BrokenSet(Path.Combine(data, "yellow"), unknownClass: true);
            r = CliRunner.Run("train", "--model", Path.Combine(run, "model.safetensors"), "--data", withYellow, "--out", tuned, "--batch", "2", "--steps", "1", "--backend", "cpu");
            Assert.That(r.Code, Is.EqualTo(5), r.ToString());
            Assert.That(r.Err, Does.Contain("yellow").And.Contain("unknown class").And.Contain("gone.png"));
            r = CliRunner.Run("train", "--model", Path.Combine(run, "model.safetensors"), "--data", withYellow, "--out", tuned, "--batch", "2", "--steps", "1", "--backend", "cpu", "--skip-bad");
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            Assert.That(ModelFile.Load(Path.Combine(tuned, "model.safetensors")).Description.PostProcess.ClassNames, Is.EqualTo(new[] { "background", "red", "green", "blue" }));
        }
        finally { Delete(run, data, tuned); }
    }

    /// <summary>--model M --classes: the confidence heads start afresh for the new classes, every other tensor is M's;
    /// --freeze-backbone keeps the backbone's values bit for bit while the rest trains.</summary>
    [Test]
    public void FineTuningOnNewClassesKeepsTheBackboneAndRebuildsTheHeads()
    {
        string first = NewRunDir(), tuned = NewRunDir(), refused = NewRunDir();
        try
        {
            Assert.That(CliRunner.Run("train", "--arch", "ssd300-vgg16", "--width-divisor", "16", "--data", Data, "--out", first, "--batch", "2", "--steps", "1",
                "--backend", "cpu").Code, Is.EqualTo(0));
            var start = ModelFile.Load(Path.Combine(first, "model.safetensors")).Tensors;
            string[] Tune(string run, params string[] extra) =>
                ["train", "--model", Path.Combine(first, "model.safetensors"), "--classes", "blue,red", "--data", Data, "--out", run, "--batch", "2",
                 "--steps", "2", "--lr", "1e-4", "--backend", "cpu", .. extra];
            var r = CliRunner.Run(Tune(refused)).AssertCleanErrors();
            Assert.That(r.Code, Is.EqualTo(5), "green is not one of --classes: " + r);
            Assert.That(r.Err, Does.Contain("green"));

            r = CliRunner.Run(Tune(tuned, "--freeze-backbone", "--skip-bad"));
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            var model = ModelFile.Load(Path.Combine(tuned, "model.safetensors"));
            Assert.That(model.Description.PostProcess.ClassNames, Is.EqualTo(new[] { "background", "blue", "red" }));
            Assert.That(model.Tensors.Keys, Is.EquivalentTo(start.Keys), "the same layout, tensor for tensor");
            int frozen = 0, trained = 0, rebuilt = 0;
            foreach (var (name, t) in model.Tensors)
            {
                var role = Ssd.Engine.Training.Init.WeightInit.RoleFromName(ModelFlavor.Torchvision, name);
                if (!t.Shape.SequenceEqual(start[name].Shape)) { rebuilt++; Assert.That(name, Does.Contain("classification"), "only confidence heads change shape"); continue; }
                bool same = t.Bytes.AsSpan().SequenceEqual(start[name].Bytes);
                if (role == Ssd.Engine.Training.Init.ParameterRole.Backbone) { frozen++; Assert.That(same, $"{name}: frozen"); }
                else if (!same) trained++;
            }
            Assert.That(frozen, Is.GreaterThan(0));
            Assert.That(rebuilt, Is.EqualTo(12), "one confidence head (weight, bias) per feature map");
            Assert.That(trained, Is.GreaterThan(0), "the extras and heads train");
        }
        finally { Delete(first, tuned, refused); }
    }

    [Test]
    public void EvaluationDuringTrainingLogsSsdEvalsNumbersAndDrawsTheCurves()
    {
        string run = NewRunDir();
        try
        {
            var r = CliRunner.Run("train", "--arch", "ssd300-vgg16", "--width-divisor", "16", "--data", Data, "--out", run, "--batch", "2", "--steps", "3",
                "--val-data", Data, "--eval-every", "2", "--val-metric", "voc2010", "--backend", "cpu");
            Assert.That(r.Code, Is.EqualTo(0), r.ToString());
            var lines = File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
            Assert.That(lines.Select(l => l.GetProperty("step").GetInt64()), Is.EqualTo(new long[] { 2, 3 }), "every 2 steps and at the end");
            Assert.That(lines[0].GetProperty("metric").GetString(), Is.EqualTo("voc2010"));

            // The last line is what `ssd eval` says of the model the run wrote.
            var json = Path.Combine(run, "eval.json");
            var e = CliRunner.Run("eval", "--model", Path.Combine(run, "model.safetensors"), "--ground-truth", $"coco:{Instances}:{Images}", "--metric", "voc2010",
                "--backend", "cpu", "--json", json);
            Assert.That(e.Code, Is.EqualTo(0), e.ToString());
            var expected = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
            Assert.That(lines[1].GetProperty("mAP").ValueKind, Is.EqualTo(expected.GetProperty("mAP").ValueKind));
            if (expected.GetProperty("mAP").ValueKind == JsonValueKind.Number)
                Assert.That(lines[1].GetProperty("mAP").GetDouble(), Is.EqualTo(expected.GetProperty("mAP").GetDouble()));

            var png = Ssd.Imaging.ImageDecoder.Load(Path.Combine(run, "curves.png"));
            Assert.That(png.Height, Is.GreaterThan(png.Width / 2), "two panels: loss and the metric");
        }
        finally { Delete(run); }
    }
}
