using Ssd.Kernels.Cpu;

namespace Ssd.Tests.Kernels;

/// <summary>
/// Shared by the CPU-variant tests of every family: the ISA levels to force, the options that force one (2 worker
/// threads; the small shapes run on one), bit-for-bit comparison (NaN matches any NaN) and spiky data.
/// </summary>
public static class CpuVariants
{
    public static IEnumerable<CpuIsa> Isas => Enum.GetValues<CpuIsa>();

    /// <summary>Forces <paramref name="isa"/> with 2 threads; the test is inconclusive where this CPU lacks it.</summary>
    public static CpuOpOptions Options(CpuIsa isa)
    {
        Assume.That(CpuIsaSupport.IsSupported(isa), $"this CPU lacks {isa}");
        return new CpuOpOptions(isa, 2);
    }

    public static void AssertBits(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        for (int i = 0; i < actual.Length; i++)
        {
            bool same = float.IsNaN(expected[i]) ? float.IsNaN(actual[i]) : BitConverter.SingleToInt32Bits(actual[i]) == BitConverter.SingleToInt32Bits(expected[i]);
            if (!same) Assert.Fail($"{what}: element {i} is {actual[i]:R} (0x{BitConverter.SingleToInt32Bits(actual[i]):x8}), reference {expected[i]:R} (0x{BitConverter.SingleToInt32Bits(expected[i]):x8})");
        }
    }

    /// <summary>Uniform data with NaN, infinities and both zeros sprinkled in (they decide ties and NaN flow).</summary>
    public static float[] Spiky(int seed, long count)
    {
        var x = TestData.Uniform(seed, count, -3f, 3f);
        var rng = new Random(seed);
        float[] special = [float.NaN, -0f, 0f, float.NegativeInfinity, float.PositiveInfinity, -0f, 0f];
        for (int k = 0; k < count / 13; k++) x[rng.Next((int)count)] = special[rng.Next(special.Length)];
        return x;
    }
}
