#!/bin/bash
# s19 call 8 (review clean-up, host code only; the device code compiles to the same cubins): tests of
# the refactored plugin, and its decode plans (KSA_LOG) against the plugin of be51a07 for reuse and
# anchor decode B1/B2
D=$PWD/.carry/devbin
R=$PWD
for l in new rf; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_rf KSA_LIBRARY=$D/core/libksa.so
for t in test_cuda "test_backends --devices cuda:0"; do
  timeout 200 $D/bin/$t > $OUT/t.log 2>&1; echo "$t rc=$? $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $OUT/t.log | tr '\n' ' ' | cut -c1-200)"
done
PY=/opt/torch/.venv/bin/python3
for l in new rf; do for B in 1 2 16; do for m in reuse anchor; do
  TAG=$l BATCH=$B MODES=$m PAGES=0,16 LKS=8192,32768 CONFIGS="" KSA_LOG=1 KSA_PLUGIN_PATH=$D/lib_$l timeout 100 $PY $D/paged_configs.py 2>&1 >/dev/null \
    | grep -o "kernel=[^ ]* config=[^ ]* mode=[a-z]* .* Lk=[0-9]*" | sed 's/ dtype.*Lq=1//' | sort -u > $OUT/plan_${l}_${B}_$m.txt
done; done; done
for f in $OUT/plan_new_*; do g=${f/plan_new_/plan_rf_}; cmp -s $f $g && echo "$(basename $f) same plans ($(wc -l < $f) lines)" || { echo "$(basename $f) DIFFER"; diff $f $g | head -4; }; done
