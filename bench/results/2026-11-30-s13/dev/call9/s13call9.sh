#!/bin/bash
# s13 call 9: reuse decode f16 B1 (K-dec) configurations with the new host path (HEAD 3c6bed8 = lib_d32)
D=$PWD/.carry/devbin
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core KSA_PLUGIN_PATH=$D/lib_d32
B=$D/bin/ksa-bench
CFGS=("builtin" "decode_splits=8,decode_cluster=2,decode_chunk=32" "decode_splits=16,decode_cluster=2,decode_chunk=32"
      "decode_splits=16,decode_cluster=2,decode_chunk=16" "decode_splits=12,decode_cluster=2,decode_chunk=16"
      "decode_splits=16,decode_cluster=2,decode_chunk=16,decode_stages=3" "decode_splits=8,decode_cluster=2,decode_chunk=16"
      "decode_splits=16,decode_cluster=2,decode_chunk=32,decode_stages=3" "decode_splits=4,decode_cluster=2,decode_chunk=32")
for round in 1 2; do
  for s in 1,1,8192 1,1,32768; do
    for i in "${!CFGS[@]}"; do
      c=${CFGS[$i]}; ca=(); [ "$c" != builtin ] && ca=(--config "$c")
      KSA_LOG=0 $B --device cuda:0 --shape $s,32,8,128 --mode reuse --phase decode --dtype f16 --repeats 20 "${ca[@]}" --tag c$i --out $OUT/bench.jsonl --append 2>&1 | grep -i 'error\|fail' | head -2
    done
  done
done
KSA_LOG=1 $B --device cuda:0 --shape 1,1,8192,32,8,128 --mode reuse --phase decode --dtype f16 --repeats 3 --out /dev/null 2>&1 | grep -m2 'mode=reuse'
KSA_LOG=1 $B --device cuda:0 --shape 1,1,32768,32,8,128 --mode reuse --phase decode --dtype f16 --repeats 3 --out /dev/null 2>&1 | grep -m2 'mode=reuse'
python3 - $OUT/bench.jsonl "${CFGS[@]}" <<'PY' | tee $OUT/sweep.txt
import json,sys,collections
cfgs=sys.argv[2:]
g=collections.defaultdict(list); h=collections.defaultdict(list)
for l in open(sys.argv[1]):
    r=json.loads(l); s=r['shape']; g[(s['B'],s['Lk'],r['tag'])].append(r['median_ms']*1e3); h[(s['B'],s['Lk'],r['tag'])].append(r.get('host_ms',0)*1e3)
for (B,Lk) in sorted({k[:2] for k in g}):
    base=min(g[(B,Lk,'c0')]); print("B%d Lk%d" % (B,Lk))
    for i,c in enumerate(cfgs):
        v=g.get((B,Lk,'c%d'%i),[])
        if v: print("   %-66s min %.2f us (%s; host %s)  %.3fx" % (c, min(v), " ".join("%.2f"%x for x in v), " ".join("%.2f"%x for x in h[(B,Lk,'c%d'%i)]), base/min(v)))
PY
