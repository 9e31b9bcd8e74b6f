using Ssd.Kernels.Core;

namespace Ssd.Kernels.Conv;

/// <summary>Four floats that ILGPU loads and stores as one 128-bit access (ld/st .v4.f32) where the address is 16-byte aligned.</summary>
internal struct Vec4
{
    public float X, Y, Z, W;
}

/// <summary>Two ints loaded as one 64-bit access: an im2col tap (see <see cref="ConvGemmLayout.Taps"/>).</summary>
internal struct Tap
{
    /// <summary>Offset of the tap from its output pixel's input origin: c*H*W + ky*dil*W + kx*dil.</summary>
    public int Offset;
    /// <summary>(ky*dil) &lt;&lt; 16 | (kx*dil): the row and column the tap moves from that origin (a padding tap moves off the image).</summary>
    public int Shift;
}

/// <summary>
/// What the register-tiled implicit GEMM kernels (<see cref="Conv2dGemmKernels"/>) read, as plain ints: the input
/// and output shapes, stride and padding (dilation lives in the taps), the group split, and the packed GEMM sizes.
/// Per group gi the GEMM is Y_gi[Mg, N*OH*OW] = W_gi[Mg, Kg] x im2col(X_gi)[Kg, N*OH*OW], Kg = (C/groups)*kH*kW.
/// </summary>
public readonly struct ConvGemmGeometry
{
    /// <summary>The input channels and size, the output channels and size, stride and padding.</summary>
    public readonly int C, H, W, OutC, OutH, OutW, StrideH, StrideW, PadH, PadW;
    /// <summary>Groups, output and input channels per group.</summary>
    public readonly int Groups, GroupOutC, GroupInC;
    /// <summary>Kg rounded up to <see cref="Conv2dGemmKernels.TileK"/>, Mg rounded up to <see cref="Conv2dGemmKernels.TileM"/>: the packed weight panel is KPadded x MPadded per group.</summary>
    public readonly int KPadded, MPadded;
    /// <summary>Tiles per group along M (output channels) and N (output pixels of the whole batch).</summary>
    public readonly int TilesM, TilesN;
    /// <summary>The GEMM's N (N*OH*OW, the batch's output pixels) and one output plane (OH*OW).</summary>
    public readonly int GemmN, OutPlane;
    /// <summary>1 when a bias is added / ReLU fused, else 0.</summary>
    public readonly int HasBias, Relu;

    /// <summary>The geometry of a convolution of validated parameters.</summary>
    /// <param name="input">The input shape.</param>
    /// <param name="output">The output shape.</param>
    /// <param name="p">The convolution's parameters.</param>
    public ConvGemmGeometry(TensorShape input, TensorShape output, Conv2dParams p)
    {
        (C, H, W) = (input.C, input.H, input.W);
        (OutC, OutH, OutW) = (output.C, output.H, output.W);
        (StrideH, StrideW, PadH, PadW) = (p.StrideH, p.StrideW, p.PadH, p.PadW);
        Groups = p.Groups;
        GroupOutC = output.C / p.Groups;
        GroupInC = input.C / p.Groups;
        int k = GroupInC * p.KernelH * p.KernelW;
        KPadded = RoundUp(k, Conv2dGemmKernels.TileK);
        MPadded = RoundUp(GroupOutC, Conv2dGemmKernels.TileM);
        OutPlane = output.H * output.W;
        GemmN = input.N * OutPlane;
        TilesM = MPadded / Conv2dGemmKernels.TileM;
        TilesN = (GemmN + Conv2dGemmKernels.TileN - 1) / Conv2dGemmKernels.TileN;
        HasBias = p.HasBias ? 1 : 0;
        Relu = p.FuseRelu ? 1 : 0;
    }

    /// <summary>Thread groups of one launch: every (group, M tile, N tile).</summary>
    public int Blocks => Groups * TilesM * TilesN;

    internal static int RoundUp(int v, int m) => (v + m - 1) / m * m;
}

/// <summary>
/// The host side of the implicit GEMM kernels: the weights packed once at load into k-major panels padded to whole
/// tiles (so every A-tile row is one aligned 128-bit load per thread and needs no bounds check), and the im2col tap
/// table (one <see cref="Tap"/> per reduction index, so the kernel's gather needs no division by the kernel area).
/// </summary>
internal static class ConvGemmLayout
{
    /// <summary>A padded tap lands this many rows below any image, so it reads as zero.</summary>
    public const int PaddingShift = 0x4000 << 16;

    /// <summary>
    /// OIHW weights [groups*Mg, Kg] (Kg = inC/groups * kH * kW, any kernel) as [groups][KPadded][MPadded]: element
    /// (gi, k, m) = w[(gi*Mg + m)*Kg + k], zero in the padding.
    /// </summary>
    public static float[] PackWeights(ReadOnlySpan<float> weights, ConvGemmGeometry g, int kernelArea)
    {
        int kg = g.GroupInC * kernelArea;
        if (weights.Length != (long)g.Groups * g.GroupOutC * kg)
            throw new ArgumentException($"conv2d gemm: {weights.Length} weights, expected {g.Groups} x {g.GroupOutC} x {kg}");
        var packed = new float[(long)g.Groups * g.KPadded * g.MPadded];
        for (int gi = 0; gi < g.Groups; gi++)
            for (int m = 0; m < g.GroupOutC; m++)
            {
                var row = weights.Slice((gi * g.GroupOutC + m) * kg, kg);
                long at = (long)gi * g.KPadded * g.MPadded + m;
                for (int k = 0; k < kg; k++) packed[at + (long)k * g.MPadded] = row[k];
            }
        return packed;
    }

    /// <summary>
    /// The taps of reduction index k = (c*kH + ky)*kW + kx, as ints in <see cref="Tap"/> order, for k in [0, KPadded):
    /// offset c*H*W + ky*dil*W + kx*dil and shift (ky*dil, kx*dil); indices past Kg get <see cref="PaddingShift"/>.
    /// </summary>
    public static int[] Taps(ConvGemmGeometry g, Conv2dParams p)
    {
        int area = p.KernelH * p.KernelW, kg = g.GroupInC * area;
        if ((long)p.DilationH * (p.KernelH - 1) >= 0x4000 || (long)p.DilationW * (p.KernelW - 1) >= 0x8000)
            throw new ArgumentException($"conv2d gemm: the dilated kernel {p.EffectiveKernelH}x{p.EffectiveKernelW} is too large for the tap table");
        var taps = new int[2 * g.KPadded];
        for (int k = 0; k < g.KPadded; k++)
        {
            if (k >= kg) { taps[2 * k + 1] = PaddingShift; continue; }
            int c = k / area, r = k % area, ky = r / p.KernelW, kx = r % p.KernelW;
            int dy = ky * p.DilationH, dx = kx * p.DilationW;
            taps[2 * k] = (c * g.H + dy) * g.W + dx;
            taps[2 * k + 1] = dy << 16 | dx;
        }
        return taps;
    }
}
