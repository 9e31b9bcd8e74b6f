namespace Ssd.Engine.Training.Optim;

/// <summary>
/// A trainable tensor as the optimizer sees it: its values and its gradient, two float arrays of the same length
/// (row-major in <see cref="Shape"/>). The optimizer updates <see cref="Value"/> in place from <see cref="Grad"/>.
/// </summary>
public sealed class Parameter
{
    public string Name { get; }
    public int[] Shape { get; }
    public float[] Value { get; }
    public float[] Grad { get; }

    /// <param name="isBias">Whether the tensor is a bias (Caffe's convention trains these at twice the rate without
    /// decay); by default, whether the name ends in "bias".</param>
    public Parameter(string name, int[] shape, float[] value, float[]? grad = null, bool? isBias = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(value);
        long count = shape.Aggregate(1L, (a, d) => d >= 0 ? a * d : throw new ArgumentException($"parameter '{name}': negative dimension in [{string.Join(", ", shape)}]"));
        if (count != value.Length) throw new ArgumentException($"parameter '{name}': {value.Length} values for shape [{string.Join(", ", shape)}]");
        if (grad is not null && grad.Length != value.Length) throw new ArgumentException($"parameter '{name}': gradient holds {grad.Length} floats, the value {value.Length}");
        Name = name;
        Shape = shape;
        Value = value;
        Grad = grad ?? new float[value.Length];
        IsBias = isBias ?? name.EndsWith("bias", StringComparison.Ordinal);
    }

    public int Count => Value.Length;

    /// <summary>A bias (Caffe's convention gives these twice the rate and no decay).</summary>
    public bool IsBias { get; }

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}

/// <summary>
/// Parameters that share hyper-parameters, as a torch param_group: <see cref="Lr"/> is the current learning rate
/// (the schedulers set it), <see cref="InitialLr"/> the one the group started with (torch's 'initial_lr', the
/// schedulers' base).
/// </summary>
public sealed class ParameterGroup
{
    public IReadOnlyList<Parameter> Parameters { get; }
    public double Lr { get; set; }
    public double InitialLr { get; }
    public double WeightDecay { get; }

    public ParameterGroup(IEnumerable<Parameter> parameters, double lr, double weightDecay = 0)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = parameters.ToArray();
        if (!(lr >= 0 && double.IsFinite(lr))) throw new ArgumentException($"parameter group: learning rate {lr} must be finite and not negative");
        if (!(weightDecay >= 0 && double.IsFinite(weightDecay))) throw new ArgumentException($"parameter group: weight decay {weightDecay} must be finite and not negative");
        Lr = InitialLr = lr;
        WeightDecay = weightDecay;
    }

    /// <summary>One group: every parameter at <paramref name="lr"/> and <paramref name="weightDecay"/> (torch's default).</summary>
    public static ParameterGroup[] Single(IEnumerable<Parameter> parameters, double lr, double weightDecay) => [new(parameters, lr, weightDecay)];

    /// <summary>
    /// Caffe's convention (ssd_pascal.py, VGGNetBody): weights at lr with the decay, biases (lr_mult 2,
    /// decay_mult 0) at twice the rate without decay.
    /// </summary>
    public static ParameterGroup[] Caffe(IEnumerable<Parameter> parameters, double lr, double weightDecay)
    {
        var all = parameters.ToArray();
        return [new(all.Where(p => !p.IsBias), lr, weightDecay), new(all.Where(p => p.IsBias), 2 * lr, 0)];
    }
}
