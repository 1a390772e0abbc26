#!/usr/bin/env python3
"""s29 call 4: one ksa prefill call timed four ways: CUDA events around each of 5 back-to-back calls;
the same with a synchronisation between calls; with a synchronisation and 20 ms of sleep between
calls; host time of the run() call itself. Then the GPU timeline (torch.profiler / CUPTI) of 3
back-to-back calls: kernel time per call and the idle gaps. Usage: regimes.py MODE L DTYPE."""
import json, os, statistics, sys, tempfile, time
sys.path.insert(0, os.path.join(os.environ["KSA_ROOT"], "python"))
import torch
import ksa
from torch.profiler import profile, ProfilerActivity

mode, L, dt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
B, Hq, Hkv, D = 1, 32, 8, 128
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
run = dev.prepare(q, k, v, o, mode=M[mode], phase=ksa.PHASE_PREFILL, **extra, **topk)
for _ in range(3):
    run()
torch.cuda.synchronize()

def events(sync, sleep):
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(14)]
    host = []
    for i in range(7):
        ev[2 * i].record()
        t0 = time.perf_counter(); run(); host.append((time.perf_counter() - t0) * 1e3)
        ev[2 * i + 1].record()
        if sync: torch.cuda.synchronize()
        if sleep: time.sleep(sleep)
    torch.cuda.synchronize()
    return statistics.median(ev[2 * i].elapsed_time(ev[2 * i + 1]) for i in range(7)), statistics.median(host), max(host)

for name, sync, sleep in (("back-to-back", 0, 0), ("sync between", 1, 0), ("sync+sleep 20ms", 1, 0.02), ("back-to-back again", 0, 0)):
    ms, h, hmax = events(sync, sleep)
    print(f"{mode} L{L} {dt} {name:20s}: event median {ms:.3f} ms; host time of run() median {h:.3f} ms, max {hmax:.3f}")

def timeline(sync):
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            run()
            if sync: torch.cuda.synchronize()
        torch.cuda.synchronize()
    path = tempfile.mktemp(suffix=".json")
    prof.export_chrome_trace(path)
    tr = json.load(open(path))
    ks = sorted((e for e in tr["traceEvents"] if e.get("cat") in ("kernel", "gpu_memset", "gpu_memcpy") and e.get("ph") == "X"),
                key=lambda e: e["ts"])
    span = (ks[-1]["ts"] + ks[-1]["dur"] - ks[0]["ts"]) / 1e3
    busy = sum(e["dur"] for e in ks) / 1e3
    gaps = sorted(((ks[i]["ts"] - ks[i - 1]["ts"] - ks[i - 1]["dur"]) / 1e3, ks[i]["name"][:40]) for i in range(1, len(ks)))[-4:]
    names = {}
    for e in ks:
        n = e["name"].split("(")[0].split("<")[0].split()[-1]
        names.setdefault(n, []).append(e["dur"] / 1e3)
    print(f"  timeline, 3 calls {'synced' if sync else 'back-to-back'}: {len(ks)} kernels, span {span:.3f} ms, kernel time {busy:.3f} ms,"
          f" largest gaps {[(round(a, 3), b) for a, b in gaps]}")
    print("   per kernel name (sum ms over 3 calls): " + ", ".join(f"{n} {sum(v):.3f} ({len(v)})" for n, v in names.items()))

timeline(0)
timeline(1)
