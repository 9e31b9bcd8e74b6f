using Ssd.Kernels.Conv;
using Ssd.Kernels.Core;

namespace Ssd.Engine.Backends.Cpu;

internal sealed class WinogradConv
{
    public const int MinChannels = int.MaxValue;
    public WinogradConv(Conv2dParams p, int inC, int outC, ReadOnlySpan<float> weights, ReadOnlySpan<float> bias, MicroKernel mk, int threads) =>
        throw new NotSupportedException("cpu conv: Winograd is not implemented yet");
    public void Forward(ReadOnlySpan<float> x, TensorShape xs, Span<float> y, TensorShape ys) { }
}
