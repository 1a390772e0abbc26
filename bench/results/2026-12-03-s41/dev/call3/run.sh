# call 3 (carry .carry/cuda, .carry/devbin; lib_op = a165a4e's CUDA plugin (before the early length
# read), lib_el = calls 1-2's build of the early reads (c8a5b08 but for one pointer select), lib_u2 = lib_el with a uniform batch reading
# the count as before (after the index prefetches)): the full run read ksa-bench's reuse decode f16
# B1 1.8-2.1% slower with lib_el. (1) ksa-bench, three rounds alternating the plugins: reuse decode
# f16 B1 Lk8K / Lk32K, B16 Lk32K, anchor decode bf16 B1 Lk32K; (2) peer_torch, two rounds: bf16 B1
# Lk32K anchor and reuse, uniform batch and pages of 16.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD op el u2 || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
P=$OUT/peer.jsonl
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_u2 KSA_TEST_FILTER='test_decode_gathered*' timeout 100 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda gathered (u2) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED" $OUT/test_cuda.log | head -5
for r in 1 2 3; do
  for v in op el u2; do
    KSA_PLUGIN_PATH=$KSA_DEV/lib_$v timeout 60 $B/ksa-bench --device cuda:0 --dtype f16 --phase decode --mode reuse \
      --shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128 --shape 16,1,32768,32,8,128 --max-measure-ms 300 --no-probe \
      --tag $v --append --out $OUT/bench.jsonl 2>>$OUT/bench.log
    KSA_PLUGIN_PATH=$KSA_DEV/lib_$v timeout 60 $B/ksa-bench --device cuda:0 --dtype bf16 --phase decode --mode anchor \
      --shape 1,1,32768,32,8,128 --max-measure-ms 300 --no-probe --tag $v --append --out $OUT/bench.jsonl 2>>$OUT/bench.log
  done
  echo "bench round $r ($(($(date +%s)-t0)) s)"
done
python3 bench/dev_ab.py $OUT/bench.jsonl --base op
S1=1,1,32768,32,8,128
for r in 1 2; do
  for v in op el u2; do
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes anchor,reuse --shape $S1 2>>$OUT/peer.log
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes anchor,reuse --shape $S1 --page-size 16 2>>$OUT/peer.log
  done
  echo "peer round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 250 ] && break
done
python3 bench/dev_ab.py $P --base op
grep -iE "error|unsupported|invalid|Traceback" $OUT/peer.log $OUT/bench.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
