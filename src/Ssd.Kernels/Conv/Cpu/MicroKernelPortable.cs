using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Portable Vector&lt;float&gt; GEMM micro-kernel: a 4 x 2-vector register tile of C = A * B, where A is a packed weight panel
/// [k][4] (one output channel per lane of a broadcast) and B holds rows of NR = 2 vectors of pixels, ldb apart.
/// The 8 accumulators live in registers for the whole K loop; bias and ReLU are applied on the way in and out.
/// Fully unrolled so the JIT keeps every accumulator in a register; keep the register count under the ISA's limit.
/// </summary>
internal static unsafe class MicroKernelPortable
{
    public const int MR = 4;
    public static int NR => 2 * Vector<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, float* a, float* b, nint ldb, float* c, nint ldc, float* bias, int flags)
    {
        int W = Vector<float>.Count;
        Vector<float> c00, c01, c10, c11, c20, c21, c30, c31;
        if ((flags & MicroKernel.Accumulate) != 0)
        {
            c00 = Vector.Load(c + 0 * ldc + 0 * W); c01 = Vector.Load(c + 0 * ldc + 1 * W);
            c10 = Vector.Load(c + 1 * ldc + 0 * W); c11 = Vector.Load(c + 1 * ldc + 1 * W);
            c20 = Vector.Load(c + 2 * ldc + 0 * W); c21 = Vector.Load(c + 2 * ldc + 1 * W);
            c30 = Vector.Load(c + 3 * ldc + 0 * W); c31 = Vector.Load(c + 3 * ldc + 1 * W);
        }
        else if (bias != null)
        {
            c00 =  c01 = new Vector<float>(bias[0]);
            c10 =  c11 = new Vector<float>(bias[1]);
            c20 =  c21 = new Vector<float>(bias[2]);
            c30 =  c31 = new Vector<float>(bias[3]);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = Vector<float>.Zero;
        }

        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector.Load(b + 0 * W); var b1 = Vector.Load(b + 1 * W);
            var a0 = new Vector<float>(a[0]); c00 = c00 + a0 * b0; c01 = c01 + a0 * b1;
            var a1 = new Vector<float>(a[1]); c10 = c10 + a1 * b0; c11 = c11 + a1 * b1;
            var a2 = new Vector<float>(a[2]); c20 = c20 + a2 * b0; c21 = c21 + a2 * b1;
            var a3 = new Vector<float>(a[3]); c30 = c30 + a3 * b0; c31 = c31 + a3 * b1;
            a += 4;
            b += ldb;
        }

        if ((flags & MicroKernel.Relu) != 0)
        {
            var z = Vector<float>.Zero;
            c00 = Vector.Max(c00, z); c01 = Vector.Max(c01, z);
            c10 = Vector.Max(c10, z); c11 = Vector.Max(c11, z);
            c20 = Vector.Max(c20, z); c21 = Vector.Max(c21, z);
            c30 = Vector.Max(c30, z); c31 = Vector.Max(c31, z);
        }
        c00.Store(c + 0 * ldc + 0 * W); c01.Store(c + 0 * ldc + 1 * W);
        c10.Store(c + 1 * ldc + 0 * W); c11.Store(c + 1 * ldc + 1 * W);
        c20.Store(c + 2 * ldc + 0 * W); c21.Store(c + 2 * ldc + 1 * W);
        c30.Store(c + 3 * ldc + 0 * W); c31.Store(c + 3 * ldc + 1 * W);
    }
}
