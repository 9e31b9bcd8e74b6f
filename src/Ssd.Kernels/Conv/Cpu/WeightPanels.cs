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

    /// <summary>Packs rows [row0, row0 + count) of group <paramref name="g"/> from <paramref name="rows"/>, row-major [count, K].</summary>
    public void FillRows(int g, int row0, ReadOnlySpan<float> rows, int count)
    {
        var dst = Data.Span;
        for (int i = 0; i < count; i++)
        {
            int row = row0 + i;
            var block = dst.Slice((int)PanelOffset(g, row / MR, 0), K * MR);
            var src = rows.Slice(i * K, K);
            for (int kk = 0, r = row % MR; kk < K; kk++) block[kk * MR + r] = src[kk];
        }
    }

    /// <summary>Float offset of row block <paramref name="panel"/> of group <paramref name="g"/> at reduction index <paramref name="k"/>.</summary>
    public long PanelOffset(int g, int panel, int k) => ((long)(g * PanelsPerGroup + panel) * K + k) * MR;

    public float* BiasFor(int g, int panel) => Bias is null ? null : Bias.Pointer + (g * PanelsPerGroup + panel) * MR;
}
