#!/bin/bash
# s16 call 4: ca5800a (lib_new): test_cuda with test_decode_gathered_paths + memcheck; plans now that gathered
# copies are shorter: dense B1 in pages (TMA vs cp.async), reuse B1/B2/B16 chunk and stages (peer-style)
D=$PWD/.carry/devbin
R=$PWD
for l in lib_rev lib_new; do tar xJf $D/$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_new
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
grep -B2 -A3 'gathered path\|FAILED\|failed' /tmp/test_cuda.log | head -20
cat /tmp/test_cuda.log /tmp/test_backends.log | gzip > $OUT/tests.log.gz
s=$(date +%s); KSA_TEST_FILTER=test_decode_gathered_paths timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "memcheck gathered_paths rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
s=$(date +%s); KSA_TEST_FILTER=test_decode_gathered_paths timeout 120 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "racecheck gathered_paths rc=$? $(( $(date +%s)-s )) s $(grep -E 'RACECHECK SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
export KSA_PLUGIN_PATH=$D/lib_new KSA_LIBRARY=$D/core/libksa.so
for round in 1 2; do
  TAG=r$round MODES=dense PAGES=0,16,64 LKS=8192,32768 CONFIGS=";decode_kernel=3;decode_kernel=3,decode_chunk=16" timeout 150 $PY $D/paged_configs.py >> $OUT/plans.txt 2>&1
  TAG=r$round MODES=reuse PAGES=0,16 LKS=8192,32768 CONFIGS=";decode_chunk=32;decode_chunk=16;decode_stages=3" timeout 150 $PY $D/paged_configs.py >> $OUT/plans.txt 2>&1
  TAG=r$round BATCH=2 MODES=reuse PAGES=0 LKS=8192,32768 CONFIGS=";decode_chunk=32;decode_chunk=16;decode_stages=3" timeout 150 $PY $D/paged_configs.py >> $OUT/plans.txt 2>&1
done
TAG=r1 BATCH=16 MODES=reuse,dense PAGES=0,16 LKS=8192,32768 CONFIGS=";decode_chunk=32;decode_chunk=16;decode_kernel=3" timeout 150 $PY $D/paged_configs.py >> $OUT/plans.txt 2>&1
python3 - $OUT/plans.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(7))].append(float(m.group(6)))
keys=sorted(set(k[:4] for k in d))
for k in keys:
    row=[(c,min(v)) for (kk,v) in [(x[:4],d[x]) for x in d] for c in [None] if False]
    cs=[(x[4],min(d[x])) for x in d if x[:4]==k]
    base=[t for c,t in cs if c=='built-in']
    b=base[0] if base else float('nan')
    print('%s %-6s Lk%-6d p%-3d '%k + ' | '.join('%s %.2f (%.3f)'%(c,t,t/b) for c,t in sorted(cs)))
PY
grep error $OUT/plans.txt | head -3
