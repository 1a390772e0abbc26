#!/bin/bash
# s16 call 3: call 2's changes with the old in-cluster combine (lib_cs0) and with split weights by shuffles
# (lib_cs2) vs HEAD 5626adc (lib_rev): tests + sanitizers on lib_cs2, ksa-bench A/B, peer-style B1
D=$PWD/.carry/devbin
R=$PWD
for l in lib_rev lib_cs0 lib_cs2; do tar xJf $D/$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_cs2
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
cat /tmp/test_cuda.log /tmp/test_backends.log | gzip > $OUT/tests.log.gz
s=$(date +%s); KSA_TEST_QUICK=1 timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "memcheck test_cuda quick rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_decode_wide_groups timeout 100 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "racecheck wide_groups rc=$? $(( $(date +%s)-s )) s $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
VARIANTS="rev=lib_rev cs0=lib_cs0 cs2=lib_cs2" bash $D/abv.sh 3 rdec1 rdec16 adec1 dec1 dec16 hd > $OUT/abv.txt 2>&1; cat $OUT/abv.txt
PY=/opt/torch/.venv/bin/python3
for round in 1 2; do for v in rev cs0 cs2; do
  KSA_PLUGIN_PATH=$D/lib_$v KSA_LIBRARY=$D/core/libksa.so TAG=$v MODES=dense,reuse PAGES=0,16 LKS=8192,32768 timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
sort -k2,2 -k3,3 -k4,4 -k6,6n -k1,1 $OUT/paged.txt | grep -v error | awk '{printf "%s %s %s %s p%s %s | ", $1,$2,$3,$4,$6,$7} NR%6==0{print ""}'
grep error $OUT/paged.txt | head -3
