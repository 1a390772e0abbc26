#!/bin/bash
# s16 call 2: shorter cold code in decode (lib_cs: shared-space pointers, the gathered copies' common case in
# its own loop with row-address pairs loaded four at a time, merge loop not unrolled, in-cluster combine by
# per-head split weights) vs HEAD 5626adc (lib_rev): tests + sanitizers on lib_cs, ksa-bench A/B, peer-style B1, ncu of reuse B1 Lk8K
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_cs
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
cat /tmp/test_cuda.log /tmp/test_cuda_graph.log /tmp/test_backends.log > $OUT/tests.log
s=$(date +%s); KSA_TEST_QUICK=1 timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "memcheck test_cuda quick rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_decode_wide_groups timeout 100 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "racecheck wide_groups rc=$? $(( $(date +%s)-s )) s $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
VARIANTS="rev=lib_rev cs=lib_cs" bash $D/abv.sh 3 rdec1 rdec16 adec1 dec1 dec16 hd > $OUT/abv.txt 2>&1; cat $OUT/abv.txt
PY=/opt/torch/.venv/bin/python3
for round in 1 2; do for v in rev cs; do
  KSA_PLUGIN_PATH=$D/lib_$v KSA_LIBRARY=$D/core/libksa.so TAG=$v MODES=dense,reuse,anchor PAGES=0,16 LKS=8192,32768 timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
sort -k2,2 -k3,3 -k4,4 -k6,6n -k1,1 $OUT/paged.txt | grep -v error | awk '{printf "%s %s %s %s p%s %s | ", $1,$2,$3,$4,$6,$7} NR%2==0{print ""}'
grep error $OUT/paged.txt | head -3
for v in rev cs; do
s=$(date +%s)
KSA_PLUGIN_PATH=$D/lib_$v timeout 100 ncu -k regex:kc_mma_decode --launch-skip 12 --launch-count 1 --section SourceCounters --section WarpStateStats --warp-sampling-interval 0 -f -o /tmp/rb$v \
  $D/bin/ksa-bench --device cuda:0 --shape 1,1,8192,32,8,128 --mode reuse --phase decode --dtype f16 > /tmp/rb$v.log 2>&1
echo "ncu $v reuse B1 Lk8K rc=$? $(( $(date +%s)-s )) s"
ncu --import /tmp/rb$v.ncu-rep --page source --csv --print-source sass 2>&1 | gzip -9 > $OUT/src-reuse-b1-8192-$v.csv.gz
ncu --import /tmp/rb$v.ncu-rep --page details 2>&1 > $OUT/details-reuse-b1-8192-$v.txt
grep -E "Duration|Warp Cycles Per Issued|Executed Instructions  " $OUT/details-reuse-b1-8192-$v.txt | head -4
done
