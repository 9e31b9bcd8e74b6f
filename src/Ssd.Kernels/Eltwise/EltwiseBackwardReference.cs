namespace Ssd.Kernels.Eltwise;

/// <summary>
/// Plain C# gradients of Caffe's Eltwise layer (eltwise_layer.cpp Backward_cpu), element by element, every dx_i
/// overwritten:
/// <list type="bullet">
/// <item>Sum: dx_i = c_i * dy (dy itself for a coefficient of 1, or without coefficients).</item>
/// <item>Product: dx_i = (the product of every other input, in input order) * dy: Caffe's default
/// stable_prod_grad, which stays finite where an input is zero (y / x_i would not).</item>
/// <item>Max: dy goes to the one input the forward took, zero to the others. The winner is Caffe's mask:
/// input 0 if x0 &gt; x1 else input 1, then input k for each later k with xk &gt; the running max. Of two equal
/// values the first pair gives the later input, later inputs never win a tie (torch.maximum would split a tie's
/// gradient in halves instead; random data has no ties, so the torch fixtures agree with both).</item>
/// </list>
/// </summary>
public static class EltwiseBackwardReference
{
    /// <summary>The gradients of a (weighted) sum: dx_i = c_i * dy.</summary>
    /// <param name="coefficients">One per input, or empty for a plain sum.</param>
    /// <param name="dY">The gradient of the loss with respect to the output, shaped as the output.</param>
    /// <param name="dInputs">Receive the gradient with respect to each input, shaped as the output.</param>
    public static void SumBackward(ReadOnlySpan<float> coefficients, ReadOnlySpan<float> dY, IReadOnlyList<float[]> dInputs)
    {
        Check(dInputs.Count, dY.Length, dInputs, coefficients.Length);
        for (int k = 0; k < dInputs.Count; k++)
        {
            var dx = dInputs[k];
            if (coefficients.Length == 0 || coefficients[k] == 1f) { dY.CopyTo(dx); continue; }
            float c = coefficients[k];
            for (int i = 0; i < dx.Length; i++) dx[i] = c * dY[i];
        }
    }

    /// <summary>The gradients of a product: dx_i = (the product of the other inputs) * dy.</summary>
    /// <param name="inputs">The forward's inputs.</param>
    /// <param name="dY">The gradient of the loss with respect to the output.</param>
    /// <param name="dInputs">Receive the gradient with respect to each input.</param>
    public static void ProductBackward(IReadOnlyList<float[]> inputs, ReadOnlySpan<float> dY, IReadOnlyList<float[]> dInputs)
    {
        Check(inputs.Count, dY.Length, inputs, 0);
        Check(dInputs.Count, dY.Length, dInputs, 0);
        if (inputs.Count != dInputs.Count) throw new ArgumentException($"eltwise backward: {inputs.Count} inputs but {dInputs.Count} gradients");
        for (int k = 0; k < inputs.Count; k++)
        {
            var dx = dInputs[k];
            for (int i = 0; i < dx.Length; i++) dx[i] = OthersProduct(inputs, k, i) * dY[i];
        }
    }

    /// <summary>The gradients of a maximum: dy to the input the forward took, 0 to the others.</summary>
    /// <param name="inputs">The forward's inputs.</param>
    /// <param name="dY">The gradient of the loss with respect to the output.</param>
    /// <param name="dInputs">Receive the gradient with respect to each input.</param>
    public static void MaxBackward(IReadOnlyList<float[]> inputs, ReadOnlySpan<float> dY, IReadOnlyList<float[]> dInputs)
    {
        Check(inputs.Count, dY.Length, inputs, 0);
        Check(dInputs.Count, dY.Length, dInputs, 0);
        if (inputs.Count != dInputs.Count) throw new ArgumentException($"eltwise backward: {inputs.Count} inputs but {dInputs.Count} gradients");
        for (int i = 0; i < dY.Length; i++)
        {
            int winner = MaxWinner(inputs, i);
            for (int k = 0; k < dInputs.Count; k++) dInputs[k][i] = k == winner ? dY[i] : 0f;
        }
    }

    /// <summary>The product of every input but <paramref name="skip"/> at element <paramref name="i"/>, in input order.</summary>
    public static float OthersProduct(IReadOnlyList<float[]> inputs, int skip, int i)
    {
        bool first = true;
        float p = 1f;
        for (int j = 0; j < inputs.Count; j++)
        {
            if (j == skip) continue;
            p = first ? inputs[j][i] : p * inputs[j][i];
            first = false;
        }
        return p;
    }

    /// <summary>Caffe's max mask at element <paramref name="i"/> (see the class remarks).</summary>
    public static int MaxWinner(IReadOnlyList<float[]> inputs, int i)
    {
        int winner = inputs[0][i] > inputs[1][i] ? 0 : 1;
        float max = inputs[winner][i];
        for (int k = 2; k < inputs.Count; k++)
            if (inputs[k][i] > max) { max = inputs[k][i]; winner = k; }
        return winner;
    }

    internal static void Check(int count, int length, IReadOnlyList<float[]> arrays, int coefficients)
    {
        if (count < 2) throw new ArgumentException($"eltwise backward: needs at least two inputs, got {count}");
        if (coefficients != 0 && coefficients != count)
            throw new ArgumentException($"eltwise backward: {coefficients} coefficients for {count} inputs");
        foreach (var a in arrays)
            if (a.Length != length) throw new ArgumentException($"eltwise backward: a tensor has {a.Length} floats, dy has {length}");
    }
}
