using System.Numerics;
using System.Runtime.InteropServices;

namespace Ssd.Weights.Tensors;

/// <summary>Element types a checkpoint tensor can have (as stored; the engine computes in float32).</summary>
public enum TensorDType
{
    /// <summary>IEEE 754 binary32 (safetensors F32), 4 bytes.</summary>
    Float32,
    /// <summary>IEEE 754 binary16 (F16), 2 bytes.</summary>
    Float16,
    /// <summary>bfloat16, the upper half of a binary32 (BF16), 2 bytes.</summary>
    BFloat16,
    /// <summary>IEEE 754 binary64 (F64), 8 bytes.</summary>
    Float64,
    /// <summary>Signed 64-bit integer (I64), 8 bytes.</summary>
    Int64,
    /// <summary>Signed 32-bit integer (I32), 4 bytes.</summary>
    Int32,
    /// <summary>Unsigned byte (U8).</summary>
    UInt8,
    /// <summary>Signed byte (I8).</summary>
    Int8,
    /// <summary>One byte, 0 or 1 (BOOL).</summary>
    Bool,
}

/// <summary>
/// One named tensor as read from a checkpoint: shape, stored type and the raw little-endian bytes, contiguous in
/// row-major order. Readers produce these; the converter maps names to the canonical model.
/// </summary>
public sealed class TensorData
{
    /// <summary>The tensor's name in its checkpoint (a state-dict key, a Caffe layer's blob, a model file entry).</summary>
    public string Name { get; }
    /// <summary>The dimensions, outermost first (empty for a scalar).</summary>
    public int[] Shape { get; }
    /// <summary>The stored element type.</summary>
    public TensorDType DType { get; }
    /// <summary>Raw little-endian element bytes, row-major, exactly ElementCount * ElementSize long.</summary>
    public byte[] Bytes { get; }

    /// <summary>Wraps raw bytes as a tensor (not copied).</summary>
    /// <param name="name">The tensor's name, used in messages.</param>
    /// <param name="shape">The dimensions, each at least 0.</param>
    /// <param name="dtype">The element type of <paramref name="bytes"/>.</param>
    /// <param name="bytes">Little-endian elements in row-major order, exactly elements x element size long.</param>
    /// <exception cref="InvalidDataException">The byte count does not match the shape and type, or the shape is too large.</exception>
    public TensorData(string name, int[] shape, TensorDType dtype, byte[] bytes)
    {
        Name = name;
        Shape = shape;
        DType = dtype;
        Bytes = bytes;
        long expected = ByteCount(shape, dtype, name);
        if (bytes.LongLength != expected)
            throw new InvalidDataException($"tensor '{name}': {bytes.LongLength} bytes for shape [{string.Join(",", shape)}] of {dtype}, expected {expected}");
    }

    /// <summary>The number of elements: the product of the dimensions (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>The most bytes a tensor may hold: what one .NET array can (Array.MaxLength).</summary>
    public static long MaxBytes => Array.MaxLength;

    /// <summary>
    /// Elements x element size of a shape, refused (InvalidDataException naming <paramref name="what"/>) when a
    /// dimension is negative or the size overflows or exceeds <see cref="MaxBytes"/>. Every reader and writer
    /// checks sizes with this one function, so nothing is written that the readers refuse.
    /// </summary>
    public static long ByteCount(ReadOnlySpan<long> shape, TensorDType dtype, string what)
    {
        long bytes = ElementSize(dtype);
        bool empty = false;
        foreach (var d in shape)
        {
            if (d < 0) throw new InvalidDataException($"{what}: negative dimension in shape [{string.Join(",", shape.ToArray())}]");
            if (d == 0) empty = true;
            else if (bytes > MaxBytes / d) bytes = MaxBytes + 1; // saturate; an empty shape still has 0 bytes
            else bytes *= d;
        }
        if (empty) return 0;
        if (bytes > MaxBytes)
            throw new InvalidDataException($"{what}: shape [{string.Join(",", shape.ToArray())}] of {dtype} is larger than one tensor can be ({MaxBytes} bytes)");
        return bytes;
    }

    /// <inheritdoc cref="ByteCount(ReadOnlySpan{long}, TensorDType, string)"/>
    public static long ByteCount(int[] shape, TensorDType dtype, string what) =>
        ByteCount(Array.ConvertAll(shape, d => (long)d), dtype, what);

    /// <summary>The size of one element of type <paramref name="t"/> in bytes (1, 2, 4 or 8).</summary>
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
        if (DType == TensorDType.Float32) return MemoryMarshal.Cast<byte, float>(Bytes.AsSpan()).ToArray();
        var result = GC.AllocateUninitializedArray<float>(checked((int)ElementCount));
        ConvertTo(result);
        return result;
    }

    /// <summary>The float32 values as little-endian bytes, converted straight into the new array.</summary>
    public byte[] ToFloat32Bytes()
    {
        if (DType == TensorDType.Float32) return (byte[])Bytes.Clone();
        var result = GC.AllocateUninitializedArray<byte>(checked((int)(ElementCount * 4)));
        ConvertTo(MemoryMarshal.Cast<byte, float>(result.AsSpan()));
        return result;
    }

    private void ConvertTo(Span<float> result)
    {
        int n = result.Length;
        var span = Bytes.AsSpan();
        switch (DType)
        {
            case TensorDType.Float16:
                var halves = MemoryMarshal.Cast<byte, Half>(span);
                for (int i = 0; i < n; i++) result[i] = (float)halves[i];
                break;
            case TensorDType.BFloat16:
                var upper = MemoryMarshal.Cast<byte, ushort>(span);
                for (int i = 0; i < n; i++) result[i] = BitConverter.Int32BitsToSingle(upper[i] << 16);
                break;
            case TensorDType.Float64:
                var doubles = MemoryMarshal.Cast<byte, double>(span);
                for (int i = 0; i < n; i++) result[i] = (float)doubles[i];
                break;
            case TensorDType.Int64:
                var longs = MemoryMarshal.Cast<byte, long>(span);
                for (int i = 0; i < n; i++) result[i] = longs[i];
                break;
            case TensorDType.Int32:
                var ints = MemoryMarshal.Cast<byte, int>(span);
                for (int i = 0; i < n; i++) result[i] = ints[i];
                break;
            case TensorDType.UInt8 or TensorDType.Bool:
                for (int i = 0; i < n; i++) result[i] = span[i];
                break;
            case TensorDType.Int8:
                for (int i = 0; i < n; i++) result[i] = (sbyte)span[i];
                break;
            default:
                throw new NotSupportedException(DType.ToString());
        }
    }

    /// <summary>
    /// How many values of this float32 tensor are NaN or +-Inf: those whose exponent bits are all ones. One
    /// vectorised pass over the bits; no value is converted.
    /// </summary>
    public long CountNonFinite()
    {
        if (DType != TensorDType.Float32) throw new NotSupportedException($"tensor '{Name}' is {DType}; NaN/Inf are counted in float32 tensors");
        const uint exponent = 0x7F80_0000;
        var bits = MemoryMarshal.Cast<byte, uint>(Bytes.AsSpan());
        var mask = new Vector<uint>(exponent);
        long count = 0;
        int i = 0;
        // Each lane of the accumulator adds -1 per non-finite value; it is flushed long before an int could overflow.
        const int flushEvery = 1 << 24;
        while (i <= bits.Length - Vector<uint>.Count)
        {
            var sum = Vector<int>.Zero;
            int last = Math.Min(bits.Length - Vector<uint>.Count, i + flushEvery * Vector<uint>.Count);
            for (; i <= last; i += Vector<uint>.Count)
            {
                var v = new Vector<uint>(bits[i..]);
                sum += Vector.AsVectorInt32(Vector.Equals(v & mask, mask));
            }
            count -= Vector.Sum(sum);
        }
        for (; i < bits.Length; i++) if ((bits[i] & exponent) == exponent) count++;
        return count;
    }

    /// <summary>The name, type and shape, e.g. "conv1.weight Float32[64,3,3,3]".</summary>
    public override string ToString() => $"{Name} {DType}[{string.Join(",", Shape)}]";
}
