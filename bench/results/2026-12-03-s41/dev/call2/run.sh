# call 2 (carry .carry/cuda, .carry/devbin; lib_op = HEAD's CUDA plugin, lib_el = call 1's early
# loads, lib_pf = lib_el + one L2 prefetch per page of the split in the affine paged copies):
# (1) test_cuda's paged decode tests with lib_pf; (2) peer_torch timing, bf16, B1 Lk32K and B16 Lk8K,
# uniform batch / pages of 16 (shuffled) for the three plugins, pages of 16 in logical order for el
# and pf, three rounds; (3) the anchor's kernels B1 Lk32K in pages of 16 by Nsight Compute: el and pf
# shuffled, el in order.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD op el pf || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
P=$OUT/peer.jsonl
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_pf KSA_TEST_FILTER='test_decode_*page*' timeout 150 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda paged (pf) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED" $OUT/test_cuda.log | head -20
S1=1,1,32768,32,8,128; S16=16,1,8192,32,8,128
for r in 1 2 3; do
  for v in op el pf; do
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense,anchor,reuse --shape $S1 --shape $S16 2>>$OUT/peer.log
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense,anchor,reuse --shape $S1 --shape $S16 --page-size 16 2>>$OUT/peer.log
  done
  for v in el pf; do
    ksa_dev_peer $PWD $v $P --device cuda --dtype bf16 --modes dense,anchor --shape $S1 --page-size 16 --ordered-pages 2>>$OUT/peer.log
  done
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 380 ] && break
done
python3 bench/dev_ab.py $P --base op
python3 bench/dev_ab.py $P --base el
grep -iE "error|unsupported|invalid|Traceback" $OUT/peer.log | sort | uniq -c | head -5
M=gpu__time_duration.sum
for run in "el" "pf" "el --ordered-pages"; do
  v=${run%% *}; o=""; [ "$run" != "$v" ] && o="--ordered-pages"
  KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_$v timeout 60 ncu --clock-control none --metrics $M --csv \
    -k regex:'kc_|kg_' -s 16 -c 32 python3 bench/peer_torch.py --device cuda --dtype bf16 \
    --modes anchor --shape $S1 --repeats 10 --warmup 3 --page-size 16 $o >$OUT/ncu-$v${o:+-ordered}.csv 2>/dev/null
  echo "ncu $run rc=$? ($(($(date +%s)-t0)) s)"
done
echo "done ($(($(date +%s)-t0)) s)"
