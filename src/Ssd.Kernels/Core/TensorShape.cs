namespace Ssd.Kernels.Core;

/// <summary>NCHW shape of a float32 tensor.</summary>
public readonly record struct TensorShape(int N, int C, int H, int W)
{
    public long Count => (long)N * C * H * W;
    public int PlaneSize => H * W;
    public long Offset(int n, int c, int h, int w) => (((long)n * C + c) * H + h) * W + w;
    public override string ToString() => $"{N}x{C}x{H}x{W}";

    public static TensorShape Checked(int n, int c, int h, int w)
    {
        if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
            throw new ArgumentException($"tensor shape {n}x{c}x{h}x{w} has a non-positive dimension");
        if ((long)n * c * h * w > int.MaxValue)
            throw new ArgumentException($"tensor shape {n}x{c}x{h}x{w} has more than 2^31 elements");
        return new TensorShape(n, c, h, w);
    }
}
