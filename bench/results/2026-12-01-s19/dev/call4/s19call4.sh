#!/bin/bash
# s19 call 4: lib_new2 (the cluster Top-k: its scores prefetched into L1 before the lse merge, the
# merge's maximum and weights in parallel, the bin pick by a scan over eight warps fused with the
# cluster's histogram sums): tests, sanitizers, three rounds base / new (call 2) / new2 of anchor decode
# B1/B2, ncu per-kernel durations of new2 at B1 Lk8K / Lk32K
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in base new new2; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_new2
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
grep -B2 -A3 'FAILED\|failed' $L/test_cuda.log | head -20
for f in test_decode_topk_cluster_pools test_decode_topk_ties; do for tool in memcheck racecheck "synccheck --num-cuda-barriers 65536"; do
  KSA_TEST_FILTER=$f timeout 200 compute-sanitizer --tool $tool $D/bin/test_cuda > $L/san.log 2>&1; echo "$f $tool rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $L/san.log)"
done; done
PY=/opt/torch/.venv/bin/python3
export KSA_LIBRARY=$D/core/libksa.so
for round in 1 2 3; do for l in base new new2; do
  for B in 1 2; do TAG=$l BATCH=$B MODES=anchor PAGES=0,16,64 LKS=8192,32768 CONFIGS="" KSA_PLUGIN_PATH=$D/lib_$l timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1; done
done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(1))].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3])):
    b,n,n2=d.get(k+('base',),[]),d.get(k+('new',),[]),d.get(k+('new2',),[])
    if b and n and n2: print('%s %-6s Lk%-6d p%-3d base %.1f  new %.1f (%.3f)  new2 %.1f (%.1f-%.1f) %.3f of base, %.3f of new'%(k+(min(b),min(n),min(n)/min(b),min(n2),min(n2),max(n2),min(n2)/min(b),min(n2)/min(n))))
PY
grep -i error $OUT/paged.txt | head -3
export KSA_PLUGIN_PATH=$D/lib_new2
for lk in 8192 32768; do
TAG=ncu BATCH=1 MODES=anchor PAGES=0 LKS=$lk CONFIGS="" KSA_LOG=1 timeout 120 ncu --clock-control none --launch-skip 40 --launch-count 40 \
  --metrics gpu__time_duration.sum --csv $PY $D/paged_configs.py > $L/ncu_$lk.csv 2> $L/ncu_$lk.err
grep -i "splits" $L/ncu_$lk.err | sort | uniq -c | head -1 | cut -c1-250
python3 - $L/ncu_$lk.csv $lk <<'PY'
import sys,csv,collections
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
h=rows[0]; ki=h.index('Kernel Name'); vi=h.index('Metric Value')
d=collections.defaultdict(list)
for r in rows[1:]:
    try: d[r[ki][:60]].append(float(r[vi].replace(',','')))
    except: pass
for k,v in d.items():
    v.sort(); print('Lk', sys.argv[2], '%-60s n=%d median %.2f us'%(k,len(v),v[len(v)//2]/1000))
PY
done
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
