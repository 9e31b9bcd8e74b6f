namespace Ssd.Fuzz;

/// <summary>
/// The hostile files of issue 16, reproducible: each is what the tester fed `ssd convert`, built here so
/// the tests and the fuzz corpus can hold them without committing megabytes. Sizes are parameters; the defaults
/// are the issue's.
/// </summary>
public static class Bombs
{
    /// <summary>A torch zip checkpoint: folder/data.pkl, folder/data/&lt;key&gt; per storage, folder/version.</summary>
    public static byte[] Checkpoint(byte[] pickle, IEnumerable<(string Key, byte[] Data)>? storages = null, bool deflate = false, bool zip64 = false)
    {
        var zip = new ZipBuilder { ForceZip64 = zip64 };
        zip.Add("archive/data.pkl", pickle, deflate);
        foreach (var (key, data) in storages ?? []) zip.Add($"archive/data/{key}", data, deflate);
        zip.Add("archive/version", "3\n"u8.ToArray());
        return zip.Build();
    }

    /// <summary>A small valid checkpoint: tensor "w" of 4 floats 0..3 (the control for the bombs).</summary>
    public static byte[] Small(bool deflate = false, bool zip64 = false)
    {
        var data = new byte[16];
        for (int i = 0; i < 4; i++) BitConverter.TryWriteBytes(data.AsSpan(4 * i), (float)i);
        var pickle = PickleWriter.StateDict([new("w", "0", 4, [4], [1])]);
        return Checkpoint(pickle, [("0", data)], deflate, zip64);
    }

    /// <summary>Item 1: data.pkl of <paramref name="count"/> EMPTY_DICT opcodes, deflated (20,000,000: a 19.5 KB zip).</summary>
    public static byte[] DictFlood(int count = 20_000_000)
    {
        var pickle = new byte[2 + count + 1];
        pickle[0] = 0x80;
        pickle[1] = 2;
        pickle.AsSpan(2, count).Fill((byte)'}');
        pickle[^1] = (byte)'.';
        return Checkpoint(pickle, deflate: true);
    }

    /// <summary>
    /// Item 1: four central-directory entries (storages 0..3, each <paramref name="storageBytes"/> of float zeros)
    /// pointing at one deflated stream: a 1 MB file that a reader inflating each entry turns into 4 GiB.
    /// </summary>
    public static byte[] OverlappingEntries(long storageBytes = 1L << 30)
    {
        long numel = storageBytes / 4;
        var pickle = PickleWriter.StateDict(Enumerable.Range(0, 4).Select(i => new PickleWriter.Tensor($"w{i}", $"{i}", numel, [numel], [1])));
        var zip = new ZipBuilder();
        zip.Add("archive/data.pkl", pickle);
        int data = zip.AddDeflatedZeros("archive/data/0", storageBytes);
        for (int i = 1; i < 4; i++) zip.Alias($"archive/data/{i}", data);
        zip.Add("archive/version", "3\n"u8.ToArray());
        return zip.Build();
    }

    /// <summary>Item 1: a data.pkl that inflates to <paramref name="bytes"/> (1.9 GB from a 1.8 MB zip), a multiple of 1 MiB.</summary>
    public static byte[] InflatingPickle(long bytes = 1812L << 20)
    {
        var zip = new ZipBuilder();
        zip.AddDeflatedZeros("archive/data.pkl", bytes);
        zip.Add("archive/version", "3\n"u8.ToArray());
        return zip.Build();
    }

    /// <summary>The keys of the hash flood: k | k &lt;&lt; 32, all of which Int64.GetHashCode maps to 0.</summary>
    public static IEnumerable<long> CollidingKeys(int count) => Enumerable.Range(1, count).Select(k => (long)k | ((long)k << 32));

    /// <summary>Item 2: a pickle of about <paramref name="bytes"/> (5 MB) holding one dict whose int keys all collide under Int64.GetHashCode.</summary>
    public static byte[] HashFloodPickle(int bytes = 5_000_000)
    {
        int count = bytes / 11; // LONG1 key (2 + 8 bytes) and None
        var w = new PickleWriter().Op('}').Op('(');
        foreach (var k in CollidingKeys(count)) w.Int(k, long1: true).Op('N');
        return w.Op('u').Stop().ToArray();
    }

    /// <summary>Item 8: two central-directory entries named archive/data/0 with different data (torch.load takes the last, the old reader the first).</summary>
    public static byte[] DuplicateEntries()
    {
        var zip = new ZipBuilder();
        zip.Add("archive/data.pkl", PickleWriter.StateDict([new("w", "0", 1, [1], [1])]));
        zip.Add("archive/data/0", BitConverter.GetBytes(1f));
        zip.Add("archive/data/0", BitConverter.GetBytes(2f));
        return zip.Build();
    }

    /// <summary>
    /// Item 8: a storage of 2^62 + 1 floats, whose byte size (x4) wraps to 4 in 64 bits, viewed as a [2^30, 2^30, 4]
    /// tensor whose byte size wraps to 0: the old converter wrote a file its own reader refused.
    /// </summary>
    public static byte[] OverflowingStorage()
    {
        long numel = (1L << 62) + 1;
        var pickle = PickleWriter.StateDict([new("w", "0", numel, [1L << 30, 1L << 30, 4], [1L << 32, 4, 1])]);
        return Checkpoint(pickle, [("0", new byte[4])]);
    }

    /// <summary>A storage whose pickle claims more bytes (1 GiB) than its entry holds (16).</summary>
    public static byte[] StorageBiggerThanEntry()
    {
        long numel = 1L << 28;
        var pickle = PickleWriter.StateDict([new("w", "0", numel, [numel], [1])]);
        return Checkpoint(pickle, [("0", new byte[16])]);
    }

    /// <summary>Item 8: a valid checkpoint whose ints (element count, offset, size, stride) are all LONG1.</summary>
    public static byte[] Long1Ints()
    {
        var data = new byte[16];
        for (int i = 0; i < 4; i++) BitConverter.TryWriteBytes(data.AsSpan(4 * i), (float)i);
        return Checkpoint(PickleWriter.StateDict([new("w", "0", 4, [2, 2], [2, 1], Long1: true)]), [("0", data)]);
    }
}
