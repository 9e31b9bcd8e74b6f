using System.Globalization;
using System.Text;

namespace Ssd.Weights.Caffe;

/// <summary>
/// A syntax error in a prototxt file, with the 1-based line and column where it was found. (A FormatException
/// because InvalidDataException is sealed; semantic errors in a well-formed file are InvalidDataException.)
/// </summary>
public sealed class PrototxtSyntaxException(string message, int line, int column, bool raw = false)
    : FormatException(raw ? message : $"prototxt line {line}, column {column}: {message}")
{
    /// <summary>The 1-based line of the error.</summary>
    public int Line { get; } = line;
    /// <summary>The 1-based column of the error.</summary>
    public int Column { get; } = column;
}

internal enum PrototxtScalarKind { String, Number, Identifier }

/// <summary>A scalar field value as written: a quoted string, a number, or an identifier (enum value, true/false).</summary>
internal sealed record PrototxtScalar(PrototxtScalarKind Kind, string Text, int Line);

/// <summary>One field of a message: a scalar or a nested message, with its line for error messages.</summary>
internal sealed record PrototxtField(string Name, PrototxtScalar? Scalar, PrototxtMessage? Message, int Line);

/// <summary>
/// A protobuf text-format message as an ordered list of fields (repeated fields appear several times), with typed
/// accessors. Accessors throw InvalidDataException naming the field and line when a value has the wrong kind.
/// </summary>
internal sealed class PrototxtMessage
{
    public List<PrototxtField> Fields { get; } = [];
    public int Line { get; init; }

    public IEnumerable<PrototxtScalar> Scalars(string name)
    {
        foreach (var f in Fields)
            if (f.Name == name)
                yield return f.Scalar ?? throw new InvalidDataException($"prototxt line {f.Line}: field '{name}' must be a value, not a message");
    }

    public IEnumerable<PrototxtMessage> Messages(string name)
    {
        foreach (var f in Fields)
            if (f.Name == name)
                yield return f.Message ?? throw new InvalidDataException($"prototxt line {f.Line}: field '{name}' must be a message {{ ... }}");
    }

    public bool Has(string name) => Fields.Any(f => f.Name == name);
    public PrototxtMessage? Message(string name) => Messages(name).LastOrDefault();
    private PrototxtScalar? Last(string name) => Scalars(name).LastOrDefault();

    public string? String(string name) => Last(name)?.Text;

    public float Float(string name, float fallback) => Last(name) is { } s ? ParseFloat(name, s) : fallback;
    public float[] Floats(string name) => Scalars(name).Select(s => ParseFloat(name, s)).ToArray();
    public int Int(string name, int fallback) => Last(name) is { } s ? ParseInt(name, s) : fallback;
    public int[] Ints(string name) => Scalars(name).Select(s => ParseInt(name, s)).ToArray();
    public long[] Longs(string name) => Scalars(name).Select(s => ParseLong(name, s)).ToArray();

    public bool Bool(string name, bool fallback)
    {
        if (Last(name) is not { } s) return fallback;
        return s.Text switch
        {
            "true" or "True" or "t" or "1" => true,
            "false" or "False" or "f" or "0" => false,
            _ => throw Bad(name, s, "true or false"),
        };
    }

    /// <summary>An enum value by name (e.g. MAX); numeric enum values are accepted as written.</summary>
    public string? Enum(string name) => Last(name) is { } s
        ? (s.Kind is PrototxtScalarKind.Identifier or PrototxtScalarKind.Number ? s.Text : throw Bad(name, s, "an enum name"))
        : null;

    private static float ParseFloat(string name, PrototxtScalar s)
    {
        if (s.Kind == PrototxtScalarKind.Identifier)
            return s.Text.ToLowerInvariant() switch { "inf" or "infinity" => float.PositiveInfinity, "nan" => float.NaN, _ => throw Bad(name, s, "a number") };
        if (s.Kind != PrototxtScalarKind.Number) throw Bad(name, s, "a number");
        var t = s.Text.TrimEnd('f', 'F');
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase) || t.StartsWith("-0x", StringComparison.OrdinalIgnoreCase)) return ParseLong(name, s);
        return float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw Bad(name, s, "a number");
    }

    private static int ParseInt(string name, PrototxtScalar s)
    {
        var v = ParseLong(name, s);
        return v is >= int.MinValue and <= int.MaxValue ? (int)v : throw Bad(name, s, "a 32-bit integer");
    }

    private static long ParseLong(string name, PrototxtScalar s)
    {
        if (s.Kind != PrototxtScalarKind.Number) throw Bad(name, s, "an integer");
        var t = s.Text;
        bool neg = t.StartsWith('-');
        if (neg) t = t[1..];
        bool ok = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? long.TryParse(t[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v)
            : long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        return ok ? (neg ? -v : v) : throw Bad(name, s, "an integer");
    }

    private static InvalidDataException Bad(string name, PrototxtScalar s, string expected) =>
        new($"prototxt line {s.Line}: field '{name}' is '{ReaderErrors.Printable(s.Text)}', expected {expected}");
}

/// <summary>
/// Parses protobuf text format as Caffe deploy files use it: `field: value`, `field { ... }` and `field: { ... }`,
/// `field: [a, b]` lists, # comments, single- or double-quoted strings with C escapes, numbers, identifiers.
/// It knows no schema: the result is a generic tree that <see cref="CaffeNetDefinition"/> reads.
/// Syntax errors are <see cref="PrototxtSyntaxException"/> (a FormatException) with line and column.
/// </summary>
internal sealed class PrototxtParser
{
    private const int MaxDepth = 100;
    private readonly string text;
    private int pos, line = 1, col = 1;

    private PrototxtParser(string text) => this.text = text;

    public static PrototxtMessage Parse(string text)
    {
        var p = new PrototxtParser(text);
        var root = new PrototxtMessage { Line = 1 };
        p.ParseFields(root, 0, topLevel: true);
        return root;
    }

    public static PrototxtMessage ParseFile(string path) => Parse(File.ReadAllText(path));

    private void ParseFields(PrototxtMessage message, int depth, bool topLevel)
    {
        if (depth > MaxDepth) throw Error($"messages nested deeper than {MaxDepth}");
        while (true)
        {
            SkipSpaceAndComments();
            if (pos >= text.Length)
            {
                if (!topLevel) throw Error("unexpected end of file: missing '}'");
                return;
            }
            if (text[pos] == '}')
            {
                if (topLevel) throw Error("unexpected '}'");
                Advance();
                return;
            }
            int fieldLine = line;
            var name = ReadIdentifier() ?? throw Error($"expected a field name, found '{ReaderErrors.Printable(text[pos].ToString())}'");
            SkipSpaceAndComments();
            bool colon = Peek(':');
            if (colon) { Advance(); SkipSpaceAndComments(); }
            if (Peek('{') || Peek('<'))
            {
                char close = text[pos] == '{' ? '}' : '>';
                Advance();
                var child = new PrototxtMessage { Line = fieldLine };
                if (close == '}') ParseFields(child, depth + 1, topLevel: false);
                else throw Error("angle-bracket messages are not supported; use { }");
                message.Fields.Add(new PrototxtField(name, null, child, fieldLine));
            }
            else if (!colon)
                throw Error($"expected ':' or '{{' after field '{name}'");
            else if (Peek('['))
            {
                Advance();
                SkipSpaceAndComments();
                if (Peek(']')) { Advance(); }
                else
                    while (true)
                    {
                        message.Fields.Add(new PrototxtField(name, ReadScalar(name), null, line));
                        SkipSpaceAndComments();
                        if (Peek(',')) { Advance(); SkipSpaceAndComments(); continue; }
                        if (Peek(']')) { Advance(); break; }
                        throw Error($"expected ',' or ']' in the list of field '{name}'");
                    }
            }
            else
                message.Fields.Add(new PrototxtField(name, ReadScalar(name), null, fieldLine));
            SkipSpaceAndComments();
            if (Peek(',') || Peek(';')) Advance();
        }
    }

    private PrototxtScalar ReadScalar(string field)
    {
        if (pos >= text.Length) throw Error($"unexpected end of file: missing value of field '{field}'");
        int startLine = line;
        char c = text[pos];
        if (c is '"' or '\'')
        {
            var sb = new StringBuilder();
            // Adjacent string literals concatenate, as in protobuf text format.
            while (pos < text.Length && (text[pos] == '"' || text[pos] == '\''))
            {
                sb.Append(ReadString());
                int save = pos, saveLine = line, saveCol = col;
                SkipSpaceAndComments();
                if (pos >= text.Length || (text[pos] != '"' && text[pos] != '\'')) { pos = save; line = saveLine; col = saveCol; break; }
            }
            return new PrototxtScalar(PrototxtScalarKind.String, sb.ToString(), startLine);
        }
        if (char.IsDigit(c) || c is '-' or '+' or '.')
        {
            int start = pos;
            if (c is '-' or '+') Advance();
            if (pos < text.Length && char.IsLetter(text[pos]))
            {
                var word = ReadIdentifier()!; // -inf, -nan
                return new PrototxtScalar(PrototxtScalarKind.Identifier, (c == '-' ? "-" : "") + word, startLine);
            }
            while (pos < text.Length && (char.IsLetterOrDigit(text[pos]) || text[pos] is '.' or '_'
                   || ((text[pos] is '-' or '+') && pos > start && text[pos - 1] is 'e' or 'E')))
                Advance();
            var number = text[start..pos].TrimStart('+');
            if (number.Length == 0 || number == "-" || number == ".") throw Error($"malformed number '{ReaderErrors.Printable(text[start..pos])}' in field '{field}'");
            return new PrototxtScalar(PrototxtScalarKind.Number, number, startLine);
        }
        var id = ReadIdentifier() ?? throw Error($"expected a value for field '{field}', found '{ReaderErrors.Printable(c.ToString())}'");
        return new PrototxtScalar(PrototxtScalarKind.Identifier, id, startLine);
    }

    private string ReadString()
    {
        char quote = text[pos];
        Advance();
        var sb = new StringBuilder();
        while (true)
        {
            if (pos >= text.Length || text[pos] == '\n') throw Error("unterminated string");
            char c = text[pos];
            Advance();
            if (c == quote) return sb.ToString();
            if (c != '\\') { sb.Append(c); continue; }
            if (pos >= text.Length) throw Error("unterminated string");
            char e = text[pos];
            Advance();
            sb.Append(e switch
            {
                'n' => '\n', 't' => '\t', 'r' => '\r', '0' => '\0', '\\' => '\\', '\'' => '\'', '"' => '"', 'a' => '\a', 'b' => '\b', 'f' => '\f', 'v' => '\v',
                _ => throw Error($"unknown escape '\\{e}' in string"),
            });
        }
    }

    private string? ReadIdentifier()
    {
        if (pos >= text.Length || !(char.IsAsciiLetter(text[pos]) || text[pos] == '_')) return null;
        int start = pos;
        while (pos < text.Length && (char.IsAsciiLetterOrDigit(text[pos]) || text[pos] is '_' or '.')) Advance();
        return text[start..pos];
    }

    private void SkipSpaceAndComments()
    {
        while (pos < text.Length)
        {
            char c = text[pos];
            if (c == '#') { while (pos < text.Length && text[pos] != '\n') Advance(); }
            else if (char.IsWhiteSpace(c) || c == '\uFEFF') Advance();
            else return;
        }
    }

    private bool Peek(char c) => pos < text.Length && text[pos] == c;

    private void Advance()
    {
        if (text[pos] == '\n') { line++; col = 1; } else col++;
        pos++;
    }

    private PrototxtSyntaxException Error(string message) => new(message, line, col);
}
