#!/bin/bash
# tenth session, device call 2: gathered decode with read-ahead key indices, dealt sparse chunks, one copy site (lib_new)
# vs HEAD (lib_head): code size, GPU tests + sanitizers on lib_new, ksa-bench A/B, split/cluster sweep, ncu stalls
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH
export KSA_PLUGIN_PATH=$R/.carry/devbin/lib_new KSA_TUNE_CACHE=off
mkdir -p $OUT/gpu
for v in head new; do
  cuobjdump -sass .carry/devbin/lib_$v/libksa_cuda.so > $OUT/gpu/sass-$v.txt 2>&1
  python3 - $OUT/gpu/sass-$v.txt $v <<'PY'
import sys,re
cur=None; n={}
for l in open(sys.argv[1]):
    m=re.match(r'\s+Function : (\S+)',l)
    if m: cur=m.group(1); n[cur]=0; continue
    if cur and re.match(r'\s+/\*[0-9a-f]{4,}\*/',l): n[cur]+=1
for f in sorted(n):
    if 'kc_mma_decode' in f and ('ILi128E6__half' in f or 'ILi128E13__nv_bfloat16' in f): print(sys.argv[2], n[f], f)
PY
done
rm -f $OUT/gpu/sass-*.txt
for t in test_cuda test_cuda_graph; do
  s=$(date +%s); timeout 200 .carry/devbin/bin/$t > $OUT/gpu/$t.log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s"; grep -E "PASSED|FAILED|ERROR|LINE" $OUT/gpu/$t.log | head -8
done
s=$(date +%s); timeout 200 .carry/devbin/bin/test_backends --devices cuda:0 > $OUT/gpu/test_backends.log 2>&1; echo "test_backends rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|ktest grid|PASS" $OUT/gpu/test_backends.log | head -6
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode*' timeout 150 compute-sanitizer --tool memcheck .carry/devbin/bin/test_cuda > $OUT/gpu/memcheck-decode.log 2>&1; echo "memcheck decode rc=$? $(( $(date +%s)-s )) s"; grep -E "test\(s\)|ERROR SUMMARY|Invalid" $OUT/gpu/memcheck-decode.log | head -4
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode*' timeout 150 compute-sanitizer --tool racecheck .carry/devbin/bin/test_cuda > $OUT/gpu/racecheck-decode.log 2>&1; echo "racecheck decode rc=$? $(( $(date +%s)-s )) s"; grep -E "test\(s\)|RACECHECK SUMMARY" $OUT/gpu/racecheck-decode.log | head -4
s=$(date +%s); KSA_TEST_QUICK=1 timeout 200 compute-sanitizer --tool memcheck .carry/devbin/bin/test_backends --devices cuda:0 > $OUT/gpu/memcheck-backends.log 2>&1; echo "memcheck backends rc=$? $(( $(date +%s)-s )) s"; grep -E "ktest grid|ERROR SUMMARY|Invalid" $OUT/gpu/memcheck-backends.log | head -4
B=.carry/devbin/bin/ksa-bench
ncu -k regex:kc_mma_decode -s 5 -c 1 --section WarpStateStats --section SourceCounters -o $OUT/gpu/rdec1-new $B --device cuda:0 --shape 1,1,32768,32,8,128 --mode reuse --phase decode --dtype f16 --repeats 3 > $OUT/gpu/ncu-run.log 2>&1
ncu -i $OUT/gpu/rdec1-new.ncu-rep --page source --csv --print-source sass > $OUT/gpu/rdec1-new-sass.csv 2>&1
rm -f $OUT/gpu/rdec1-new.ncu-rep
(cd $OUT && tar czf gpu.tar.gz gpu && rm -rf gpu)
s=$(date +%s)
VARIANTS="head=lib_head new=lib_new" bash .carry/devbin/abv.sh 3 rdec1 rdec16 dec1 adec1 adec16
echo "abv $(( $(date +%s)-s )) s"
mv $OUT/abv.jsonl $OUT/abv-ab.jsonl
VARIANTS="new=lib_new c8=lib_new@decode_splits=8,decode_cluster=2 c16=lib_new@decode_splits=16,decode_cluster=2,decode_chunk=16 s16=lib_new@decode_splits=16,decode_cluster=1" bash .carry/devbin/abv.sh 2 rdec1
