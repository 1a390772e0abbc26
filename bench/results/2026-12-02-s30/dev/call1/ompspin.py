"""Thirtieth session, device call 1: does torch's OpenMP team slow a ksa CPU call that follows a torch
op in the same process? Dense bf16 causal prefill B1 Hq32/Hkv8 D128, ksa (cpu) and torch CPU SDPA.
Per shape, medians (ms) of N calls for: ksa alone (100 ms idle before each), torch alone, ksa right
after a torch SDPA call, ksa 50 ms after a torch SDPA call, and torch right after a ksa call.
Run once per OpenMP environment (set before torch is imported): see run.sh."""
import os, sys, time, statistics, json
import torch
import ksa

N = int(os.environ.get("REPS", "9"))
torch.set_num_threads(os.cpu_count())
info = torch.__config__.parallel_info()
env = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS")}
print("# env", env)
print("# " + " | ".join(l.strip() for l in info.splitlines() if "OpenMP" in l or "MKL" in l or "threads" in l.lower()))
dev = ksa.Context().open("cpu")
res = {"env": env}
for L in (2048, 4096):
    g = torch.Generator().manual_seed(7)
    q, k, v = ((torch.rand(1, L, h, 128, generator=g) * 2 - 1).to(torch.bfloat16) for h in (32, 8, 8))
    o = torch.full_like(q, float("nan"))
    run_ksa = dev.prepare(q, k, v, o, mode=ksa.MODE_DENSE, phase=ksa.PHASE_PREFILL)
    qt, kt, vt = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def run_torch():
        return torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, is_causal=True, enable_gqa=True)

    def t(fn):
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3
    run_ksa(); run_torch(); run_ksa(); run_torch()
    ref = run_torch().transpose(1, 2).float()
    run_ksa()
    err = ((o.float() - ref).norm() / ref.norm()).item()
    r = {"rel_err": err}
    rows = {"ksa alone": [], "torch alone": [], "ksa right after torch": [], "ksa 50 ms after torch": [],
            "torch right after ksa": []}
    for i in range(N):
        time.sleep(0.1); rows["ksa alone"].append(t(run_ksa))
        time.sleep(0.1); rows["torch alone"].append(t(run_torch))
        run_torch(); rows["ksa right after torch"].append(t(run_ksa))
        run_torch(); time.sleep(0.05); rows["ksa 50 ms after torch"].append(t(run_ksa))
        run_ksa(); rows["torch right after ksa"].append(t(run_torch))
    for name, xs in rows.items():
        r[name] = round(statistics.median(xs), 2)
    res[L] = r
    print(f"L{L}: " + ", ".join(f"{k} {v}" for k, v in r.items()), flush=True)
print("JSON " + json.dumps(res))
