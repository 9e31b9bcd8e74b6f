using System.Text.Json.Nodes;
using Ssd.Fuzz;
using Ssd.Weights;
using Ssd.Weights.Caffe;
using Ssd.Weights.Model;
using Ssd.Weights.SafeTensors;
using Ssd.Weights.Tensors;
using Ssd.Weights.Torch;

namespace Ssd.Tests.Weights;

/// <summary>
/// Issue 16, items 1, 2, 4 (readers), 5 and 8 (readers): every hostile file of the issue (built by
/// tools/Ssd.Fuzz's <see cref="Bombs"/>) gets a documented error naming the file and the problem, allocating less
/// than the acceptance budget (4x the input or 512 MB, whichever is larger: <see cref="FuzzRunner.MemoryBudget"/>),
/// counted with GC.GetAllocatedBytesForCurrentThread, an upper bound of the memory the read took. The peak RSS of
/// the same files in a child process under a GC heap limit is checked in <see cref="FuzzHarnessTests"/>.
/// </summary>
public class HardeningTests
{
    private static (Exception? Error, long Allocated) Measure(Action read)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            read();
            return (null, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        catch (Exception e)
        {
            return (e, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    private static T Refused<T>(byte[] file, string name, out long allocated) where T : Exception
    {
        var (error, bytes) = Measure(() => TorchCheckpoint.Load(new MemoryStream(file, writable: false), name));
        allocated = bytes;
        Assert.That(error, Is.InstanceOf<T>(), error?.ToString());
        Assert.That(error!.Message, Does.StartWith(name).And.Not.Contain("\n"));
        Assert.That(allocated, Is.LessThan(FuzzRunner.MemoryBudget(file.Length)), $"allocated {allocated:N0} bytes for a {file.Length:N0}-byte file");
        return (T)error;
    }

    [Test]
    public void DictFloodStopsAtThePickleMemoryBudget()
    {
        // 20,000,000 EMPTY_DICT opcodes in a 19.5 KB zip: 3.4 GB before.
        var bomb = Bombs.DictFlood();
        Assert.That(bomb.Length, Is.LessThan(25_000));
        var e = Refused<ReaderBudgetException>(bomb, "flood.pth", out long allocated);
        Assert.That(e.Budget, Is.EqualTo("pickle.memory"));
        Assert.That(e.Limit, Is.EqualTo(ReaderBudgets.Default.PickleMemoryCap));
        Assert.That(e.Message, Does.Contain("'pickle.memory'"));
        // What was charged is an upper bound of what was allocated besides the inflated 20 MB pickle.
        Assert.That(allocated, Is.LessThan(ReaderBudgets.Default.PickleMemoryCap + 2 * 20_000_003L + (8 << 20)));
    }

    [Test]
    public void OverlappingEntriesAreRefusedBeforeInflating()
    {
        // Four central-directory entries point at one deflated 1 GiB stream: 13.7 GB before.
        var bomb = Bombs.OverlappingEntries();
        var e = Refused<InvalidDataException>(bomb, "overlap.pth", out long allocated);
        Assert.That(e.Message, Does.Contain("'archive/data/0' and 'archive/data/1' overlap"));
        Assert.That(allocated, Is.LessThan(4L << 20), "refused from the central directory, nothing inflated");
    }

    [Test]
    public void APickleDeclaringMoreThanThePickleBudgetIsRefusedBeforeInflating()
    {
        // A 1.8 MB zip whose data.pkl inflates to 1.9 GB: 7.2 GB before.
        var bomb = Bombs.InflatingPickle();
        Assert.That(bomb.Length, Is.LessThan(2_000_000));
        var e = Refused<ReaderBudgetException>(bomb, "inflate.pth", out long allocated);
        Assert.That(e.Budget, Is.EqualTo("pickle.bytes"));
        Assert.That(e.Message, Does.Contain("'archive/data.pkl'"));
        Assert.That(allocated, Is.LessThan(4L << 20));
    }

    [Test]
    public void AnEntryInflatingPastItsDeclaredSizeIsRefusedAtThatSize()
    {
        // The same stream, its central directory claiming 1 MiB: reading stops at 1 MiB.
        var zip = new ZipBuilder();
        int pkl = zip.AddDeflatedZeros("archive/data.pkl", 64L << 20);
        zip.Declare(pkl, size: 1 << 20);
        var e = Refused<InvalidDataException>(zip.Build(), "lying.pth", out long allocated);
        Assert.That(e.Message, Does.Contain("inflates to more than its declared 1048576 bytes"));
        Assert.That(allocated, Is.LessThan(8L << 20));
    }

    [Test]
    public void TheInflationBudgetCoversAllEntriesTogether()
    {
        // Storages that inflate, together, past 4x the archive (and the 64 MiB floor) are refused before any is read.
        long numel = 24L << 20;
        var pickle = PickleWriter.StateDict(Enumerable.Range(0, 4).Select(i => new PickleWriter.Tensor($"w{i}", $"{i}", numel, [numel], [1])));
        var zip = new ZipBuilder();
        zip.Add("archive/data.pkl", pickle);
        for (int i = 0; i < 4; i++) zip.AddDeflatedZeros($"archive/data/{i}", numel * 4);
        var e = Refused<ReaderBudgetException>(zip.Build(), "many.pth", out long allocated);
        Assert.That(e.Budget, Is.EqualTo("zip.inflated"));
        Assert.That(e.Message, Does.Contain("4 storages"));
        Assert.That(allocated, Is.LessThan(8L << 20));
    }

    [Test]
    public void HashFloodKeysCollideForInt64ButNotForThePickleKeyHash()
    {
        // By construction, not by timing: the flood's keys all share Int64.GetHashCode (so a Dictionary with the
        // default comparer does n^2/2 probes), while the seeded key hash gives them distinct hash codes, so the
        // dict's work is linear.
        var keys = Bombs.CollidingKeys(400_000).ToList();
        Assert.That(keys.Select(k => k.GetHashCode()).Distinct().Count(), Is.EqualTo(1));
        int distinct = keys.Select(k => PickleKeyComparer.Instance.GetHashCode((object)k)).Distinct().Count();
        Assert.That(distinct, Is.GreaterThan(keys.Count * 0.999));
        // memo indices (PUT/LONG_BINPUT) use the same hash
        Assert.That(keys.Select(k => PickleKeyComparer.Instance.GetHashCode(k)).Distinct().Count(), Is.GreaterThan(keys.Count * 0.999));
    }

    [Test]
    public void HashFloodPickleLoads()
    {
        // The 5 MB pickle of colliding int keys (still running after 120 s before) loads, every key kept.
        var flood = Bombs.HashFloodPickle();
        var d = (PickleDict)new Unpickler(Unpickler.BaseGlobals()).Load(flood)!;
        Assert.That(d.Count, Is.EqualTo(5_000_000 / 11));
        Assert.That(d.TryGet((long)7 | (7L << 32), out _), Is.True);
    }

    [Test]
    public void PythonEqualKeysAreOneKey()
    {
        // {1: 'a', 1.0: 'b', True: 'c'} in Python is {1: 'c'}; str and bytes keys compare by value.
        var d = new PickleDict();
        d.Set(1L, "a");
        d.Set(1.0, "b");
        d.Set(true, "c");
        d.Set(new byte[] { 1, 2 }, "x");
        d.Set(new byte[] { 1, 2 }, "y");
        Assert.That(d.Count, Is.EqualTo(2));
        Assert.That(d.Entries[0].Key, Is.EqualTo(1L));
        Assert.That(d.Entries[0].Value, Is.EqualTo("c"));
        Assert.That(d.Entries[1].Value, Is.EqualTo("y"));
    }

    [Test]
    public void DuplicateEntryNamesAreRefusedByName()
    {
        var e = Refused<InvalidDataException>(Bombs.DuplicateEntries(), "dup.pth", out _);
        Assert.That(e.Message, Does.Contain("'archive/data/0' appears twice"));
    }

    [Test]
    public void OverflowingStorageSizesAreRefused()
    {
        // 2^62 + 1 floats: the byte size wraps to 4 in 64 bits; the [2^30, 2^30, 4] view's to 0.
        var e = Refused<InvalidDataException>(Bombs.OverflowingStorage(), "overflow.pth", out _);
        Assert.That(e.Message, Does.Contain("storage '0'").And.Contain("larger than one tensor can be"));
        // The same sizes are refused wherever a shape is checked (one function, TensorData.ByteCount).
        Assert.Throws<InvalidDataException>(() => TensorData.ByteCount([(1L << 62) + 1], TensorDType.Float32, "x"));
        Assert.Throws<InvalidDataException>(() => TensorData.ByteCount([1L << 30, 1L << 30, 4], TensorDType.Float32, "x"));
        Assert.That(TensorData.ByteCount([1L << 40, 0], TensorDType.Float64, "x"), Is.EqualTo(0));
        Assert.Throws<InvalidDataException>(() => new TensorData("t", [int.MaxValue, int.MaxValue, 4], TensorDType.Float32, []));
    }

    [Test]
    public void StoragesAreCheckedAgainstTheirEntriesBeforeAnyIsRead()
    {
        // The pickle claims a 1 GiB storage, its entry holds 16 bytes: refused without allocating the storage.
        var e = Refused<InvalidDataException>(Bombs.StorageBiggerThanEntry(), "short.pth", out long allocated);
        Assert.That(e.Message, Does.Contain("truncated storage '0'").And.Contain("holds 16 bytes"));
        Assert.That(allocated, Is.LessThan(1 << 20));
    }

    [Test]
    public void Long1IntegersAreInts()
    {
        // pickle.dumps(2**40, protocol=2), pickle.dumps(-2**40, 2), pickle.dumps(2**63-1, 2): Python writes LONG1.
        foreach (var (hex, value) in new[] { ("80028a060000000000012e", 1L << 40), ("80028a060000000000ff2e", -(1L << 40)), ("80028a08ffffffffffffff7f2e", long.MaxValue) })
            Assert.That(new Unpickler(Unpickler.BaseGlobals()).Load(Convert.FromHexString(hex)), Is.TypeOf<long>().And.EqualTo(value), hex);
        // 2**63 does not fit: it stays a BigInteger (and is refused where a size is expected).
        Assert.That(new Unpickler(Unpickler.BaseGlobals()).Load(Convert.FromHexString("80028a090000000000000080002e")), Is.TypeOf<System.Numerics.BigInteger>());
        // A checkpoint whose element count, offset, sizes and strides are LONG1 reads.
        var w = TorchCheckpoint.Load(new MemoryStream(Bombs.Long1Ints()), "long1.pth")["w"];
        Assert.That(w.Shape, Is.EqualTo(new[] { 2, 2 }));
        Assert.That(w.ToFloat32(), Is.EqualTo(new[] { 0f, 1, 2, 3 }));
    }

    [TestCase(false, false)]
    [TestCase(true, false)]
    [TestCase(false, true)]
    public void DeflatedAndZip64ArchivesRead(bool deflate, bool zip64)
    {
        var w = TorchCheckpoint.Load(new MemoryStream(Bombs.Small(deflate, zip64)), "small.pth")["w"];
        Assert.That(w.ToFloat32(), Is.EqualTo(new[] { 0f, 1, 2, 3 }));
    }

    [Test]
    public void BudgetsAreConfigurableAndNamed()
    {
        var path = TorchFixtures.PathOf("torchvision_like.zip.pth");
        Assert.That(TorchCheckpoint.Load(path), Is.Not.Empty);
        var tight = new ReaderBudgets { PickleMemoryFloor = 1024, PickleMemoryCap = 1024 };
        var e = Assert.Throws<ReaderBudgetException>(() => TorchCheckpoint.Load(path, tight))!;
        Assert.That((e.Budget, e.Limit, e.File), Is.EqualTo(("pickle.memory", 1024L, "torchvision_like.zip.pth")));
        var few = new ReaderBudgets { ZipEntries = 2 };
        Assert.That(Assert.Throws<ReaderBudgetException>(() => TorchCheckpoint.Load(path, few))!.Budget, Is.EqualTo("zip.entries"));
        var small = new ReaderBudgets { CaffemodelBytes = 100 };
        Assert.That(Assert.Throws<ReaderBudgetException>(() => CaffemodelReader.ReadFile(Path.Combine(WeightsPaths.Fixtures, "caffe", "tiny.caffemodel"), small))!.Budget,
            Is.EqualTo("caffemodel.bytes"));
    }

    [Test]
    public void RealPicklesUseAFractionOfThePickleBudget()
    {
        // What torch.save's pickles cost the VM per byte, against the 64 B/byte budget: far below it.
        foreach (var stem in new[] { "ssd_pytorch_like", "torchvision_like", "special", "nested_state_dict" })
        {
            using var zip = System.IO.Compression.ZipFile.OpenRead(TorchFixtures.PathOf($"{stem}.zip.pth"));
            var entry = zip.Entries.Single(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
            var pickle = new byte[entry.Length];
            using (var s = entry.Open()) s.ReadExactly(pickle);
            var globals = Unpickler.BaseGlobals();
            globals["torch._utils._rebuild_tensor_v2"] = args => args;
            globals["torch.FloatStorage"] = globals["torch.HalfStorage"] = globals["torch.DoubleStorage"] = globals["torch.LongStorage"] = null;
            foreach (var t in new[] { "IntStorage", "ByteStorage", "CharStorage", "BoolStorage", "BFloat16Storage" }) globals["torch." + t] = null;
            globals["torch._utils._rebuild_parameter"] = args => args;
            var vm = new Unpickler(globals, id => id);
            vm.Load(pickle);
            double perByte = (double)vm.Charged / pickle.Length;
            TestContext.Out.WriteLine($"{stem}: {pickle.Length} bytes, {vm.Charged} charged, {perByte:F1} B/byte");
            Assert.That(perByte, Is.LessThan(ReaderBudgets.Default.PickleMemoryPerByte / 2.0), stem);
        }
    }

    [Test]
    public void AZeroDimHeadWeightIsACleanError()
    {
        var state = new Dictionary<string, TensorData>(TorchCheckpoint.Load(TorchFixtures.PathOf("ssd_pytorch_like.zip.pth")))
        {
            ["loc.0.weight"] = new("loc.0.weight", [], TensorDType.Float32, new byte[4]),
        };
        var e = Assert.Throws<InvalidDataException>(() => TorchConverter.Convert(state))!;
        Assert.That(e.Message, Does.Contain("'loc.0.weight'").And.Contain("shape []"));
        state["loc.0.weight"] = TorchCheckpoint.Load(TorchFixtures.PathOf("ssd_pytorch_like.zip.pth"))["loc.0.weight"];
        state["conf.2.weight"] = new("conf.2.weight", [], TensorDType.Float32, new byte[4]);
        Assert.That(Assert.Throws<InvalidDataException>(() => TorchConverter.Convert(state))!.Message, Does.Contain("'conf.2.weight'"));
    }

    /// <summary>Every field of a real description set to null, one at a time: a clean error (or, for optional fields, a model).</summary>
    [Test]
    public void ANullInAnyFieldOfTheDescriptionIsACleanError()
    {
        var file = SafeTensorsFile.Read(Path.Combine(WeightsPaths.RepoRoot, "examples", "shapes", "shapes_ssd.safetensors"));
        var json = file.Metadata[ModelFile.DescriptionKey];
        var names = file.Tensors.Keys.ToList();
        var paths = new List<string[]>();
        void Walk(JsonNode node, string[] at)
        {
            if (node is JsonObject o) foreach (var (k, v) in o) { paths.Add([.. at, k]); if (v is not null) Walk(v, [.. at, k]); }
            else if (node is JsonArray a) for (int i = 0; i < Math.Min(a.Count, 2); i++) { paths.Add([.. at, $"{i}"]); if (a[i] is { } v) Walk(v, [.. at, $"{i}"]); }
        }
        Walk(JsonNode.Parse(json)!, []);
        Assert.That(paths, Has.Count.GreaterThan(100));
        int refused = 0;
        foreach (var path in paths)
        {
            var root = JsonNode.Parse(json)!;
            var parent = path[..^1].Aggregate(root, (n, k) => n is JsonArray a ? a[int.Parse(k)]! : n[k]!);
            if (parent is JsonArray arr) arr[int.Parse(path[^1])] = null; else parent[path[^1]] = null;
            try
            {
                ModelDescription.FromJson(root.ToJsonString(), names);
            }
            catch (InvalidDataException e)
            {
                Assert.That(e.Message, Does.StartWith("model description:").And.Not.Contain("\n"), string.Join("/", path));
                refused++;
            }
        }
        Assert.That(refused, Is.GreaterThan(paths.Count / 2), "most fields are required");
        Assert.That(Assert.Throws<InvalidDataException>(() => ModelDescription.FromJson(json.Replace("\"outputs\": {", "\"outputs\": null, \"x\": {"), names))!.Message,
            Does.Contain("outputs"));
    }

    [Test]
    public void DevicesDirectoriesAndNonTextAreCleanErrors()
    {
        var dir = Path.Combine(WeightsPaths.Fixtures, "caffe");
        Assert.That(Assert.Throws<InvalidDataException>(() => ModelFile.Load(dir))!.Message, Does.Contain("is a directory"));
        Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Load(dir));
        Assert.Throws<InvalidDataException>(() => CaffemodelReader.ReadFile(dir));
        if (File.Exists("/dev/zero"))
        {
            // /dev/zero reports 0 bytes and never ends: each reader stops at once.
            Assert.That(Assert.Throws<InvalidDataException>(() => CaffemodelReader.ReadFile("/dev/zero"))!.Message, Does.Contain("not a regular file"));
            Assert.That(Assert.Throws<InvalidDataException>(() => CaffeNetDefinition.Load("/dev/zero"))!.Message, Does.Contain("not a regular file"));
            Assert.Throws<InvalidDataException>(() => TorchCheckpoint.Load("/dev/zero"));
            Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read("/dev/zero"));
        }
        var binary = Path.Combine(TestContext.CurrentContext.WorkDirectory, "binary.prototxt");
        File.WriteAllBytes(binary, [0xff, 0xfe, 0x00, 0x80]);
        try { Assert.That(Assert.Throws<InvalidDataException>(() => CaffeNetDefinition.Load(binary))!.Message, Does.Contain("not a text file")); }
        finally { File.Delete(binary); }
    }

    [Test]
    public void NamesWithControlCharactersNeverReachAMessage()
    {
        // A zip entry named with an escape sequence: refused, the name shown escaped.
        var zip = new ZipBuilder();
        zip.Add("archive/data.pkl\u001b[2J", [0x80, 2, (byte)'.']);
        var e = Refused<InvalidDataException>(zip.Build(), "ctl.pth", out _);
        Assert.That(e.Message, Does.Contain("\\x1b[2J").And.Not.Contain("\u001b"));
        // A prototxt value with a newline, quoted in an error.
        var net = "input: \"data\"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\nlayer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: \"a\\nb\" } }";
        var m = Assert.Throws<InvalidDataException>(() => CaffeConverter.Convert(CaffeNetDefinition.Parse(net), new Dictionary<string, CaffeLayerBlobs>()))!.Message;
        Assert.That(m, Does.Contain("a\\nb").And.Not.Contain("\n"));
    }
}
