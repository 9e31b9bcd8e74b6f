"""Writes the Python generator's held-out set (seed 1000, 200 images) to disk, for `ssd eval --model`: the set of the
earlier, torchvision-trained example model (examples/shapes/torchvision/; the bundled model, trained by `ssd train`
on the C# generator's images, is scored on `ssd datasets shapes --seed 1000 --count 200`).

The mAP in examples/shapes/torchvision/evaluation.json was measured by evaluate_example.py on the generated pixels themselves,
never encoded; `ssd eval` reads image files. This script writes those same images (as JPEG, quality 90 like
shapes_dataset.py, or losslessly as PNG) and their ground truth as a COCO instances JSON:

    DIR/images/shapes_000.jpg ...   the images, 300x300 RGB
    DIR/instances.json              {"images", "annotations", "categories"}: category ids 1..4 in CLASSES order,
                                    bbox [x, y, w, h] in pixels (the float32 boxes of make_sample), area = w * h,
                                    iscrowd 0; image ids 1..count

    ./ssd convert examples/shapes/torchvision/shapes_ssd.pth --classes-file examples/shapes/classes.txt -o tv.safetensors
    ./ssd eval --model tv.safetensors \
        --ground-truth coco:DIR/instances.json:DIR/images --metric voc2010

With --reference, it also runs the PyTorch checkpoint (torchvision's own SSD inference, as evaluate_example.py
does) on the images as cv2.imread decodes them from the written files, and writes DIR/reference.json: the
detections (COCO results format, image pixels) and evaluate_example.py's mAP of them, so that the effect of the
encoding on the mAP is measured apart from the engine.

Usage:  /usr/bin/python3 tools/example/export_heldout.py --out DIR [--count 200] [--seed 1000] [--ext jpg|png]
            [--reference examples/shapes/torchvision/shapes_ssd.pth]
"""
import argparse
import json
import os

import cv2
import numpy as np

import shapes_dataset as ds


def instances(count, seed, ext):
    images, annotations = [], []
    for i in range(count):
        _, boxes, labels = ds.make_sample(seed, i)
        images.append({"id": i + 1, "file_name": f"shapes_{i:03d}.{ext}", "width": ds.IMAGE_SIZE, "height": ds.IMAGE_SIZE})
        for b, l in zip(boxes.astype(np.float64), labels):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(l),
                                "bbox": [float(b[0]), float(b[1]), w, h], "area": w * h, "iscrowd": 0})
    categories = [{"id": c + 1, "name": name, "supercategory": "shape"} for c, name in enumerate(ds.CLASSES)]
    return {"info": {"description": f"shapes held-out set, seed {seed}", "generator": "tools/example/export_heldout.py"},
            "images": images, "annotations": annotations, "categories": categories}


def reference(checkpoint, out, gt, threads):
    import torch
    from evaluate_example import average_precision
    from train_example import build_model, to_tensor
    torch.set_num_threads(threads)
    model = build_model(1 + len(ds.CLASSES), 8)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu"))
    model.eval()
    results = []
    per_class_dets = {c: [] for c in range(1, len(ds.CLASSES) + 1)}
    per_class_gt = {c: {} for c in per_class_dets}
    by_image = {}
    for a in gt["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    with torch.no_grad():
        for img in gt["images"]:
            bgr = cv2.imread(os.path.join(out, "images", img["file_name"]), cv2.IMREAD_COLOR)
            o = model([to_tensor(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))])[0]
            for c in per_class_gt:
                per_class_gt[c][img["id"]] = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                                        a["bbox"][1] + a["bbox"][3]] for a in by_image.get(img["id"], [])
                                                       if a["category_id"] == c], np.float64).reshape(-1, 4)
            for box, score, label in zip(o["boxes"].numpy(), o["scores"].numpy(), o["labels"].numpy()):
                per_class_dets[int(label)].append((img["id"], float(score), box))
                x1, y1, x2, y2 = (float(v) for v in box)
                results.append({"image_id": img["id"], "category_id": int(label), "bbox": [x1, y1, x2 - x1, y2 - y1],
                                "score": float(score)})
    aps = {name: average_precision(per_class_dets[c], per_class_gt[c])[0] for c, name in enumerate(ds.CLASSES, 1)}
    return {"checkpoint": os.path.basename(checkpoint), "decoder": f"cv2.imread (OpenCV {cv2.__version__})",
            "metric": "evaluate_example.py average_precision (all-point, IoU >= 0.5, no +1)",
            "per_class": aps, "mAP": float(np.mean(list(aps.values()))), "detections": results}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=ds.EVAL_SEED)
    ap.add_argument("--ext", default="jpg", choices=["jpg", "png"])
    ap.add_argument("--reference", help="a PyTorch checkpoint (shapes_ssd.pth) to run on the written files")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    for i in range(args.count):
        img, _, _ = ds.make_sample(args.seed, i)
        path = os.path.join(args.out, "images", f"shapes_{i:03d}.{args.ext}")
        cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    gt = instances(args.count, args.seed, args.ext)
    with open(os.path.join(args.out, "instances.json"), "w") as f:
        json.dump(gt, f)
    print(f"{args.count} images and instances.json written to {args.out}")
    if args.reference:
        ref = reference(args.reference, args.out, gt, args.threads)
        with open(os.path.join(args.out, "reference.json"), "w") as f:
            json.dump(ref, f)
        print(f"reference mAP on the written files: {ref['mAP']:.4f}")


if __name__ == "__main__":
    main()
