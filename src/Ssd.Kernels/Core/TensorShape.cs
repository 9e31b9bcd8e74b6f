namespace Ssd.Kernels.Core;

/// <summary>NCHW shape of a float32 tensor.</summary>
public readonly record struct TensorShape(int N, int C, int H, int W)
{
    /// <summary>The number of elements, N*C*H*W.</summary>
    public long Count => (long)N * C * H * W;
    /// <summary>The elements of one channel plane, H*W.</summary>
    public int PlaneSize => H * W;
    /// <summary>The flat NCHW index of element (n, c, h, w).</summary>
    public long Offset(int n, int c, int h, int w) => (((long)n * C + c) * H + h) * W + w;
    /// <summary>The shape as "NxCxHxW".</summary>
    public override string ToString() => $"{N}x{C}x{H}x{W}";

    /// <summary>A shape whose dimensions are all positive.</summary>
    /// <param name="n">The batch size.</param>
    /// <param name="c">The channels.</param>
    /// <param name="h">The height.</param>
    /// <param name="w">The width.</param>
    /// <exception cref="ArgumentException">A dimension is 0 or negative, or there are more than 2^31 elements.</exception>
    public static TensorShape Checked(int n, int c, int h, int w)
    {
        if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
            throw new ArgumentException($"tensor shape {n}x{c}x{h}x{w} has a non-positive dimension");
        if ((long)n * c * h * w > int.MaxValue)
            throw new ArgumentException($"tensor shape {n}x{c}x{h}x{w} has more than 2^31 elements");
        return new TensorShape(n, c, h, w);
    }
}
