namespace Ssd.Weights.Torch;

// The values the restricted unpickler produces. Python ints become long (System.Numerics.BigInteger when wider),
// floats double, str string, bytes byte[], None null, list List<object?>. Tuples and dicts get their own types so
// that a tuple can be told from a list and a dict keeps Python's insertion order.

/// <summary>An allow-listed global (module.name) as a value, e.g. torch.FloatStorage inside a persistent id.</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary>A Python tuple.</summary>
internal sealed class PickleTuple(object?[] items) : IReadOnlyList<object?>
{
    /// <summary>The empty tuple, shared (as in Python).</summary>
    public static PickleTuple Empty { get; } = new([]);

    public object?[] Items { get; } = items;
    public int Count => Items.Length;
    public object? this[int index] => Items[index];
    public IEnumerator<object?> GetEnumerator() => ((IEnumerable<object?>)Items).GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => Items.GetEnumerator();
}

/// <summary>Objects that accept pickle's BUILD (setstate). Only these; BUILD on anything else is refused.</summary>
internal interface IPickleBuildable
{
    void SetState(object? state);
}

/// <summary>
/// A Python dict or collections.OrderedDict: insertion-ordered entries; a later SETITEM with an equal key replaces
/// the value in place, as in Python (keys compare as Python's do: 1, 1.0 and True are one key; str and bytes by
/// value; other objects by identity). Keys are hashed by <see cref="PickleKeyComparer"/>, whose per-process random
/// seed makes crafted collisions impractical, so n insertions cost O(n). BUILD state (an OrderedDict's attributes
/// such as state_dict's _metadata) is kept aside in <see cref="State"/>.
/// </summary>
internal sealed class PickleDict : IPickleBuildable
{
    private static readonly object NoneKey = new();
    // Allocated on the first Set, so that an empty dict (one pickle byte) is one small object.
    private List<KeyValuePair<object?, object?>>? entries;
    private Dictionary<object, int>? index;

    public IReadOnlyList<KeyValuePair<object?, object?>> Entries => (IReadOnlyList<KeyValuePair<object?, object?>>?)entries ?? [];
    public int Count => entries?.Count ?? 0;
    public object? State { get; private set; }

    public void Set(object? key, object? value)
    {
        var k = key ?? NoneKey;
        entries ??= [];
        index ??= new Dictionary<object, int>(PickleKeyComparer.Instance);
        if (index.TryGetValue(k, out int at)) entries[at] = new(entries[at].Key, value);
        else
        {
            index[k] = entries.Count;
            entries.Add(new(key, value));
        }
    }

    public bool TryGet(object? key, out object? value)
    {
        if (index is not null && index.TryGetValue(key ?? NoneKey, out int at)) { value = entries![at].Value; return true; }
        value = null;
        return false;
    }

    public void SetState(object? state) => State = state;
}

/// <summary>
/// Python's key equality for unpickled values, with hashes that a hostile file cannot make collide: numbers and
/// strings are hashed by .NET's randomized string hash (Marvin, seeded per process) over their bits, never by
/// Int64.GetHashCode (whose collisions anyone can compute: every k | k &lt;&lt; 32 hashes to 0).
/// </summary>
internal sealed class PickleKeyComparer : IEqualityComparer<object>, IEqualityComparer<long>
{
    public static PickleKeyComparer Instance { get; } = new();

    public new bool Equals(object? x, object? y)
    {
        if (ReferenceEquals(x, y)) return true;
        if (x is null || y is null) return false;
        if (Numeric(x, out var a) && Numeric(y, out var b)) return a.Equals(b);
        return (x, y) switch
        {
            (string s, string t) => string.Equals(s, t, StringComparison.Ordinal),
            (byte[] p, byte[] q) => p.AsSpan().SequenceEqual(q),
            _ => false,
        };
    }

    public int GetHashCode(object obj) => obj switch
    {
        string s => s.GetHashCode(),
        byte[] bytes => Hash(bytes),
        _ when Numeric(obj, out var n) => n.Hash(),
        _ => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj),
    };

    public bool Equals(long x, long y) => x == y;

    public int GetHashCode(long value) => Hash(value);

    /// <summary>A seeded hash of a 64-bit value (four chars through the randomized string hash).</summary>
    public static int Hash(long value) =>
        string.GetHashCode(System.Runtime.InteropServices.MemoryMarshal.Cast<long, char>(new ReadOnlySpan<long>(in value)));

    private static int Hash(byte[] bytes)
    {
        var span = bytes.AsSpan();
        int h = string.GetHashCode(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, char>(span));
        return span.Length % 2 == 1 ? HashCode.Combine(h, span[^1]) : h;
    }

    /// <summary>A number as Python compares it: an integral value (bool, int, integral float) or another double.</summary>
    private readonly record struct Number(long Integer, System.Numerics.BigInteger? Big, double? Real)
    {
        public int Hash() => Real is { } r ? PickleKeyComparer.Hash(BitConverter.DoubleToInt64Bits(r))
            : Big is { } b ? string.GetHashCode(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, char>(b.ToByteArray()))
            : PickleKeyComparer.Hash(Integer);
    }

    private static bool Numeric(object value, out Number n)
    {
        switch (value)
        {
            case long l: n = new(l, null, null); return true;
            case bool b: n = new(b ? 1 : 0, null, null); return true;
            case System.Numerics.BigInteger big:
                n = big >= long.MinValue && big <= long.MaxValue ? new((long)big, null, null) : new(0, big, null);
                return true;
            case double d:
                // 2^63 itself is out of range: compare below it.
                n = Math.Floor(d) == d && d >= long.MinValue && d < 9223372036854775808.0 ? new((long)d, null, null) : new(0, null, d);
                return true;
            default: n = default; return false;
        }
    }
}
