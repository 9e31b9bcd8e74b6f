using ILGPU;
using ILGPU.Runtime;
using Ssd.Kernels.Core;

namespace Ssd.Kernels.BoxCoding;

/// <summary>Decodes location offsets against priors on the device; layouts as in <see cref="BoxCodingReference"/>.</summary>
public sealed class BoxCodingOp(ComputeDevice device)
{
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> caffe1 =
        device.Kernel("boxcoding.caffe.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(BoxCodingKernels.DecodeCaffe1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float> pytorch1 =
        device.Kernel("boxcoding.ssdpytorch.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>(BoxCodingKernels.DecodeSsdPytorch1));
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, DecodeWeights> torchvision1 =
        device.Kernel("boxcoding.torchvision.1", a => a.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, DecodeWeights>(BoxCodingKernels.DecodeTorchvision1));

    public void Caffe(ArrayView<float> priors, ArrayView<float> loc, ArrayView<float> output, AcceleratorStream? stream = null)
    {
        int p = Check(priors.Length / 2, loc, output, "caffe");
        if (priors.Length != 8L * p) throw new ArgumentException($"decode caffe: priors hold {priors.Length} floats, expected 2 x {p} x 4");
        caffe1(stream ?? device.Accelerator.DefaultStream, (int)(loc.Length / 4), priors, loc, output, p);
    }

    public void SsdPytorch(ArrayView<float> priors, ArrayView<float> loc, ArrayView<float> output, float variance0 = 0.1f, float variance1 = 0.2f, AcceleratorStream? stream = null)
    {
        int p = Check(priors.Length, loc, output, "ssd.pytorch");
        pytorch1(stream ?? device.Accelerator.DefaultStream, (int)(loc.Length / 4), priors, loc, output, p, variance0, variance1);
    }

    public void Torchvision(ArrayView<float> anchors, ArrayView<float> codes, ArrayView<float> output, DecodeWeights? weights = null, AcceleratorStream? stream = null)
    {
        int p = Check(anchors.Length, codes, output, "torchvision");
        torchvision1(stream ?? device.Accelerator.DefaultStream, (int)(codes.Length / 4), anchors, codes, output, p, weights ?? DecodeWeights.Ssd);
    }

    private static int Check(long priorFloats, ArrayView<float> loc, ArrayView<float> output, string what)
    {
        if (priorFloats == 0 || priorFloats % 4 != 0) throw new ArgumentException($"decode {what}: priors hold {priorFloats} floats, not a positive multiple of 4");
        long p = priorFloats / 4;
        if (loc.Length % (4 * p) != 0) throw new ArgumentException($"decode {what}: {loc.Length} location floats are not N x {p} priors x 4");
        if (output.Length != loc.Length) throw new ArgumentException($"decode {what}: output holds {output.Length} floats, locations {loc.Length}");
        if (loc.Length > int.MaxValue) throw new ArgumentException($"decode {what}: too many boxes");
        return (int)p;
    }
}
