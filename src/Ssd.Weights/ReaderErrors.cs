using Ssd.Weights.Caffe;
using Ssd.Weights.Torch;

namespace Ssd.Weights;

/// <summary>
/// The errors the readers and converters of Ssd.Weights throw for a bad input file. Each has a one-line message
/// that names the file and the problem; anything else escaping a reader is a bug (the fuzz harness,
/// tools/Ssd.Fuzz, counts it as a crash).
/// <list type="bullet">
/// <item><see cref="InvalidDataException"/>: malformed, truncated or inconsistent data (also a model that does
/// not match what the converter supports).</item>
/// <item><see cref="PrototxtSyntaxException"/> (a <see cref="FormatException"/>): a prototxt syntax error, with
/// line and column.</item>
/// <item><see cref="UnsafePickleException"/>: a pickle named or called code outside the allow-list; nothing ran.</item>
/// <item><see cref="ReaderBudgetException"/>: a resource budget (<see cref="ReaderBudgets"/>) would be exceeded;
/// nothing beyond it was allocated.</item>
/// </list>
/// Opening a file can also fail with the operating system's errors (<see cref="IOException"/> and its
/// subclasses, <see cref="UnauthorizedAccessException"/>); <see cref="IsInputError"/> includes them.
/// </summary>
public static class ReaderErrors
{
    /// <summary>Whether <paramref name="e"/> is one of the documented errors a bad file's contents cause.</summary>
    public static bool IsFileContentError(Exception e) =>
        e is InvalidDataException or PrototxtSyntaxException or UnsafePickleException or ReaderBudgetException;

    /// <summary><see cref="IsFileContentError"/>, or the file could not be opened or read.</summary>
    public static bool IsInputError(Exception e) => IsFileContentError(e) || e is IOException or UnauthorizedAccessException;

    /// <summary>
    /// Text from a file made safe to quote in a one-line message: control characters (newlines, escape sequences)
    /// written as \n, \xNN, and anything past <paramref name="max"/> characters cut to "...".
    /// </summary>
    public static string Printable(string text, int max = 80)
    {
        var sb = new System.Text.StringBuilder(Math.Min(text.Length, max) + 8);
        foreach (char c in text)
        {
            if (sb.Length >= max) { sb.Append("..."); break; }
            if (!char.IsControl(c)) sb.Append(c);
            else sb.Append(c switch { '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", _ => $"\\x{(int)c:x2}" });
        }
        return sb.ToString();
    }

    /// <summary>Whether a name read from a file holds control characters (no real model's names do).</summary>
    public static bool HasControlCharacters(string text) => text.Any(char.IsControl);
}

/// <summary>Opening and reading input files within a budget: a directory, a device or a growing file is an error.</summary>
internal static class InputFile
{
    /// <summary>Opens a file for reading; a directory gives InvalidDataException instead of an access error.</summary>
    public static FileStream OpenRead(string path)
    {
        if (Directory.Exists(path)) throw new InvalidDataException($"{path} is a directory, not a file");
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    /// <summary>
    /// The whole file, refused before reading when it is longer than <paramref name="limit"/> (the budget named
    /// <paramref name="budget"/>). A file that yields more bytes than its length (a device such as /dev/zero, or a
    /// file growing while read) is an error, so the read always ends.
    /// </summary>
    public static byte[] ReadAllBytes(string path, string budget, long limit)
    {
        using var f = OpenRead(path);
        return ReadAll(f, Path.GetFileName(path), budget, limit);
    }

    /// <summary>The rest of a stream, at most <paramref name="limit"/> bytes (see <see cref="ReadAllBytes"/>).</summary>
    public static byte[] ReadAll(Stream stream, string name, string budget, long limit)
    {
        limit = Math.Min(limit, Array.MaxLength);
        if (stream.CanSeek)
        {
            long length = stream.Length - stream.Position;
            if (length > limit) throw new ReaderBudgetException(name, budget, limit, length, "the file");
            var bytes = GC.AllocateUninitializedArray<byte>((int)length);
            int got = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
            if (got < length) throw new InvalidDataException($"{name}: file shrank while being read ({got} of {length} bytes)");
            if (stream.ReadByte() >= 0) throw new InvalidDataException($"{name}: reads more bytes than its length of {length}; not a regular file?");
            return bytes;
        }
        var buffer = new MemoryStream();
        var chunk = new byte[1 << 16];
        int n;
        while ((n = stream.Read(chunk)) > 0)
        {
            if (buffer.Length + n > limit) throw new ReaderBudgetException(name, budget, limit, buffer.Length + n, "the stream (at least)");
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }
}
