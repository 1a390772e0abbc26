#!/usr/bin/env bash
# thirty-sixth session, device call 5 (lent Xeon, AMX): with the tile configuration loaded once per
# call (fcd3240), smaller block products no longer pay a configuration load each; the built-in
# sub_rows 32 / block_k 256 / block_q 64 against sub_rows 16 and 64, block_k 128 (with sub_rows 16)
# and block_q 128, seven interleaved rounds (device-amx.sh), then eleven rounds of 32 against 16.
D=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$D/../../../../.." && pwd)
KSA_AMX_AB="sub_rows=32;sub_rows=16;sub_rows=64;block_k=128;block_k=128,sub_rows=16;block_q=128" OUT=$OUT \
  bash "$ROOT/scripts/device/device-amx.sh" > "$OUT/device-amx.log" 2>&1
echo "device-amx rc=$?"
BUILD=$ROOT/build-cpu-dev
for mode in dense anchor reuse; do
  KSA_CPU_ISA=amx timeout 90 "$BUILD/bin/ksa-cpu-bench" --ab "sub_rows=32;sub_rows=16" --mode $mode --rounds 11 2>/dev/null >>"$OUT/bench_ab11.json"
done
grep -E "test_backends|test_cpu_ops rc|P7|P8|total" "$OUT/summary.txt" | cut -c1-250
cut -c1-220 "$OUT/bench_ab.json" "$OUT/bench_ab11.json"
