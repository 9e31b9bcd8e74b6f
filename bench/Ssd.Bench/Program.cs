using BenchmarkDotNet.Running;
using Ssd.Bench;

// Runs the benchmarks chosen on the command line, e.g. `dotnet run -c Release --project bench/Ssd.Bench -- --filter '*Conv2d*'`;
// `-- paired [ROUNDS]` runs the peer cases interleaved instead (PairedRun).
if (args.Length > 0 && args[0] == "paired") return PairedRun.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
