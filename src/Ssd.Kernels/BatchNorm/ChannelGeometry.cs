namespace Ssd.Kernels.BatchNorm;

/// <summary>
/// A tensor seen as [Outer, Channels, Inner] around the axis a per-channel op works on: for NCHW and axis 1,
/// Outer = N, Channels = C, Inner = H * W. Element i belongs to channel (i / Inner) % Channels.
/// </summary>
public readonly record struct ChannelGeometry(int Outer, int Channels, int Inner)
{
    /// <summary>The number of elements, Outer*Channels*Inner.</summary>
    public long Count => (long)Outer * Channels * Inner;

    /// <summary>The geometry of <paramref name="shape"/> around axes [axis, axis + axes) (Caffe's axis/num_axes).</summary>
    public static ChannelGeometry Around(ReadOnlySpan<int> shape, int axis, int axes)
    {
        if (axis < 0 || axes < 0 || axis + axes > shape.Length)
            throw new ArgumentException($"channel op: axes [{axis}, {axis + axes}) are outside a {shape.Length}-D tensor");
        long outer = 1, channels = 1, inner = 1;
        for (int a = 0; a < shape.Length; a++)
        {
            if (shape[a] <= 0) throw new ArgumentException($"channel op: dimension {a} is {shape[a]}");
            if (a < axis) outer *= shape[a];
            else if (a < axis + axes) channels *= shape[a];
            else inner *= shape[a];
        }
        if (outer * channels * inner > int.MaxValue) throw new ArgumentException("channel op: the tensor has more than 2^31 elements");
        return new ChannelGeometry((int)outer, (int)channels, (int)inner);
    }

    /// <summary>Checks the input and output lengths and one per-channel parameter vector (when present).</summary>
    public void Check(string op, long xLength, long yLength, params (string Name, long Length)[] parameters)
    {
        if (Outer <= 0 || Channels <= 0 || Inner <= 0) throw new ArgumentException($"{op}: geometry {this} has a non-positive dimension");
        if (Count > int.MaxValue) throw new ArgumentException($"{op}: {Count} elements exceed 2^31");
        if (xLength != Count) throw new ArgumentException($"{op}: input has {xLength} floats, {Outer}x{Channels}x{Inner} needs {Count}");
        if (yLength != Count) throw new ArgumentException($"{op}: output has {yLength} floats, {Outer}x{Channels}x{Inner} needs {Count}");
        foreach (var (name, length) in parameters)
            if (length != Channels) throw new ArgumentException($"{op}: {name} has {length} values for {Channels} channels");
    }
}
