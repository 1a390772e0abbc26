# call 3 (carry .carry/cuda, .carry/devbin; lib_pt = HEAD's CUDA plugin, lib_op = dense_one_paged,
# bin/test_cuda with the new test): (1) test_cuda whole with lib_op; (2) the new test under memcheck and
# racecheck; (3) peer_torch timing, three rounds alternating the plugins.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD pt op || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
P=$OUT/peer.jsonl
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_op timeout 240 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda whole (op) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED|pages of 16" $OUT/test_cuda.log | head -20
for tool in memcheck racecheck; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_op KSA_TEST_FILTER='test_decode_one_sequence_pages16' timeout 120 \
    compute-sanitizer --tool $tool --error-exitcode 9 $B/test_cuda >$OUT/san-$tool.log 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1) ($(($(date +%s)-t0)) s)"
done
S4=1,1,4096,32,8,128; S8=1,1,8192,32,8,128; S32=1,1,32768,32,8,128
for r in 1 2 3; do
  for v in pt op; do
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense --shape $S4 --shape $S8 --shape $S32 --page-size 16 2>>$OUT/peer.log
    ksa_dev_peer $PWD $v $P --device cuda --dtype f16 --modes dense --shape $S32 --page-size 16 2>>$OUT/peer.log
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense --shape $S8 --shape $S32 2>>$OUT/peer.log
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense --shape $S32 --page-size 64 2>>$OUT/peer.log
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes anchor,reuse --shape $S32 --page-size 16 2>>$OUT/peer.log
  done
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 450 ] && break
done
python3 bench/dev_ab.py $P --base pt
grep -iE "error|unsupported|invalid|disagree" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
