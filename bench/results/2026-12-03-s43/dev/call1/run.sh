#!/usr/bin/env bash
# Forty-third session, call 1: the softmax exponential change (dd8c6ae) on the lent Xeon. Two
# ksa-cpu-bench binaries built on the dev machine (base 1d05d92, new dd8c6ae; each links its own
# build of the library statically), carried in .carry/devbin-cpu, alternated call by call.
set -u
OUT=${OUT:-/tmp/out}
D=.carry/devbin-cpu
{
  grep -m1 "model name" /proc/cpuinfo; nproc
  for r in $(seq 1 ${ROUNDS:-7}); do
    for v in base new; do
      echo "round $r $v"
      timeout 60 $D/ksa-cpu-bench-$v --prefill --reps 5 2>&1 | grep '"op":"prefill"'
    done
  done
  echo "profile new"; KSA_CPU_PROFILE=1 timeout 60 $D/ksa-cpu-bench-new --dense --reps 3 2>&1 | grep '"profile"'
  echo "profile base"; KSA_CPU_PROFILE=1 timeout 60 $D/ksa-cpu-bench-base --dense --reps 3 2>&1 | grep '"profile"'
} > "$OUT/ab.log" 2>&1
python3 - "$OUT/ab.log" <<'PY' | tee "$OUT/summary.txt"
import sys, json, statistics as st
d = {}; v = None
for l in open(sys.argv[1]):
    if l.startswith("round"): v = l.split()[2]; continue
    if l.startswith("{") and v:
        j = json.loads(l)
        if j.get("op") == "prefill": d.setdefault((v, j["mode"]), []).append(j["ms"])
for m in ("dense", "anchor", "reuse"):
    b, n = d.get(("base", m), []), d.get(("new", m), [])
    if b and n:
        r = [x / y for x, y in zip(b, n)]
        print(f"{m}: base {st.median(b):.2f} ms {b} new {st.median(n):.2f} ms {n} base/new median {st.median(r):.3f} range {min(r):.3f}-{max(r):.3f}")
PY
