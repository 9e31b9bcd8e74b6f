#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine:
#  - PoCL (OpenCL on the CPU) and libOpenCL.so, for GPU-style kernels at real sizes;
#  - ptxas from CUDA 11.8 (Debian non-free nvidia-cuda-toolkit), extracted, not installed;
#  - the reference peers: python3-torch, python3-torchvision, python3-opencv, python3-protobuf, python3-pil (EXIF fixtures);
#  - the reference evaluators: pycocotools built from ../shared/reference/cocoapi into .tools/pycocotools
#    (needs cython3, python3-dev, gcc, python3-matplotlib); py-faster-rcnn's voc_eval.py is ported in the fixture script.
# Idempotent: safe to run again.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
root=$(cd "$(dirname "$0")/.." && pwd)
tools="${SSD_TOOLS_DIR:-$root/.tools}"

need=()
for p in pocl-opencl-icd ocl-icd-opencl-dev clinfo python3-numpy python3-torch python3-torchvision python3-opencv python3-protobuf python3-pil \
         cython3 python3-dev gcc python3-matplotlib; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ptxas 11.8: download the non-free package into a private apt state, unpack it under .tools/cuda.
if [ ! -x "$tools/cuda/usr/bin/ptxas" ]; then
  tmp=$(mktemp -d)
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tools"
  cat > "$tmp/sources.list" <<SRC
deb http://deb.debian.org/debian bookworm main contrib non-free
deb http://deb.debian.org/debian bookworm-updates main contrib non-free
SRC
  o=(-o Dir::Etc::sourcelist="$tmp/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o APT::Get::List-Cleanup=0)
  apt-get "${o[@]}" update -qq
  (cd "$tmp" && apt-get "${o[@]}" download nvidia-cuda-toolkit >/dev/null)
  dpkg -x "$tmp"/nvidia-cuda-toolkit_*.deb "$tools/cuda"
  rm -rf "$tmp"
fi
ptxas=$(find "$tools/cuda" -name ptxas -type f | head -n 1)
"$ptxas" --version | tail -n 1

# pycocotools (the COCO metric's reference) for /usr/bin/python3, built from the shared copy of cocoapi
# ($SSD_SHARED, else the shared/ folder beside the repository, else /work/shared).
shared="${SSD_SHARED:-$root/../shared}"
[ -d "$shared/reference" ] || shared=/work/shared
if ! PYTHONPATH="$tools/pycocotools" /usr/bin/python3 -c "import pycocotools._mask, pycocotools.cocoeval" 2>/dev/null; then
  bash "$shared/reference/build-pycocotools.sh" "$tools/pycocotools"
fi
