#!/bin/bash
# s14 call 5: ncu source-level (SASS) stall samples of reuse B1 Lk32K and dense B1 Lk32K p0 / p16 (8-split plan), HEAD kernels
D=$PWD/.carry/devbin
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core KSA_PLUGIN_PATH=$D/lib_head KSA_LIBRARY=$D/core/libksa.so
PY=/opt/torch/.venv/bin/python3
src() { # name mode pages skip config
  s=$(date +%s)
  MODES=$2 PAGES=$3 LKS=32768 BATCH=1 CONFIGS="$5" timeout 150 ncu -k regex:kc_mma_decode --launch-skip $4 --launch-count 1 \
     --section SourceCounters --section WarpStateStats --warp-sampling-interval 0 -f -o /tmp/$1 $PY $D/paged_configs.py > /tmp/$1.log 2>&1
  ncu --import /tmp/$1.ncu-rep --page source --csv --print-source sass 2>&1 | gzip -9 > $OUT/src-$1.csv.gz
  echo "$1 rc=$? $(( $(date +%s)-s )) s, $(zcat $OUT/src-$1.csv.gz | wc -l) lines; $(tail -2 /tmp/$1.log | tr '\n' ' ' | cut -c1-150)"
}
src reuse-p0 reuse 0 14 ""
src dense-p0 dense 0 8 "decode_splits=8,decode_cluster=2,decode_stages=3"
src dense-p16 dense 16 8 "decode_splits=8,decode_cluster=2,decode_stages=3"
zcat $OUT/src-reuse-p0.csv.gz | head -3 | cut -c1-600
