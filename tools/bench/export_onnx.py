#!/usr/bin/python3
"""Exports the torchvision SSD300 peer's network (backbone + heads: the transformed [N, 3, 300, 300] input to the
raw bbox_regression / cls_logits head outputs) to ONNX with torch.onnx.export, for the ONNX Runtime rows of
bench/Ssd.Bench/PeerBenchmarks.cs. Same weights as every other peer row: the generated acceptance checkpoint.
Batch is a dynamic axis; opset 13 (ONNX Runtime 1.31 accepts 7 and up).
Run: /usr/bin/python3 tools/bench/export_onnx.py [--out PATH]
Writes out/bench/torchvision_ssd300_network.onnx (git-ignored) and checks that PyTorch's
own output on the fixture input matches the fixture's head outputs (so the export started from the right weights)."""
import argparse
import os
import sys
import time

import numpy as np
import torch

from torchvision_net import FIXTURE, ROOT, NetworkOnly, load_model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench", "torchvision_ssd300_network.onnx"))
    ap.add_argument("--opset", type=int, default=13)
    args = ap.parse_args()
    torch.set_num_threads(2)
    start = time.time()
    net = NetworkOnly(load_model())
    x = torch.from_numpy(np.fromfile(os.path.join(FIXTURE, "input.bin"), dtype="<f4").reshape(1, 3, 300, 300))
    with torch.no_grad():
        loc, conf = net(x)
    expected = np.fromfile(os.path.join(FIXTURE, "cls_logits.bin"), dtype="<f4").reshape(conf.shape)
    diff = float(np.abs(conf.numpy() - expected).max())
    if diff > 1e-3:
        print(f"the checkpoint does not reproduce the fixture's cls_logits (max |diff| {diff}); regenerate the fixture", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.onnx.export(net, x, args.out, opset_version=args.opset, input_names=["input"],
                      output_names=["bbox_regression", "cls_logits"],
                      dynamic_axes={"input": {0: "batch"}, "bbox_regression": {0: "batch"}, "cls_logits": {0: "batch"}})
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB, opset {args.opset}) in {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
