#!/usr/bin/env bash
# thirtieth session, device call 3: the pool's spinning hand-off (lib core_spin, KSA_CPU_SPIN_US 0 /
# 100 / 1000) against HEAD's condition-variable hand-off (lib core), two interleaved rounds of
# ksa-bench on cpu (decode B1 Lk 64..32K, B16 Lk32K, dense prefill L4096), then gap.py (calls after
# 1 ms of sleep, as between an engine's layers, and back to back).
D=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$D/../../../../.." && pwd)
B=$ROOT/.carry/devbin/bin/ksa-bench
run_cfg() { # tag libdir spin
  KSA_CPU_SPIN_US=$3 LD_LIBRARY_PATH=$ROOT/.carry/devbin/$2 "$B" --device cpu --dtype bf16 --phase decode --mode dense,reuse \
    --shape 1,1,64,32,8,128 --shape 1,1,512,32,8,128 --shape 1,1,4096,32,8,128 --shape 1,1,32768,32,8,128 \
    --shape 16,1,32768,32,8,128 --repeats 15 --no-probe --tag "$1" --out "$OUT/bench.jsonl" --append 2>>"$OUT/err.log"
  KSA_CPU_SPIN_US=$3 LD_LIBRARY_PATH=$ROOT/.carry/devbin/$2 "$B" --device cpu --dtype bf16 --phase prefill --mode dense \
    --shape 1,4096,4096,32,8,128 --repeats 7 --no-probe --tag "$1" --out "$OUT/bench.jsonl" --append 2>>"$OUT/err.log"
}
for round in 1 2; do
  run_cfg head core 100
  run_cfg spin0 core_spin 0
  run_cfg spin100 core_spin 100
  run_cfg spin1000 core_spin 1000
  echo "round $round done"
done
python3 - "$OUT/bench.jsonl" <<'PY' | tee "$OUT/bench-summary.txt"
import json, sys, collections
rows = collections.defaultdict(list)
for l in open(sys.argv[1]):
    r = json.loads(l)
    if "median_ms" not in r: continue
    s = r["shape"]
    rows[(r["mode"], r["phase"], s["B"], s["Lk"])].append((r.get("tag"), r["median_ms"] * 1e3))
for k in sorted(rows):
    by = collections.defaultdict(list)
    for t, x in rows[k]: by[t].append(x)
    print(*k, " | ".join(f"{t} " + "/".join(f"{x:.0f}" for x in by[t]) for t in ("head", "spin0", "spin100", "spin1000")), "us")
PY
export PYTHONPATH=$ROOT/python
for cfg in "core 100" "core_spin 0" "core_spin 100" "core_spin 1000" "core 100" "core_spin 100"; do
  set -- $cfg
  KSA_LIBRARY=$ROOT/.carry/devbin/$1/libksa.so KSA_CPU_SPIN_US=$2 OMP_WAIT_POLICY=PASSIVE timeout 100 python3 "$D/gap.py" 2>&1 | grep JSON | tee -a "$OUT/gap.log"
done
