namespace Ssd.Weights.Torch;

// The values the restricted unpickler produces. Python ints become long (System.Numerics.BigInteger when wider),
// floats double, str string, bytes byte[], None null, list List<object?>. Tuples and dicts get their own types so
// that a tuple can be told from a list and a dict keeps Python's insertion order.

/// <summary>An allow-listed global (module.name) as a value, e.g. torch.FloatStorage inside a persistent id.</summary>
public sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary>A Python tuple.</summary>
public sealed class PickleTuple(object?[] items) : IReadOnlyList<object?>
{
    public object?[] Items { get; } = items;
    public int Count => Items.Length;
    public object? this[int index] => Items[index];
    public IEnumerator<object?> GetEnumerator() => ((IEnumerable<object?>)Items).GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => Items.GetEnumerator();
}

/// <summary>Objects that accept pickle's BUILD (setstate). Only these; BUILD on anything else is refused.</summary>
public interface IPickleBuildable
{
    void SetState(object? state);
}

/// <summary>
/// A Python dict or collections.OrderedDict: insertion-ordered entries; a later SETITEM with an equal key replaces
/// the value in place, as in Python. BUILD state (an OrderedDict's attributes such as state_dict's _metadata) is kept
/// aside in <see cref="State"/>.
/// </summary>
public sealed class PickleDict : IPickleBuildable
{
    private static readonly object NoneKey = new();
    private readonly List<KeyValuePair<object?, object?>> entries = [];
    private readonly Dictionary<object, int> index = [];

    public IReadOnlyList<KeyValuePair<object?, object?>> Entries => entries;
    public int Count => entries.Count;
    public object? State { get; private set; }

    public void Set(object? key, object? value)
    {
        var k = key ?? NoneKey;
        if (index.TryGetValue(k, out int at)) entries[at] = new(key, value);
        else
        {
            index[k] = entries.Count;
            entries.Add(new(key, value));
        }
    }

    public bool TryGet(object? key, out object? value)
    {
        if (index.TryGetValue(key ?? NoneKey, out int at)) { value = entries[at].Value; return true; }
        value = null;
        return false;
    }

    public void SetState(object? state) => State = state;
}
