using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Ssd.Engine.Detection;

namespace Ssd.Cli;

/// <summary>
/// Options shared by the commands, each with a parser whose error names the option and the bad value in words
/// (System.CommandLine's own messages name .NET types); a parse error exits 2.
/// </summary>
public static class CliOptions
{
    public const string VerboseName = "--verbose";

    /// <summary>--verbose / -v on every command: print stack traces with errors.</summary>
    public static Option<bool> Verbose() => new(VerboseName, "-v") { Description = "print the stack trace with an error", Recursive = true };

    public static Option<DetectorBackend> Backend() => new("--backend")
    {
        Description = "where the network runs; auto: CUDA when present, else cpu",
        HelpName = "auto|cuda|opencl|cpu-sim|cpu",
        DefaultValueFactory = _ => DetectorBackend.Auto,
        CustomParser = r => Parse(r, DetectorBackendNames.Parse, default(DetectorBackend)),
    };

    /// <summary>--threshold in [0, 1]; <paramref name="defaultValue"/> null keeps the model's own.</summary>
    public static Option<float?> Threshold(float? defaultValue, string description) => new("--threshold")
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r =>
        {
            var token = Token(r);
            if (!float.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !float.IsFinite(v))
            {
                r.AddError($"--threshold: '{token}' is not a number (a confidence in [0, 1], e.g. 0.5)");
                return null;
            }
            if (v is < 0 or > 1)
            {
                r.AddError($"--threshold: {token} is outside [0, 1]");
                return null;
            }
            return v;
        },
    };

    /// <summary>An integer option at least <paramref name="min"/>.</summary>
    public static Option<int> Int(string name, int defaultValue, int min, string description, params string[] aliases) => new(name, aliases)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r =>
        {
            var token = Token(r);
            if (!int.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            {
                r.AddError($"{name}: '{token}' is not a whole number");
                return defaultValue;
            }
            if (v < min)
            {
                r.AddError($"{name}: {v} is less than {min}");
                return defaultValue;
            }
            return v;
        },
    };

    /// <summary>A 64-bit integer option in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static Option<long> Long(string name, long defaultValue, long min, long max, string description) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r =>
        {
            var token = Token(r);
            if (long.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max) return v;
            r.AddError($"{name}: '{token}' is not a whole number in {min}..{max}");
            return defaultValue;
        },
    };

    /// <summary>An optional number that must be positive and finite (null when the option is not given).</summary>
    public static Option<double?> PositiveNumber(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = r =>
        {
            var token = Token(r);
            if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
            {
                r.AddError($"{name}: '{token}' is not a number");
                return null;
            }
            if (!(v > 0 && double.IsFinite(v)))
            {
                r.AddError($"{name}: {token} must be a positive, finite number");
                return null;
            }
            return v;
        },
    };

    public static Option<InputSize?> InputSizeOption() => new("--input-size")
    {
        Description = "network input WxH, or native (each image's own size); Caffe models only; default: the model's",
        CustomParser = r => Parse<InputSize?>(r, s => InputSize.Parse(s), null),
    };

    private static string Token(ArgumentResult r) => r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";

    /// <summary>Parses the token with a parser that throws ArgumentException, turning the throw into a parse error.</summary>
    private static T Parse<T>(ArgumentResult r, Func<string, T> parse, T fallback)
    {
        var token = Token(r);
        try { return parse(token); }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            r.AddError($"{OptionName(r)}: {e.Message}");
            return fallback;
        }
    }

    private static string OptionName(ArgumentResult r) => r.Parent is OptionResult o ? o.Option.Name : r.Argument.Name;
}
