#!/usr/bin/env bash
# Brings each packed library's PublicAPI.Unshipped.txt up to date with its code (Microsoft.CodeAnalysis.PublicApiAnalyzers):
# rebuilds the libraries, adds every public symbol the analyzer reports as undeclared (RS0016) and drops every
# declared one that no longer exists (RS0017). Review the diff: it is the change to the public API. At a release,
# move the Unshipped lines into PublicAPI.Shipped.txt.
#     bash tools/public-api/update.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for project in Ssd.Imaging Ssd.Data; do   # together they build every packed library
  dotnet build "$root/src/$project" -c Release --no-incremental -nologo -v q -clp:NoSummary >>"$log" 2>&1 || true
done
/usr/bin/python3 - "$root" "$log" <<'PY'
import os, re, sys
root, log = sys.argv[1], sys.argv[2]
pattern = re.compile(r"warning (RS0016|RS0017): Symbol '(.*)' is (?:not part of the declared public API|part of the declared API, but is either not public or could not be found).*\[(.*?)\.csproj\]")
changes = {}
for line in open(log, encoding="utf-8"):
    m = pattern.search(line)
    if m:
        rule, symbol, project = m.groups()
        add, remove = changes.setdefault(os.path.dirname(project), (set(), set()))
        (add if rule == "RS0016" else remove).add(symbol)
for folder, (add, remove) in sorted(changes.items()):
    path = os.path.join(folder, "PublicAPI.Unshipped.txt")
    lines = [l.rstrip("\n") for l in open(path, encoding="utf-8")] if os.path.exists(path) else ["#nullable enable"]
    body = sorted((set(l for l in lines[1:] if l) | add) - remove, key=lambda s: (s.lstrip("~"), s))
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("#nullable enable\n" + "".join(l + "\n" for l in body))
    print(f"{os.path.relpath(path, root)}: +{len(add)} -{len(remove)}")
errors = [l for l in open(log, encoding="utf-8") if " error " in l]
if errors:
    sys.stderr.write("".join(sorted(set(errors))[:20]))
    sys.exit(1)
PY
