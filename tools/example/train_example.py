"""Trains the small SSD bundled as Ssd's example (examples/shapes/) on the synthetic shapes of shapes_dataset.py.

The network is torchvision's own SSD class built exactly like torchvision.models.detection.ssd300_vgg16 -- same
SSDFeatureExtractorVGG layout (VGG16 features up to conv4_3, L2Norm scale_weight, maxpool5 3x3/s1, atrous fc6,
fc7, conv8_2..conv11_2), same SSDHead, DefaultBoxGenerator, 300x300 input and image_mean/image_std -- but with every
channel count divided by --width-divisor (8 by default: VGG 8,8,M,16,16,M,32,32,32,M,64,64,64,M,64,64,64). Its
state_dict therefore has exactly ssd300_vgg16's keys (backbone.features.*, backbone.extra.*, backbone.scale_weight,
head.classification_head.module_list.N.*, head.regression_head.module_list.N.*) with smaller shapes, so every code
path that loads a torchvision SSD300 checkpoint also loads this one.

Usage:  /usr/bin/python3 tools/example/train_example.py --out examples/shapes/torchvision/shapes_ssd.pth [--minutes 20]
            [--data coco:INSTANCES.json:IMAGE_DIR [--classes A,B,C]] [--threads N]
By default it streams fresh images of shapes_dataset.py (seed --seed, index 0, 1, 2, ...). With --data it trains on
exactly the images of a COCO instances file instead (e.g. the JPEG files `ssd datasets shapes` writes), in file order,
wrapping at the end; the categories must be the shapes classes (matched by name), or those of --classes (how
bench/bccd-train/run.sh trains on BCCD). The loop is the same either way.
Writes OUT (torch.save zip state_dict), OUT with .json (class names, widths, training record) and classes.txt.
"""
import argparse
import json
import math
import os
import time
from collections import OrderedDict

import cv2
import numpy as np
import torch
from torch import nn
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD, SSDFeatureExtractorVGG, _xavier_init
from torchvision.models.vgg import make_layers

import shapes_dataset as ds

VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class SmallSSDFeatureExtractorVGG(SSDFeatureExtractorVGG):
    """SSDFeatureExtractorVGG (torchvision 0.14, SSD300 case) with all widths divided by `divisor`.

    torchvision hard-codes 512/1024/256/128 channels, so __init__ is re-stated here with the widths scaled; the
    module tree (and so every state_dict key) and forward() are torchvision's own.
    """

    def __init__(self, divisor: int):
        nn.Module.__init__(self)
        d = divisor
        backbone = make_layers([v if v == "M" else v // d for v in VGG16_CFG])
        # Same initialisation torchvision's VGG class gives its convolutions.
        for m in backbone.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)

        _, _, maxpool3_pos, maxpool4_pos, _ = (i for i, layer in enumerate(backbone) if isinstance(layer, nn.MaxPool2d))
        backbone[maxpool3_pos].ceil_mode = True  # 75 -> 38, as in the paper
        self.scale_weight = nn.Parameter(torch.ones(512 // d) * 20)
        self.features = nn.Sequential(*backbone[:maxpool4_pos])  # until conv4_3

        extra = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(1024 // d, 256 // d, kernel_size=1),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(256 // d, 512 // d, kernel_size=3, padding=1, stride=2),  # conv8_2
                    nn.ReLU(inplace=True),
                ),
                nn.Sequential(
                    nn.Conv2d(512 // d, 128 // d, kernel_size=1),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(128 // d, 256 // d, kernel_size=3, padding=1, stride=2),  # conv9_2
                    nn.ReLU(inplace=True),
                ),
                nn.Sequential(
                    nn.Conv2d(256 // d, 128 // d, kernel_size=1),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(128 // d, 256 // d, kernel_size=3),  # conv10_2
                    nn.ReLU(inplace=True),
                ),
                nn.Sequential(
                    nn.Conv2d(256 // d, 128 // d, kernel_size=1),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(128 // d, 256 // d, kernel_size=3),  # conv11_2
                    nn.ReLU(inplace=True),
                ),
            ]
        )
        _xavier_init(extra)
        fc = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=False),  # modified maxpool5
            nn.Conv2d(512 // d, 1024 // d, kernel_size=3, padding=6, dilation=6),  # fc6, atrous
            nn.ReLU(inplace=True),
            nn.Conv2d(1024 // d, 1024 // d, kernel_size=1),  # fc7
            nn.ReLU(inplace=True),
        )
        _xavier_init(fc)
        extra.insert(0, nn.Sequential(*backbone[maxpool4_pos:-1], fc))  # conv5_x (skipping maxpool5), fc6, fc7
        self.extra = extra
        self.out_channels = [512 // d, 1024 // d, 512 // d, 256 // d, 256 // d, 256 // d]


def build_model(num_classes: int, divisor: int = 8) -> SSD:
    """SSD exactly as ssd300_vgg16 builds it, around the reduced-width extractor. num_classes includes background."""
    backbone = SmallSSDFeatureExtractorVGG(divisor)
    anchor_generator = DefaultBoxGenerator(
        [[2], [2, 3], [2, 3], [2, 3], [2], [2]],
        scales=[0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05],
        steps=[8, 16, 32, 64, 100, 300],
    )
    return SSD(backbone, anchor_generator, (300, 300), num_classes,
               image_mean=[0.48235, 0.45882, 0.40784], image_std=[1.0 / 255.0, 1.0 / 255.0, 1.0 / 255.0])


def to_tensor(img):
    """HxWx3 uint8 RGB -> 3xHxW float in [0,1], what torchvision detection models take."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)


def augment(rng, img, boxes):
    """Random horizontal flip; shapes are symmetric enough that labels stay valid."""
    if rng.random() < 0.5:
        img = img[:, ::-1]
        boxes = boxes.copy()
        boxes[:, [0, 2]] = img.shape[1] - boxes[:, [2, 0]]
    return img, boxes


class CocoImages:
    """The images of a COCO instances file, decoded by cv2 (RGB), boxes xyxy pixels, labels 1-based in `classes` order."""

    def __init__(self, spec, classes):
        if not spec.startswith("coco:") or spec.count(":") < 2:
            raise SystemExit(f"--data {spec}: expected coco:INSTANCES.json:IMAGE_DIR")
        instances, image_dir = spec[len("coco:"):].split(":", 1)
        with open(instances) as f:
            coco = json.load(f)
        label_of = {}
        for c in coco["categories"]:
            if c["name"] not in classes:
                raise SystemExit(f"--data {spec}: category '{c['name']}' is not one of {classes}")
            label_of[c["id"]] = classes.index(c["name"]) + 1
        objects = {im["id"]: [] for im in coco["images"]}
        for a in coco["annotations"]:
            x, y, w, h = a["bbox"]
            objects[a["image_id"]].append(([x, y, x + w, y + h], label_of[a["category_id"]]))
        self.items = [(os.path.join(image_dir, im["file_name"]), objects[im["id"]]) for im in coco["images"]]
        if not self.items:
            raise SystemExit(f"--data {spec}: no images")

    def __len__(self):
        return len(self.items)

    def sample(self, i):
        path, objs = self.items[i % len(self.items)]
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"{path}: cannot read the image")
        boxes = np.array([b for b, _ in objs], np.float32).reshape(-1, 4)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), boxes, np.array([l for _, l in objs], np.int64)


def batch(seed, start, n, rng, data=None):
    images, targets = [], []
    for i in range(start, start + n):
        img, boxes, labels = ds.make_sample(seed, i) if data is None else data.sample(i)
        img, boxes = augment(rng, img, boxes)
        images.append(to_tensor(img))
        targets.append({"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels)})
    return images, targets


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="checkpoint path (.pth)")
    ap.add_argument("--minutes", type=float, default=20.0, help="wall-clock training budget")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--width-divisor", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=ds.TRAIN_SEED)
    ap.add_argument("--data", help="train on the images of coco:INSTANCES.json:IMAGE_DIR instead of fresh generated ones")
    ap.add_argument("--init", help="continue from this checkpoint (its .json says how many images it has seen)")
    ap.add_argument("--classes", help="with --data: the model's classes, comma-separated (default: the shapes' "
                    + ",".join(ds.CLASSES) + ")")
    args = ap.parse_args()
    classes = args.classes.split(",") if args.classes else ds.CLASSES

    torch.set_num_threads(args.threads)
    data = CocoImages(args.data, classes) if args.data else None
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model(1 + len(classes), args.width_divisor)
    n_params = sum(p.numel() for p in model.parameters())
    previous = {"train_seconds": 0.0, "train_steps": 0, "train_images": 0, "runs": []}
    if args.init:
        model.load_state_dict(torch.load(args.init, map_location="cpu"))
        with open(os.path.splitext(args.init)[0] + ".json") as f:
            init_meta = json.load(f)
        previous = {k: init_meta.get("total_" + k, init_meta[k]) for k in ("train_seconds", "train_steps",
                                                                          "train_images")}
        previous["runs"] = init_meta.get("runs", [{k: init_meta[k] for k in ("train_seconds", "lr")}])
        print(f"continuing from {args.init}: {previous}", flush=True)
    print(f"parameters: {n_params}", flush=True)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    budget = args.minutes * 60.0
    warmup = min(60.0, 0.05 * budget)
    t0 = time.time()
    step, seen, smooth = 0, 0, None
    first_index = previous["train_images"]  # a continued run sees fresh images
    model.train()
    while True:
        elapsed = time.time() - t0
        if elapsed >= budget:
            break
        # Linear warm-up, then cosine decay to 2% over the wall-clock budget (the run length is set in minutes).
        frac = elapsed / budget
        scale = elapsed / warmup if elapsed < warmup else 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = args.lr * scale
        images, targets = batch(args.seed, first_index + seen, args.batch, rng, data)
        losses = model(images, targets)
        loss = losses["bbox_regression"] + losses["classification"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        step += 1
        seen += args.batch
        smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
        if step % 20 == 0:
            print(f"step {step} images {seen} t {elapsed:.0f}s lr {args.lr * scale:.2e} loss {smooth:.3f} "
                  f"(reg {losses['bbox_regression'].item():.3f} cls {losses['classification'].item():.3f}) "
                  f"images/s {seen / max(time.time() - t0, 1e-9):.2f}",
                  flush=True)

    train_seconds = time.time() - t0
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    state = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    torch.save(state, args.out)  # zip format (torch >= 1.6 default)
    meta = {
        "classes": classes,
        "num_classes_with_background": 1 + len(classes),
        "architecture": "torchvision SSD300-VGG16 layout, channel widths / %d" % args.width_divisor,
        "width_divisor": args.width_divisor,
        "out_channels": model.backbone.out_channels,
        "parameters": n_params,
        "train_seconds": round(train_seconds, 1),
        "train_steps": step,
        "train_images": seen,
        "batch": args.batch,
        "lr": args.lr,
        "threads": args.threads,
        "data": args.data or f"shapes_dataset.py seed {args.seed}",
        "images_per_s": round(seen / train_seconds, 3),
        "final_smoothed_loss": round(smooth, 4) if smooth is not None else None,
        "runs": previous["runs"] + [{"train_seconds": round(train_seconds, 1), "lr": args.lr}],
        "total_train_seconds": round(previous["train_seconds"] + train_seconds, 1),
        "total_train_steps": previous["train_steps"] + step,
        "total_train_images": previous["train_images"] + seen,
        "torch": torch.__version__,
    }
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(meta, f, indent=2)
    with open(os.path.join(os.path.dirname(os.path.abspath(args.out)), "classes.txt"), "w") as f:
        f.write("\n".join(classes) + "\n")
    print(json.dumps(meta), flush=True)


if __name__ == "__main__":
    main()
