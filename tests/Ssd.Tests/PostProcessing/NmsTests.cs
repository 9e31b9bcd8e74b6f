using Ssd.Kernels.Nms;
using Ssd.Weights.Model;

namespace Ssd.Tests.PostProcessing;

public class NmsTests
{
    [Test]
    public void IouFormulasOnKnownBoxes()
    {
        Assert.That(Iou.Overlap(ModelFlavor.Caffe, 0, 0, 10, 10, 1, 1, 10, 10), Is.EqualTo(0.81f).Within(1e-6));
        Assert.That(Iou.Overlap(ModelFlavor.Torchvision, 0, 0, 10, 10, 5, 0, 15, 10), Is.EqualTo(50f / 150f).Within(1e-6));
        Assert.That(Iou.Overlap(ModelFlavor.Caffe, 0, 0, 1, 1, 2, 2, 3, 3), Is.EqualTo(0f));
        Assert.That(float.IsNaN(Iou.Overlap(ModelFlavor.Torchvision, 1, 1, 1, 1, 1, 1, 1, 1)), Is.True, "0/0 as torchvision");
    }
}
