#!/bin/bash
# s16 call 1: reads a chunk's copies wait on issued one load_chunk call ahead (lib_pf: gathered keys two calls
# ahead, their pages one; paged TMA boxes' pages one) vs HEAD 5626adc (lib_rev): tests on lib_pf, ksa-bench A/B, peer-style paged B1/B16
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_pf
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
cat /tmp/test_cuda.log /tmp/test_cuda_graph.log /tmp/test_backends.log > $OUT/tests.log
s=$(date +%s); KSA_TEST_QUICK=1 timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "memcheck test_cuda quick rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
VARIANTS="rev=lib_rev pf=lib_pf pf3=lib_pf@decode_stages=3" bash $D/abv.sh 2 rdec1 rdec16 adec1 dec1 dec16 hd > $OUT/abv.txt 2>&1; cat $OUT/abv.txt
PY=/opt/torch/.venv/bin/python3
for round in 1 2; do for v in rev pf; do
  KSA_PLUGIN_PATH=$D/lib_$v KSA_LIBRARY=$D/core/libksa.so TAG=$v MODES=dense,reuse,anchor PAGES=0,16,64 LKS=8192,32768 timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
for v in rev pf; do
  KSA_PLUGIN_PATH=$D/lib_$v KSA_LIBRARY=$D/core/libksa.so TAG=$v BATCH=16 MODES=dense,reuse PAGES=0,16,64 LKS=32768 timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done
sort -k2,2 -k3,3 -k4,4 -k6,6n -k1,1 $OUT/paged.txt | grep -v error | awk '{printf "%s %s %s %s p%s %s | ", $1,$2,$3,$4,$6,$7} NR%2==0{print ""}'
grep error $OUT/paged.txt | head -3
