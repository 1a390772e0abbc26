#!/usr/bin/env bash
# Forty-fourth session, call 2: f16 decode on the lent Xeon (the AVX-512 float32 kernels, which f16
# decode keeps) against bf16 decode (AMX) of the same shapes, three alternating rounds; ksa-bench and
# libksa.so of 936a63e's tree (decode code unchanged since) carried in .carry/devbin-cpu.
set -u
OUT=${OUT:-/tmp/out}
D=.carry/devbin-cpu
export LD_LIBRARY_PATH=$D
B="$D/ksa-bench --device cpu --shape 1,1,32768,32,8,128 --shape 16,1,32768,32,8,128 --phase decode --repeats 5 --no-probe --out $OUT/dec.jsonl --append"
{
  grep -m1 "model name" /proc/cpuinfo; nproc
  for r in $(seq 1 ${ROUNDS:-3}); do
    echo "round $r"
    timeout 120 $B --dtype f16 --tag "f16 r$r"
    timeout 120 $B --dtype bf16 --tag "bf16 r$r"
  done
} > "$OUT/ab.log" 2>&1
python3 - "$OUT/dec.jsonl" <<'PY' | tee "$OUT/summary.txt"
import sys, json, statistics as st
d = {}
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("status") != "ok": continue
    d.setdefault((j["mode"], j["shape"]["B"], j.get("tag", "").split()[0]), []).append((j["median_ms"], j.get("gbs", 0)))
for (m, B, dt) in sorted(d):
    x = d[(m, B, dt)]
    print(f"{m:6s} B{B:<3d} {dt:5s} median {st.median(t for t, _ in x):8.3f} ms  {st.median(g for _, g in x):6.1f} GB/s  rounds {[round(t, 3) for t, _ in x]}")
PY
