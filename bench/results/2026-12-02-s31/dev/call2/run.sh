#!/usr/bin/env bash
# thirty-first session, device call 2 (lent Xeon, AMX): prefill output rows by non-temporal stores
# (store_row_stream; KSA_CPU_STREAM_STORE=0 turns it off). device-amx.sh builds, runs the cpu grid at
# the amx level, test_cpu_ops (its new test_stream_store_same_bits at the avx512 and amx levels),
# the A/B rounds (0 against 1) for dense, anchor and reuse; then 15 more rounds of reuse at L4096 and
# L2048, and the reuse profile with and without.
D=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$D/../../../../.." && pwd)
KSA_AMX_AB="KSA_CPU_STREAM_STORE=0;KSA_CPU_STREAM_STORE=1" OUT=$OUT \
  bash "$ROOT/scripts/device/device-amx.sh" > "$OUT/device-amx.log" 2>&1
echo "device-amx rc=$?"
BUILD=$ROOT/build-cpu-dev
grep -E "stream|OK|FAIL|PASSED|SKIPPED" "$OUT/test_cpu_ops.log" | head -30
for L in 4096 2048; do
  KSA_CPU_ISA=amx timeout 120 "$BUILD/bin/ksa-cpu-bench" --ab "KSA_CPU_STREAM_STORE=0;KSA_CPU_STREAM_STORE=1" --mode reuse --rounds 15 --L $L 2>/dev/null | tee -a "$OUT/ab15.json"
done
for s in 0 1 0 1; do
  echo "== profile KSA_CPU_STREAM_STORE=$s"
  KSA_CPU_PROFILE=1 KSA_CPU_ISA=amx KSA_CPU_STREAM_STORE=$s timeout 120 "$BUILD/bin/ksa-cpu-bench" --prefill 2>/dev/null | grep -E "prefill|profile\""
done
grep -E "\"ab\"|P7|probe|rc=" "$OUT/summary.txt" | head -40
