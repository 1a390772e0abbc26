"""twelfth session, call 11: SM clock and board power while ksa (ksa-bench) and cuDNN (torch SDPA) run dense
causal prefill B1 L16K Hq32/Hkv8 D128 in f16 and in bf16 (~3 s each, nvidia-smi sampled every 50 ms)."""
import os, subprocess, sys, time, statistics, json
import torch
import torch.nn.functional as F
OUT = os.environ["OUT"]
D = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ, LD_LIBRARY_PATH=D + "/core:" + os.environ.get("LD_LIBRARY_PATH", ""), KSA_PLUGIN_PATH=D + "/lib_fin",
           KSA_TUNE_CACHE="off")


def sampled(tag, fn):
    log = f"{OUT}/smi_{tag}.csv"
    p = subprocess.Popen(["nvidia-smi", "--query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_event_reasons.active",
                          "--format=csv,noheader,nounits", "-lms", "50"], stdout=open(log, "w"))
    try:
        time.sleep(0.3)
        res = fn()
        time.sleep(0.2)
    finally:
        p.terminate(); p.wait()
    rows = [l.split(", ") for l in open(log) if l.strip()]
    busy = [r for r in rows if float(r[2]) > 300]
    clk = statistics.median(float(r[1]) for r in busy) if busy else 0
    pw = statistics.median(float(r[2]) for r in busy) if busy else 0
    reasons = sorted({r[4] for r in busy})
    print(f"{tag:12s} {res:8.3f} ms  SM clock {clk:6.0f} MHz  power {pw:6.1f} W  ({len(busy)} busy samples; reasons {reasons})", flush=True)
    return res, clk, pw


def ksa_run(dt):
    out = subprocess.run([D + "/bin/ksa-bench", "--device", "cuda:0", "--shape", "1,16384,16384,32,8,128", "--mode", "dense",
                          "--phase", "prefill", "--dtype", dt, "--max-measure-ms", "3000", "--repeats", "200", "--min-sample-ms", "15"],
                         env=env, capture_output=True, text=True, timeout=30)
    return json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][0])["median_ms"]


def cudnn_run(dt):
    t = torch.float16 if dt == "f16" else torch.bfloat16
    g = torch.Generator(device="cuda").manual_seed(1)
    q = (torch.rand(1, 32, 16384, 128, device="cuda", generator=g) * 2 - 1).to(t)
    k = (torch.rand(1, 8, 16384, 128, device="cuda", generator=g) * 2 - 1).to(t)
    v = (torch.rand(1, 8, 16384, 128, device="cuda", generator=g) * 2 - 1).to(t)
    from torch.nn.attention import sdpa_kernel, SDPBackend
    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
        fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        for _ in range(5): fn()
        torch.cuda.synchronize()
        times = []
        t0 = time.time()
        while time.time() - t0 < 3.0:
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record(); fn(); e.record(); e.synchronize()
            times.append(s.elapsed_time(e))
    return statistics.median(times)


for dt in ("bf16", "f16", "bf16", "f16"):
    sampled("ksa-" + dt, lambda: ksa_run(dt))
    sampled("cudnn-" + dt, lambda: cudnn_run(dt))
