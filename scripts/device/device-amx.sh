#!/usr/bin/env bash
# device-amx.sh: the CPU backend's one-call script for the lent machine's AMX Xeon (device tool).
# Builds libksa with the cpu backend, its tests and ksa-cpu-bench (CUDA, HIP and OpenCL off to
# save time), runs the shared grid on cpu (test_backends: the default level, amx here) and tests/cpu
# (which walks KSA_CPU_ISA through the lower levels itself), the AMX rate probes (--probe), then
# ksa-cpu-bench at the amx level (and avx512 with "all"), interleaved A/B rounds of the settings the
# built-in choices depend on, torch CPU SDPA and the oneDNN attention baseline on the same shape
# in the same call (P7: dense bf16 causal prefill B1 Hq32 Hkv8 D128 L4096, also as % of the probes;
# P8: reuse decode gathered bytes vs measured memcpy bandwidth). Logs and JSON go under $OUT.
#   scripts/device/device-amx.sh [quick] [all]
#   scripts/device/device-amx.sh sanitize: only CI's two sanitizer runs of the README test command
#   (AddressSanitizer + UBSan with -LE slow, ThreadSanitizer with -L threads) on this CPU, whose
#   default level is amx: CI's machine has no AMX, so that level runs under them only here (~250 s).
# Carry .carry/cuda (cmocka .debs) with the call when the machine lacks libcmocka, and .carry/dnnl
# (Debian's libdnnl2 + libdnnl-dev: mkdir -p .carry/dnnl && (cd .carry/dnnl && apt-get download
# libdnnl2 libdnnl-dev)) for the oneDNN matmul probe and baseline.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/out-cpu}
mkdir -p "$OUT"
BUILD=${KSA_CPU_BUILD:-$ROOT/build-cpu-dev}
QUICK=""
[ "${1:-}" = "quick" ] && QUICK="--quick"
SUM=$OUT/summary.txt
. "$ROOT/scripts/device/device-common.sh" # say (appends to $SUM), ksa_device_cmocka
t0=$(date +%s)

say "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc) logical"
say "flags: amx_bf16=$(grep -c -m1 amx_bf16 /proc/cpuinfo) avx512_bf16=$(grep -c -m1 avx512_bf16 /proc/cpuinfo) avx512_fp16=$(grep -c -m1 avx512_fp16 /proc/cpuinfo)"
say "gcc: $(gcc --version | head -1)"
say "git: $(cd "$ROOT" && git log --oneline -1 2>/dev/null || echo 'no git')"

if ksa_device_cmocka "$ROOT"; then
  say "cmocka from .carry/cuda"
fi
if ksa_device_onednn "$ROOT"; then
  say "oneDNN from .carry/dnnl"
fi
if [ "${1:-}" = "sanitize" ]; then
  KSA_SKIP_DEPS=1 KSA_TEST_JOBS=8 KSA_SANITIZE_BUILD_PREFIX=$BUILD timeout 600 bash "$ROOT/scripts/test-sanitizers.sh" \
    >"$OUT/sanitize.log" 2>&1
  rc=$?
  say "scripts/test-sanitizers.sh rc=$rc in $(($(date +%s) - t0)) s"
  grep -h -E "ktest grid on cpu" "$BUILD-asan/Testing/Temporary/LastTest.log" 2>/dev/null | tee -a "$SUM"
  grep -E "^== |tests passed|tests failed|\(Failed\)|\(Timeout\)|AddressSanitizer|runtime error|ThreadSanitizer" \
    "$OUT/sanitize.log" | head -20 | tee -a "$SUM"
  exit $rc
fi
TESTS=ON
pkg-config --exists cmocka 2>/dev/null || { TESTS=OFF; say "no cmocka: tests not built"; }
TARGETS="ksa-cpu-bench"
[ $TESTS = ON ] && TARGETS="$TARGETS test_backends test_cpu_ops"

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF \
  -DKSA_WITH_OPENCL=OFF -DKSA_BUILD_TESTS=$TESTS -DKSA_BUILD_TOOLS=ON ${KSA_DNNL_CMAKE:-} >"$OUT/build.log" 2>&1 &&
  ninja -C "$BUILD" -j"$(nproc)" $TARGETS >>"$OUT/build.log" 2>&1
rc=$?
grep -E "^-- ksa:" "$OUT/build.log" | tee -a "$SUM"
say "build rc=$rc in $(($(date +%s) - t0)) s"
if [ $rc -ne 0 ]; then tail -40 "$OUT/build.log"; exit 1; fi

# ---- tests: the grid at the default level, then every lower level (test_cpu_ops switches KSA_CPU_ISA itself)
if [ $TESTS = ON ]; then
  ts=$(date +%s)
  KSA_NUM_THREADS=8 timeout 120 "$BUILD/bin/test_backends" --devices cpu >"$OUT/test_backends.log" 2>&1
  trc=$?
  grep -E "^==|ktest grid|FAIL|PASS" "$OUT/test_backends.log" | head -20 | tee -a "$SUM"
  say "test_backends (cpu) rc=$trc in $(($(date +%s) - ts)) s"
  ts=$(date +%s)
  KSA_NUM_THREADS=8 timeout 240 "$BUILD/bin/test_cpu_ops" >"$OUT/test_cpu_ops.log" 2>&1
  trc=$?
  grep -E "^\[|level|ktest grid|FAIL|different" "$OUT/test_cpu_ops.log" | head -60 | tee -a "$SUM"
  say "test_cpu_ops rc=$trc in $(($(date +%s) - ts)) s"
fi

# ---- the AMX rate probes (tile peak, tiled GEMM from L2, oneDNN's bf16 matmul when carried): P7's reference points
say "== ksa-cpu-bench --probe"
timeout 60 "$BUILD/bin/ksa-cpu-bench" --probe 2>/dev/null | tee -a "$SUM" >"$OUT/probe.json"

# ---- benchmark: the amx level (and avx512 with "all"), then the torch peer on the same shape
LEVELS="amx"
[ "${1:-}" = "all" ] || [ "${2:-}" = "all" ] && LEVELS="amx avx512"
for isa in $LEVELS; do
  say "== ksa-cpu-bench KSA_CPU_ISA=$isa"
  KSA_CPU_PROFILE=1 KSA_CPU_ISA=$isa timeout 150 "$BUILD/bin/ksa-cpu-bench" $QUICK >"$OUT/bench_$isa.json" 2>"$OUT/bench_$isa.err"
  say "rc=$? $(cat "$OUT/bench_$isa.err" | tail -2)"
  cat "$OUT/bench_$isa.json" | tee -a "$SUM"
done

# settings the built-in choices depend on, timed interleaved (A/B rounds: this VM's speed drifts by
# 10-20% within a call, so one-after-the-other timings cannot rank them)
say "== interleaved A/B at the amx level (7 rounds; speedup_vs_A > 1: faster than the first entry)"
# (KSA_AMX_AB="A;B;..." replaces the settings, e.g. for a development switch)
for mode in dense anchor reuse; do
  KSA_CPU_ISA=amx timeout 90 "$BUILD/bin/ksa-cpu-bench" --ab \
    "${KSA_AMX_AB:-sub_rows=32;sub_rows=16;sub_rows=64;KSA_CPU_HEAD_MAJOR=0;block_q=128}" --mode $mode --rounds 7 2>/dev/null |
    tee -a "$SUM" >>"$OUT/bench_ab.json"
done
# the anchor's pooled pass: recompute Q K^T (the AMX built-in) or read the lse pass's kept scores
KSA_CPU_ISA=amx timeout 90 "$BUILD/bin/ksa-cpu-bench" --ab "pool_scores=1;pool_scores=2" --mode anchor --rounds 7 2>/dev/null |
  tee -a "$SUM" >>"$OUT/bench_ab.json"
unset KSA_CPU_PROFILE
say "== torch CPU SDPA (peer), same shape, same call"
L=4096
[ -n "$QUICK" ] && L=1024
timeout 120 python3 - "$L" <<'EOF' 2>&1 | tee -a "$SUM" | tee "$OUT/peer_torch.json"
import json, os, sys, time
import torch
import torch.nn.functional as F
L = int(sys.argv[1])
ncores = len(os.sched_getaffinity(0))
try:
    import psutil
    ncores = psutil.cpu_count(logical=False) or ncores
except Exception:
    pass
torch.set_num_threads(ncores)
torch.manual_seed(0)
B, Hq, Hkv, D = 1, 32, 8, 128
q = torch.rand(B, Hq, L, D, dtype=torch.bfloat16) * 2 - 1
k = torch.rand(B, Hkv, L, D, dtype=torch.bfloat16) * 2 - 1
v = torch.rand(B, Hkv, L, D, dtype=torch.bfloat16) * 2 - 1
def run():
    try:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    except TypeError:
        g = Hq // Hkv
        return F.scaled_dot_product_attention(q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1), is_causal=True)
with torch.no_grad():
    run()
    ts = []
    for _ in range(7):
        t0 = time.perf_counter(); run(); ts.append((time.perf_counter() - t0) * 1e3)
ts.sort()
ms = ts[len(ts) // 2]
flops = 4.0 * B * Hq * L * L * D / 2
print(json.dumps({"op": "prefill", "mode": "dense", "peer": "torch_cpu_sdpa", "torch": torch.__version__, "threads": ncores,
                  "dtype": "bf16", "B": B, "Hq": Hq, "Hkv": Hkv, "D": D, "L": L, "ms": round(ms, 3),
                  "tflops": round(flops / (ms * 1e-3) / 1e12, 3)}))
EOF

# ---- the oneDNN dense attention baseline at P7's shape (when carried)
say "== oneDNN attention baseline vs ksa, B1 Hq32 Hkv8 D128 L$L bf16"
timeout 120 "$BUILD/bin/ksa-cpu-bench" --compare --L $L --hq 32 --hkv 8 --d 128 --dtype bf16 --reps 5 --block-q 128 2>&1 | tee -a "$SUM" >"$OUT/onednn_compare.json"

# ---- ratios (P7, P8)
python3 - "$OUT" <<'EOF' 2>&1 | tee -a "$SUM"
import json, sys, os
out = sys.argv[1]
def rows(name):
    p = os.path.join(out, name)
    if not os.path.exists(p): return []
    r = []
    for line in open(p):
        line = line.strip()
        if line.startswith("{"):
            try: r.append(json.loads(line))
            except Exception: pass
    return r
peer = [r for r in rows("peer_torch.json") if r.get("peer")]
for isa in ("amx", "avx512"):
    b = rows("bench_%s.json" % isa)
    dense = [r for r in b if r.get("op") == "prefill" and r.get("mode") == "dense"]
    reuse = [r for r in b if r.get("op") == "decode" and r.get("mode") == "reuse"]
    if dense and peer:
        print("P7 %s: ksa dense prefill %.2f ms vs torch %.2f ms: %.2fx (target >= 3.5x)" % (isa, dense[0]["ms"], peer[0]["ms"], peer[0]["ms"] / dense[0]["ms"]))
    probe = {r["op"]: r for r in rows("probe.json")}
    if dense and probe:
        tf = dense[0]["tflops"]
        parts = []
        a = probe.get("amx_probe", {})
        if a.get("gemm_l2_tflops"): parts.append("%.0f%% of the tiled GEMM probe (%.1f)" % (100 * tf / a["gemm_l2_tflops"], a["gemm_l2_tflops"]))
        if a.get("tile_peak_tflops"): parts.append("%.0f%% of the tile peak (%.1f)" % (100 * tf / a["tile_peak_tflops"], a["tile_peak_tflops"]))
        o = probe.get("onednn_matmul", {})
        if o.get("tflops"): parts.append("%.0f%% of oneDNN's matmul (%.1f, %s)" % (100 * tf / o["tflops"], o["tflops"], o.get("impl", "")))
        print("P7 %s: %.2f TFLOP/s = %s (target >= 30%%)" % (isa, tf, ", ".join(parts)))
    if reuse:
        r = reuse[0]
        print("P8 %s: reuse decode gathered %.1f GB/s = %.1f%% of memcpy %.1f GB/s (read+write), %.1f%% of read-only %.1f GB/s (target >= 70%%)" % (isa, r["gathered_GBps"], r["pct_of_memcpy"], r["memcpy_GBps"], r.get("pct_of_read", 0), r.get("read_GBps", 0)))
EOF
say "total $(($(date +%s) - t0)) s"
