#!/usr/bin/python3
"""Times the gradients of every SSD300 conv layer in PyTorch 1.13 on the CPU with 2 threads, at a training batch:
the best single call of N (after 2 warm-up calls) of the forward (conv2d + ReLU, the yardstick), of
torch.ops.aten.convolution_backward for dx alone, for dw and db, and for all three (what autograd runs for a conv layer whose input needs a gradient). The layers are
tools/bench/torch_conv_layers.py's (bench/Ssd.Bench/Ssd300ConvLayers.cs). The ReLU's mask is not included on either
side's dx/dw columns; `both` includes it here (torch's threshold_backward) as in Ssd.Bench's Backward.
Run: /usr/bin/python3 tools/bench/torch_conv_backward.py [--best-of N] [layer,layer,...|all] [batch]
The same columns as `dotnet run -c Release --project bench/Ssd.Bench -- conv-backward-best-of [layers] [batch] [N]`.
"""
import platform
import sys
import time

import torch

from torch_conv_layers import LAYERS


def machine():
    model, family = "?", "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("cpu family"):
                    family = line.split(":", 1)[1].strip()
                elif not line.strip():
                    break
    except OSError:
        pass
    return f"{model} (CPU family {family}), {platform.machine()}"


def best_call(fn, calls):
    for _ in range(2):
        fn()
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    args = sys.argv[1:]
    calls = 5
    if args and args[0] == "--best-of":
        calls, args = int(args[1]), args[2:]
    only = args[0].split(",") if args and args[0] != "all" else None
    batch = int(args[1]) if len(args) > 1 else 8
    torch.set_num_threads(2)
    torch.manual_seed(0)
    print(f"# {machine()}; torch {torch.__version__}, threads {torch.get_num_threads()}, batch {batch}, best of {calls}")
    print("layer,forward_ms,dx_ms,dw_ms,both_ms,gflops")
    total = 0.0
    backward = torch.ops.aten.convolution_backward
    for name, inc, size, outc, k, s, p, d in LAYERS:
        if only and name not in only:
            continue
        x = torch.rand(batch, inc, size, size)
        w = (torch.rand(outc, inc, k, k) - 0.5) * 0.1
        out = (size + 2 * p - d * (k - 1) - 1) // s + 1
        y = torch.rand(batch, outc, out, out) * 2 - 1
        dy = torch.rand(batch, outc, out, out) * 2 - 1
        args_ = ([outc], [s, s], [p, p], [d, d], False, [0, 0], 1)
        with torch.no_grad():
            tf = best_call(lambda: torch.relu_(torch.nn.functional.conv2d(x, w, None, s, p, d)), calls)
            tx = best_call(lambda: backward(dy, x, w, *args_, [True, False, False]), calls)
            tw = best_call(lambda: backward(dy, x, w, *args_, [False, True, True]), calls)
            both = best_call(lambda: backward(torch.ops.aten.threshold_backward(dy, y, 0), x, w, *args_, [True, True, True]), calls)
        flops = 2 * 2.0 * batch * outc * out * out * inc * k * k
        total += both
        print(f"{name},{tf * 1e3:.2f},{tx * 1e3:.2f},{tw * 1e3:.2f},{both * 1e3:.2f},{flops / both / 1e9:.1f}", flush=True)
    print(f"total,,,,{total * 1e3:.1f},")


if __name__ == "__main__":
    sys.exit(main())
