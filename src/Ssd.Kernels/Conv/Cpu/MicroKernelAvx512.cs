using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// AVX-512F GEMM micro-kernel: a 8 x 3-vector register tile of C = A * B, where A is a packed weight panel
/// [k][8] (one output channel per lane of a broadcast) and B holds rows of NR = 3 vectors of pixels, ldb apart.
/// The 24 accumulators live in registers for the whole K loop; bias and ReLU are applied on the way in and out.
/// Fully unrolled so the JIT keeps every accumulator in a register; keep the register count under the ISA's limit.
/// </summary>
internal static unsafe class MicroKernelAvx512
{
    public const int MR = 8;
    public static int NR => 3 * 16;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* bias, int flags)
    {
        if (!Avx512F.IsSupported) throw new PlatformNotSupportedException("AVX-512F");
        int W = 16;
        Vector512<float> c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32, c40, c41, c42, c50, c51, c52, c60, c61, c62, c70, c71, c72;
        if ((flags & MicroKernel.Accumulate) != 0)
        {
            c00 = Vector512.Load(c + 0 * ldc + 0 * W); c01 = Vector512.Load(c + 0 * ldc + 1 * W); c02 = Vector512.Load(c + 0 * ldc + 2 * W);
            c10 = Vector512.Load(c + 1 * ldc + 0 * W); c11 = Vector512.Load(c + 1 * ldc + 1 * W); c12 = Vector512.Load(c + 1 * ldc + 2 * W);
            c20 = Vector512.Load(c + 2 * ldc + 0 * W); c21 = Vector512.Load(c + 2 * ldc + 1 * W); c22 = Vector512.Load(c + 2 * ldc + 2 * W);
            c30 = Vector512.Load(c + 3 * ldc + 0 * W); c31 = Vector512.Load(c + 3 * ldc + 1 * W); c32 = Vector512.Load(c + 3 * ldc + 2 * W);
            c40 = Vector512.Load(c + 4 * ldc + 0 * W); c41 = Vector512.Load(c + 4 * ldc + 1 * W); c42 = Vector512.Load(c + 4 * ldc + 2 * W);
            c50 = Vector512.Load(c + 5 * ldc + 0 * W); c51 = Vector512.Load(c + 5 * ldc + 1 * W); c52 = Vector512.Load(c + 5 * ldc + 2 * W);
            c60 = Vector512.Load(c + 6 * ldc + 0 * W); c61 = Vector512.Load(c + 6 * ldc + 1 * W); c62 = Vector512.Load(c + 6 * ldc + 2 * W);
            c70 = Vector512.Load(c + 7 * ldc + 0 * W); c71 = Vector512.Load(c + 7 * ldc + 1 * W); c72 = Vector512.Load(c + 7 * ldc + 2 * W);
        }
        else if (bias != null)
        {
            c00 =  c01 =  c02 = Vector512.Create(bias[0]);
            c10 =  c11 =  c12 = Vector512.Create(bias[1]);
            c20 =  c21 =  c22 = Vector512.Create(bias[2]);
            c30 =  c31 =  c32 = Vector512.Create(bias[3]);
            c40 =  c41 =  c42 = Vector512.Create(bias[4]);
            c50 =  c51 =  c52 = Vector512.Create(bias[5]);
            c60 =  c61 =  c62 = Vector512.Create(bias[6]);
            c70 =  c71 =  c72 = Vector512.Create(bias[7]);
        }
        else
        {
            c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = c30 = c31 = c32 = c40 = c41 = c42 = c50 = c51 = c52 = c60 = c61 = c62 = c70 = c71 = c72 = Vector512<float>.Zero;
        }

        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b + 0 * W); var b1 = Vector512.Load(b + 1 * W); var b2 = Vector512.Load(b + 2 * W);
            var a0 = Vector512.Create(a[0]); c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01); c02 = Avx512F.FusedMultiplyAdd(a0, b2, c02);
            var a1 = Vector512.Create(a[1]); c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11); c12 = Avx512F.FusedMultiplyAdd(a1, b2, c12);
            var a2 = Vector512.Create(a[2]); c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21); c22 = Avx512F.FusedMultiplyAdd(a2, b2, c22);
            var a3 = Vector512.Create(a[3]); c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31); c32 = Avx512F.FusedMultiplyAdd(a3, b2, c32);
            var a4 = Vector512.Create(a[4]); c40 = Avx512F.FusedMultiplyAdd(a4, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a4, b1, c41); c42 = Avx512F.FusedMultiplyAdd(a4, b2, c42);
            var a5 = Vector512.Create(a[5]); c50 = Avx512F.FusedMultiplyAdd(a5, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a5, b1, c51); c52 = Avx512F.FusedMultiplyAdd(a5, b2, c52);
            var a6 = Vector512.Create(a[6]); c60 = Avx512F.FusedMultiplyAdd(a6, b0, c60); c61 = Avx512F.FusedMultiplyAdd(a6, b1, c61); c62 = Avx512F.FusedMultiplyAdd(a6, b2, c62);
            var a7 = Vector512.Create(a[7]); c70 = Avx512F.FusedMultiplyAdd(a7, b0, c70); c71 = Avx512F.FusedMultiplyAdd(a7, b1, c71); c72 = Avx512F.FusedMultiplyAdd(a7, b2, c72);
            a += 8;
            b += ldb;
        }

        if ((flags & MicroKernel.Relu) != 0)
        {
            var z = Vector512<float>.Zero;
            c00 = Avx512F.Max(c00, z); c01 = Avx512F.Max(c01, z); c02 = Avx512F.Max(c02, z);
            c10 = Avx512F.Max(c10, z); c11 = Avx512F.Max(c11, z); c12 = Avx512F.Max(c12, z);
            c20 = Avx512F.Max(c20, z); c21 = Avx512F.Max(c21, z); c22 = Avx512F.Max(c22, z);
            c30 = Avx512F.Max(c30, z); c31 = Avx512F.Max(c31, z); c32 = Avx512F.Max(c32, z);
            c40 = Avx512F.Max(c40, z); c41 = Avx512F.Max(c41, z); c42 = Avx512F.Max(c42, z);
            c50 = Avx512F.Max(c50, z); c51 = Avx512F.Max(c51, z); c52 = Avx512F.Max(c52, z);
            c60 = Avx512F.Max(c60, z); c61 = Avx512F.Max(c61, z); c62 = Avx512F.Max(c62, z);
            c70 = Avx512F.Max(c70, z); c71 = Avx512F.Max(c71, z); c72 = Avx512F.Max(c72, z);
        }
        c00.Store(c + 0 * ldc + 0 * W); c01.Store(c + 0 * ldc + 1 * W); c02.Store(c + 0 * ldc + 2 * W);
        c10.Store(c + 1 * ldc + 0 * W); c11.Store(c + 1 * ldc + 1 * W); c12.Store(c + 1 * ldc + 2 * W);
        c20.Store(c + 2 * ldc + 0 * W); c21.Store(c + 2 * ldc + 1 * W); c22.Store(c + 2 * ldc + 2 * W);
        c30.Store(c + 3 * ldc + 0 * W); c31.Store(c + 3 * ldc + 1 * W); c32.Store(c + 3 * ldc + 2 * W);
        c40.Store(c + 4 * ldc + 0 * W); c41.Store(c + 4 * ldc + 1 * W); c42.Store(c + 4 * ldc + 2 * W);
        c50.Store(c + 5 * ldc + 0 * W); c51.Store(c + 5 * ldc + 1 * W); c52.Store(c + 5 * ldc + 2 * W);
        c60.Store(c + 6 * ldc + 0 * W); c61.Store(c + 6 * ldc + 1 * W); c62.Store(c + 6 * ldc + 2 * W);
        c70.Store(c + 7 * ldc + 0 * W); c71.Store(c + 7 * ldc + 1 * W); c72.Store(c + 7 * ldc + 2 * W);
    }
}
