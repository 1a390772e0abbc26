#!/usr/bin/env python3
# s25 call 3: one dense decode call (bf16, Hq32/Hkv8 D128) for Nsight Compute: contiguous, or pages of 16 / 64 that
# are views of the contiguous K/V (identity page order, the same memory)
import os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "python"))
import torch, ksa
B, Lk, var = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
Hq, Hkv, D = 32, 8, 128
dev = ksa.Context().open("cuda:0")
g = torch.Generator(device="cuda").manual_seed(1234)
rnd = lambda *s: (torch.rand(*s, device="cuda", generator=g) * 2 - 1).to(torch.bfloat16)
q, k, v = rnd(B, 1, Hq, D), rnd(B, Lk, Hkv, D), rnd(B, Lk, Hkv, D)
o = torch.empty_like(q)
if var == "contig":
    run = dev.prepare(q, k, v, o, mode=ksa.MODE_DENSE, phase=ksa.PHASE_DECODE)
else:
    ps = int(var[1:]); npg = B * (Lk // ps)
    pt = torch.arange(npg, device="cuda", dtype=torch.int32).view(B, Lk // ps)
    run = dev.prepare(q, k.view(npg, ps, Hkv, D), v.view(npg, ps, Hkv, D), o, mode=ksa.MODE_DENSE, phase=ksa.PHASE_DECODE,
                      max_seqlen_k=Lk, page_table=pt, seq_lens_k=torch.full((B,), Lk, dtype=torch.int32, device="cuda"))
for _ in range(3): run()
torch.cuda.synchronize()
