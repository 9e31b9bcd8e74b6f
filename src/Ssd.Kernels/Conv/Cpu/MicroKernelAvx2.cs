using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// AVX2 + FMA3 GEMM micro-kernel: a 6 x 2-vector register tile of C = A * B, where A is a packed weight panel
/// [k][6] (one output channel per lane of a broadcast) and B holds rows of NR = 2 vectors of pixels, ldb apart.
/// The 12 accumulators live in registers for the whole K loop; bias and ReLU are applied on the way in and out.
/// Fully unrolled so the JIT keeps every accumulator in a register; keep the register count under the ISA's limit.
/// </summary>
internal static unsafe class MicroKernelAvx2
{
    public const int MR = 6;
    public static int NR => 2 * 8;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* bias, int flags)
    {
        if (!Fma.IsSupported || !Avx2.IsSupported) throw new PlatformNotSupportedException("AVX2+FMA");
        int W = 8;
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if ((flags & MicroKernel.Accumulate) != 0)
        {
            c00 = Vector256.Load(c + 0 * ldc + 0 * W); c01 = Vector256.Load(c + 0 * ldc + 1 * W);
            c10 = Vector256.Load(c + 1 * ldc + 0 * W); c11 = Vector256.Load(c + 1 * ldc + 1 * W);
            c20 = Vector256.Load(c + 2 * ldc + 0 * W); c21 = Vector256.Load(c + 2 * ldc + 1 * W);
            c30 = Vector256.Load(c + 3 * ldc + 0 * W); c31 = Vector256.Load(c + 3 * ldc + 1 * W);
            c40 = Vector256.Load(c + 4 * ldc + 0 * W); c41 = Vector256.Load(c + 4 * ldc + 1 * W);
            c50 = Vector256.Load(c + 5 * ldc + 0 * W); c51 = Vector256.Load(c + 5 * ldc + 1 * W);
        }
        else if (bias != null)
        {
            c00 =  c01 = Vector256.Create(bias[0]);
            c10 =  c11 = Vector256.Create(bias[1]);
            c20 =  c21 = Vector256.Create(bias[2]);
            c30 =  c31 = Vector256.Create(bias[3]);
            c40 =  c41 = Vector256.Create(bias[4]);
            c50 =  c51 = Vector256.Create(bias[5]);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector256<float>.Zero;
        }

        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b + 0 * W); var b1 = Vector256.Load(b + 1 * W);
            var a0 = Vector256.Create(a[0]); c00 = Fma.MultiplyAdd(a0, b0, c00); c01 = Fma.MultiplyAdd(a0, b1, c01);
            var a1 = Vector256.Create(a[1]); c10 = Fma.MultiplyAdd(a1, b0, c10); c11 = Fma.MultiplyAdd(a1, b1, c11);
            var a2 = Vector256.Create(a[2]); c20 = Fma.MultiplyAdd(a2, b0, c20); c21 = Fma.MultiplyAdd(a2, b1, c21);
            var a3 = Vector256.Create(a[3]); c30 = Fma.MultiplyAdd(a3, b0, c30); c31 = Fma.MultiplyAdd(a3, b1, c31);
            var a4 = Vector256.Create(a[4]); c40 = Fma.MultiplyAdd(a4, b0, c40); c41 = Fma.MultiplyAdd(a4, b1, c41);
            var a5 = Vector256.Create(a[5]); c50 = Fma.MultiplyAdd(a5, b0, c50); c51 = Fma.MultiplyAdd(a5, b1, c51);
            a += 6;
            b += ldb;
        }

        if ((flags & MicroKernel.Relu) != 0)
        {
            var z = Vector256<float>.Zero;
            c00 = Avx.Max(c00, z); c01 = Avx.Max(c01, z);
            c10 = Avx.Max(c10, z); c11 = Avx.Max(c11, z);
            c20 = Avx.Max(c20, z); c21 = Avx.Max(c21, z);
            c30 = Avx.Max(c30, z); c31 = Avx.Max(c31, z);
            c40 = Avx.Max(c40, z); c41 = Avx.Max(c41, z);
            c50 = Avx.Max(c50, z); c51 = Avx.Max(c51, z);
        }
        c00.Store(c + 0 * ldc + 0 * W); c01.Store(c + 0 * ldc + 1 * W);
        c10.Store(c + 1 * ldc + 0 * W); c11.Store(c + 1 * ldc + 1 * W);
        c20.Store(c + 2 * ldc + 0 * W); c21.Store(c + 2 * ldc + 1 * W);
        c30.Store(c + 3 * ldc + 0 * W); c31.Store(c + 3 * ldc + 1 * W);
        c40.Store(c + 4 * ldc + 0 * W); c41.Store(c + 4 * ldc + 1 * W);
        c50.Store(c + 5 * ldc + 0 * W); c51.Store(c + 5 * ldc + 1 * W);
    }
}
