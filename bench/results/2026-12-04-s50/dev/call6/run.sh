#!/usr/bin/env bash
# Fiftieth session, call 6 (data for a later decision, no rule changes here): reuse decode B1 at the
# K-dec row's points (Lk 8K and 32K, f16 and bf16) under the built-in plan and the tuner's best
# candidates of the full run (decode_splits=8,decode_chunk=32,decode_cluster=2 at Lk32K: 1.009x in
# its cold-L2 rounds) and two neighbours, by ksa-bench (warm L2, as the K-dec row), three rounds of
# fresh processes, the order rotating.
set -u
t0=$(date +%s)
B=$PWD/build-cuda-dev
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=ON -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 && ninja -C $B ksa-bench ksa_cuda >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"
one() { timeout 60 $B/bin/ksa-bench --device cuda:0 --dtype f16,bf16 --phase decode --mode reuse --tag "$1" \
  --shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128 --max-measure-ms 500 ${2:+--config "$2"} \
  --append --out $OUT/kdec.jsonl 2>>$OUT/bench.err; }
C1="decode_splits=8,decode_chunk=32,decode_cluster=2"; C2="decode_splits=16,decode_chunk=32"; C3="decode_splits=8"
for r in 1 2 3; do
  case $r in
    1) one builtin ""; one c1 "$C1"; one c2 "$C2"; one c3 "$C3" ;;
    2) one c1 "$C1"; one c2 "$C2"; one c3 "$C3"; one builtin "" ;;
    3) one c2 "$C2"; one c3 "$C3"; one builtin ""; one c1 "$C1" ;;
  esac
done
python3 - "$OUT/kdec.jsonl" <<'PY'
import json, sys, collections
t = collections.defaultdict(list); cfg = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("status") != "ok": print("not ok:", r.get("tag"), r.get("status"), r.get("reason", r.get("error", ""))[:200]); continue
    k = (r["dtype"], r["shape"]["Lk"], r["tag"])
    t[k].append(r["median_ms"] * 1e3); cfg[k] = r.get("config")
for k in sorted(t):
    print(k, " ".join("%.2f" % v for v in t[k]), "median %.2f" % sorted(t[k])[len(t[k]) // 2], cfg[k])
PY
echo "done ($(($(date +%s)-t0)) s)"
