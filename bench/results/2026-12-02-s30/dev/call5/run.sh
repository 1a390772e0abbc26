#!/usr/bin/env bash
# thirtieth session, device call 5: decode phases fused into one pool job each (lib core_spin: the
# merge / Top-k done by the task that finishes a (b, g)'s last chunk; the spinning hand-off, spin
# set per run) against HEAD (lib core). First the CPU tests at the machine's levels (amx included),
# then two interleaved rounds of ksa-bench on cpu and gap.py (calls after 1 ms of sleep, back to back).
D=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$D/../../../../.." && pwd)
. "$ROOT/scripts/device/device-common.sh"
ksa_device_cmocka "$ROOT" && echo "cmocka from .carry/cuda"
T=$ROOT/.carry/devbin/bin_s30
( cd "$ROOT" && LD_LIBRARY_PATH=$ROOT/.carry/devbin/core_spin:$LD_LIBRARY_PATH timeout 200 "$T/test_cpu_ops" >"$OUT/test_cpu_ops.log" 2>&1; echo "test_cpu_ops rc=$?" )
grep -E "PASSED|FAILED|ERROR|level" "$OUT/test_cpu_ops.log" | head -20
( cd "$ROOT" && timeout 100 "$T/test_cpu_pool" >"$OUT/test_cpu_pool.log" 2>&1; echo "test_cpu_pool rc=$?" )
( cd "$ROOT" && KSA_NUM_THREADS=8 timeout 200 "$T/test_backends" --devices cpu >"$OUT/test_backends.log" 2>&1; echo "test_backends cpu rc=$?" )
grep -E "ktest grid|FAIL|PASSED" "$OUT/test_backends.log" | head -5
B=$ROOT/.carry/devbin/bin/ksa-bench
run_cfg() { # tag libdir spin
  KSA_CPU_SPIN_US=$3 LD_LIBRARY_PATH=$ROOT/.carry/devbin/$2 "$B" --device cpu --dtype bf16 --phase decode --mode dense,anchor,reuse \
    --shape 1,1,64,32,8,128 --shape 1,1,4096,32,8,128 --shape 1,1,32768,32,8,128 \
    --shape 16,1,32768,32,8,128 --repeats 15 --no-probe --tag "$1" --out "$OUT/bench.jsonl" --append 2>>"$OUT/err.log"
}
for round in 1 2; do
  run_cfg head core 100
  run_cfg fused0 core_spin 0
  run_cfg fused100 core_spin 100
  run_cfg fused1000 core_spin 1000
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
    print(*k, " | ".join(f"{t} " + "/".join(f"{x:.0f}" for x in by[t]) for t in ("head", "fused0", "fused100", "fused1000")), "us")
PY
export PYTHONPATH=$ROOT/python
for cfg in "core 100" "core_spin 0" "core_spin 100" "core 100" "core_spin 0" "core_spin 100"; do
  set -- $cfg
  KSA_LIBRARY=$ROOT/.carry/devbin/$1/libksa.so KSA_CPU_SPIN_US=$2 OMP_WAIT_POLICY=PASSIVE timeout 100 python3 "$D/gap.py" 2>&1 | grep JSON | tee -a "$OUT/gap.log"
done
