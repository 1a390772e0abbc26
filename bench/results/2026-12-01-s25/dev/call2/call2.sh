#!/bin/bash
# s25 call 2: dense decode bf16 contiguous vs identity pages over the same memory (views), vs a contiguous copy, cuDNN
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_ts5.tar.xz -C $D
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_LIBRARY=$D/core/libksa.so KSA_PLUGIN_PATH=$D/lib_ts5
P=bench/results/2026-12-01-s25/dev/call2/pagedab.py
SH=64x32768,16x32768,64x8192
for i in 1 2; do
  timeout 120 python3 $P p$i contig,contigc,p16v,p64v,p16i,cudnn $SH 2>>$L/err.log
done
tail -5 $L/err.log
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
