#!/bin/bash
# s19 call 1: tests of lib_new (the cluster Top-k pools and merges the splits; one cluster barrier per
# radix pass, early stop), memcheck/racecheck of the Top-k tests, then peer-style timing of anchor and
# dense decode B1/B2, three rounds alternating lib_base (d721667) and lib_new, and ncu per-kernel
# durations of one anchor B1 Lk32K call with each plugin
D=$PWD/.carry/devbin
R=$PWD
for l in base new; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_new
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > $OUT/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $OUT/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
grep -B2 -A3 'FAILED\|failed' $OUT/test_cuda.log | head -20
for f in test_decode_topk_cluster_pools test_decode_topk_ties; do
  KSA_TEST_FILTER=$f timeout 200 compute-sanitizer --tool memcheck $D/bin/test_cuda > $OUT/memcheck_$f.log 2>&1; echo "memcheck $f rc=$? $(grep -E 'ERROR SUMMARY' $OUT/memcheck_$f.log)"
done
KSA_TEST_FILTER=test_decode_topk_cluster_pools timeout 200 compute-sanitizer --tool racecheck $D/bin/test_cuda > $OUT/racecheck.log 2>&1; echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $OUT/racecheck.log)"
KSA_TEST_FILTER=test_decode_topk_cluster_pools timeout 200 compute-sanitizer --tool synccheck $D/bin/test_cuda > $OUT/synccheck.log 2>&1; echo "synccheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/synccheck.log)"
PY=/opt/torch/.venv/bin/python3
export KSA_LIBRARY=$D/core/libksa.so
for round in 1 2 3; do for l in base new; do
  C=""; [ $l = new ] && C=";decode_cluster=1"
  for B in 1 2; do TAG=$l BATCH=$B MODES=dense,anchor PAGES=0,16,64 LKS=8192,32768 CONFIGS="$C" KSA_PLUGIN_PATH=$D/lib_$l timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1; done
done; done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(1)+' '+m.group(7))].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3])):
    b=d.get(k+('base built-in',),[])
    if not b: continue
    out='%s %-6s Lk%-6d p%-3d base %.1f (%.1f-%.1f)'%(k+(min(b),min(b),max(b)))
    for t in ('new built-in','new decode_cluster=1'):
        n=d.get(k+(t,),[])
        if n: out+=' | %s %.1f (%.1f-%.1f) %.3f'%(t,min(n),min(n),max(n),min(n)/min(b))
    print(out)
PY
grep -i error $OUT/paged.txt | head -3
for l in base new; do
  TAG=ncu BATCH=1 MODES=anchor PAGES=0 LKS=32768 CONFIGS="" KSA_LOG=1 KSA_PLUGIN_PATH=$D/lib_$l timeout 120 ncu --clock-control none --launch-skip 40 --launch-count 40 \
    --metrics gpu__time_duration.sum --csv $PY $D/paged_configs.py > $OUT/ncu_$l.csv 2> $OUT/ncu_$l.err
  grep -i "splits" $OUT/ncu_$l.err | sort | uniq -c | head -3
  python3 - $OUT/ncu_$l.csv $l <<'PY'
import sys,csv,collections
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
h=rows[0]; ki=h.index('Kernel Name'); vi=h.index('Metric Value')
d=collections.defaultdict(list)
for r in rows[1:]:
    try: d[r[ki][:60]].append(float(r[vi].replace(',','')))
    except: pass
for k,v in d.items():
    v.sort(); print(sys.argv[2], '%-60s n=%d median %.2f us'%(k,len(v),v[len(v)//2]/1000))
PY
done
