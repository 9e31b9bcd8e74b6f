using Ssd.Engine.Imaging;
using Ssd.Engine.Training.Data;
using Ssd.Engine.Training.Data.Augment;
using Ssd.Engine.Training.Input;
using Ssd.Weights.Model;

namespace Ssd.Tests.Training.Data;

/// <summary>The sampler's wrap-around and shuffling rules, and the prefetch pipeline's order, bound and errors.</summary>
public class DataPipelineTests
{
    [Test]
    public void WithoutShufflingBatchIHoldsImagesIBToIBPlusBMinus1WrappingAround()
    {
        var sampler = new BatchSampler(7, 3, shuffle: false, seed: 1);
        for (long b = 0; b < 20; b++)
        {
            var batch = sampler.Batch(b);
            for (int j = 0; j < 3; j++)
                Assert.That(batch[j], Is.EqualTo(((b * 3 + j) / 7, (int)((b * 3 + j) % 7))), $"batch {b} item {j}");
        }
        Assert.That(sampler.Batch(2).Select(x => x.Index), Is.EqualTo(new[] { 6, 0, 1 }), "the batch across the epoch boundary");
    }

    [Test]
    public void ShufflingDrawsAPermutationPerEpochFromTheSeed()
    {
        var a = new BatchSampler(50, 8, shuffle: true, seed: 3);
        var b = new BatchSampler(50, 8, shuffle: true, seed: 3);
        for (long e = 0; e < 4; e++)
        {
            Assert.That(a.Order(e).Order(), Is.EqualTo(Enumerable.Range(0, 50)), $"epoch {e} is a permutation");
            Assert.That(a.Order(e), Is.EqualTo(b.Order(e)), "the same seed, the same order");
        }
        Assert.That(a.Order(0), Is.Not.EqualTo(a.Order(1)));
        Assert.That(a.Order(0), Is.Not.EqualTo(new BatchSampler(50, 8, true, 4).Order(0)));
        var seen = Enumerable.Range(0, 50).Select(p => a.At(50 + p)).ToArray();
        Assert.That(seen.All(x => x.Epoch == 1) && seen.Select(x => x.Index).Distinct().Count() == 50, "every image once per epoch");
    }

    [TestCase(1)]
    [TestCase(2)]
    public void BatchesArriveInOrderWithTheSameContentWhateverTheWorkersTiming(int workers)
    {
        var sampler = new BatchSampler(5, 2, shuffle: true, seed: 9);
        var augment = Augmentation.Create(ModelFlavor.Torchvision);
        var images = Enumerable.Range(0, 5).Select(i => new RgbImage(20 + i, 16, Enumerable.Range(0, 3 * (20 + i) * 16).Select(v => (byte)(v * (i + 3))).ToArray())).ToArray();
        var objects = new LabelledBoxes([2, 2, 12, 10], [1]);
        byte[][] Make(long b, int jitter)
        {
            if (jitter > 0) Thread.Sleep((int)((b * 7919) % jitter));
            return sampler.Batch(b).Select(x => augment.Apply(images[x.Index], objects, 21, x.Epoch, x.Index).Image!.Pixels).ToArray();
        }
        var expected = Enumerable.Range(0, 12).Select(b => Make(b, 0)).ToArray();
        int made = 0, handed = 0, ahead = 0;
        using var pipeline = new PrefetchPipeline<byte[][]>(b =>
        {
            var batch = Make(b, 5);
            int lead = Interlocked.Increment(ref made) - Volatile.Read(ref handed);
            InterlockedMax(ref ahead, lead);
            return batch;
        }, workers, prefetch: 3);
        for (int b = 0; b < 12; b++)
        {
            var batch = pipeline.Next();
            Interlocked.Increment(ref handed);
            Assert.That(batch, Is.EqualTo(expected[b]), $"batch {b}");
        }
        Assert.That(ahead, Is.LessThanOrEqualTo(3 + 1), "batches made ahead of the consumer stay within the prefetch bound");
        Assert.That(pipeline.Waited, Is.GreaterThanOrEqualTo(TimeSpan.Zero));
    }

    [Test]
    public void AFailingBatchIsReportedByNextWithItsNumber()
    {
        using var pipeline = new PrefetchPipeline<long>(b => b == 2 ? throw new InvalidDataException("broken image") : b, workers: 1, prefetch: 2);
        Assert.That(pipeline.Next(), Is.EqualTo(0));
        Assert.That(pipeline.Next(), Is.EqualTo(1));
        var e = Assert.Throws<InvalidOperationException>(() => pipeline.Next());
        Assert.That(e!.Message, Does.Contain("batch 2").And.Contain("broken image"));
    }

    [Test]
    public void BadSettingsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new BatchSampler(0, 4, false, 0));
        Assert.Throws<ArgumentException>(() => new BatchSampler(4, 0, false, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PrefetchPipeline<int>(b => 0, workers: Environment.ProcessorCount + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PrefetchPipeline<int>(b => 0, prefetch: 0));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }
}
