#!/bin/bash
# s15 call 4: paged rows by shift and mask, one page read per K/V row pair (lib_new4) vs b663289 (lib_new3): tests, B1/B16 paged vs contiguous peer-style; ncu source of reuse B1 Lk32K
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_new4
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
cat /tmp/test_cuda.log /tmp/test_cuda_graph.log /tmp/test_backends.log > $OUT/tests.log
s=$(date +%s); KSA_TEST_QUICK=1 timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "memcheck test_cuda quick rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
s=$(date +%s); KSA_TEST_QUICK=1 timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_backends --devices cuda:0 --quick >> $OUT/sanitize.log 2>&1; echo "memcheck test_backends quick rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
for round in 1 2; do for v in new3 new4; do
  KSA_PLUGIN_PATH=$D/lib_$v KSA_LIBRARY=$D/core/libksa.so TAG=$v MODES=dense,reuse,anchor PAGES=0,16,64 LKS=8192,32768 timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
for v in new3 new4; do
  KSA_PLUGIN_PATH=$D/lib_$v KSA_LIBRARY=$D/core/libksa.so TAG=$v BATCH=16 MODES=dense,reuse PAGES=0,16,64 LKS=32768 timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done
sort -k2,2 -k3,3 -k4,4 -k6,6n -k1,1 $OUT/paged.txt | grep -v error | awk '{printf "%s %s %s %s p%s %s | ", $1,$2,$3,$4,$6,$7} NR%2==0{print ""}'
s=$(date +%s)
KSA_PLUGIN_PATH=$D/lib_new4 timeout 120 ncu -k regex:kc_mma_decode --launch-skip 10 --launch-count 1 --section SourceCounters --section WarpStateStats --warp-sampling-interval 0 -f -o /tmp/rb1 \
  $D/bin/ksa-bench --device cuda:0 --shape 1,1,32768,32,8,128 --mode reuse --phase decode --dtype f16 --repeats 3 > /tmp/rb1.log 2>&1
echo "ncu reuse B1 rc=$? $(( $(date +%s)-s )) s"
ncu --import /tmp/rb1.ncu-rep --page source --csv --print-source sass 2>&1 | gzip -9 > $OUT/src-reuse-b1.csv.gz
ncu --import /tmp/rb1.ncu-rep --page details 2>&1 | grep -E "Duration|Warp Cycles Per Issued|Stall|Issued Warp" | head -20
