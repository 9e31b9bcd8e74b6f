using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Cpu;

namespace Ssd.Tests.Kernels;

public class FmaPeakTests
{
    [Test]
    public void WidthsAreTheFmaUnitsThisCpuHas()
    {
        var expected = new List<int>();
        if (Fma.IsSupported) expected.Add(256);
        if (Avx512F.IsSupported) expected.Add(512);
        Assert.That(FmaPeak.Widths(), Is.EqualTo(expected));
    }

    [Test]
    public void PeakComesFromAWidthTheCpuHas()
    {
        var peak = FmaPeak.Measure(rounds: 1, iterations: 1 << 12);
        if (!Fma.IsSupported)
        {
            Assert.That(peak, Is.Null);
            return;
        }
        Assert.That(peak, Is.Not.Null);
        Assert.That(FmaPeak.Widths(), Does.Contain(peak!.Value.Bits));
        Assert.That(double.IsFinite(peak.Value.Gflops) && peak.Value.Gflops > 0, $"{peak.Value.Gflops} GFLOP/s");
        Assert.That(peak.Value.Source, Does.Contain($"{peak.Value.Bits}-bit"));
    }

    [Test]
    public void AWidthTheCpuLacksIsRefused()
    {
        if (Avx512F.IsSupported) Assert.Ignore("this CPU has AVX-512F");
        Assert.Throws<ArgumentOutOfRangeException>(() => FmaPeak.Measure(512, 1, 16));
    }

    [Test]
    public void MachineNamesTheIsaAndTheFamily()
    {
        string machine = MachineInfo.Description;
        Assert.That(machine, Does.Contain(CpuIsaSupport.Best.ToString()));
        Assert.That(machine, Does.Contain($"{Environment.ProcessorCount} threads"));
        if (File.Exists("/proc/cpuinfo") && File.ReadAllText("/proc/cpuinfo").Contains("cpu family"))
            Assert.That(machine, Does.Contain("CPU family"));
    }
}
