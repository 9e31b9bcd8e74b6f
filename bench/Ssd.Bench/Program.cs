using BenchmarkDotNet.Running;

// Runs the benchmarks chosen on the command line, e.g. `dotnet run -c Release --project bench/Ssd.Bench -- --filter '*Conv2d*'`.
// `-- conv-best-of ...` runs the load-tolerant best-single-call timing of the SSD300 convs instead (CpuConvBestOf).
if (args.Length > 0 && args[0] == "conv-best-of") Ssd.Bench.CpuConvBestOf.Run(args[1..]);
else BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
