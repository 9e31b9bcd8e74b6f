using Ssd.Engine.Detection;
using Ssd.Imaging;

// dotnet run -- MODEL.safetensors PHOTO.jpg [ANNOTATED.png]   (MODEL: a checkpoint converted by `ssd convert`)
if (args.Length is < 2 or > 3)
{
    Console.Error.WriteLine("usage: Ssd.Sample MODEL.safetensors PHOTO [ANNOTATED.png]");
    return 2;
}
using var detector = SsdDetector.Load(args[0], new SsdDetectorOptions { ConfidenceThreshold = 0.5f });
var photo = ImageDecoder.Load(args[1]);          // as cv2.imread reads it: EXIF orientation applied
using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
var detections = await detector.DetectAsync(photo, cancellationToken: timeout.Token);
foreach (var d in detections)
    Console.WriteLine($"{d.Label} {d.Score:F2} [{d.Box.X1:F0}, {d.Box.Y1:F0}, {d.Box.X2:F0}, {d.Box.Y2:F0}]");
// Per call: the detector's settings with some replaced (threshold, NMS IoU, how many, which classes).
var best = detector.Detect(photo, new DetectOptions { ConfidenceThreshold = 0.8f, MaxDetections = 1 });
Console.WriteLine(best.Count > 0 ? $"best: {best[0].Label} {best[0].Score:F2}" : "best: none above 0.8");
if (args.Length == 3)
    ImageEncoder.Save(Annotator.Draw(photo, detections.Select(Annotation.From)), args[2]);
return 0;
