#!/bin/bash
# s16 call 7 (after the final run): anchor decode B64 regressed; 16-key gathered variants went from 168 to
# 206 registers (3 -> 2 CTAs per SM). lib_lb = HEAD + __launch_bounds__(128, 3) for 16-key chunks at
# head_dim <= 128 (168 registers, no spills) vs HEAD (lib_pre) and 5626adc (lib_rev); tests on lib_lb
D=$PWD/.carry/devbin
R=$PWD
for l in lib_rev lib_pre lib_lb; do tar xJf $D/$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_lb
for t in test_cuda "test_backends --devices cuda:0"; do
  s=$(date +%s); KSA_TEST_QUICK=1 timeout 100 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t (quick) rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-200)"
done
export LD_LIBRARY_PATH=$D/core
VARIANTS="rev=lib_rev head=lib_pre lb=lib_lb" bash $D/abv.sh 2 adec64 adec16 rdec16 > $OUT/abv.txt 2>&1; cat $OUT/abv.txt
