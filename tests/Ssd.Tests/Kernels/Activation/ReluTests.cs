using ILGPU.Runtime;
using Ssd.Kernels.Activation;
using Ssd.Kernels.Core;

namespace Ssd.Tests.Kernels.Activation;

public class ReluTests
{
    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.Backends))]
    public void MatchesReference(BackendKind backend)
    {
        var device = TestDevices.Get(backend);
        var x = TestData.Uniform(1, 2 * 3 * 7 * 5);
        var expected = new float[x.Length];
        ReluReference.Forward(x, expected);

        using var buffer = device.Upload(x);
        new ReluOp(device).Forward(buffer.View, buffer.View);
        var actual = buffer.GetAsArray1D();

        TestData.AssertClose(actual, expected, 0, 0, "relu");
    }
}
