#!/usr/bin/env bash
# Fiftieth session, call 1: do the slow VM's 16 vCPUs share tile units in pairs (hidden SMT), and if
# so, is dense / anchor / reuse prefill faster on one vCPU per pair? Also torch CPU SDPA's time on
# whichever VM kind this call draws. CPU-only build, no tests.
set -u
t0=$(date +%s)
D=bench/results/2026-12-04-s50/dev/call1
lscpu > $OUT/lscpu.txt 2>&1
for c in /sys/devices/system/cpu/cpu[0-9]*; do echo "$(basename $c) $(cat $c/topology/thread_siblings_list 2>/dev/null) core=$(cat $c/topology/core_id 2>/dev/null) pkg=$(cat $c/topology/physical_package_id 2>/dev/null)"; done > $OUT/topology.txt
gcc -O2 -mamx-tile -mamx-bf16 -mavx512f -pthread $D/smt_pairs.c -o /tmp/smt_pairs && timeout 60 /tmp/smt_pairs > $OUT/smt_pairs.jsonl
echo "smt_pairs rc=$? ($(($(date +%s)-t0)) s)"
cat $OUT/smt_pairs.jsonl | python3 -c '
import sys, json
rows=[json.loads(l) for l in sys.stdin]
for r in rows:
    if "pair_slowdown" in r:
        m=r["pair_slowdown"]; n=len(m)
        pairs=[(i,j,m[i][j]) for i in range(n) for j in range(i+1,n) if m[i][j]>1.5]
        print(r["kind"], "pairs slowed >1.5x:", pairs)
        print(r["kind"], "pair slowdown range:", min(m[i][j] for i in range(n) for j in range(i+1,n)), max(m[i][j] for i in range(n) for j in range(i+1,n)))
    else:
        print(r)
' | tee $OUT/smt_summary.txt
# one CPU per sharing pair (the lower), for the 8-thread runs
ONE=$(python3 - <<'PY'
import json
rows=[json.loads(l) for l in open("/dev/stdin")] if False else [json.loads(l) for l in open(__import__("os").environ["OUT"]+"/smt_pairs.jsonl")]
m=[r for r in rows if r.get("kind")=="amx_dp" and "pair_slowdown" in r]
if not m: print(""); raise SystemExit
m=m[0]["pair_slowdown"]; n=len(m); taken=set(); keep=[]
for i in range(n):
    if i in taken: continue
    js=[j for j in range(i+1,n) if m[i][j]>1.5 and j not in taken]
    if js: taken.add(js[0])
    keep.append(i)
print(",".join(map(str,keep)) if len(keep)<n else "")
PY
)
echo "one CPU per pair: '${ONE}'"
B=$PWD/build-cpu-dev
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 && ninja -C $B ksa-cpu-bench >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"
timeout 40 $B/bin/ksa-cpu-bench --probe 2>/dev/null | head -1
ab() { timeout 60 $B/bin/ksa-cpu-bench --ab "sub_rows=32;sub_rows=16" --mode $1 --rounds 5 2>/dev/null; }
for r in 1 2; do
  echo "== round $r: 16 threads (default)"; for m in dense anchor reuse; do ab $m; done
  if [ -n "$ONE" ]; then
    echo "== round $r: 8 threads, one per pair ($ONE)"; for m in dense anchor reuse; do KSA_NUM_THREADS=8 taskset -c $ONE bash -c "$(declare -f ab); B=$B; ab $m"; done
  fi
  echo "== round $r: 8 threads on cpus 0-7"; KSA_NUM_THREADS=8 taskset -c 0-7 bash -c "$(declare -f ab); B=$B; ab dense"
done
echo "== torch CPU SDPA bf16 causal B1 Hq32/Hkv8 D128 L4096 ($(($(date +%s)-t0)) s)"
timeout 90 python3 - <<'PY'
import torch, time, statistics
torch.manual_seed(0)
q=torch.randn(1,32,4096,128,dtype=torch.bfloat16); k=torch.randn(1,8,4096,128,dtype=torch.bfloat16); v=torch.randn(1,8,4096,128,dtype=torch.bfloat16)
f=lambda: torch.nn.functional.scaled_dot_product_attention(q,k,v,is_causal=True,enable_gqa=True)
f(); ts=[]
for _ in range(7):
    t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)
print("torch threads", torch.get_num_threads(), "median ms %.1f" % (1e3*statistics.median(ts)), "min %.1f" % (1e3*min(ts)))
PY
timeout 40 $B/bin/ksa-cpu-bench --probe 2>/dev/null | head -1
echo "done ($(($(date +%s)-t0)) s)"
