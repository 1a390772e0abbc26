#!/usr/bin/env bash
# Fiftieth session, call 4: ksa-bench's new time-based warm-up (--warmup-ms 25) against the old
# one (--warmup-ms 0: two single calls) on the Kascade stage's decode shapes, each in a fresh
# process (the full run's first record of that stage was host-bound), three rounds alternating.
set -u
t0=$(date +%s)
B=$PWD/build-cuda-dev
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=ON -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 && ninja -C $B ksa-bench ksa_cuda >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"
kdec() { timeout 60 $B/bin/ksa-bench --device cuda:0 --dtype f16,bf16 --phase decode --mode reuse --tag "$1" \
  --shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128 --shape 16,1,8192,32,8,128 --shape 16,1,32768,32,8,128 \
  --shape 64,1,8192,32,8,128 --shape 64,1,32768,32,8,128 --max-measure-ms 500 $2 --append --out $OUT/kdec.jsonl 2>>$OUT/bench.err; }
for r in 1 2 3; do
  kdec "new$r" ""; kdec "old$r" "--warmup-ms 0"
done
python3 - "$OUT/kdec.jsonl" <<'PY'
import json, sys, collections
t = collections.defaultdict(list)
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("status") != "ok": continue
    k = (r["tag"][:3], r["dtype"], r["shape"]["B"], r["shape"]["Lk"])
    t[k].append((r["median_ms"] * 1e3, r["host_ms"] * 1e3))
for k in sorted(t):
    print(k, " ".join("%.2f(h%.1f)" % v for v in t[k]))
PY
echo "done ($(($(date +%s)-t0)) s)"
