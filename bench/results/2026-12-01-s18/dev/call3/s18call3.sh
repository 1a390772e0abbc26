#!/bin/bash
# s18 call 3: tests of lib_s18b (call 2 + the anchor K-only pass of few long lists by the affine copies, 32 splits), B1 anchor timing against lib_rv
D=$PWD/.carry/devbin
R=$PWD
for l in rv s18b; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_s18b
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > $OUT/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $OUT/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
grep -B2 -A3 'FAILED\|failed' $OUT/test_cuda.log | head -20
for f in test_decode_affine_paged test_decode_gathered_paths; do
  KSA_TEST_FILTER=$f timeout 200 compute-sanitizer --tool memcheck $D/bin/test_cuda > $OUT/memcheck_$f.log 2>&1; echo "memcheck $f rc=$? $(grep -E 'ERROR SUMMARY' $OUT/memcheck_$f.log)"
done
KSA_TEST_FILTER=test_decode_affine_paged timeout 200 compute-sanitizer --tool racecheck $D/bin/test_cuda > $OUT/racecheck.log 2>&1; echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $OUT/racecheck.log)"
PY=/opt/torch/.venv/bin/python3
export KSA_LIBRARY=$D/core/libksa.so
C=""
for round in 1 2; do for l in rv s18b; do
  TAG=$l BATCH=1 MODES=anchor PAGES=0,16,64 LKS=8192,32768 CONFIGS="$C" KSA_PLUGIN_PATH=$D/lib_$l timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(7),m.group(1))].append(float(m.group(6)))
keys=sorted(set(k[:4] for k in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3]))
for k in keys:
    base=min(d.get(k+('built-in','rv'),[float('nan')]))
    cs=sorted(set(x[4] for x in d if x[:4]==k), key=lambda c:(c!='built-in',c))
    print('%s %-6s Lk%-6d p%-3d rv-built-in %.1f | '%(k+(base,)) + ' | '.join('%s %.1f (%.3f)'%(c.replace('decode_','').replace('kernel=3,',''),min(d[k+(c,'s18b')]),min(d[k+(c,'s18b')])/base) for c in cs if d.get(k+(c,'s18b'))))
PY
grep -i error $OUT/paged.txt | head -3
