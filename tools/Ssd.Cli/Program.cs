using System.CommandLine;
using Ssd.Cli.Commands;

namespace Ssd.Cli;

public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    /// <summary>The `ssd` command tree; each command lives in Commands/ in a file of its own.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("Ssd: a Single Shot MultiBox Detector engine on ILGPU and managed CPU backends.");
        root.Subcommands.Add(DevicesCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(PtxCommand.Create());
        root.Subcommands.Add(ConvertCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(DetectCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        return root;
    }
}
