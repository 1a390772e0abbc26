#!/usr/bin/env bash
# thirty-first session, device call 1 (lent Xeon, AMX): REUSE prefill tasks of R consecutive tiles,
# the next tile's gathered K/V rows requested into L2 while one tile computes (KSA_CPU_TILE_GROUP=R,
# development switch; R=1 is HEAD's behaviour). device-amx.sh builds, runs the cpu grid at the amx
# level and the A/B rounds over R (dense and anchor do not read the switch: their rounds are A/A);
# then the cpu grid again with R=4, and the profile of reuse prefill at R=1 and R=4.
D=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$D/../../../../.." && pwd)
KSA_AMX_AB="KSA_CPU_TILE_GROUP=1;KSA_CPU_TILE_GROUP=2;KSA_CPU_TILE_GROUP=4;KSA_CPU_TILE_GROUP=8" OUT=$OUT \
  bash "$ROOT/scripts/device/device-amx.sh" > "$OUT/device-amx.log" 2>&1
echo "device-amx rc=$?"
BUILD=$ROOT/build-cpu-dev
KSA_CPU_TILE_GROUP=4 KSA_NUM_THREADS=8 timeout 150 "$BUILD/bin/test_backends" --devices cpu >"$OUT/test_backends_r4.log" 2>&1
echo "test_backends cpu R=4 rc=$?"
grep -E "ktest grid|FAIL|PASSED" "$OUT/test_backends_r4.log" | head -5
for r in 1 4 1 4; do
  echo "== profile R=$r"
  KSA_CPU_PROFILE=1 KSA_CPU_ISA=amx KSA_CPU_TILE_GROUP=$r timeout 120 "$BUILD/bin/ksa-cpu-bench" --prefill 2>/dev/null | grep -E "reuse|profile"
done
grep -E "speedup|ab|P7|probe|tile_peak|rc=" "$OUT/summary.txt" | head -60
