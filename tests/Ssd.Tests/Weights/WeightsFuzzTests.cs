using Ssd.Weights.SafeTensors;
using Ssd.Weights.Torch;

namespace Ssd.Tests.Weights;

/// <summary>
/// Damaged files (random truncations and byte changes, fixed seeds) must give only the documented exceptions
/// (InvalidDataException, UnsafePickleException) or a successful read — never another exception type, a hang, or
/// an allocation far beyond the file's own size.
/// </summary>
public class WeightsFuzzTests
{
    private const int Cases = 300;

    [TestCase("special.zip.pth", 1)]
    [TestCase("special.legacy.pth", 2)]
    [TestCase("torchvision_like.zip.pth", 3)]
    [TestCase("torchvision_like.legacy.pth", 4)]
    [TestCase("nested_state_dict.legacy.pth", 5)]
    [TestCase("malicious/build_setstate.zip.pth", 6)]
    [TestCase("malicious/stack_global.legacy.pth", 7)]
    public void DamagedCheckpoints(string fixture, int seed) =>
        Fuzz(fixture, seed, (bytes) => TorchCheckpoint.Load(new MemoryStream(bytes), "fuzz"));

    [TestCase("values_p0.pkl", 11)]
    [TestCase("values_p2.pkl", 12)]
    [TestCase("values_p5.pkl", 13)]
    [TestCase("malicious/newobj_ex.pkl", 14)]
    public void DamagedPickles(string fixture, int seed) =>
        Fuzz(fixture, seed, bytes => new Unpickler(Unpickler.BaseGlobals()).Load(bytes));

    [TestCase("spec_written.safetensors", 21)]
    public void DamagedSafeTensors(string fixture, int seed) =>
        Fuzz(fixture, seed, bytes => SafeTensorsFile.Read(new MemoryStream(bytes), "fuzz"));

    private static void Fuzz(string fixture, int seed, Action<byte[]> read)
    {
        var original = File.ReadAllBytes(TorchFixtures.PathOf(fixture));
        var rng = new Random(seed);
        int outcomes = 0;
        for (int c = 0; c < Cases; c++)
        {
            var bytes = Damage(original, rng, out string how);
            string what = $"{fixture} case {c} ({how})";
            // Far more than any valid read needs (output ~ input size, zip bookkeeping), far less than a size
            // field taken at its word.
            long budget = 32L * bytes.Length + (4 << 20);
            var task = Task.Run(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    read(bytes);
                    return (ok: true, allocated: GC.GetAllocatedBytesForCurrentThread() - before, error: (Exception?)null);
                }
                catch (Exception e) when (e is InvalidDataException or UnsafePickleException)
                {
                    return (ok: false, allocated: GC.GetAllocatedBytesForCurrentThread() - before, error: (Exception?)null);
                }
                catch (Exception e)
                {
                    return (ok: false, allocated: 0L, error: e);
                }
            });
            // a generous guard against hangs, not a timing measurement
            Assert.That(task.Wait(TimeSpan.FromSeconds(20)), Is.True, $"{what}: no answer (hang)");
            var (ok, allocated, error) = task.Result;
            if (error != null) Assert.Fail($"{what}: {error.GetType().Name}: {error.Message}\n{error.StackTrace}");
            Assert.That(allocated, Is.LessThan(budget), $"{what}: allocated {allocated} bytes for a {bytes.Length}-byte file");
            if (ok) outcomes++;
        }
        TestContext.Out.WriteLine($"{fixture}: {outcomes} of {Cases} damaged files still read");
    }

    /// <summary>A truncation (a third of the cases) or one to eight random bytes changed.</summary>
    private static byte[] Damage(byte[] original, Random rng, out string how)
    {
        if (rng.Next(3) == 0)
        {
            int cut = rng.Next(original.Length);
            how = $"cut at {cut}";
            return original[..cut];
        }
        var bytes = (byte[])original.Clone();
        int n = 1 + rng.Next(8);
        var at = new List<int>();
        for (int i = 0; i < n; i++)
        {
            int p = rng.Next(bytes.Length);
            bytes[p] = (byte)rng.Next(256);
            at.Add(p);
        }
        how = "bytes changed at " + string.Join(",", at);
        return bytes;
    }
}
