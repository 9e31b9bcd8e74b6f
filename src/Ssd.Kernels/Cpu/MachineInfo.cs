namespace Ssd.Kernels.Cpu;

/// <summary>The machine line every results file names (lscpu's model name and CPU family, threads, best ISA).</summary>
internal static class MachineInfo
{
    public static string Description
    {
        get
        {
            string model = "?", family = "?";
            try
            {
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                {
                    if (line.StartsWith("model name", StringComparison.Ordinal)) model = line[(line.IndexOf(':') + 1)..].Trim();
                    else if (line.StartsWith("cpu family", StringComparison.Ordinal)) family = line[(line.IndexOf(':') + 1)..].Trim();
                    else if (line.Length == 0) break;
                }
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            return $"{model} (CPU family {family}), {Environment.ProcessorCount} threads, ISA {CpuIsaSupport.Best}";
        }
    }
}
