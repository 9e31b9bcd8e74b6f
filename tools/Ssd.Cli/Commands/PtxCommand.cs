using System.CommandLine;
using Ssd.Kernels.Core;
using Ssd.Kernels.Ptx;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd ptx --out DIR [--arch sm_80] [--report FILE]`: compiles every catalogued kernel to PTX (no GPU needed),
/// writes DIR/Family.Name.ptx, and, when ptxas is found, assembles each and prints its registers, shared memory,
/// spills and stack.
/// </summary>
public static class PtxCommand
{
    public static Command Create()
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "folder for the PTX files (Family.Name.ptx)", Required = true };
        var arch = new Option<string?>("--arch")
        {
            Description = "sm_75, sm_80 or sm_90: the PTX written to --out is for this (default sm_80) and ptxas checks only it; "
                + "without it, ptxas checks all three",
        };
        arch.AcceptOnlyFromAmong([.. GpuArch.All.Select(a => a.Name)]);
        var report = new Option<FileInfo?>("--report") { Description = "also write the Markdown report (e.g. docs/kernels/ptx-report.md); needs ptxas" };
        var command = new Command("ptx", "Compile every kernel to PTX and check it with ptxas (found through $SSD_PTXAS, <repo>/.tools/cuda/usr/bin/ptxas or PATH).")
        {
            output, arch, report,
        };
        command.SetAction(parse => Run(parse.GetValue(output)!, parse.GetValue(arch), parse.GetValue(report)));
        return command;
    }

    private static int Run(DirectoryInfo output, string? archName, FileInfo? report)
    {
        var writeArch = archName is null ? GpuArch.Sm80 : GpuArch.Parse(archName);
        IReadOnlyList<GpuArch> checkArchs = archName is null ? GpuArch.All : [writeArch];
        var kernels = KernelCatalog.All;

        using var compiler = new PtxCompiler();
        output.Create();
        foreach (var ptx in compiler.CompileAll(kernels, writeArch))
            File.WriteAllText(Path.Combine(output.FullName, ptx.FileName), ptx.Assembly);
        Console.WriteLine($"wrote {kernels.Count} PTX files for {writeArch.Name} (.target {writeArch.PtxTargetName}) to {output.FullName}");

        var ptxas = Ptxas.Locate();
        if (ptxas is null)
        {
            Console.Error.WriteLine($"ptxas not found: set {Ptxas.EnvironmentVariable} or install it to <repo>/{Ptxas.RepoRelativePath}; PTX was not assembled");
            return report is null ? 0 : 1;
        }

        var rows = PtxCheck.Run(compiler, ptxas, kernels, checkArchs);
        Console.WriteLine($"ptxas: {ptxas.ExecutablePath} ({ptxas.Version()})");
        Console.Write(PtxReport.Table(rows));
        if (report is not null)
        {
            report.Directory?.Create();
            File.WriteAllText(report.FullName, PtxReport.Markdown(rows, ptxas.Version()));
            Console.WriteLine($"wrote {report.FullName}");
        }

        var failed = rows.Where(r => !r.Result.Succeeded || r.Result.Spills).ToList();
        foreach (var r in failed)
            Console.Error.WriteLine($"{r.Kernel.FullName} {r.Arch.Name}: {r.Result.Status}\n{r.Result.Output.TrimEnd()}");
        return failed.Count == 0 ? 0 : 1;
    }
}
