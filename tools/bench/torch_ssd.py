#!/usr/bin/python3
"""A persistent PyTorch 1.13 runner for the torchvision SSD300 peer, driven by bench/Ssd.Bench/PeerBenchmarks.cs
over stdin/stdout so that PyTorch's rows land in the same BenchmarkDotNet table as everything else.
torch.set_num_threads(2) (the machine's cores), no_grad, the generated acceptance checkpoint.

Protocol, one line each way:
  "ping"    -> "ok"   an empty round trip (the IPC overhead included in every other row of this peer)
  "net N"   -> "ok"   backbone + heads on a transformed [N, 3, 300, 300] batch (the fixture's input, repeated):
                      network only, like the other peers' network rows
  "e2e N"   -> "ok"   model([photo] * N): torchvision's own transform (resize, normalise), network,
                      postprocess_detections (decode + batched NMS) and the box rescale: end to end
  "quit"    -> exits
The runner prints "ready" once the model is loaded. Any error is answered "error: ..." on the same line.
Run by hand: /usr/bin/python3 tools/bench/torch_ssd.py, then type e.g. "net 1".
"""
import json
import os
import sys

import numpy as np
import torch

from line_protocol import serve
from torchvision_net import FIXTURE, NetworkOnly, load_model


def main():
    torch.set_num_threads(2)
    model = load_model()
    net = NetworkOnly(model)
    x1 = torch.from_numpy(np.fromfile(os.path.join(FIXTURE, "input.bin"), dtype="<f4").reshape(1, 3, 300, 300))
    with open(os.path.join(FIXTURE, "manifest.json")) as f:
        w, h = json.load(f)["image"]
    rgb = np.fromfile(os.path.join(FIXTURE, "photo_rgb.bin"), dtype=np.uint8).reshape(h, w, 3)
    photo = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    batches = {}

    def handle(parts):
        if parts[0] not in ("net", "e2e") or len(parts) != 2 or int(parts[1]) <= 0:
            raise ValueError(f"unknown command '{' '.join(parts)}': expected ping, net N, e2e N or quit")
        n = int(parts[1])
        with torch.no_grad():
            if parts[0] == "net":
                if n not in batches:
                    batches[n] = x1.repeat(n, 1, 1, 1).contiguous()
                net(batches[n])
            else:
                model([photo] * n)

    return serve(handle)


if __name__ == "__main__":
    sys.exit(main())
