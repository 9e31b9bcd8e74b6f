#!/usr/bin/python3
"""Issue 11's update-bound investigation (t11d), by hand, not in CI: torchvision's train-step fixture run again in
torch float64 (model.double(), the same weights and images) and in float32 with channels_last weights, each run's
per-step updates saved as NPZ, and the near-ties of every max pool's windows in step 1's forward counted.

    /usr/bin/python3 tools/analysis/train_step_precision.py f64|f32|f32cl OUT_DIR   # one run (f64: ~10x f32's time)
    /usr/bin/python3 tools/analysis/train_step_precision.py ties                    # pool windows with near-equal maxima
Needs the fixture of tools/fixtures/make_train_step_fixtures.py (its model.pth and images). Compare runs with numpy:
rel = |a - b| / |b| per tensor and step (the NPZ keys are "step{s}|{tensor}").
"""
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as Fn
import cv2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import make_train_step_fixtures as F  # noqa: E402

OUT = F.OUT
def data():
    tensors, targets = [], []
    for i, (w, h, objects) in enumerate(F.IMAGES):
        bgr = cv2.imread(os.path.join(OUT, "images", f"img{i}.png"))
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        tensors.append(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
        targets.append(F.coco_target(objects, w, h))
    return tensors, targets

def run(dtype, threads, channels_last=False):
    torch.set_num_threads(threads)
    tensors, targets = data()
    model = F.build_model()
    model.load_state_dict(torch.load(os.path.join(OUT, "model.pth")))
    model = model.to(dtype)
    if channels_last: model = model.to(memory_format=torch.channels_last)
    tensors = [t.to(dtype) for t in tensors]
    targets = [{"boxes": t["boxes"].to(dtype), "labels": t["labels"]} for t in targets]
    model.train()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.SGD([p for _, p in named], lr=F.LR, momentum=F.MOMENTUM, weight_decay=F.WEIGHT_DECAY)
    res = {}
    for s in range(F.STEPS):
        batch = [(s * F.BATCH + k) % 4 for k in range(F.BATCH)]
        imgs = [tensors[k] for k in batch]
        losses = model(imgs, [targets[k] for k in batch])
        loss = losses["bbox_regression"] + losses["classification"]
        before = {n: p.detach().clone() for n, p in named}
        opt.zero_grad(); loss.backward(); opt.step()
        for n, p in named:
            res[f"step{s+1}/{n}"] = (p.detach() - before[n]).double().numpy().copy()
        res[f"loss{s+1}"] = (losses["bbox_regression"].item(), losses["classification"].item())
        print(dtype, threads, channels_last, s+1, res[f"loss{s+1}"], flush=True)
    return res

def ties():
    tensors, targets = data()
    model = F.build_model()
    model.load_state_dict(torch.load(os.path.join(OUT, "model.pth")))
    model.train()
    stats = []

    def hook(m, inp, out):
        x = inp[0].detach()
        k, s, p = (v if isinstance(v, int) else v[0] for v in (m.kernel_size, m.stride, m.padding))
        u = Fn.pad(x, (p, p + k, p, p + k), value=-float("inf")).unfold(2, k, s).unfold(3, k, s)
        oh, ow = out.shape[2], out.shape[3]
        top2 = u[:, :, :oh, :ow].reshape(*u.shape[:2], oh, ow, -1).topk(2, dim=-1).values
        a, b = top2[..., 0], top2[..., 1]
        pos = a > 0
        stats.append((str(m), tuple(x.shape), int(pos.sum()), int(((a == b) & pos).sum()), int((((a - b) <= 1e-6 * a.abs()) & pos).sum())))
    for m in model.modules():
        if isinstance(m, nn.MaxPool2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model([tensors[0], tensors[1]], [targets[0], targets[1]])
    for name, shape, active, exact, near in stats:
        print(f"{name} on {shape}: {active} active windows, {exact} with two equal maxima, {near} within 1e-6 relative")


if __name__ == "__main__":
    torch.set_num_threads(2)
    if sys.argv[1] == "ties":
        sys.exit(ties())
    tag, out = sys.argv[1], sys.argv[2]
    cfg = {"f32": (torch.float32, 2, False), "f64": (torch.float64, 2, False), "f32cl": (torch.float32, 2, True)}[tag]
    t = time.time()
    r = run(*cfg)
    os.makedirs(out, exist_ok=True)
    np.savez(os.path.join(out, f"{tag}.npz"), **{k.replace("/", "|"): np.asarray(v) for k, v in r.items() if k.startswith("step")})
    print(tag, f"{time.time() - t:.0f} s")
