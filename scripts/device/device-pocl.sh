#!/usr/bin/env bash
# device-pocl.sh: the OpenCL backend on the lent machine's own OpenCL CPU driver (PoCL of its
# distribution, newer than Debian 12's) and on NVIDIA's OpenCL, in one device call. Builds the
# OpenCL plugin, test_backends and test_opencl (no CUDA), runs the standard grid (test_backends) on
# the CPU driver with the driver's work-group methods and several of the backend's configurations,
# to tell a driver's compiler problem from one of ours, then the grid and the whole test_opencl on
# every OpenCL device.
#   scripts/device/device-pocl.sh [quick]      quick: only the grid and test_opencl on the CPU driver
#   env: OUT (default ./out-pocl), KSA_BUILD (default ./build-pocl), KSA_POCL_LIMIT (seconds, 420)
# Results under $OUT: summary.txt (read first) and one log per run (the device tool returns 8 files:
# summary.txt first, the rest in a tarball when more are wanted). Carry .carry (cmocka .debs).
# Findings of 2026-11-28 (PoCL 5.0, two accumulator vectors per work-item): NOTES-opencl.md.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/out-pocl}
BUILD=${KSA_BUILD:-$ROOT/build-pocl}
LIMIT=${KSA_POCL_LIMIT:-420}
MODE=${1:-full}
. "$ROOT/scripts/device/device-common.sh"
ksa_device_summary "$OUT"

# the script studies the driver itself: ksa's driver rules (PoCL 4-5 left out, PoCL 6's two-vector
# workaround; backends/opencl/ocl_driver_quirks.h) are off unless the caller sets KSA_OPENCL_QUIRKS
export KSA_OPENCL_QUIRKS=${KSA_OPENCL_QUIRKS:-none}
ksa_device_cmocka "$ROOT" && say "cmocka unpacked from .carry/cuda"
# NVIDIA's OpenCL through the repo's ICD file (as bench/device-run.sh); the CPU driver stays visible
ldconfig -p 2>/dev/null | grep -q libnvidia-opencl.so.1 && export OCL_ICD_VENDORS=$ROOT/backends/opencl/icd
say "ICDs: $(ls /etc/OpenCL/vendors/ 2>/dev/null | tr '\n' ' '); OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-unset}"
say "pocl package: $(dpkg-query -W -f '${Package} ${Version}\n' 'pocl*' 'libpocl*' 2>/dev/null | tr '\n' ';')"
say "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_OPENCL=ON -DKSA_WITH_CUDA=OFF \
  -DKSA_WITH_HIP=OFF -DKSA_BUILD_TOOLS=ON >"$OUT/build.log" 2>&1 &&
  timeout "$(left 300)" ninja -C "$BUILD" -j"$(nproc)" ksa_opencl test_backends test_opencl ksa-info >>"$OUT/build.log" 2>&1
say "build rc=$? at $(elapsed) s"
[ -x "$BUILD/bin/test_opencl" ] || { tail -20 "$OUT/build.log" | tee -a "$SUM"; exit 1; }
export KSA_PLUGIN_PATH=$BUILD/lib KSA_TEST_DATA=$ROOT/tests/data CMOCKA_MESSAGE_OUTPUT=stdout
"$BUILD/bin/ksa-info" >"$OUT/ksa-info.txt" 2>&1
grep -E "^opencl|driver" "$OUT/ksa-info.txt" | head -8 | tee -a "$SUM"
CPU=$(grep -E '^ *opencl:[0-9.]+' "$OUT/ksa-info.txt" | grep -v -i nvidia | grep -o -E 'opencl:[0-9]+\.[0-9]+' | head -1)
GPU=$(grep -E '^ *opencl:[0-9.]+' "$OUT/ksa-info.txt" | grep -i nvidia | grep -o -E 'opencl:[0-9]+\.[0-9]+' | head -1)
say "CPU driver device: ${CPU:-none}; NVIDIA device: ${GPU:-none}"

# one_run NAME DEVICE CAP WHAT [VAR=VALUE ...]: WHAT (grid: test_backends, all: the grid and then
# test_opencl) on DEVICE with those variables, a fresh program cache
one_run() {
  local name=$1 dev=$2 cap=$3 what=$4
  shift 4
  [ "$(left 15)" -lt 20 ] && { say "$name: no time left"; return; }
  [ "$cap" -gt "$(left 15)" ] && cap=$(left 15)
  rm -rf /tmp/ksa-ocl-cache-run /tmp/pocl-cache-run
  env KSA_OPENCL_CACHE=/tmp/ksa-ocl-cache-run POCL_CACHE_DIR=/tmp/pocl-cache-run "$@" \
    timeout "$cap" "$BUILD/bin/test_backends" --devices "$dev" >"$OUT/$name.log" 2>&1
  local rc=$?
  if [ "$what" = all ]; then
    env KSA_OPENCL_CACHE=/tmp/ksa-ocl-cache-run POCL_CACHE_DIR=/tmp/pocl-cache-run KSA_TEST_OPENCL_DEVICE="$dev" "$@" \
      timeout "$cap" "$BUILD/bin/test_opencl" >>"$OUT/$name.log" 2>&1
    local rc2=$?
    [ $rc -eq 0 ] && rc=$rc2
  fi
  say "$(printf '%-26s rc=%-3s %3s failing cases  %s  (%s s)' "$name" "$rc" "$(grep -c '^FAIL \[' "$OUT/$name.log")" \
    "$(grep -E '^(PASS|FAIL) opencl|^\[  (PASSED|FAILED)  \] [0-9]' "$OUT/$name.log" | tr '\n' ' ')" "$(elapsed)")"
}

if [ -n "$CPU" ] && [ "$MODE" != quick ]; then
  one_run grid-default "$CPU" 90 grid
  one_run grid-default-again "$CPU" 90 grid
  for m in cbs loopvec loops; do one_run "grid-wg-$m" "$CPU" 90 grid POCL_WORK_GROUP_METHOD=$m; done
  one_run grid-no-fp16-ext "$CPU" 90 grid KSA_OPENCL_FP16=off
  for c in rows=16,tpr=8,block_k=64 rows=32,tpr=8,block_k=32 rows=32,tpr=4,block_k=64 rows=8,tpr=8,block_k=64 \
    rows=32,tpr=8,block_k=64; do
    one_run "grid-$(echo "$c" | tr '=,' '-_')" "$CPU" 90 grid KSA_TEST_CONFIG="$c,splits=1"
  done
  grep -h '^FAIL \[' "$OUT"/grid-default.log | head -4 | cut -c1-220 | tee -a "$SUM"
fi
[ -n "$GPU" ] && [ "$MODE" != quick ] && one_run all-nvidia "$GPU" 200 all
[ -n "$CPU" ] && one_run all-cpu-driver "$CPU" 200 all
grep -h "two-vector workaround" "$OUT"/all-*.log 2>/dev/null | tee -a "$SUM"
say "done at $(elapsed) s"
