#!/bin/bash
# s16 call 5: Q read before the head-map/count chain, L2 prefetch of counts and this split's index entries
# (lib_pre) vs ca5800a (lib_new): tests on lib_pre, ksa-bench A/B (L2 warm), peer-style B1 (L2 flushed)
D=$PWD/.carry/devbin
R=$PWD
for l in lib_new lib_pre; do tar xJf $D/$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_pre
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
cat /tmp/test_cuda.log /tmp/test_backends.log | gzip > $OUT/tests.log.gz
s=$(date +%s); KSA_TEST_QUICK=1 timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "memcheck test_cuda quick rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
VARIANTS="new=lib_new pre=lib_pre" bash $D/abv.sh 3 rdec1 rdec16 adec1 dec1 > $OUT/abv.txt 2>&1; cat $OUT/abv.txt
PY=/opt/torch/.venv/bin/python3
for round in 1 2 3; do for v in new pre; do
  KSA_PLUGIN_PATH=$D/lib_$v KSA_LIBRARY=$D/core/libksa.so TAG=$v MODES=dense,reuse,anchor PAGES=0,16 LKS=8192,32768 timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)))+(m.group(1),)].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d)):
    a=d.get(k+('new',),[]); b=d.get(k+('pre',),[])
    print('%s %-6s Lk%-6d p%-3d new %s | pre %s | min ratio %.3f'%(k+(' '.join('%.2f'%x for x in a),' '.join('%.2f'%x for x in b),min(b)/min(a))))
PY
grep error $OUT/paged.txt | head -3
