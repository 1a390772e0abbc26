#!/bin/bash
# s27 call 4 (after the final run): Nsight Compute's per-instruction stall samples of the lse and pooled passes
# at HEAD (lib_lse), anchor prefill B1 L16K Hq32/Hkv8 D128 bf16, for the next session's lead
D=$PWD/.carry/devbin
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_lse.tar.xz -C $D
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_lse
B=$D/bin/ksa-bench
for k in lse pooled; do
  timeout 100 ncu --clock-control none --section SourceCounters --section WarpStateStats -k regex:k90_$k -c 1 \
    --page source --csv --print-source sass $B --device cuda:0 --shape 1,16384,16384,32,8,128 --mode anchor --phase prefill \
    --dtype bf16 --repeats 1 --warmup 0 > $OUT/${k}_source.csv 2> $L/ncu_$k.err
  echo "ncu $k source rc=$? $(wc -c < $OUT/${k}_source.csv) bytes"
done
gzip -f $OUT/*.csv
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
