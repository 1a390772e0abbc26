#!/bin/bash
# s24 call 3: per-SASS-instruction executed counts of kg_topk_stream's last launch at L32K (lib_tst)
D=$PWD/.carry/devbin
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_tst.tar.xz -C $D
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_tst
timeout 200 ncu --section SourceCounters --page source --print-source sass --csv -k regex:kg_topk_stream --launch-skip 2 --launch-count 1 \
  $D/bin/ksa-bench --device cuda:0 --shape 1,32768,32768,32,8,128 --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 > $L/src.csv 2>&1
echo rc=$?; wc -l $L/src.csv; head -3 $L/src.csv | cut -c1-600
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
