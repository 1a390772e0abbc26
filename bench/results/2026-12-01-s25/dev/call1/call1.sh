#!/bin/bash
# s25 call 1: dense decode bf16 at B16/B64 contiguous vs paged (pages of 16/64, shuffled/identity order) vs cuDNN,
# one process (pagedab.py), and lib_rot (contiguous list start rotated per sequence) against cuDNN
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_ts5.tar.xz -C $D
mkdir -p $D/lib_rot && cp $R/.carry/librot/libksa_cuda.so $D/lib_rot/
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_LIBRARY=$D/core/libksa.so
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_rot KSA_TEST_QUICK=1 timeout 60 $D/bin/test_cuda > $L/test_cuda_rot.log 2>&1; echo "test_cuda quick (rot) rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |failed' $L/test_cuda_rot.log | tr '\n' ' ' | cut -c1-300)"
P=bench/results/2026-12-01-s25/dev/call1/pagedab.py
SH=64x32768,16x32768,64x8192
KSA_PLUGIN_PATH=$D/lib_ts5 timeout 120 python3 $P base contig,p16s,p16i,p64s,p64i,cudnn $SH 2>>$L/err.log
for i in 1 2; do
  KSA_PLUGIN_PATH=$D/lib_ts5 timeout 60 python3 $P base contig,cudnn $SH 2>>$L/err.log
  KSA_PLUGIN_PATH=$D/lib_rot timeout 60 python3 $P rot contig,cudnn $SH 2>>$L/err.log
done
tail -5 $L/err.log
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
