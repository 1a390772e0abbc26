#!/bin/bash
# s15 call 5 (cfc6425 = lib_new5): plans for dense B1 decode in pages of 16 (cp.async copies now cost one multiply-add per key); ncu source of reuse decode B1 Lk32K and Lk8K
D=$PWD/.carry/devbin
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core KSA_PLUGIN_PATH=$D/lib_new5 KSA_LIBRARY=$D/core/libksa.so
PY=/opt/torch/.venv/bin/python3
for round in 1 2; do
  TAG=r$round MODES=dense PAGES=16,64 LKS=8192,32768 CONFIGS=";decode_kernel=3;decode_kernel=3,decode_chunk=16;decode_kernel=3,decode_chunk=32;decode_splits=8" timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
  TAG=r$round MODES=dense PAGES=0 LKS=8192,32768 timeout 60 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done
sort -k4,4 -k6,6n -k9 $OUT/paged.txt
for lk in 32768 8192; do
s=$(date +%s)
timeout 120 ncu -k regex:kc_mma_decode --launch-skip 12 --launch-count 1 --section SourceCounters --section WarpStateStats --section LaunchStats --warp-sampling-interval 0 -f -o /tmp/rb$lk \
  $D/bin/ksa-bench --device cuda:0 --shape 1,1,$lk,32,8,128 --mode reuse --phase decode --dtype f16 > /tmp/rb$lk.log 2>&1
echo "ncu reuse B1 Lk$lk rc=$? $(( $(date +%s)-s )) s"; tail -3 /tmp/rb$lk.log
ncu --import /tmp/rb$lk.ncu-rep --page source --csv --print-source sass 2>&1 | gzip -9 > $OUT/src-reuse-b1-$lk.csv.gz
ncu --import /tmp/rb$lk.ncu-rep --page details 2>&1 > $OUT/details-reuse-b1-$lk.txt
grep -E "Duration|Warp Cycles Per Issued|Grid Size|Block Size|Cluster" $OUT/details-reuse-b1-$lk.txt | head -8
done
