#!/bin/bash
# tenth session, device call 1: GPU tests of HEAD (5ac755b, 9000eb7 never ran on a GPU), contiguous B1
# decode A/B (prev = metadata kernel, len = b3199f1, head = HEAD), ncu source-level stalls of reuse decode f16 B1 Lk32K
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH
export KSA_PLUGIN_PATH=$R/.carry/devbin/lib_head KSA_TUNE_CACHE=off
mkdir -p $OUT/gpu
for t in test_cuda test_cuda_graph; do
  s=$(date +%s); timeout 200 .carry/devbin/bin/$t > $OUT/gpu/$t.log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s"; grep -E "clamped|PASSED|FAILED|ERROR|LINE" $OUT/gpu/$t.log | head -8
done
s=$(date +%s); timeout 200 .carry/devbin/bin/test_backends --devices cuda:0 > $OUT/gpu/test_backends.log 2>&1; echo "test_backends rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|ktest grid|PASS" $OUT/gpu/test_backends.log | head -6
s=$(date +%s); KSA_TEST_FILTER='test_lengths_clamped*' timeout 100 compute-sanitizer --tool memcheck .carry/devbin/bin/test_cuda > $OUT/gpu/memcheck-clamped.log 2>&1; echo "memcheck clamped rc=$? $(( $(date +%s)-s )) s"; grep -E "test\(s\)|ERROR SUMMARY|Invalid" $OUT/gpu/memcheck-clamped.log | head -4
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode*' timeout 150 compute-sanitizer --tool memcheck .carry/devbin/bin/test_cuda > $OUT/gpu/memcheck-decode.log 2>&1; echo "memcheck decode rc=$? $(( $(date +%s)-s )) s"; grep -E "test\(s\)|ERROR SUMMARY|Invalid" $OUT/gpu/memcheck-decode.log | head -4
B=.carry/devbin/bin/ksa-bench
s=$(date +%s)
ncu -k regex:kc_mma_decode -s 5 -c 1 --section WarpStateStats --section SourceCounters --section LaunchStats --section Occupancy -o $OUT/gpu/rdec1 $B --device cuda:0 --shape 1,1,32768,32,8,128 --mode reuse --phase decode --dtype f16 --repeats 3 > $OUT/gpu/ncu-run.log 2>&1
echo "ncu rc=$? $(( $(date +%s)-s )) s"
ncu -i $OUT/gpu/rdec1.ncu-rep --page source --csv --print-source sass > $OUT/gpu/rdec1-sass.csv 2>&1
ncu -i $OUT/gpu/rdec1.ncu-rep --page details --csv > $OUT/gpu/rdec1-details.csv 2>&1
grep -E "Warp Cycles Per Issued|Stall|Achieved Occ|Duration" $OUT/gpu/rdec1-details.csv | head -30 | cut -c1-250
(cd $OUT && tar czf gpu.tar.gz gpu && rm -rf gpu)
s=$(date +%s)
VARIANTS="prev=lib_prev len=lib_len head=lib_head" bash .carry/devbin/abv.sh 2 dec1 rdec1
echo "abv $(( $(date +%s)-s )) s"
