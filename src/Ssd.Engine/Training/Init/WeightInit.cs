using System.Text;
using System.Text.RegularExpressions;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Training.Optim;
using Ssd.Weights.Model;

namespace Ssd.Engine.Training.Init;

/// <summary>Where a parameter sits in an SSD, which decides how each flavour initialises it.</summary>
public enum ParameterRole
{
    /// <summary>The base network (VGG-16 up to conv5_3; ssd.pytorch's and Caffe's VGG include fc6 and fc7).</summary>
    Backbone,
    /// <summary>The extra feature layers (torchvision: fc6 and fc7 too).</summary>
    Extras,
    /// <summary>The 3x3 box-regression and classification heads.</summary>
    Head,
    /// <summary>conv4_3's L2Norm scale (initial value 20).</summary>
    L2NormScale,
    /// <summary>A BatchNorm's (or Caffe Scale layer's) multiplier, 1.</summary>
    NormScale,
    /// <summary>A BatchNorm's (or Caffe Scale layer's) shift, 0.</summary>
    NormShift,
}

/// <summary>The kind of distribution an <see cref="InitRule"/> draws from.</summary>
public enum InitDistribution
{
    /// <summary>Every element A.</summary>
    Constant,
    /// <summary>Uniform on [A, B).</summary>
    Uniform,
    /// <summary>Normal with mean A and standard deviation B.</summary>
    Normal,
}

/// <summary>A distribution to draw a tensor from: Constant(A), Uniform(A, B) on [A, B), Normal(mean A, std B).</summary>
public readonly record struct InitRule(InitDistribution Distribution, double A, double B = 0)
{
    /// <summary>Every element <paramref name="value"/>.</summary>
    public static InitRule Constant(double value) => new(InitDistribution.Constant, value);
    /// <summary>Uniform on [-bound, bound).</summary>
    public static InitRule Uniform(double bound) => new(InitDistribution.Uniform, -bound, bound);
    /// <summary>Normal with mean 0 and standard deviation <paramref name="std"/>.</summary>
    public static InitRule Normal(double std) => new(InitDistribution.Normal, 0, std);

    /// <summary>The distribution's mean.</summary>
    public double Mean => Distribution switch { InitDistribution.Uniform => (A + B) / 2, _ => A };
    /// <summary>The distribution's standard deviation (0 for a constant).</summary>
    public double Std => Distribution switch { InitDistribution.Uniform => (B - A) / Math.Sqrt(12), InitDistribution.Normal => B, _ => 0 };

    /// <summary>The rule as "constant 20", "U(a, b)" or "N(0, s^2)".</summary>
    public override string ToString() => Distribution switch
    {
        InitDistribution.Constant => $"constant {A}",
        InitDistribution.Uniform => $"U({A:G6}, {B:G6})",
        _ => $"N({A}, {B:G6}^2)",
    };
}

/// <summary>
/// Each flavour's initialisation for training from scratch:
/// <list type="bullet">
/// <item>torchvision 0.14 (ssd300_vgg16 with no weights): the VGG backbone kaiming_normal_(mode fan_out, relu),
/// N(0, 2 / fan_out), bias 0 (vgg.py); fc6, fc7, the extras and the heads xavier_uniform_,
/// U(+-sqrt(6 / (fan_in + fan_out))), bias 0 (ssd.py _xavier_init); the L2Norm scale 20.</item>
/// <item>ssd.pytorch (train.py weights_init, applied to extras, loc and conf): xavier_uniform_ weights, bias 0; the
/// VGG (pretrained in its recipe; from scratch it keeps torch's nn.Conv2d default) kaiming_uniform_(a = sqrt 5),
/// U(+-1 / sqrt(fan_in)), and its bias U(+-1 / sqrt(fan_in)); L2Norm 20.</item>
/// <item>Caffe (ssd_pascal.py / model_libs.py: weight_filler xavier, bias_filler constant 0): XavierFiller with its
/// default FAN_IN, U(+-sqrt(3 / fan_in)), for every convolution; the Normalize scale 20.</item>
/// </list>
/// fan_in = C_in/groups x kh x kw and fan_out = C_out x kh x kw, as torch and Caffe compute them. A bias takes the
/// fans of the weight of the same name (NAME.bias beside NAME.weight). BatchNorm / Scale: 1 and 0 in all three.
/// The random streams are seeded per parameter by (seed, name), so the result does not depend on the order or
/// the threads (it is not torch's random stream: the tests compare the distributions with torch's).
/// </summary>
public static class WeightInit
{
    /// <summary>The rule a flavour initialises one tensor with (the class summary lists them).</summary>
    /// <param name="flavor">The flavour whose recipe applies.</param>
    /// <param name="role">Where the tensor sits.</param>
    /// <param name="isBias">Whether it is a bias.</param>
    /// <param name="weightShape">The shape of the weight of the same layer (for a bias too): its fans decide the bounds.</param>
    /// <exception cref="ArgumentNullException"><paramref name="weightShape"/> is null.</exception>
    public static InitRule RuleFor(ModelFlavor flavor, ParameterRole role, bool isBias, int[] weightShape)
    {
        ArgumentNullException.ThrowIfNull(weightShape);
        switch (role)
        {
            case ParameterRole.L2NormScale: return InitRule.Constant(20);
            case ParameterRole.NormScale: return InitRule.Constant(isBias ? 0 : 1);
            case ParameterRole.NormShift: return InitRule.Constant(0);
        }
        var (fanIn, fanOut) = Fans(weightShape);
        double xavier = Math.Sqrt(6.0 / (fanIn + fanOut));
        return (flavor, role) switch
        {
            (ModelFlavor.Torchvision, ParameterRole.Backbone) => isBias ? InitRule.Constant(0) : InitRule.Normal(Math.Sqrt(2.0) / Math.Sqrt(fanOut)),
            (ModelFlavor.Torchvision, _) => isBias ? InitRule.Constant(0) : InitRule.Uniform(xavier),
            (ModelFlavor.SsdPytorch, ParameterRole.Backbone) => InitRule.Uniform(1 / Math.Sqrt(fanIn)),
            (ModelFlavor.SsdPytorch, _) => isBias ? InitRule.Constant(0) : InitRule.Uniform(xavier),
            (ModelFlavor.Caffe, _) => isBias ? InitRule.Constant(0) : InitRule.Uniform(Math.Sqrt(3.0 / fanIn)),
            _ => throw new ArgumentException($"init: unknown flavour {flavor}"),
        };
    }

    /// <summary>torch's _calculate_fan_in_and_fan_out (Caffe's count / num and count / channels are the same).</summary>
    public static (int FanIn, int FanOut) Fans(int[] shape)
    {
        if (shape.Length < 2) throw new ArgumentException($"init: fans need a weight of 2 or more dimensions, not [{string.Join(", ", shape)}]");
        int receptive = 1;
        for (int d = 2; d < shape.Length; d++) receptive *= shape[d];
        return (shape[1] * receptive, shape[0] * receptive);
    }

    /// <summary>
    /// The role of a tensor by its name in the flavour's own checkpoint layout (the names a converted model keeps):
    /// torchvision backbone.features.N / backbone.extra.0.N (conv5) / backbone.extra.0.7.N (fc6, fc7) /
    /// backbone.extra.K / backbone.scale_weight / head.*; ssd.pytorch vgg.N / L2Norm.weight / extras.N / loc.N /
    /// conf.N; Caffe conv1_1 .. conv5_3, fc6, fc7, *_norm.scale, *_mbox_loc, *_mbox_conf, the rest extras.
    /// </summary>
    public static ParameterRole RoleFromName(ModelFlavor flavor, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        switch (flavor)
        {
            case ModelFlavor.Torchvision:
                if (name == "backbone.scale_weight") return ParameterRole.L2NormScale;
                if (name.StartsWith("backbone.features.", StringComparison.Ordinal)) return ParameterRole.Backbone;
                if (Regex.IsMatch(name, @"^backbone\.extra\.0\.\d+\.\d+\.")) return ParameterRole.Extras;    // fc6 / fc7 in extra.0's fc block
                if (Regex.IsMatch(name, @"^backbone\.extra\.0\.\d+\.(weight|bias)$")) return ParameterRole.Backbone; // conv5_x
                if (name.StartsWith("backbone.extra.", StringComparison.Ordinal)) return ParameterRole.Extras;
                if (name.StartsWith("head.", StringComparison.Ordinal)) return ParameterRole.Head;
                break;
            case ModelFlavor.SsdPytorch:
                if (name == "L2Norm.weight") return ParameterRole.L2NormScale;
                if (name.StartsWith("vgg.", StringComparison.Ordinal)) return ParameterRole.Backbone;
                if (name.StartsWith("extras.", StringComparison.Ordinal)) return ParameterRole.Extras;
                if (name.StartsWith("loc.", StringComparison.Ordinal) || name.StartsWith("conf.", StringComparison.Ordinal)) return ParameterRole.Head;
                break;
            case ModelFlavor.Caffe:
                if (name.EndsWith("_norm.scale", StringComparison.Ordinal)) return ParameterRole.L2NormScale;
                if (Regex.IsMatch(name, @"_mbox_(loc|conf)\.")) return ParameterRole.Head;
                if (Regex.IsMatch(name, @"^(conv[1-5]_\d|fc6|fc7)\.")) return ParameterRole.Backbone;
                if (Regex.IsMatch(name, @"\.(weight|bias)$")) return ParameterRole.Extras;
                break;
        }
        throw new ArgumentException($"init: cannot tell the role of tensor '{name}' in a {flavor} model");
    }

    /// <summary>
    /// Fills every parameter from its flavour's rule. <paramref name="roles"/> gives each parameter's role (by
    /// default from its name, <see cref="RoleFromName"/>).
    /// </summary>
    public static void Initialize(ModelFlavor flavor, IReadOnlyList<Parameter> parameters, ulong seed, Func<Parameter, ParameterRole>? roles = null, CpuOpOptions cpu = default)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var byName = parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var rules = new InitRule[parameters.Count];
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            var role = roles?.Invoke(p) ?? RoleFromName(flavor, p.Name);
            bool fixedValue = role is ParameterRole.L2NormScale or ParameterRole.NormScale or ParameterRole.NormShift;
            int[] weightShape = p.Shape;
            if (p.IsBias && !fixedValue)
            {
                string weightName = p.Name[..^"bias".Length] + "weight";
                weightShape = byName.TryGetValue(weightName, out var w) ? w.Shape
                    : throw new ArgumentException($"init: bias '{p.Name}' has no weight '{weightName}' to take its fans from");
            }
            rules[i] = RuleFor(flavor, role, p.IsBias, fixedValue ? [1, 1] : weightShape);
        }
        WorkerPool.Run(parameters.Count, cpu.WorkersFor(parameters.Sum(p => (long)p.Count) * 8), (parameters, rules, seed),
            static (s, _, i) => Fill(s.parameters[i].Value, s.rules[i], s.seed, s.parameters[i].Name));
    }

    /// <summary>Fills every tensor of a model's weights in place (each a parameter named as in the model).</summary>
    public static void Initialize(ModelFlavor flavor, Graph.ModelWeights weights, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(weights);
        Initialize(flavor, [.. weights.Names.Select(n => new Parameter(n, weights.Shape(n), weights[n]))], seed);
    }

    /// <summary>Draws <paramref name="values"/> from <paramref name="rule"/> with the stream of (seed, name).</summary>
    public static void Fill(Span<float> values, InitRule rule, ulong seed, string name)
    {
        var rng = new Xoshiro256(seed ^ Fnv1a(name));
        switch (rule.Distribution)
        {
            case InitDistribution.Constant:
                values.Fill((float)rule.A);
                break;
            case InitDistribution.Uniform:
                for (int i = 0; i < values.Length; i++) values[i] = (float)(rule.A + (rule.B - rule.A) * rng.NextDouble());
                break;
            case InitDistribution.Normal:
                for (int i = 0; i < values.Length; i += 2)
                {
                    // Box-Muller: two independent N(0, 1) from two uniforms (1 - u keeps the log finite).
                    double r = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())), t = 2 * Math.PI * rng.NextDouble();
                    values[i] = (float)(rule.A + rule.B * r * Math.Cos(t));
                    if (i + 1 < values.Length) values[i + 1] = (float)(rule.A + rule.B * r * Math.Sin(t));
                }
                break;
        }
    }

    private static ulong Fnv1a(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(s)) { h ^= b; h *= 1099511628211UL; }
        return h;
    }

    /// <summary>xoshiro256** (Blackman and Vigna), seeded by SplitMix64.</summary>
    private struct Xoshiro256
    {
        private ulong s0, s1, s2, s3;

        public Xoshiro256(ulong seed)
        {
            s0 = SplitMix(ref seed); s1 = SplitMix(ref seed); s2 = SplitMix(ref seed); s3 = SplitMix(ref seed);
        }

        private static ulong SplitMix(ref ulong x)
        {
            ulong z = x += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public ulong Next()
        {
            ulong result = ulong.RotateLeft(s1 * 5, 7) * 9, t = s1 << 17;
            s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = ulong.RotateLeft(s3, 45);
            return result;
        }

        /// <summary>Uniform on [0, 1), 53 bits.</summary>
        public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));
    }
}
