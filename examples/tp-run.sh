#!/usr/bin/env bash
# tp-run.sh: the tensor-parallel example (examples/tp_torch.py) in one call on the lent 2-GPU
# machine (device kind nvidia-h200-x2): builds ksa with CUDA into $KSA_TP_BUILD (default
# ./build-device; ninja skips what is up to date, tests and tools are not built), then runs the
# example on 2 GPUs over NCCL with its default shapes (8 Llama-3.1-8B layers, prefill B1 L32768
# and decode B16 Lk32768, Hq32/Hkv8 D128 bf16): every layer's gathered output against the same
# layers on one GPU, the index sets likewise, a KSA_CHECK pass against the reference, and the
# median time per layer on 1 and 2 GPUs.
#
#   OUT=$OUT bash examples/tp-run.sh [more tp_torch.py options, e.g. --iters 20]
#
# Results under $OUT: tp_torch.txt (the run's output: the per-layer tables and PASS/FAIL),
# tp_torch.jsonl (one record per layer and phase, plus totals), env.txt (GPUs, NVLink topology,
# torch/NCCL versions), build.log. Exit status: the example's (0 pass, 1 a check failed, 77 skipped).
# NVLink multicast stays off (NCCL_NVLS_ENABLE=0, TORCH_SYMM_MEM_DISABLE_MULTICAST=1): the lent
# machines' rules forbid it.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/out-tp}
BUILD=${KSA_TP_BUILD:-$ROOT/build-device}
LIMIT=${KSA_TP_LIMIT:-420} # seconds for the example itself
EXTRA_CMAKE=${KSA_TP_CMAKE_ARGS:-} # e.g. -DKSA_WITH_CUDA=OFF, with --cpu, to try the script without a GPU
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 PYTHONUNBUFFERED=1
. "$ROOT/scripts/device/device-common.sh" # ksa_device_cuda_env
mkdir -p "$OUT"

{
  nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader
  nvidia-smi topo -m
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "nccl", ".".join(map(str, torch.cuda.nccl.version())))'
  echo "git: $(cd "$ROOT" && git log --oneline -1 2>/dev/null || echo 'no git')"
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

ksa_device_cuda_env # CUDA_PATH and nvcc on PATH
start=$(date +%s)
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=ON -DKSA_WITH_HIP=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=OFF $EXTRA_CMAKE >"$OUT/build.log" 2>&1 &&
  ninja -C "$BUILD" -j"$(nproc)" >>"$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $(($(date +%s) - start)) s ($(grep -E '^-- ksa: (CUDA|cuda)' "$OUT/build.log" | head -2 | tr '\n' ' '))"
if [ $rc -ne 0 ] || [ ! -f "$BUILD/lib/libksa.so" ]; then
  echo "tp-run: the build failed; last lines of build.log:"
  tail -20 "$OUT/build.log"
  exit 1
fi
[ -f "$BUILD/lib/libksa_cuda.so" ] || echo "tp-run: no libksa_cuda.so was built (see build.log): only --cpu can run"

cd "$ROOT"
PYTHONPATH=$ROOT/python KSA_LIBRARY=$BUILD/lib/libksa.so KSA_PLUGIN_PATH=$BUILD/lib \
  timeout "$LIMIT" python3 examples/tp_torch.py --build "$BUILD" --out "$OUT" "$@" 2>&1 | tee "$OUT/tp_torch.txt"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 124 ] && echo "tp-run: the example ran past ${LIMIT} s (KSA_TP_LIMIT)" | tee -a "$OUT/tp_torch.txt"
echo "tp-run: exit $rc in $(($(date +%s) - start)) s"
exit "$rc"
