#!/bin/bash
# s17 call 2: the anchor's K-only pass over pages by the affine paged copies (lib_a2) against f0f2bf5
# (lib_occ): tests and memcheck on lib_a2, peer-style paged/contiguous timings B8/B16/B64, 3 rounds
D=$PWD/.carry/devbin
R=$PWD
for l in lib_occ lib_a2; do tar xJf $D/$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_a2
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
grep -B2 -A3 'FAILED\|failed' /tmp/test_cuda.log | head -20
cat /tmp/test_cuda.log /tmp/test_backends.log /tmp/test_cuda_graph.log | gzip > $OUT/tests.log.gz
for f in test_decode_affine_paged test_decode_chunks; do
s=$(date +%s); KSA_TEST_FILTER=$f timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "memcheck $f rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
done
s=$(date +%s); KSA_TEST_FILTER=test_decode_affine_paged timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "racecheck affine_paged rc=$? $(( $(date +%s)-s )) s $(grep 'RACECHECK SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
export KSA_LIBRARY=$D/core/libksa.so
for round in 1 2 3; do for B in 8 16 64; do
  KSA_PLUGIN_PATH=$D/lib_occ TAG=head BATCH=$B MODES=dense,anchor PAGES=0,16,64 LKS=8192,32768 timeout 120 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
  KSA_PLUGIN_PATH=$D/lib_a2 TAG=new BATCH=$B MODES=dense,anchor PAGES=0,16,64 LKS=8192,32768 CONFIGS=";decode_chunk=32,decode_stages=3" timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(1)+':'+m.group(7))].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3])):
    base=d.get(k+('head:built-in',),[float('nan')])
    cs=[(x[4],min(d[x]),max(d[x])) for x in d if x[:4]==k]
    print('%s %-6s Lk%-6d p%-3d '%k + ' | '.join('%s %.1f-%.1f (%.3f)'%(c,t,u,t/min(base)) for c,t,u in sorted(cs)))
PY
grep -i error $OUT/paged.txt | head -3
