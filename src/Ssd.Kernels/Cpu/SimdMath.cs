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

    /// <summary>acc[i] = acc[i] + x[i] * x[i], a multiply then an add (no FMA): the forward's float sums of squares.</summary>
    public static void AddSquares(float* acc, float* x, int n, CpuIsa isa)
    {
        int i = 0;
        if (isa == CpuIsa.Avx512)
            for (; i + 16 <= n; i += 16) { var v = Vector512.Load(x + i); Vector512.Store(Vector512.Load(acc + i) + v * v, acc + i); }
        else if (isa == CpuIsa.Avx2)
            for (; i + 8 <= n; i += 8) { var v = Vector256.Load(x + i); Vector256.Store(Vector256.Load(acc + i) + v * v, acc + i); }
        else
            for (int w = Vector<float>.Count; i + w <= n; i += w) { var v = Vector.Load(x + i); Vector.Store(Vector.Load(acc + i) + v * v, acc + i); }
        for (; i < n; i++) acc[i] += x[i] * x[i];
    }

    /// <summary>acc[i] += s * a[i] * b[i].</summary>
    public static void AddProduct(float* acc, float s, float* a, float* b, int n, CpuIsa isa)
    {
        int i = 0;
        if (isa == CpuIsa.Avx512)
        {
            var vs = Vector512.Create(s);
            for (; i + 16 <= n; i += 16) Vector512.Store(Vector512.Load(acc + i) + vs * Vector512.Load(a + i) * Vector512.Load(b + i), acc + i);
        }
        else if (isa == CpuIsa.Avx2)
        {
            var vs = Vector256.Create(s);
            for (; i + 8 <= n; i += 8) Vector256.Store(Vector256.Load(acc + i) + vs * Vector256.Load(a + i) * Vector256.Load(b + i), acc + i);
        }
        else
        {
            var vs = new Vector<float>(s);
            for (int w = Vector<float>.Count; i + w <= n; i += w) Vector.Store(Vector.Load(acc + i) + vs * Vector.Load(a + i) * Vector.Load(b + i), acc + i);
        }
        for (; i < n; i++) acc[i] += s * a[i] * b[i];
    }

    /// <summary>dst[i] = s * a[i] * b[i] - t * c[i] * d[i].</summary>
    public static void ProductDifference(float* dst, float s, float* a, float* b, float t, float* c, float* d, int n, CpuIsa isa)
    {
        int i = 0;
        if (isa == CpuIsa.Avx512)
        {
            var (vs, vt) = (Vector512.Create(s), Vector512.Create(t));
            for (; i + 16 <= n; i += 16)
                Vector512.Store(vs * Vector512.Load(a + i) * Vector512.Load(b + i) - vt * Vector512.Load(c + i) * Vector512.Load(d + i), dst + i);
        }
        else if (isa == CpuIsa.Avx2)
        {
            var (vs, vt) = (Vector256.Create(s), Vector256.Create(t));
            for (; i + 8 <= n; i += 8)
                Vector256.Store(vs * Vector256.Load(a + i) * Vector256.Load(b + i) - vt * Vector256.Load(c + i) * Vector256.Load(d + i), dst + i);
        }
        else
        {
            var (vs, vt) = (new Vector<float>(s), new Vector<float>(t));
            for (int w = Vector<float>.Count; i + w <= n; i += w)
                Vector.Store(vs * Vector.Load(a + i) * Vector.Load(b + i) - vt * Vector.Load(c + i) * Vector.Load(d + i), dst + i);
        }
        for (; i < n; i++) dst[i] = s * a[i] * b[i] - t * c[i] * d[i];
    }

    /// <summary>dst[i] = a[i] * ka + b[i] * kb + k (b may be null: then only a[i] * ka + k).</summary>
    public static void Affine(float* dst, float* a, float ka, float* b, float kb, float k, int n, CpuIsa isa)
    {
        int i = 0;
        if (isa == CpuIsa.Avx512)
        {
            var (va, vb, vk) = (Vector512.Create(ka), Vector512.Create(kb), Vector512.Create(k));
            if (b == null) for (; i + 16 <= n; i += 16) Vector512.Store(Vector512.Load(a + i) * va + vk, dst + i);
            else for (; i + 16 <= n; i += 16) Vector512.Store(Vector512.Load(a + i) * va + Vector512.Load(b + i) * vb + vk, dst + i);
        }
        else if (isa == CpuIsa.Avx2)
        {
            var (va, vb, vk) = (Vector256.Create(ka), Vector256.Create(kb), Vector256.Create(k));
            if (b == null) for (; i + 8 <= n; i += 8) Vector256.Store(Vector256.Load(a + i) * va + vk, dst + i);
            else for (; i + 8 <= n; i += 8) Vector256.Store(Vector256.Load(a + i) * va + Vector256.Load(b + i) * vb + vk, dst + i);
        }
        else
        {
            var (va, vb, vk) = (new Vector<float>(ka), new Vector<float>(kb), new Vector<float>(k));
            int w = Vector<float>.Count;
            if (b == null) for (; i + w <= n; i += w) Vector.Store(Vector.Load(a + i) * va + vk, dst + i);
            else for (; i + w <= n; i += w) Vector.Store(Vector.Load(a + i) * va + Vector.Load(b + i) * vb + vk, dst + i);
        }
        for (; i < n; i++) dst[i] = b == null ? a[i] * ka + k : a[i] * ka + b[i] * kb + k;
    }

    /// <summary>dst[i] = a[i] * b[i] (dst may be a or b).</summary>
    public static void Multiply(float* dst, float* a, float* b, int n, CpuIsa isa)
    {
        int i = 0;
        if (isa == CpuIsa.Avx512)
            for (; i + 16 <= n; i += 16) Vector512.Store(Vector512.Load(a + i) * Vector512.Load(b + i), dst + i);
        else if (isa == CpuIsa.Avx2)
            for (; i + 8 <= n; i += 8) Vector256.Store(Vector256.Load(a + i) * Vector256.Load(b + i), dst + i);
        else
            for (int w = Vector<float>.Count; i + w <= n; i += w) Vector.Store(Vector.Load(a + i) * Vector.Load(b + i), dst + i);
        for (; i < n; i++) dst[i] = a[i] * b[i];
    }

    /// <summary>The sum of a[i] * b[i] * c[i] over [0, n).</summary>
    public static float Dot3(float* a, float* b, float* c, int n, CpuIsa isa)
    {
        int i = 0;
        float s = 0f;
        if (isa == CpuIsa.Avx512)
        {
            Vector512<float> acc = default;
            for (; i + 16 <= n; i += 16) acc += Vector512.Load(a + i) * Vector512.Load(b + i) * Vector512.Load(c + i);
            s = Lanes(acc);
        }
        else if (isa == CpuIsa.Avx2)
        {
            Vector256<float> acc = default;
            for (; i + 8 <= n; i += 8) acc += Vector256.Load(a + i) * Vector256.Load(b + i) * Vector256.Load(c + i);
            s = Lanes(acc);
        }
        else
        {
            Vector<float> acc = default;
            for (int w = Vector<float>.Count; i + w <= n; i += w) acc += Vector.Load(a + i) * Vector.Load(b + i) * Vector.Load(c + i);
            s = Lanes(acc);
        }
        for (; i < n; i++) s += a[i] * b[i] * c[i];
        return s;
    }

    /// <summary>The sum of a[i] * (b[i] - mean) (b null: of (a[i] - mean)^2) over [0, n).</summary>
    public static float CentredDot(float* a, float* b, float mean, int n, CpuIsa isa)
    {
        int i = 0;
        float s = 0f;
        if (isa == CpuIsa.Avx512)
        {
            Vector512<float> acc = default, m = Vector512.Create(mean);
            for (; i + 16 <= n; i += 16)
            {
                var d = (b == null ? Vector512.Load(a + i) : Vector512.Load(b + i)) - m;
                acc += (b == null ? d : Vector512.Load(a + i)) * d;
            }
            s = Lanes(acc);
        }
        else if (isa == CpuIsa.Avx2)
        {
            Vector256<float> acc = default, m = Vector256.Create(mean);
            for (; i + 8 <= n; i += 8)
            {
                var d = (b == null ? Vector256.Load(a + i) : Vector256.Load(b + i)) - m;
                acc += (b == null ? d : Vector256.Load(a + i)) * d;
            }
            s = Lanes(acc);
        }
        else
        {
            Vector<float> acc = default, m = new(mean);
            for (int w = Vector<float>.Count; i + w <= n; i += w)
            {
                var d = (b == null ? Vector.Load(a + i) : Vector.Load(b + i)) - m;
                acc += (b == null ? d : Vector.Load(a + i)) * d;
            }
            s = Lanes(acc);
        }
        for (; i < n; i++)
        {
            float d = (b == null ? a[i] : b[i]) - mean;
            s += (b == null ? d : a[i]) * d;
        }
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
