using System.Text.Json;
using System.Text.Json.Serialization;
using Ssd.Engine.Detection;

namespace Ssd.Cli;

/// <summary>One image's result for the JSON: its path as given, the upright size, where its annotated copy went.</summary>
public sealed record ImageResult(string Path, int Width, int Height, IReadOnlyList<Detection> Detections, string? Annotated = null);

/// <summary>
/// `ssd detect --json`'s document, schema version <see cref="Schema"/>:
/// {"schema": 1, "model": name, "threshold": t,
///  "images": [{"path", "width", "height", "annotated"?, "detections": [{"class_id", "label", "score", "box": [x1, y1, x2, y2]}]}],
///  "errors": [{"path", "error"}]}.
/// Boxes are in the pixels of the upright image (EXIF orientation applied), floats written exactly (round-trip).
/// A new field may appear within a schema version; a change to an existing one raises it.
/// </summary>
public static class DetectionJson
{
    public const int Schema = 1;

    private static readonly JsonSerializerOptions options = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private sealed record DetectionDto(int class_id, string label, float score, float[] box);
    private sealed record ImageDto(string path, int width, int height, string? annotated, DetectionDto[] detections);
    private sealed record ErrorDto(string path, string error);
    private sealed record DocumentDto(int schema, string model, float? threshold, ImageDto[] images, ErrorDto[] errors);

    public static string Serialize(string model, float? threshold, IEnumerable<ImageResult> images, IEnumerable<(string Path, string Error)> errors) =>
        JsonSerializer.Serialize(new DocumentDto(Schema, model, threshold,
            images.Select(i => new ImageDto(i.Path, i.Width, i.Height, i.Annotated,
                i.Detections.Select(d => new DetectionDto(d.ClassId, d.Label, d.Score, [d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2])).ToArray())).ToArray(),
            errors.Select(e => new ErrorDto(e.Path, e.Error)).ToArray()), options) + "\n";
}
