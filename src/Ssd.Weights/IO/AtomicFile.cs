namespace Ssd.Weights.IO;

/// <summary>
/// Writes files all or nothing: the content goes to a hidden temporary file beside the target (the same folder, so
/// the same file system and an atomic rename), which replaces the target only once it is complete. A failure (a full
/// disk, an exception in the writer, a signal) leaves the previous file as it was and no temporary file behind;
/// only SIGKILL or a power cut can leave a ".NAME.*.tmp" file, and never a half-written target.
/// Every output of Ssd goes through here: converted models, detection JSON, annotated images, PTX files.
/// </summary>
public static class AtomicFile
{
    /// <summary>
    /// Test hook: milliseconds to wait after the temporary file is complete and before the rename, so that a test can
    /// deliver a signal while a temporary file exists. Unset (the default) means no wait.
    /// </summary>
    public const string DelayVariable = "SSD_ATOMIC_WRITE_DELAY_MS";

    private static readonly object gate = new();
    private static readonly HashSet<string> pending = new(StringComparer.Ordinal);
    private static bool aborted;

    /// <summary>
    /// Writes <paramref name="path"/> through <paramref name="write"/>, which gets the temporary file's stream.
    /// <paramref name="flushToDisk"/> fsyncs before the rename (cheap for small outputs; a large checkpoint skips it:
    /// it guards only against power loss). <paramref name="preallocate"/> reserves the file's size up front.
    /// </summary>
    public static void Write(string path, Action<Stream> write, bool flushToDisk = true, long preallocate = 0)
    {
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string temp = TemporaryPath(full);
        lock (gate)
        {
            if (aborted) throw new OperationCanceledException($"{path}: not written, the process is stopping");
            pending.Add(temp);
        }
        try
        {
            using (var f = new FileStream(temp, new FileStreamOptions
                   { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0, PreallocationSize = preallocate }))
            {
                write(f);
                f.Flush(flushToDisk);
            }
            if (Environment.GetEnvironmentVariable(DelayVariable) is { } delay && int.TryParse(delay, out int ms) && ms > 0) Thread.Sleep(ms);
            lock (gate)
            {
                if (aborted) throw new OperationCanceledException($"{path}: not written, the process is stopping");
                File.Move(temp, full, overwrite: true);
                pending.Remove(temp);
            }
        }
        finally
        {
            lock (gate)
                if (pending.Remove(temp)) TryDelete(temp);
        }
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically: readers see the old file or the whole new one.</summary>
    public static void WriteAllBytes(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        Write(path, s => s.Write(bytes));
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 (no byte-order mark) atomically.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// For SIGINT / SIGTERM handlers: deletes every temporary file still being written and makes later writes fail,
    /// so that the process can exit without leaving one behind. Returns how many were deleted.
    /// </summary>
    public static int AbortPending()
    {
        lock (gate)
        {
            aborted = true;
            int n = pending.Count;
            foreach (var temp in pending) TryDelete(temp);
            pending.Clear();
            return n;
        }
    }

    /// <summary>True for the names of the temporary files this class writes (".NAME.&lt;32 hex&gt;.tmp").</summary>
    public static bool IsTemporaryName(string fileName) =>
        fileName.StartsWith('.') && fileName.EndsWith(".tmp", StringComparison.Ordinal) && fileName.Length > 38
        && fileName.AsSpan(fileName.Length - 37, 1)[0] == '.' && IsHex(fileName.AsSpan(fileName.Length - 36, 32));

    private static string TemporaryPath(string full) =>
        Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");

    private static bool IsHex(ReadOnlySpan<char> s)
    {
        foreach (var c in s) if (!char.IsAsciiHexDigitLower(c)) return false;
        return true;
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
