using Ssd.Weights.Torch;

namespace Ssd.Tests.Weights;

public class TorchCheckpointTests
{
    [TestCase("ssd_pytorch_like", "zip")]
    [TestCase("ssd_pytorch_like", "legacy")]
    [TestCase("torchvision_like", "zip")]
    [TestCase("torchvision_like", "legacy")]
    [TestCase("special", "zip")]
    [TestCase("special", "legacy")]
    public void ReadsEveryTensorBitForBit(string stem, string format)
    {
        var tensors = TorchCheckpoint.Load(TorchFixtures.PathOf($"{stem}.{format}.pth"));
        TorchFixtures.AssertTensors(tensors, TorchFixtures.ExpectedTensors(stem));
    }

    [TestCase("nested_state_dict", "zip")]
    [TestCase("nested_state_dict", "legacy")]
    [TestCase("nested_model", "zip")]
    [TestCase("nested_model", "legacy")]
    public void OpensNestedStateDicts(string stem, string format)
    {
        var tensors = TorchCheckpoint.Load(TorchFixtures.PathOf($"{stem}.{format}.pth"));
        TorchFixtures.AssertTensors(tensors, TorchFixtures.ExpectedTensors("nested"));
    }

    [TestCase("zip")]
    [TestCase("legacy")]
    public void CheckpointWithoutTensorsIsAClearError(string format)
    {
        var e = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Load(TorchFixtures.PathOf($"no_tensors.{format}.pth")));
        Assert.That(e!.Message, Does.Contain("no tensor dict").And.Contain("epoch"));
    }

    [Test]
    public void OtherFilesAreNotCheckpoints()
    {
        var e = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Load(TorchFixtures.PathOf("special.expected.json")));
        Assert.That(e!.Message, Does.StartWith("not a PyTorch checkpoint"));
        Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Load(new MemoryStream([])));
    }

    [TestCase("zip")]
    [TestCase("legacy")]
    public void TruncatedFilesNameWhatIsMissing(string format)
    {
        var bytes = File.ReadAllBytes(TorchFixtures.PathOf($"special.{format}.pth"));
        // Cut inside the last storage (legacy) or inside the central directory (zip).
        var e = Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Load(new MemoryStream(bytes[..^5]), "cut.pth"));
        Assert.That(e!.Message, Does.Contain("cut.pth"));
        if (format == "legacy") Assert.That(e.Message, Does.Contain("truncated file: storage"));
    }

    [Test]
    public void ReadsFromNonSeekableStreams()
    {
        var bytes = File.ReadAllBytes(TorchFixtures.PathOf("special.legacy.pth"));
        var tensors = TorchCheckpoint.Load(new ForwardOnlyStream(bytes));
        TorchFixtures.AssertTensors(tensors, TorchFixtures.ExpectedTensors("special"));
    }

    /// <summary>A stream that can only be read forwards, like a network response.</summary>
    private sealed class ForwardOnlyStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
