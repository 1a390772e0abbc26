#!/usr/bin/env python3
"""s29 call 3: the kernels of one ksa prefill call on the GPU's own timeline (torch.profiler / CUPTI
records every kernel of the process, ksa's included): per call, each kernel's duration and the idle
gap before it, the sum of kernel time against the call's span. Usage: timeline.py MODE L DTYPE [D]."""
import json, os, sys, tempfile, time
sys.path.insert(0, os.path.join(os.environ["KSA_ROOT"], "python"))
import torch
import ksa
from torch.profiler import profile, ProfilerActivity

mode, L, dt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
D = int(sys.argv[4]) if len(sys.argv) > 4 else 128
B, Hq, Hkv = 1, 32, 8
tdt = {"bf16": torch.bfloat16, "f16": torch.float16}[dt]
g = torch.Generator(device="cuda").manual_seed(1234)
rnd = lambda *s: (torch.rand(*s, device="cuda", generator=g) * 2 - 1).to(tdt)
q, k, v = rnd(B, L, Hq, D), rnd(B, L, Hkv, D), rnd(B, L, Hkv, D)
o = torch.empty_like(q)
dev = ksa.Context().open("cuda:0")
topk = {"fraction": 0.10, "min_k": 128, "round_multiple": 128, "tile_size": 32, "rolling": 1}
M = {"dense": ksa.MODE_DENSE, "anchor": ksa.MODE_ANCHOR, "reuse": ksa.MODE_REUSE}
extra = {}
if mode != "dense":
    params = dev.params(ksa.MODE_ANCHOR, ksa.PHASE_PREFILL, **topk)
    n_tiles, k_slots = dev.index_shape(params, dev.tensors(q, k, v, o))
    extra = {"indices": torch.full((B, Hkv, n_tiles, k_slots), -1, dtype=torch.int32, device="cuda"),
             "counts": torch.zeros((B, Hkv, n_tiles), dtype=torch.int32, device="cuda")}
    if mode == "reuse":
        dev.attention(q, k, v, o, mode=ksa.MODE_ANCHOR, **extra, **topk)
run = dev.prepare(q, k, v, o, mode=M[mode], phase=ksa.PHASE_PREFILL, **extra, **topk)
for _ in range(3):
    run()
torch.cuda.synchronize()
ev = [torch.cuda.Event(enable_timing=True) for _ in range(10)]
for i in range(5):
    ev[2 * i].record(); run(); ev[2 * i + 1].record()
torch.cuda.synchronize()
evms = sorted(ev[2 * i].elapsed_time(ev[2 * i + 1]) for i in range(5))
with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
    for _ in range(3):
        run()
        torch.cuda.synchronize()
        time.sleep(0.02)
path = tempfile.mktemp(suffix=".json")
prof.export_chrome_trace(path)
tr = json.load(open(path))
ks = sorted((e for e in tr["traceEvents"] if e.get("cat") in ("kernel", "gpu_memset", "gpu_memcpy") and e.get("ph") == "X"),
            key=lambda e: e["ts"])
calls, cur = [], []
for e in ks:
    if cur and e["ts"] - (cur[-1]["ts"] + cur[-1]["dur"]) > 5000:
        calls.append(cur); cur = []
    cur.append(e)
if cur: calls.append(cur)
print(f"{mode} L{L} D{D} {dt}: cuda-event median {evms[2]:.3f} ms (min {evms[0]:.3f}); {len(calls)} profiled calls")
for ci, c in enumerate(calls):
    span = (c[-1]["ts"] + c[-1]["dur"] - c[0]["ts"]) / 1e3
    busy = sum(e["dur"] for e in c) / 1e3
    print(f" call {ci}: {len(c)} kernels, span {span:.3f} ms, kernel time {busy:.3f} ms, idle {span - busy:.3f} ms")
    if ci == len(calls) - 1:
        prev = None
        for e in c:
            gap = (e["ts"] - prev) / 1e3 if prev is not None else 0.0
            nm = e["name"].split("(")[0][:60]
            print(f"   {nm:60s} {e['dur'] / 1e3:8.3f} ms  gap before {gap * 1e3:7.1f} us")
            prev = e["ts"] + e["dur"]
