using System.CommandLine;
using Ssd.Kernels.Core;
using Ssd.Kernels.Ptx;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd ptx --out DIR [--arch sm_80] [--report FILE] [--roofline FILE]`: compiles every catalogued kernel to PTX (no
/// GPU needed), writes DIR/Family.Name.ptx, and, when ptxas is found, assembles each and prints its registers, shared
/// memory, spills and stack; --roofline writes the H100 roofline prediction of the conv kernels and SSD300 from them.
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
        var roofline = new Option<FileInfo?>("--roofline")
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

    private static int Run(DirectoryInfo output, string? archName, FileInfo? report, FileInfo? roofline)
    {
        var writeArch = archName is null ? GpuArch.Sm80 : GpuArch.Parse(archName);
        IReadOnlyList<GpuArch> checkArchs = archName is null ? GpuArch.All : [writeArch];
        if (roofline is not null && !checkArchs.Contains(GpuArch.Sm90))
        {
            Console.Error.WriteLine("--roofline needs the sm_90 figures: leave --arch out or pass --arch sm_90");
            return 2;
        }
        // A kernel that needs a newer GPU (KernelAttribute.MinSm) gets no PTX for an older one.
        var kernels = KernelCatalog.All.Where(k => k.RunsOnSm(writeArch.Sm)).ToList();

        using var compiler = new PtxCompiler();
        output.Create();
        foreach (var ptx in compiler.CompileAll(kernels, writeArch))
            File.WriteAllText(Path.Combine(output.FullName, ptx.FileName), ptx.Assembly);
        Console.WriteLine($"wrote {kernels.Count} PTX files for {writeArch.Name} (.target {writeArch.PtxTargetName}) to {output.FullName}");

        var ptxas = Ptxas.Locate();
        if (ptxas is null)
        {
            Console.Error.WriteLine($"ptxas not found: set {Ptxas.EnvironmentVariable} or install it to <repo>/{Ptxas.RepoRelativePath}; PTX was not assembled");
            return report is null && roofline is null ? 0 : 1;
        }

        var rows = PtxCheck.Run(compiler, ptxas, KernelCatalog.All, checkArchs);
        Console.WriteLine($"ptxas: {ptxas.ExecutablePath} ({ptxas.Version()})");
        Console.Write(PtxReport.Table(rows));
        if (report is not null)
        {
            report.Directory?.Create();
            File.WriteAllText(report.FullName, PtxReport.Markdown(rows, ptxas.Version()));
            Console.WriteLine($"wrote {report.FullName}");
        }
        if (roofline is not null)
        {
            roofline.Directory?.Create();
            var resources = GpuRooflineReport.Resources(rows, GpuArch.Sm90);
            File.WriteAllText(roofline.FullName, GpuRooflineReport.Markdown(resources, Ssd.Kernels.Roofline.GpuSpec.H100, ptxas.Version()));
            Console.WriteLine($"wrote {roofline.FullName}");
        }

        var failed = rows.Where(r => !r.Result.Succeeded || r.Result.Spills).ToList();
        foreach (var r in failed)
            Console.Error.WriteLine($"{r.Kernel.FullName} {r.Arch.Name}: {r.Result.Status}\n{r.Result.Output.TrimEnd()}");
        return failed.Count == 0 ? 0 : 1;
    }
}
