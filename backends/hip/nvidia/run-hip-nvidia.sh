#!/usr/bin/env bash
# run-hip-nvidia.sh: build the HIP backend for HIP's NVIDIA platform (the same kernel and host-glue
# sources, compiled by nvcc with -D__HIP_PLATFORM_NVIDIA__ against HIP's nvidia_detail headers) and
# run its op cases against the reference on an NVIDIA GPU. Used on the lent H100 machine, which has
# CUDA but no ROCm and no cmocka: the core library is built with CMake (tests off), the plugin and
# the standalone runner (tests/hip/hip_ops_main.c) with nvcc / cc directly.
# The HIP headers are not in the repository: make them on a machine with Debian's libamdhip64-dev
#   python3 backends/hip/nvidia/patch_hip_nvidia_headers.py /usr/include .carry/hip-nvidia/include
# (.carry/ is ignored by git; `carry` it to the device machine), then run
#   backends/hip/nvidia/run-hip-nvidia.sh [HIP_INCLUDE_DIR]
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
echo "== core library (CMake, tests off)"
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=OFF -DKSA_WITH_CUDA=OFF \
  -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF -DKSA_WITH_HWLOC=OFF -DKSA_WITH_JANSSON=OFF -DKSA_WITH_ONEDNN=OFF >/dev/null
cmake --build "$b" -j"$(nproc)" --target ksa_internal >/dev/null
mkdir -p "$b/lib" "$b/hipnv"
nvflags=(-D__HIP_PLATFORM_NVIDIA__ -isystem "$hipinc" -Ibackends/hip -Ibackends/cuda -Iinclude -Idispatch
         -arch="$arch" -O3 -std=c++17 -Xcompiler -fPIC,-fvisibility=hidden,-Wall -diag-suppress 2810,940)
echo "== HIP plugin for the NVIDIA platform ($arch): nvcc $(nvcc --version | tail -1)"
for dt in f32 f16 bf16; do
  nvcc "${nvflags[@]}" -x cu -c "backends/hip/kh_$dt.hip" -o "$b/hipnv/kh_$dt.o"
done
nvcc "${nvflags[@]}" -DKSA_HIP_ARCHS="\"$arch\"" -x cu -c backends/hip/ksa_hip_plugin.c -o "$b/hipnv/ksa_hip_plugin.o"
nvcc -shared -arch="$arch" -o "$b/lib/libksa_hip.so" "$b"/hipnv/*.o -Xlinker --version-script=backends/hip/ksa_hip.map
cc -std=c11 -O2 -Wall -Wextra -Iinclude -I. -Idispatch -Itests/common tests/hip/hip_ops_main.c tests/hip/hip_cases.c \
  tests/common/test_util.c "$b/lib/libksa_internal.a" -lm -ldl -lpthread -o "$b/hip_ops_main"
echo "== HIP op cases vs the reference"
KSA_PLUGIN_PATH="$PWD/$b/lib" "$b/hip_ops_main" hip:0
