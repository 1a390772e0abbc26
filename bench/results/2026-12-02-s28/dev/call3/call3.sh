#!/bin/bash
# s28 call 3 (after the final run): P3 in alternation. lib_head (the kernels of the final run): anchor and dense
# prefill B1 L32K Hq32/Hkv8 D128, bf16 and f16, timed one after the other in five rounds in one process
# sequence (ksa-bench, the same measurement settings as the grid's), so that both see the same power state
D=$PWD/.carry/devbin
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_head.tar.xz -C $D
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_head
B=$D/bin/ksa-bench
J=$OUT/p3.jsonl
for round in 1 2 3 4 5; do for dt in bf16 f16; do for mode in anchor dense; do
  timeout 30 $B --device cuda:0 --shape 1,32768,32768,32,8,128 --mode $mode --phase prefill --dtype $dt \
    --tag r$round --out $J --append > /dev/null 2>> $L/bench.err
done; done; done
python3 - $J <<'PY'
import json, sys, statistics
r = {}
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    r[(d["tag"], d["dtype"], d["mode"])] = d["median_ms"]
for dt in ("bf16", "f16"):
    q = []
    for k in range(1, 6):
        a, b = r.get((f"r{k}", dt, "anchor")), r.get((f"r{k}", dt, "dense"))
        if a and b:
            q.append(a / b)
            print(f"{dt} round {k}: anchor {a:.3f} dense {b:.3f} ratio {a / b:.3f}")
    if q: print(f"{dt}: median ratio {statistics.median(q):.3f} (min {min(q):.3f}, max {max(q):.3f})")
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
