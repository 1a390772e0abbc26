#!/bin/bash
# s15 call 3: row 0 of each (sequence, KV head) resolved once for the cp.async copies (lib_new3) vs ce8e286 (lib_new2): tests, A/B, paged/contiguous B1 peer-style, reuse B1 plan sweep
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_new3
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
cat /tmp/test_cuda.log /tmp/test_cuda_graph.log /tmp/test_backends.log > $OUT/tests.log
s=$(date +%s); KSA_TEST_QUICK=1 timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "memcheck test_cuda quick rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
for round in 1 2; do for v in new2 new3; do
  KSA_PLUGIN_PATH=$D/lib_$v KSA_LIBRARY=$D/core/libksa.so TAG=$v MODES=reuse,dense PAGES=0,16,64 LKS=8192,32768 timeout 120 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
sort -k2,2 -k3,3 -k4,4 -k6,6n -k1,1 $OUT/paged.txt | grep -v error
VARIANTS="new2=lib_new2 new3=lib_new3" bash $D/abv.sh 2 rdec1 rdec16 adec1 adec16 dec hd > $OUT/abv.txt 2>&1; cat $OUT/abv.txt
mv $OUT/abv.jsonl $OUT/abv-ab.jsonl
VARIANTS="base=lib_new3 s16=lib_new3@decode_splits=16 s4=lib_new3@decode_splits=4 c16=lib_new3@decode_chunk=16" bash $D/abv.sh 2 rdec1 > $OUT/abv-plan.txt 2>&1; cat $OUT/abv-plan.txt
