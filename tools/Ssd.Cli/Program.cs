using System.CommandLine;
using System.Runtime.InteropServices;
using Ssd.Cli.Commands;
using Ssd.Weights.IO;

namespace Ssd.Cli;

public static class Program
{
    /// <summary>
    /// Parses the command line and runs the command through the CLI's one error path (<see cref="ErrorReport"/>):
    /// a parse error exits 2 with one line per problem; an exception becomes one line and its exit code
    /// (<see cref="ExitCodes"/>); SIGINT / SIGTERM remove unfinished outputs and exit 130 / 143.
    /// </summary>
    public static int Main(string[] args)
    {
        var root = BuildRoot();
        var parse = root.Parse(args);
        bool verbose = parse.GetValue<bool>(CliOptions.VerboseName);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine($"error: {ErrorReport.OneLine(error.Message)}");
            var command = parse.CommandResult.Command;
            Console.Error.WriteLine($"see: ssd {(command == root ? "" : command.Name + " ")}--help");
            return ExitCodes.Usage;
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (Exception e)
        {
            return ErrorReport.Report(e, verbose);
        }
    }

    /// <summary>The `ssd` command tree; each command lives in Commands/ in a file of its own.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("Ssd: a Single Shot MultiBox Detector engine on ILGPU and managed CPU backends.\n"
            + "Exit codes: 0 ok, 1 some inputs failed, 2 usage, 3 model or device error, 4 internal error, 5 train: the data set check failed, 130/143 interrupted.");
        root.Options.Add(CliOptions.Verbose());
        root.Subcommands.Add(DevicesCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(PtxCommand.Create());
        root.Subcommands.Add(ConvertCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(DetectCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(DatasetsCommand.Create());
        return root;
    }

    /// <summary>SIGINT / SIGTERM: a command holding <see cref="Interruption.Graceful"/> is asked to stop (the first signal);
    /// otherwise delete the temporary files of outputs still being written, then exit 130 / 143.</summary>
    private static void Stop(PosixSignalContext context)
    {
        if (Interruption.TryRequest(context.Signal))
        {
            context.Cancel = true;
            Console.Error.WriteLine($"ssd: {context.Signal}: finishing the current step, then writing a checkpoint (send it again to stop at once)");
            return;
        }
        int removed = AtomicFile.AbortPending();
        context.Cancel = true;
        int code = context.Signal == PosixSignal.SIGINT ? ExitCodes.Interrupted : ExitCodes.Terminated;
        Console.Error.WriteLine($"ssd: stopped by {context.Signal}" + (removed > 0 ? $"; {removed} unfinished output file(s) removed" : "")
            + "; finished outputs are complete, nothing half-written was kept");
        Environment.Exit(code);
    }
}
