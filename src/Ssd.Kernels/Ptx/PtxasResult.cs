using System.Text.RegularExpressions;

namespace Ssd.Kernels.Ptx;

/// <summary>
/// What `ptxas -v --warn-on-spills` reports for one PTX module: the resources of its kernel and any errors.
/// </summary>
/// <remarks>
/// Registers and shared memory are the largest over the module's functions (one entry per module here); spill and
/// stack bytes are summed over all functions, so that a spill in a non-inlined helper also counts.
/// </remarks>
internal sealed partial record PtxasResult(
    GpuArch Arch,
    int ExitCode,
    int Registers,
    int SharedMemoryBytes,
    int SpillStoreBytes,
    int SpillLoadBytes,
    int StackFrameBytes,
    IReadOnlyList<string> Errors,
    IReadOnlyList<string> Warnings,
    string Output)
{
    public bool Succeeded => ExitCode == 0 && Errors.Count == 0;
    public bool Spills => SpillStoreBytes > 0 || SpillLoadBytes > 0;

    public static PtxasResult Parse(GpuArch arch, int exitCode, string output)
    {
        int registers = 0, shared = 0, spillStores = 0, spillLoads = 0, stack = 0;
        var errors = new List<string>();
        var warnings = new List<string>();
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0) continue;
            if (UsedRegisters().Match(line) is { Success: true } used)
            {
                registers = Math.Max(registers, int.Parse(used.Groups[1].Value));
                if (SharedBytes().Match(line) is { Success: true } smem)
                    shared = Math.Max(shared, int.Parse(smem.Groups[1].Value));
            }
            else if (FunctionProperties().Match(line) is { Success: true } props)
            {
                stack += int.Parse(props.Groups[1].Value);
                spillStores += int.Parse(props.Groups[2].Value);
                spillLoads += int.Parse(props.Groups[3].Value);
            }
            else if (ErrorLine().IsMatch(line)) errors.Add(line);
            else if (WarningLine().IsMatch(line)) warnings.Add(line);
        }
        if (exitCode != 0 && errors.Count == 0)
            errors.Add($"ptxas exited with code {exitCode}: {output.Trim()}");
        return new PtxasResult(arch, exitCode, registers, shared, spillStores, spillLoads, stack, errors, warnings, output);
    }

    /// <summary>A one-line verdict: "ok", "N bytes spilled", or the first error.</summary>
    public string Status =>
        !Succeeded ? $"error: {Errors[0]}"
        : Spills ? $"spills: {SpillStoreBytes} B stored, {SpillLoadBytes} B loaded"
        : "ok";

    [GeneratedRegex(@"Used (\d+) registers")]
    private static partial Regex UsedRegisters();

    [GeneratedRegex(@"(\d+) bytes smem")]
    private static partial Regex SharedBytes();

    [GeneratedRegex(@"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex FunctionProperties();

    [GeneratedRegex(@"\b(error|fatal)\b", RegexOptions.IgnoreCase)]
    private static partial Regex ErrorLine();

    [GeneratedRegex(@"\bwarning\b", RegexOptions.IgnoreCase)]
    private static partial Regex WarningLine();
}
