namespace Ssd.Weights.Caffe;

/// <summary>One layer of a deploy file: name, type, bottoms, tops and its whole text message for the parameters.</summary>
internal sealed record CaffeLayerDefinition(string Name, string Type, string[] Bottoms, string[] Tops, PrototxtMessage Message)
{
    /// <summary>The layer's `xxx_param { }` block, or an empty message when absent (all defaults).</summary>
    public PrototxtMessage Param(string name) => Message.Message(name) ?? new PrototxtMessage { Line = Message.Line };
}

/// <summary>
/// The typed view of a deploy .prototxt: the network input (legacy `input` + `input_shape` / `input_dim`, or an
/// Input layer) and the layers that run in the TEST phase, in order. Training-only layers (include { phase: TRAIN }
/// or exclude { phase: TEST }) are dropped. Which fields are known is checked during conversion
/// (<see cref="CaffeFieldCheck"/>, against <see cref="CaffeLayerFields"/>), not here.
/// </summary>
internal sealed class CaffeNetDefinition
{
    public required string Name { get; init; }
    public required string InputBlob { get; init; }
    /// <summary>N, C, H, W of the input blob.</summary>
    public required long[] InputShape { get; init; }
    public required IReadOnlyList<CaffeLayerDefinition> Layers { get; init; }
    /// <summary>The Input layer, when the input is declared by one (its input_param is checked like any layer's).</summary>
    public CaffeLayerDefinition? InputLayer { get; init; }
    /// <summary>The whole parsed file.</summary>
    public PrototxtMessage Root { get; init; } = new();
    /// <summary>The file name, for messages.</summary>
    public string Source { get; init; } = "deploy file";

    public static CaffeNetDefinition Load(string path, ReaderBudgets? budgets = null)
    {
        budgets ??= ReaderBudgets.Default;
        var name = Path.GetFileName(path);
        var bytes = InputFile.ReadAllBytes(path, "prototxt.bytes", budgets.PrototxtBytes);
        string text;
        try { text = new System.Text.UTF8Encoding(false, true).GetString(bytes); }
        catch (System.Text.DecoderFallbackException) { throw new InvalidDataException($"{name}: not a text file (invalid UTF-8)"); }
        try { return From(PrototxtParser.Parse(text), name); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{name}: {e.Message}", e); }
        catch (PrototxtSyntaxException e) { throw new PrototxtSyntaxException($"{name}: {e.Message}", e.Line, e.Column, raw: true); }
    }

    public static CaffeNetDefinition Parse(string text) => From(PrototxtParser.Parse(text));

    public static CaffeNetDefinition From(PrototxtMessage net, string source = "deploy file")
    {
        if (net.Has("layers") && !net.Has("layer"))
            throw new InvalidDataException("deploy file uses the deprecated V1 'layers' syntax; upgrade it with Caffe's upgrade_net_proto_text");
        var layers = new List<CaffeLayerDefinition>();
        CaffeLayerDefinition? inputLayer = null;
        string? inputBlob = net.Scalars("input").Select(s => s.Text).FirstOrDefault();
        long[]? inputShape = null;
        if (net.Message("input_shape") is { } shape) inputShape = shape.Longs("dim");
        else if (net.Has("input_dim")) inputShape = net.Longs("input_dim");

        foreach (var m in net.Messages("layer"))
        {
            var name = m.String("name") ?? throw new InvalidDataException($"prototxt line {m.Line}: layer without a name");
            var type = m.String("type") ?? throw new InvalidDataException($"prototxt line {m.Line}: layer '{name}' has no type");
            if (!RunsInTestPhase(m)) continue;
            var layer = new CaffeLayerDefinition(name, type,
                m.Scalars("bottom").Select(s => s.Text).ToArray(), m.Scalars("top").Select(s => s.Text).ToArray(), m);
            if (layer.Bottoms.Append(name).Append(type).Concat(layer.Tops).Any(ReaderErrors.HasControlCharacters))
                throw new InvalidDataException($"prototxt line {m.Line}: layer '{ReaderErrors.Printable(name)}' has a name, type or blob name with control characters");
            if (type == "Input")
            {
                if (layer.Tops.Length != 1) throw new InvalidDataException($"Input layer '{name}' must have exactly one top");
                inputBlob ??= layer.Tops[0];
                inputLayer ??= layer;
                inputShape ??= layer.Param("input_param").Message("shape")?.Longs("dim");
                continue;
            }
            layers.Add(layer);
        }

        if (inputBlob is null) throw new InvalidDataException("deploy file declares no input (neither 'input:' nor an Input layer)");
        if (inputShape is null) throw new InvalidDataException($"deploy file gives no shape for input '{inputBlob}' (input_shape, input_dim or input_param)");
        if (inputShape.Length != 4 || inputShape.Any(d => d <= 0 || d > 1 << 16))
            throw new InvalidDataException($"input '{inputBlob}' shape [{string.Join(",", inputShape)}] must be 4 positive dims N,C,H,W");
        var names = new HashSet<string>();
        foreach (var l in layers)
            if (!names.Add(l.Name)) throw new InvalidDataException($"prototxt line {l.Message.Line}: layer name '{l.Name}' is used twice");
        return new CaffeNetDefinition
        {
            Name = net.String("name") ?? "caffe-model", InputBlob = inputBlob, InputShape = inputShape, Layers = layers, InputLayer = inputLayer, Root = net, Source = source,
        };
    }

    /// <summary>Caffe's NetStateRule for a deploy net (phase TEST, level 0, no stages), phase part only.</summary>
    private static bool RunsInTestPhase(PrototxtMessage layer)
    {
        var include = layer.Messages("include").ToList();
        var exclude = layer.Messages("exclude").ToList();
        if (include.Count > 0) return include.Any(r => (r.Enum("phase") ?? "TEST") is "TEST" or "1");
        return !exclude.Any(r => (r.Enum("phase") ?? "") is "TEST" or "1");
    }
}
