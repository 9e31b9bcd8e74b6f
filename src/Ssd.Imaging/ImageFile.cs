namespace Ssd.Imaging;

/// <summary>
/// Reads an encoded image file whole, safely: a folder, a FIFO, a device (/dev/zero) or a socket is refused before it
/// is opened (opening a FIFO would wait for a writer forever; a device never ends), and so is a file over the size
/// budget (<see cref="ImageLimits.MaxFileBytes"/>), which also bounds what is read from a file that grows meanwhile. Errors are <see cref="InvalidDataException"/>s whose message names the file.
/// </summary>
public static class ImageFile
{
    /// <summary>The file's bytes, within <see cref="ImageLimits.MaxFileBytes"/>; a missing, unreadable, special or too large file is an <see cref="InvalidDataException"/> naming it.</summary>
    /// <param name="path">The image file.</param>
    /// <param name="limits">The budgets (null: <see cref="ImageLimits.Default"/>).</param>
    public static byte[] ReadAllBytes(string path, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        limits ??= ImageLimits.Default;
        limits.Validate();
        FileInfo info;
        try
        {
            if (Directory.Exists(path)) throw new InvalidDataException($"{path}: is a folder, not an image file");
            info = new FileInfo(path);
            if (!info.Exists) throw new InvalidDataException($"{path}: no such file");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InvalidDataException($"{path}: cannot read the image file: {e.Message}", e);
        }
        // FIFOs, character and block devices and sockets all report size 0 on Unix: refusing size 0 before the file is
        // opened keeps a FIFO from blocking the open forever and a device from being read without end.
        if (info.Length == 0)
            throw new InvalidDataException($"{path}: empty, or not a regular file (a FIFO, device or socket): no image to decode");
        if (info.Length > limits.MaxFileBytes)
            throw new InvalidDataException($"{path}: the file is {info.Length:N0} bytes, over the {limits.MaxFileBytes:N0}-byte image file budget (ImageLimits.MaxFileBytes)");
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            var data = ReadBounded(stream, path, limits.MaxFileBytes, info.Length);
            if (data.Length == 0) throw new InvalidDataException($"{path}: the image file is empty");
            return data;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read the image file: {e.Message}", e);
        }
    }

    /// <summary>Reads a stream to its end, refusing more than <see cref="ImageLimits.MaxFileBytes"/>.</summary>
    public static byte[] ReadAllBytes(Stream stream, string name, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        limits ??= ImageLimits.Default;
        limits.Validate();
        long hint = stream.CanSeek ? Math.Max(0, stream.Length - stream.Position) : 0;
        return ReadBounded(stream, name, limits.MaxFileBytes, hint);
    }

    /// <summary>
    /// Reads to the end of the stream: <paramref name="expected"/> bytes into one array when the size is known (a file
    /// that shrank meanwhile gives what was there, which the decoder then finds truncated), else in chunks; more than
    /// <paramref name="maxBytes"/> is an error either way.
    /// </summary>
    private static byte[] ReadBounded(Stream stream, string name, long maxBytes, long expected)
    {
        if (expected > maxBytes) throw OverBudget(name, maxBytes);
        var data = new byte[expected];
        int read = stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
        if (read < data.Length) return data[..read];
        var chunk = new byte[1 << 16];
        int n = stream.Read(chunk);
        if (n == 0) return data;
        var rest = new MemoryStream();
        rest.Write(data);
        do
        {
            if (rest.Length + n > maxBytes) throw OverBudget(name, maxBytes);
            rest.Write(chunk, 0, n);
        } while ((n = stream.Read(chunk)) > 0);
        return rest.ToArray();
    }

    private static InvalidDataException OverBudget(string name, long maxBytes) =>
        new($"{name}: more than {maxBytes:N0} bytes, over the image file budget (ImageLimits.MaxFileBytes)");
}
