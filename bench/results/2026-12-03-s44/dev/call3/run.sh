#!/usr/bin/env bash
# Forty-fourth session, call 3: CPU decode's key block at the float32 kernels (f16 and f32 storage)
# on the lent Xeon: block_k 64 (the built-in until now) against 32, three alternating rounds, B1 and
# B16 x Lk32K, dense / anchor / reuse; bf16 (AMX) likewise as a control. ksa-bench and libksa.so of
# 936a63e's tree carried in .carry/devbin-cpu (decode code unchanged since; the override picks the
# block).
set -u
OUT=${OUT:-/tmp/out}
D=.carry/devbin-cpu
export LD_LIBRARY_PATH=$D
{
  grep -m1 "model name" /proc/cpuinfo; nproc
  for r in $(seq 1 ${ROUNDS:-3}); do
    echo "round $r"
    for cfg in block_k=64 block_k=32; do
      for dt in f16 f32 bf16; do
        timeout 120 $D/ksa-bench --device cpu --shape 16,1,32768,32,8,128 --shape 1,1,32768,32,8,128 --phase decode \
          --dtype $dt --repeats 5 --no-probe --config $cfg --tag "$cfg" --out "$OUT/dec.jsonl" --append
      done
    done
  done
} > "$OUT/ab.log" 2>&1
python3 - "$OUT/dec.jsonl" <<'PY' | tee "$OUT/summary.txt"
import json, sys, statistics as st
A, B = "block_k=64", "block_k=32"
d = {}
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("status") != "ok": continue
    d.setdefault((j["dtype"], j["mode"], j["shape"]["B"], j.get("tag", "")), []).append(j["median_ms"])
for key in sorted({k[:3] for k in d}):
    a, b = d.get(key + (A,), []), d.get(key + (B,), [])
    if a and b:
        r = [x / y for x, y in zip(a, b)]
        print(f"{key[0]:4s} {key[1]:6s} B{key[2]:<3d} [{A}] {st.median(a):8.3f}  [{B}] {st.median(b):8.3f}  64/32 median {st.median(r):.3f} range {min(r):.3f}-{max(r):.3f}")
PY
