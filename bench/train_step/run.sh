#!/usr/bin/env bash
# One SSD300 training step (forward, loss, backward, update) at batch 8: the engine's CPU backend (`ssd train`) against
# torch 1.13 on 2 threads, same model (the train-step fixture's seeded torchvision ssd300_vgg16) and data (its
# four-image COCO set, file order), and the process peak memory of both (/usr/bin/time's maximum resident set).
# Needs the fixture: /usr/bin/python3 tools/fixtures/make_train_step_fixtures.py. Writes bench/train_step/results.md.
# Usage: bench/train_step/run.sh [BATCH=8] [STEPS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
BATCH=${1:-8}; STEPS=${2:-3}
FIX=tests/Ssd.Tests/Fixtures/generated/train_step/torchvision
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
dotnet build tools/Ssd.Cli -c Release -v q >/dev/null
SSD="dotnet tools/Ssd.Cli/bin/Release/net10.0/ssd.dll"
$SSD convert "$FIX/model.pth" -o "$WORK/model.safetensors" >/dev/null
/usr/bin/time -f "%M" -o "$WORK/ssd.mem" $SSD train --model "$WORK/model.safetensors" --data "coco:$FIX/instances.json:$FIX/images" \
    --out "$WORK/run" --batch "$BATCH" --steps $((STEPS + 1)) --lr 1e-4 --augment none --no-shuffle --backend cpu 2>/dev/null >/dev/null
# images_per_s of every step after the first (warm-up), as seconds per step.
SSD_S=$(/usr/bin/python3 -c "import json,statistics,sys; r=[json.loads(l) for l in open('$WORK/run/log.jsonl')][1:]; print(statistics.median($BATCH / x['images_per_s'] for x in r))")
/usr/bin/time -f "%M" -o "$WORK/torch.mem" /usr/bin/python3 bench/train_step/torch_step.py "$BATCH" "$STEPS" > "$WORK/torch.json"
TORCH_S=$(/usr/bin/python3 -c "import json; print(json.load(open('$WORK/torch.json'))['seconds_per_step'])")
MODEL=$(lscpu | sed -n 's/^Model name: *//p'); FAMILY=$(lscpu | sed -n 's/^CPU family: *//p')
{
  echo "# SSD300 training step, batch $BATCH, CPU"
  echo
  echo "Machine: $MODEL (CPU family $FAMILY), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ). Median of $STEPS steps after one warm-up."
  echo
  echo "| | s / step | peak RSS (MiB) |"
  echo "|---|---|---|"
  echo "| ssd train (CPU backend) | $(printf %.2f "$SSD_S") | $(( $(cat "$WORK/ssd.mem") / 1024 )) |"
  echo "| torch 1.13, 2 threads | $(printf %.2f "$TORCH_S") | $(( $(cat "$WORK/torch.mem") / 1024 )) |"
  echo
  echo "Ratio engine / torch: $(/usr/bin/python3 -c "print(f'{$SSD_S / $TORCH_S:.2f}')") (the issue asks for at most 0.6)."
} > bench/train_step/results.md
cat bench/train_step/results.md
