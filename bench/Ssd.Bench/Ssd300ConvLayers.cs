using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;

namespace Ssd.Bench;

/// <summary>
/// Every convolution of SSD300's VGG-16 base and extra layers (batch 1, 300x300 input), as in the paper's Caffe model.
/// tools/bench/torch_conv_layers.py lists the same layers for PyTorch.
/// </summary>
public static class Ssd300ConvLayers
{
    public sealed record Layer(string Name, TensorShape Input, int OutC, Conv2dParams P)
    {
        public double Flops => P.Flops(Input, OutC);
        public override string ToString() => Name;
    }

    private static Layer L(string name, int inC, int size, int outC, int k, int stride = 1, int pad = 0, int dilation = 1) =>
        new(name, new TensorShape(1, inC, size, size), outC, Conv2dParams.Square(k, stride, pad, dilation, fuseRelu: true));

    public static readonly Layer[] All =
    [
        L("conv1_1", 3, 300, 64, 3, pad: 1), L("conv1_2", 64, 300, 64, 3, pad: 1),
        L("conv2_1", 64, 150, 128, 3, pad: 1), L("conv2_2", 128, 150, 128, 3, pad: 1),
        L("conv3_1", 128, 75, 256, 3, pad: 1), L("conv3_2", 256, 75, 256, 3, pad: 1), L("conv3_3", 256, 75, 256, 3, pad: 1),
        L("conv4_1", 256, 38, 512, 3, pad: 1), L("conv4_2", 512, 38, 512, 3, pad: 1), L("conv4_3", 512, 38, 512, 3, pad: 1),
        L("conv5_1", 512, 19, 512, 3, pad: 1), L("conv5_2", 512, 19, 512, 3, pad: 1), L("conv5_3", 512, 19, 512, 3, pad: 1),
        L("fc6", 512, 19, 1024, 3, pad: 6, dilation: 6), L("fc7", 1024, 19, 1024, 1),
        L("conv8_1", 1024, 19, 256, 1), L("conv8_2", 256, 19, 512, 3, stride: 2, pad: 1),
        L("conv9_1", 512, 10, 128, 1), L("conv9_2", 128, 10, 256, 3, stride: 2, pad: 1),
        L("conv10_1", 256, 5, 128, 1), L("conv10_2", 128, 5, 256, 3),
        L("conv11_1", 256, 3, 128, 1), L("conv11_2", 128, 3, 256, 3),
    ];

    public static Layer Named(string name) => All.First(l => l.Name == name);
}
