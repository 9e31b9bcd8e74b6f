namespace Ssd.Weights.Model;

/// <summary>Class lists of the public SSD checkpoints (index 0 is the background).</summary>
public static class ClassNames
{
    /// <summary>PASCAL VOC's 20 classes after the background (21 names), in the order the VOC SSD checkpoints use.</summary>
    public static readonly string[] Voc =
    [
        "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
        "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    ];

    /// <summary>torchvision's 91 COCO category slots (with "N/A" for the ids COCO skips).</summary>
    public static readonly string[] TorchvisionCoco =
    [
        "__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
        "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
        "bear", "zebra", "giraffe", "N/A", "backpack", "umbrella", "N/A", "N/A", "handbag", "tie", "suitcase", "frisbee", "skis",
        "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
        "N/A", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot",
        "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet",
        "N/A", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator",
        "N/A", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
    ];

    /// <summary>The user's names when given (with or without a leading background entry), else a known list, else null.</summary>
    public static string[]? Resolve(string[]? user, int numClasses, int backgroundId, string[]? known)
    {
        if (user is { Length: > 0 })
        {
            if (user.Length == numClasses) return user;
            if (user.Length == numClasses - 1 && backgroundId == 0) return ["background", .. user];
            throw new ArgumentException($"{user.Length} class names given for a model with {numClasses} classes (including the background)");
        }
        return known is not null && known.Length == numClasses ? known : null;
    }
}
