# call 1 (carry .carry/cuda, .carry/devbin; lib_op = HEAD's CUDA plugin, lib_sl = each split's
# page-table slice in shared memory for the affine paged copies; bin/test_cuda with the two new
# slice cases): (1) test_cuda whole with lib_sl; (2) the affine paged test under memcheck and
# racecheck; (3) peer_torch timing (bf16, Lk32K), three rounds alternating the plugins.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD op sl || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
P=$OUT/peer.jsonl
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_sl timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda whole (sl) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED" $OUT/test_cuda.log | head -20
for tool in memcheck racecheck; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_sl KSA_TEST_FILTER='test_decode_affine_paged' timeout 90 \
    compute-sanitizer --tool $tool --error-exitcode 9 $B/test_cuda >$OUT/san-$tool.log 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1) ($(($(date +%s)-t0)) s)"
done
S1=1,1,32768,32,8,128; S16=16,1,32768,32,8,128
for r in 1 2 3; do
  ksa_dev_peer $PWD op $P --device cuda --dtype bf16 --modes dense,anchor --shape $S1 --shape $S16 2>>$OUT/peer.log
  for v in op sl; do
    for ps in 16 64; do
      ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense,anchor --shape $S1 --shape $S16 --page-size $ps 2>>$OUT/peer.log
    done
  done
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 400 ] && break
done
python3 bench/dev_ab.py $P --base op
grep -iE "error|unsupported|invalid" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
