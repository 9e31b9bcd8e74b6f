using System.CommandLine;
using System.Globalization;
using Ssd.Weights;
using Ssd.Weights.Model;
using Ssd.Weights.Torch;

namespace Ssd.Cli.Commands;

/// <summary>`ssd convert INPUT [--prototxt P] [--flavor F] ... -o OUT`: a checkpoint to a self-describing model file.</summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "checkpoint: a .caffemodel (with --prototxt) or a PyTorch .pth/.pt" };
        var prototxt = new Option<string?>("--prototxt") { Description = "Caffe deploy .prototxt (required for .caffemodel)" };
        var flavor = new Option<string>("--flavor") { Description = "auto, caffe, ssd.pytorch or torchvision", DefaultValueFactory = _ => "auto" };
        var classes = new Option<string?>("--classes") { Description = "comma-separated class names (background first or omitted)" };
        var classesFile = new Option<string?>("--classes-file") { Description = "file with one class name per line" };
        var mean = new Option<string?>("--mean") { Description = "per-channel mean in the network's channel order, e.g. 104,117,123 (one value: all channels)" };
        var scale = new Option<string?>("--scale") { Description = "multiplies (pixel - mean), as OpenCV blobFromImage's scale factor, e.g. 0.007843" };
        var std = new Option<string?>("--std") { Description = "per-channel divisor after the mean and scale, e.g. 0.229,0.224,0.225 (one value: all channels)" };
        var range = new Option<string?>("--pixel-range") { Description = "0..255 (the 8-bit values) or 0..1 (divided by 255 before the mean)" };
        var order = new Option<string?>("--channel-order") { Description = "rgb or bgr" };
        var size = new Option<string?>("--input-size") { Description = "network input WxH, e.g. 300x300" };
        var output = new Option<string>("--output", "-o") { Description = "output model file (.safetensors)", Required = true };
        var lenient = new Option<bool>("--lenient") { Description = "Caffe: warn about unknown deploy-file fields (and list them in the model) instead of failing" };
        var command = new Command("convert", "Convert a Caffe or PyTorch SSD checkpoint into an Ssd model file.")
            { input, prototxt, flavor, classes, classesFile, mean, scale, std, range, order, size, output, lenient };
        command.SetAction(parse =>
        {
            try
            {
                var options = new ConversionOptions
                {
                    ClassNames = ReadClasses(parse.GetValue(classes), parse.GetValue(classesFile)),
                    Mean = parse.GetValue(mean) is { } m ? PerChannel(ParseFloats(m, "--mean"), "--mean") : null,
                    Scale = parse.GetValue(scale) is { } k ? ParseScale(k) : null,
                    Std = parse.GetValue(std) is { } d ? Positive(PerChannel(ParseFloats(d, "--std"), "--std"), "--std") : null,
                    PixelRange = parse.GetValue(range) switch
                    {
                        null => null, "0..255" => PixelRange.Byte, "0..1" => PixelRange.Unit,
                        var r => throw new ArgumentException($"--pixel-range must be 0..255 or 0..1, not '{r}'"),
                    },
                    ChannelOrder = parse.GetValue(order)?.ToLowerInvariant() switch
                    {
                        null => null, "rgb" => ChannelOrder.Rgb, "bgr" => ChannelOrder.Bgr,
                        var o => throw new ArgumentException($"--channel-order must be rgb or bgr, not '{o}'"),
                    },
                    InputSize = parse.GetValue(size) is { } s ? ParseSize(s) : null,
                    Lenient = parse.GetValue(lenient),
                };
                var result = Convert(parse.GetValue(input)!, parse.GetValue(prototxt), parse.GetValue(flavor)!, options);
                foreach (var w in result.Warnings) Console.Error.WriteLine($"warning: {w}");
                var outPath = parse.GetValue(output)!;
                ModelFile.Save(outPath, result);
                Console.WriteLine($"{result.Description.Flavor} model '{result.Description.Name}': {result.Description.Layers.Length} layers, "
                    + $"{result.Tensors.Count} tensors, {result.Description.PostProcess.NumClasses} classes -> {outPath}");
                return 0;
            }
            // The readers' documented errors (ReaderErrors: malformed data, a refused pickle, a budget) and bad options.
            catch (Exception e) when (ReaderErrors.IsInputError(e) || e is FormatException or ArgumentException or NotSupportedException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    public static ConversionResult Convert(string input, string? prototxt, string flavor, ConversionOptions options)
    {
        bool caffe = flavor == "caffe" || (flavor == "auto" && (prototxt is not null || input.EndsWith(".caffemodel", StringComparison.OrdinalIgnoreCase)));
        if (caffe)
        {
            if (prototxt is null) throw new ArgumentException("a .caffemodel needs its deploy file: --prototxt deploy.prototxt");
            return CaffeConverter.Convert(prototxt, input, options);
        }
        ModelFlavor? torchFlavor = flavor switch
        {
            "auto" => null, "ssd.pytorch" => ModelFlavor.SsdPytorch, "torchvision" => ModelFlavor.Torchvision,
            _ => throw new ArgumentException($"--flavor must be auto, caffe, ssd.pytorch or torchvision, not '{flavor}'"),
        };
        return TorchConverter.Convert(TorchCheckpoint.Load(input, options.Budgets), torchFlavor, options);
    }

    private static string[]? ReadClasses(string? list, string? file)
    {
        if (list is not null && file is not null) throw new ArgumentException("give --classes or --classes-file, not both");
        if (list is not null) return list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (file is not null) return File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        return null;
    }

    private static float[] ParseFloats(string text, string option) =>
        text.Split(',', StringSplitOptions.TrimEntries).Select(t => float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v : throw new ArgumentException($"{option}: '{t}' is not a number")).ToArray();

    /// <summary>Three finite values, one per channel; a single value serves all three.</summary>
    private static float[] PerChannel(float[] values, string option) =>
        !values.All(float.IsFinite) ? throw new ArgumentException($"{option}: every value must be a finite number")
        : values.Length switch
        {
            1 => [values[0], values[0], values[0]],
            3 => values,
            _ => throw new ArgumentException($"{option} needs 1 or 3 comma-separated values, got {values.Length}"),
        };

    private static float[] Positive(float[] values, string option) => values.All(v => v > 0f && float.IsFinite(v)) ? values
        : throw new ArgumentException($"{option}: every value must be a positive finite number");

    private static float ParseScale(string text)
    {
        var v = ParseFloats(text, "--scale");
        if (v.Length != 1 || !float.IsFinite(v[0]) || v[0] == 0f) throw new ArgumentException($"--scale must be one finite non-zero number, not '{text}'");
        return v[0];
    }

    private static (int, int) ParseSize(string text)
    {
        var parts = text.ToLowerInvariant().Split('x');
        if (parts.Length == 2 && int.TryParse(parts[0], out var w) && int.TryParse(parts[1], out var h) && w > 0 && h > 0) return (w, h);
        throw new ArgumentException($"--input-size must be WxH (e.g. 300x300), not '{text}'");
    }
}
