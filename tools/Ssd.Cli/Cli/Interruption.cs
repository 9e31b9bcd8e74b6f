using System.Runtime.InteropServices;

namespace Ssd.Cli;

/// <summary>
/// Graceful stops for long commands (`ssd train`): while a command holds <see cref="Graceful"/>, the first SIGINT
/// (Ctrl+C) or SIGTERM cancels its token instead of ending the process, so it can finish the step it is in and write
/// its state; a second signal ends the process at once (<see cref="Program"/>'s handler: unfinished outputs removed,
/// exit 130 / 143). Without a holder every signal ends the process at once.
/// </summary>
public static class Interruption
{
    private static readonly object gate = new();
    private static CancellationTokenSource? holder;

    /// <summary>The signal that cancelled the token (SIGINT or SIGTERM), when one did.</summary>
    public static PosixSignal? Signal { get; private set; }

    /// <summary>A token cancelled by the first SIGINT / SIGTERM while the returned scope is alive.</summary>
    public static Scope Graceful()
    {
        lock (gate)
        {
            holder?.Dispose();
            holder = new CancellationTokenSource();
            Signal = null;
            return new Scope(holder);
        }
    }

    /// <summary>The signal handler's first question: true when a graceful holder took the signal (the process goes on).</summary>
    internal static bool TryRequest(PosixSignal signal)
    {
        lock (gate)
        {
            if (holder is null || holder.IsCancellationRequested) return false;
            Signal = signal;
            holder.Cancel();
            return true;
        }
    }

    /// <summary>The exit code of a command stopped by <see cref="Signal"/>: 130 (SIGINT) or 143 (SIGTERM).</summary>
    public static int ExitCode => Signal == PosixSignal.SIGTERM ? ExitCodes.Terminated : ExitCodes.Interrupted;

    public sealed class Scope : IDisposable
    {
        private readonly CancellationTokenSource source;

        internal Scope(CancellationTokenSource source) => this.source = source;

        public CancellationToken Token => source.Token;

        /// <summary>Stops as a signal would (tests, and callers embedding the command).</summary>
        public void Request() => TryRequest(PosixSignal.SIGINT);

        public void Dispose()
        {
            lock (gate)
            {
                if (holder != source) return;
                holder = null;
                source.Dispose();
            }
        }
    }
}
