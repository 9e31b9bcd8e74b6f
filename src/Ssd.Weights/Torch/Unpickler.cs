using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Ssd.Weights.Torch;

/// <summary>
/// What an allow-listed global does when a pickle calls it (REDUCE, NEWOBJ, OBJ, INST). Null: the global may only be
/// used as a value (e.g. torch.FloatStorage in a persistent id); calling it is refused.
/// </summary>
internal delegate object? PickleCall(PickleTuple args);

/// <summary>
/// A restricted pickle virtual machine (protocols 0-5, the opcodes checkpoints use). It never executes code:
/// GLOBAL/STACK_GLOBAL/INST resolve only names in the allow-list given to the constructor, mapped to harmless C#
/// builders; every other name throws <see cref="UnsafePickleException"/> naming module.name.
/// Memory is budgeted: sizes read from the input are checked against the bytes left before anything is allocated,
/// and every value, stack slot, memo entry and container item the VM creates is charged (a conservative estimate
/// of its managed size) against <see cref="ReaderBudgets.PickleMemoryFor"/> of the pickle's length: at most
/// <see cref="ReaderBudgets.PickleMemoryPerByte"/> bytes per input byte and never more than
/// <see cref="ReaderBudgets.PickleMemoryCap"/>. Exceeding it throws <see cref="ReaderBudgetException"/> ("pickle.memory").
/// Dict keys are hashed with a per-process random seed (<see cref="PickleKeyComparer"/>), so keys crafted to
/// collide cost linear time, not quadratic.
/// </summary>
internal sealed class Unpickler
{
    public const int MaxMemoEntries = 1 << 20;
    public const int MaxMarkDepth = 1000;
    public const int MaxLineLength = 1 << 20;
    public const int MaxLongBytes = 4096;

    // Charges, in bytes, for what the VM allocates (64-bit runtime, rounded up; growth slack included).
    private const int SlotCost = 16, ObjectCost = 32, ContainerCost = 64, MemoCost = 48, EntryCost = 48;

    private readonly IReadOnlyDictionary<string, PickleCall?> allowed;
    private readonly Func<object?, object?>? persistentLoad;
    private readonly ReaderBudgets budgets;
    private readonly string? name;

    private Stream input = Stream.Null;
    private long start;
    private long charged, budget;
    private readonly List<object?> stack = [];
    private readonly Stack<int> marks = new();
    private readonly Dictionary<long, object?> memo = new(PickleKeyComparer.Instance); // PUT indices are hashed too

    // Values a pickle repeats constantly are shared, so they cost a stack slot and no allocation.
    private static readonly object[] SmallInts = Enumerable.Range(0, 256).Select(i => (object)(long)i).ToArray();
    private static readonly object True = true, False = false;

    /// <param name="allowedGlobals">"module.name" -> what calling it builds (null: value only).</param>
    /// <param name="persistentLoad">Resolves BINPERSID/PERSID ids (torch's storages); null: persistent ids refused.</param>
    /// <param name="budgets">The memory budget (default: <see cref="ReaderBudgets.Default"/>).</param>
    /// <param name="name">How to name the file in messages (they start with it when given).</param>
    public Unpickler(IReadOnlyDictionary<string, PickleCall?> allowedGlobals, Func<object?, object?>? persistentLoad = null,
        ReaderBudgets? budgets = null, string? name = null)
    {
        allowed = allowedGlobals;
        this.persistentLoad = persistentLoad;
        this.budgets = budgets ?? ReaderBudgets.Default;
        this.name = name;
    }

    /// <summary>Bytes charged against the memory budget by the last <see cref="Load(Stream)"/> (for tests and the fuzz harness).</summary>
    public long Charged => charged;

    /// <summary>The allow-list every state dict needs: collections.OrderedDict, built as a <see cref="PickleDict"/>.</summary>
    public static Dictionary<string, PickleCall?> BaseGlobals() => new()
    {
        ["collections.OrderedDict"] = args => args.Count == 0
            ? new PickleDict()
            : throw new InvalidDataException("collections.OrderedDict called with arguments; only OrderedDict() is supported"),
    };

    /// <summary>Unpickles one object from a byte array (which must hold exactly one pickle, trailing bytes allowed).</summary>
    public object? Load(byte[] data) => Load(new MemoryStream(data, writable: false));

    /// <summary>
    /// Unpickles one object starting at the stream's position and leaves the stream just after its STOP opcode, so
    /// that consecutive pickles (torch's legacy format) can be read one after another. The stream must be seekable.
    /// </summary>
    public object? Load(Stream stream)
    {
        if (!stream.CanSeek) throw new ArgumentException("the unpickler needs a seekable stream", nameof(stream));
        input = stream;
        start = stream.Position;
        charged = 0;
        budget = budgets.PickleMemoryFor(stream.Length - start);
        stack.Clear();
        marks.Clear();
        memo.Clear();
        while (true)
        {
            long at = stream.Position;
            byte op = ReadByte("opcode");
            if (op == (byte)'.')
            {
                if (stack.Count != 1 || marks.Count != 0)
                    throw Bad(at, $"STOP with {stack.Count} values on the stack and {marks.Count} open marks");
                var result = stack[0];
                stack.Clear();
                memo.Clear();
                return result;
            }
            Execute(op, at);
        }
    }

    private void Execute(byte op, long at)
    {
        switch (op)
        {
            case 0x80: // PROTO
                int proto = ReadByte("protocol");
                if (proto > 5) throw Bad(at, $"unsupported pickle protocol {proto}");
                break;
            case 0x95: ReadBytesSpan(8, "FRAME length"); break; // FRAME: a read-ahead hint, nothing to do
            case (byte)'}': Push(New(new PickleDict(), ContainerCost, at)); break;
            case (byte)']': Push(New(new List<object?>(), ContainerCost, at)); break;
            case (byte)')': Push(PickleTuple.Empty); break;
            case (byte)'(':
                if (marks.Count >= MaxMarkDepth) throw Bad(at, $"more than {MaxMarkDepth} nested marks");
                marks.Push(stack.Count);
                break;
            case (byte)'1': PopMark(at); break; // POP_MARK
            case (byte)'0': Pop(at); break; // POP
            case (byte)'2': Push(Peek(at)); break; // DUP

            // strings and bytes
            case (byte)'X': Push(ReadUtf8(ReadUInt32(), at)); break; // BINUNICODE
            case 0x8d: Push(ReadUtf8(ReadInt64Length(at), at)); break; // BINUNICODE8
            case 0x8c: Push(ReadUtf8(ReadByte("length"), at)); break; // SHORT_BINUNICODE
            case (byte)'V': Push(RawUnicodeUnescape(ReadLine(at), at)); break; // UNICODE
            case (byte)'T': Push(ReadUtf8(ReadInt32Length(at), at)); break; // BINSTRING (py2 str, read as UTF-8 like torch.load)
            case (byte)'U': Push(ReadUtf8(ReadByte("length"), at)); break; // SHORT_BINSTRING
            case (byte)'S': Push(Unquote(ReadLine(at), at)); break; // STRING
            case (byte)'B': Push(ReadBytes(ReadUInt32(), at)); break; // BINBYTES
            case (byte)'C': Push(ReadBytes(ReadByte("length"), at)); break; // SHORT_BINBYTES
            case 0x8e: case 0x96: Push(ReadBytes(ReadInt64Length(at), at)); break; // BINBYTES8, BYTEARRAY8

            // numbers
            case (byte)'J': Push(Int(BinaryPrimitives.ReadInt32LittleEndian(ReadBytesSpan(4, "BININT")), at)); break;
            case (byte)'K': Push(SmallInts[ReadByte("BININT1")]); break;
            case (byte)'M': Push(Int(BinaryPrimitives.ReadUInt16LittleEndian(ReadBytesSpan(2, "BININT2")), at)); break;
            case 0x8a: Push(ReadLong(ReadByte("LONG1 length"), at)); break; // LONG1
            case 0x8b: Push(ReadLong(ReadInt32Length(at), at)); break; // LONG4
            case (byte)'I': Push(Charge(ParseInt(ReadLine(at), at), ObjectCost, at)); break; // INT (also "01"/"00" booleans)
            case (byte)'L': Push(Charge(ParseInt(ReadLine(at).TrimEnd('L'), at), ObjectCost, at)); break; // LONG
            case (byte)'G': Push(New(BinaryPrimitives.ReadDoubleBigEndian(ReadBytesSpan(8, "BINFLOAT")), ObjectCost, at)); break;
            case (byte)'F':
                if (!double.TryParse(ReadLine(at), NumberStyles.Float, CultureInfo.InvariantCulture, out var f)) throw Bad(at, "bad FLOAT");
                Push(New(f, ObjectCost, at));
                break;
            case 0x88: Push(True); break; // NEWTRUE
            case 0x89: Push(False); break; // NEWFALSE
            case (byte)'N': Push(null); break; // NONE

            // containers
            case 0x85: Push(Tuple([Pop(at)], at)); break; // TUPLE1
            case 0x86: { var b = Pop(at); var a = Pop(at); Push(Tuple([a, b], at)); break; } // TUPLE2
            case 0x87: { var c = Pop(at); var b = Pop(at); var a = Pop(at); Push(Tuple([a, b, c], at)); break; } // TUPLE3
            case (byte)'t': Push(Tuple(PopMark(at), at)); break; // TUPLE
            case (byte)'l': { var items = PopMark(at); Push(New(new List<object?>(items), ContainerCost + (long)SlotCost * items.Length, at)); break; } // LIST
            case (byte)'d': { var items = PopMark(at); var d = New(new PickleDict(), ContainerCost, at); SetItems(d, items, at); Push(d); break; } // DICT
            case (byte)'a': { var v = Pop(at); As<List<object?>>(Peek(at), "APPEND target", at).Add(v); Charge(SlotCost, at); break; }
            case (byte)'e':
            {
                var items = PopMark(at);
                As<List<object?>>(Peek(at), "APPENDS target", at).AddRange(items);
                Charge((long)SlotCost * items.Length, at);
                break;
            }
            case (byte)'s': { var v = Pop(at); var k = Pop(at); As<PickleDict>(Peek(at), "SETITEM target", at).Set(k, v); Charge(EntryCost, at); break; }
            case (byte)'u': { var items = PopMark(at); SetItems(As<PickleDict>(Peek(at), "SETITEMS target", at), items, at); break; }

            // memo
            case (byte)'q': Put(ReadByte("BINPUT index"), at); break;
            case (byte)'r': Put(ReadUInt32(), at); break; // LONG_BINPUT
            case (byte)'p': Put(ParseIndex(ReadLine(at), at), at); break; // PUT
            case 0x94: Put(memo.Count, at); break; // MEMOIZE
            case (byte)'h': Push(Get(ReadByte("BINGET index"), at)); break;
            case (byte)'j': Push(Get(ReadUInt32(), at)); break; // LONG_BINGET
            case (byte)'g': Push(Get(ParseIndex(ReadLine(at), at), at)); break; // GET

            // globals and calls: only the allow-list, never code
            case (byte)'c': { var module = ReadLine(at); var global = ReadLine(at); Push(New(Resolve(module, global), ContainerCost, at)); break; } // GLOBAL
            case 0x93: // STACK_GLOBAL
            {
                var global = Pop(at);
                var module = Pop(at);
                if (module is not string m || global is not string n) throw Bad(at, "STACK_GLOBAL needs two strings");
                Push(New(Resolve(m, n), ContainerCost, at));
                break;
            }
            case (byte)'R': { var args = As<PickleTuple>(Pop(at), "REDUCE arguments", at); Push(New(Call(Pop(at), args, "REDUCE", at), ContainerCost, at)); break; }
            case 0x81: { var args = As<PickleTuple>(Pop(at), "NEWOBJ arguments", at); Push(New(Call(Pop(at), args, "NEWOBJ", at), ContainerCost, at)); break; }
            case 0x92: // NEWOBJ_EX
            {
                var kwargs = As<PickleDict>(Pop(at), "NEWOBJ_EX keyword arguments", at);
                var args = As<PickleTuple>(Pop(at), "NEWOBJ_EX arguments", at);
                var cls = Pop(at);
                if (kwargs.Count != 0) throw Bad(at, "NEWOBJ_EX with keyword arguments is not supported");
                Push(New(Call(cls, args, "NEWOBJ_EX", at), ContainerCost, at));
                break;
            }
            case (byte)'i': // INST: module and name inline, arguments from the mark
            {
                var module = ReadLine(at);
                var global = ReadLine(at);
                var cls = Resolve(module, global);
                Push(New(Call(cls, Tuple(PopMark(at), at), "INST", at), ContainerCost, at));
                break;
            }
            case (byte)'o': // OBJ: class then arguments from the mark
            {
                var items = PopMark(at);
                if (items.Length == 0) throw Bad(at, "OBJ without a class");
                Push(New(Call(items[0], Tuple(items[1..], at), "OBJ", at), ContainerCost, at));
                break;
            }
            case (byte)'b': // BUILD
            {
                var state = Pop(at);
                if (Peek(at) is not IPickleBuildable target)
                {
                    var what = $"BUILD on {Describe(Peek(at))}";
                    throw new UnsafePickleException(what, $"{Prefix}refused pickle: {what} at offset {at - start} (only dicts accept BUILD)");
                }
                target.SetState(state);
                break;
            }
            case (byte)'Q': Push(New(LoadPersistent(Pop(at), at), ContainerCost, at)); break; // BINPERSID
            case (byte)'P': Push(New(LoadPersistent(ReadLine(at), at), ContainerCost, at)); break; // PERSID
            case 0x82: case 0x83: case 0x84: // EXT1/2/4: the copyreg extension registry can name any global
                throw new UnsafePickleException("extension code", $"{Prefix}refused pickle: extension-registry opcode at offset {at - start}");
            default:
                throw Bad(at, $"unsupported pickle opcode 0x{op:x2}");
        }
    }

    // ---- globals and calls

    private PickleGlobal Resolve(string module, string name)
    {
        var full = $"{module}.{name}";
        if (!allowed.ContainsKey(full))
            throw new UnsafePickleException(full, $"{Prefix}refused pickle: global '{ReaderErrors.Printable(full)}' is not on the allow-list of a weights file; nothing was executed");
        return new PickleGlobal(module, name);
    }

    private object? Call(object? callee, PickleTuple args, string opcode, long at)
    {
        if (callee is not PickleGlobal g)
        {
            var what = $"{opcode} on {Describe(callee)}";
            throw new UnsafePickleException(what, $"{Prefix}refused pickle: {what} at offset {at - start}");
        }
        // Resolve() admitted it, so the key exists; a null builder means value-only.
        if (allowed[g.FullName] is not { } call)
            throw new UnsafePickleException(g.FullName, $"{Prefix}refused pickle: {opcode} calls '{g.FullName}', which a weights file may only name, not call");
        return call(args);
    }

    private object? LoadPersistent(object? id, long at)
    {
        if (persistentLoad == null) throw Bad(at, "persistent id in a pickle that should have none");
        return persistentLoad(id);
    }

    // ---- memory budget

    private void Charge(long bytes, long at)
    {
        charged += bytes;
        if (charged > budget)
            throw new ReaderBudgetException(name ?? "pickle", "pickle.memory", budget, charged, $"unpickling (at offset {at - start} of {input.Length - start} bytes)");
    }

    private T Charge<T>(T value, long bytes, long at)
    {
        Charge(bytes, at);
        return value;
    }

    private T New<T>(T value, long bytes, long at) => Charge(value, bytes, at);

    private object Int(long value, long at) => value is >= 0 and < 256 ? SmallInts[value] : Charge((object)value, ObjectCost, at);

    private PickleTuple Tuple(object?[] items, long at) =>
        items.Length == 0 ? PickleTuple.Empty : Charge(new PickleTuple(items), ContainerCost + (long)SlotCost * items.Length, at);

    // ---- stack, marks, memo

    private void Push(object? value)
    {
        Charge(SlotCost, input.Position);
        stack.Add(value);
    }

    private object? Pop(long at)
    {
        int floor = marks.Count > 0 ? marks.Peek() : 0;
        if (stack.Count <= floor) throw Bad(at, "stack underflow");
        var v = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return v;
    }

    private object? Peek(long at)
    {
        int floor = marks.Count > 0 ? marks.Peek() : 0;
        if (stack.Count <= floor) throw Bad(at, "stack underflow");
        return stack[^1];
    }

    private object?[] PopMark(long at)
    {
        if (marks.Count == 0) throw Bad(at, "no mark on the stack");
        int m = marks.Pop();
        Charge(ObjectCost + (long)SlotCost * (stack.Count - m), at);
        var items = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(stack)[m..].ToArray();
        stack.RemoveRange(m, stack.Count - m);
        return items;
    }

    private void SetItems(PickleDict d, object?[] items, long at)
    {
        if (items.Length % 2 != 0) throw Bad(at, "odd number of items for a dict");
        Charge((long)EntryCost * (items.Length / 2), at);
        for (int i = 0; i < items.Length; i += 2) d.Set(items[i], items[i + 1]);
    }

    private void Put(long index, long at)
    {
        if (!memo.ContainsKey(index) && memo.Count >= MaxMemoEntries) throw Bad(at, $"memo larger than {MaxMemoEntries} entries");
        Charge(MemoCost, at);
        memo[index] = Peek(at);
    }

    private object? Get(long index, long at) =>
        memo.TryGetValue(index, out var v) ? v : throw Bad(at, $"memo index {index} was never stored");

    // ---- reading, every length checked against what is left

    private long Remaining => input.Length - input.Position;

    private string Prefix => name is null ? "" : name + ": ";

    private InvalidDataException Bad(long at, string what) => new($"{Prefix}bad pickle at offset {at - start}: {what}");

    private InvalidDataException Truncated(string what) =>
        new($"{Prefix}truncated pickle: {what} runs past the end of the data at offset {input.Position - start}");

    private byte ReadByte(string what)
    {
        int b = input.ReadByte();
        return b < 0 ? throw Truncated(what) : (byte)b;
    }

    private ReadOnlySpan<byte> ReadBytesSpan(int count, string what) => ReadBytes(count, what);

    private byte[] ReadBytes(long count, long at)
    {
        if (count < 0 || count > Remaining) throw Truncated($"a {count}-byte field at offset {at - start}");
        return ReadBytes(count, "");
    }

    private byte[] ReadBytes(long count, string what)
    {
        if (count < 0 || count > Remaining) throw Truncated(what);
        Charge(ObjectCost + count, input.Position);
        var buf = new byte[count];
        input.ReadExactly(buf);
        return buf;
    }

    private long ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytesSpan(4, "a 4-byte length"));

    private long ReadInt32Length(long at)
    {
        int n = BinaryPrimitives.ReadInt32LittleEndian(ReadBytesSpan(4, "a 4-byte length"));
        return n < 0 ? throw Bad(at, $"negative length {n}") : n;
    }

    private long ReadInt64Length(long at)
    {
        long n = BinaryPrimitives.ReadInt64LittleEndian(ReadBytesSpan(8, "an 8-byte length"));
        return n < 0 ? throw Bad(at, $"negative length {n}") : n;
    }

    private string ReadUtf8(long count, long at)
    {
        var bytes = ReadBytes(count, at);
        Charge(ObjectCost + 2 * count, at);
        try { return new UTF8Encoding(false, true).GetString(bytes); }
        catch (DecoderFallbackException) { throw Bad(at, "string is not valid UTF-8"); }
    }

    private string ReadLine(long at)
    {
        long lineStart = input.Position;
        var sb = new StringBuilder();
        while (true)
        {
            byte b = ReadByte("a text line");
            if (b == (byte)'\n') return Charge(sb.ToString(), ObjectCost + 4 * (input.Position - lineStart), at);
            if (sb.Length >= MaxLineLength) throw Bad(at, $"text line longer than {MaxLineLength} bytes");
            sb.Append((char)b);
        }
    }

    /// <summary>Python's raw-unicode-escape: latin-1 bytes where only \uXXXX and \UXXXXXXXX are escapes.</summary>
    private string RawUnicodeUnescape(string line, long at)
    {
        var sb = new StringBuilder(line.Length);
        for (int i = 0; i < line.Length; i++)
        {
            int digits = line[i] == '\\' && i + 1 < line.Length ? line[i + 1] switch { 'u' => 4, 'U' => 8, _ => 0 } : 0;
            if (digits == 0) { sb.Append(line[i]); continue; }
            if (i + 2 + digits > line.Length || !int.TryParse(line.AsSpan(i + 2, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int cp)
                || cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                throw Bad(at, "bad \\u escape in UNICODE");
            sb.Append(char.ConvertFromUtf32(cp));
            i += 1 + digits;
        }
        return sb.ToString();
    }

    private object ReadLong(long count, long at)
    {
        if (count > MaxLongBytes) throw Bad(at, $"integer of {count} bytes");
        var bytes = ReadBytes(count, at);
        var big = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        // Python has one int type: a LONG1/LONG4 value that fits 64 bits is a long like any other.
        if (big >= long.MinValue && big <= long.MaxValue) return Int((long)big, at);
        return Charge<object>(big, ObjectCost + count, at);
    }

    private object ParseInt(string text, long at)
    {
        if (text == "01") return True;
        if (text == "00") return False;
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v)) return v;
        if (text.Length <= MaxLongBytes && BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var big)) return big;
        throw Bad(at, $"bad integer '{Clip(text)}'");
    }

    private long ParseIndex(string text, long at) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : throw Bad(at, $"bad memo index '{Clip(text)}'");

    private string Unquote(string text, long at)
    {
        if (text.Length >= 2 && (text[0] == '\'' || text[0] == '"') && text[^1] == text[0]) return text[1..^1];
        throw Bad(at, "STRING is not quoted");
    }

    private T As<T>(object? value, string what, long at) where T : class =>
        value as T ?? throw Bad(at, $"{what} is {Describe(value)}, expected {typeof(T).Name}");

    private static string Clip(string s) => ReaderErrors.Printable(s, 40);

    /// <summary>A short Python-like name for a value's type, for messages.</summary>
    public static string Describe(object? value) => value switch
    {
        null => "None",
        string => "str",
        long or BigInteger => "int",
        double => "float",
        bool => "bool",
        byte[] => "bytes",
        List<object?> => "list",
        PickleTuple => "tuple",
        PickleDict => "dict",
        PickleGlobal g => g.FullName,
        _ => value.GetType().Name,
    };
}
