#!/usr/bin/env bash
# install-deps.sh: install what ksa builds and tests with, when missing.
# 1. Debian 12 packages (needs root or sudo, and apt). KSA_WITH_HIP_PACKAGES=0 skips the (large)
#    HIP toolchain.
# 2. The Python test environment: NumPy, pytest and setuptools at the versions pinned in
#    python/requirements-test.txt, with pip, into a virtual environment of the clone, <source>/.venv
#    (KSA_PYTHON_VENV puts it elsewhere; CMake looks there first). A venv because Debian's python3
#    refuses pip installs into the system (PEP 668). KSA_SKIP_PYTHON=1 skips this part. torch is
#    not installed: the only Linux torch on the Python package index comes with its CUDA packages
#    (torch 2.11.0: 4.7 GB installed, 2026-11-30), the CPU-only wheels live on download.pytorch.org;
#    its tests skip, saying so, without it.
# 3. With nvcc (on PATH or in /usr/local/cuda/bin): CCCL 3.5 (the nvidia-cuda-cccl headers, pinned in
#    bench/cuda/requirements-cccl.txt) into the same venv, for ksa-topk-bench's CUB DeviceBatchedTopK
#    peer (CMake's KSA_WITH_CCCL_TOPK); the library itself builds with the toolkit's CCCL.
# Does nothing when everything is present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pkgs=(cmake ninja-build pkg-config gcc g++ make libcmocka-dev libhwloc-dev hwloc libjansson-dev
      ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo python3 python3-venv libdnnl-dev)
if [ "${KSA_WITH_HIP_PACKAGES:-1}" = 1 ]; then
  pkgs+=(hipcc libamdhip64-dev rocm-device-libs)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} Debian packages present"
else
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ "${KSA_SKIP_PYTHON:-0}" = 1 ] && exit 0
venv=${KSA_PYTHON_VENV:-$root/.venv}
req=$root/python/requirements-test.txt
reqs=("$req")
{ command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; } && reqs+=("$root/bench/cuda/requirements-cccl.txt")
# the pins that are not installed at exactly their version (all of them when the venv is missing)
pins_missing() {
  [ -x "$venv/bin/python" ] || { echo "no venv"; return; }
  "$venv/bin/python" - "${reqs[@]}" <<'PY'
import sys
from importlib import metadata
for line in (l for f in sys.argv[1:] for l in open(f)):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = None
    if have != want:
        print(f"{name} {have or 'absent'} (want {want})")
PY
}
todo=$(pins_missing)
if [ -z "$todo" ]; then
  echo "install-deps: Python test environment $venv up to date ($(cat "${reqs[@]}" | grep -c '==') pinned packages)"
  exit 0
fi
echo "install-deps: Python test environment $venv: ${todo//$'\n'/; }"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${reqs[@]/#/-r}"
todo=$(pins_missing)
[ -z "$todo" ] || { echo "install-deps: still wrong after pip: $todo" >&2; exit 1; }
echo "install-deps: Python test environment $venv ready"
