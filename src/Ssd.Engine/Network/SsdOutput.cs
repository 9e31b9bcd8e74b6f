namespace Ssd.Engine.Network;

/// <summary>One forward pass: Loc [N, P*4] and Conf [N, P*C] (row-major, prior by prior), and the captured blobs
/// by name (each in its own shape: <see cref="Graph.ExecutionPlan.Blob"/>(name).Shape).</summary>
public sealed record SsdOutput(float[] Loc, float[] Conf, IReadOnlyDictionary<string, float[]> Captured);
