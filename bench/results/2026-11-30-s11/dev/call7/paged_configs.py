"""eleventh session: B1 decode, contiguous vs paged (peer_torch's paged cache: shuffled pages, seq_lens_k on
the device with the host bound), under several backend configurations (ksa.set_config_override); timed
like peer_torch (L2 flushed before each call, events, median of 15). One line per (mode, Lk, layout, config)."""
import os, sys, statistics
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import torch
import ksa

ctx = ksa.Context()
dev = ctx.open("cuda:0")
flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
topk = {"fraction": 0.10, "min_k": 128, "round_multiple": 128, "tile_size": 32, "rolling": 1}


def timeit(fn, reps=15):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for s, e in ev:
        flush.zero_()
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in ev) * 1e3


B, Hq, Hkv, D = int(os.environ.get("BATCH", "1")), 32, 8, 128
dt = torch.bfloat16
g = torch.Generator(device="cuda").manual_seed(1234)
CONFIGS = [c for c in os.environ.get("CONFIGS", "").split(";")] or [""]
for Lk in [int(x) for x in os.environ.get("LKS", "32768").split(",")]:
    q = (torch.rand(B, 1, Hq, D, device="cuda", generator=g) * 2 - 1).to(dt)
    k = (torch.rand(B, Lk, Hkv, D, device="cuda", generator=g) * 2 - 1).to(dt)
    v = (torch.rand(B, Lk, Hkv, D, device="cuda", generator=g) * 2 - 1).to(dt)
    o = torch.empty_like(q)
    for mode in os.environ.get("MODES", "dense,anchor").split(","):
        for ps in [int(x) for x in os.environ.get("PAGES", "0,16,64").split(",")]:
            kx, vx, paged, bounds = k, v, {}, {}
            if ps:
                npg = B * (Lk // ps)
                perm = torch.randperm(npg, generator=torch.Generator().manual_seed(99)).cuda()
                kx, vx = (torch.empty(npg, ps, Hkv, D, dtype=dt, device="cuda") for _ in range(2))
                kx[perm] = k.reshape(npg, ps, Hkv, D)
                vx[perm] = v.reshape(npg, ps, Hkv, D)
                paged = {"page_table": perm.view(B, Lk // ps).to(torch.int32).contiguous(),
                         "seq_lens_k": torch.full((B,), Lk, dtype=torch.int32, device="cuda")}
                bounds = {"max_seqlen_k": Lk}
            for cfg in CONFIGS:
                ksa.set_config_override(cfg or None)
                try:
                    extra = {}
                    if mode != "dense":
                        params = dev.params(ksa.MODE_ANCHOR, ksa.PHASE_DECODE, **bounds, **topk)
                        tens = dev.tensors(q, kx, vx, o, **paged)
                        n_tiles, k_slots = dev.index_shape(params, tens)
                        extra = {"indices": torch.full((B, Hkv, k_slots), -1, dtype=torch.int32, device="cuda"),
                                 "counts": torch.zeros((B, Hkv), dtype=torch.int32, device="cuda")}
                    m = {"dense": ksa.MODE_DENSE, "anchor": ksa.MODE_ANCHOR, "reuse": ksa.MODE_REUSE}[mode]
                    if mode == "reuse":
                        dev.attention(q, kx, vx, o, mode=ksa.MODE_ANCHOR, phase=ksa.PHASE_DECODE, **extra, **paged, **bounds, **topk)
                    run = dev.prepare(q, kx, vx, o, mode=m, phase=ksa.PHASE_DECODE, **extra, **paged, **bounds, **topk)
                    us = timeit(run)
                    print(f"{os.environ.get('TAG', '')} B{B} {mode:6s} Lk{Lk} pages {ps:2d} {us:8.2f} us  config '{cfg or 'built-in'}'", flush=True)
                except Exception as e:  # noqa: BLE001
                    print(f"{mode:6s} Lk{Lk} pages {ps:2d} error {str(e)[:150]} config '{cfg}'", flush=True)
            ksa.set_config_override(None)
