using System.Globalization;
using Spectre.Console;
using Ssd.Engine.Training;

namespace Ssd.Cli.Training;

/// <summary>
/// What `ssd train` shows while it runs: on a terminal a Spectre.Console progress bar whose line holds the step, loss
/// (loc, conf), lr, images/s and the ETA; when stdout or stderr is redirected one plain line per step on stderr
/// (scripts and log files). Notes (evaluations, checkpoints) print above the bar, or as lines.
/// </summary>
public sealed class TrainProgress
{
    private readonly long? totalSteps;
    private readonly double? minutes;
    private ProgressTask? task;
    private string rateText = "";

    /// <summary>images/s and the ETA, beside the bar.</summary>
    private sealed class RateColumn(TrainProgress progress) : ProgressColumn
    {
        public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(progress.rateText);
    }

    private TrainProgress(long? totalSteps, double? minutes) => (this.totalSteps, this.minutes) = (totalSteps, minutes);

    public static bool Live => !Console.IsOutputRedirected && !Console.IsErrorRedirected;

    /// <summary>Runs <paramref name="body"/> with the display for a run of <paramref name="totalSteps"/> steps or
    /// <paramref name="minutes"/> minutes.</summary>
    public static void Run(long? totalSteps, double? minutes, Action<TrainProgress> body)
    {
        var progress = new TrainProgress(totalSteps, minutes);
        if (!Live) { body(progress); return; }
        AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 20 }, new PercentageColumn(), new RateColumn(progress))
            .Start(ctx =>
            {
                progress.task = ctx.AddTask("training", maxValue: totalSteps is { } t ? t : (minutes ?? 1) * 60);
                body(progress);
                progress.task.StopTask();
            });
    }

    /// <summary>After each step: <paramref name="elapsed"/> is the run's training time so far (resumes included),
    /// <paramref name="rate"/> the optimizer steps per second of this process.</summary>
    public void Step(TrainStepResult r, long step, int batch, double imagesPerS, TimeSpan elapsed, double rate)
    {
        TimeSpan? eta = totalSteps is { } t && rate > 0 ? TimeSpan.FromSeconds((t - step) / rate)
            : minutes is { } m ? TimeSpan.FromMinutes(m) - elapsed : null;
        string Time(TimeSpan? s) => s is { } v ? (v < TimeSpan.Zero ? TimeSpan.Zero : v).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "-";
        string of = totalSteps is { } total ? $"/{total}" : "";
        var line = string.Create(CultureInfo.InvariantCulture,
            $"step {step}{of}: loss {r.Loss.Loss:G5} (loc {r.Loss.LocLoss:G4}, conf {r.Loss.ConfLoss:G4}) lr {r.Lr:G4}, {imagesPerS:F1} images/s, ETA {Time(eta)}");
        if (task is null)
        {
            Console.Error.WriteLine(line);
            return;
        }
        task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"step {step}{of} loss {r.Loss.Loss:G4} (loc {r.Loss.LocLoss:G3}, conf {r.Loss.ConfLoss:G3}) lr {r.Lr:G3}"));
        rateText = string.Create(CultureInfo.InvariantCulture, $"{imagesPerS:F1} images/s, ETA {Time(eta)}");
        task.Value = totalSteps is not null ? step : Math.Min(elapsed.TotalSeconds, task.MaxValue);
    }

    /// <summary>A line of news (an evaluation, a checkpoint): above the bar on a terminal, else on stderr.</summary>
    public void Note(string line)
    {
        if (task is null) Console.Error.WriteLine(line);
        else AnsiConsole.MarkupLine(Markup.Escape(line));
    }
}
