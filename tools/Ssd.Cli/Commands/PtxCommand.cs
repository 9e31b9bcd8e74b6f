using System.CommandLine;
using Ssd.Kernels.Core;
using Ssd.Kernels.Ptx;
using Ssd.Weights.IO;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd ptx --out DIR [--arch sm_80] [--report FILE] [--roofline FILE]`: compiles every catalogued kernel to PTX (no
/// GPU needed), writes DIR/Family.Name.ptx, and, when ptxas is found, assembles each and prints its registers, shared
/// memory, spills and stack; --roofline writes the H100 roofline prediction of the conv kernels and SSD300 from them.
/// The outputs are checked before compiling (exit 2 when they cannot be written) and each file is written atomically.
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
        var roofline = new Option<string?>("--roofline")
        {
            Description = "also write the H100 roofline prediction per kernel and per SSD300 layer (docs/kernels/gpu-roofline.md) from ptxas' sm_90 figures",
        };
        var command = new Command("ptx", "Compile every kernel to PTX and check it with ptxas (found through $SSD_PTXAS, <repo>/.tools/cuda/usr/bin/ptxas or PATH).")
        {
            output, arch, report, roofline,
        };
        command.SetAction(parse => Run(parse.GetValue(output)!, parse.GetValue(arch), parse.GetValue(report), parse.GetValue(roofline)));
        return command;
    }

    private static int Run(string output, string? archName, string? report, string? roofline)
    {
        OutputPaths.CheckFolder(output, "--out");
        if (report is not null) OutputPaths.CheckFile(report, "--report", []);
        var writeArch = archName is null ? GpuArch.Sm80 : GpuArch.Parse(archName);
        IReadOnlyList<GpuArch> checkArchs = archName is null ? GpuArch.All : [writeArch];
        if (roofline is not null) OutputPaths.CheckFile(roofline, "--roofline", []);
        if (roofline is not null && !checkArchs.Contains(GpuArch.Sm90))
            throw CliException.Usage("--roofline needs the sm_90 figures: leave --arch out or pass --arch sm_90");
        // A kernel that needs a newer GPU (KernelAttribute.MinSm) gets no PTX for an older one.
        var kernels = KernelCatalog.All.Where(k => k.RunsOnSm(writeArch.Sm)).ToList();
        string folder = Path.GetFullPath(output);

        using var compiler = new PtxCompiler();
        foreach (var ptx in compiler.CompileAll(kernels, writeArch))
            AtomicFile.WriteAllText(Path.Combine(folder, ptx.FileName), ptx.Assembly);
        Console.WriteLine($"wrote {kernels.Count} PTX files for {writeArch.Name} (.target {writeArch.PtxTargetName}) to {folder}");

        var ptxas = Ptxas.Locate();
        if (ptxas is null)
        {
            Console.Error.WriteLine($"ptxas not found: set {Ptxas.EnvironmentVariable} or install it to <repo>/{Ptxas.RepoRelativePath}; PTX was not assembled");
            return report is null && roofline is null ? ExitCodes.Ok : ExitCodes.ModelOrDevice;
        }

        var rows = PtxCheck.Run(compiler, ptxas, KernelCatalog.All, checkArchs);
        Console.WriteLine($"ptxas: {ptxas.ExecutablePath} ({ptxas.Version()})");
        Console.Write(PtxReport.Table(rows));
        if (report is not null)
        {
            AtomicFile.WriteAllText(report, PtxReport.Markdown(rows, ptxas.Version()));
            Console.WriteLine($"wrote {Path.GetFullPath(report)}");
        }
        if (roofline is not null)
        {
            var resources = GpuRooflineReport.Resources(rows, GpuArch.Sm90);
            AtomicFile.WriteAllText(roofline, GpuRooflineReport.Markdown(resources, Ssd.Kernels.Roofline.GpuSpec.H100, ptxas.Version()));
            Console.WriteLine($"wrote {Path.GetFullPath(roofline)}");
        }

        var failed = rows.Where(r => !r.Result.Succeeded || r.Result.Spills).ToList();
        foreach (var r in failed)
            Console.Error.WriteLine($"{r.Kernel.FullName} {r.Arch.Name}: {r.Result.Status}\n{r.Result.Output.TrimEnd()}");
        return failed.Count == 0 ? ExitCodes.Ok : ExitCodes.InputsFailed;
    }
}
