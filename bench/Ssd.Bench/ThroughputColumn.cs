using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Ssd.Bench;

/// <summary>A summary column: images per second = (images in one invocation) / the fastest invocation.</summary>
public sealed class ThroughputColumn(Func<BenchmarkCase, int> imagesOf) : IColumn
{
    public string Id => nameof(ThroughputColumn);
    public string ColumnName => "best images/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Images per second: the batch size over the fastest invocation (best of the iterations; the machine is shared)";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is not { } stats) return "-";
        return (imagesOf(benchmarkCase) * 1e9 / stats.Min).ToString("F2"); // Min is in ns
    }
}
