"""Thirtieth session, device call 3: CPU decode call time with a pause between calls (as between the
layers of an engine's step), median of N calls, each after GAP_US of sleep; and back to back."""
import os, sys, time, statistics, json
import torch
import ksa

N = 40
dev = ksa.Context().open("cpu")
out = {"lib": os.environ.get("KSA_LIBRARY"), "spin": os.environ.get("KSA_CPU_SPIN_US")}
for B, Lk in ((1, 4096), (1, 32768)):
    g = torch.Generator().manual_seed(3)
    q = (torch.rand(B, 1, 32, 128, generator=g) * 2 - 1).to(torch.bfloat16)
    k = (torch.rand(B, Lk, 8, 128, generator=g) * 2 - 1).to(torch.bfloat16)
    v = (torch.rand(B, Lk, 8, 128, generator=g) * 2 - 1).to(torch.bfloat16)
    o = torch.empty_like(q)
    params = dev.params(ksa.MODE_ANCHOR, ksa.PHASE_DECODE)
    n_tiles, slots = dev.index_shape(params, dev.tensors(q, k, v, o))
    idx = torch.full((B, 8, slots), -1, dtype=torch.int32)
    cnt = torch.zeros((B, 8), dtype=torch.int32)
    dev.attention(q, k, v, o, mode=ksa.MODE_ANCHOR, phase=ksa.PHASE_DECODE, indices=idx, counts=cnt)
    runs = {"dense": dev.prepare(q, k, v, o, mode=ksa.MODE_DENSE, phase=ksa.PHASE_DECODE),
            "reuse": dev.prepare(q, k, v, o, mode=ksa.MODE_REUSE, phase=ksa.PHASE_DECODE, indices=idx, counts=cnt)}
    for name, run in runs.items():
        for gap_us in (0, 1000):
            for _ in range(5):
                run()
            ts = []
            for _ in range(N):
                if gap_us:
                    time.sleep(gap_us * 1e-6)
                t0 = time.perf_counter()
                run()
                ts.append((time.perf_counter() - t0) * 1e6)
            out[f"{name} B{B} Lk{Lk} gap{gap_us}"] = round(statistics.median(ts), 1)
print("JSON " + json.dumps(out), flush=True)
