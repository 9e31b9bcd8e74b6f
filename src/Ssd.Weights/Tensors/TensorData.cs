namespace Ssd.Weights.Tensors;

/// <summary>Element types a checkpoint tensor can have (as stored; the engine computes in float32).</summary>
public enum TensorDType { Float32, Float16, BFloat16, Float64, Int64, Int32, UInt8, Int8, Bool }

/// <summary>
/// One named tensor as read from a checkpoint: shape, stored type and the raw little-endian bytes, contiguous in
/// row-major order. Readers produce these; the converter maps names to the canonical model.
/// </summary>
public sealed class TensorData
{
    public string Name { get; }
    public int[] Shape { get; }
    public TensorDType DType { get; }
    /// <summary>Raw little-endian element bytes, row-major, exactly ElementCount * ElementSize long.</summary>
    public byte[] Bytes { get; }

    public TensorData(string name, int[] shape, TensorDType dtype, byte[] bytes)
    {
        Name = name;
        Shape = shape;
        DType = dtype;
        Bytes = bytes;
        long expected = ElementCount * ElementSize(dtype);
        if (bytes.LongLength != expected)
            throw new InvalidDataException($"tensor '{name}': {bytes.LongLength} bytes for shape [{string.Join(",", shape)}] of {dtype}, expected {expected}");
    }

    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    public static int ElementSize(TensorDType t) => t switch
    {
        TensorDType.Float64 or TensorDType.Int64 => 8,
        TensorDType.Float32 or TensorDType.Int32 => 4,
        TensorDType.Float16 or TensorDType.BFloat16 => 2,
        _ => 1,
    };

    /// <summary>The values converted to float32 (float16, bfloat16, float64 and integers are widened or narrowed).</summary>
    public float[] ToFloat32()
    {
        var n = checked((int)ElementCount);
        var result = new float[n];
        var span = Bytes.AsSpan();
        for (int i = 0; i < n; i++)
        {
            result[i] = DType switch
            {
                TensorDType.Float32 => BitConverter.ToSingle(span.Slice(i * 4, 4)),
                TensorDType.Float16 => (float)BitConverter.ToHalf(span.Slice(i * 2, 2)),
                TensorDType.BFloat16 => BitConverter.Int32BitsToSingle(BitConverter.ToUInt16(span.Slice(i * 2, 2)) << 16),
                TensorDType.Float64 => (float)BitConverter.ToDouble(span.Slice(i * 8, 8)),
                TensorDType.Int64 => BitConverter.ToInt64(span.Slice(i * 8, 8)),
                TensorDType.Int32 => BitConverter.ToInt32(span.Slice(i * 4, 4)),
                TensorDType.UInt8 or TensorDType.Bool => span[i],
                TensorDType.Int8 => (sbyte)span[i],
                _ => throw new NotSupportedException(DType.ToString()),
            };
        }
        return result;
    }

    public override string ToString() => $"{Name} {DType}[{string.Join(",", Shape)}]";
}
