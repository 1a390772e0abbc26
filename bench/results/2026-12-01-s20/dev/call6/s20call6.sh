#!/bin/bash
# s20 call 6: anchor prefill with the consumer warpgroups' ping-pong off / on (config override, HEAD's
# build lib_pin2): three alternating rounds at L16K / L32K bf16, ncu per-kernel times at L16K
D=$PWD/.carry/devbin
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_pin2.tar.xz -C $D
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_pin2
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2 3; do for pp in 1 0; do for LQ in 16384 32768; do
  timeout 60 $B --device cuda:0 --shape 1,$LQ,$LQ,32,8,128 --mode anchor --phase prefill --dtype bf16 --config pingpong=$pp \
    --max-measure-ms 1000 --tag pp$pp --out $J --append > /dev/null 2>> $L/bench.err
done; done; done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    r[(d["shape"]["Lq"], d["tag"])].append(d["median_ms"])
for L in sorted({k[0] for k in r}):
    a, b = r.get((L, "pp1"), []), r.get((L, "pp0"), [])
    if a and b: print(f"anchor bf16 L{L}: pingpong=1 {min(a):.3f} ({max(a):.3f})  pingpong=0 {min(b):.3f} ({max(b):.3f})  off/on {min(b)/min(a):.3f}")
PY
for pp in 1 0; do
  timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum --csv $B --device cuda:0 --shape 1,16384,16384,32,8,128 \
    --mode anchor --phase prefill --dtype bf16 --config pingpong=$pp --repeats 2 --warmup 0 > $L/ncu_$pp.csv 2> $L/ncu_$pp.err
  python3 - $L/ncu_$pp.csv pingpong=$pp <<'PY'
import sys,csv,collections
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print(sys.argv[2], 'no ncu rows'); sys.exit()
h=rows[0]; ki=h.index('Kernel Name'); vi=h.index('Metric Value')
d=collections.defaultdict(list)
for r in rows[1:]:
    try: d[r[ki][:60]].append(float(r[vi].replace(',','')))
    except: pass
for k,v in d.items():
    v.sort(); print(sys.argv[2], '%-60s n=%d median %.1f us'%(k,len(v),v[len(v)//2]/1000))
PY
done
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
