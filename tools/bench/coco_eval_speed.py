#!/usr/bin/python3
"""Speed of `ssd eval --detections` against pycocotools on the same COCO val2017-sized files, in the same run.

Makes a seeded synthetic set shaped like COCO val2017 (5,000 images, COCO's 80 category ids 1..90 with their gaps,
about 7.3 objects per image with `area` unlike w*h and 1 % crowd regions) and 100 detections per image (500,000:
jittered true positives and false positives), then times, on those files:
  - pycocotools: COCO(instances) + loadRes + evaluate + accumulate + summarize (each step timed), one run;
  - Ssd: the whole `ssd eval --detections results.json --ground-truth coco:instances.json --metric coco` process
    (start-up, JSON parsing, evaluation, report), --runs times, the median.
Checks that the 12 statistics agree within 1e-9 and writes a markdown table naming the machine (lscpu model name and
CPU family) to --out.

Usage:  /usr/bin/python3 tools/bench/coco_eval_speed.py [--pycocotools .tools/pycocotools] [--work /tmp/ssd-eval-bench]
            [--images 5000] [--per-image 100] [--runs 3] [--out bench/results/eval-speed.md]
Run on an idle machine; bench/eval-speed.sh wraps it.
"""
import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]


def make_set(work, n_images, per_image, seed=2017):
    rng = np.random.default_rng(seed)
    images, annotations, results = [], [], []
    ann_id = 1
    for i in range(n_images):
        image_id = int(rng.integers(1, 600_000)) * n_images + i  # unique, not sequential
        w_img, h_img = int(rng.integers(320, 641)), int(rng.integers(240, 481))
        images.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": w_img, "height": h_img})
        gts = []
        for _ in range(int(rng.poisson(7.3))):
            cat = int(rng.choice(COCO_IDS))
            w = float(np.exp(rng.uniform(np.log(4), np.log(w_img * 0.9))))
            h = float(np.clip(w * rng.uniform(0.4, 2.5), 3, h_img - 1))
            x, y = float(rng.uniform(0, w_img - w)), float(rng.uniform(0, h_img - h))
            crowd = int(rng.random() < 0.01)
            annotations.append({"id": ann_id, "image_id": image_id, "category_id": cat, "bbox": [x, y, w, h],
                                "area": w * h * float(rng.uniform(0.4, 1.0)), "iscrowd": crowd})
            ann_id += 1
            gts.append((cat, x, y, w, h))
        dets = []
        for cat, x, y, w, h in gts:
            for _ in range(int(rng.integers(1, 4))):
                dx, dy, dw, dh = rng.normal(0, 0.12, 4)
                dets.append((cat, x + dx * w, y + dy * h, w * np.exp(dw), h * np.exp(dh), float(rng.uniform(0.3, 1.0))))
        while len(dets) < per_image:
            w = float(np.exp(rng.uniform(np.log(4), np.log(w_img * 0.9))))
            h = float(np.clip(w * rng.uniform(0.4, 2.5), 3, h_img))
            dets.append((int(rng.choice(COCO_IDS)), float(rng.uniform(0, w_img - w)), float(rng.uniform(0, max(h_img - h, 1))), w, h,
                         float(rng.uniform(0.0, 0.6))))
        for cat, x, y, w, h, s in dets[:per_image]:
            results.append({"image_id": image_id, "category_id": cat, "bbox": [round(float(x), 2), round(float(y), 2), round(float(w), 2), round(float(h), 2)],
                            "score": round(s, 5)})
    gt = {"images": images, "annotations": annotations, "categories": [{"id": c, "name": f"class{c}"} for c in COCO_IDS]}
    os.makedirs(work, exist_ok=True)
    gt_path, res_path = os.path.join(work, "instances.json"), os.path.join(work, "results.json")
    with open(gt_path, "w") as f:
        json.dump(gt, f)
    with open(res_path, "w") as f:
        json.dump(results, f)
    return gt_path, res_path, len(annotations), len(results)


def run_pycocotools(gt_path, res_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    times = {}
    with contextlib.redirect_stdout(io.StringIO()):
        t = time.perf_counter(); gt = COCO(gt_path); times["load ground truth"] = time.perf_counter() - t
        t = time.perf_counter(); dt = gt.loadRes(res_path); times["loadRes"] = time.perf_counter() - t
        ev = COCOeval(gt, dt, "bbox")
        t = time.perf_counter(); ev.evaluate(); times["evaluate"] = time.perf_counter() - t
        t = time.perf_counter(); ev.accumulate(); times["accumulate"] = time.perf_counter() - t
        t = time.perf_counter(); ev.summarize(); times["summarize"] = time.perf_counter() - t
    return list(map(float, ev.stats)), times


def run_ssd(gt_path, res_path, work, runs):
    out = os.path.join(work, "ssd.json")
    cmd = [os.path.join(ROOT, "ssd"), "eval", "--detections", res_path, "--ground-truth", f"coco:{gt_path}", "--metric", "coco", "--json", out]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # builds the CLI if needed; not timed
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
    with open(out) as f:
        r = json.load(f)
    keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    return [r[k] for k in keys], walls


def machine():
    model, family = platform.processor() or "unknown", "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("CPU family:"):
                family = line.split(":", 1)[1].strip()
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return model, family, os.cpu_count(), load


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pycocotools", default=os.environ.get("SSD_PYCOCOTOOLS", os.path.join(ROOT, ".tools", "pycocotools")))
    ap.add_argument("--work", default="/tmp/ssd-eval-bench")
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--per-image", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "eval-speed.md"))
    args = ap.parse_args()
    sys.path.insert(0, args.pycocotools)

    gt_path, res_path, n_ann, n_det = make_set(args.work, args.images, args.per_image)
    print(f"{args.images} images, {n_ann} objects, {n_det} detections in {args.work}", flush=True)
    model, family, cores, load_before = machine()
    ssd_stats, walls = run_ssd(gt_path, res_path, args.work, args.runs)
    print(f"ssd eval: {', '.join(f'{w:.2f}' for w in walls)} s", flush=True)
    ref_stats, times = run_pycocotools(gt_path, res_path)
    total = sum(times.values())
    print(f"pycocotools: {total:.1f} s ({', '.join(f'{k} {v:.1f}' for k, v in times.items())})", flush=True)
    diff = max(abs(a - b) for a, b in zip(ssd_stats, ref_stats))
    ssd = statistics.median(walls)
    _, _, _, load_after = machine()

    lines = [
        "# `ssd eval` against pycocotools: COCO val2017-sized scoring",
        "",
        f"Machine: {model} (CPU family {family}), {cores} logical CPUs; load average {load_before:.1f} before, {load_after:.1f} after.",
        f"Files: `tools/bench/coco_eval_speed.py` (seeded): {args.images} images, {n_ann} objects, 80 categories (COCO's ids),",
        f"{n_det} detections ({args.per_image} per image), COCO results format.",
        "",
        "| | seconds | |",
        "|---|---:|---|",
        f"| pycocotools (Debian python3 {platform.python_version()}, numpy {np.__version__}) | {total:.2f} | "
        + ", ".join(f"{k} {v:.2f}" for k, v in times.items()) + " |",
        f"| `ssd eval --detections` (whole process, median of {args.runs}) | {ssd:.2f} | runs: {', '.join(f'{w:.2f}' for w in walls)} |",
        f"| **ratio** | **{total / ssd:.1f}x** | |",
        "",
        f"Largest difference of the 12 statistics: {diff:.2e} (AP {ref_stats[0]:.6f}, AP50 {ref_stats[1]:.6f}, AR100 {ref_stats[8]:.6f}).",
        "",
    ]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    if diff > 1e-9:
        print("the statistics differ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
