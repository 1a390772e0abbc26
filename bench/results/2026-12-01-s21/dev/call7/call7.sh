#!/bin/bash
# s21 call 7: lib_l3 (the lse pass as its own kernel, k90_lse: three consumer warpgroups, 128-key units, one 64-row product in
# flight per warpgroup; the pooled pass of ef7d3db) against lib_p3 (call 6) and lib_head (811554c): tests with lib_l3, three alternating rounds, ncu per-kernel
# times of anchor L16K D64 and D128 bf16 for each
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in head p3 l3; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_l3
for t in test_cuda "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-200)"
done
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2 3; do
  for lib in head p3 l3; do
    for s in "1,16384,16384,32,8,128 bf16" "1,32768,32768,32,8,128 bf16" "1,16384,16384,32,8,64 bf16" "1,32768,32768,32,8,64 bf16" \
             "1,16384,16384,32,8,256 bf16" "1,16384,16384,32,32,128 bf16" "1,32768,32768,32,8,128 f16" "1,16384,16384,32,16,128 bf16"; do
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
    k = (d["mode"], d["dtype"], sh["Lq"], sh["D"], sh.get("Hkv", sh.get("hkv")))
    r[(k, d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b, p, q = r.get((k, "head"), []), r.get((k, "p3"), []), r.get((k, "l3"), [])
    if b and p and q: print(f"{k[0]:7s} {k[1]:5s} L{k[2]:6d} D{k[3]:3d} Hkv{k[4]}: head {min(b):8.3f} ({max(b):.3f})  p3 {min(p):8.3f} ({max(p):.3f})  l3 {min(q):8.3f} ({max(q):.3f})  p3/head {min(p)/min(b):.3f} l3/head {min(q)/min(b):.3f}")
PY
for l in head p3 l3; do for dd in 64 128; do
  KSA_PLUGIN_PATH=$D/lib_$l timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum --csv $B --device cuda:0 --shape 1,16384,16384,32,8,$dd \
    --mode anchor --phase prefill --dtype bf16 --repeats 2 --warmup 0 > $L/ncu_$l.csv 2> $L/ncu_$l.err
  python3 - $L/ncu_$l.csv $l.d$dd <<'PY'
import sys,csv,collections
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print(sys.argv[2], 'no ncu rows'); sys.exit()
h=rows[0]; ki=h.index('Kernel Name'); vi=h.index('Metric Value')
d=collections.defaultdict(list)
for r in rows[1:]:
    try: d[r[ki][:48]].append(float(r[vi].replace(',','')))
    except: pass
for k,v in sorted(d.items()):
    v.sort(); print(sys.argv[2], '%-48s n=%d median %.1f us'%(k,len(v),v[len(v)//2]/1000))
PY
done; done
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
