#!/usr/bin/env bash
# Reproduces bench/results/ssd300-peers.md: SSD300 / SSD512 against ONNX Runtime, OpenCV DNN and PyTorch in one
# BenchmarkDotNet run, then the per-layer table and peak memory of our CPU backend.
# Needs the generated acceptance fixtures (tools/fixtures/make_torchvision_acceptance.py, make_caffe_acceptance.py)
# and, for OpenCV's native runtime, Debian's libgtk-3-0. Writes out/bench/ (git-ignored); takes ~10 minutes on 2 cores.
# Narrow it with SSD_BENCH_PEERS / SSD_BENCH_MODELS / SSD_BENCH_BATCHES (see bench/Ssd.Bench/PeerBenchmarks.cs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=out/bench
mkdir -p "$out"
rm -f "$out/convert.txt" "$out/memory.jsonl"
gen=tests/Ssd.Tests/Fixtures/generated
[ -f "$out/torchvision_ssd300_network.onnx" ] || /usr/bin/python3 tools/bench/export_onnx.py
uptime | tee "$out/load.txt"
dotnet build bench/Ssd.Bench -c Release -nologo -v quiet -clp:ErrorsOnly
(cd "$out" && dotnet "$root/bench/Ssd.Bench/bin/Release/net10.0/Ssd.Bench.dll" --filter '*PeerBenchmarks*' --artifacts "$root/$out/bdn") | tee "$out/peers.log"
uptime | tee -a "$out/load.txt"
# Conversion time of the CLI (process start included) and our per-layer table + peak memory for each model.
for m in torchvision_ssd300 caffe_ssd300 caffe_ssd512; do
  case $m in
    torchvision_ssd300) args=("$gen/$m/model.pth") ;;
    *) args=("$gen/$m/model.caffemodel" --prototxt "$gen/$m/deploy.prototxt" --mean 104,117,123) ;;
  esac
  /usr/bin/time -f "$m: ssd convert %e s wall, peak %M KB" ./ssd convert "${args[@]}" -o "$out/$m.safetensors" 2>&1 | tail -n 1 | tee -a "$out/convert.txt"
done
# % of peak against the FP32 peak measured by FmaPeakBenchmarks on an idle machine (bench/results/cpu-conv.md);
# SSD_PEAK_GFLOPS overrides it, SSD_PEAK_GFLOPS=measure measures it now (unreliable while other work runs).
peak=(--peak "${SSD_PEAK_GFLOPS:-217.6}"); [ "${SSD_PEAK_GFLOPS:-}" = measure ] && peak=()
./ssd bench -m "$out/torchvision_ssd300.safetensors" --backend cpu --warmup 1 --iterations 5 --layers "${peak[@]}" | tee "$out/layers-torchvision_ssd300.md"
for m in torchvision_ssd300 caffe_ssd300 caffe_ssd512; do
  for b in 1 8; do ./ssd bench -m "$out/$m.safetensors" --backend cpu --batch $b --warmup 0 --iterations 1 --json | tee -a "$out/memory.jsonl"; done
done
echo "BenchmarkDotNet's table: $out/bdn/results/Ssd.Bench.PeerBenchmarks-report-github.md"
