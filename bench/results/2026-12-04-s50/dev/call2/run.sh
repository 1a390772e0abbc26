#!/usr/bin/env bash
# Fiftieth session, call 2 (and repeats on fresh machines): P7's two sides on whichever VM kind the
# call draws. The tile unit's state first (ksa-cpu-bench --probe, smt_pairs' solo AMX rates), then
# ksa's dense bf16 prefill L4096 (ksa-cpu-bench --ab, 32 and 16 rows) and torch CPU SDPA in
# alternation, three times, then the probe again. CPU-only build, no tests.
set -u
t0=$(date +%s)
D=bench/results/2026-12-04-s50/dev/call1
gcc -O2 -mamx-tile -mamx-bf16 -mavx512f -pthread $D/smt_pairs.c -o /tmp/smt_pairs && timeout 30 /tmp/smt_pairs | head -1
B=$PWD/build-cpu-dev
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=ON >$OUT/build.log 2>&1 && ninja -C $B ksa-cpu-bench >>$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"
timeout 40 $B/bin/ksa-cpu-bench --probe 2>/dev/null | head -1
cat > /tmp/torch_sdpa.py <<'PY'
import torch, time, statistics
torch.manual_seed(0)
q=torch.randn(1,32,4096,128,dtype=torch.bfloat16); k=torch.randn(1,8,4096,128,dtype=torch.bfloat16); v=torch.randn(1,8,4096,128,dtype=torch.bfloat16)
f=lambda: torch.nn.functional.scaled_dot_product_attention(q,k,v,is_causal=True,enable_gqa=True)
f(); ts=[]
for _ in range(7):
    t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)
print('{"op":"torch_sdpa_cpu","threads":%d,"ms":%.2f,"ms_min":%.2f}' % (torch.get_num_threads(), 1e3*statistics.median(ts), 1e3*min(ts)))
PY
for r in 1 2 3; do
  timeout 60 $B/bin/ksa-cpu-bench --ab "sub_rows=32;sub_rows=16" --mode dense --rounds 5 2>/dev/null
  timeout 60 python3 /tmp/torch_sdpa.py
done
timeout 40 $B/bin/ksa-cpu-bench --probe 2>/dev/null | head -1
timeout 30 /tmp/smt_pairs | head -1
echo "done ($(($(date +%s)-t0)) s)"
