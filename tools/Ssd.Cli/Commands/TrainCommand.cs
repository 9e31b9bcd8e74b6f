using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Ssd.Cli.Evaluation;
using Ssd.Cli.Training;
using Ssd.Data;
using Ssd.Data.Metrics;
using Ssd.Engine.Detection;
using Ssd.Engine.Graph;
using Ssd.Engine.Training;
using Ssd.Engine.Training.Data;
using Ssd.Engine.Training.Data.Augment;
using Ssd.Engine.Training.Init;
using Ssd.Engine.Training.Optim;
using Ssd.Weights;
using Ssd.Weights.IO;
using Ssd.Weights.Model;
using Ssd.Weights.Model.Architecture;
using Ssd.Weights.Tensors;
using Ssd.Weights.Torch;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd train --model INIT.safetensors | --arch ssd300-vgg16|ssd512-vgg16 [--width-divisor N] [--flavor F]
/// --data coco:INSTANCES.json:IMAGE_DIR | voc:VOC_DIR:SPLIT --out RUN_DIR [--batch 8] [--steps N | --epochs E |
/// --max-minutes M] [--lr 1e-3] [--momentum 0.9] [--weight-decay 5e-4] [--schedule constant|multistep:S1,S2|cosine]
/// [--warmup-steps W] [--augment none|ssd|flip] [--clip-grad-norm N] [--shuffle|--no-shuffle] [--seed S] [--backend B]`:
/// SGD (torch's rule) on the engine, the flavour's MultiBox loss. `--augment flip` is a random horizontal flip
/// (p 0.5) alone (<see cref="Augmentation.Flip"/>); `--clip-grad-norm N` clips the gradients' total L2 norm to N before
/// each update as torch.nn.utils.clip_grad_norm_ does (<see cref="Trainer.ClipGradientNorm"/>) and logs the norm
/// before clipping as grad_norm. Writes RUN_DIR/log.jsonl (one object per optimizer step, the loss before
/// that step's update) and RUN_DIR/model.safetensors (the weights at the end, or after the last good step when
/// training stops on a non-finite loss; the tensor names of the model it started from).
/// <para>For people (issue 12): `--checkpoint-every N` writes RUN_DIR/checkpoint.safetensors every N steps and at
/// the end (<see cref="TrainingCheckpoint"/>: weights, optimizer state, step, schedule, the run's options; atomic);
/// `--resume RUN_DIR` continues a run bit for bit (same machine and thread count): its options come from the
/// checkpoint, and one given again with another value is a usage error (the step limit may grow, except under a
/// cosine schedule, whose period it is). Ctrl+C (or SIGTERM) finishes the step, writes the checkpoint and the model,
/// and exits 130 (143); a second one stops at once. Batches are decoded and augmented ahead of the step by the
/// <see cref="Engine.Training.Data.PrefetchPipeline{T}"/> (`--data-workers`); each log line holds the time the step
/// waited for its batch (data_wait_s). `--val-data SPEC --eval-every N` scores the current weights with `ssd eval`'s
/// evaluators into RUN_DIR/metrics.jsonl; RUN_DIR/curves.png plots loss and metric against the step. Before the first
/// step the data set is checked (missing images, skipped boxes, classes the model lacks): one error listing every
/// problem (exit 5), or `--skip-bad` to train without them (listed in RUN_DIR/data_check.txt).</para>
/// Exit codes: 0 done, 1 bad data (annotations, images), 2 bad usage, 3 the model or the device, or training stopped
/// on a non-finite loss (<see cref="NonFiniteLossException.ExitCode"/>; the model is still written), 5 the data set
/// check failed (nothing trained), 130 / 143 stopped by SIGINT / SIGTERM after writing the checkpoint.
/// </summary>
public static class TrainCommand
{
    /// <summary>The options of `ssd train`, built once per command tree (a resume parses the merged options again).</summary>
    private sealed class Options
    {
        public readonly Option<string?> Model = new("--model", "-m") { Description = "start from this model file (written by `ssd convert` or an earlier `ssd train`)" };
        public readonly Option<string?> Arch = new("--arch") { Description = "start from scratch: ssd300-vgg16 or ssd512-vgg16, the flavour's initialisation; classes from the data set" };
        public readonly Option<int> WidthDivisor = CliOptions.Int("--width-divisor", 1, 1, "--arch: divide every layer's channels by N (small models for experiments)");
        public readonly Option<string> Flavor = new("--flavor") { Description = "--arch: torchvision, ssd.pytorch or caffe (layout, input, priors, loss)", DefaultValueFactory = _ => "torchvision" };
        public readonly Option<string?> Data = new("--data") { Description = "coco:INSTANCES.json:IMAGE_DIR or voc:VOC_DIR:SPLIT; several joined with + (required, except with --resume, which reads it again as first given: relative paths from the same folder)" };
        public readonly Option<string?> Out = new("--out", "-o") { Description = "the run folder: model.safetensors, log.jsonl, checkpoint.safetensors, metrics.jsonl, curves.png (required, except with --resume)" };
        public readonly Option<int> Batch = CliOptions.Int("--batch", 8, 1, "images per optimizer step");
        public readonly Option<long?> Steps = new("--steps") { Description = "optimizer steps to run (in all, resumed parts included)" };
        public readonly Option<double?> Epochs = new("--epochs") { Description = "passes over the data set (steps = ceil(E x images / batch))" };
        public readonly Option<double?> Minutes = new("--max-minutes") { Description = "stop after the step that passes this much training time (resumed parts included)" };
        public readonly Option<double> Lr = new("--lr") { Description = "learning rate", DefaultValueFactory = _ => 1e-3 };
        public readonly Option<string> Optimizer = new("--optimizer") { Description = "sgd (torch.optim.SGD) or adamw (torch.optim.AdamW, betas 0.9/0.999, eps 1e-8; --weight-decay is its decoupled decay)", DefaultValueFactory = _ => "sgd" };
        public readonly Option<double> Momentum = new("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => 0.9 };
        public readonly Option<double> Decay = new("--weight-decay") { Description = "L2 weight decay (torch.optim.SGD's)", DefaultValueFactory = _ => 5e-4 };
        public readonly Option<string> Schedule = new("--schedule") { Description = "constant, multistep:M1,M2 (x0.1 at those steps, or at those fractions of the run: multistep:0.67,0.89) or cosine; with --max-minutes, cosine and fractions span the budget", DefaultValueFactory = _ => "constant" };
        public readonly Option<int> Warmup = CliOptions.Int("--warmup-steps", 0, 0, "linear warm-up from lr / 1000 over this many steps");
        public readonly Option<string> Augment = new("--augment") { Description = "none; ssd: the paper's augmentation in the flavour's variant (torchvision's transforms, ssd.pytorch's SSDAugmentation, Caffe's batch samplers); flip: a random horizontal flip (p 0.5) only", DefaultValueFactory = _ => "none" };
        public readonly Option<double?> ClipGradNorm = CliOptions.PositiveNumber("--clip-grad-norm", "clip the gradients' total L2 norm to N before each update (torch.nn.utils.clip_grad_norm_); logged before clipping as grad_norm (default: no clipping)");
        public readonly Option<bool> Shuffle = new("--shuffle") { Description = "a new random image order each pass (the default)" };
        public readonly Option<bool> NoShuffle = new("--no-shuffle") { Description = "the data set's file order: batch i holds images i*B .. i*B+B-1, wrapping" };
        public readonly Option<int> Seed = CliOptions.Int("--seed", 0, 0, "seed of the initialisation, the shuffling and the augmentation");
        public readonly Option<string?> Classes = new("--classes") { Description = "the model's classes, comma-separated: with --model, fine-tune on them (confidence heads re-initialised, the rest kept); with --arch, instead of the data set's" };
        public readonly Option<string?> Backbone = new("--backbone") { Description = "--arch: start the base network from this ImageNet VGG-16 (torchvision's vgg16_features-amdegroot-88682ab5.pth, ssd.pytorch's vgg16_reducedfc.pth or Caffe's VGG_ILSVRC_16_layers_fc_reduced.caffemodel), as the references train SSD" };
        public readonly Option<bool> FreezeBackbone = new("--freeze-backbone") { Description = "do not update the backbone (VGG-16 to conv5_3; fc6 and fc7 in ssd.pytorch's and Caffe's layouts)" };
        public readonly Option<bool> SkipBad = new("--skip-bad") { Description = "train without the problems the data set check finds (missing images, objects of unknown classes), listed in RUN_DIR/data_check.txt" };
        public readonly Option<DetectorBackend> Backend = CliOptions.Backend();
        public readonly Option<string?> Resume = new("--resume") { Description = "continue the run in this folder from its checkpoint.safetensors (its options; the step limit may be raised)" };
        public readonly Option<long> CheckpointEvery = CliOptions.Long("--checkpoint-every", 0, 0, long.MaxValue, "write RUN_DIR/checkpoint.safetensors every N steps (0: only at the end); always at the end and on Ctrl+C");
        public readonly Option<string?> ValData = new("--val-data") { Description = "a validation set (as --data): scored during training into RUN_DIR/metrics.jsonl" };
        public readonly Option<long> EvalEvery = CliOptions.Long("--eval-every", 0, 0, long.MaxValue, "--val-data: score every N steps (0: only at the end)");
        public readonly Option<string?> ValMetric = new("--val-metric") { Description = "--val-data: voc07, voc2010 or coco (default: as ssd eval, coco for COCO sets, voc07 otherwise)" };
        public readonly Option<int> DataWorkers = CliOptions.Int("--data-workers", 0, 0, "threads decoding and augmenting batches ahead of the step (0: one on 2 cores, cores / 4 above; at most the cores)");

        /// <summary>The options that define the run: a resume takes them from the checkpoint and refuses other values.</summary>
        public Option[] Identity => [Model, Arch, WidthDivisor, Flavor, Data, Batch, Optimizer, Lr, Momentum, Decay, Schedule, Warmup, Augment, ClipGradNorm, Shuffle, NoShuffle, Seed, SkipBad, Classes, Backbone, FreezeBackbone];

        public Option[] Limits => [Steps, Epochs, Minutes];

        public Command Command()
        {
            var command = new Command("train", "Train an SSD on a VOC or COCO data set (SGD, the flavour's MultiBox loss), with checkpoints, resume and evaluation.")
            {
                Model, Arch, WidthDivisor, Flavor, Data, Out, Batch, Steps, Epochs, Minutes, Optimizer, Lr, Momentum, Decay, Schedule, Warmup, Augment, ClipGradNorm, Shuffle, NoShuffle, Seed,
                SkipBad, Classes, Backbone, FreezeBackbone, Backend, Resume, CheckpointEvery, ValData, EvalEvery, ValMetric, DataWorkers,
            };
            return command;
        }

        public Arguments Read(ParseResult p) => new(p.GetValue(Model), p.GetValue(Arch), p.GetValue(WidthDivisor), p.GetValue(Flavor)!,
            p.GetValue(Data), p.GetValue(Out), p.GetValue(Batch), p.GetValue(Steps), p.GetValue(Epochs), p.GetValue(Minutes),
            p.GetValue(Optimizer)!, p.GetValue(Lr), p.GetValue(Momentum), p.GetValue(Decay), p.GetValue(Schedule)!, p.GetValue(Warmup), p.GetValue(Augment)!, p.GetValue(ClipGradNorm),
            p.GetValue(Shuffle), p.GetValue(NoShuffle), p.GetValue(Seed), p.GetValue(SkipBad), p.GetValue(Backend), p.GetValue(Resume),
            p.GetValue(CheckpointEvery), p.GetValue(ValData), p.GetValue(EvalEvery), p.GetValue(ValMetric), p.GetValue(DataWorkers), p.GetValue(Classes), p.GetValue(FreezeBackbone), p.GetValue(Backbone));
    }

    public static Command Create()
    {
        var o = new Options();
        var command = o.Command();
        command.SetAction(parse => Run(o, parse));
        return command;
    }

    private sealed record Arguments(string? Model, string? Arch, int WidthDivisor, string Flavor, string? Data, string? Out, int Batch, long? Steps,
        double? Epochs, double? Minutes, string Optimizer, double Lr, double Momentum, double WeightDecay, string Schedule, int WarmupSteps, string Augment, double? ClipGradNorm,
        bool Shuffle, bool NoShuffle, int Seed, bool SkipBad, DetectorBackend Backend, string? Resume, long CheckpointEvery, string? ValData,
        long EvalEvery, string? ValMetric, int DataWorkers, string? Classes, bool FreezeBackbone, string? Backbone)
    {
        private static string D(double v) => v.ToString("R", CultureInfo.InvariantCulture);

        /// <summary>The run's options as a checkpoint stores them: option name to its value's text (null: not set).</summary>
        public Dictionary<string, string?> Stored() => new()
        {
            ["--model"] = Model, ["--arch"] = Arch, ["--width-divisor"] = WidthDivisor.ToString(CultureInfo.InvariantCulture), ["--flavor"] = Flavor,
            ["--data"] = Data, ["--batch"] = Batch.ToString(CultureInfo.InvariantCulture), ["--optimizer"] = Optimizer == "sgd" ? null : Optimizer, ["--lr"] = D(Lr), ["--momentum"] = D(Momentum),
            ["--weight-decay"] = D(WeightDecay), ["--schedule"] = Schedule, ["--warmup-steps"] = WarmupSteps.ToString(CultureInfo.InvariantCulture),
            ["--augment"] = Augment, ["--clip-grad-norm"] = ClipGradNorm is { } clip ? D(clip) : null, ["--shuffle"] = Shuffle ? "true" : null, ["--no-shuffle"] = NoShuffle ? "true" : null,
            ["--seed"] = Seed.ToString(CultureInfo.InvariantCulture), ["--skip-bad"] = SkipBad ? "true" : null,
            ["--classes"] = Classes, ["--backbone"] = Backbone, ["--freeze-backbone"] = FreezeBackbone ? "true" : null,
            ["--steps"] = Steps?.ToString(CultureInfo.InvariantCulture), ["--epochs"] = Epochs is { } e ? D(e) : null, ["--max-minutes"] = Minutes is { } m ? D(m) : null,
        };
    }

    private static int Run(Options o, ParseResult parse)
    {
        var a = o.Read(parse);
        TrainingCheckpoint? checkpoint = null;
        if (a.Resume is not null) (a, checkpoint) = Resumed(o, parse, a);
        return Train(a, checkpoint);
    }

    /// <summary>
    /// --resume RUN_DIR: the checkpoint, and the arguments of the run it belongs to: its stored options, the step limit
    /// given now (else the stored one), and the options that do not change the run (backend, checkpoints,
    /// validation, data workers) as given now. An option of the run given again with another value is a usage error.
    /// </summary>
    private static (Arguments, TrainingCheckpoint) Resumed(Options o, ParseResult parse, Arguments a)
    {
        var dir = a.Resume!;
        if (a.Out is not null && OutputPaths.Canonical(a.Out) != OutputPaths.Canonical(dir))
            throw CliException.Usage($"--resume {dir} continues the run in that folder; --out {a.Out} names another (leave --out out)");
        var path = Path.Combine(dir, TrainingCheckpoint.FileName);
        if (!File.Exists(path)) throw CliException.Usage($"--resume {dir}: no {TrainingCheckpoint.FileName} there (a run writes it at its end, on Ctrl+C, and every --checkpoint-every steps)");
        TrainingCheckpoint checkpoint;
        Dictionary<string, string?> stored;
        try
        {
            checkpoint = TrainingCheckpoint.Load(path);
            stored = JsonSerializer.Deserialize<Dictionary<string, string?>>(checkpoint.Run) ?? throw new InvalidDataException("no options");
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or JsonException or UnauthorizedAccessException)
        {
            throw CliException.Model($"--resume {dir}: cannot read the checkpoint: {ErrorReport.Describe(ex)}", ex);
        }
        bool Given(Option option) => parse.GetResult(option) is { Implicit: false };
        var now = a.Stored();
        var conflicts = o.Identity.Where(Given)
            .Where(opt => stored.GetValueOrDefault(opt.Name) != now[opt.Name])
            .Select(opt => $"{opt.Name} {now[opt.Name] ?? "(not set)"} (the run has {stored.GetValueOrDefault(opt.Name) ?? "none"})")
            .ToList();
        if (conflicts.Count > 0)
            throw CliException.Usage($"--resume {dir}: options that differ from the run's: {string.Join("; ", conflicts)}. Leave them out to continue the run as it was, or start a new run");

        var tokens = new List<string> { "--out", dir };
        void Add(string name, string? value)
        {
            if (value is null) return;
            tokens.Add(name);
            if (value != "true" || name is not ("--shuffle" or "--no-shuffle" or "--skip-bad" or "--freeze-backbone")) tokens.Add(value);
        }
        foreach (var opt in o.Identity) Add(opt.Name, stored.GetValueOrDefault(opt.Name));
        bool limitGiven = o.Limits.Any(Given);
        foreach (var opt in o.Limits) Add(opt.Name, limitGiven ? now[opt.Name] : stored.GetValueOrDefault(opt.Name));
        foreach (var opt in new Option[] { o.Backend, o.CheckpointEvery, o.ValData, o.EvalEvery, o.ValMetric, o.DataWorkers })
            if (parse.GetResult(opt) is { Implicit: false } given)
            {
                tokens.Add(opt.Name);
                tokens.AddRange(given.Tokens.Select(t => t.Value));
            }
        var again = new Options();
        var merged = again.Command().Parse(tokens);
        if (merged.Errors.Count > 0) throw CliException.Model($"--resume {dir}: the checkpoint's options do not parse: {merged.Errors[0].Message}");
        var resumed = again.Read(merged) with { Resume = dir };
        var limitsNow = resumed.Stored();
        if (resumed.Schedule == "cosine" && (stored.GetValueOrDefault("--steps") != limitsNow["--steps"] || stored.GetValueOrDefault("--epochs") != limitsNow["--epochs"]))
            throw CliException.Usage($"--resume {dir}: the run's cosine schedule spans its step limit ({stored.GetValueOrDefault("--steps") ?? stored.GetValueOrDefault("--epochs") + " epochs"}); a resume cannot change it");
        return (resumed, checkpoint);
    }

    private static int Train(Arguments a, TrainingCheckpoint? checkpoint)
    {
        // 1. Usage, before any work.
        if (a.Data is null) throw CliException.Usage("--data is required (a data set to train on), except with --resume");
        if (a.Out is null) throw CliException.Usage("--out is required (the run folder), except with --resume");
        if ((a.Model is null) == (a.Arch is null)) throw CliException.Usage("give either --model (a model file to start from) or --arch (a new network)");
        if (a.Backbone is not null && a.Arch is null) throw CliException.Usage("--backbone needs --arch: it starts a new network's base from an ImageNet VGG-16 (a --model has its own)");
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
        if (!Augmentation.Names.Contains(a.Augment)) throw CliException.Usage($"--augment: '{a.Augment}' is not {string.Join(", ", Augmentation.Names.SkipLast(1))} or {Augmentation.Names[^1]}");
        if (a.Shuffle && a.NoShuffle) throw CliException.Usage("give --shuffle or --no-shuffle, not both");
        int limits = (a.Steps is null ? 0 : 1) + (a.Epochs is null ? 0 : 1) + (a.Minutes is null ? 0 : 1);
        if (limits != 1) throw CliException.Usage("give exactly one of --steps, --epochs and --max-minutes");
        if (a.Steps is <= 0) throw CliException.Usage($"--steps: {a.Steps} must be positive");
        if (a.Epochs is { } e && !(e > 0 && double.IsFinite(e))) throw CliException.Usage($"--epochs: {e} must be positive");
        if (a.Minutes is { } m && !(m > 0 && double.IsFinite(m))) throw CliException.Usage($"--max-minutes: {m} must be positive");
        if (!(a.Lr > 0 && double.IsFinite(a.Lr))) throw CliException.Usage($"--lr: {a.Lr} must be a positive number");
        if (a.Optimizer is not ("sgd" or "adamw")) throw CliException.Usage($"--optimizer: '{a.Optimizer}' is not sgd or adamw");
        if (!(a.Momentum >= 0 && a.Momentum < 1)) throw CliException.Usage($"--momentum: {a.Momentum} must be in [0, 1)");
        if (!(a.WeightDecay >= 0 && double.IsFinite(a.WeightDecay))) throw CliException.Usage($"--weight-decay: {a.WeightDecay} must not be negative");
        if (a.DataWorkers > Environment.ProcessorCount) throw CliException.Usage($"--data-workers: {a.DataWorkers} is more than the {Environment.ProcessorCount} cores");
        if (a.ValData is null && (a.EvalEvery > 0 || a.ValMetric is not null)) throw CliException.Usage("--eval-every and --val-metric need --val-data");
        string[]? classList = a.Classes?.Split(',', StringSplitOptions.TrimEntries);
        if (classList is not null)
        {
            if (classList.Length == 0 || classList.Any(c => c.Length == 0)) throw CliException.Usage($"--classes: '{a.Classes}' has an empty class name");
            if (classList.Distinct(StringComparer.OrdinalIgnoreCase).Count() != classList.Length) throw CliException.Usage($"--classes: '{a.Classes}' names a class twice");
        }
        MetricKind? valMetric;
        try { valMetric = a.ValMetric is null ? null : MetricNames.Parse(a.ValMetric); }
        catch (ArgumentException ex) { throw CliException.Usage($"--val-metric: {ex.Message}", ex); }
        ScheduleKind kind;
        double[]? milestones;
        try { (kind, milestones) = RunSchedule.Parse(a.Schedule); }
        catch (ArgumentException ex) { throw CliException.Usage($"--schedule: {ex.Message}", ex); }
        IReadOnlyList<DataSetSpec> specs, valSpecs;
        try { specs = DataSetSpec.Parse(a.Data); }
        catch (ArgumentException ex) { throw CliException.Usage($"--data: {ex.Message}", ex); }
        try { valSpecs = a.ValData is null ? [] : DataSetSpec.Parse(a.ValData); }
        catch (ArgumentException ex) { throw CliException.Usage($"--val-data: {ex.Message}", ex); }
        var run = new RunFiles(a.Out);
        var reads = specs.Concat(valSpecs).Where(s => s.Format != "shapes").Select(s => s.Path).Concat(a.Model is null || checkpoint is not null ? [] : [a.Model]).Concat(a.Backbone is null || checkpoint is not null ? [] : [a.Backbone]).ToList();
        OutputPaths.CheckFolder(a.Out, "--out");
        foreach (var file in run.All) OutputPaths.CheckFile(file, "--out", reads);
        if (checkpoint is null && File.Exists(run.Checkpoint))
            throw CliException.Usage($"--out {a.Out}: holds the checkpoint of an earlier run; continue it with --resume {a.Out}, or give another folder");

        // 2. The data (exit 1, the check: exit 5), the model (exit 3).
        DetectionDataSet set, val;
        try
        {
            set = DetectionDataSet.Combine([.. specs.Select(s => s.Load())]);
            val = valSpecs.Count == 0 ? set : DetectionDataSet.Combine([.. valSpecs.Select(s => s.Load())]);
        }
        catch (Exception ex) when (ex is DataSetException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new CliException(ex.Message, ExitCodes.InputsFailed, ex);
        }
        if (set.Images.Count == 0) throw new CliException($"{a.Data}: the data set has no images", ExitCodes.InputsFailed);

        ModelDescription description;
        ModelWeights weights;
        string[]? modelClasses = null;
        if (checkpoint is not null)
        {
            description = checkpoint.Model;
            weights = ModelWeights.From(checkpoint.Weights);
            if (a.Model is not null || classList is not null) modelClasses = ModelClasses(description);
        }
        else if (a.Model is not null)
        {
            var loaded = ModelFiles.Load(a.Model);
            description = loaded.Description;
            if (classList is null) weights = ModelWeights.From(loaded.Tensors);
            else
            {
                IReadOnlyList<string> fresh;
                try { (description, weights, fresh) = FineTune.NewClasses(loaded.Description, loaded.Tensors, classList, (ulong)a.Seed); }
                catch (NotSupportedException ex) { throw CliException.Model($"{a.Model}: {ex.Message}", ex); }
                Console.Error.WriteLine($"ssd: fine-tuning {a.Model} on {classList.Length} classes: {fresh.Count} tensors re-initialised ({string.Join(", ", fresh.Take(4))}{(fresh.Count > 4 ? ", ..." : "")}), the rest kept");
            }
            modelClasses = ModelClasses(description);
        }
        else
        {
            var names = (string[])["background", .. classList ?? set.Classes.Select(c => c.Name)];
            if (classList is not null) modelClasses = names;
            var created = VggSsd.Create(flavor, size, names.Length, a.WidthDivisor);
            description = created.Description with { PostProcess = created.Description.PostProcess with { ClassNames = names } };
            weights = ModelWeights.From(created.Tensors);
            WeightInit.Initialize(flavor, weights, (ulong)a.Seed);
            if (a.Backbone is not null) LoadBackbone(a.Backbone, flavor, weights);
        }
        var check = DataSetCheck.Run(set, modelClasses, description.PostProcess.BackgroundId);
        if (check.Problems.Count > 0)
        {
            if (!a.SkipBad)
            {
                foreach (var problem in check.Problems.Take(100)) Console.Error.WriteLine($"error:   {problem}");
                if (check.Problems.Count > 100) Console.Error.WriteLine($"error:   ... and {check.Problems.Count - 100} more");
                throw new CliException($"{a.Data}: the data set check found {check.Problems.Count} problem(s), listed above; fix them, or give --skip-bad to train without them", ExitCodes.DataSetCheck);
            }
            AtomicFile.WriteAllText(run.DataCheck, check.Report(a.Data, skipped: true));
            Console.Error.WriteLine($"warning: the data set check found {check.Problems.Count} problem(s), left out (--skip-bad): listed in {run.DataCheck}");
            set = check.Usable;
            if (set.Images.Count == 0) throw new CliException($"{a.Data}: no image left after the data set check", ExitCodes.DataSetCheck);
        }
        Validation? validation = null;
        if (a.ValData is not null)
        {
            var missing = val.Images.Where(i => !DataSetImages.Exists(i)).Select(i => i.FilePath).ToList();
            if (missing.Count > 0) throw new CliException($"--val-data {a.ValData}: {missing.Count} missing image(s): {string.Join(", ", missing.Take(5))}", ExitCodes.InputsFailed);
            try { Validation.Classes(description, val); }
            catch (ClassMappingException ex) { throw new CliException($"--val-data {a.ValData}: {ex.Message}", ExitCodes.InputsFailed, ex); }
            validation = new Validation(val, valMetric ?? (valSpecs.All(s => s.Format == "coco") ? MetricKind.Coco : MetricKind.Voc07), a.Backend, a.Batch);
        }

        Trainer trainer;
        Engine.Backends.IBackend device;
        try { device = BackendFactory.Create(a.Backend); }
        catch (Exception ex) when (ex is not OutOfMemoryException) { throw CliException.Model($"the {DetectorBackendNames.Name(a.Backend)} backend cannot run: {ex.Message}", ex); }
        using var owned = device;
        try
        {
            trainer = Trainer.Create(description, weights, device, a.Batch,
                ps =>
                {
                    var groups = ParameterGroup.Single(FineTune.Trainable(description.Flavor, ps, a.FreezeBackbone), a.Lr, a.WeightDecay);
                    return a.Optimizer == "adamw" ? new AdamW(groups) : new Sgd(groups, a.Momentum);
                });
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidDataException or ArgumentException)
        {
            throw CliException.Model($"cannot train {a.Model ?? a.Arch} on the {DetectorBackendNames.Name(a.Backend)} backend: {ex.Message}", ex);
        }
        using var _ = trainer;
        trainer.ClipGradientNorm = a.ClipGradNorm;

        long total = a.Steps ?? (a.Epochs is { } ep ? (long)Math.Ceiling(ep * set.Images.Count / a.Batch) : long.MaxValue);
        var lrSchedule = new RunSchedule(trainer.Optimizer, kind, milestones, a.WarmupSteps, a.Minutes is null ? total : null);
        IAugmentation augmentation;
        try { augmentation = Augmentation.Parse(a.Augment, description.Flavor); }
        catch (NotSupportedException ex) { throw CliException.Usage($"--augment {a.Augment}: {ex.Message}", ex); }
        var batches = new TrainingBatches(set, description.Flavor, description.Input, a.Batch, shuffle: !a.NoShuffle, seed: a.Seed, augmentation,
            modelClasses is null ? null : check.Classes);

        // 3. Where the run stands: from the start, or the checkpoint's step (its optimizer, schedule, log and metrics).
        var logLines = new List<string>();
        var metricLines = new List<string>();
        var losses = new List<TrainingCurves.LossPoint>();
        var scores = new List<TrainingCurves.MetricPoint>();
        long start = 0;
        double elapsedBefore = 0;
        if (checkpoint is not null)
        {
            try
            {
                trainer.Optimizer.ImportState(checkpoint.Optimizer);
                var stored = JsonSerializer.Deserialize<Dictionary<string, string?>>(checkpoint.Run)!;
                if (stored.GetValueOrDefault(ProgressKey) is { } progress)
                    lrSchedule.Begin(double.Parse(progress, NumberStyles.Float, CultureInfo.InvariantCulture));
                lrSchedule.Import(checkpoint.MainSchedule, checkpoint.WarmupSchedule);
            }
            catch (Exception ex) when (ex is InvalidDataException or FormatException or OverflowException or InvalidOperationException or JsonException)
            { throw CliException.Model($"--resume {a.Resume}: the checkpoint does not fit the run: {ex.Message}", ex); }
            start = checkpoint.Step;
            elapsedBefore = checkpoint.ElapsedSeconds;
            trainer.ResumeAt(start);
            foreach (var line in ReadLines(run.Log, start)) { logLines.Add(line); losses.Add(LossOf(line)); }
            foreach (var line in ReadLines(run.Metrics, start)) { metricLines.Add(line); scores.Add(ScoreOf(line, validation)); }
            Console.Error.WriteLine($"ssd: resuming {a.Out} at step {start}");
        }

        // 4. The loop: one log line per step; checkpoints, evaluations; the model, checkpoint and curves at the end
        // (also after a non-finite loss or Ctrl+C: the last good step).
        var clock = Stopwatch.StartNew();
        var afterFirst = TimeSpan.Zero;
        int code = ExitCodes.Ok;
        long evaluatedAt = scores.Count > 0 ? scores[^1].Step : -1;
        using var log = new JsonLinesFile(run.Log, logLines);
        using var metrics = validation is null ? null : new JsonLinesFile(run.Metrics, metricLines);
        using var interruption = Interruption.Graceful();
        using var pipeline = new PrefetchPipeline<TrainingBatch>(batches.Batch, workers: a.DataWorkers, start: start);
        double waitedTotal = 0, stepTotal = 0;
        void Evaluate(TrainProgress progress, long step)
        {
            if (validation is null || evaluatedAt == step) return;
            var result = validation.Evaluate(description, weights);
            evaluatedAt = step;
            var line = MetricsLine(step, result);
            metrics!.Append(line);
            scores.Add(ScoreOf(line, validation));
            progress.Note(string.Create(CultureInfo.InvariantCulture, $"ssd: step {step}: validation {validation.Headline} {scores[^1].Value:0.0000} ({MetricNames.Name(validation.Metric)}, {validation.Set.Images.Count} images)"));
        }
        Dictionary<string, string?> RunInfo()
        {
            var info = a.Stored();
            if (lrSchedule.Progress is { } progress) info[ProgressKey] = progress.ToString("R", CultureInfo.InvariantCulture);
            return info;
        }
        void Checkpoint(TrainProgress? progress)
        {
            new TrainingCheckpoint(description, weights.ToTensors(), trainer.Optimizer.ExportState(), trainer.Steps,
                lrSchedule.MainState, lrSchedule.WarmupState, elapsedBefore + clock.Elapsed.TotalSeconds,
                JsonSerializer.Serialize(RunInfo())).Save(run.Checkpoint);
            progress?.Note($"ssd: step {trainer.Steps}: checkpoint written");
        }
        TrainProgress.Run(a.Steps is not null || a.Epochs is not null ? total : null, a.Minutes, progress =>
        {
            for (long s = start + 1; s <= total; s++)
            {
                if (interruption.Token.IsCancellationRequested) { code = Interruption.ExitCode; break; }
                var before = pipeline.Waited;
                TrainingBatch b;
                try { b = pipeline.Next(); }
                catch (InvalidOperationException ex) when (ex.InnerException is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"error: step {s}: {ErrorReport.Describe(ex.InnerException)}");
                    code = ExitCodes.InputsFailed;
                    break;
                }
                double wait = (pipeline.Waited - before).TotalSeconds;
                TrainStepResult r;
                try { r = trainer.Step(b.Input, b.Truths, b.Names); }
                catch (NonFiniteLossException ex)
                {
                    Console.Error.WriteLine($"error: {ex.Message}");
                    code = NonFiniteLossException.ExitCode;
                    break;
                }
                double imagesPerS = a.Batch / Math.Max(r.Elapsed.TotalSeconds, 1e-9);
                var line = JsonSerializer.Serialize(new
                {
                    step = r.Step, loss = r.Loss.Loss, loc_loss = r.Loss.LocLoss, conf_loss = r.Loss.ConfLoss, lr = r.Lr,
                    images_per_s = imagesPerS, data_wait_s = wait, grad_norm = r.GradNorm,
                }, LogOptions);
                log.Append(line);
                losses.Add(new TrainingCurves.LossPoint(r.Step, r.Loss.Loss, r.Loss.LocLoss, r.Loss.ConfLoss));
                (waitedTotal, stepTotal) = (waitedTotal + wait, stepTotal + r.Elapsed.TotalSeconds);
                var elapsed = TimeSpan.FromSeconds(elapsedBefore) + clock.Elapsed;
                if (s == start + 1) afterFirst = clock.Elapsed;
                // A budget's steps still to come (any time left is one more step), at the pace of this run's steps so
                // far (the first one, with the JIT's warm-up, left out).
                double StepsLeft() => s < start + 2 ? 0 : Math.Max(0, Math.Ceiling((a.Minutes!.Value * 60 - elapsed.TotalSeconds)
                    / Math.Max((clock.Elapsed - afterFirst).TotalSeconds / (s - start - 1), 1e-9)));
                lrSchedule.Step(lrSchedule.Progress is null ? 0 : StepsLeft());
                if (lrSchedule.ProbeStep > 0 && lrSchedule.Progress is null && s >= lrSchedule.ProbeStep && s >= start + 2)
                {
                    lrSchedule.Begin();
                    progress.Note($"ssd: step {s}: the budget fits about {s + StepsLeft()} steps at this pace; the {a.Schedule} schedule spans the budget");
                }
                progress.Step(r, r.Step, a.Batch, imagesPerS, elapsed, (s - start) / Math.Max(clock.Elapsed.TotalSeconds, 1e-9));
                if (a.CheckpointEvery > 0 && s % a.CheckpointEvery == 0 && s < total) Checkpoint(progress);
                if (a.EvalEvery > 0 && s % a.EvalEvery == 0 && s < total) Evaluate(progress, s);
                if (a.Minutes is { } max && elapsed.TotalMinutes >= max) break;
            }
            if (code == ExitCodes.Ok && trainer.Steps > start) Evaluate(progress, trainer.Steps);   // not after Ctrl+C: the user wants out
        });
        ModelFile.Save(run.Model, description, weights.ToTensors());
        Checkpoint(null);
        TrainingCurves.Write(run.Curves, description.Name ?? "ssd", losses, scores, validation?.Headline ?? "mAP");
        long ran = trainer.Steps - start;
        double overlap = waitedTotal + stepTotal > 0 ? waitedTotal / (waitedTotal + stepTotal) : 0;
        string metricsFile = validation is null ? "" : ", " + run.Metrics;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{trainer.Steps} steps ({ran} in this run, {clock.Elapsed.TotalSeconds:F1} s; waiting for data {100 * overlap:F1}% of the time, {pipeline.Workers} data worker(s)); wrote {run.Model}, {run.Log}, {run.Checkpoint}, {run.Curves}{metricsFile}"));
        if (code is ExitCodes.Interrupted or ExitCodes.Terminated) Console.Error.WriteLine($"ssd: stopped at step {trainer.Steps}; continue with: ssd train --resume {a.Out}");
        return code;
    }

    /// <summary>`--backbone FILE`: the ImageNet VGG-16's layers replace the initialised ones (the rest keeps the
    /// flavour's initialisation, as in the references' train scripts). Exit 3 for a file that is not a VGG-16 or does not
    /// fit the flavour or the model's widths.</summary>
    private static void LoadBackbone(string path, ModelFlavor flavor, ModelWeights weights)
    {
        IReadOnlyDictionary<string, TensorData> tensors;
        VggBackbone.Weights backbone;
        try
        {
            backbone = VggBackbone.Read(path);
            tensors = VggBackbone.ForModel(backbone, flavor);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException or ReaderBudgetException or UnsafePickleException)
        { throw CliException.Model($"--backbone {path}: {ex.Message}", ex); }
        foreach (var (name, tensor) in tensors)
        {
            if (!weights.Contains(name)) throw CliException.Model($"--backbone {path}: the model has no {name}");
            var shape = weights.Shape(name);
            if (!tensor.Shape.SequenceEqual(shape))
                throw CliException.Model($"--backbone {path}: {name} is [{string.Join(", ", tensor.Shape)}] there and [{string.Join(", ", shape)}] in the model (the backbone is for --width-divisor 1 at its own widths)");
        }
        foreach (var (name, tensor) in tensors)
        {
            var values = tensor.ToFloat32();
            if (values.Any(v => !float.IsFinite(v))) throw CliException.Model($"--backbone {path}: {name} holds non-finite values");
            values.CopyTo(weights[name], 0);
        }
        bool fc = backbone.Tensors.ContainsKey("fc6.weight");
        Console.Error.WriteLine($"ssd: backbone from {path} ({backbone.Origin}): conv1_1 .. conv5_3{(fc ? ", fc6, fc7" : "")} ({tensors.Count} tensors); the rest initialised");
    }

    /// <summary>log.jsonl: grad_norm only when clipping is on (null values left out).</summary>
    private static readonly JsonSerializerOptions LogOptions = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    /// <summary>The key of a time budget's schedule progress in the checkpoint's run options (beside the options themselves).</summary>
    private const string ProgressKey = "schedule_progress";

    /// <summary>The files of a run folder.</summary>
    private sealed class RunFiles(string dir)
    {
        public string Model { get; } = Path.Combine(dir, "model.safetensors");
        public string Log { get; } = Path.Combine(dir, "log.jsonl");
        public string Checkpoint { get; } = Path.Combine(dir, TrainingCheckpoint.FileName);
        public string Metrics { get; } = Path.Combine(dir, "metrics.jsonl");
        public string Curves { get; } = Path.Combine(dir, "curves.png");
        public string DataCheck { get; } = Path.Combine(dir, "data_check.txt");
        public string[] All => [Model, Log, Checkpoint, Metrics, Curves, DataCheck];
    }

    /// <summary>The model's class names, with the background (null entries where a model file has none).</summary>
    private static string[] ModelClasses(ModelDescription model) => model.PostProcess.ClassNames ?? new string[model.PostProcess.NumClasses];

    /// <summary>The lines of a JSON-lines file of the run whose step is at most <paramref name="step"/> (a resume drops the rest).</summary>
    private static IEnumerable<string> ReadLines(string path, long step)
    {
        if (!File.Exists(path)) yield break;
        foreach (var line in File.ReadAllLines(path))
        {
            long at;
            try
            {
                using var doc = JsonDocument.Parse(line);
                at = doc.RootElement.GetProperty("step").GetInt64();
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException) { continue; }
            if (at <= step) yield return line;
        }
    }

    private static TrainingCurves.LossPoint LossOf(string line)
    {
        var r = JsonDocument.Parse(line).RootElement;
        return new(r.GetProperty("step").GetInt64(), r.GetProperty("loss").GetDouble(), r.GetProperty("loc_loss").GetDouble(), r.GetProperty("conf_loss").GetDouble());
    }

    /// <summary>One metrics.jsonl line: the step, the metric, its headline numbers and the per-class AP.</summary>
    private static string MetricsLine(long step, MetricResult result)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("step", step);
            w.WriteString("metric", MetricNames.Name(result.Metric));
            foreach (var (key, value) in result.Headline) EvalReport.Number(w, key, value);
            w.WriteStartObject("per_class");
            foreach (var c in result.PerClass) EvalReport.Number(w, c.Name, c.AP);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static TrainingCurves.MetricPoint ScoreOf(string line, Validation? validation)
    {
        var r = JsonDocument.Parse(line).RootElement;
        var key = validation?.Headline ?? (r.TryGetProperty("mAP", out _) ? "mAP" : "AP50");
        return new(r.GetProperty("step").GetInt64(), r.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN);
    }
}
