#!/usr/bin/env bash
# Forty-fourth session, call 4: CPU dense and anchor decode of one sequence (B1, 8 KV heads) under
# the split size: the built-in rule aims at ~64 tasks (B1 Lk32K: 4096 keys per chunk, Lk8K: 1024),
# the Xeon's tuner has stored 512-2048 for B1 Lk32K in most runs. bf16 (AMX) and f16 (float32
# kernels, block_k 32 as built in since 4bc5ae9), three alternating rounds; ksa-bench of 936a63e's
# tree in .carry/devbin-cpu with full configurations (block_k, decode_chunk, threads 16).
set -u
OUT=${OUT:-/tmp/out}
D=.carry/devbin-cpu
export LD_LIBRARY_PATH=$D
run() { # dtype block_k shape chunk...
  local dt=$1 bk=$2 shape=$3; shift 3
  for ch in "$@"; do
    timeout 60 $D/ksa-bench --device cpu --shape $shape --phase decode --mode dense,anchor --dtype $dt --repeats 7 \
      --no-probe --config "block_k=$bk,decode_chunk=$ch,threads=16" --tag "chunk=$ch" --out "$OUT/dec.jsonl" --append
  done
}
{
  grep -m1 "model name" /proc/cpuinfo; nproc
  for r in $(seq 1 ${ROUNDS:-3}); do
    echo "round $r"
    run bf16 64 1,1,32768,32,8,128 4096 2048 1024 512
    run bf16 64 1,1,8192,32,8,128 1024 512 256
    run f16 32 1,1,32768,32,8,128 4096 2048 1024 512
  done
} > "$OUT/ab.log" 2>&1
python3 - "$OUT/dec.jsonl" <<'PY' | tee "$OUT/summary.txt"
import json, sys, statistics as st
d = {}
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("status") != "ok": continue
    d.setdefault((j["dtype"], j["mode"], j["shape"]["Lk"]), {}).setdefault(j["tag"], []).append(j["median_ms"])
for key in sorted(d):
    base_tag = "chunk=4096" if key[2] == 32768 else "chunk=1024"
    base = d[key].get(base_tag, [])
    for tag, x in sorted(d[key].items(), key=lambda kv: -int(kv[0].split("=")[1])):
        line = f"{key[0]:4s} {key[1]:6s} Lk{key[2]:<6d} {tag:11s} median {st.median(x):7.3f} ms rounds {[round(t, 3) for t in x]}"
        if base and tag != base_tag and len(base) == len(x):
            r = [a / b for a, b in zip(base, x)]
            line += f"  {base_tag}/this {st.median(r):.3f} ({min(r):.3f}-{max(r):.3f})"
        print(line)
PY
