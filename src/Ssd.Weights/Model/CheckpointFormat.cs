using System.Buffers.Binary;

namespace Ssd.Weights.Model;

/// <summary>What kind of file a path holds, told from its first bytes (and, for Caffe, its name).</summary>
internal enum CheckpointKind { Unknown, SafeTensors, TorchZip, TorchLegacy, CaffeModel, CaffePrototxt, Onnx }

/// <summary>
/// Tells model files (safetensors written by `ssd convert`) from the checkpoints they are converted from, so that
/// handing a .pth or .caffemodel to the detector says "convert it first" instead of failing on a nonsense header.
/// </summary>
internal static class CheckpointFormat
{
    /// <summary>The kind of file at <paramref name="path"/>, from its first 16 bytes and its extension.</summary>
    public static CheckpointKind Detect(string path)
    {
        Span<byte> head = stackalloc byte[16];
        int n;
        using (var f = InputFile.OpenRead(path))
            n = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return Detect(head[..n], Path.GetExtension(path));
    }

    /// <summary>The kind of file whose first bytes are <paramref name="head"/> (up to 16) and whose extension is
    /// <paramref name="extension"/> ("" when unknown, e.g. a stream).</summary>
    public static CheckpointKind Detect(ReadOnlySpan<byte> head, string extension)
    {
        int n = head.Length;
        string ext = extension.ToLowerInvariant();
        if (n >= 4 && head[..4].SequenceEqual("PK\x03\x04"u8)) return CheckpointKind.TorchZip;
        if (n >= 2 && head[0] == 0x80 && head[1] is >= 2 and <= 5) return CheckpointKind.TorchLegacy; // a pickle: torch.save's legacy format
        if (n >= 9 && BinaryPrimitives.ReadUInt64LittleEndian(head) is > 1 and < 100_000_000 && head[8] == (byte)'{') return CheckpointKind.SafeTensors;
        if (ext == ".caffemodel") return CheckpointKind.CaffeModel;
        if (ext is ".prototxt" or ".pbtxt") return CheckpointKind.CaffePrototxt;
        if (ext == ".onnx") return CheckpointKind.Onnx;
        return CheckpointKind.Unknown;
    }

    /// <summary>Throws <see cref="InvalidDataException"/> with what to do when the file is not a converted model.</summary>
    public static void RequireModelFile(string path) => RequireModelFile(Detect(path), path, Path.GetFileName(path));

    /// <summary>Throws <see cref="InvalidDataException"/> with what to do when <paramref name="kind"/> is not a converted model.</summary>
    /// <param name="kind">What the file is.</param>
    /// <param name="path">How messages name the file.</param>
    /// <param name="name">The file name the suggested `ssd convert` command uses.</param>
    public static void RequireModelFile(CheckpointKind kind, string path, string name)
    {
        string? problem = kind switch
        {
            CheckpointKind.SafeTensors => null,
            CheckpointKind.TorchZip or CheckpointKind.TorchLegacy =>
                $"{path} is a PyTorch checkpoint, not an Ssd model file: convert it first: ssd convert {name} -o model.safetensors",
            CheckpointKind.CaffeModel =>
                $"{path} is a Caffe checkpoint, not an Ssd model file: convert it first: ssd convert {name} --prototxt deploy.prototxt -o model.safetensors",
            CheckpointKind.CaffePrototxt =>
                $"{path} is a Caffe network description, not an Ssd model file: convert it with its weights: ssd convert weights.caffemodel --prototxt {name} -o model.safetensors",
            CheckpointKind.Onnx => $"{path} is an ONNX model, which Ssd does not read: convert the original PyTorch or Caffe checkpoint with ssd convert",
            _ => $"{path} is not an Ssd model file (a .safetensors file written by `ssd convert`)",
        };
        if (problem is not null) throw new InvalidDataException(problem);
    }
}
