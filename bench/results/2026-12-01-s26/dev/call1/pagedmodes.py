#!/usr/bin/env python3
# s26 call 1: dense / anchor / reuse decode bf16 B1 (Hq32 Hkv8 D128), the same K/V contiguous and as paged pools
# (pages of 16 and 64, shuffled page order, as peer_torch.py builds them), timed call by call in alternation,
# each call after an L2 flush; prints the median (us) of each variant per round. Which plugin runs is
# KSA_PLUGIN_PATH's (the caller alternates processes).
import os, sys, statistics
sys.path.insert(0, os.path.join(os.getcwd(), "python"))
import torch
import ksa

tag = sys.argv[1]
shapes = [tuple(int(x) for x in s.split("x")) for s in sys.argv[2].split(",")]  # BxLk
rounds, reps = 2, 21
ctx = ksa.Context()
dev = ctx.open("cuda:0")
flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
dt = torch.bfloat16
MODES = {"dense": ksa.MODE_DENSE, "anchor": ksa.MODE_ANCHOR, "reuse": ksa.MODE_REUSE}
for B, Lk in shapes:
    Hq, Hkv, D = 32, 8, 128
    g = torch.Generator(device="cuda").manual_seed(1234)
    rnd = lambda *s: (torch.rand(*s, device="cuda", generator=g) * 2 - 1).to(dt)
    q, k, v = rnd(B, 1, Hq, D), rnd(B, Lk, Hkv, D), rnd(B, Lk, Hkv, D)
    o = torch.empty_like(q)
    layouts = {"c": ({}, {}, k, v)}
    for ps in (16, 64):
        npg = B * (Lk // ps)
        perm = torch.randperm(npg, generator=torch.Generator().manual_seed(99)).to("cuda")
        kx, vx = (torch.empty(npg, ps, Hkv, D, dtype=dt, device="cuda") for _ in range(2))
        kx[perm] = k.reshape(npg, ps, Hkv, D)
        vx[perm] = v.reshape(npg, ps, Hkv, D)
        layouts[f"p{ps}"] = ({"page_table": perm.view(B, Lk // ps).to(torch.int32).contiguous(),
                              "seq_lens_k": torch.full((B,), Lk, dtype=torch.int32, device="cuda")},
                             {"max_seqlen_k": Lk}, kx, vx)
    params = dev.params(ksa.MODE_ANCHOR, ksa.PHASE_DECODE, max_seqlen_k=Lk)
    _, k_slots = dev.index_shape(params, dev.tensors(q, k, v, o))
    fns, keep = {}, []
    for mode in ("dense", "anchor", "reuse"):
        for lay, (paged, bounds, kx, vx) in layouts.items():
            extra = {}
            if mode != "dense":
                extra = {"indices": torch.full((B, Hkv, k_slots), -1, dtype=torch.int32, device="cuda"),
                         "counts": torch.zeros((B, Hkv), dtype=torch.int32, device="cuda")}
                if mode == "reuse":
                    dev.attention(q, kx, vx, o, mode=ksa.MODE_ANCHOR, **extra, **paged, **bounds)
                keep.append(extra)
            fns[f"{mode}.{lay}"] = dev.prepare(q, kx, vx, o, mode=MODES[mode], phase=ksa.PHASE_DECODE, **extra, **paged, **bounds)
    run = list(fns)
    for f in run: fns[f](); fns[f]()
    torch.cuda.synchronize()
    for r in range(rounds):
        t = {n: [] for n in run}
        for i in range(reps):
            order = run if i % 2 == 0 else run[::-1]
            for n in order:
                flush.zero_()
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record(); fns[n](); e.record(); e.synchronize()
                t[n].append(s.elapsed_time(e))
        med = {n: statistics.median(t[n]) * 1e3 for n in run}
        line = "  ".join(f"{n} {med[n]:.1f}" for n in run)
        ratios = "  ".join(f"{m}: p16 {med[m + '.p16'] / med[m + '.c']:.3f} p64 {med[m + '.p64'] / med[m + '.c']:.3f}" for m in MODES)
        print(f"{tag} B{B} Lk{Lk} round {r}: {line}\n    paged/contiguous {ratios}", flush=True)
