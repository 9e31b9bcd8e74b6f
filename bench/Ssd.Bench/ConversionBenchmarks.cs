using BenchmarkDotNet.Attributes;
using Ssd.Weights.Model;
using Ssd.Weights.SafeTensors;
using Ssd.Weights.Tensors;
using Ssd.Weights.Torch;

namespace Ssd.Bench;

/// <summary>
/// `ssd convert` of a full-size torchvision SSD300 (ssd300_vgg16, 91 classes, 142 MB): reading the checkpoint,
/// mapping it to the model, and writing the model file. The checkpoint is written in GlobalSetup with random
/// weights, in the shapes of tests/Ssd.Tests/Fixtures/torch/torchvision_ssd300_vgg16_keys.txt (listed by
/// torchvision itself), so no Python is needed.
/// Run: dotnet run -c Release --project bench/Ssd.Bench -- --filter '*ConversionBenchmarks*'
/// </summary>
[MemoryDiagnoser]
public class ConversionBenchmarks
{
    private string dir = null!, checkpoint = null!, output = null!;
    private ConversionResult converted = null!;

    [GlobalSetup]
    public void Setup()
    {
        dir = Directory.CreateTempSubdirectory("ssd-bench-").FullName;
        checkpoint = Path.Combine(dir, "ssd300_vgg16.pth");
        output = Path.Combine(dir, "ssd300_vgg16.safetensors");
        var rng = new Random(0);
        var tensors = File.ReadAllLines(KeysFile()).Select(line => line.Split(' ')).Select(p =>
        {
            var shape = p[1].Split(',').Select(int.Parse).ToArray();
            var values = new float[shape.Aggregate(1, (a, d) => a * d)];
            for (int i = 0; i < values.Length; i++) values[i] = (float)rng.NextDouble() - 0.5f;
            return (p[0], shape, values);
        }).ToList();
        TorchCheckpointWriter.Write(checkpoint, tensors);
        converted = TorchConverter.Convert(TorchCheckpoint.Load(checkpoint));
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(dir, recursive: true);

    [Benchmark]
    public IReadOnlyDictionary<string, TensorData> ReadCheckpoint() => TorchCheckpoint.Load(checkpoint);

    [Benchmark]
    public ConversionResult ReadAndConvert() => TorchConverter.Convert(TorchCheckpoint.Load(checkpoint));

    [Benchmark]
    public void WriteModelFile() => ModelFile.Save(output, converted.Description, converted.Tensors);

    [Benchmark(Baseline = true)]
    public void FullConversion()
    {
        var result = TorchConverter.Convert(TorchCheckpoint.Load(checkpoint));
        ModelFile.Save(output, result.Description, result.Tensors);
    }

    /// <summary>Found by walking up from the working directory to the repository (Ssd.sln).</summary>
    private static string KeysFile()
    {
        for (var d = new DirectoryInfo(Environment.CurrentDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Ssd.sln")))
                return Path.Combine(d.FullName, "tests", "Ssd.Tests", "Fixtures", "torch", "torchvision_ssd300_vgg16_keys.txt");
        throw new FileNotFoundException("run the benchmark inside the repository: Ssd.sln not found above " + Environment.CurrentDirectory);
    }
}
