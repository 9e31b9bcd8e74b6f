using System.CommandLine;
using System.Globalization;
using Ssd.Weights;
using Ssd.Weights.Model;
using Ssd.Weights.Torch;

namespace Ssd.Cli.Commands;

/// <summary>
/// `ssd convert INPUT [--prototxt P] [--flavor F] ... -o OUT`: a checkpoint to a self-describing model file.
/// The output is checked before the checkpoint is read (not an input, writable) and written atomically; a checkpoint
/// that cannot be read or converted exits 3 with a message naming it.
/// </summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "checkpoint: a .caffemodel (with --prototxt) or a PyTorch .pth/.pt" };
        var prototxt = new Option<string?>("--prototxt") { Description = "Caffe deploy .prototxt (required for .caffemodel)" };
        var flavor = new Option<string>("--flavor") { Description = "auto, caffe, ssd.pytorch or torchvision", DefaultValueFactory = _ => "auto" };
        flavor.AcceptOnlyFromAmong("auto", "caffe", "ssd.pytorch", "torchvision");
        var classes = new Option<string?>("--classes") { Description = "comma-separated class names (background first or omitted)" };
        var classesFile = new Option<string?>("--classes-file") { Description = "file with one class name per line" };
        var mean = new Option<float[]?>("--mean")
        {
            Description = "per-channel mean in the network's channel order, e.g. 104,117,123 (one value: all channels)",
            CustomParser = r => PerChannel(ParseFloats(r.Tokens[^1].Value, "--mean", r.AddError), "--mean", positive: false, r.AddError),
        };
        var scale = new Option<float?>("--scale")
        {
            Description = "multiplies (pixel - mean), as OpenCV blobFromImage's scale factor, e.g. 0.007843",
            CustomParser = r => ParseScale(r.Tokens[^1].Value, r.AddError),
        };
        var std = new Option<float[]?>("--std")
        {
            Description = "per-channel divisor after the mean and scale, e.g. 0.229,0.224,0.225 (one value: all channels)",
            CustomParser = r => PerChannel(ParseFloats(r.Tokens[^1].Value, "--std", r.AddError), "--std", positive: true, r.AddError),
        };
        var range = new Option<PixelRange?>("--pixel-range")
        {
            Description = "0..255 (the 8-bit values) or 0..1 (divided by 255 before the mean)",
            CustomParser = r => r.Tokens[^1].Value switch
            {
                "0..255" => PixelRange.Byte, "0..1" => PixelRange.Unit,
                var v => Error<PixelRange?>(r.AddError, $"--pixel-range must be 0..255 or 0..1, not '{v}'"),
            },
        };
        var order = new Option<string?>("--channel-order") { Description = "rgb or bgr" };
        order.AcceptOnlyFromAmong("rgb", "bgr");
        var size = new Option<(int, int)?>("--input-size")
        {
            Description = "network input WxH, e.g. 300x300",
            CustomParser = r => ParseSize(r.Tokens[^1].Value, r.AddError),
        };
        var output = new Option<string>("--output", "-o") { Description = "output model file (.safetensors)", Required = true };
        var lenient = new Option<bool>("--lenient") { Description = "Caffe: warn about unknown deploy-file fields (and list them in the model) instead of failing" };
        var command = new Command("convert", "Convert a Caffe or PyTorch SSD checkpoint into an Ssd model file.")
            { input, prototxt, flavor, classes, classesFile, mean, scale, std, range, order, size, output, lenient };
        command.SetAction(parse =>
        {
            string inputPath = parse.GetValue(input)!, outPath = parse.GetValue(output)!;
            string? prototxtPath = parse.GetValue(prototxt), classesPath = parse.GetValue(classesFile);
            ModelFiles.CheckPath(inputPath, "checkpoint");
            if (prototxtPath is not null) ModelFiles.CheckPath(prototxtPath, "prototxt");
            OutputPaths.CheckFile(outPath, "-o", new[] { inputPath, prototxtPath, classesPath }.OfType<string>());
            var options = new ConversionOptions
            {
                ClassNames = ReadClasses(parse.GetValue(classes), classesPath),
                Mean = parse.GetValue(mean) is { Length: > 0 } m ? m : null,
                Scale = parse.GetValue(scale),
                Std = parse.GetValue(std) is { Length: > 0 } d ? d : null,
                PixelRange = parse.GetValue(range),
                ChannelOrder = parse.GetValue(order) switch { null => null, "rgb" => ChannelOrder.Rgb, _ => ChannelOrder.Bgr },
                InputSize = parse.GetValue(size),
                Lenient = parse.GetValue(lenient),
            };
            ConversionResult result;
            try { result = Convert(inputPath, prototxtPath, parse.GetValue(flavor)!, options); }
            catch (Exception e) when (e is not (CliException or OperationCanceledException or OutOfMemoryException))
            {
                throw CliException.Model($"cannot convert {inputPath}: {e.Message}", e);
            }
            foreach (var w in result.Warnings) Console.Error.WriteLine($"warning: {w}");
            try { ModelFile.Save(outPath, result); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"{outPath}: not written: {e.Message}", ExitCodes.InputsFailed, e);
            }
            Console.WriteLine($"{result.Description.Flavor} model '{result.Description.Name}': {result.Description.Layers.Length} layers, "
                + $"{result.Tensors.Count} tensors, {result.Description.PostProcess.NumClasses} classes -> {outPath}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static ConversionResult Convert(string input, string? prototxt, string flavor, ConversionOptions options)
    {
        bool caffe = flavor == "caffe" || (flavor == "auto" && (prototxt is not null || input.EndsWith(".caffemodel", StringComparison.OrdinalIgnoreCase)));
        if (caffe)
        {
            if (prototxt is null) throw CliException.Usage("a .caffemodel needs its deploy file: --prototxt deploy.prototxt");
            return CaffeConverter.Convert(prototxt, input, options);
        }
        ModelFlavor? torchFlavor = flavor switch
        {
            "ssd.pytorch" => ModelFlavor.SsdPytorch,
            "torchvision" => ModelFlavor.Torchvision,
            _ => null,
        };
        return TorchConverter.Convert(TorchCheckpoint.Load(input, options.Budgets), torchFlavor, options);
    }

    private static string[]? ReadClasses(string? list, string? file)
    {
        if (list is not null && file is not null) throw CliException.Usage("give --classes or --classes-file, not both");
        if (list is not null) return list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (file is null) return null;
        try { return File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CliException.Usage($"--classes-file {file}: cannot read it: {e.Message}", e);
        }
    }

    private static float[]? ParseFloats(string text, string option, Action<string> error)
    {
        var values = new List<float>();
        foreach (var t in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !float.IsFinite(v))
            {
                error($"{option}: '{t}' is not a number");
                return null;
            }
            values.Add(v);
        }
        return [.. values];
    }

    private static T Error<T>(Action<string> error, string message)
    {
        error(message);
        return default!;
    }

    /// <summary>Three values, one per channel; a single value serves all three.</summary>
    private static float[]? PerChannel(float[]? values, string option, bool positive, Action<string> error)
    {
        if (values is null) return null;
        if (positive && !values.All(v => v > 0f))
        {
            error($"{option}: every value must be a positive number");
            return null;
        }
        if (values.Length is not (1 or 3))
        {
            error($"{option} needs 1 or 3 comma-separated values, got {values.Length}");
            return null;
        }
        return values.Length == 1 ? [values[0], values[0], values[0]] : values;
    }

    private static float? ParseScale(string text, Action<string> error)
    {
        var v = ParseFloats(text, "--scale", error);
        if (v is null) return null;
        if (v.Length == 1 && v[0] != 0f) return v[0];
        error($"--scale must be one non-zero number, not '{text}'");
        return null;
    }

    private static (int, int)? ParseSize(string text, Action<string> error)
    {
        var parts = text.ToLowerInvariant().Split('x');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var w)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var h) && w > 0 && h > 0) return (w, h);
        error($"--input-size must be WxH (e.g. 300x300), not '{text}'");
        return null;
    }
}
