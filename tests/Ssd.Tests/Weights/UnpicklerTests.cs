using System.Numerics;
using System.Text;
using Ssd.Weights.Torch;

namespace Ssd.Tests.Weights;

public class UnpicklerTests
{
    private static object? Load(byte[] pickle) => new Unpickler(Unpickler.BaseGlobals()).Load(pickle);

    /// <summary>Pickle bytes written as a string, one char per byte.</summary>
    private static byte[] P(string s) => s.Select(c => checked((byte)c)).ToArray();

    [TestCase(0)]
    [TestCase(2)]
    [TestCase(4)]
    [TestCase(5)]
    public void ReadsPlainValuesAsPythonDoes(int protocol)
    {
        // Written by Python's own pickle; compared with Python's repr() of the same value.
        var value = Load(File.ReadAllBytes(TorchFixtures.PathOf($"values_p{protocol}.pkl")));
        Assert.That(Repr(value), Is.EqualTo(File.ReadAllText(TorchFixtures.PathOf("values.repr.txt"), Encoding.UTF8)));
        // the memo keeps shared objects shared
        var d = (PickleDict)value!;
        d.TryGet("same", out var a);
        d.TryGet("again", out var b);
        Assert.That(b, Is.SameAs(a));
    }

    [TestCaseSource(typeof(TorchFixtures), nameof(TorchFixtures.Attacks))]
    public void RefusesMaliciousPickleWithoutSideEffect(string attack, string global)
    {
        var marker = $"/tmp/ssd_pwned_{attack}";
        File.Delete(marker);
        var e = Assert.Throws<UnsafePickleException>(() => Load(File.ReadAllBytes(TorchFixtures.PathOf($"malicious/{attack}.pkl"))));
        Assert.That(e!.Refused, Is.EqualTo(global));
        Assert.That(e.Message, Does.Contain(global));
        Assert.That(File.Exists(marker), Is.False, "the payload ran");
    }

    [TestCaseSource(typeof(TorchFixtures), nameof(TorchFixtures.Attacks))]
    public void RefusesMaliciousCheckpoints(string attack, string global)
    {
        var marker = $"/tmp/ssd_pwned_{attack}";
        File.Delete(marker);
        foreach (var format in new[] { "zip", "legacy" })
        {
            var e = Assert.Throws<UnsafePickleException>(() => TorchCheckpoint.Load(TorchFixtures.PathOf($"malicious/{attack}.{format}.pth")), format);
            Assert.That(e!.Refused, Is.EqualTo(global), format);
        }
        Assert.That(File.Exists(marker), Is.False, "the payload ran");
    }

    [Test]
    public void AllowedValueOnlyGlobalsCannotBeCalled()
    {
        var globals = Unpickler.BaseGlobals();
        globals["torch.FloatStorage"] = null;
        // GLOBAL torch.FloatStorage, EMPTY_TUPLE, NEWOBJ / REDUCE
        foreach (byte op in new byte[] { 0x81, (byte)'R' })
        {
            var pickle = P("\u0080\u0002ctorch\nFloatStorage\n)").Append(op).Append((byte)'.').ToArray();
            var e = Assert.Throws<UnsafePickleException>(() => new Unpickler(globals).Load(pickle));
            Assert.That(e!.Refused, Is.EqualTo("torch.FloatStorage"));
        }
    }

    [Test]
    public void BuildOnlyOnDicts()
    {
        // EMPTY_LIST, EMPTY_DICT, BUILD
        var e = Assert.Throws<UnsafePickleException>(() => Load(P("\u0080\u0002]}b.")));
        Assert.That(e!.Refused, Is.EqualTo("BUILD on list"));
        // an OrderedDict keeps BUILD state (state_dict's _metadata) aside
        var d = (PickleDict)Load(P("\u0080\u0002ccollections\nOrderedDict\n)R}b."))!;
        Assert.That(d.State, Is.InstanceOf<PickleDict>());
    }

    [Test]
    public void ExtensionCodesAreRefused() =>
        Assert.Throws<UnsafePickleException>(() => Load([0x80, 0x02, 0x82, 0x01, (byte)'.']));

    [Test]
    public void HostileLengthsAreTruncationNotAllocation()
    {
        // BINUNICODE8 / BINBYTES8 claiming 2^62 bytes in a 20-byte pickle
        foreach (byte op in new byte[] { 0x8d, 0x8e })
        {
            var pickle = new byte[] { 0x80, 0x04, op, 0, 0, 0, 0, 0, 0, 0, 0x40, (byte)'a', (byte)'.' };
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<InvalidDataException>(() => Load(pickle));
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20));
            Assert.That(e!.Message, Does.StartWith("truncated pickle"));
        }
    }

    [Test]
    public void MalformedPicklesAreInvalidData()
    {
        Assert.Throws<InvalidDataException>(() => Load(P("\u0080\u0002.")), "STOP on an empty stack");
        Assert.Throws<InvalidDataException>(() => Load(P("\u0080\u0002h\u0005.")), "memo index never stored");
        Assert.Throws<InvalidDataException>(() => Load(P("\u0080\u0002K\u0001K\u0002K\u0003s.")), "SETITEM on an int");
        Assert.Throws<InvalidDataException>(() => Load(Enumerable.Repeat((byte)'(', 2000).Append((byte)'.').ToArray()), "mark nesting");
        Assert.Throws<InvalidDataException>(() => Load(P("\u0080\u0002N")), "no STOP");
        Assert.Throws<InvalidDataException>(() => Load(P("\u0080\u0002Q.")), "persistent id without a loader");
        Assert.Throws<InvalidDataException>(() => Load([0x80, 0x02, 0xff, (byte)'.']), "unknown opcode");
    }

    /// <summary>Python's repr() of the values the unpickler produces, for the types the fixture uses.</summary>
    private static string Repr(object? v) => v switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        long or BigInteger => v.ToString()!,
        double d => d == Math.Floor(d) ? d.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) : d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        string s => "'" + s + "'",
        List<object?> l => "[" + string.Join(", ", l.Select(Repr)) + "]",
        PickleTuple t => t.Count == 1 ? "(" + Repr(t[0]) + ",)" : "(" + string.Join(", ", t.Select(Repr)) + ")",
        PickleDict d => "{" + string.Join(", ", d.Entries.Select(e => Repr(e.Key) + ": " + Repr(e.Value))) + "}",
        _ => throw new ArgumentException(v.GetType().Name),
    };
}
