#!/bin/bash
# s21 call 8: lib_l4 (k90_lse with two ring slots per consumer warpgroup: D128 in 64-key units, m64n64 products;
# D64 128-key units) against lib_l3 (ca1a735's kernels): test_backends with l4, three alternating rounds of anchor
# prefill, ncu per-kernel times of anchor L16K D64 and D128 bf16
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in l3 l4; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
KSA_PLUGIN_PATH=$D/lib_l4 timeout 100 $D/bin/test_backends --devices cuda:0 > $L/test_backends.log 2>&1
echo "test_backends (l4) rc=$?: $(grep -E 'ktest grid' $L/test_backends.log | tr '\n' ' ' | cut -c1-200)"
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2 3; do
  for lib in l3 l4; do
    for s in "1,16384,16384,32,8,128 bf16" "1,32768,32768,32,8,128 bf16" "1,32768,32768,32,8,128 f16" "1,16384,16384,32,8,64 bf16" "1,32768,32768,32,8,64 bf16"; do
      set -- $s
      KSA_PLUGIN_PATH=$D/lib_$lib timeout 60 $B --device cuda:0 --shape $1 --mode anchor --phase prefill --dtype $2 \
        --max-measure-ms 800 --tag $lib --out $J --append > /dev/null 2>> $L/bench.err
    done
  done
done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    sh = d["shape"]
    k = (d["mode"], d["dtype"], sh["Lq"], sh["D"], sh["Hkv"])
    r[(k, d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b, p = r.get((k, "l3"), []), r.get((k, "l4"), [])
    if b and p: print(f"{k[0]:7s} {k[1]:5s} L{k[2]:6d} D{k[3]:3d} Hkv{k[4]}: l3 {min(b):8.3f} ({max(b):.3f})  l4 {min(p):8.3f} ({max(p):.3f})  l4/l3 {min(p)/min(b):.3f}")
PY
for l in l3 l4; do for dd in 64 128; do
  KSA_PLUGIN_PATH=$D/lib_$l timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum --csv -k regex:k90_lse $B --device cuda:0 --shape 1,16384,16384,32,8,$dd \
    --mode anchor --phase prefill --dtype bf16 --repeats 2 --warmup 0 > $L/ncu_$l.csv 2> $L/ncu_$l.err
  python3 - $L/ncu_$l.csv $l.d$dd <<'PY'
import sys,csv
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print(sys.argv[2], 'no ncu rows'); sys.exit()
h=rows[0]; vi=h.index('Metric Value')
v=sorted(float(r[vi].replace(',','')) for r in rows[1:])
print(sys.argv[2], 'k90_lse n=%d median %.1f us' % (len(v), v[len(v)//2]/1000))
PY
done; done
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
