#!/bin/bash
# s13 call 5: dense decode bf16, cuDNN-like configurations (one CTA per (sequence, KV head), deep per-warp rings) vs built-in
D=$PWD/.carry/devbin
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core KSA_PLUGIN_PATH=$D/lib_new
B=$D/bin/ksa-bench
CFGS=("builtin" "decode_splits=1,decode_chunk=32,decode_stages=3,decode_kernel=3" "decode_splits=1,decode_chunk=32,decode_stages=3,decode_kernel=2"
      "decode_splits=1,decode_chunk=16,decode_stages=3,decode_kernel=3" "decode_splits=2,decode_chunk=32,decode_stages=3,decode_kernel=3"
      "decode_splits=1,decode_chunk=32,decode_stages=2,decode_kernel=2" "decode_splits=2,decode_chunk=32,decode_stages=2,decode_kernel=3")
for round in 1 2; do
  for s in 16,1,8192 16,1,32768 64,1,8192 64,1,32768; do
    for i in "${!CFGS[@]}"; do
      c=${CFGS[$i]}; ca=(); [ "$c" != builtin ] && ca=(--config "$c")
      $B --device cuda:0 --shape $s,32,8,128 --mode dense --phase decode --dtype bf16 --repeats 20 "${ca[@]}" --tag c$i --out $OUT/bench.jsonl --append 2>&1 | grep -i 'error\|fail' | head -2
    done
  done
done
python3 - $OUT/bench.jsonl "${CFGS[@]}" <<'PY' | tee $OUT/sweep.txt
import json,sys,collections
cfgs=sys.argv[2:]
g=collections.defaultdict(list)
for l in open(sys.argv[1]):
    r=json.loads(l); s=r['shape']; g[(s['B'],s['Lk'],r['tag'])].append(r['median_ms']*1e3)
for (B,Lk) in sorted({k[:2] for k in g}):
    base=min(g[(B,Lk,'c0')])
    print("B%d Lk%d" % (B,Lk))
    for i,c in enumerate(cfgs):
        v=g.get((B,Lk,'c%d'%i),[])
        if v: print("   %-70s min %.1f us (%s)  %.3fx of built-in" % (c, min(v), " ".join("%.1f"%x for x in v), base/min(v)))
PY
