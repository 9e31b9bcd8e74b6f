#!/usr/bin/env bash
# Issue 12's BCCD comparison: SSD300-VGG16 at 1/8 width trained from scratch on the real BCCD set
# (../shared/datasets/BCCD, trainval: 292 blood-smear photos, 640x480, RBC / WBC / Platelets) for MINUTES (12) on the
# CPU backend by `ssd train`, then the same network for the same time by torchvision
# (tools/example/train_example.py --threads 2), the same recipe on both sides (bench/shapes-train/run.sh's: AdamW
# 2e-3, weight decay 1e-4, batch 8, gradient norm clipped to 10, random horizontal flips, warm-up then cosine over the
# budget). Both read the same COCO file, written here from BCCD's VOC annotations (coordinates - 1, as ssd.pytorch
# reads VOC; the two zero-area boxes left out), and both models are scored by `ssd eval` on BCCD's test split
# (72 images; VOC07 11-point and VOC2010 all-point mAP@0.5), torchvision's checkpoint converted by `ssd convert`.
# Writes bench/results/bccd-train.md (machine, load, mAP, images/s, commands; earlier runs kept below).
#
#   bench/bccd-train/run.sh [WORK_DIR]            # default /tmp/ssd-bccd-train; MINUTES=12 BCCD=... RESULTS=... to change
#
# The two runs go back to back, ours first; run it on an idle machine (the load average is recorded before, between
# and after). Needs the tool built (dotnet build tools/Ssd.Cli -c Release) and Debian's python3-torch/torchvision/opencv.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-/tmp/ssd-bccd-train}"
minutes="${MINUTES:-12}"
bccd="${BCCD:-$(cd "$root/../shared/datasets/BCCD" && pwd)}"
results="${RESULTS:-$root/bench/results/bccd-train.md}"
dll="${SSD_DLL:-$root/tools/Ssd.Cli/bin/Release/net10.0/ssd.dll}"
[ -f "$dll" ] || dotnet build "$root/tools/Ssd.Cli" -c Release -nologo -v q
ssd=(dotnet "$dll")
batch="${BATCH:-8}"
recipe=(--batch "$batch" --optimizer adamw --lr 2e-3 --weight-decay 1e-4 --clip-grad-norm 10 --augment flip --warmup-steps 60 --schedule cosine)
classes="RBC,WBC,Platelets"

mkdir -p "$work"
rm -rf "$work/ours" "$work/torchvision"
/usr/bin/python3 - "$bccd" "$work/trainval.json" "$classes" <<'PY'
import json, os, sys
import xml.etree.ElementTree as ET
bccd, out, classes = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
ids = open(os.path.join(bccd, "ImageSets", "Main", "trainval.txt")).read().split()
images, annotations, dropped = [], [], 0
for i, name in enumerate(ids, 1):
    root = ET.parse(os.path.join(bccd, "Annotations", name + ".xml")).getroot()
    size = root.find("size")
    w, h = int(size.find("width").text), int(size.find("height").text)
    images.append({"id": i, "file_name": name + ".jpg", "width": w, "height": h})
    for o in root.findall("object"):
        b = o.find("bndbox")
        x1, y1, x2, y2 = (float(b.find(k).text) - 1 for k in ("xmin", "ymin", "xmax", "ymax"))
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if x2 <= x1 or y2 <= y1:
            dropped += 1
            continue
        annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": classes.index(o.find("name").text) + 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
json.dump({"images": images, "annotations": annotations,
           "categories": [{"id": k + 1, "name": c} for k, c in enumerate(classes)]}, open(out, "w"))
print(f"{out}: {len(images)} images, {len(annotations)} boxes ({dropped} zero-area boxes left out)")
PY
printf '%s\n' RBC WBC Platelets > "$work/classes.txt"
train="coco:$work/trainval.json:$bccd/JPEGImages"
test="voc:$bccd:test"

ours_cmd=("${ssd[@]}" train --arch ssd300-vgg16 --width-divisor 8 --data "$train" --out "$work/ours" --max-minutes "$minutes" "${recipe[@]}" --backend cpu)
tv_cmd=(/usr/bin/python3 "$root/tools/example/train_example.py" --data "$train" --classes "$classes" --out "$work/torchvision/bccd_ssd.pth" --minutes "$minutes" --threads 2)

uptime > "$work/load.txt"
/usr/bin/time -v "${ours_cmd[@]}" > "$work/ours.log" 2> "$work/ours.err"
uptime >> "$work/load.txt"
mkdir -p "$work/torchvision"
/usr/bin/time -v "${tv_cmd[@]}" > "$work/torchvision.log" 2> "$work/torchvision.err"
uptime >> "$work/load.txt"

"${ssd[@]}" convert "$work/torchvision/bccd_ssd.pth" --classes-file "$work/classes.txt" -o "$work/torchvision/bccd_ssd.safetensors"
for side in ours torchvision; do
  model="$work/ours/model.safetensors"
  [ "$side" = torchvision ] && model="$work/torchvision/bccd_ssd.safetensors"
  for metric in voc07 voc2010; do
    "${ssd[@]}" eval --model "$model" --ground-truth "$test" --metric "$metric" --json "$work/$side-$metric.json" --backend cpu
  done
done

/usr/bin/python3 - "$work" "$results" "$minutes" "${ours_cmd[*]}" "${tv_cmd[*]}" "$batch" <<'PY'
import json, os, re, subprocess, sys
work, results, minutes, ours_cmd, tv_cmd = sys.argv[1:6]
batch = int(sys.argv[6])
lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
field = lambda name: next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith(name + ":")), "?")
ours_steps = sum(1 for _ in open(f"{work}/ours/log.jsonl"))
seconds = float(re.search(r"steps \(\d+ in this run, ([\d.]+) s", open(f"{work}/ours.log").read()).group(1))
tv = json.load(open(f"{work}/torchvision/bccd_ssd.json"))
score = {(s, m): json.load(open(f"{work}/{s}-{m}.json")) for s in ("ours", "torchvision") for m in ("voc07", "voc2010")}
load = open(f"{work}/load.txt").read().strip().splitlines()
def cells(metric):
    """The two mAPs, the higher in bold."""
    o, t = score["ours", metric]["mAP"], score["torchvision", metric]["mAP"]
    return " | ".join(f"**{v:.4f}**" if v == max(o, t) else f"{v:.4f}" for v in (o, t))
rows = "\n".join(f"| {c} | {score['ours', 'voc07']['per_class'][c]['AP']:.4f} | {score['torchvision', 'voc07']['per_class'][c]['AP']:.4f} |"
                 for c in score["ours", "voc07"]["per_class"])
text = f"""# BCCD: SSD300-VGG16 / 8 trained from scratch for {minutes} minutes, ours against torchvision

Machine: {field('Model name')}, CPU family {field('CPU family')}, model {field('Model')}, {field('CPU(s)')} CPUs. Written by
`bench/bccd-train/run.sh` (ours first, then torchvision, back to back). Load average (uptime) before, between and
after the runs:

    {chr(10).join('    ' + l.strip() for l in load).strip()}

Data: BCCD trainval (292 images, 640x480; RBC, WBC, Platelets), the same COCO file for both (VOC coordinates - 1, the
zero-area boxes left out). Score: `ssd eval` of each model on BCCD test (72 images), torchvision's checkpoint
converted with `ssd convert`. Same recipe on both sides: AdamW 2e-3, weight decay 1e-4, batch {batch}, gradient norm
clipped to 10, random horizontal flips, warm-up then cosine over the budget.

| | ours (`ssd train`, CPU backend) | torchvision (`train_example.py --threads 2`) |
|---|---:|---:|
| test mAP@0.5, VOC07 11-point | {cells('voc07')} |
| test mAP@0.5, VOC2010 all-point | {cells('voc2010')} |
| optimizer steps (batch {batch}) | {ours_steps} | {tv['train_steps']} |
| images seen | {ours_steps * batch} | {tv['train_images']} |
| training images/s (images seen / training time) | {ours_steps * batch / seconds:.2f} | {tv['images_per_s']:.2f} |

| class (VOC07 AP) | ours | torchvision |
|---|---:|---:|
{rows}

Commands:

    {ours_cmd}
    {tv_cmd}
"""
if os.path.exists(results):
    earlier = open(results).read().split("\n", 1)[-1].strip()
    text += "\n## Earlier runs\n\n" + earlier + "\n"
open(results, "w").write(text)
print(text)
PY
