"""mAP@0.5 of the bundled shapes SSD on a held-out synthetic set, using torchvision's own SSD inference.

AP is VOC-style (2010+): detections of a class over all images sorted by score, each matched greedily to the
best-overlapping still-unmatched ground-truth box of that class with IoU >= 0.5, AP = area under the precision
envelope over all recall points ("all-point interpolation").

Usage:  /usr/bin/python3 tools/example/evaluate_example.py --checkpoint examples/shapes/torchvision/shapes_ssd.pth \
            [--count 200] [--seed 1000] [--json out.json] [--preview DIR]
"""
import argparse
import json
import os
import time

import cv2
import numpy as np
import torch

import shapes_dataset as ds
from train_example import build_model, to_tensor


def iou_matrix(a, b):
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def average_precision(detections, ground_truth, iou_threshold=0.5):
    """detections: list of (image, score, box); ground_truth: {image: [N,4] boxes}. Returns (AP, n_gt)."""
    n_gt = sum(len(b) for b in ground_truth.values())
    if n_gt == 0:
        return float("nan"), 0
    used = {img: np.zeros(len(b), bool) for img, b in ground_truth.items()}
    detections = sorted(detections, key=lambda d: -d[1])
    tp = np.zeros(len(detections))
    for k, (img, _, box) in enumerate(detections):
        gt = ground_truth.get(img, np.zeros((0, 4)))
        if len(gt) == 0:
            continue
        ious = iou_matrix(np.asarray(box, np.float64)[None], gt)[0]
        j = int(np.argmax(ious))
        if ious[j] >= iou_threshold and not used[img][j]:
            used[img][j] = True
            tp[k] = 1
    ctp = np.cumsum(tp)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, len(detections) + 1)
    # All-point interpolation: make precision monotonically non-increasing, integrate over recall steps.
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1])), n_gt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=ds.EVAL_SEED)
    ap.add_argument("--width-divisor", type=int, default=8)
    ap.add_argument("--json", help="write the AP table here")
    ap.add_argument("--preview", help="directory for a few images with detections (score >= 0.5) drawn")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.seed == ds.TRAIN_SEED:
        raise SystemExit("the evaluation seed must differ from the training seed")

    torch.set_num_threads(args.threads)
    model = build_model(1 + len(ds.CLASSES), args.width_divisor)
    model.load_state_dict(torch.load(args.checkpoint, map_location="cpu"))
    model.eval()

    per_class_dets = {c: [] for c in range(1, len(ds.CLASSES) + 1)}
    per_class_gt = {c: {} for c in range(1, len(ds.CLASSES) + 1)}
    t0 = time.time()
    with torch.no_grad():
        for i in range(args.count):
            img, boxes, labels = ds.make_sample(args.seed, i)
            out = model([to_tensor(img)])[0]
            for c in per_class_gt:
                per_class_gt[c][i] = boxes[labels == c].astype(np.float64)
            for box, score, label in zip(out["boxes"].numpy(), out["scores"].numpy(), out["labels"].numpy()):
                per_class_dets[int(label)].append((i, float(score), box))
            if args.preview and i < 8:
                os.makedirs(args.preview, exist_ok=True)
                keep = out["scores"].numpy() >= 0.5
                drawn = ds.draw_boxes(img, out["boxes"].numpy()[keep], out["labels"].numpy()[keep],
                                      out["scores"].numpy()[keep])
                cv2.imwrite(os.path.join(args.preview, f"eval_{i:03d}.jpg"), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    seconds = time.time() - t0

    table = {}
    for c, name in enumerate(ds.CLASSES, start=1):
        ap_c, n_gt = average_precision(per_class_dets[c], per_class_gt[c])
        table[name] = {"ap50": round(ap_c, 4), "ground_truth": n_gt, "detections": len(per_class_dets[c])}
    mean_ap = float(np.mean([v["ap50"] for v in table.values()]))
    print(f"{'class':<10} {'AP@0.5':>7} {'GT':>5} {'dets':>6}")
    for name, v in table.items():
        print(f"{name:<10} {v['ap50']:>7.4f} {v['ground_truth']:>5} {v['detections']:>6}")
    print(f"{'mAP':<10} {mean_ap:>7.4f}   ({args.count} images, seed {args.seed}, {seconds:.1f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"checkpoint": os.path.basename(args.checkpoint), "images": args.count, "seed": args.seed,
                       "iou_threshold": 0.5, "interpolation": "all-point (VOC2010+)", "per_class": table,
                       "mAP": round(mean_ap, 4)}, f, indent=2)


if __name__ == "__main__":
    main()
