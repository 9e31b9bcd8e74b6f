#!/usr/bin/env bash
# Times `ssd eval --detections` against pycocotools on the same COCO val2017-sized files (5,000 images, 500,000
# detections) in one run and writes bench/results/eval-speed.md. Needs pycocotools built into .tools/pycocotools
# (.ci/install-deps.sh does it). Run it on an idle machine: pycocotools alone takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 tools/bench/coco_eval_speed.py "$@"
