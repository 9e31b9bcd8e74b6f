namespace Ssd.Weights;

/// <summary>
/// The resource budgets every checkpoint and model reader checks before it takes memory, so that a small hostile
/// file cannot make it allocate much more than its own size. Each budget has a name (used in messages and in
/// docs/hardening.md, which lists the defaults); exceeding one throws <see cref="ReaderBudgetException"/>.
/// The defaults are far above what any real SSD checkpoint needs (a full-size SSD300 state dict: a 30 KB pickle,
/// about 70 zip entries, 100 MB of storages) and far below what a bomb asks for.
/// </summary>
public sealed record ReaderBudgets
{
    /// <summary>The default budgets (docs/hardening.md lists them).</summary>
    public static ReaderBudgets Default { get; } = new();

    /// <summary>"pickle.bytes": the largest pickle read (a zip checkpoint's data.pkl, or a legacy file's pickles).</summary>
    public long PickleBytes { get; init; } = 64L << 20;

    /// <summary>"pickle.memory": what the unpickler may allocate per byte of its input (values, stack, memo)...</summary>
    public int PickleMemoryPerByte { get; init; } = 64;

    /// <summary>"pickle.memory": ... at least this much for any pickle ...</summary>
    public long PickleMemoryFloor { get; init; } = 16L << 20;

    /// <summary>"pickle.memory": ... and never more than this, however long the pickle.</summary>
    public long PickleMemoryCap { get; init; } = 256L << 20;

    /// <summary>"zip.entries": the most entries a zip checkpoint's central directory may list.</summary>
    public int ZipEntries { get; init; } = 1 << 16;

    /// <summary>"zip.inflated": the bytes all read entries may inflate to together, per byte of the archive...</summary>
    public int InflatedBytesPerArchiveByte { get; init; } = 4;

    /// <summary>"zip.inflated": ... and at least this much for any archive.</summary>
    public long InflatedBytesFloor { get; init; } = 64L << 20;

    /// <summary>"caffemodel.bytes": the largest .caffemodel (protobuf itself cannot parse messages over 2 GiB).</summary>
    public long CaffemodelBytes { get; init; } = int.MaxValue;

    /// <summary>"prototxt.bytes": the largest deploy .prototxt (real ones are 10-100 KB).</summary>
    public long PrototxtBytes { get; init; } = 16L << 20;

    /// <summary>"safetensors.header": the largest safetensors JSON header (the reference implementation's 100 MB).</summary>
    public long SafeTensorsHeaderBytes { get; init; } = 100_000_000;

    /// <summary>"tensors.count": the most tensors (or blobs, or storages) one file may hold.</summary>
    public int Tensors { get; init; } = 1 << 16;

    /// <summary>"stream.bytes": the most a reader copies from a non-seekable stream (it needs to seek): one array.</summary>
    public long StreamBytes { get; init; } = Array.MaxLength;

    /// <summary>The unpickler's memory budget for a pickle of <paramref name="length"/> bytes.</summary>
    public long PickleMemoryFor(long length) =>
        Math.Min(PickleMemoryCap, Math.Max(PickleMemoryFloor, SaturatingMultiply(length, PickleMemoryPerByte)));

    /// <summary>The total inflation budget of an archive of <paramref name="archiveLength"/> bytes.</summary>
    public long InflatedBytesFor(long archiveLength) =>
        Math.Max(InflatedBytesFloor, SaturatingMultiply(archiveLength, InflatedBytesPerArchiveByte));

    private static long SaturatingMultiply(long a, long b) => a > long.MaxValue / Math.Max(b, 1) ? long.MaxValue : a * b;
}

/// <summary>
/// A file asked for more than one of the <see cref="ReaderBudgets"/> allows; nothing beyond the budget was
/// allocated. The message names the file, the budget and both sizes.
/// </summary>
public sealed class ReaderBudgetException : Exception
{
    /// <summary>The budget's name, e.g. "pickle.memory" or "zip.inflated".</summary>
    public string Budget { get; }
    /// <summary>The budget's limit in bytes (or entries, for a count).</summary>
    public long Limit { get; }
    /// <summary>What the file asked for, in the same unit.</summary>
    public long Requested { get; }
    /// <summary>The file (or stream name) that asked.</summary>
    public string File { get; }

    /// <summary>Creates the error; the message names the file, the budget and both sizes.</summary>
    /// <param name="file">The file's name.</param>
    /// <param name="budget">The budget's name (<see cref="Budget"/>).</param>
    /// <param name="limit">The limit.</param>
    /// <param name="requested">What was asked for.</param>
    /// <param name="what">What the request was for, e.g. "the pickle".</param>
    public ReaderBudgetException(string file, string budget, long limit, long requested, string what)
        : base($"{file}: {what} needs {requested:N0} bytes, over the '{budget}' budget of {limit:N0} (a damaged or hostile file?)")
    {
        File = file;
        Budget = budget;
        Limit = limit;
        Requested = requested;
    }

    /// <summary>For budgets that count items rather than bytes.</summary>
    public ReaderBudgetException(string file, string budget, long limit, long requested, string what, string unit)
        : base($"{file}: {what}: {requested:N0} {unit}, over the '{budget}' budget of {limit:N0} (a damaged or hostile file?)")
    {
        File = file;
        Budget = budget;
        Limit = limit;
        Requested = requested;
    }
}
