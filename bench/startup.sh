#!/usr/bin/env bash
# Start-up of a one-image `ssd detect` (the bundled example), JIT build against ReadyToRun publish, run alternately:
#     bash bench/startup.sh [RUNS]      (default 15 runs of each; writes bench/results/startup.md)
#     bash bench/startup.sh RUNS A B    (two ReadyToRun publish folders, e.g. before and after a change, run
#                                        alternately instead; prints their table and writes nothing)
# The JIT build is `dotnet build -c Release` (what ./ssd ran before); ReadyToRun is what ./ssd publishes now.
# Medians of wall time and of CPU time (user + sys), from /usr/bin/time. Run it on an idle machine.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-15}
rid=$(dotnet --info | sed -n 's/^ *RID: *//p' | head -n 1)
if [ $# -ge 3 ]; then
  jit=$(cd "$2" && pwd); r2r=$(cd "$3" && pwd)
else
  jit="$root/artifacts/startup/jit"; r2r="$root/artifacts/startup/r2r"
  dotnet publish "$root/tools/Ssd.Cli/Ssd.Cli.csproj" -c Release -o "$jit" -nologo -v quiet -p:PublishReadyToRun=false
  dotnet publish "$root/tools/Ssd.Cli/Ssd.Cli.csproj" -c Release -r "$rid" --self-contained false -o "$r2r" -nologo -v quiet
fi
args=(detect --model "$root/examples/shapes/shapes_ssd.safetensors" "$root/examples/shapes/shapes_002.jpg" --backend cpu)
declare -A wall cpu
timing=$(mktemp)
trap 'rm -f "$timing"' EXIT
for i in $(seq "$runs"); do
  for v in jit r2r; do
    dir=$([ $v = jit ] && echo "$jit" || echo "$r2r")
    /usr/bin/time -o "$timing" -f "%e %U %S" dotnet "$dir/ssd.dll" "${args[@]}" >/dev/null 2>&1
    read -r e u s < "$timing"
    wall[$v]+="$e "; cpu[$v]+="$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }') "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
if [ $# -ge 3 ]; then
  echo "Load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $runs alternating runs of each."
  echo "| build | median wall (s) | median CPU, user + sys (s) |"
  echo "| --- | ---: | ---: |"
  echo "| A: $2 | $(median <<<"${wall[jit]}") | $(median <<<"${cpu[jit]}") |"
  echo "| B: $3 | $(median <<<"${wall[r2r]}") | $(median <<<"${cpu[r2r]}") |"
  exit 0
fi
out="$root/bench/results/startup.md"
{
  echo "# ssd detect start-up: one image, JIT against ReadyToRun"
  echo
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), CPU family $(lscpu | sed -n 's/^CPU family: *//p'), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  echo "\`bash bench/startup.sh $runs\`: $runs alternating runs of \`ssd detect --model examples/shapes/shapes_ssd.safetensors examples/shapes/shapes_002.jpg --backend cpu\`."
  echo
  echo "| build | median wall (s) | median CPU, user + sys (s) |"
  echo "| --- | ---: | ---: |"
  for v in jit r2r; do
    echo "| $([ $v = jit ] && echo 'JIT (dotnet build)' || echo "ReadyToRun ($rid)") | $(median <<<"${wall[$v]}") | $(median <<<"${cpu[$v]}") |"
  done
} > "$out"
cat "$out"
