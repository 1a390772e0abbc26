#!/usr/bin/env bash
# thirtieth session, device call 2: what a CPU decode call pays for the pool's wake-up and join.
# ksa-bench on cpu (carried .carry/devbin build), dense and reuse decode bf16 Hq32/Hkv8 D128 at
# B1 Lk 64 / 512 / 4096 / 32768 and B16 Lk32768, with 16 workers and with 1 (no pool job at all).
ROOT=$(cd "$(dirname "$0")/../../../../.." && pwd)
export LD_LIBRARY_PATH=$ROOT/.carry/devbin/core
B=$ROOT/.carry/devbin/bin/ksa-bench
for t in 16 1 16 1; do
  KSA_NUM_THREADS=$t "$B" --device cpu --phase decode --mode dense,reuse --dtype bf16 \
    --shape 1,1,64,32,8,128 --shape 1,1,512,32,8,128 --shape 1,1,4096,32,8,128 --shape 1,1,32768,32,8,128 \
    --shape 16,1,32768,32,8,128 --repeats 15 --no-probe --tag "t$t" --out "$OUT/bench.jsonl" --append 2>>"$OUT/err.log"
  echo "threads $t rc=$?"
done
python3 - "$OUT/bench.jsonl" <<'PY'
import json, sys, collections
rows = collections.defaultdict(list)
for l in open(sys.argv[1]):
    r = json.loads(l)
    if "median_ms" not in r: continue
    s = r["shape"]
    rows[(r["mode"], s["B"], s["Lk"], r.get("tag"))].append(r["median_ms"] * 1e3)
for k in sorted(rows):
    print(*k, " ".join(f"{x:.1f}" for x in rows[k]), "us")
PY
