#!/bin/bash
# s19 call 2: the fixed test and the sanitizers (synccheck's finding printed), timing of anchor decode
# B1/B2 base vs new (the sparse pass apart from 2048 slots on; the shipped B1 Lk32K entry dropped; the
# Top-k's part counts read by one warp), two rounds; ncu per-kernel durations and a full profile of the
# cluster Top-k (stall samples per SASS line)
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in base new; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_new
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
grep -B2 -A3 'FAILED\|failed' $L/test_cuda.log | head -20
for tool in memcheck racecheck synccheck; do
  KSA_TEST_FILTER=test_decode_topk_cluster_pools timeout 200 compute-sanitizer --tool $tool $D/bin/test_cuda > $L/$tool.log 2>&1; echo "$tool rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $L/$tool.log)"
done
grep -m1 -B3 -A25 "=========  *[A-Z].*\(Barrier\|error\|Error\)" $L/synccheck.log | head -40
KSA_TEST_FILTER=test_decode_cluster timeout 200 compute-sanitizer --tool synccheck $D/bin/test_cuda > $L/synccheck_cluster.log 2>&1; echo "synccheck test_decode_cluster (old code) rc=$? $(grep -E 'ERROR SUMMARY' $L/synccheck_cluster.log)"
PY=/opt/torch/.venv/bin/python3
export KSA_LIBRARY=$D/core/libksa.so
for round in 1 2; do for l in base new; do
  for B in 1 2; do TAG=$l BATCH=$B MODES=anchor PAGES=0,16,64 LKS=8192,32768 CONFIGS="" KSA_PLUGIN_PATH=$D/lib_$l timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1; done
done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(1))].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3])):
    b,n=d.get(k+('base',),[]),d.get(k+('new',),[])
    if b and n: print('%s %-6s Lk%-6d p%-3d base %.1f (%.1f-%.1f)  new %.1f (%.1f-%.1f)  new/base %.3f'%(k+(min(b),min(b),max(b),min(n),min(n),max(n),min(n)/min(b))))
PY
grep -i error $OUT/paged.txt | head -3
export KSA_PLUGIN_PATH=$D/lib_new
for lk in 8192 32768; do
TAG=ncu BATCH=1 MODES=anchor PAGES=0 LKS=$lk CONFIGS="" KSA_LOG=1 timeout 120 ncu --clock-control none --launch-skip 40 --launch-count 40 \
  --metrics gpu__time_duration.sum --csv $PY $D/paged_configs.py > $L/ncu_$lk.csv 2> $L/ncu_$lk.err
grep -i "splits" $L/ncu_$lk.err | sort | uniq -c | head -2 | cut -c1-250
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
TAG=prof BATCH=1 MODES=anchor PAGES=0 LKS=32768 CONFIGS="" timeout 200 ncu --clock-control none -k regex:kc_topk_cluster --launch-skip 5 --launch-count 1 \
  --set full -o $OUT/topk -f $PY $D/paged_configs.py > $L/prof.log 2>&1; echo "prof rc=$?"
ncu -i $OUT/topk.ncu-rep --page details > $OUT/topk_details.txt 2>&1
ncu -i $OUT/topk.ncu-rep --page source --csv --print-source sass > $L/topk_sass.csv 2>&1
python3 - $L/topk_sass.csv > $OUT/topk_top.txt <<'PY'
import sys,csv
rows=list(csv.reader(open(sys.argv[1])))
hi=[i for i,r in enumerate(rows) if any('Stall Sampling (All' in c for c in r)]
if not hi: print('no stall column'); print(rows[:3]); sys.exit()
h=rows[hi[0]]; si=[i for i,c in enumerate(h) if 'Stall Sampling (All' in c][0]
src=[i for i,c in enumerate(h) if c=='Source'][0]
data=[]
for r in rows[hi[0]+1:]:
    try: data.append((float(r[si] or 0), r[0], r[src]))
    except: pass
tot=sum(x[0] for x in data) or 1
print('total samples', tot)
for i,(v,a,s) in enumerate(data):
    pass
for v,a,s in sorted(data,reverse=True)[:40]: print('%5.1f%% %s %s'%(100*v/tot,a,s[:110]))
print('--- in order (samples >= 0.5%):')
for v,a,s in data:
    if v/tot>=0.005: print('%5.1f%% %s %s'%(100*v/tot,a,s[:110]))
PY
head -5 $OUT/topk_top.txt
grep -E "Duration|Warp Cycles Per Issued|Stall|Barrier|Membar|Long Scoreboard|Achieved Occupancy|Registers Per" $OUT/topk_details.txt | head -30
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
