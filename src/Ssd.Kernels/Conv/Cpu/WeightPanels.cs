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
    {
        (Groups, RowsPerGroup, K, MR) = (groups, rowsPerGroup, k, mr);
        PanelsPerGroup = (rowsPerGroup + mr - 1) / mr;
        Data = new AlignedBuffer((long)groups * PanelsPerGroup * k * mr);
        var dst = Data.Span;
        for (int g = 0; g < groups; g++)
            for (int panel = 0; panel < PanelsPerGroup; panel++)
            {
                var block = dst.Slice((int)PanelOffset(g, panel, 0), k * mr);
                for (int r = 0; r < mr; r++)
                {
                    int row = panel * mr + r;
                    if (row >= rowsPerGroup) continue;
                    var src = weights.Slice((g * rowsPerGroup + row) * k, k);
                    for (int kk = 0; kk < k; kk++) block[kk * mr + r] = src[kk];
                }
            }
        if (hasBias)
        {
            Bias = new AlignedBuffer((long)groups * PanelsPerGroup * mr);
            for (int g = 0; g < groups; g++)
                bias.Slice(g * rowsPerGroup, rowsPerGroup).CopyTo(Bias.Span.Slice(g * PanelsPerGroup * mr));
        }
    }

    /// <summary>Float offset of row block <paramref name="panel"/> of group <paramref name="g"/> at reduction index <paramref name="k"/>.</summary>
    public long PanelOffset(int g, int panel, int k) => ((long)(g * PanelsPerGroup + panel) * K + k) * MR;

    public float* BiasFor(int g, int panel) => Bias is null ? null : Bias.Pointer + (g * PanelsPerGroup + panel) * MR;
}
