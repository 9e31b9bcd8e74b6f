using Ssd.Kernels.BatchNorm;
using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;
using Ssd.Kernels.Pooling;
using Ssd.Weights.Model;

namespace Ssd.Engine.Graph;

/// <summary>Output shapes of each layer type, as Caffe defines them. Throws ArgumentException on impossible shapes
/// (the plan builder adds the layer's name).</summary>
public static class ShapeInference
{
    /// <summary>The output shape of <paramref name="layer"/> on inputs of <paramref name="inputs"/>' shapes (the flavour decides pooling's rounding).</summary>
    public static int[] Output(LayerSpec layer, int[][] inputs, ModelFlavor flavor)
    {
        if (inputs.Length == 0) throw new ArgumentException("has no inputs");
        if (layer is not (ConcatLayer or EltwiseLayer) && inputs.Length != 1) throw new ArgumentException($"has {inputs.Length} inputs, expected 1");
        var x = inputs[0];
        switch (layer)
        {
            case ConvolutionLayer c:
            {
                var s = Nchw(x);
                if (s.C != c.InChannels) throw new ArgumentException($"input has {s.C} channels, the weights expect {c.InChannels}");
                var p = new Conv2dParams(c.KernelH, c.KernelW, c.StrideH, c.StrideW, c.PadH, c.PadW, c.DilationH, c.DilationW, c.Groups);
                var o = p.OutputShape(s, c.OutChannels);
                return [o.N, o.C, o.H, o.W];
            }
            case ReluLayer:
                return x;
            case BatchNormLayer b:
                if (BatchNormGeometry(x).Channels != b.Channels) throw new ArgumentException($"input {Text(x)} has {x[1]} channels, the layer has {b.Channels}");
                return x;
            case ScaleLayer s:
            {
                var g = ScaleGeometry(s, x);
                if (g.Channels != s.Channels)
                    throw new ArgumentException($"input {Text(x)} has {g.Channels} elements on axes [{s.Axis}, {s.Axis + ScaleAxes(s, x)}), the layer has {s.Channels} factors");
                return x;
            }
            case EltwiseLayer:
                if (inputs.Length < 2) throw new ArgumentException($"has {inputs.Length} input; eltwise combines two or more");
                foreach (var s in inputs)
                    if (!s.AsSpan().SequenceEqual(x)) throw new ArgumentException($"eltwise inputs {Text(x)} and {Text(s)} differ in shape");
                return x;
            case NormalizeLayer n:
                if (n.AcrossSpatial) throw new ArgumentException("across_spatial normalisation is not supported (SSD normalises over channels only)");
                return ChannelsMatch(x, n.Channels);
            case PoolingLayer p:
            {
                var g = Pool(p, Nchw(x), flavor);
                return [g.N, g.C, g.OutH, g.OutW];
            }
            case PermuteLayer p:
            {
                if (x.Length != 4) throw new ArgumentException($"permute needs a 4-D input, got {Text(x)}");
                var g = Ssd.Kernels.Layout.PermuteGeometry.Create(x, p.Order);
                return g.OutputDims;
            }
            case FlattenLayer f:
            {
                int axis = Axis(f.Axis, x.Length), end = Axis(f.EndAxis, x.Length);
                if (end < axis) throw new ArgumentException($"flatten end axis {f.EndAxis} is before axis {f.Axis} for input {Text(x)}");
                long merged = 1;
                for (int a = axis; a <= end; a++) merged *= x[a];
                return [.. x[..axis], checked((int)merged), .. x[(end + 1)..]];
            }
            case ReshapeLayer r:
                return Reshape(x, r.Dims);
            case ConcatLayer c:
            {
                int axis = Axis(c.Axis, x.Length);
                long sum = 0;
                foreach (var s in inputs)
                {
                    if (s.Length != x.Length) throw new ArgumentException($"concat inputs {Text(x)} and {Text(s)} differ in rank");
                    for (int a = 0; a < x.Length; a++)
                        if (a != axis && s[a] != x[a])
                            throw new ArgumentException($"concat inputs {Text(x)} and {Text(s)} differ outside axis {axis}");
                    sum += s[axis];
                }
                var y = (int[])x.Clone();
                y[axis] = checked((int)sum);
                return y;
            }
            case SoftmaxLayer s:
                Axis(s.Axis, x.Length);
                return x;
            default:
                throw new ArgumentException("is not supported by the engine");
        }
    }

    /// <summary>Pooling geometry: Caffe rounds up (clipping a last window that starts in the padding), PyTorch
    /// rounds down unless ceil_mode; the model's flavour says whose ceil rule applies.</summary>
    public static PoolGeometry Pool(PoolingLayer p, TensorShape x, ModelFlavor flavor)
    {
        if (p.Global) return PoolGeometry.Global(x);
        var rule = p.Rounding == PoolRounding.Floor ? PoolOutputRule.TorchFloor
            : flavor == ModelFlavor.Caffe ? PoolOutputRule.CaffeCeil : PoolOutputRule.TorchCeil;
        return PoolGeometry.Create(x, p.KernelH, p.KernelW, p.StrideH, p.StrideW, p.PadH, p.PadW, rule);
    }

    /// <summary>Caffe Reshape with axis 0 and num_axes -1: 0 copies the input dim at that index, one -1 is inferred.</summary>
    public static int[] Reshape(int[] x, int[] dims)
    {
        long count = x.Aggregate(1L, (p, d) => p * d), known = 1;
        int infer = -1;
        var y = new int[dims.Length];
        for (int i = 0; i < dims.Length; i++)
        {
            if (dims[i] == 0)
            {
                if (i >= x.Length) throw new ArgumentException($"reshape dim {i} is 0 (copy) but the input {Text(x)} has only {x.Length} axes");
                y[i] = x[i];
            }
            else if (dims[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"reshape dims [{string.Join(", ", dims)}] infer more than one axis");
                infer = i;
                continue;
            }
            else if (dims[i] < 0) throw new ArgumentException($"reshape dim {dims[i]} is negative");
            else y[i] = dims[i];
            known *= y[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || count % known != 0) throw new ArgumentException($"cannot reshape {Text(x)} ({count} elements) to [{string.Join(", ", dims)}]");
            y[infer] = checked((int)(count / known));
        }
        else if (known != count) throw new ArgumentException($"cannot reshape {Text(x)} ({count} elements) to {Text(y)} ({known} elements)");
        return y;
    }

    /// <summary>Caffe Scale's geometry: the factors span axes [Axis, Axis + NumAxes) (NumAxes -1: to the last).</summary>
    public static ChannelGeometry ScaleGeometry(ScaleLayer s, int[] x) => ChannelGeometry.Around(x, Axis(s.Axis, x.Length), ScaleAxes(s, x));

    /// <summary>BatchNorm's geometry: axis 1 is the channel axis, whatever the rank.</summary>
    public static ChannelGeometry BatchNormGeometry(int[] x) => x.Length >= 2 ? ChannelGeometry.Around(x, 1, 1)
        : throw new ArgumentException($"batch norm needs an input of at least 2 axes, got {Text(x)}");

    private static int ScaleAxes(ScaleLayer s, int[] x)
    {
        int axis = Axis(s.Axis, x.Length), axes = s.NumAxes == -1 ? x.Length - axis : s.NumAxes;
        if (axis + axes > x.Length) throw new ArgumentException($"scale axes [{axis}, {axis + axes}) are outside the input {Text(x)}");
        return axes;
    }

    /// <summary>A Caffe axis (negative: from the end) as an index into a rank-<paramref name="rank"/> shape.</summary>
    public static int Axis(int axis, int rank)
    {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new ArgumentException($"axis {axis} is outside a {rank}-D blob");
        return a;
    }

    private static int[] ChannelsMatch(int[] x, int channels)
    {
        var s = Nchw(x);
        if (s.C != channels) throw new ArgumentException($"input has {s.C} channels, the layer has {channels}");
        return x;
    }

    private static TensorShape Nchw(int[] x) => x.Length == 4 ? TensorShape.Checked(x[0], x[1], x[2], x[3])
        : throw new ArgumentException($"needs a 4-D NCHW input, got {Text(x)}");

    private static string Text(int[] s) => "[" + string.Join(", ", s) + "]";
}
