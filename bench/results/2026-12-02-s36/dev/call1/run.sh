#!/usr/bin/env bash
# thirty-sixth session, device call 1 (lent Xeon, AMX): the AMX level's tile configuration loaded once
# per thread per call instead of before every block product (KSA_CPU_TILECFG=0: the old behaviour,
# development switch). device-amx.sh builds, runs the cpu grid at the amx level and test_cpu_ops (with
# the new test_amx_tile_config_between_calls), the probes, the benchmark, and interleaved A/B rounds of
# the switch for dense, anchor and reuse prefill; then profiles of dense and reuse prefill with each.
D=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$D/../../../../.." && pwd)
KSA_AMX_AB="KSA_CPU_TILECFG=0;KSA_CPU_TILECFG=1" OUT=$OUT \
  bash "$ROOT/scripts/device/device-amx.sh" > "$OUT/device-amx.log" 2>&1
echo "device-amx rc=$?"
BUILD=$ROOT/build-cpu-dev
grep -E "test_amx_tile|FAILED|PASSED" "$OUT/test_cpu_ops.log" | head -8
for r in 0 1 0 1; do
  echo "== profile KSA_CPU_TILECFG=$r"
  KSA_CPU_PROFILE=1 KSA_CPU_ISA=amx KSA_CPU_TILECFG=$r timeout 120 "$BUILD/bin/ksa-cpu-bench" --prefill 2>/dev/null | grep -E "dense|reuse|profile" | cut -c1-400
done
grep -E "speedup|\"ab\"|P7|P8|tile_peak|rc=|total" "$OUT/summary.txt" | cut -c1-300 | head -60
