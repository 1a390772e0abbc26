#!/usr/bin/env python3
# s25 call 1: dense decode bf16 with the same K/V given to ksa contiguous and as paged pools (pages of 16 and 64,
# in a shuffled or in the identity page order), cuDNN SDPA on the contiguous tensors, timed call by call in
# alternation (each call after an L2 flush), R rounds; prints the median of each variant per round.
import os, sys, statistics
sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
sys.path.insert(0, os.path.join(os.getcwd(), "python"))
import torch, torch.nn.functional as F
import ksa
from torch.nn.attention import sdpa_kernel, SDPBackend

tag = sys.argv[1]
variants = sys.argv[2].split(",")          # e.g. contig,p16s,p16i,p64s,p64i,cudnn
shapes = [tuple(int(x) for x in s.split("x")) for s in sys.argv[3].split(",")]  # BxLk
rounds, reps = 3, 15
ctx = ksa.Context()
dev = ctx.open("cuda:0")
flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
dt = torch.bfloat16
for B, Lk in shapes:
    Hq, Hkv, D = 32, 8, 128
    g = torch.Generator(device="cuda").manual_seed(1234)
    rnd = lambda *s: (torch.rand(*s, device="cuda", generator=g) * 2 - 1).to(dt)
    q, k, v = rnd(B, 1, Hq, D), rnd(B, Lk, Hkv, D), rnd(B, Lk, Hkv, D)
    o = torch.empty_like(q)
    fns = {}
    for name in variants:
        if name == "cudnn":
            qt, kt, vt = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            def f(qt=qt, kt=kt, vt=vt):
                with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
                    return F.scaled_dot_product_attention(qt, kt, vt, enable_gqa=True)
            fns[name] = f
            continue
        if name == "contig":
            fns[name] = dev.prepare(q, k, v, o, mode=ksa.MODE_DENSE, phase=ksa.PHASE_DECODE)
            continue
        ps, order = int(name[1:-1]), name[-1]
        npg = B * (Lk // ps)
        perm = (torch.randperm(npg, generator=torch.Generator().manual_seed(99)) if order == "s" else torch.arange(npg)).to("cuda")
        kx, vx = (torch.empty(npg, ps, Hkv, D, dtype=dt, device="cuda") for _ in range(2))
        kx[perm] = k.reshape(npg, ps, Hkv, D)
        vx[perm] = v.reshape(npg, ps, Hkv, D)
        paged = {"page_table": perm.view(B, Lk // ps).to(torch.int32).contiguous(),
                 "seq_lens_k": torch.full((B,), Lk, dtype=torch.int32, device="cuda")}
        fns[name] = dev.prepare(q, kx, vx, o, mode=ksa.MODE_DENSE, phase=ksa.PHASE_DECODE, max_seqlen_k=Lk, **paged)
        fns[name + "_keep"] = (kx, vx, paged)
    run = [n for n in variants]
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
        print(f"{tag} B{B} Lk{Lk} round {r}: " + "  ".join(f"{n} {statistics.median(t[n])*1e3:.1f}" for n in run), flush=True)
