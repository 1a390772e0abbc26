#!/bin/bash
# s28 call 4: the anchor's pooled-score launches per call (tunable anchor_tile_group: tiles per launch; 0 = the
# built-in, 256 tiles = 256 MiB of pooled scores at L32K) with the final run's kernels: 16, 64 (the launch's
# scores fit or nearly fit the 50 MB L2 the Top-k then reads) and 1024 (one launch, one tail), against the
# built-in, anchor prefill B1 L32K and L16K bf16, with the dense call in the same rounds
D=$PWD/.carry/devbin
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_head.tar.xz -C $D
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_head
B=$D/bin/ksa-bench
J=$OUT/tg.jsonl
for round in 1 2 3 4; do for LEN in 32768 16384; do
  for tg in 0 16 64 1024; do
    timeout 30 $B --device cuda:0 --shape 1,$LEN,$LEN,32,8,128 --mode anchor --phase prefill --dtype bf16 \
      --config anchor_tile_group=$tg --tag tg$tg --out $J --append > /dev/null 2>> $L/bench.err
  done
  timeout 30 $B --device cuda:0 --shape 1,$LEN,$LEN,32,8,128 --mode dense --phase prefill --dtype bf16 --tag dense --out $J --append > /dev/null 2>> $L/bench.err
done; done
python3 - $J <<'PY'
import json, sys, collections, statistics
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    r[(d["shape"]["Lk"], d["tag"])].append(d["median_ms"])
for L in (32768, 16384):
    b = r[(L, "tg0")]
    line = f"L{L} bf16: built-in {min(b):.3f} (med {statistics.median(b):.3f})"
    for t in ("tg16", "tg64", "tg1024"):
        p = r[(L, t)]
        if p: line += f"  {t} {min(p):.3f} (med {statistics.median(p):.3f}) {statistics.median(p)/statistics.median(b):.3f}"
    dn = r[(L, "dense")]
    if dn: line += f"  dense {min(dn):.3f} (med {statistics.median(dn):.3f})"
    print(line)
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
