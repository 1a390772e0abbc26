#!/bin/bash
# s17 call 5: few lists of dense keys by the affine copies with splits merged in their cluster (lib_a5)
# against call 3-4's library (lib_a3): tests on lib_a5, peer-style B1/B2/B16 timings, 3 rounds
D=$PWD/.carry/devbin
R=$PWD
for l in lib_a3 lib_a5; do tar xJf $D/$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_a5
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
grep -B2 -A3 'FAILED\|failed' /tmp/test_cuda.log | head -20
cat /tmp/test_cuda.log /tmp/test_backends.log /tmp/test_cuda_graph.log | gzip > $OUT/tests.log.gz
for f in test_decode_affine_paged test_decode_small_pages; do
s=$(date +%s); KSA_TEST_FILTER=$f timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "memcheck $f rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
done
s=$(date +%s); KSA_TEST_FILTER=test_decode_affine_paged timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "racecheck affine_paged rc=$? $(( $(date +%s)-s )) s $(grep 'RACECHECK SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
export KSA_LIBRARY=$D/core/libksa.so
for round in 1 2 3; do for B in 1 2 16; do for v in a3 a5; do
  KSA_PLUGIN_PATH=$D/lib_$v TAG=$v BATCH=$B MODES=dense PAGES=0,16,64 LKS=8192,32768 timeout 120 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(1))].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3])):
    a=d.get(k+('a3',),[float('nan')]); b=d.get(k+('a5',),[float('nan')])
    print('%s %-6s Lk%-6d p%-3d a3 %.1f-%.1f | a5 %.1f-%.1f | %.3f'%(k+(min(a),max(a),min(b),max(b),min(b)/min(a))))
PY
grep -i error $OUT/paged.txt | head -3
