using System.CommandLine;
using Ssd.Engine.Backends.Cpu;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Detection;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd devices [--backend B]`: what each backend choice resolves to on this machine, by building the very backend
/// `ssd detect --backend B` would build (<see cref="BackendFactory"/>): auto says which one detect takes. Without
/// --backend every choice is listed (an unavailable one with the reason; exit 0); with it, only that one, and exit 3
/// when it cannot run here.
/// </summary>
public static class DevicesCommand
{
    private static readonly DetectorBackend[] All = [DetectorBackend.Auto, DetectorBackend.Cuda, DetectorBackend.OpenCL, DetectorBackend.CpuSim, DetectorBackend.Cpu];

    public static Command Create()
    {
        var backend = new Option<DetectorBackend?>("--backend")
        {
            Description = "auto, cuda, opencl, cpu-sim or cpu (default: list them all)",
            CustomParser = r =>
            {
                try { return DetectorBackendNames.Parse(r.Tokens[^1].Value); }
                catch (ArgumentException e) { r.AddError($"--backend: {e.Message}"); return null; }
            },
        };
        var command = new Command("devices", "Show what each backend choice runs on here (auto: what `ssd detect` uses).") { backend };
        command.SetAction(parse =>
        {
            if (parse.GetValue(backend) is { } one)
            {
                var (ok, description) = Probe(one);
                if (!ok) throw CliException.Model($"backend {DetectorBackendNames.Name(one)}: {description}");
                Console.WriteLine($"{DetectorBackendNames.Name(one)}: {description}");
                return ExitCodes.Ok;
            }
            foreach (var b in All)
            {
                var (ok, description) = Probe(b);
                Console.WriteLine($"{DetectorBackendNames.Name(b),-8} {(ok ? description : "not available: " + description)}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Builds the backend as detect would and describes it, or says why it cannot be built.</summary>
    private static (bool Ok, string Description) Probe(DetectorBackend kind)
    {
        try
        {
            using var backend = BackendFactory.Create(kind);
            string detail = backend is CpuBackend ? $", {CpuIsaSupport.Best} kernels, {Environment.ProcessorCount} threads" : "";
            return (true, backend.Description + detail + (kind == DetectorBackend.Auto ? " (what ssd detect uses by default)" : ""));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return (false, ErrorReport.OneLine(e.Message));
        }
    }
}
