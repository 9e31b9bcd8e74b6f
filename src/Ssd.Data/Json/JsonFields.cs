using System.Text;
using System.Text.Json;

namespace Ssd.Data.Json;

/// <summary>
/// Streaming reads of the COCO-style JSON files with <see cref="Utf8JsonReader"/> over the whole file: fields that
/// are not needed (COCO's segmentation polygons, most of instances_train2017.json) are skipped without building a
/// document. Every error is a <see cref="DataSetException"/> naming the file and the field (e.g. "annotations[7].bbox").
/// </summary>
internal static class JsonFields
{
    /// <summary>A field's name for error messages, put together only when an error needs it
    /// ("annotations" + [7] + ".bbox"): reading a big file then builds no strings.</summary>
    public readonly struct Field
    {
        private readonly string? text, prefix, suffix;
        private readonly int index;

        public Field(string text) { this.text = text; prefix = suffix = null; index = 0; }
        public Field(string prefix, int index, string suffix) { text = null; this.prefix = prefix; this.index = index; this.suffix = suffix; }

        public static implicit operator Field(string text) => new(text);
        public override string ToString() => text ?? $"{prefix}[{index}]{suffix}";
    }

    public static byte[] ReadFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new DataSetException(path, null, "no such file");
            if (info.Length > Array.MaxLength) throw new DataSetException(path, null, $"{info.Length} bytes: too large for a JSON file");
            return File.ReadAllBytes(path);
        }
        catch (IOException e) { throw new DataSetException(path, null, $"cannot read: {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new DataSetException(path, null, $"cannot read: {e.Message}", e); }
    }

    public static Utf8JsonReader Reader(byte[] bytes)
    {
        ReadOnlySpan<byte> span = bytes;
        if (span.StartsWith(Encoding.UTF8.Preamble)) span = span[3..];
        return new Utf8JsonReader(span, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 512 });
    }

    /// <summary>Reads the next token; a malformed file becomes a <see cref="DataSetException"/> with its line.</summary>
    public static void Next(ref Utf8JsonReader r, string file)
    {
        bool ok;
        try { ok = r.Read(); }
        catch (JsonException e) { throw Malformed(file, e); }
        if (!ok) throw new DataSetException(file, null, "malformed JSON: the file ends too early");
    }

    public static void Skip(ref Utf8JsonReader r, string file)
    {
        try { r.Skip(); }
        catch (JsonException e) { throw Malformed(file, e); }
    }

    /// <summary>The parser's message quotes the bad token, which can be the rest of a line: it is cut.</summary>
    public static DataSetException Malformed(string file, JsonException e) =>
        new(file, e.LineNumber is long line ? $"line {line + 1}" : null, $"malformed JSON: {Ssd.Weights.ReaderErrors.Printable(e.Message, 200)}", e);

    /// <summary>The string the reader is on (a property name or a string value); invalid UTF-8 is an error naming the field.</summary>
    public static string Text(ref Utf8JsonReader r, string file, Field field)
    {
        try { return r.GetString()!; }
        catch (InvalidOperationException e) { throw new DataSetException(file, field.ToString(), "a string that is not valid UTF-8", e); }
    }

    public static string Describe(JsonTokenType t) => t switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => t.ToString(),
    };

    public static void Expect(ref Utf8JsonReader r, JsonTokenType type, string file, Field field)
    {
        if (r.TokenType != type) throw new DataSetException(file, field.ToString(), $"expected {Describe(type)}, found {Describe(r.TokenType)}");
    }

    /// <summary>Calls <c>property</c> for each property of the object the reader is on (its value not yet
    /// read); the callback must consume the value (read it or <see cref="Skip"/> it).</summary>
    public delegate void PropertyReader(ref Utf8JsonReader r, string name);

    public static void ReadObject(ref Utf8JsonReader r, string file, string field, PropertyReader property)
    {
        Expect(ref r, JsonTokenType.StartObject, file, field);
        while (true)
        {
            Next(ref r, file);
            if (r.TokenType == JsonTokenType.EndObject) return;
            var name = Text(ref r, file, field);
            Next(ref r, file);
            property(ref r, name);
        }
    }

    public delegate void ElementReader(ref Utf8JsonReader r, int index);

    public static void ReadArray(ref Utf8JsonReader r, string file, string field, ElementReader element)
    {
        Expect(ref r, JsonTokenType.StartArray, file, field);
        for (int i = 0; ; i++)
        {
            Next(ref r, file);
            if (r.TokenType == JsonTokenType.EndArray) return;
            element(ref r, i);
        }
    }

    public static double Number(ref Utf8JsonReader r, string file, Field field)
    {
        if (r.TokenType != JsonTokenType.Number || !r.TryGetDouble(out double v))
            throw new DataSetException(file, field.ToString(), $"expected a number, found {Describe(r.TokenType)}");
        if (!double.IsFinite(v)) throw new DataSetException(file, field.ToString(), $"{v} is not a finite number");
        return v;
    }

    public static long Integer(ref Utf8JsonReader r, string file, Field field)
    {
        if (r.TokenType == JsonTokenType.Number)
        {
            if (r.TryGetInt64(out long v)) return v;
            // 3.0 is an integer too (some writers emit floats); 3.5 is not.
            if (r.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) return (long)d;
        }
        throw new DataSetException(file, field.ToString(), $"expected an integer, found {(r.TokenType == JsonTokenType.Number ? "a fraction" : Describe(r.TokenType))}");
    }

    public static string String(ref Utf8JsonReader r, string file, Field field)
    {
        if (r.TokenType != JsonTokenType.String) throw new DataSetException(file, field.ToString(), $"expected a string, found {Describe(r.TokenType)}");
        return Text(ref r, file, field);
    }

    /// <summary>0 / 1 or false / true (COCO's iscrowd).</summary>
    public static bool Flag(ref Utf8JsonReader r, string file, Field field)
    {
        switch (r.TokenType)
        {
            case JsonTokenType.True: return true;
            case JsonTokenType.False: return false;
            case JsonTokenType.Number when r.TryGetInt64(out long v) && v is 0 or 1: return v == 1;
            default: throw new DataSetException(file, field.ToString(), "expected 0, 1, true or false");
        }
    }

    /// <summary>An array of exactly four numbers (a box).</summary>
    public static (double, double, double, double) Four(ref Utf8JsonReader r, string file, Field field)
    {
        Expect(ref r, JsonTokenType.StartArray, file, field);
        Span<double> v = stackalloc double[4];
        int n = 0;
        while (true)
        {
            Next(ref r, file);
            if (r.TokenType == JsonTokenType.EndArray) break;
            if (n == 4) throw new DataSetException(file, field.ToString(), "more than 4 numbers");
            if (r.TokenType != JsonTokenType.Number || !r.TryGetDouble(out double x) || !double.IsFinite(x))
                throw new DataSetException(file, $"{field}[{n}]", $"expected a finite number, found {Describe(r.TokenType)}");
            v[n++] = x;
        }
        if (n != 4) throw new DataSetException(file, field.ToString(), $"{n} numbers, expected 4");
        return (v[0], v[1], v[2], v[3]);
    }

    /// <summary>An image id as written: a number (COCO) or a string (a VOC id or a file name).</summary>
    public static string ImageKey(ref Utf8JsonReader r, string file, Field field) => r.TokenType switch
    {
        JsonTokenType.String => Text(ref r, file, field),
        JsonTokenType.Number => Integer(ref r, file, field).ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => throw new DataSetException(file, field.ToString(), $"expected a number or a string, found {Describe(r.TokenType)}"),
    };
}
