#!/usr/bin/env bash
# Forty-fourth session, call 1: f16 prefill at the AMX level as exact bf16 pairs (amx.f16x3) against
# the AVX-512 float32 kernels (KSA_CPU_F16=f32) on the lent Xeon, with the pairs' key block at 256
# (built in), 128 and 64, and bf16 dense for scale; one ksa-bench (CPU-only build of this commit's
# tree) and its libksa.so carried in .carry/devbin-cpu, settings alternated round by round.
set -u
OUT=${OUT:-/tmp/out}
D=.carry/devbin-cpu
export LD_LIBRARY_PATH=$D
B="$D/ksa-bench --device cpu --shape 1,4096,4096,32,8,128 --phase prefill --repeats 3 --no-probe --out $OUT/f16.jsonl --append"
{
  grep -m1 "model name" /proc/cpuinfo; nproc
  for r in $(seq 1 ${ROUNDS:-5}); do
    echo "round $r"
    KSA_CPU_F16=f32 timeout 120 $B --dtype f16 --mode dense,anchor,reuse --tag "f32 r$r"
    timeout 60 $B --dtype f16 --mode dense,anchor,reuse --tag "x3 r$r"
    timeout 60 $B --dtype f16 --mode dense,anchor,reuse --config block_k=128 --tag "x3bk128 r$r"
    timeout 60 $B --dtype f16 --mode dense,anchor,reuse --config block_k=64 --tag "x3bk64 r$r"
    timeout 60 $B --dtype bf16 --mode dense --tag "bf16 r$r"
  done
} > "$OUT/ab.log" 2>&1
python3 - "$OUT/f16.jsonl" <<'PY' | tee "$OUT/summary.txt"
import sys, json, statistics as st
d = {}
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("status") != "ok": continue
    v = j["config"]["override"] if False else j.get("tag", "").split()[0]
    d.setdefault((v, j["mode"]), []).append(j["median_ms"])
for m in ("dense", "anchor", "reuse"):
    base = d.get(("f32", m), [])
    for v in ("f32", "x3", "x3bk128", "x3bk64", "bf16"):
        x = d.get((v, m), [])
        if not x: continue
        line = f"{m:6s} {v:8s} median {st.median(x):8.2f} ms  rounds {[round(t, 2) for t in x]}"
        if base and v != "f32" and len(base) == len(x):
            r = [a / b for a, b in zip(base, x)]
            line += f"  f32/this median {st.median(r):.3f} range {min(r):.3f}-{max(r):.3f}"
        print(line)
PY
