using Ssd.Kernels.Core;

namespace Ssd.Kernels.Eltwise;

/// <summary>Caffe's EltwiseParameter.EltwiseOp, with its numbering (PROD = 0, SUM = 1, MAX = 2).</summary>
public enum EltwiseMode
{
    /// <summary>The element-wise product of the inputs (PROD).</summary>
    Product = 0,
    /// <summary>The element-wise sum, each input times its coefficient, all 1 when none are given (SUM).</summary>
    Sum = 1,
    /// <summary>The element-wise maximum (MAX).</summary>
    Max = 2,
}

/// <summary>
/// Plain C# reference of Caffe's Eltwise layer over two or more inputs of one shape, evaluated element by element
/// from left to right, each operation rounded to float:
/// <list type="bullet">
/// <item>Sum: y = c0 x0 + c1 x1 + c2 x2 ..., each product rounded before it is added (no fused multiply-add);
/// without coefficients y = x0 + x1 + x2 ... (a coefficient of 1 multiplies exactly, so the two agree).</item>
/// <item>Product: y = x0 x1 x2 ... (Caffe takes no coefficients for it).</item>
/// <item>Max: y = x0 &gt; x1 ? x0 : x1, then y = xk &gt; y ? xk : y for each later input (Caffe's comparisons: a
/// NaN loses against the input it is compared with unless it is the later one, and of two equal values the
/// later input wins).</item>
/// </list>
/// Caffe starts its sum from +0, so where every term is -0 it gives +0 and this gives -0; nothing else differs.
/// </summary>
public static class EltwiseReference
{
    /// <summary>Computes y from the inputs as the class summary defines.</summary>
    /// <param name="mode">Product, sum or maximum.</param>
    /// <param name="inputs">Two or more inputs, each as long as <paramref name="y"/>.</param>
    /// <param name="coefficients">For a sum: one per input, or empty (all 1); empty for the other modes.</param>
    /// <param name="y">Receives the result.</param>
    /// <exception cref="ArgumentException">Fewer than two inputs, lengths that differ, or coefficients where the mode takes none.</exception>
    public static void Forward(EltwiseMode mode, IReadOnlyList<float[]> inputs, ReadOnlySpan<float> coefficients, Span<float> y)
    {
        EltwiseChecks.Arguments(mode, inputs.Count, coefficients.Length);
        foreach (var x in inputs)
            if (x.Length != y.Length) throw new ArgumentException($"eltwise: an input has {x.Length} floats, the output {y.Length}");
        bool weighted = coefficients.Length > 0;
        for (int i = 0; i < y.Length; i++)
        {
            float acc = weighted ? WeightedFirst(inputs[0][i], inputs[1][i], coefficients[0], coefficients[1])
                : First(mode, inputs[0][i], inputs[1][i]);
            for (int k = 2; k < inputs.Count; k++)
                acc = weighted ? WeightedNext(acc, inputs[k][i], coefficients[k]) : Next(mode, acc, inputs[k][i]);
            y[i] = acc;
        }
    }

    /// <summary>The first two inputs combined.</summary>
    public static float First(EltwiseMode mode, float a, float b) => mode switch
    {
        EltwiseMode.Sum => a + b,
        EltwiseMode.Product => a * b,
        _ => a > b ? a : b,
    };

    /// <summary>The first two inputs of a weighted sum.</summary>
    public static float WeightedFirst(float a, float b, float ca, float cb) => RoundedMath.Mul(ca, a) + RoundedMath.Mul(cb, b);

    /// <summary>The running result combined with a later input.</summary>
    public static float Next(EltwiseMode mode, float acc, float x) => mode switch
    {
        EltwiseMode.Sum => acc + x,
        EltwiseMode.Product => acc * x,
        _ => x > acc ? x : acc,
    };

    /// <summary>The running weighted sum plus a later input times its coefficient.</summary>
    public static float WeightedNext(float acc, float x, float c) => acc + RoundedMath.Mul(c, x);
}

/// <summary>The argument checks every Eltwise variant shares.</summary>
internal static class EltwiseChecks
{
    public static void Arguments(EltwiseMode mode, int inputs, int coefficients)
    {
        if (!Enum.IsDefined(mode)) throw new ArgumentException($"eltwise: unknown operation {(int)mode}");
        if (inputs < 2) throw new ArgumentException($"eltwise: {inputs} inputs; it combines two or more");
        if (coefficients != 0 && mode != EltwiseMode.Sum)
            throw new ArgumentException($"eltwise: coefficients are only taken by the sum, not by {mode}");
        if (coefficients != 0 && coefficients != inputs)
            throw new ArgumentException($"eltwise: {coefficients} coefficients for {inputs} inputs (one per input, or none)");
    }
}
