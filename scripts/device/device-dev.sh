#!/usr/bin/env bash
# device-dev.sh: the CUDA backend's one-call script for the lent H100/H200 (device tool): builds the
# plugin, its tests (the shared grid test_backends, and tests/cuda's extras) and ksa-cuda-bench
# (cmake + ninja, CUDA on, OpenCL/HIP off), runs the tests, compute-sanitizer memcheck + racecheck
# on a small grid, and the P1-P6 timing points with the PyTorch SDPA (cuDNN) peer
# (bench/cuda/peer_sdpa.py) in the same call. Logs go under $OUT (default ./out-cuda).
#   scripts/device/device-dev.sh [test] [asan] [sanitize] [sanitize-wide] [bench] [variants] [quick]
#   (none named: test sanitize bench; sanitize-wide adds initcheck, synccheck and a racecheck over
#   every quick test_cuda case and the whole shared grid, ~280 s: run it on any kernel change)
# The device image has no cmocka (needed by the tests): fetch it here once with
#   mkdir -p .carry/cuda && (cd .carry/cuda && apt-get download libcmocka0 libcmocka-dev)
# and name .carry/cuda in the run's carry list; the script unpacks it under /tmp/cmocka.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/out-cuda}
mkdir -p "$OUT"
BUILD=${KSA_CUDA_BUILD:-$ROOT/build-cuda-dev}
stages="$*"
[ -z "$stages" ] && stages="test sanitize bench"
has() { case " $stages " in *" $1 "*) return 0 ;; esac; return 1; }
QUICK=""
has quick && QUICK="--quick"

{ nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv; nvcc --version | tail -1; } >"$OUT/summary.txt" 2>&1

. "$ROOT/scripts/device/device-common.sh"
if ksa_device_cmocka "$ROOT"; then
  echo "cmocka from .carry/cuda" >>"$OUT/summary.txt"
fi

t0=$(date +%s)
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKSA_WITH_CUDA=ON -DKSA_WITH_OPENCL=OFF \
  -DKSA_WITH_HIP=OFF -DKSA_BUILD_TOOLS=ON >"$OUT/build.log" 2>&1 &&
  ninja -C "$BUILD" -j16 ksa_cuda test_backends test_cuda test_cuda_graph ksa_cuda_bench >>"$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $(($(date +%s) - t0)) s" >>"$OUT/summary.txt"
if [ $rc -ne 0 ]; then tail -40 "$OUT/build.log"; cat "$OUT/summary.txt"; exit 1; fi
export KSA_PLUGIN_PATH=$BUILD/lib

if has test; then
  t0=$(date +%s)
  for t in "test_backends --devices cuda" test_cuda test_cuda_graph; do
    # shellcheck disable=SC2086
    timeout 400 "$BUILD/bin/"$t >>"$OUT/test.log" 2>&1
    rc=$?
    echo "$t rc=$rc ($(($(date +%s) - t0)) s)" >>"$OUT/summary.txt"
    if [ $rc -ge 128 ]; then # a crash: run again under the ASan runtime for a stack trace
      # shellcheck disable=SC2086
      ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=0 LD_PRELOAD=$(gcc -print-file-name=libasan.so) \
        timeout 400 "$BUILD/bin/"$t >"$OUT/test-asan.log" 2>&1
      grep -A30 "ERROR: AddressSanitizer" "$OUT/test-asan.log" | head -40 >>"$OUT/summary.txt"
    fi
  done
  grep -E "FAIL|PASS|PASSED|FAILED|SKIPPED|SKIP|grid on|step:" "$OUT/test.log" | head -60 >>"$OUT/summary.txt"
fi

if has asan; then # the whole tree (host code) under AddressSanitizer + UBSan, the GPU tests on the device
  t0=$(date +%s)
  cmake -S "$ROOT" -B "$BUILD-asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKSA_SANITIZE=ON -DKSA_WITH_CUDA=ON \
    -DKSA_WITH_OPENCL=OFF -DKSA_WITH_HIP=OFF -DKSA_BUILD_TOOLS=OFF >"$OUT/asan.log" 2>&1 &&
    ninja -C "$BUILD-asan" -j16 ksa_cuda test_backends test_cuda >>"$OUT/asan.log" 2>&1
  echo "asan build rc=$? ($(($(date +%s) - t0)) s)" >>"$OUT/summary.txt"
  for t in "test_backends --devices cuda" test_cuda; do
    # shellcheck disable=SC2086
    KSA_PLUGIN_PATH=$BUILD-asan/lib ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=0 timeout 400 "$BUILD-asan/bin/"$t >>"$OUT/asan.log" 2>&1
    echo "$t under asan rc=$? ($(($(date +%s) - t0)) s)" >>"$OUT/summary.txt"
  done
  grep -A30 "ERROR: AddressSanitizer\|runtime error" "$OUT/asan.log" | head -40 >>"$OUT/summary.txt"
fi

if has sanitize; then
  t0=$(date +%s)
  # the shared grid (CI-sized, head_dim 128) and the backend's own cases, as one log per tool
  sanitize_noted() { echo "compute-sanitizer $1 $2 rc=$3 ($(($(date +%s) - t0)) s): $4" >>"$OUT/summary.txt"; }
  ksa_cuda_sanitize "$BUILD" "$OUT" 150 sanitize_noted
fi
if has sanitize-wide; then
  t0=$(date +%s)
  sanitize_wide_noted() { echo "compute-sanitizer $1 $2 rc=$3 ($(($(date +%s) - t0)) s): $4" >>"$OUT/summary.txt"; }
  ksa_cuda_sanitize_wide "$BUILD" "$OUT" 150 sanitize_wide_noted
fi

if has bench; then
  t0=$(date +%s)
  timeout 300 python3 "$ROOT/bench/cuda/peer_sdpa.py" $QUICK >"$OUT/peer.jsonl" 2>>"$OUT/bench.err"
  echo "peer rc=$? ($(($(date +%s) - t0)) s)" >>"$OUT/summary.txt"
  for dt in ${KSA_BENCH_DTYPES:-f16 bf16}; do
    only=""
    [ $dt = bf16 ] && only="--only prefill"
    timeout 300 "$BUILD/bin/ksa-cuda-bench" $QUICK --dtype $dt $only >>"$OUT/bench.jsonl" 2>>"$OUT/bench.err"
    echo "bench $dt rc=$? ($(($(date +%s) - t0)) s)" >>"$OUT/summary.txt"
  done
fi
if has variants; then # configuration variants (the tunables the autotuner also sees)
  t0=$(date +%s)
  timeout 200 "$BUILD/bin/ksa-cuda-bench" $QUICK --only prefill --config warps=4 >>"$OUT/bench.jsonl" 2>>"$OUT/bench.err"
  timeout 200 "$BUILD/bin/ksa-cuda-bench" $QUICK --only decode --config decode_stages=2 >>"$OUT/bench.jsonl" 2>>"$OUT/bench.err"
  echo "variants done ($(($(date +%s) - t0)) s)" >>"$OUT/summary.txt"
fi
if has bench || has variants; then
  cat "$OUT/peer.jsonl" "$OUT/bench.jsonl" >>"$OUT/summary.txt"
  tail -5 "$OUT/bench.err" >>"$OUT/summary.txt"
fi
cat "$OUT/summary.txt"
