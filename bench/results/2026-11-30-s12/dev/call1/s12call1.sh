#!/bin/bash
# twelfth session, device call 1: where anchor prefill's time goes (per-kernel times at the real clocks)
cd "$(dirname "$0")/../.."
R=$PWD
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH KSA_TUNE_CACHE=off KSA_PLUGIN_PATH=$R/.carry/devbin/lib_fin
B=$R/.carry/devbin/bin/ksa-bench
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv
for L in 16384 32768; do
  timeout 200 ncu --clock-control none --metrics gpu__time_duration.sum,launch__grid_size,launch__block_size,launch__registers_per_thread --csv --print-units base \
    $B --device cuda:0 --shape 1,$L,$L,32,8,128 --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 --min-sample-ms 0.001 \
    > $OUT/ncu_anchor_$L.csv 2> $OUT/ncu_anchor_$L.err
  echo "ncu L$L rc=$?"
  python3 - $OUT/ncu_anchor_$L.csv <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
hdr = rows[0]; rows = rows[1:]
ki = hdr.index("Kernel Name"); mi = hdr.index("Metric Name"); vi = hdr.index("Metric Value"); ii = hdr.index("ID")
per = collections.OrderedDict()
for r in rows:
    per.setdefault(r[ii], {"k": r[ki]})[r[mi]] = r[vi]
tot = collections.OrderedDict()
for d in per.values():
    k = d["k"].split("(")[0][:90]
    t = float(d.get("gpu__time_duration.sum", "0").replace(",", ""))
    e = tot.setdefault(k, [0, 0.0, d.get("launch__grid_size"), d.get("launch__registers_per_thread")]); e[0] += 1; e[1] += t
for k, (n, t, g, r) in tot.items(): print(f"  {t/1e6:9.3f} ms  {n:4d} launches  grid {g} regs {r}  {k}")
PY
done
