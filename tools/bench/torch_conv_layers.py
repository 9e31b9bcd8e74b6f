#!/usr/bin/python3
"""Times every SSD300 conv layer (VGG-16 base + extras, batch 1, 300x300, ReLU fused as in our CPU backend) in
PyTorch on the CPU with 2 threads, for the table in bench/results/cpu-conv.md.
The layers mirror bench/Ssd.Bench/Ssd300ConvLayers.cs. Run: /usr/bin/python3 tools/bench/torch_conv_layers.py
Prints: layer, best-of-runs milliseconds, GFLOP/s (2 FLOP per multiply-add). The machine is shared: each layer is
timed in a few short rounds and the best round is kept.
`--best-of N [layer,layer,...]` instead keeps the best single call of N (after 2 warm-up calls), for only the listed
layers: the load-tolerant mode that matches `Ssd.Bench -- conv-best-of` (bench/results/cpu-conv.md)."""
import sys
import time

import torch

LAYERS = [  # name, inC, size, outC, kernel, stride, pad, dilation
    ("conv1_1", 3, 300, 64, 3, 1, 1, 1), ("conv1_2", 64, 300, 64, 3, 1, 1, 1),
    ("conv2_1", 64, 150, 128, 3, 1, 1, 1), ("conv2_2", 128, 150, 128, 3, 1, 1, 1),
    ("conv3_1", 128, 75, 256, 3, 1, 1, 1), ("conv3_2", 256, 75, 256, 3, 1, 1, 1), ("conv3_3", 256, 75, 256, 3, 1, 1, 1),
    ("conv4_1", 256, 38, 512, 3, 1, 1, 1), ("conv4_2", 512, 38, 512, 3, 1, 1, 1), ("conv4_3", 512, 38, 512, 3, 1, 1, 1),
    ("conv5_1", 512, 19, 512, 3, 1, 1, 1), ("conv5_2", 512, 19, 512, 3, 1, 1, 1), ("conv5_3", 512, 19, 512, 3, 1, 1, 1),
    ("fc6", 512, 19, 1024, 3, 1, 6, 6), ("fc7", 1024, 19, 1024, 1, 1, 0, 1),
    ("conv8_1", 1024, 19, 256, 1, 1, 0, 1), ("conv8_2", 256, 19, 512, 3, 2, 1, 1),
    ("conv9_1", 512, 10, 128, 1, 1, 0, 1), ("conv9_2", 128, 10, 256, 3, 2, 1, 1),
    ("conv10_1", 256, 5, 128, 1, 1, 0, 1), ("conv10_2", 128, 5, 256, 3, 1, 0, 1),
    ("conv11_1", 256, 3, 128, 1, 1, 0, 1), ("conv11_2", 128, 3, 256, 3, 1, 0, 1),
]


def time_layer(conv, x, rounds=5, budget_s=0.25):
    with torch.no_grad():
        for _ in range(2):
            torch.relu_(conv(x))
        best = float("inf")
        for _ in range(rounds):
            n, start = 0, time.perf_counter()
            while True:
                torch.relu_(conv(x))
                n += 1
                elapsed = time.perf_counter() - start
                if elapsed >= budget_s:
                    break
            best = min(best, elapsed / n)
    return best


def best_call(conv, x, calls):
    with torch.no_grad():
        for _ in range(2):
            torch.relu_(conv(x))
        best = float("inf")
        for _ in range(calls):
            start = time.perf_counter()
            torch.relu_(conv(x))
            best = min(best, time.perf_counter() - start)
    return best


def main():
    best_of = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--best-of" else 0
    only = sys.argv[3].split(",") if best_of and len(sys.argv) > 3 else None
    torch.set_num_threads(2)
    torch.manual_seed(0)
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, mkldnn {torch.backends.mkldnn.is_available()}")
    print("layer,ms,gflops")
    total = 0.0
    for name, inc, size, outc, k, s, p, d in LAYERS:
        if only and name not in only:
            continue
        conv = torch.nn.Conv2d(inc, outc, k, stride=s, padding=p, dilation=d).eval()
        x = torch.rand(1, inc, size, size)
        out = (size + 2 * p - d * (k - 1) - 1) // s + 1
        flops = 2.0 * outc * out * out * inc * k * k
        sec = best_call(conv, x, best_of) if best_of else time_layer(conv, x)
        total += sec
        print(f"{name},{sec * 1e3:.3f},{flops / sec / 1e9:.1f}", flush=True)
    print(f"total,{total * 1e3:.2f},")


if __name__ == "__main__":
    sys.exit(main())
