#!/bin/bash
# eleventh session, device call 7: the few-list decode rules and page-by-page TMA (lib_new3) against HEAD
# (lib_s11): tests, sanitizers, paged/contiguous A/B (flushed L2) and ksa-bench A/B
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH KSA_LIBRARY=$R/.carry/devbin/core/libksa.so KSA_TUNE_CACHE=off
mkdir -p $OUT/gpu
export KSA_PLUGIN_PATH=$R/.carry/devbin/lib_new3
for t in test_cuda test_cuda_graph; do
  s=$(date +%s); timeout 200 .carry/devbin/bin/$t > $OUT/gpu/$t.log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s"; grep -E "PASSED|FAILED|ERROR|LINE" $OUT/gpu/$t.log | head -6
done
s=$(date +%s); timeout 200 .carry/devbin/bin/test_backends --devices cuda:0 > $OUT/gpu/test_backends.log 2>&1; echo "test_backends rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|ktest grid" $OUT/gpu/test_backends.log | head -4
for tool in memcheck racecheck; do
  s=$(date +%s); KSA_TEST_FILTER='test_decode_small_pages' timeout 200 compute-sanitizer --tool $tool .carry/devbin/bin/test_cuda > $OUT/gpu/$tool-small-pages.log 2>&1; echo "$tool small pages rc=$? $(( $(date +%s)-s )) s"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY" $OUT/gpu/$tool-small-pages.log | head -2
done
s=$(date +%s)
for r in 1 2; do
  for v in s11 new3; do
    KSA_PLUGIN_PATH=$R/.carry/devbin/lib_$v TAG=$v MODES=dense,anchor,reuse LKS=32768,8192 timeout 100 python3 .carry/devbin/paged_configs.py >> $OUT/gpu/paged.txt 2>&1
    KSA_PLUGIN_PATH=$R/.carry/devbin/lib_$v TAG=$v BATCH=2 MODES=dense,anchor LKS=32768 timeout 60 python3 .carry/devbin/paged_configs.py >> $OUT/gpu/paged.txt 2>&1
  done
done
echo "paged A/B $(( $(date +%s)-s )) s"
python3 - $OUT/gpu/paged.txt <<'PY'
import sys, collections
d = collections.defaultdict(list)
for l in open(sys.argv[1]):
    f = l.split()
    if len(f) >= 8 and f[7] == "us":
        d[(f[1], f[2], f[3], int(f[5]), f[0])].append(float(f[6]))
keys = sorted({k[:4] for k in d})
for k in keys:
    o, n = min(d.get(k + ("s11",), [0])), min(d.get(k + ("new3",), [0]))
    c = k[:3] + (0,)
    co, cn = min(d.get(c + ("s11",), [0])), min(d.get(c + ("new3",), [0]))
    print("%s %-6s %s pages %2d: HEAD %7.2f  new %7.2f (%.3f)   / contiguous: HEAD %.3f new %.3f" % (k[0], k[1], k[2], k[3], o, n, n / o if o else 0, o / co if co else 0, n / cn if cn else 0))
PY
s=$(date +%s)
VARIANTS="old=lib_s11 new3=lib_new3" bash .carry/devbin/abv.sh 2 dec1b dec2 rdec1 rdec2 adec1
echo "abv $(( $(date +%s)-s )) s"
(cd $OUT && tar czf gpu.tar.gz gpu abv.jsonl && rm -rf gpu abv.jsonl)
