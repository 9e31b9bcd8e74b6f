namespace Ssd.Engine.Detection;

/// <summary>A box in original-image pixels (x1, y1) top-left, (x2, y2) bottom-right; not clipped unless the flavour clips.</summary>
public readonly record struct BoxF(float X1, float Y1, float X2, float Y2);

/// <summary>
/// One detected object. ClassId is the network's class index (the background is never reported, other indices
/// are not shifted: VOC models give 1..20); Label its name when the model knows it, else the index as text.
/// </summary>
public sealed record Detection(int ClassId, string Label, float Score, BoxF Box);

/// <summary>
/// Time spent in each stage of a Detect call: pre-processing on the host, the network (upload, layers, download;
/// with the pre-processing when it runs on the device, Preprocess then being zero; with the post-processing when
/// that runs on the device, Postprocess then holding only the host's labelling of the downloaded detections),
/// post-processing on the host.
/// </summary>
public sealed record DetectorTimings(TimeSpan Preprocess, TimeSpan Network, TimeSpan Postprocess)
{
    /// <summary>The three stages together.</summary>
    public TimeSpan Total => Preprocess + Network + Postprocess;
}
