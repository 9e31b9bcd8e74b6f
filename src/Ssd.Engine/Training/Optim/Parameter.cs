namespace Ssd.Engine.Training.Optim;

/// <summary>
/// A trainable tensor as the optimizer sees it: its values and its gradient, two float arrays of the same length
/// (row-major in <see cref="Shape"/>). The optimizer updates <see cref="Value"/> in place from <see cref="Grad"/>.
/// </summary>
public sealed class Parameter
{
    /// <summary>The tensor's name in the model (e.g. "vgg.0.weight").</summary>
    public string Name { get; }
    /// <summary>The tensor's dimensions.</summary>
    public int[] Shape { get; }
    /// <summary>The values, updated in place by the optimizer.</summary>
    public float[] Value { get; }
    /// <summary>The gradient, as long as <see cref="Value"/>.</summary>
    public float[] Grad { get; }

    /// <summary>A parameter over existing arrays (not copied).</summary>
    /// <param name="name">The tensor's name, not empty.</param>
    /// <param name="shape">The dimensions; their product is the value's length.</param>
    /// <param name="value">The values, updated in place.</param>
    /// <param name="grad">The gradient array (null: a new zeroed one).</param>
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

    /// <summary>The number of elements.</summary>
    public int Count => Value.Length;

    /// <summary>A bias (Caffe's convention gives these twice the rate and no decay).</summary>
    public bool IsBias { get; }

    /// <summary>The name and shape.</summary>
    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}

/// <summary>
/// Parameters that share hyper-parameters, as a torch param_group: <see cref="Lr"/> is the current learning rate
/// (the schedulers set it), <see cref="InitialLr"/> the one the group started with (torch's 'initial_lr', the
/// schedulers' base).
/// </summary>
public sealed class ParameterGroup
{
    /// <summary>The group's parameters.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }
    /// <summary>The current learning rate (the schedulers set it), at least 0.</summary>
    public double Lr { get; set; }
    /// <summary>The rate the group started with (torch's initial_lr).</summary>
    public double InitialLr { get; }
    /// <summary>The L2 weight decay added to the gradient, at least 0.</summary>
    public double WeightDecay { get; }

    /// <summary>A group of parameters with their hyper-parameters.</summary>
    /// <param name="parameters">The parameters.</param>
    /// <param name="lr">The learning rate, finite, at least 0.</param>
    /// <param name="weightDecay">The weight decay, finite, at least 0.</param>
    /// <exception cref="ArgumentException">A rate or decay is out of range.</exception>
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
