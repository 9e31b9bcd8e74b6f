using ILGPU.Runtime.Cuda;

namespace Ssd.Kernels.Core;

/// <summary>
/// A float multiply that stays a rounded multiply in a kernel, so that "a * b + c" rounds twice, as its C# reference
/// does. On CUDA it is emitted as mul.rn.f32, which ptxas never contracts with a following add into an FMA (a plain
/// mul.f32 it may). ILGPU's OpenCL C puts every operation in a statement of its own, which OpenCL compilers do not
/// contract across, and .NET never contracts, so elsewhere it is the plain product.
/// </summary>
internal static class RoundedMath
{
    public static float Mul(float a, float b)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mul.rn.f32 %0, %1, %2;", out float product, a, b);
            return product;
        }
        return a * b;
    }
}
