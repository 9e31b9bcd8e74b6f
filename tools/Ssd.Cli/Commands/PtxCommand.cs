using System.CommandLine;
using Ssd.Kernels.Core;
using Ssd.Kernels.Ptx;
using Ssd.Weights.IO;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd ptx --out DIR [--arch sm_80] [--report FILE]`: compiles every catalogued kernel to PTX (no GPU needed),
/// writes DIR/Family.Name.ptx, and, when ptxas is found, assembles each and prints its registers, shared memory,
/// spills and stack. The outputs are checked before compiling (exit 2 when they cannot be written) and each file is
/// written atomically.
/// </summary>
public static class PtxCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "folder for the PTX files (Family.Name.ptx)", Required = true };
        var arch = new Option<string?>("--arch")
        {
            Description = "sm_75, sm_80 or sm_90: the PTX written to --out is for this (default sm_80) and ptxas checks only it; "
                + "without it, ptxas checks all three",
        };
        arch.AcceptOnlyFromAmong([.. GpuArch.All.Select(a => a.Name)]);
        var report = new Option<string?>("--report") { Description = "also write the Markdown report (e.g. docs/kernels/ptx-report.md); needs ptxas" };
        var command = new Command("ptx", "Compile every kernel to PTX and check it with ptxas (found through $SSD_PTXAS, <repo>/.tools/cuda/usr/bin/ptxas or PATH).")
        {
            output, arch, report,
        };
        command.SetAction(parse => Run(parse.GetValue(output)!, parse.GetValue(arch), parse.GetValue(report)));
        return command;
    }

    private static int Run(string output, string? archName, string? report)
    {
        OutputPaths.CheckFolder(output, "--out");
        if (report is not null) OutputPaths.CheckFile(report, "--report", []);
        var writeArch = archName is null ? GpuArch.Sm80 : GpuArch.Parse(archName);
        IReadOnlyList<GpuArch> checkArchs = archName is null ? GpuArch.All : [writeArch];
        var kernels = KernelCatalog.All;
        string folder = Path.GetFullPath(output);

        using var compiler = new PtxCompiler();
        foreach (var ptx in compiler.CompileAll(kernels, writeArch))
            AtomicFile.WriteAllText(Path.Combine(folder, ptx.FileName), ptx.Assembly);
        Console.WriteLine($"wrote {kernels.Count} PTX files for {writeArch.Name} (.target {writeArch.PtxTargetName}) to {folder}");

        var ptxas = Ptxas.Locate();
        if (ptxas is null)
        {
            Console.Error.WriteLine($"ptxas not found: set {Ptxas.EnvironmentVariable} or install it to <repo>/{Ptxas.RepoRelativePath}; PTX was not assembled");
            return report is null ? ExitCodes.Ok : ExitCodes.ModelOrDevice;
        }

        var rows = PtxCheck.Run(compiler, ptxas, kernels, checkArchs);
        Console.WriteLine($"ptxas: {ptxas.ExecutablePath} ({ptxas.Version()})");
        Console.Write(PtxReport.Table(rows));
        if (report is not null)
        {
            AtomicFile.WriteAllText(report, PtxReport.Markdown(rows, ptxas.Version()));
            Console.WriteLine($"wrote {Path.GetFullPath(report)}");
        }

        var failed = rows.Where(r => !r.Result.Succeeded || r.Result.Spills).ToList();
        foreach (var r in failed)
            Console.Error.WriteLine($"{r.Kernel.FullName} {r.Arch.Name}: {r.Result.Status}\n{r.Result.Output.TrimEnd()}");
        return failed.Count == 0 ? ExitCodes.Ok : ExitCodes.InputsFailed;
    }
}
