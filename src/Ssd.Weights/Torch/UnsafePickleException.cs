namespace Ssd.Weights.Torch;

/// <summary>
/// A pickle asked for something the restricted unpickler will not do: a global outside the allow-list (os.system,
/// builtins.eval, ...), a call or BUILD on an object that is not allowed, or an extension code. Nothing was executed.
/// Readers throw it (never wrapped) beside <see cref="InvalidDataException"/> for files that are merely malformed.
/// </summary>
public sealed class UnsafePickleException : Exception
{
    /// <summary>What was refused, e.g. "os.system" or "BUILD on list".</summary>
    public string Refused { get; }

    /// <summary>Creates the error.</summary>
    /// <param name="refused">What was refused (<see cref="Refused"/>).</param>
    /// <param name="message">The one-line message, naming the file.</param>
    public UnsafePickleException(string refused, string message) : base(message) => Refused = refused;
}
