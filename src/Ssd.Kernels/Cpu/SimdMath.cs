using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ssd.Kernels.Cpu;

/// <summary>
/// The element-wise and reduction loops the backward SIMD variants share, one path per <see cref="CpuIsa"/> level.
/// Sums keep two vector accumulators, add their lanes in lane order and then the scalar tail: for a given ISA level
/// the result does not depend on the thread or the call (not the reference's double sum: a declared bound).
/// </summary>
internal static unsafe class SimdMath
{
    /// <summary>dst[i] += src[i].</summary>
    public static void Add(float* dst, float* src, int n, CpuIsa isa)
    {
        int i = 0;
        if (isa == CpuIsa.Avx512)
            for (; i + 16 <= n; i += 16) Vector512.Store(Vector512.Load(dst + i) + Vector512.Load(src + i), dst + i);
        else if (isa == CpuIsa.Avx2)
            for (; i + 8 <= n; i += 8) Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
        else
            for (int w = Vector<float>.Count; i + w <= n; i += w) Vector.Store(Vector.Load(dst + i) + Vector.Load(src + i), dst + i);
        for (; i < n; i++) dst[i] += src[i];
    }

    /// <summary>dst[i] = src[i] * s.</summary>
    public static void Scale(float* src, float s, float* dst, int n, CpuIsa isa)
    {
        int i = 0;
        if (isa == CpuIsa.Avx512)
        {
            var v = Vector512.Create(s);
            for (; i + 16 <= n; i += 16) Vector512.Store(Vector512.Load(src + i) * v, dst + i);
        }
        else if (isa == CpuIsa.Avx2)
        {
            var v = Vector256.Create(s);
            for (; i + 8 <= n; i += 8) Vector256.Store(Vector256.Load(src + i) * v, dst + i);
        }
        else
        {
            var v = new Vector<float>(s);
            for (int w = Vector<float>.Count; i + w <= n; i += w) Vector.Store(Vector.Load(src + i) * v, dst + i);
        }
        for (; i < n; i++) dst[i] = src[i] * s;
    }

    /// <summary>The sum of a[0..n).</summary>
    public static float Sum(float* a, int n, CpuIsa isa)
    {
        int i = 0;
        float s = 0f;
        if (isa == CpuIsa.Avx512)
        {
            Vector512<float> s0 = default, s1 = default;
            for (; i + 32 <= n; i += 32) { s0 += Vector512.Load(a + i); s1 += Vector512.Load(a + i + 16); }
            s = Lanes(s0 + s1);
        }
        else if (isa == CpuIsa.Avx2)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= n; i += 16) { s0 += Vector256.Load(a + i); s1 += Vector256.Load(a + i + 8); }
            s = Lanes(s0 + s1);
        }
        else
        {
            int w = Vector<float>.Count;
            Vector<float> s0 = default, s1 = default;
            for (; i + 2 * w <= n; i += 2 * w) { s0 += Vector.Load(a + i); s1 += Vector.Load(a + i + w); }
            s = Lanes(s0 + s1);
        }
        for (; i < n; i++) s += a[i];
        return s;
    }

    /// <summary>The sum of a[i] * b[i] over [0, n).</summary>
    public static float Dot(float* a, float* b, int n, CpuIsa isa)
    {
        int i = 0;
        float s = 0f;
        if (isa == CpuIsa.Avx512)
        {
            Vector512<float> s0 = default, s1 = default;
            for (; i + 32 <= n; i += 32)
            {
                s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
                s1 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), s1);
            }
            s = Lanes(s0 + s1);
        }
        else if (isa == CpuIsa.Avx2)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= n; i += 16)
            {
                s0 = Fma.MultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
                s1 = Fma.MultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), s1);
            }
            s = Lanes(s0 + s1);
        }
        else
        {
            int w = Vector<float>.Count;
            Vector<float> s0 = default, s1 = default;
            for (; i + 2 * w <= n; i += 2 * w)
            {
                s0 += Vector.Load(a + i) * Vector.Load(b + i);
                s1 += Vector.Load(a + i + w) * Vector.Load(b + i + w);
            }
            s = Lanes(s0 + s1);
        }
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    private static float Lanes(Vector512<float> v)
    {
        float s = 0f;
        for (int k = 0; k < 16; k++) s += v.GetElement(k);
        return s;
    }

    private static float Lanes(Vector256<float> v)
    {
        float s = 0f;
        for (int k = 0; k < 8; k++) s += v.GetElement(k);
        return s;
    }

    private static float Lanes(Vector<float> v)
    {
        float s = 0f;
        for (int k = 0; k < Vector<float>.Count; k++) s += v[k];
        return s;
    }
}
