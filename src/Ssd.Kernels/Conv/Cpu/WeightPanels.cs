using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ssd.Kernels.Cpu;

namespace Ssd.Kernels.Conv;

/// <summary>
/// Conv weights packed once at load into the micro-kernel's A layout: per group, the og x K weight matrix
/// (K = inC/groups * kH * kW, the OIHW row of one output channel) cut into panels of MR output channels, each stored
/// [k][MR] so one k step reads MR consecutive floats. Rows past og are zero, as is the bias padding.
/// </summary>
internal sealed unsafe class WeightPanels
{
    public readonly int Groups, RowsPerGroup, K, MR, PanelsPerGroup;
    public readonly AlignedBuffer Data;
    /// <summary>Bias padded to PanelsPerGroup*MR per group; null when the conv has none.</summary>
    public readonly AlignedBuffer? Bias;

    /// <remarks><paramref name="weights"/>: Row-major [groups*rowsPerGroup, k] (OIHW flattened), already validated.</remarks>
    public WeightPanels(ReadOnlySpan<float> weights, ReadOnlySpan<float> bias, bool hasBias, int groups, int rowsPerGroup, int k, int mr)
        : this(hasBias, groups, rowsPerGroup, k, mr) => Fill(weights, bias);

    /// <summary>The panels of groups x rowsPerGroup x k weights, zero until filled (<see cref="Fill"/>, <see cref="FillRows"/>).</summary>
    public WeightPanels(bool hasBias, int groups, int rowsPerGroup, int k, int mr)
    {
        (Groups, RowsPerGroup, K, MR) = (groups, rowsPerGroup, k, mr);
        PanelsPerGroup = (rowsPerGroup + mr - 1) / mr;
        Data = new AlignedBuffer((long)groups * PanelsPerGroup * k * mr);
        if (hasBias) Bias = new AlignedBuffer((long)groups * PanelsPerGroup * mr);
    }

    /// <summary>Packs new weights (and bias, when the conv has one) in place: the layer's refresh after a training step.</summary>
    public void Fill(ReadOnlySpan<float> weights, ReadOnlySpan<float> bias)
    {
        for (int g = 0; g < Groups; g++) FillRows(g, 0, weights.Slice(g * RowsPerGroup * K, RowsPerGroup * K), RowsPerGroup);
        if (Bias is not null)
            for (int g = 0; g < Groups; g++)
                bias.Slice(g * RowsPerGroup, RowsPerGroup).CopyTo(Bias.Span.Slice(g * PanelsPerGroup * MR));
    }

    /// <summary>
    /// Packs rows [row0, row0 + count) of group <paramref name="g"/> from <paramref name="rows"/>, row-major [count, K]:
    /// a transpose into each panel's [k][MR]. Eight rows at a time where the machine gathers (one 8-float gather from
    /// eight rows, one contiguous store per k: the rows are read in order and every store fills consecutive floats),
    /// the rest one float at a time; the packed floats are the same either way.
    /// </summary>
    public void FillRows(int g, int row0, ReadOnlySpan<float> rows, int count)
    {
        if (rows.Length < (long)count * K) throw new ArgumentException($"weight panels: {rows.Length} floats for {count} rows of {K}");
        if (g < 0 || g >= Groups || row0 < 0 || row0 + count > RowsPerGroup) throw new ArgumentOutOfRangeException(nameof(row0), $"rows {row0}..{row0 + count} of group {g}");
        bool gather = Avx2.IsSupported && 7L * K <= int.MaxValue / sizeof(float);
        var apart = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * K;
        fixed (float* src = rows)
            for (int i = 0; i < count;)
            {
                int row = row0 + i, r = row % MR, run = Math.Min(count - i, MR - r);
                float* block = Data.Pointer + PanelOffset(g, row / MR, 0) + r;
                int j = 0;
                if (gather)
                    for (; j + 8 <= run; j += 8)
                    {
                        float* s = src + (long)(i + j) * K;
                        for (int kk = 0; kk < K; kk++) Vector256.Store(Avx2.GatherVector256(s + kk, apart, 4), block + (long)kk * MR + j);
                    }
                for (; j < run; j++)
                {
                    float* s = src + (long)(i + j) * K;
                    for (int kk = 0; kk < K; kk++) block[(long)kk * MR + j] = s[kk];
                }
                i += run;
            }
    }

    /// <summary>Float offset of row block <paramref name="panel"/> of group <paramref name="g"/> at reduction index <paramref name="k"/>.</summary>
    public long PanelOffset(int g, int panel, int k) => ((long)(g * PanelsPerGroup + panel) * K + k) * MR;

    public float* BiasFor(int g, int panel) => Bias is null ? null : Bias.Pointer + (g * PanelsPerGroup + panel) * MR;
}
