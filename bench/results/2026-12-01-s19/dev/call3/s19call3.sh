#!/bin/bash
# s19 call 3: why the new Top-k test fails under synccheck (the plugin of d721667 on the older cluster
# Top-k test; the new plugin with and without programmatic dependent launch of the Top-k), and the
# launch's effect on anchor decode B1/B2 (two rounds, new vs nopdl)
D=$PWD/.carry/devbin
R=$PWD
for l in base new nopdl; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
for l in base new nopdl; do for f in test_decode_topk_ties test_decode_topk_cluster_pools; do
  [ $l = base ] && [ $f = test_decode_topk_cluster_pools ] && continue
  KSA_PLUGIN_PATH=$D/lib_$l KSA_TEST_FILTER=$f timeout 200 compute-sanitizer --tool synccheck $D/bin/test_cuda > $OUT/sync_${l}_$f.log 2>&1
  echo "synccheck $l $f rc=$? $(grep -E 'ERROR SUMMARY' $OUT/sync_${l}_$f.log) $(grep -m1 -o 'launch failed: [a-zA-Z]*' $OUT/sync_${l}_$f.log)"
done; done
KSA_PLUGIN_PATH=$D/lib_new KSA_TEST_FILTER=test_decode_topk_cluster_pools timeout 200 compute-sanitizer --tool synccheck --num-cuda-barriers 65536 $D/bin/test_cuda > $OUT/sync_new_barriers.log 2>&1
echo "synccheck new --num-cuda-barriers 65536 rc=$? $(grep -E 'ERROR SUMMARY' $OUT/sync_new_barriers.log) $(grep -m1 -o 'launch failed: [a-zA-Z]*' $OUT/sync_new_barriers.log)"
grep -v '^\s*$' $OUT/sync_new_barriers.log | grep -v "^\[ \|^FAIL\|^cluster" | head -12
PY=/opt/torch/.venv/bin/python3
export KSA_LIBRARY=$D/core/libksa.so
for round in 1 2; do for l in new nopdl; do
  for B in 1 2; do TAG=$l BATCH=$B MODES=anchor PAGES=0,16 LKS=8192,32768 CONFIGS="" KSA_PLUGIN_PATH=$D/lib_$l timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1; done
done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(1))].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3])):
    b,n=d.get(k+('nopdl',),[]),d.get(k+('new',),[])
    if b and n: print('%s %-6s Lk%-6d p%-3d nopdl %.1f (%.1f-%.1f)  new %.1f (%.1f-%.1f)  new/nopdl %.3f'%(k+(min(b),min(b),max(b),min(n),min(n),max(n),min(n)/min(b))))
PY
tar czf $OUT/sync.tar.gz -C $OUT $(cd $OUT && ls sync_*.log) && rm -f $OUT/sync_*.log
