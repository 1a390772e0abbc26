# call 2 (carry .carry/cuda, .carry/devbin; lib_new as call 1, test_cuda with the refusal check fixed):
# the new case alone, under memcheck and racecheck; then 5 alternating ksa-bench rounds of block_q
# 128 / 192 over the dense prefill D64 shapes call 1 did not cover (short, batched, chunked, G1, G8).
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD new || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_new
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
KSA_TEST_FILTER=test_prefill_block_q192 timeout 100 $B/test_cuda >$OUT/test_cuda.log 2>&1; echo "test_cuda (new case) rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "FAIL|PASSED|block_q" $OUT/test_cuda.log | head >>$S
for tool in memcheck racecheck; do
  KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_prefill_block_q192 timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 \
    $B/test_cuda >$OUT/$tool.log 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/$tool.log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
done
for r in 1 2 3 4 5; do
  for q in 128 192; do
    timeout 60 $B/ksa-bench --device cuda:0 --mode dense --phase prefill --dtype bf16 --no-probe \
      --shape 1,1024,1024,32,8,64 --shape 1,2048,2048,32,8,64 --shape 1,4096,4096,32,8,64 --shape 4,4096,4096,32,8,64 \
      --shape 1,4096,32768,32,8,64 --shape 1,4096,4096,8,8,64 --shape 1,16384,16384,64,8,64 --shape 2,1000,1000,32,8,64 \
      --config block_q=$q --tag q$q --out $OUT/ab.jsonl --append 2>>$OUT/bench.err
  done
done
echo "ab done ($(($(date +%s)-t0)) s)" | tee -a $S
python3 bench/dev_ab.py $OUT/ab.jsonl --base q128 >>$S 2>&1
