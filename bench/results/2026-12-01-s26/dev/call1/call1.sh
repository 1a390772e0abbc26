#!/bin/bash
# s26 call 1: lib_pf (kc_mma_decode prefetches its page-table lines into L2 at its start) against lib_base (HEAD):
# test_cuda quick with lib_pf; pagedmodes.py (dense / anchor / reuse decode, contiguous vs pages of 16 / 64) in four
# alternating processes; then Nsight Compute's per-instruction stall samples of k90_pooled (L16K D128 bf16, HEAD)
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in base pf; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_LIBRARY=$D/core/libksa.so
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_pf KSA_TEST_QUICK=1 timeout 90 $D/bin/test_cuda > $L/test_cuda_pf.log 2>&1; rc=$?
echo "test_cuda quick (pf) rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |failed' $L/test_cuda_pf.log | tr '\n' ' ' | cut -c1-300)"
[ $rc -eq 124 ] && { tail -3 $L/test_cuda_pf.log; exit 1; }
P=bench/results/2026-12-01-s26/dev/call1/pagedmodes.py
SH=1x32768,1x8192,16x32768
for i in 1 2; do for l in base pf; do
  KSA_PLUGIN_PATH=$D/lib_$l timeout 100 python3 $P $l $SH 2>>$L/err.log
done; done
tail -3 $L/err.log
s=$(date +%s)
KSA_PLUGIN_PATH=$D/lib_base timeout 150 ncu --clock-control none --section SourceCounters --section WarpStateStats -k regex:k90_pooled -c 1 \
  --page source --csv --print-source sass $D/bin/ksa-bench --device cuda:0 --shape 1,16384,16384,32,8,128 --mode anchor --phase prefill \
  --dtype bf16 --repeats 1 --warmup 0 > $OUT/pooled_source.csv 2> $L/ncu.err
echo "ncu source rc=$? $(( $(date +%s)-s )) s, $(wc -l < $OUT/pooled_source.csv) lines"
gzip -f $OUT/pooled_source.csv
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
