using System.Globalization;

namespace Ssd.Engine.Detection;

/// <summary>
/// The network input size a detector runs at: a fixed Width x Height, or <see cref="Native"/>, each image's own
/// size (no resize; one network per distinct size). Only fully convolutional models (Caffe) can change it.
/// </summary>
public readonly record struct InputSize(int Width, int Height)
{
    /// <summary>Each image at its own size.</summary>
    public static InputSize Native { get; } = new(0, 0);

    /// <summary>True for <see cref="Native"/>.</summary>
    public bool IsNative => Width == 0 && Height == 0;

    /// <summary>"WxH" (e.g. 640x480), "N" (N x N) or "native".</summary>
    public static InputSize Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim().ToLowerInvariant();
        if (t == "native") return Native;
        var parts = t.Split('x');
        if (parts.Length is 1 or 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var w)
            && int.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var h) && w > 0 && h > 0)
            return new InputSize(w, h);
        throw new ArgumentException($"input size must be WxH (e.g. 640x480), N for N x N, or native, not '{text}'");
    }

    /// <summary>"WxH" or "native", as <see cref="Parse"/> reads it.</summary>
    public override string ToString() => IsNative ? "native" : FormattableString.Invariant($"{Width}x{Height}");
}
