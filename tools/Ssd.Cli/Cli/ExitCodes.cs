namespace Ssd.Cli;

/// <summary>
/// The exit codes of every `ssd` command, for scripts: 0 all good; 1 some inputs failed (each named on stderr, the
/// others processed) or an output could not be written after all; 2 usage: a bad argument or option value, or an output that cannot be written or would overwrite
/// an input, found before any work; 3 the model or the device: the model file (or checkpoint) cannot be read, or the
/// backend cannot run; 4 an internal error (a bug: please report it with the --verbose output); 5 `ssd train`'s data set
/// check failed; 130 / 143 stopped by SIGINT / SIGTERM (no temporary file left behind; `ssd train` first finishes its
/// step and writes its checkpoint).
/// </summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int InputsFailed = 1;
    public const int Usage = 2;
    public const int ModelOrDevice = 3;
    public const int Internal = 4;
    /// <summary>`ssd train`: the data set check before the first step found problems (each listed); nothing was trained.</summary>
    public const int DataSetCheck = 5;
    public const int Interrupted = 130;
    public const int Terminated = 143;
}

/// <summary>An error the user can act on: a one-line message (naming the file and the problem) and its exit code.</summary>
public sealed class CliException(string message, int exitCode, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;

    public static CliException Usage(string message, Exception? inner = null) => new(message, ExitCodes.Usage, inner);
    public static CliException Model(string message, Exception? inner = null) => new(message, ExitCodes.ModelOrDevice, inner);
}
