#!/usr/bin/env bash
# `ssd convert` speed and peak memory on the full-size torchvision SSD300 checkpoint (142 MB), this tree against a
# baseline tree, interleaved (A B A B ...) so that both see the same machine load. Prints per-run times, the
# medians and the ratio, and writes out/bench/convert-vs-baseline.md (machine named as lscpu reports it).
#   bench/convert-vs-baseline.sh [BASELINE_TREE (default /work/baseline)] [RUNS (default 7)]
# The checkpoint is made by tools/fixtures/make_torchvision_acceptance.py (run by .ci/run). Issue 16's acceptance:
# this tree's median within 10% of the baseline's. Quote numbers from an idle machine only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
baseline=${1:-/work/baseline}
runs=${2:-7}
model="$root/tests/Ssd.Tests/Fixtures/generated/torchvision_ssd300/model.pth"
[ -f "$model" ] || { echo "missing $model: run /usr/bin/python3 tools/fixtures/make_torchvision_acceptance.py" >&2; exit 1; }
out="$root/out/bench"
mkdir -p "$out"
"$root/ssd" --help > /dev/null           # builds this tree's CLI when needed
"$baseline/ssd" --help > /dev/null       # and the baseline's
run() { # tree label -> "wall_seconds peak_kb cpu_seconds" (cpu = user + sys: less sensitive to a loaded machine)
  local dest="$out/convert-$2.safetensors"
  /usr/bin/time -f "%e %M %U %S" -o "$out/time.txt" dotnet "$1/tools/Ssd.Cli/bin/Release/net10.0/ssd.dll" convert "$model" -o "$dest" > /dev/null
  rm -f "$dest"
  awk '{ printf "%s %s %.2f\n", $1, $2, $3 + $4 }' "$out/time.txt"
}
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
: > "$out/convert-runs.txt"
uptime | tee "$out/convert-load.txt"
for i in $(seq "$runs"); do
  echo "baseline $(run "$baseline" base)" | tee -a "$out/convert-runs.txt"
  echo "this $(run "$root" this)" | tee -a "$out/convert-runs.txt"
done
uptime | tee -a "$out/convert-load.txt"
b=$(awk '$1 == "baseline" { print $2 }' "$out/convert-runs.txt" | median)
t=$(awk '$1 == "this" { print $2 }' "$out/convert-runs.txt" | median)
bm=$(awk '$1 == "baseline" { print $3 }' "$out/convert-runs.txt" | median)
tm=$(awk '$1 == "this" { print $3 }' "$out/convert-runs.txt" | median)
bc=$(awk '$1 == "baseline" { print $4 }' "$out/convert-runs.txt" | median)
tc=$(awk '$1 == "this" { print $4 }' "$out/convert-runs.txt" | median)
ratio=$(awk -v t="$t" -v b="$b" 'BEGIN { printf "%.3f", t / b }')
cpuratio=$(awk -v t="$tc" -v b="$bc" 'BEGIN { printf "%.3f", t / b }')
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -n 1) (CPU family $(lscpu | sed -n 's/^CPU family: *//p' | head -n 1))"
{
  echo "# ssd convert, full-size torchvision SSD300 (142 MB), this tree vs $baseline"
  echo
  echo "Machine: $machine, $(nproc) cores. $runs interleaved runs each, process start included. Load: $(head -n 1 "$out/convert-load.txt" | sed 's/.*load average: //') before, $(tail -n 1 "$out/convert-load.txt" | sed 's/.*load average: //') after."
  echo
  echo "| tree | median wall s | median CPU s (user + sys) | median peak RSS MB |"
  echo "| --- | ---: | ---: | ---: |"
  echo "| baseline | $b | $bc | $((bm / 1024)) |"
  echo "| this | $t | $tc | $((tm / 1024)) |"
  echo
  echo "Ratio this / baseline: **$ratio** wall (acceptance: at most 1.10), $cpuratio CPU time."
} | tee "$out/convert-vs-baseline.md"
