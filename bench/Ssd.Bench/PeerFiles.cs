using System.Text.Json;
using Ssd.Engine.Imaging;

namespace Ssd.Bench;

/// <summary>Where the peer files are: the generated acceptance fixtures, and out/bench/ for what tools/bench writes.</summary>
public static class PeerFiles
{
    public static string Root { get; } = FindRoot();

    public static string Fixture(string folder, string name) => Path.Combine(Root, "tests", "Ssd.Tests", "Fixtures", "generated", folder, name);

    public static string Onnx => Path.Combine(Root, "out", "bench", "torchvision_ssd300_network.onnx");

    public static string FolderOf(string model) => model switch
    {
        "ssd300-tv" => "torchvision_ssd300",
        "ssd300-caffe" => "caffe_ssd300",
        "ssd512-caffe" => "caffe_ssd512",
        _ => throw new ArgumentException($"unknown model '{model}'"),
    };

    /// <summary>Why a case cannot run (a missing file, with the command that makes it), or null.</summary>
    public static string? Missing(PeerCase c)
    {
        string folder = FolderOf(c.Model);
        string script = c.Model == "ssd300-tv" ? "make_torchvision_acceptance.py" : "make_caffe_acceptance.py";
        var needed = c.Model == "ssd300-tv" ? new[] { "model.pth", "input.bin", "photo_rgb.bin", "manifest.json" }
            : ["deploy.prototxt", "model.caffemodel", "input.bin", "photo_bgr.bin", "manifest.json"];
        foreach (var name in needed)
            if (!File.Exists(Fixture(folder, name))) return $"{Fixture(folder, name)} is missing (run /usr/bin/python3 tools/fixtures/{script})";
        if (c.Peer == "onnxruntime" && !File.Exists(Onnx)) return $"{Onnx} is missing (run /usr/bin/python3 tools/bench/export_onnx.py)";
        if (c.Peer == "pytorch" && !File.Exists(PeerRunners.Python)) return $"{PeerRunners.Python} is missing (apt-get install python3-torch python3-torchvision)";
        return null;
    }

    public static float[] Floats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var floats = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, floats, 0, floats.Length * 4);
        return floats;
    }

    /// <summary>The fixture's decoded photo: its raw h x w x 3 bytes (RGB for torchvision, BGR for Caffe) and size.</summary>
    public static (byte[] Pixels, int Width, int Height) Photo(string model)
    {
        string folder = FolderOf(model);
        using var manifest = JsonDocument.Parse(File.ReadAllText(Fixture(folder, "manifest.json")));
        int w = manifest.RootElement.GetProperty("image")[0].GetInt32(), h = manifest.RootElement.GetProperty("image")[1].GetInt32();
        var pixels = File.ReadAllBytes(Fixture(folder, model == "ssd300-tv" ? "photo_rgb.bin" : "photo_bgr.bin"));
        if (pixels.Length != w * h * 3) throw new InvalidDataException($"{folder} photo: {pixels.Length} bytes for {w}x{h}x3");
        return (pixels, w, h);
    }

    /// <summary>The photo as our RgbImage (Caffe fixtures store BGR: the channels are swapped back).</summary>
    public static RgbImage RgbPhoto(string model)
    {
        var (pixels, w, h) = Photo(model);
        if (model != "ssd300-tv")
        {
            pixels = (byte[])pixels.Clone();
            for (int i = 0; i < pixels.Length; i += 3) (pixels[i], pixels[i + 2]) = (pixels[i + 2], pixels[i]);
        }
        return new RgbImage(w, h, pixels);
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(Environment.CurrentDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Ssd.sln"))) return d.FullName;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Ssd.sln"))) return d.FullName;
        throw new FileNotFoundException("run the benchmark inside the repository: Ssd.sln not found above " + Environment.CurrentDirectory);
    }
}
