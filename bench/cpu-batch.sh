#!/usr/bin/env bash
# SSD300 (torchvision weights) on the CPU backend: batch 1 against batch 8 end to end through `ssd bench`, in
# alternating rounds (b1 b8 b1 b8 ...) so both batch sizes see the same load; prints images/s per round, the medians,
# their ratio, the arenas the detector allocated and the process peak, with the machine named. Run it on an idle
# machine (results: bench/results/cpu-batch.md).
#   bench/cpu-batch.sh [MODEL]   (default out/bench/torchvision_ssd300.safetensors, written by bench/run-peers.sh;
#                                 SSD_BENCH_ROUNDS rounds, default 5; SSD_BENCH_BATCHES, default "1 8")
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
model=${1:-out/bench/torchvision_ssd300.safetensors}
rounds=${SSD_BENCH_ROUNDS:-5}
read -r -a batches <<< "${SSD_BENCH_BATCHES:-1 8}"
[ -f "$model" ] || { echo "cpu-batch: no model $model (bench/run-peers.sh converts it)" >&2; exit 2; }
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), CPU family $(lscpu | sed -n 's/^CPU family: *//p'), $(nproc) threads; load: $(cut -d' ' -f1-3 /proc/loadavg)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for r in $(seq 1 "$rounds"); do
  for b in "${batches[@]}"; do
    # The same number of images per run: 8 batches of 1 against 1 batch of 8.
    its=$(( 8 / b > 0 ? 8 / b : 1 ))
    ./ssd bench -m "$model" --backend cpu --batch "$b" --warmup 1 --iterations "$its" --json >> "$tmp/b$b.jsonl"
    tail -n 1 "$tmp/b$b.jsonl" | /usr/bin/python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); print(f"round '"$r"' batch {j[\"batch\"]}: {j[\"images_per_second\"]:.2f} img/s (pre {j[\"preprocess_ms\"]:.1f}, net {j[\"network_ms\"]:.1f}, post {j[\"postprocess_ms\"]:.1f} ms per batch), arena {j[\"arena_bytes\"]/2**20:.1f} MiB, peak {j[\"peak_working_set_bytes\"]/2**20:.0f} MiB")'
  done
done
/usr/bin/python3 - "$tmp" "${batches[@]}" <<'PY'
import json, statistics, sys
tmp, batches = sys.argv[1], sys.argv[2:]
med = {}
for b in batches:
    rows = [json.loads(l) for l in open(f"{tmp}/b{b}.jsonl")]
    med[b] = statistics.median(r["images_per_second"] for r in rows)
    print(f"batch {b}: median {med[b]:.2f} img/s over {len(rows)} rounds")
for b in batches[1:]:
    print(f"batch {b} / batch {batches[0]} images/s: {med[b] / med[batches[0]]:.2f}x")
PY
