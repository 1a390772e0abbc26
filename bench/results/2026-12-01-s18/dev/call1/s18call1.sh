#!/bin/bash
# s18 call 1 (no build; the plugin of ffb72e5 = lib_rv): (a) anchor decode B1 contiguous / pages of 16 / 64
# under configurations (the affine copies for the K-only pass, split counts), three rounds; (b) Nsight
# Compute per-kernel durations of one anchor B1 Lk32K call, contiguous and pages of 16; (c) dense
# decode B16/B64 Lk8K token-major vs head-major K/V against cuDNN (peer_torch, interleaved)
D=$PWD/.carry/devbin
tar xJf $D/lib_rv.tar.xz -C $D
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
export KSA_LIBRARY=$D/core/libksa.so KSA_PLUGIN_PATH=$D/lib_rv
C=";decode_kernel=3;decode_kernel=3,decode_splits=16;decode_kernel=3,decode_splits=32;decode_kernel=3,decode_splits=64;decode_splits=16;decode_splits=64;decode_kernel=3,decode_chunk=32,decode_stages=2"
for round in 1 2 3; do
  TAG=r$round BATCH=1 MODES=anchor PAGES=0,16,64 LKS=8192,32768 CONFIGS="$C" timeout 150 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done
python3 - $OUT/paged.txt <<'PY'
import sys,re,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) (B\d+) (\w+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us  config '(.*)'",l)
    if m: d[(m.group(2),m.group(3),int(m.group(4)),int(m.group(5)),m.group(7))].append(float(m.group(6)))
for k in sorted(set(x[:4] for x in d), key=lambda k:(int(k[0][1:]),k[1],k[2],k[3])):
    base=d.get(k+('built-in',),[float('nan')])
    cs=[(x[4].replace('decode_',''),min(d[x]),max(d[x])) for x in d if x[:4]==k]
    print('%s %-6s Lk%-6d p%-3d '%k + ' | '.join('%s %.1f-%.1f (%.3f)'%(c,t,u,t/min(base)) for c,t,u in cs))
PY
grep -i error $OUT/paged.txt | head -3
for ps in 0 16 64; do
  TAG=ncu BATCH=1 MODES=anchor PAGES=$ps LKS=32768 CONFIGS="" KSA_LOG=1 timeout 120 ncu --clock-control none --launch-skip 40 --launch-count 40 \
    --metrics gpu__time_duration.sum --csv $PY $D/paged_configs.py > $OUT/ncu_p$ps.csv 2> $OUT/ncu_p$ps.err
  grep -i "splits" $OUT/ncu_p$ps.err | sort | uniq -c | head -6
  python3 - $OUT/ncu_p$ps.csv $ps <<'PY'
import sys,csv,collections
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
h=rows[0]; ki=h.index('Kernel Name'); vi=h.index('Metric Value')
d=collections.defaultdict(list)
for r in rows[1:]:
    try: d[r[ki][:60]].append(float(r[vi].replace(',','')))
    except: pass
for k,v in d.items():
    v.sort(); print('pages', sys.argv[2], '%-60s n=%d median %.2f us'%(k,len(v),v[len(v)//2]/1000))
PY
done
for lay in bshd bhsd; do
  timeout 200 $PY bench/peer_torch.py --device cuda --dtype bf16 --shape 16,1,8192,32,8,128 --shape 64,1,8192,32,8,128 --shape 16,1,32768,32,8,128 \
    --modes dense --interleave dense --kv-layout $lay --out $OUT/peer_$lay.jsonl 2>&1 | grep '^#' | grep -v 'cpu' | sed "s/^/$lay /"
done
