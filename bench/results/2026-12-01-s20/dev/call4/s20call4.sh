#!/bin/bash
# s20 call 4: lib_pf (paged decode by the affine copies: each warp reads the page-table entries of its
# next 32 chunks in one load, a chunk's page comes by a shuffle): tests, memcheck of the paged decode
# tests, three alternating rounds base (lib_pin2, HEAD) / pf of decode B1 / B2 / B16 dense and anchor,
# contiguous and in pages of 16 and 64 (peer-style timing: L2 flushed, median of 15)
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in pin2 pf; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_pf
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-200)"
done
grep -B2 -A3 'FAILED\|failed' $L/test_cuda.log | head -20
for f in test_decode_affine_paged test_decode_small_pages test_decode_long_paged_splits; do
  KSA_TEST_FILTER=$f timeout 120 compute-sanitizer --tool memcheck $D/bin/test_cuda > $L/memcheck_$f.log 2>&1; echo "memcheck $f rc=$? $(grep -E 'ERROR SUMMARY' $L/memcheck_$f.log)"
done
PY=/opt/torch/.venv/bin/python3
export KSA_LIBRARY=$D/core/libksa.so
for round in 1 2 3; do for l in pin2 pf; do
  for B in 1 2 16; do TAG=$l BATCH=$B MODES=dense,anchor PAGES=0,16,64 LKS=8192,32768 CONFIGS="" KSA_PLUGIN_PATH=$D/lib_$l timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1; done
done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(1))].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3])):
    b,n=d.get(k+('pin2',),[]),d.get(k+('pf',),[])
    c0=d.get(k[:3]+(0,'pf'),[])
    if b and n: print('%-3s %-6s Lk%-6d p%-3d base %6.1f (%6.1f)  pf %6.1f (%6.1f)  pf/base %.3f  paged/contiguous(pf) %s'%(k+(min(b),max(b),min(n),max(n),min(n)/min(b),'%.3f'%(min(n)/min(c0)) if c0 and k[3] else '-')))
PY
grep -i error $OUT/paged.txt | head -3
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
