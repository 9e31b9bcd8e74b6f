namespace Ssd.Kernels.Activation;

/// <summary>
/// Plain C# gradient of ReLU: dx = dy where y &gt; 0, else 0. Masked by the forward's output y, as torch's
/// threshold_backward(grad, result, 0) does; x &gt; 0 exactly when y &gt; 0, so this also serves an in-place ReLU
/// (Caffe's relu4_3 overwrites its input) and a convolution's fused ReLU. At x = 0 the gradient is 0 (torch and
/// Caffe agree); a NaN y gives 0, a NaN dy where y &gt; 0 passes through.
/// </summary>
public static class ReluBackwardReference
{
    public static void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dY, Span<float> dX)
    {
        if (dY.Length != y.Length || dX.Length != y.Length)
            throw new ArgumentException($"relu backward: y has {y.Length} floats, dy {dY.Length}, dx {dX.Length}; all must agree");
        for (int i = 0; i < y.Length; i++) dX[i] = y[i] > 0f ? dY[i] : 0f;
    }
}
