using System.Runtime.InteropServices;
using Ssd.Weights.Tensors;

namespace Ssd.Tests.Weights;

public class TensorDataTests
{
    /// <summary>Counted independently, one float at a time through float.IsFinite.</summary>
    private static long ScalarNonFinite(float[] values) => values.LongCount(v => !float.IsFinite(v));

    private static TensorData Floats(float[] values) =>
        new("t", [values.Length], TensorDType.Float32, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(7)]
    [TestCase(64)]
    [TestCase(1_000_003)]
    public void CountsNanAndInfLikeIsFinite(int n)
    {
        var rng = new Random(n);
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * 1e30f;
        // Every kind of non-finite value, and the finite values next to them (largest float, subnormal, -0).
        float[] special = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, BitConverter.Int32BitsToSingle(0x7F80_0001),
            BitConverter.Int32BitsToSingle(unchecked((int)0xFFC0_0000)), float.MaxValue, float.MinValue, float.Epsilon, -0f];
        for (int k = 0; k < Math.Min(n, 200); k++)
        {
            int at = k < 3 ? n - 1 - k : rng.Next(n);   // the tail past the last full vector too
            values[at] = special[rng.Next(special.Length)];
        }
        Assert.That(Floats(values).CountNonFinite(), Is.EqualTo(ScalarNonFinite(values)));
    }

    [Test]
    public void CountingNeedsFloat32()
    {
        var t = new TensorData("h", [2], TensorDType.Float16, new byte[4]);
        Assert.Throws<NotSupportedException>(() => t.CountNonFinite());
    }

    [Test]
    public void ConvertsEveryDTypeToFloat32()
    {
        // Expected values written as float literals; the bytes come from BitConverter one element at a time.
        Half[] halves = [(Half)1.5f, (Half)(-2f), Half.PositiveInfinity];
        Check(TensorDType.Float16, halves.SelectMany(h => BitConverter.GetBytes(h)), [1.5f, -2f, float.PositiveInfinity]);
        Check(TensorDType.BFloat16, new float[] { 3.25f, -0.5f }.SelectMany(f => BitConverter.GetBytes(f)[2..]), [3.25f, -0.5f]);
        Check(TensorDType.Float64, new[] { 0.1, -1e40 }.SelectMany(BitConverter.GetBytes), [0.1f, float.NegativeInfinity]);
        Check(TensorDType.Float32, new[] { 1.25f, -7f }.SelectMany(BitConverter.GetBytes), [1.25f, -7f]);
        Check(TensorDType.Int64, new[] { -3L, 1L << 40 }.SelectMany(BitConverter.GetBytes), [-3f, 1099511627776f]);
        Check(TensorDType.Int32, new[] { 5, -6 }.SelectMany(BitConverter.GetBytes), [5f, -6f]);
        Check(TensorDType.UInt8, [0, 255], [0f, 255f]);
        Check(TensorDType.Int8, [0x80, 0x7F], [-128f, 127f]);
        Check(TensorDType.Bool, [1, 0], [1f, 0f]);
    }

    private static void Check(TensorDType dtype, IEnumerable<byte> bytes, float[] expected)
    {
        var t = new TensorData("x", [expected.Length], dtype, bytes.ToArray());
        Assert.That(t.ToFloat32(), Is.EqualTo(expected), $"{dtype} ToFloat32");
        Assert.That(MemoryMarshal.Cast<byte, float>(t.ToFloat32Bytes()).ToArray(), Is.EqualTo(expected), $"{dtype} ToFloat32Bytes");
        Assert.That(t.ToFloat32Bytes(), Is.Not.SameAs(t.Bytes), "a copy, never the tensor's own bytes");
    }
}
