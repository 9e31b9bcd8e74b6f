#!/usr/bin/env bash
# Issue 12's acceptance benchmark: SSD300-VGG16 at 1/8 width trained from scratch on 4,000 shapes images (COCO
# format, JPEG; `ssd datasets shapes --seed 1`) for MINUTES (12) on the CPU backend by `ssd train`, then the same
# network for the same time by torchvision (tools/example/train_example.py --threads 2, same JPEG files), both scored
# by `ssd eval` (VOC2010 all-point mAP@0.5) on 200 held-out images (seed 1000); torchvision's checkpoint is
# converted by `ssd convert` first. Writes bench/results/shapes-train.md (machine, load, mAP, images/s, commands).
#
#   bench/shapes-train/run.sh [WORK_DIR]            # default /tmp/ssd-shapes-train; MINUTES=12 RESULTS=... to change
#
# The two runs go back to back, ours first; run it on an idle machine (the load average is recorded before, between
# and after). Needs the tool built (dotnet build tools/Ssd.Cli -c Release) and Debian's python3-torch/torchvision/opencv.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-/tmp/ssd-shapes-train}"
minutes="${MINUTES:-12}"
results="${RESULTS:-$root/bench/results/shapes-train.md}"
dll="${SSD_DLL:-$root/tools/Ssd.Cli/bin/Release/net10.0/ssd.dll}"
[ -f "$dll" ] || dotnet build "$root/tools/Ssd.Cli" -c Release -nologo -v q
ssd=(dotnet "$dll")
# The recipe: train_example.py's own (AdamW 2e-3, weight decay 1e-4, batch 8, gradient norm clipped to 10, random
# horizontal flip, warm-up then cosine over the budget; its warm-up is 36 s, ~60 of our steps), so the two sides differ
# in throughput only. bench/results/shapes-train.md lists the recipes tried before.
batch="${BATCH:-8}"
recipe=(--batch "$batch" --optimizer adamw --lr 2e-3 --weight-decay 1e-4 --clip-grad-norm 10 --augment flip --warmup-steps 60 --schedule cosine)

mkdir -p "$work"
rm -rf "$work/ours" "$work/torchvision"
# KEEP_DATA=1 reuses the images of an earlier run in WORK_DIR (they are a pure function of the seed).
if [ "${KEEP_DATA:-0}" != 1 ] || [ ! -f "$work/train/instances.json" ] || [ ! -f "$work/heldout/instances.json" ]; then
  rm -rf "$work/train" "$work/heldout"
  "${ssd[@]}" datasets shapes --seed 1 --count 4000 --out "$work/train"
  "${ssd[@]}" datasets shapes --seed 1000 --count 200 --out "$work/heldout"
fi
train="coco:$work/train/instances.json:$work/train/images"
heldout="coco:$work/heldout/instances.json:$work/heldout/images"

ours_cmd=("${ssd[@]}" train --arch ssd300-vgg16 --width-divisor 8 --data "$train" --out "$work/ours" --max-minutes "$minutes" "${recipe[@]}" --backend cpu)
tv_cmd=(/usr/bin/python3 "$root/tools/example/train_example.py" --data "$train" --out "$work/torchvision/shapes_ssd.pth" --minutes "$minutes" --threads 2)

uptime > "$work/load.txt"
/usr/bin/time -v "${ours_cmd[@]}" > "$work/ours.log" 2> "$work/ours.err"
uptime >> "$work/load.txt"
mkdir -p "$work/torchvision"
/usr/bin/time -v "${tv_cmd[@]}" > "$work/torchvision.log" 2> "$work/torchvision.err"
uptime >> "$work/load.txt"

"${ssd[@]}" convert "$work/torchvision/shapes_ssd.pth" --classes-file "$root/examples/shapes/classes.txt" -o "$work/torchvision/shapes_ssd.safetensors"
"${ssd[@]}" eval --model "$work/ours/model.safetensors" --ground-truth "$heldout" --metric voc2010 --json "$work/ours-eval.json" --backend cpu
"${ssd[@]}" eval --model "$work/torchvision/shapes_ssd.safetensors" --ground-truth "$heldout" --metric voc2010 --json "$work/torchvision-eval.json" --backend cpu

/usr/bin/python3 - "$work" "$results" "$minutes" "${ours_cmd[*]}" "${tv_cmd[*]}" "$batch" <<'EOF'
import json, subprocess, sys
work, results, minutes, ours_cmd, tv_cmd = sys.argv[1:6]
batch = int(sys.argv[6])
lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
field = lambda name: next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith(name + ":")), "?")
log = [json.loads(l) for l in open(f"{work}/ours/log.jsonl")]
ours_steps = len(log)
import re
seconds = float(re.search(r"steps \(\d+ in this run, ([\d.]+) s", open(f"{work}/ours.log").read()).group(1))
ours_ips = ours_steps * batch / seconds
tv = json.load(open(f"{work}/torchvision/shapes_ssd.json"))
ours_map = json.load(open(f"{work}/ours-eval.json"))["mAP"]
tv_eval = json.load(open(f"{work}/torchvision-eval.json"))
tv_map = tv_eval["mAP"]
per_class_ours = json.load(open(f"{work}/ours-eval.json"))["per_class"]
per_class_tv = tv_eval["per_class"]
load = open(f"{work}/load.txt").read().strip().splitlines()
def ap(v): return v if isinstance(v, float) else v.get("ap", v.get("AP", 0.0))
rows = "\n".join(f"| {c} | {ap(per_class_ours[c]):.4f} | {ap(per_class_tv[c]):.4f} |" for c in per_class_ours)
text = f"""# Shapes: SSD300-VGG16 / 8 trained from scratch for {minutes} minutes, ours against torchvision

Machine: {field('Model name')}, CPU family {field('CPU family')}, {field('CPU(s)')} CPUs. Written by
`bench/shapes-train/run.sh` (ours first, then torchvision, back to back). Load average (uptime) before, between and
after the runs:

    {chr(10).join('    ' + l.strip() for l in load).strip()}

Data: 4,000 training images (`ssd datasets shapes --seed 1`, JPEG quality 90, COCO format) and 200 held-out images
(seed 1000), the same files for both. Score: `ssd eval --metric voc2010` (all-point mAP@0.5) of each model on the
held-out files (torchvision's checkpoint converted with `ssd convert`).

| | ours (`ssd train`, CPU backend) | torchvision (`train_example.py --threads 2`) |
|---|---:|---:|
| held-out mAP@0.5 (VOC2010) | **{ours_map:.4f}** | {tv_map:.4f} |
| optimizer steps (ours batch {batch}, torchvision batch {tv['batch']}) | {ours_steps} | {tv['train_steps']} |
| images seen | {ours_steps * batch} | {tv['train_images']} |
| training images/s (images seen / training time) | {ours_ips:.2f} | {tv['images_per_s']:.2f} |

| class | AP ours | AP torchvision |
|---|---:|---:|
{rows}

Commands:

    {ours_cmd}
    {tv_cmd}
"""
# Earlier runs' text is kept below this run's (its title line dropped).
import os
if os.path.exists(results):
    earlier = open(results).read().split("\n", 1)[-1].strip()
    text += "\n## Earlier runs\n\n" + earlier + "\n"
open(results, "w").write(text)
print(text)
EOF
