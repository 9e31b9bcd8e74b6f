using System.CommandLine;

namespace Ssd.Cli.Commands;

/// <summary>`ssd inspect MODEL`: prints a converted model's description (JSON) and its tensor table; exit 3 when it is no model.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "a model file written by `ssd convert`" };
        var command = new Command("inspect", "Show the description and tensors of a converted model.") { model };
        command.SetAction(parse =>
        {
            var (description, tensors, ignored) = ModelFiles.Load(parse.GetValue(model)!);
            Console.WriteLine(description.ToJson());
            if (ignored.Count > 0)
            {
                Console.WriteLine();
                Console.WriteLine("ignored at conversion:");
                foreach (var line in ignored) Console.WriteLine($"  {line}");
            }
            Console.WriteLine();
            Console.WriteLine($"{"tensor",-56} {"dtype",-8} shape");
            long total = 0;
            foreach (var t in tensors.Values.OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                Console.WriteLine($"{t.Name,-56} {t.DType,-8} [{string.Join(", ", t.Shape)}]");
                total += t.ElementCount;
            }
            Console.WriteLine($"{tensors.Count} tensors, {total:N0} parameters");
            return ExitCodes.Ok;
        });
        return command;
    }
}
