# call 2 (carry .carry/cuda, .carry/devbin; lib_op = HEAD's CUDA plugin): where anchor and reuse decode
# B1 Lk32K bf16 spend their time in pages of 16 / 64 against contiguous, kernel by kernel, by Nsight
# Compute (clocks not locked, caches flushed before each kernel): duration, DRAM bytes read and DRAM
# throughput of each ksa kernel of eight calls after the warm-up, one CSV per (mode, page size).
set -u
. scripts/device/device-common.sh
ksa_dev_libs $PWD op || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
t0=$(date +%s)
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed
for mode in anchor reuse; do
  for ps in 0 16 64; do
    pg=""; [ $ps != 0 ] && pg="--page-size $ps"
    n=3; [ $mode = anchor ] && n=4
    KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_op timeout 90 ncu --clock-control none --metrics $M --csv \
      -k regex:'kc_|kg_' -s $((4 * n)) -c $((8 * n)) python3 bench/peer_torch.py --device cuda --dtype bf16 \
      --modes $mode --shape 1,1,32768,32,8,128 --repeats 10 --warmup 3 $pg >$OUT/ncu-$mode-p$ps.csv 2>$OUT/ncu-$mode-p$ps.err
    echo "$mode pages $ps rc=$? rows $(grep -c '^"' $OUT/ncu-$mode-p$ps.csv) ($(($(date +%s)-t0)) s)"
  done
done
echo "done ($(($(date +%s)-t0)) s)"
