#!/usr/bin/python3
"""torch 1.13's SSD300 training step (forward, loss, backward, SGD update) at batch B on 2 threads, on the same model
and data as `ssd train` in run.sh: the train-step fixture's model.pth and four-image COCO set (batches in file order,
wrapping). Prints one JSON line: seconds per step (median of the timed steps after one warm-up)."""
import json
import os
import statistics
import sys
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "fixtures"))
import make_train_step_fixtures as m  # noqa: E402

batch, steps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(2)
model = m.build_model()
model.load_state_dict(torch.load(os.path.join(m.OUT, "model.pth")))
model.train()
opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
images, targets = [], []
for i, (w, h, objects) in enumerate(m.IMAGES):
    rgb = np.ascontiguousarray(cv2.imread(os.path.join(m.OUT, "images", f"img{i}.png"))[:, :, ::-1])
    images.append(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
    targets.append(m.coco_target(objects, w, h))
times = []
for s in range(steps + 1):
    idx = [(s * batch + k) % len(images) for k in range(batch)]
    t0 = time.perf_counter()
    losses = model([images[k] for k in idx], [targets[k] for k in idx])
    loss = losses["bbox_regression"] + losses["classification"]
    opt.zero_grad()
    loss.backward()
    opt.step()
    if s > 0:
        times.append(time.perf_counter() - t0)
print(json.dumps({"seconds_per_step": statistics.median(times), "steps": times}))
