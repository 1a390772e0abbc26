# call 1 (carry .carry/cuda, .carry/devbin; lib_op = HEAD's CUDA plugin, lib_el = the decode kernel's
# early loads: the device length read beside Q, the count and the page-table row, first used after
# them): (1) test_cuda whole with lib_el; (2) memcheck on the device-length clamp test and the ragged
# decode test; (3) peer_torch timing, bf16 B1 Lk32K, uniform batch / device lengths (contiguous) /
# pages of 16, three rounds alternating the plugins; (4) per-kernel durations by Nsight Compute,
# anchor and reuse in pages of 16, both plugins.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD op el || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
P=$OUT/peer.jsonl
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_el timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda whole (el) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED" $OUT/test_cuda.log | head -20
KSA_PLUGIN_PATH=$KSA_DEV/lib_el KSA_TEST_FILTER='test_lengths_clamped_on_device' timeout 90 \
  compute-sanitizer --tool memcheck --error-exitcode 9 $B/test_cuda >$OUT/san-memcheck.log 2>&1
echo "memcheck clamp rc=$? $(grep -E 'ERROR SUMMARY' $OUT/san-memcheck.log | tail -1) ($(($(date +%s)-t0)) s)"
KSA_PLUGIN_PATH=$KSA_DEV/lib_el KSA_TEST_FILTER='test_decode_gathered_contiguous' timeout 120 \
  compute-sanitizer --tool memcheck --error-exitcode 9 $B/test_cuda >>$OUT/san-memcheck.log 2>&1
echo "memcheck ragged rc=$? $(grep -E 'ERROR SUMMARY' $OUT/san-memcheck.log | tail -1) ($(($(date +%s)-t0)) s)"
S1=1,1,32768,32,8,128
for r in 1 2 3; do
  for v in op el; do
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense,anchor,reuse --shape $S1 2>>$OUT/peer.log
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes anchor,reuse --shape $S1 --device-lengths 2>>$OUT/peer.log
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense,anchor,reuse --shape $S1 --page-size 16 2>>$OUT/peer.log
  done
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 300 ] && break
done
python3 bench/dev_ab.py $P --base op
grep -iE "error|unsupported|invalid|Traceback" $OUT/peer.log | sort | uniq -c | head -5
M=gpu__time_duration.sum
for v in op el; do
  for mode in anchor reuse; do
    n=3; [ $mode = anchor ] && n=4
    KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_$v timeout 60 ncu --clock-control none --metrics $M --csv \
      -k regex:'kc_|kg_' -s $((4 * n)) -c $((8 * n)) python3 bench/peer_torch.py --device cuda --dtype bf16 \
      --modes $mode --shape $S1 --repeats 10 --warmup 3 --page-size 16 >$OUT/ncu-$v-$mode.csv 2>/dev/null
    echo "ncu $v $mode rc=$? ($(($(date +%s)-t0)) s)"
  done
done
echo "done ($(($(date +%s)-t0)) s)"
