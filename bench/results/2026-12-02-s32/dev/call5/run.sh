# call 5 (carry .carry/cuda, .carry/devbin; lib_new with the 10-wave built-in, test_cuda with
# test_prefill_block_q192_default_grid): the two block_q tests; three alternating ksa-bench rounds of
# block_q 128 / 192 at B1 Hq32/Hkv8 D64 L4.5K (8.7 waves) and L5.5K (10.7 waves).
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD new || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_new
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
KSA_TEST_FILTER='test_prefill_block_q192*' timeout 120 $B/test_cuda >$OUT/test_cuda.log 2>&1; echo "test_cuda (block_q cases) rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "RUN|OK|FAIL|PASSED" $OUT/test_cuda.log | head >>$S
for r in 1 2 3; do
  for q in 128 192; do
    timeout 60 $B/ksa-bench --device cuda:0 --mode dense --phase prefill --dtype bf16 --no-probe \
      --shape 1,4608,4608,32,8,64 --shape 1,5632,5632,32,8,64 \
      --config block_q=$q --tag q$q --out $OUT/ab.jsonl --append 2>>$OUT/bench.err
  done
done
python3 bench/dev_ab.py $OUT/ab.jsonl --base q128 >>$S 2>&1
cat $S
