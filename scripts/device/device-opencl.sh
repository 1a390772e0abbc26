#!/usr/bin/env bash
# device-opencl.sh: the OpenCL backend's one-call script for the lent H100 (device tool `run`).
# NVIDIA's libnvidia-opencl.so.1 is installed there but not registered with the ICD loader, so
# OCL_ICD_VENDORS points at backends/opencl/icd/ (nvidia.icd names that library). In one call:
# builds libksa_opencl.so, test_backends, test_opencl, ksa-bench and (unless KSA_OCL_NO_CUDA=1) the
# CUDA plugin (cmake + ninja), runs the shared grid (tests/backends) and tests/opencl on the NVIDIA
# platform, then times the OpenCL backend against the CUDA backend with ksa-bench on standard
# shapes of bench/PERFORMANCE.md and writes the ratios.
#   scripts/device/device-opencl.sh [quick]     quick: tiny shapes (to try the script anywhere)
#   env: OUT (default ./out-opencl), KSA_BUILD (reuse a build dir), KSA_OCL_LIMIT (seconds, 400)
# Results under $OUT: summary.txt (read first), test.log, bench.jsonl, ratios.md, build.log,
# build-cuda.log.
# Carry .carry with the call (cmocka .debs for the tests when the machine lacks libcmocka).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/out-opencl}
BUILD=${KSA_BUILD:-$ROOT/build-opencl-dev}
LIMIT=${KSA_OCL_LIMIT:-400}
MODE=${1:-full}
. "$ROOT/scripts/device/device-common.sh"
ksa_device_summary "$OUT"

say "== environment ($MODE)"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  echo "libOpenCL: $(ls /usr/lib/x86_64-linux-gnu/libOpenCL.so* /usr/local/cuda/lib64/libOpenCL.so* 2>/dev/null | tr '\n' ' ')"
  echo "CL headers: $(ls -d /usr/include/CL /usr/local/cuda/include/CL 2>/dev/null | tr '\n' ' ')"
  echo "nvidia opencl: $(ldconfig -p 2>/dev/null | grep -o '/.*libnvidia-opencl.so.1' | head -1)"
  echo "git: $(cd "$ROOT" && git log --oneline -1 2>/dev/null || echo 'no git')"
} 2>&1 | tee -a "$SUM"

# NVIDIA's OpenCL through the repo's own ICD file (the library may sit outside the loader's path);
# without NVIDIA's library the loader's own registrations (PoCL, ...) stay in effect
if ldconfig -p 2>/dev/null | grep -q libnvidia-opencl.so.1; then
  export OCL_ICD_VENDORS=$ROOT/backends/opencl/icd
else
  lib=$(find /usr/lib /usr/local/nvidia /usr/lib64 -name 'libnvidia-opencl.so.1' 2>/dev/null | head -1)
  if [ -n "$lib" ]; then
    export LD_LIBRARY_PATH=$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export OCL_ICD_VENDORS=$ROOT/backends/opencl/icd
    say "nvidia opencl at $lib"
  fi
fi
say "OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-(unset: default vendors of the loader)}"
[ -d /usr/local/cuda ] && export CUDA_PATH=${CUDA_PATH:-/usr/local/cuda}

# cmocka for the tests: from .carry/cuda when the machine lacks it
if ksa_device_cmocka "$ROOT"; then
  say "cmocka unpacked from .carry/cuda"
fi
TESTS=ON
pkg-config --exists cmocka 2>/dev/null || { TESTS=OFF; say "no cmocka: test_opencl not built"; }

# ---------------------------------------------------------------- build
CUDA=ON
[ "${KSA_OCL_NO_CUDA:-0}" = 1 ] && CUDA=OFF
command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ] || CUDA=OFF
[ -x /usr/local/cuda/bin/nvcc ] && export PATH=/usr/local/cuda/bin:$PATH
targets="ksa_opencl ksa-bench"
[ "$TESTS" = ON ] && targets="$targets test_backends test_opencl"
say "== [$(elapsed) s] build ($targets; then ksa_cuda=$CUDA in the background while the tests run)"
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_OPENCL=ON -DKSA_WITH_CUDA=$CUDA \
    -DKSA_WITH_HIP=OFF -DKSA_BUILD_TESTS=$TESTS >"$OUT/build.log" 2>&1
fi
# shellcheck disable=SC2086
timeout "$(left 200)" ninja -C "$BUILD" -j"$(nproc)" $targets >>"$OUT/build.log" 2>&1
rc=$?
say "build rc=$rc at $(elapsed) s"
grep -E "ksa: (OPENCL|CUDA)" "$OUT/build.log" | tee -a "$SUM"
if [ $rc -ne 0 ]; then
  grep -E "FAILED:|error" "$OUT/build.log" | head -20 | tee -a "$SUM"
  [ -f "$BUILD/lib/libksa_opencl.so" ] || exit 1
fi
export KSA_PLUGIN_PATH=$BUILD/lib
export KSA_OPENCL_CACHE=/tmp/ksa-opencl-cache
BENCH=$BUILD/bin/ksa-bench
timeout 60 "$BENCH" --list-devices 2>&1 | tee -a "$SUM"
OCL=$("$BENCH" --list-devices 2>/dev/null | awk '/^opencl/ && /NVIDIA|H100|H200/ {print $1; exit}')
[ -z "$OCL" ] && OCL=$("$BENCH" --list-devices 2>/dev/null | awk '/^opencl/ {print $1; exit}')
if [ -z "$OCL" ]; then
  say "no OpenCL device; the plugin says:"
  KSA_LOG=1 timeout 60 "$BENCH" --list-devices 2>&1 | grep -i opencl | head -5 | tee -a "$SUM"
  exit 1
fi
say "OpenCL device under test: $OCL"
# the CUDA plugin builds meanwhile; the tests load plugins from a folder of their own (test_opencl
# links the core statically, so it never scans $BUILD/lib where libksa_cuda.so is being written)
mkdir -p /tmp/ksa-ocl-plugins && cp "$BUILD/lib/libksa_opencl.so" /tmp/ksa-ocl-plugins/
CUDA_PID=""
if [ "$CUDA" = ON ] && ninja -C "$BUILD" -t query ksa_cuda >/dev/null 2>&1; then
  timeout "$(left 120)" ninja -C "$BUILD" -j"$(nproc)" ksa_cuda >"$OUT/build-cuda.log" 2>&1 &
  CUDA_PID=$!
else
  say "no ksa_cuda target: OpenCL timings only"
fi

# ---------------------------------------------------------------- tests on the NVIDIA platform
if [ "$TESTS" = ON ] && [ -x "$BUILD/bin/test_opencl" ]; then
  say "== [$(elapsed) s] test_backends and test_opencl on $OCL"
  KSA_PLUGIN_PATH=/tmp/ksa-ocl-plugins KSA_TEST_DATA=$ROOT/tests/data timeout "$(left 60)" "$BUILD/bin/test_backends" --devices "$OCL" >"$OUT/test.log" 2>&1
  say "test_backends rc=$? at $(elapsed) s"
  KSA_PLUGIN_PATH=/tmp/ksa-ocl-plugins KSA_TEST_OPENCL_DEVICE=$OCL KSA_TEST_DATA=$ROOT/tests/data timeout "$(left 40)" "$BUILD/bin/test_opencl" >>"$OUT/test.log" 2>&1
  say "test_opencl rc=$? at $(elapsed) s"
  grep -E "^\[  (PASSED|FAILED)|^\[  FAILED  \]|ktest grid|FAIL |^PASS " "$OUT/test.log" | grep -v "splits=3" | head -20 | tee -a "$SUM"
fi

# ---------------------------------------------------------------- OpenCL vs CUDA timings
if [ -n "$CUDA_PID" ]; then
  wait "$CUDA_PID"
  say "ksa_cuda build rc=$? at $(elapsed) s"
  tail -3 "$OUT/build-cuda.log" >>"$OUT/build.log"
fi
devs=$OCL
"$BENCH" --list-devices 2>/dev/null | grep -q '^cuda:0' && devs="cuda:0,$OCL"
if [ "$MODE" = quick ]; then
  SH="--shape 1,512,512,8,2,64 --shape 4,1,2048,8,2,64 --repeats 3"
else
  SH="--shape 1,8192,8192,32,8,128 --shape 16,1,32768,32,8,128 --shape 64,1,32768,32,8,128 --repeats 7"
fi
b=$(left 15)
say "== [$(elapsed) s] ksa-bench on $devs ($b s)"
# shellcheck disable=SC2086
timeout $((b + 10)) "$BENCH" -v --device "$devs" $SH --dtype bf16 --no-probe --time-budget "$b" \
  --out "$OUT/bench.jsonl" 2>"$OUT/bench.err"
say "ksa-bench rc=$? at $(elapsed) s"
python3 - "$OUT/bench.jsonl" "$OCL" >"$OUT/ratios.md" 2>>"$OUT/bench.err" <<'EOF'
import json, sys
path, ocl = sys.argv[1], sys.argv[2]
rec = {}
for line in open(path):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("status") != "ok" or "median_ms" not in r:
        continue
    s = r["shape"]
    key = (r["mode"], r["phase"], r["dtype"], s["B"], s["Lq"], s["Lk"], s["Hq"], s["Hkv"], s["D"])
    rec.setdefault(key, {})[r["device"]] = r
print("| mode | phase | dtype | B | Lq | Lk | Hq/Hkv | D | cuda:0 ms | %s ms | OpenCL / CUDA time | OpenCL rate |" % ocl)
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for key in sorted(rec):
    d = rec[key]
    if ocl not in d:
        continue
    o = d[ocl]
    c = d.get("cuda:0")
    ratio = "%.1fx" % (o["median_ms"] / c["median_ms"]) if c else "-"
    rate = "%.2f %s" % (o.get("rate", 0), o.get("rate_unit", ""))
    m, ph, dt, B, Lq, Lk, Hq, Hkv, D = key
    print("| %s | %s | %s | %d | %d | %d | %d/%d | %d | %s | %.3f | %s | %s |" % (
        m, ph, dt, B, Lq, Lk, Hq, Hkv, D, "%.3f" % c["median_ms"] if c else "-", o["median_ms"], ratio, rate))
EOF
cat "$OUT/ratios.md" | tee -a "$SUM"
say "done at $(elapsed) s"
