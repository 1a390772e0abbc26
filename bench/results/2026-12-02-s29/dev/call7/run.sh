#!/bin/bash
# s29 call 7: the lse pass with Q's fragments held in registers (lib_qreg: k90_lse<D <= 128, QREG>,
# wgmma RS with a K-major B, 64-key units, each 64-row half owned by one warpgroup of a pair)
# against lib_head: tests, Nsight Compute per pass, alternating ksa-bench rounds
R=$PWD; L=$OUT/logs; mkdir -p $L
. scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
ksa_dev_libs $R head qreg || exit 1
B=$KSA_DEV/bin
s=$(date +%s); KSA_PLUGIN_PATH=$KSA_DEV/lib_qreg KSA_TEST_FILTER="*score_jumps*" timeout 90 $B/test_cuda > $L/jumps.log 2>&1
echo "qreg score_jumps rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |failed' $L/jumps.log | tr '\n' ' ' | cut -c1-200)"
for t in test_cuda "test_backends --devices cuda:0"; do n=${t%% *}
  s=$(date +%s); KSA_PLUGIN_PATH=$KSA_DEV/lib_qreg KSA_TEST_QUICK=1 timeout 120 $B/$t > $L/$n.log 2>&1; rc=$?
  echo "qreg $t rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$n.log | tr '\n' ' ' | cut -c1-300)"
  [ $rc -eq 124 ] && { tail -5 $L/$n.log; exit 1; }
done
s=$(date +%s); KSA_PLUGIN_PATH=$KSA_DEV/lib_qreg KSA_TEST_FILTER="*score_jumps*" timeout 120 compute-sanitizer --tool racecheck $B/test_cuda > $L/racecheck.log 2>&1
echo "qreg racecheck score_jumps rc=$? $(( $(date +%s)-s )) s: $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY|PASSED|FAILED' $L/racecheck.log | tr '\n' ' ' | cut -c1-200)"
for tag in head qreg; do
  ksa_dev_ncu_sum $R $tag anchor 1,32768,32768,32,8,128 bf16
  ksa_dev_ncu_sum $R $tag anchor 1,16384,16384,32,8,64 bf16
done
J=$OUT/ab.jsonl
run() { KSA_PLUGIN_PATH=$KSA_DEV/lib_$1 timeout 40 $B/ksa-bench --device cuda:0 --shape $3 --mode $2 --phase prefill --dtype $4 --max-measure-ms 400 --tag $1 --out $J --append > /dev/null 2>> $L/bench.err; }
for round in 1 2 3; do for tag in head qreg; do
  run $tag anchor 1,32768,32768,32,8,128 bf16
  run $tag anchor 1,32768,32768,32,8,128 f16
  run $tag anchor 1,16384,16384,32,8,128 bf16
  run $tag anchor 1,16384,16384,32,8,64 bf16
  run $tag anchor 1,16384,16384,32,32,128 bf16
  run $tag dense 1,32768,32768,32,8,128 bf16
done; done
python3 bench/dev_ab.py $J --base head
