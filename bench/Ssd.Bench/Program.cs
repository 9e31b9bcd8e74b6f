using BenchmarkDotNet.Running;

// Runs the benchmarks chosen on the command line, e.g. `dotnet run -c Release --project bench/Ssd.Bench -- --filter '*Conv2d*'`.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
