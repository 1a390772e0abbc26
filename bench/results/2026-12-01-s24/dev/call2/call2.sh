#!/bin/bash
# s24 call 2: Nsight Compute full sections of the last prefill Top-k launch at L32K, lib_tst (kg_topk_stream) and lib_smt
D=$PWD/.carry/devbin
L=$OUT/logs; mkdir -p $L
for l in smt tst; do tar xJf $D/lib_$l.tar.xz -C $D; done
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
B=$D/bin/ksa-bench
KSA_PLUGIN_PATH=$D/lib_tst timeout 200 ncu --set full --import-source no -k regex:kg_topk_stream --launch-skip 2 --launch-count 1 \
  $B --device cuda:0 --shape 1,32768,32768,32,8,128 --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 > $L/ncu-tst.txt 2>&1
KSA_PLUGIN_PATH=$D/lib_tst timeout 200 ncu --section SourceCounters --section WarpStateStats -k regex:kg_topk_stream --launch-skip 2 --launch-count 1 \
  --print-details all $B --device cuda:0 --shape 1,32768,32768,32,8,128 --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 > $L/ncu-tst-src.txt 2>&1
KSA_PLUGIN_PATH=$D/lib_smt timeout 200 ncu --set full -k regex:kg_topk --launch-skip 3 --launch-count 1 \
  $B --device cuda:0 --shape 1,32768,32768,32,8,128 --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 > $L/ncu-smt.txt 2>&1
grep -E "Duration|Achieved Occupancy|Theoretical Occupancy|Block Limit|Registers Per|Dynamic Shared|Warp Cycles Per Issued|Issue Slots Busy|Memory Throughput|DRAM Throughput|L2 Hit" $L/ncu-tst.txt $L/ncu-smt.txt
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
