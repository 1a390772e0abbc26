#!/bin/bash
# s15 call 7: the anchor's K-only dense pass by cp.async from 64 lists on (lib_anc, a plan rule) vs HEAD ca55fd6 (lib_cur, TMA) and HEAD with decode_kernel=3: tests on lib_anc, A/B
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_anc
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
cat /tmp/test_cuda.log /tmp/test_cuda_graph.log /tmp/test_backends.log > $OUT/tests.log
export LD_LIBRARY_PATH=$D/core
VARIANTS="cur=lib_cur anc=lib_anc curk3=lib_cur@decode_kernel=3" bash $D/abv.sh 2 adec16 adec64 hd > $OUT/abv.txt 2>&1; cat $OUT/abv.txt
