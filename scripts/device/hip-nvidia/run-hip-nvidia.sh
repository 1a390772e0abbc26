#!/usr/bin/env bash
# run-hip-nvidia.sh: build the HIP plugin for HIP's NVIDIA platform (the same sources: the GPU
# layer's host glue backends/gpu/gpu_backend.c with the HIP runtime names, backends/hip/hip_vendor.c,
# the shared kernels backends/gpu/decode_topk.cu and the HIP kernels backends/hip/kh_*.hip, compiled
# by nvcc with -D__HIP_PLATFORM_NVIDIA__ against HIP's nvidia_detail headers) and run, on an NVIDIA
# GPU, the shared grid (tests/backends/test_backends) and the HIP backend's own cases
# (tests/hip/hip_ops_main.c) against the reference. Used on the lent H100/H200 machine, which has
# CUDA but no ROCm and no cmocka (unpacked from .carry/cuda, as the other device scripts do): the
# core library is built with CMake (tests off), the plugin and the two runners with nvcc / cc directly.
# The HIP headers are not in the repository: make them on a machine with Debian's libamdhip64-dev
#   python3 scripts/device/hip-nvidia/patch_hip_nvidia_headers.py /usr/include .carry/hip-nvidia/include
# (.carry/ is ignored by git; `carry` it to the device machine), then run
#   scripts/device/hip-nvidia/run-hip-nvidia.sh [HIP_INCLUDE_DIR]
# KSA_HIPNV_BUILD_ONLY=1 stops after building (to check the route on a machine without a GPU).
# Environment: KSA_CUDA_ARCH (default sm_90), KSA_BUILD_DIR (default build-hipnv), OUT (log copies).
set -euo pipefail
cd "$(dirname "$0")/../../.."
hipinc=${1:-.carry/hip-nvidia/include}
b=${KSA_BUILD_DIR:-build-hipnv}
arch=${KSA_CUDA_ARCH:-sm_90}
if [ ! -f "$hipinc/hip/nvidia_detail/nvidia_hip_runtime_api.h" ]; then
  echo "run-hip-nvidia: no HIP headers in $hipinc (see the comment at the top of this script)" >&2
  exit 2
fi
export PATH=/usr/local/cuda/bin:$PATH
# the test helpers link cmocka (its test filter): the lent machine lacks it, .carry/cuda has its Debian packages
. scripts/device/device-common.sh
ksa_device_cmocka "$PWD" && echo "== cmocka from .carry/cuda"
echo "== core library (CMake, tests off)"
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=OFF -DKSA_WITH_CUDA=OFF \
  -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF -DKSA_WITH_HWLOC=OFF -DKSA_WITH_JANSSON=OFF -DKSA_WITH_ONEDNN=OFF >/dev/null
cmake --build "$b" -j"$(nproc)" --target ksa_internal >/dev/null
mkdir -p "$b/lib" "$b/hipnv"
nvflags=(-D__HIP_PLATFORM_NVIDIA__ -isystem "$hipinc" -Ibackends/hip -Ibackends/gpu -Iinclude -Idispatch
         -arch="$arch" -O3 -std=c++17 -Xcompiler -fPIC,-fvisibility=hidden,-Wall -diag-suppress 2810,940)
echo "== HIP plugin for the NVIDIA platform ($arch): nvcc $(nvcc --version | tail -1)"
rm -f "$b"/hipnv/*.o
for src in backends/hip/kh_f32.hip backends/hip/kh_f16.hip backends/hip/kh_bf16.hip backends/gpu/decode_topk.cu; do
  nvcc "${nvflags[@]}" -x cu -c "$src" -o "$b/hipnv/$(basename "${src%.*}").o"
done
for src in backends/gpu/gpu_backend.c backends/hip/hip_vendor.c; do
  nvcc "${nvflags[@]}" -DKSA_GPU_RUNTIME_HIP -DKSA_HIP_ARCHS="\"$arch\"" -x cu -c "$src" -o "$b/hipnv/$(basename "${src%.*}").o"
done
nvcc -shared -arch="$arch" -o "$b/lib/libksa_hip.so" "$b"/hipnv/*.o -Xlinker --version-script=backends/hip/ksa_hip.map
for t in "hip_ops_main tests/hip/hip_ops_main.c tests/hip/hip_cases.c" "test_backends tests/backends/test_backends.c"; do
  set -- $t
  name=$1
  shift
  cc -std=c11 -O2 -Wall -Wextra -Iinclude -I. -Idispatch -Itests/common "$@" tests/common/test_util.c \
    tests/common/test_budget_table.c "$b/lib/libksa_internal.a" -lcmocka -lm -ldl -lpthread -o "$b/$name"
done
[ "${KSA_HIPNV_BUILD_ONLY:-0}" = 1 ] && { echo "== built (KSA_HIPNV_BUILD_ONLY=1)"; exit 0; }
echo "== the shared grid on hip:0 vs the reference"
status=0
KSA_PLUGIN_PATH="$PWD/$b/lib" "$b/test_backends" --devices hip:0 || status=1
echo "== the HIP backend's own cases vs the reference"
KSA_PLUGIN_PATH="$PWD/$b/lib" "$b/hip_ops_main" hip:0 || status=1
exit $status
