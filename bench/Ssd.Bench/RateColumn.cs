using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Mathematics;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Ssd.Bench;

/// <summary>A summary column computed from each case's timing statistics (times in ns): a rate such as GFLOP/s.</summary>
public abstract class RateColumn(string name, string legend, string format, Func<BenchmarkCase, Statistics, double> rate) : IColumn
{
    public string Id => GetType().Name;
    public string ColumnName => name;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => legend;
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
        summary[benchmarkCase]?.ResultStatistics is { } stats ? rate(benchmarkCase, stats).ToString(format) : "-";
}

/// <summary>GFLOP/s = (the benchmark's FLOP count per invocation) / mean time.</summary>
public sealed class GflopsColumn(Func<BenchmarkCase, double> flopsOf) : RateColumn("GFLOP/s",
    "Floating-point operations (2 per multiply-add) per second, from the mean time", "F1",
    (b, stats) => flopsOf(b) / stats.Mean); // FLOP per ns = GFLOP/s

/// <summary>Images per second = (images in one invocation) / the fastest invocation.</summary>
public sealed class ThroughputColumn(Func<BenchmarkCase, int> imagesOf) : RateColumn("best images/s",
    "Images per second: the batch size over the fastest invocation (best of the iterations; the machine is shared)", "F2",
    (b, stats) => imagesOf(b) * 1e9 / stats.Min);
