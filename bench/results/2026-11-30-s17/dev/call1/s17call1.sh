#!/bin/bash
# s17 call 1: the plan sizes paged decode by the instantiation that runs; affine copies in paged pools
# (lib_aff) against f0f2bf5 (lib_occ): tests on lib_aff, peer-style paged/contiguous timings B16/B64
D=$PWD/.carry/devbin
R=$PWD
for l in lib_occ lib_aff; do tar xJf $D/$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_aff
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
grep -B2 -A3 'affine paged\|FAILED\|failed' /tmp/test_cuda.log | head -20
cat /tmp/test_cuda.log /tmp/test_backends.log /tmp/test_cuda_graph.log | gzip > $OUT/tests.log.gz
s=$(date +%s); KSA_TEST_FILTER=test_decode_affine_paged timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "memcheck affine_paged rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
export KSA_LIBRARY=$D/core/libksa.so
for round in 1 2; do for B in 16 64; do
  KSA_PLUGIN_PATH=$D/lib_occ TAG=head BATCH=$B MODES=dense,anchor PAGES=0,16,64 LKS=8192,32768 timeout 120 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
  KSA_PLUGIN_PATH=$D/lib_aff TAG=aff BATCH=$B MODES=dense,anchor PAGES=0,16,64 LKS=8192,32768 CONFIGS=";decode_kernel=3;decode_chunk=32,decode_stages=3" timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(1)+':'+m.group(7))].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3])):
    base=d.get(k+('head:built-in',),[float('nan')])
    cs=[(x[4],min(d[x])) for x in d if x[:4]==k]
    print('%s %-6s Lk%-6d p%-3d '%k + ' | '.join('%s %.1f (%.3f)'%(c,t,t/min(base)) for c,t in sorted(cs)))
PY
grep -i error $OUT/paged.txt | head -3
