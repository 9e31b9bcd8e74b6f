using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Ssd.Cli.Training;
using Ssd.Data;
using Ssd.Engine.Detection;
using Ssd.Engine.Graph;
using Ssd.Engine.Training;
using Ssd.Engine.Training.Data.Augment;
using Ssd.Engine.Training.Init;
using Ssd.Engine.Training.Optim;
using Ssd.Weights.IO;
using Ssd.Weights.Model;
using Ssd.Weights.Model.Architecture;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd train --model INIT.safetensors | --arch ssd300-vgg16|ssd512-vgg16 [--width-divisor N] [--flavor F]
/// --data coco:INSTANCES.json:IMAGE_DIR | voc:VOC_DIR:SPLIT --out RUN_DIR [--batch 8] [--steps N | --epochs E |
/// --max-minutes M] [--lr 1e-3] [--momentum 0.9] [--weight-decay 5e-4] [--schedule constant|multistep:S1,S2|cosine]
/// [--warmup-steps W] [--augment none|ssd] [--shuffle|--no-shuffle] [--seed S] [--backend B]`: SGD (torch's rule) on
/// the engine, the flavour's MultiBox loss. Writes RUN_DIR/log.jsonl (one object per optimizer step, the loss before
/// that step's update) and RUN_DIR/model.safetensors (the weights at the end, or after the last good step when
/// training stops on a non-finite loss; the tensor names of the model it started from).
/// Exit codes: 0 done, 1 bad data (annotations, images), 2 bad usage, 3 the model or the device, or training stopped
/// on a non-finite loss (<see cref="NonFiniteLossException.ExitCode"/>; the model is still written).
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "start from this model file (written by `ssd convert` or an earlier `ssd train`)" };
        var arch = new Option<string?>("--arch") { Description = "start from scratch: ssd300-vgg16 or ssd512-vgg16, the flavour's initialisation; classes from the data set" };
        var widthDivisor = CliOptions.Int("--width-divisor", 1, 1, "--arch: divide every layer's channels by N (small models for experiments)");
        var flavor = new Option<string>("--flavor") { Description = "--arch: torchvision, ssd.pytorch or caffe (layout, input, priors, loss)", DefaultValueFactory = _ => "torchvision" };
        var data = new Option<string>("--data") { Description = "coco:INSTANCES.json:IMAGE_DIR or voc:VOC_DIR:SPLIT; several joined with +", Required = true };
        var outDir = new Option<string>("--out", "-o") { Description = "the run folder: model.safetensors and log.jsonl", Required = true };
        var batch = CliOptions.Int("--batch", 8, 1, "images per optimizer step");
        var steps = new Option<long?>("--steps") { Description = "optimizer steps to run" };
        var epochs = new Option<double?>("--epochs") { Description = "passes over the data set (steps = ceil(E x images / batch))" };
        var minutes = new Option<double?>("--max-minutes") { Description = "stop after the step that passes this much wall time" };
        var lr = new Option<double>("--lr") { Description = "learning rate", DefaultValueFactory = _ => 1e-3 };
        var momentum = new Option<double>("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => 0.9 };
        var decay = new Option<double>("--weight-decay") { Description = "L2 weight decay (torch.optim.SGD's)", DefaultValueFactory = _ => 5e-4 };
        var schedule = new Option<string>("--schedule") { Description = "constant, multistep:S1,S2 (x0.1 at those steps) or cosine", DefaultValueFactory = _ => "constant" };
        var warmup = CliOptions.Int("--warmup-steps", 0, 0, "linear warm-up from lr / 1000 over this many steps");
        var augment = new Option<string>("--augment") { Description = "none, or ssd: the paper's augmentation in the flavour's variant (torchvision, ssd.pytorch; Caffe's is not built yet)", DefaultValueFactory = _ => "none" };
        var shuffle = new Option<bool>("--shuffle") { Description = "a new random image order each pass (the default)" };
        var noShuffle = new Option<bool>("--no-shuffle") { Description = "the data set's file order: batch i holds images i*B .. i*B+B-1, wrapping" };
        var seed = CliOptions.Int("--seed", 0, 0, "seed of the initialisation and the shuffling");
        var backend = CliOptions.Backend();
        var command = new Command("train", "Train an SSD on a VOC or COCO data set (SGD, the flavour's MultiBox loss).")
            { model, arch, widthDivisor, flavor, data, outDir, batch, steps, epochs, minutes, lr, momentum, decay, schedule, warmup, augment, shuffle, noShuffle, seed, backend };
        command.SetAction(parse => Run(new Arguments(parse.GetValue(model), parse.GetValue(arch), parse.GetValue(widthDivisor), parse.GetValue(flavor)!,
            parse.GetValue(data)!, parse.GetValue(outDir)!, parse.GetValue(batch), parse.GetValue(steps), parse.GetValue(epochs), parse.GetValue(minutes),
            parse.GetValue(lr), parse.GetValue(momentum), parse.GetValue(decay), parse.GetValue(schedule)!, parse.GetValue(warmup), parse.GetValue(augment)!,
            parse.GetValue(shuffle), parse.GetValue(noShuffle), parse.GetValue(seed), parse.GetValue(backend))));
        return command;
    }

    private sealed record Arguments(string? Model, string? Arch, int WidthDivisor, string Flavor, string Data, string Out, int Batch, long? Steps,
        double? Epochs, double? Minutes, double Lr, double Momentum, double WeightDecay, string Schedule, int WarmupSteps, string Augment,
        bool Shuffle, bool NoShuffle, int Seed, DetectorBackend Backend);

    private static int Run(Arguments a)
    {
        // 1. Usage, before any work.
        if ((a.Model is null) == (a.Arch is null)) throw CliException.Usage("give either --model (a model file to start from) or --arch (a new network)");
        int size = a.Arch switch
        {
            null => 0,
            "ssd300-vgg16" => 300,
            "ssd512-vgg16" => 512,
            _ => throw CliException.Usage($"--arch: '{a.Arch}' is not ssd300-vgg16 or ssd512-vgg16"),
        };
        var flavor = a.Flavor switch
        {
            "torchvision" => ModelFlavor.Torchvision,
            "ssd.pytorch" => ModelFlavor.SsdPytorch,
            "caffe" => ModelFlavor.Caffe,
            _ => throw CliException.Usage($"--flavor: '{a.Flavor}' is not torchvision, ssd.pytorch or caffe"),
        };
        if (a.Augment is not ("none" or "ssd")) throw CliException.Usage($"--augment: '{a.Augment}' is not none or ssd");
        if (a.Shuffle && a.NoShuffle) throw CliException.Usage("give --shuffle or --no-shuffle, not both");
        int limits = (a.Steps is null ? 0 : 1) + (a.Epochs is null ? 0 : 1) + (a.Minutes is null ? 0 : 1);
        if (limits != 1) throw CliException.Usage("give exactly one of --steps, --epochs and --max-minutes");
        if (a.Steps is <= 0) throw CliException.Usage($"--steps: {a.Steps} must be positive");
        if (a.Epochs is { } e && !(e > 0 && double.IsFinite(e))) throw CliException.Usage($"--epochs: {e} must be positive");
        if (a.Minutes is { } m && !(m > 0 && double.IsFinite(m))) throw CliException.Usage($"--max-minutes: {m} must be positive");
        if (!(a.Lr > 0 && double.IsFinite(a.Lr))) throw CliException.Usage($"--lr: {a.Lr} must be a positive number");
        if (!(a.Momentum >= 0 && a.Momentum < 1)) throw CliException.Usage($"--momentum: {a.Momentum} must be in [0, 1)");
        if (!(a.WeightDecay >= 0 && double.IsFinite(a.WeightDecay))) throw CliException.Usage($"--weight-decay: {a.WeightDecay} must not be negative");
        var (kind, milestones) = ParseSchedule(a.Schedule);
        if (kind == ScheduleKind.Cosine && a.Minutes is not null) throw CliException.Usage("--schedule cosine needs the number of steps: use --steps or --epochs");
        IReadOnlyList<DataSetSpec> specs;
        try { specs = DataSetSpec.Parse(a.Data); }
        catch (ArgumentException ex) { throw CliException.Usage($"--data: {ex.Message}", ex); }
        string modelPath = Path.Combine(a.Out, "model.safetensors"), logPath = Path.Combine(a.Out, "log.jsonl");
        var reads = specs.Select(s => s.Path).Concat(a.Model is null ? [] : [a.Model]).ToList();
        OutputPaths.CheckFolder(a.Out, "--out");
        OutputPaths.CheckFile(modelPath, "--out", reads);
        OutputPaths.CheckFile(logPath, "--out", reads);

        // 2. The data (exit 1) and the model (exit 3).
        DetectionDataSet set;
        try { set = DetectionDataSet.Combine([.. specs.Select(s => s.Load())]); }
        catch (Exception ex) when (ex is DataSetException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new CliException(ex.Message, ExitCodes.InputsFailed, ex);
        }
        if (set.Images.Count == 0) throw new CliException($"{a.Data}: the data set has no images", ExitCodes.InputsFailed);
        foreach (var issue in set.Issues) Console.Error.WriteLine($"warning: {issue.File}: {issue.Field}: {issue.Problem} (object skipped)");
        var classNames = (string[])["background", .. set.Classes.Select(c => c.Name)];

        ModelDescription description;
        ModelWeights weights;
        if (a.Model is not null)
        {
            var loaded = ModelFiles.Load(a.Model);
            description = loaded.Description;
            weights = ModelWeights.From(loaded.Tensors);
            if (description.PostProcess.NumClasses != classNames.Length)
                throw CliException.Usage($"{a.Model} has {description.PostProcess.NumClasses} classes (with the background), the data set {classNames.Length}: "
                    + "start from --arch or a model converted for these classes");
        }
        else
        {
            var created = VggSsd.Create(flavor, size, classNames.Length, a.WidthDivisor);
            description = created.Description with { PostProcess = created.Description.PostProcess with { ClassNames = classNames } };
            weights = ModelWeights.From(created.Tensors);
            WeightInit.Initialize(flavor, weights, (ulong)a.Seed);
        }

        Trainer trainer;
        Engine.Backends.IBackend device;
        try { device = BackendFactory.Create(a.Backend); }
        catch (Exception ex) when (ex is not OutOfMemoryException) { throw CliException.Model($"the {DetectorBackendNames.Name(a.Backend)} backend cannot run: {ex.Message}", ex); }
        using var owned = device;
        try
        {
            trainer = Trainer.Create(description, weights, device, a.Batch, ps => new Sgd(ParameterGroup.Single(ps, a.Lr, a.WeightDecay), a.Momentum));
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidDataException or ArgumentException)
        {
            throw CliException.Model($"cannot train {a.Model ?? a.Arch} on the {DetectorBackendNames.Name(a.Backend)} backend: {ex.Message}", ex);
        }
        using var _ = trainer;

        long total = a.Steps ?? (a.Epochs is { } ep ? (long)Math.Ceiling(ep * set.Images.Count / a.Batch) : long.MaxValue);
        var lrSchedule = new LrSchedule(trainer.Optimizer, kind, kind == ScheduleKind.Cosine ? checked((int)total) : 0, milestones, 0.1, a.WarmupSteps);
        IAugmentation augmentation;
        try { augmentation = Augmentation.Parse(a.Augment, description.Flavor); }
        catch (NotSupportedException ex) { throw CliException.Usage($"--augment {a.Augment}: {ex.Message}", ex); }
        var batches = new TrainingBatches(set, description.Flavor, description.Input, a.Batch, shuffle: !a.NoShuffle, seed: a.Seed, augmentation);

        // 3. The loop: one log line per step, the model at the end (also after a non-finite loss: the last good weights).
        var clock = Stopwatch.StartNew();
        var log = new StringBuilder();
        int code = ExitCodes.Ok;
        for (long s = 1; s <= total; s++)
        {
            TrainingBatch b;
            try { b = batches.Next(); }
            catch (Exception ex) when (ex is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"error: step {s}: {ErrorReport.Describe(ex)}");
                code = ExitCodes.InputsFailed;
                break;
            }
            TrainStepResult r;
            try { r = trainer.Step(b.Input, b.Truths, b.Names); }
            catch (NonFiniteLossException ex)
            {
                Console.Error.WriteLine($"error: {ex.Message}");
                code = NonFiniteLossException.ExitCode;
                break;
            }
            log.Append(JsonSerializer.Serialize(new
            {
                step = r.Step, loss = r.Loss.Loss, loc_loss = r.Loss.LocLoss, conf_loss = r.Loss.ConfLoss, lr = r.Lr,
                images_per_s = a.Batch / Math.Max(r.Elapsed.TotalSeconds, 1e-9),
            })).Append('\n');
            AtomicFile.WriteAllText(logPath, log.ToString());
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {r.Step}: loss {r.Loss.Loss:G6} (loc {r.Loss.LocLoss:G6}, conf {r.Loss.ConfLoss:G6}) lr {r.Lr:G4}, {r.Elapsed.TotalSeconds:F2} s"));
            lrSchedule.Step();
            if (a.Minutes is { } max && clock.Elapsed.TotalMinutes >= max) break;
        }
        if (log.Length == 0) AtomicFile.WriteAllText(logPath, "");
        ModelFile.Save(modelPath, description, weights.ToTensors());
        Console.WriteLine($"{trainer.Steps} steps; wrote {modelPath} and {logPath}");
        return code;
    }

    private static (ScheduleKind, int[]?) ParseSchedule(string text)
    {
        if (text == "constant") return (ScheduleKind.Constant, null);
        if (text == "cosine") return (ScheduleKind.Cosine, null);
        if (text.StartsWith("multistep:", StringComparison.Ordinal))
        {
            var parts = text["multistep:".Length..].Split(',');
            var steps = new int[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out steps[i]) || steps[i] <= 0)
                    throw CliException.Usage($"--schedule: '{parts[i]}' in '{text}' is not a positive step number");
            if (steps.Zip(steps.Skip(1)).Any(p => p.Second <= p.First)) throw CliException.Usage($"--schedule: the milestones of '{text}' must increase");
            return (ScheduleKind.MultiStep, steps);
        }
        throw CliException.Usage($"--schedule: '{text}' is not constant, multistep:S1,S2 or cosine");
    }
}
