using BenchmarkDotNet.Running;
using Ssd.Bench;

// Runs the benchmarks chosen on the command line, e.g. `dotnet run -c Release --project bench/Ssd.Bench -- --filter '*Conv2d*'`;
// `-- paired [ROUNDS]` runs the peer cases interleaved instead (PairedRun);
// `-- conv-best-of ...` runs the load-tolerant best-single-call timing of the SSD300 convs (CpuConvBestOf);
// `-- conv-backward-best-of ...` the same for their gradients at a training batch (ConvBackwardBestOf);
// `-- train-layers [batch] [N] [results.md]` the per-op forward / backward table of a training step against the FP32 peak (TrainLayerTable);
// `-- train-phases [width-divisor] [batch] [steps]` where a CPU training step's time goes, image by image vs the whole batch (TrainStepPhases).
if (args.Length > 0 && args[0] == "paired") return PairedRun.Run(args[1..]);
if (args.Length > 0 && args[0] == "conv-best-of")
{
    CpuConvBestOf.Run(args[1..]);
    return 0;
}
if (args.Length > 0 && args[0] == "conv-backward-best-of")
{
    ConvBackwardBestOf.Run(args[1..]);
    return 0;
}
if (args.Length > 0 && args[0] == "train-layers") return TrainLayerTable.Run(args[1..]);
if (args.Length > 0 && args[0] == "train-phases") return TrainStepPhases.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
