using System.CommandLine;
using Ssd.Kernels.Core;

namespace Ssd.Cli.Commands;

/// <summary>`ssd devices [--backend B]`: shows which accelerator a backend choice resolves to.</summary>
public static class DevicesCommand
{
    public static Command Create()
    {
        var backend = new Option<string>("--backend") { Description = "auto, cuda, opencl or cpu-sim", DefaultValueFactory = _ => "auto" };
        var command = new Command("devices", "Show the ILGPU accelerator that a backend choice selects.") { backend };
        command.SetAction(parse =>
        {
            using var device = ComputeDevice.Create(BackendKindNames.Parse(parse.GetValue(backend)!));
            Console.WriteLine(device.Description);
            return 0;
        });
        return command;
    }
}
