#!/usr/bin/python3
"""A persistent PyTorch 1.13 runner for the training parts benchmark (bench/Ssd.Bench/TrainingPartsBenchmarks.cs),
over stdin/stdout like torch_ssd.py, 2 threads.

Protocol, one line each way (the runner prints "ready" once set up):
  "ping"            -> "ok"  an empty round trip (the IPC overhead in every other row)
  "loss-tv N"       -> "ok"  torchvision 0.14's matching (box_iou + SSDMatcher per image) and SSD.compute_loss on an
                             SSD300 batch of N (8732 anchors, 91 classes), forward and backward
  "loss-sp N"       -> "ok"  ssd.pytorch's match + MultiBoxLoss (tools/fixtures/make_loss_fixtures.py's verbatim
                             statement), 21 classes, forward and backward
  "sgd" / "adamw"   -> "ok"  one torch.optim.SGD (momentum 0.9, weight decay 5e-4) / AdamW step over the
                             parameters of torchvision's ssd300_vgg16 (35.6 M floats), gradients set
  "quit"            -> exits
The ground truth is the same formula as the C# side (TrainingPartsBenchmarks.Objects): 6 objects per image.
"""
import os
import sys

import torch
import torchvision
from torchvision.ops import boxes as box_ops

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import make_loss_fixtures as mlf  # noqa: E402
from line_protocol import serve  # noqa: E402


def objects(n, scale):
    """Image i's objects: 6 boxes on a grid, sizes varying with i (the C# side computes the same)."""
    out = []
    for i in range(n):
        rows = []
        for k in range(6):
            x, y = 0.05 + 0.15 * k, 0.1 + 0.12 * ((k + i) % 5)
            w, h = 0.1 + 0.05 * ((k + 2 * i) % 4), 0.12 + 0.04 * ((3 * k + i) % 5)
            rows.append([x * scale, y * scale, min(x + w, 1.0) * scale, min(y + h, 1.0) * scale])
        out.append(torch.tensor(rows, dtype=torch.float32))
    return out


def labels(n, classes):
    return [torch.tensor([1 + (k * 7 + i) % (classes - 1) for k in range(6)], dtype=torch.int64) for i in range(n)]


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None, num_classes=91)
    params = [p for p in model.parameters()]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    sgd = torch.optim.SGD(params, lr=1e-3, momentum=0.9, weight_decay=5e-4)
    adamw = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2)
    _, anchors_all = mlf.torchvision_anchors(8)
    sp_priors = mlf.ssd_pytorch_priors()
    cache = {}

    def handle(parts):
        if parts[0] == "sgd":
            sgd.step()
        elif parts[0] == "adamw":
            adamw.step()
        elif parts[0] in ("loss-tv", "loss-sp") and len(parts) == 2 and 0 < int(parts[1]) <= 8:
            n = int(parts[1])
            key = (parts[0], n)
            if key not in cache:
                classes = 91 if parts[0] == "loss-tv" else 21
                cache[key] = (torch.randn(n, 8732, 4), torch.randn(n, 8732, classes) * 2,
                              objects(n, 300.0 if parts[0] == "loss-tv" else 1.0), labels(n, classes))
            loc0, conf0, boxes, labs = cache[key]
            loc, conf = loc0.clone().requires_grad_(), conf0.clone().requires_grad_()
            if parts[0] == "loss-tv":
                targets = [{"boxes": b, "labels": l} for b, l in zip(boxes, labs)]
                anchors = anchors_all[:n]
                matched = [model.proposal_matcher(box_ops.box_iou(t["boxes"], a)) for a, t in zip(anchors, targets)]
                losses = model.compute_loss(targets, {"bbox_regression": loc, "cls_logits": conf}, anchors, matched)
                (losses["bbox_regression"] + losses["classification"]).backward()
            else:
                targets = [torch.cat([b, (l - 1)[:, None].float()], 1) for b, l in zip(boxes, labs)]
                loss_l, loss_c, *_ = mlf.sp_loss(loc, conf, sp_priors, targets, 21)
                (loss_l + loss_c).backward()
        else:
            raise ValueError(f"unknown command '{' '.join(parts)}'")

    return serve(handle)


if __name__ == "__main__":
    sys.exit(main())
