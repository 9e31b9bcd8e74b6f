using System.Text;
using Ssd.Weights.IO;

namespace Ssd.Cli.Training;

/// <summary>
/// A JSON-lines file that grows as a run goes (log.jsonl, metrics.jsonl): it starts as <c>initial</c>, written
/// atomically (empty, or a resumed run's lines up to its checkpoint), then each line is appended and flushed, so a
/// step costs one short write however long the run. A crash can leave at most a partial last line, which a resume
/// drops with every line past its checkpoint.
/// </summary>
public sealed class JsonLinesFile : IDisposable
{
    private readonly FileStream stream;

    public JsonLinesFile(string path, IEnumerable<string> initial)
    {
        AtomicFile.WriteAllText(path, string.Concat(initial.Select(l => l + "\n")));
        stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
    }

    public void Append(string line)
    {
        stream.Write(Encoding.UTF8.GetBytes(line + "\n"));
        stream.Flush();
    }

    public void Dispose() => stream.Dispose();
}
