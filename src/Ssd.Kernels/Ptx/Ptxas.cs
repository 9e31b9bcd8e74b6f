using System.Diagnostics;

namespace Ssd.Kernels.Ptx;

/// <summary>
/// NVIDIA's PTX assembler, run as an external tool to check that ILGPU's PTX assembles for a GPU and to read the
/// resources each kernel needs (registers, shared memory, spills, stack). No GPU is needed.
/// </summary>
internal sealed class Ptxas
{
    /// <summary>Environment variable naming the ptxas executable.</summary>
    public const string EnvironmentVariable = "SSD_PTXAS";

    /// <summary>Where the CI install script puts ptxas, relative to the repository root.</summary>
    public const string RepoRelativePath = ".tools/cuda/usr/bin/ptxas";

    public string ExecutablePath { get; }

    public Ptxas(string executablePath)
    {
        if (!File.Exists(executablePath))
            throw new FileNotFoundException($"ptxas not found at '{executablePath}'", executablePath);
        ExecutablePath = executablePath;
    }

    /// <summary>
    /// Finds ptxas: $SSD_PTXAS, else &lt;repo&gt;/.tools/cuda/usr/bin/ptxas (also in the main checkout when the repo
    /// is a linked git worktree), else `ptxas` on PATH. Null when there is none. A set but wrong $SSD_PTXAS is an error.
    /// </summary>
    public static Ptxas? Locate()
    {
        var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            if (!File.Exists(fromEnv))
                throw new FileNotFoundException($"{EnvironmentVariable}='{fromEnv}' does not name an existing file", fromEnv);
            return new Ptxas(fromEnv);
        }
        foreach (var root in RepositoryRoots())
        {
            var candidate = Path.Combine(root, RepoRelativePath);
            if (File.Exists(candidate)) return new Ptxas(candidate);
        }
        var name = OperatingSystem.IsWindows() ? "ptxas.exe" : "ptxas";
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return new Ptxas(candidate);
        }
        return null;
    }

    /// <summary>
    /// The repository root (the folder holding Ssd.sln above the running program or the current directory) and,
    /// when that is a linked git worktree, the main checkout it belongs to (where .tools is installed).
    /// </summary>
    public static IEnumerable<string> RepositoryRoots()
    {
        var seen = new HashSet<string>();
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (!File.Exists(Path.Combine(dir.FullName, "Ssd.sln"))) continue;
                if (seen.Add(dir.FullName)) yield return dir.FullName;
                if (MainWorktree(dir.FullName) is { } main && seen.Add(main)) yield return main;
                break;
            }
        }
    }

    /// <summary>For a linked worktree, whose .git is a file "gitdir: MAIN/.git/worktrees/NAME", returns MAIN.</summary>
    private static string? MainWorktree(string root)
    {
        var gitFile = Path.Combine(root, ".git");
        if (!File.Exists(gitFile)) return null;
        var line = File.ReadLines(gitFile).FirstOrDefault(l => l.StartsWith("gitdir:", StringComparison.Ordinal));
        if (line is null) return null;
        var gitDir = new DirectoryInfo(Path.GetFullPath(line["gitdir:".Length..].Trim(), root));
        // MAIN/.git/worktrees/NAME -> MAIN
        return gitDir.Parent?.Name == "worktrees" && gitDir.Parent.Parent is { Name: ".git" } dotGit ? dotGit.Parent?.FullName : null;
    }

    /// <summary>The flags every check uses: verbose resource usage, and a warning for any register spill.</summary>
    public static IReadOnlyList<string> Flags(GpuArch arch) => [$"-arch={arch.Name}", "-v", "--warn-on-spills"];

    /// <summary>The flags as a reader sees them, for reports.</summary>
    public const string FlagsText = "-arch=sm_XX -v --warn-on-spills";

    /// <summary>The version line, e.g. "Cuda compilation tools, release 11.8, V11.8.89".</summary>
    public string Version()
    {
        var (exit, output) = Run(["--version"]);
        return exit == 0
            ? output.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("Cuda compilation tools", StringComparison.Ordinal)) ?? output.Trim()
            : throw new InvalidOperationException($"'{ExecutablePath} --version' failed with exit code {exit}: {output}");
    }

    /// <summary>Assembles PTX for the given architecture and parses ptxas' report.</summary>
    public PtxasResult Assemble(string ptx, GpuArch arch)
    {
        var dir = Directory.CreateTempSubdirectory("ssd-ptxas-");
        try
        {
            var input = Path.Combine(dir.FullName, "kernel.ptx");
            File.WriteAllText(input, ptx);
            var (exit, output) = Run([.. Flags(arch), "-o", Path.Combine(dir.FullName, "kernel.cubin"), input]);
            return PtxasResult.Parse(arch, exit, output);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private (int ExitCode, string Output) Run(IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(ExecutablePath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start '{ExecutablePath}'");
        // Read both streams at once so that neither pipe can fill up and block ptxas.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
