using System.Diagnostics;
using System.Globalization;

namespace Ssd.Bench;

/// <summary>
/// `Ssd.Bench paired [ROUNDS]`: the same <see cref="PeerCase"/>s as <see cref="PeerBenchmarks"/> (same env filters),
/// but interleaved: every round runs each case once, in turn, after one warm-up round. On a machine shared with
/// other work the load changes over minutes, which skews a table that times one case after another; interleaving
/// gives every case the same mix of quiet and busy moments, so the ratios between peers stay fair. Prints a markdown
/// table: best and median ms per case, and each case's best relative to the fastest peer's best in its group
/// (same model, scope and batch).
/// </summary>
public static class PairedRun
{
    public static int Run(string[] args)
    {
        int rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        var cases = PeerCase.Available().Where(c => c.Scope is "net" or "e2e").ToList();
        var runners = new List<(PeerCase Case, IPeerRunner Runner)>();
        try
        {
            foreach (var c in cases)
            {
                var r = PeerRunners.Create(c);
                Console.WriteLine($"// {c}: {r.Describe()}");
                runners.Add((c, r));
            }
            foreach (var (_, r) in runners) r.Run(); // warm-up round
            var times = runners.ToDictionary(x => x.Case, _ => new List<double>());
            for (int round = 0; round < rounds; round++)
            {
                foreach (var (c, r) in runners)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    r.Run();
                    times[c].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }
                Console.WriteLine($"// round {round + 1}/{rounds} done, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            }
            var ci = CultureInfo.InvariantCulture;
            Console.WriteLine();
            Console.WriteLine($"| model | scope | batch | peer | best ms | median ms | best images/s | best vs fastest peer |");
            Console.WriteLine("|---|---|---:|---|---:|---:|---:|---:|");
            foreach (var group in runners.GroupBy(x => (x.Case.Model, x.Case.Scope, x.Case.Batch)))
            {
                var peers = group.Where(x => !x.Case.Peer.StartsWith("ours", StringComparison.Ordinal)).Select(x => times[x.Case].Min()).ToList();
                double fastestPeer = peers.Count > 0 ? peers.Min() : double.NaN;
                foreach (var (c, _) in group)
                {
                    var t = times[c].Order().ToList();
                    double best = t[0], median = t.Count % 2 == 1 ? t[t.Count / 2] : (t[t.Count / 2 - 1] + t[t.Count / 2]) / 2;
                    string ratio = double.IsNaN(fastestPeer) ? "-" : (best / fastestPeer).ToString("F2", ci) + "x";
                    Console.WriteLine(string.Create(ci, $"| {c.Model} | {c.Scope} | {c.Batch} | {c.Peer} | {best:F1} | {median:F1} | {c.Batch * 1000 / best:F2} | {ratio} |"));
                }
            }
            return 0;
        }
        finally
        {
            foreach (var (_, r) in runners) r.Dispose();
        }
    }
}
