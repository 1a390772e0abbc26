#!/bin/bash
# s16 call 8: the plan sizes the anchor's dense pass by the affine instantiation's occupancy (lib_occ) vs HEAD (lib_pre) and 5626adc (lib_rev)
D=$PWD/.carry/devbin
R=$PWD
for l in lib_rev lib_pre lib_occ; do tar xJf $D/$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_occ
for t in test_cuda "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 100 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-200)"
done
export LD_LIBRARY_PATH=$D/core
VARIANTS="rev=lib_rev head=lib_pre occ=lib_occ" bash $D/abv.sh 2 adec64 adec16 rdec16 rdec1 hd > $OUT/abv.txt 2>&1; cat $OUT/abv.txt
