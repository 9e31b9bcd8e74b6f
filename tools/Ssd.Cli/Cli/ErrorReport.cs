namespace Ssd.Cli;

/// <summary>
/// The CLI's one error path: every exception that reaches a command's top becomes one line on stderr ("error: ...")
/// and an exit code (<see cref="ExitCodes"/>); the stack trace is printed only with --verbose.
/// </summary>
public static class ErrorReport
{
    public static int Report(Exception e, bool verbose)
    {
        int code;
        string message;
        switch (e)
        {
            case CliException c:
                (code, message) = (c.ExitCode, c.Message);
                break;
            case OperationCanceledException:
                (code, message) = (ExitCodes.Interrupted, "stopped");
                break;
            case OutOfMemoryException:
                (code, message) = (ExitCodes.ModelOrDevice, "out of memory (" + e.Message + ")");
                break;
            default:
                (code, message) = (ExitCodes.Internal, $"internal error: {e.GetType().Name}: {e.Message}" + (verbose ? "" : " (run with --verbose for the stack trace)"));
                break;
        }
        Console.Error.WriteLine($"error: {OneLine(message)}");
        if (verbose) Console.Error.WriteLine(e.ToString());
        return code;
    }

    /// <summary>The message on one line (inner line breaks become "; ").</summary>
    public static string OneLine(string message) =>
        string.Join("; ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>An exception's message for a per-input error line, with the inner cause when it adds something.</summary>
    public static string Describe(Exception e) => OneLine(e is CliException or InvalidDataException or IOException or ArgumentException or NotSupportedException or UnauthorizedAccessException
        ? e.Message
        : $"{e.GetType().Name}: {e.Message}");
}
