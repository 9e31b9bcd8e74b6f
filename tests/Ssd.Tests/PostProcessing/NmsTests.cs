using Ssd.Kernels.Nms;

namespace Ssd.Tests.PostProcessing;

public class NmsTests
{
    [Test]
    public void IouFormulasOnKnownBoxes()
    {
        Assert.That(NmsReference.Iou([0, 0, 10, 10], [1, 1, 10, 10], IouMode.Caffe), Is.EqualTo(0.81f).Within(1e-6));
        Assert.That(NmsReference.Iou([0, 0, 10, 10], [5, 0, 15, 10], IouMode.Torchvision), Is.EqualTo(50f / 150f).Within(1e-6));
        Assert.That(NmsReference.Iou([0, 0, 1, 1], [2, 2, 3, 3], IouMode.Caffe), Is.EqualTo(0f));
        Assert.That(float.IsNaN(NmsReference.Iou([1, 1, 1, 1], [1, 1, 1, 1], IouMode.Torchvision)), Is.True, "0/0 as torchvision");
    }
}
