using Ssd.Kernels.Core;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Everything a conv2d kernel needs to know, as plain ints (ILGPU kernel parameters must be blittable structs).
/// Built on the host from validated <see cref="Conv2dParams"/> and shapes.
/// </summary>
public readonly struct Conv2dGeometry
{
    /// <summary>The input shape.</summary>
    public readonly int N, C, H, W;
    /// <summary>The output channels, height and width.</summary>
    public readonly int OutC, OutH, OutW;
    /// <summary>The kernel, stride, padding and dilation per axis.</summary>
    public readonly int KernelH, KernelW, StrideH, StrideW, PadH, PadW, DilationH, DilationW;
    /// <summary>The channel groups.</summary>
    public readonly int Groups;
    /// <summary>1 when a bias is added, else 0.</summary>
    public readonly int HasBias;
    /// <summary>1 when ReLU is fused after the bias, else 0.</summary>
    public readonly int Relu;

    /// <summary>The geometry of a convolution of validated parameters.</summary>
    /// <param name="input">The input shape.</param>
    /// <param name="output">The output shape.</param>
    /// <param name="p">The convolution's parameters.</param>
    public Conv2dGeometry(TensorShape input, TensorShape output, Conv2dParams p)
    {
        (N, C, H, W) = (input.N, input.C, input.H, input.W);
        (OutC, OutH, OutW) = (output.C, output.H, output.W);
        (KernelH, KernelW, StrideH, StrideW) = (p.KernelH, p.KernelW, p.StrideH, p.StrideW);
        (PadH, PadW, DilationH, DilationW) = (p.PadH, p.PadW, p.DilationH, p.DilationW);
        Groups = p.Groups;
        HasBias = p.HasBias ? 1 : 0;
        Relu = p.FuseRelu ? 1 : 0;
    }

    /// <summary>Input channels per group.</summary>
    public int GroupInC => C / Groups;
    /// <summary>Output pixels per image.</summary>
    public int OutPlane => OutH * OutW;
    /// <summary>GEMM view (groups == 1): rows M = output channels.</summary>
    public int GemmM => OutC;
    /// <summary>GEMM columns: every output pixel of every image.</summary>
    public int GemmN => N * OutH * OutW;
    /// <summary>GEMM reduction length: one weight row, inC/groups * kH * kW.</summary>
    public int GemmK => GroupInC * KernelH * KernelW;
}
