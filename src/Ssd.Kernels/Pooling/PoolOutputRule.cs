namespace Ssd.Kernels.Pooling;

/// <summary>
/// How a pooling layer turns (input, kernel, stride, pad) into an output size. The two frameworks disagree,
/// and a converted checkpoint is only exact when the rule of its source framework is used.
/// </summary>
public enum PoolOutputRule
{
    /// <summary>
    /// Caffe's PoolingLayer: out = ceil((in + 2p - k) / s) + 1, then, only when p &gt; 0, drop the last window
    /// if it would start at or beyond in + p (inside the right padding).
    /// </summary>
    CaffeCeil,
    /// <summary>PyTorch's default (ceil_mode=False): out = floor((in + 2p - k) / s) + 1.</summary>
    TorchFloor,
    /// <summary>
    /// PyTorch's ceil_mode=True: out = ceil((in + 2p - k) / s) + 1, then drop the last window if it would start
    /// at or beyond in + p (whatever p is): the last window must start inside the input or the left padding.
    /// </summary>
    TorchCeil,
}

/// <summary>What an average pool divides its window sum by.</summary>
public enum AvgPoolDivisor
{
    /// <summary>
    /// The window clipped to the padded input, padding cells counted: Caffe, and PyTorch's
    /// count_include_pad=True (its default). Windows hanging past the right padding (ceil mode) are clipped.
    /// </summary>
    PaddedWindow,
    /// <summary>Only the cells inside the real input: PyTorch's count_include_pad=False.</summary>
    ValidWindow,
}

/// <summary>The output-size formulas, one per <see cref="PoolOutputRule"/>.</summary>
internal static class PoolOutputSize
{
    /// <summary>Output length along one axis; throws when the window does not fit even once.</summary>
    public static int Compute(PoolOutputRule rule, int input, int kernel, int stride, int pad)
    {
        if (input <= 0) throw new ArgumentException($"pooling: input size {input} must be positive");
        if (kernel <= 0) throw new ArgumentException($"pooling: kernel size {kernel} must be positive");
        if (stride <= 0) throw new ArgumentException($"pooling: stride {stride} must be positive");
        if (pad < 0) throw new ArgumentException($"pooling: padding {pad} must not be negative");
        if (pad >= kernel) throw new ArgumentException($"pooling: padding {pad} must be smaller than the kernel {kernel}, else a window can lie wholly in padding");
        int span = input + 2 * pad - kernel;
        if (span < 0) throw new ArgumentException($"pooling: kernel {kernel} is larger than the padded input {input}+2*{pad}");

        int output = rule switch
        {
            PoolOutputRule.TorchFloor => span / stride + 1,
            PoolOutputRule.CaffeCeil or PoolOutputRule.TorchCeil => (span + stride - 1) / stride + 1,
            _ => throw new ArgumentException($"pooling: unknown output rule {rule}"),
        };
        bool clipLast = rule == PoolOutputRule.TorchCeil || (rule == PoolOutputRule.CaffeCeil && pad > 0);
        if (clipLast && (output - 1) * stride >= input + pad) output--;
        return output;
    }
}
