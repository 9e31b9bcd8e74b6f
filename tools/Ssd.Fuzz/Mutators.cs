using System.Buffers.Binary;
using System.Text;

namespace Ssd.Fuzz;

/// <summary>
/// Ways of damaging an input. Byte mutations (AFL's: flips, interesting values, chunk deletion / duplication /
/// insertion, truncation, splicing with another seed) suit every format; the text mutations work on tokens and
/// lines of a prototxt or JSON file; the zip mutations rebuild an archive with a damaged member (a mutated pickle),
/// lying sizes, duplicate or aliased entries, so that inputs get past the container into the pickle VM.
/// </summary>
public static partial class Mutators
{
    private static readonly long[] Interesting =
    [
        0, 1, -1, 2, 3, 4, 7, 8, 16, 32, 64, 100, 127, 128, 255, 256, 1023, 1024, 4096, 32767, 32768, 65535, 65536,
        int.MaxValue, int.MinValue, (long)int.MaxValue + 1, uint.MaxValue, 1L << 32, 1L << 40, 1L << 53, 1L << 62, (1L << 62) + 1,
        long.MaxValue, long.MinValue, Array.MaxLength, Array.MaxLength + 1L,
    ];

    /// <summary>One to four stacked byte mutations.</summary>
    public static byte[] Bytes(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds)
    {
        var data = new List<byte>(seed);
        int n = 1 + rng.Next(4);
        for (int i = 0; i < n; i++) MutateOnce(data, rng, seeds);
        return [.. data];
    }

    private static void MutateOnce(List<byte> d, Random rng, IReadOnlyList<byte[]> seeds)
    {
        if (d.Count == 0) { d.Add((byte)rng.Next(256)); return; }
        int at = rng.Next(d.Count);
        switch (rng.Next(10))
        {
            case 0: d[at] ^= (byte)(1 << rng.Next(8)); break;
            case 1: d[at] = (byte)Interesting[rng.Next(Interesting.Length)]; break;
            case 2:
            {
                int width = new[] { 2, 4, 8 }[rng.Next(3)];
                Span<byte> v = stackalloc byte[8];
                long value = rng.Next(4) == 0 ? d.Count + rng.Next(-8, 9) : Interesting[rng.Next(Interesting.Length)];
                BinaryPrimitives.WriteInt64LittleEndian(v, value);
                for (int k = 0; k < width && at + k < d.Count; k++) d[at + k] = v[k];
                break;
            }
            case 3: d.RemoveRange(at, Math.Min(d.Count - at, 1 + rng.Next(Math.Min(64, d.Count)))); break;
            case 4:
            {
                int len = Math.Min(d.Count - at, 1 + rng.Next(64));
                d.InsertRange(rng.Next(d.Count + 1), d.GetRange(at, len));
                break;
            }
            case 5:
            {
                var junk = new byte[1 + rng.Next(16)];
                rng.NextBytes(junk);
                d.InsertRange(at, junk);
                break;
            }
            case 6: d.RemoveRange(at, d.Count - at); break; // truncate
            case 7:
            {
                var other = seeds[rng.Next(seeds.Count)];
                if (other.Length == 0) break;
                int from = rng.Next(other.Length), len = Math.Min(other.Length - from, 1 + rng.Next(256));
                d.RemoveRange(at, Math.Min(d.Count - at, len));
                d.InsertRange(at, other.AsSpan(from, len).ToArray());
                break;
            }
            case 8: d[at] = (byte)rng.Next(256); break;
            default:
            {
                // repeat a short chunk many times (floods, deep nesting)
                int len = Math.Min(d.Count - at, 1 + rng.Next(4));
                var chunk = d.GetRange(at, len);
                int times = 1 + rng.Next(2000);
                var flood = new List<byte>(len * times);
                for (int k = 0; k < times; k++) flood.AddRange(chunk);
                d.InsertRange(at, flood);
                break;
            }
        }
    }

    private static readonly string[] InterestingTokens =
    [
        "0", "-1", "1", "2", "3", "65536", "2147483647", "2147483648", "-2147483649", "9223372036854775808", "1e309", "-1e309",
        "nan", "inf", "-inf", "0.0", "1.5", "true", "false", "null", "\"\"", "\"x\"", "{", "}", "[", "]", "[]", "{}", ":", ",",
        "MAX", "AVE", "CENTER_SIZE", "CORNER", "FLOOR", "TEST", "TRAIN", "1e-45", "0x7fffffff", "-0",
    ];

    /// <summary>Token and line mutations of a text file (prototxt, JSON), plus an occasional byte mutation.</summary>
    public static byte[] Text(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds)
    {
        if (rng.Next(5) == 0) return Bytes(seed, rng, seeds);
        var text = Encoding.UTF8.GetString(seed);
        int n = 1 + rng.Next(3);
        for (int i = 0; i < n; i++) text = MutateText(text, rng);
        return Encoding.UTF8.GetBytes(text);
    }

    private static string MutateText(string text, Random rng)
    {
        var lines = text.Split('\n').ToList();
        if (lines.Count == 0) return text;
        int l = rng.Next(lines.Count);
        switch (rng.Next(7))
        {
            case 0: lines.RemoveAt(l); break;
            case 1: lines.Insert(rng.Next(lines.Count + 1), lines[l]); break;
            case 2: { int m = rng.Next(lines.Count); (lines[l], lines[m]) = (lines[m], lines[l]); break; }
            case 3:
            {
                // misspell an identifier (the issue's `order` -> `or5er`)
                var words = Tokens(lines[l]).Where(t => char.IsLetter(lines[l][t.Start])).ToList();
                if (words.Count == 0) break;
                var w = words[rng.Next(words.Count)];
                int c = w.Start + rng.Next(w.Length);
                lines[l] = lines[l][..c] + (char)('0' + rng.Next(10)) + lines[l][(c + 1)..];
                break;
            }
            default:
            {
                var tokens = Tokens(lines[l]);
                if (tokens.Count == 0) break;
                var t = tokens[rng.Next(tokens.Count)];
                lines[l] = lines[l][..t.Start] + InterestingTokens[rng.Next(InterestingTokens.Length)] + lines[l][(t.Start + t.Length)..];
                break;
            }
        }
        return string.Join('\n', lines);
    }

    private static List<(int Start, int Length)> Tokens(string line)
    {
        var result = new List<(int, int)>();
        for (int i = 0; i < line.Length;)
        {
            if (char.IsLetterOrDigit(line[i]) || line[i] is '_' or '-' or '.')
            {
                int s = i;
                while (i < line.Length && (char.IsLetterOrDigit(line[i]) || line[i] is '_' or '-' or '.' or '+')) i++;
                result.Add((s, i - s));
            }
            else if (line[i] == '"')
            {
                int s = i++;
                while (i < line.Length && line[i] != '"') i++;
                i = Math.Min(i + 1, line.Length);
                result.Add((s, i - s));
            }
            else i++;
        }
        return result;
    }

    /// <summary>
    /// A zip seed rebuilt with one change: a member mutated (a pickle with the pickle mutator, data by bytes),
    /// a member deflated, dropped, duplicated or aliased, or a central-directory size lying. Falls back to byte
    /// mutations for seeds that are not zips.
    /// </summary>
    public static byte[] Zip(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds)
    {
        List<(string Name, byte[] Data)> members;
        try
        {
            using var archive = new System.IO.Compression.ZipArchive(new MemoryStream(seed), System.IO.Compression.ZipArchiveMode.Read);
            // Members too large to rebuild cheaply (the inflating-pickle seed) get byte mutations instead.
            if (archive.Entries.Any(e => e.Length > 16 << 20)) return Bytes(seed, rng, seeds);
            members = archive.Entries.Select(e =>
            {
                using var s = e.Open();
                var m = new MemoryStream();
                s.CopyTo(m);
                return (e.FullName, m.ToArray());
            }).ToList();
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException) { return Bytes(seed, rng, seeds); }
        if (members.Count == 0 || rng.Next(6) == 0) return Bytes(seed, rng, seeds);

        var zip = new ZipBuilder();
        int target = rng.Next(members.Count);
        int change = rng.Next(8);
        bool deflateAll = rng.Next(4) == 0;
        for (int i = 0; i < members.Count; i++)
        {
            var (name, data) = members[i];
            if (i == target)
            {
                switch (change)
                {
                    case 0: case 1: case 2:
                        data = name.EndsWith(".pkl", StringComparison.Ordinal) ? Pickle(data, rng, seeds) : Bytes(data, rng, seeds);
                        break;
                    case 3: continue; // member missing
                    case 4: zip.Add(name, Bytes(data, rng, seeds)); break; // a second member of the same name
                }
            }
            int index = zip.Add(name, data, deflateAll || (i == target && change == 5));
            if (i == target && change == 6) zip.Declare(index, size: Interesting[rng.Next(Interesting.Length)] & 0xFFFFFFFFL);
            if (i == target && change == 7) zip.Alias(members[rng.Next(members.Count)].Name + (rng.Next(2) == 0 ? "" : "x"), index);
        }
        return zip.Build();
    }

    private static readonly byte[] Opcodes = "}]()102XK\u008aMJNtlduaesqrhjcR\u0093\u0081bQ\u0094\u0085\u0086\u0087\u0088\u0089.BCTUSVIFGL"u8
        .ToArray().Concat(new byte[] { 0x8a, 0x8c, 0x8d, 0x8e, 0x93, 0x94, 0x95, 0x96, 0x80 }).ToArray();

    /// <summary>Pickle-aware: opcodes inserted or repeated, ints widened, plus byte mutations.</summary>
    public static byte[] Pickle(byte[] seed, Random rng, IReadOnlyList<byte[]> seeds)
    {
        if (seed.Length < 3 || rng.Next(3) == 0) return Bytes(seed, rng, seeds);
        var d = new List<byte>(seed);
        int at = 2 + rng.Next(d.Count - 2);
        switch (rng.Next(3))
        {
            case 0:
            {
                int n = 1 + rng.Next(8);
                var ops = new List<byte>();
                for (int i = 0; i < n; i++)
                {
                    ops.Add(Opcodes[rng.Next(Opcodes.Length)]);
                    for (int k = rng.Next(3); k > 0; k--) ops.Add((byte)rng.Next(256));
                }
                d.InsertRange(at, ops);
                break;
            }
            case 1:
            {
                // an opcode repeated a lot (floods of dicts, marks, memo puts)
                byte op = Opcodes[rng.Next(Opcodes.Length)];
                d.InsertRange(at, Enumerable.Repeat(op, 1 + rng.Next(100_000)));
                break;
            }
            default:
            {
                // a BININT1 argument becomes a LONG1 or a huge BININT
                int k = d.IndexOf((byte)'K', at);
                if (k < 0 || k + 1 >= d.Count) break;
                var v = new System.Numerics.BigInteger(Interesting[rng.Next(Interesting.Length)]).ToByteArray();
                d.RemoveRange(k, 2);
                d.InsertRange(k, new byte[] { 0x8a, (byte)v.Length }.Concat(v));
                break;
            }
        }
        return [.. d];
    }
}
