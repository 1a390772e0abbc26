#!/usr/bin/env python3
"""dev_timeline.py: the kernels of ksa calls on the GPU's own clock. torch.profiler's CUPTI trace
records every kernel of the process, ksa's included, with its start and end; calls are told apart
by idle time longer than --split-us. Per call: kernels, span (first start to last end), kernel
time and idle time; for the last call, each kernel's duration and the gap before it.

    dev_timeline.py --mode anchor --L 32768 --dtype bf16        # on a GPU machine: run and summarise
    dev_timeline.py --mode anchor --L 32768 --regimes            # also CUDA events around each call,
                                                                 # back-to-back, synchronised, rested
    dev_timeline.py --trace trace.json                           # summarise a saved chrome trace

A profiler runs each kernel at the clock a rested board gives it; back-to-back calls meet the
power cap (bench/README.md, "Development calls"), so --regimes times both. Needs torch and ksa's
Python package (KSA_LIBRARY, KSA_PLUGIN_PATH as in scripts/device/device-common.sh) unless --trace.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

GPU_CATEGORIES = ("kernel", "gpu_memset", "gpu_memcpy")


def split_calls(events, split_us):
    """GPU events of a chrome trace (dicts with cat, ph, ts, dur in us), sorted, cut into calls
    wherever the GPU idles longer than split_us."""
    ks = sorted((e for e in events if e.get("cat") in GPU_CATEGORIES and e.get("ph") == "X"), key=lambda e: e["ts"])
    calls, cur = [], []
    for e in ks:
        if cur and e["ts"] - (cur[-1]["ts"] + cur[-1]["dur"]) > split_us:
            calls.append(cur)
            cur = []
        cur.append(e)
    if cur:
        calls.append(cur)
    return calls


def short_name(name):
    """'void k90_lse<128, __nv_bfloat16>(ksa_gpu_args, ...)' -> 'k90_lse<128, __nv_bfloat16>'"""
    n = name.split("(")[0]
    return n[5:] if n.startswith("void ") else n


def summarize(events, split_us=5000.0):
    """One dict per call: kernels, span_ms, kernel_ms, idle_ms, and rows (name, ms, gap_us before)."""
    out = []
    for c in split_calls(events, split_us):
        span = (c[-1]["ts"] + c[-1]["dur"] - c[0]["ts"]) / 1e3
        busy = sum(e["dur"] for e in c) / 1e3
        rows, prev = [], None
        for e in c:
            rows.append((short_name(e.get("name", "?")), e["dur"] / 1e3, 0.0 if prev is None else e["ts"] - prev))
            prev = e["ts"] + e["dur"]
        idle = span - busy  # below 0 only where kernels overlap (other streams); rounding aside
        out.append({"kernels": len(c), "span_ms": span, "kernel_ms": busy, "idle_ms": 0.0 if abs(idle) < 5e-4 else idle,
                    "rows": rows})
    return out


def report(calls, title=""):
    lines = []
    for i, c in enumerate(calls):
        lines.append(f"{title}call {i}: {c['kernels']} kernels, span {c['span_ms']:.3f} ms, kernel time {c['kernel_ms']:.3f} ms, "
                     f"idle {c['idle_ms']:.3f} ms")
    if calls:
        for name, ms, gap in calls[-1]["rows"]:
            lines.append(f"   {name[:60]:60s} {ms:8.3f} ms  gap before {gap:7.1f} us")
    return "\n".join(lines)


def run_on_gpu(args):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.join(root, "python"))
    import torch  # noqa: WPS433 (GPU machine only)
    import ksa  # noqa: WPS433
    from torch.profiler import profile, ProfilerActivity  # noqa: WPS433

    tdt = {"bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    g = torch.Generator(device="cuda").manual_seed(1234)

    def rnd(*s):
        return (torch.rand(*s, device="cuda", generator=g) * 2 - 1).to(tdt)
    q, k, v = rnd(args.B, args.L, args.hq, args.D), rnd(args.B, args.L, args.hkv, args.D), rnd(args.B, args.L, args.hkv, args.D)
    o = torch.empty_like(q)
    dev = ksa.Context().open("cuda:0")
    topk = {"fraction": args.fraction, "min_k": 128, "round_multiple": 128, "tile_size": 32, "rolling": 1}
    modes = {"dense": ksa.MODE_DENSE, "anchor": ksa.MODE_ANCHOR, "reuse": ksa.MODE_REUSE}
    extra = {}
    if args.mode != "dense":
        params = dev.params(ksa.MODE_ANCHOR, ksa.PHASE_PREFILL, **topk)
        n_tiles, k_slots = dev.index_shape(params, dev.tensors(q, k, v, o))
        extra = {"indices": torch.full((args.B, args.hkv, n_tiles, k_slots), -1, dtype=torch.int32, device="cuda"),
                 "counts": torch.zeros((args.B, args.hkv, n_tiles), dtype=torch.int32, device="cuda")}
        if args.mode == "reuse":  # the anchor's own index sets
            dev.attention(q, k, v, o, mode=ksa.MODE_ANCHOR, **extra, **topk)
    run = dev.prepare(q, k, v, o, mode=modes[args.mode], phase=ksa.PHASE_PREFILL, **extra, **topk)
    for _ in range(3):
        run()
    torch.cuda.synchronize()
    title = f"{args.mode} B{args.B} L{args.L} Hq{args.hq}/Hkv{args.hkv} D{args.D} {args.dtype}"
    if args.regimes:
        for name, sync, rest in (("back-to-back", 0, 0.0), ("synchronised", 1, 0.0), ("rested 20 ms", 1, 0.02)):
            ev = [torch.cuda.Event(enable_timing=True) for _ in range(2 * args.calls)]
            for i in range(args.calls):
                ev[2 * i].record()
                run()
                ev[2 * i + 1].record()
                if sync:
                    torch.cuda.synchronize()
                if rest:
                    time.sleep(rest)
            torch.cuda.synchronize()
            ms = statistics.median(ev[2 * i].elapsed_time(ev[2 * i + 1]) for i in range(args.calls))
            print(f"{title}: events, {name}: median {ms:.3f} ms of {args.calls} calls")
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for _ in range(args.calls):
            run()
            torch.cuda.synchronize()
            time.sleep(args.split_us * 4e-6)  # idle long enough to cut the trace between calls
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    print(report(summarize(events, args.split_us), title + ": "))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", help="summarise this chrome trace (torch.profiler's export) instead of running")
    ap.add_argument("--split-us", type=float, default=5000.0, help="idle time that separates two calls (us)")
    ap.add_argument("--mode", choices=("dense", "anchor", "reuse"), default="anchor")
    ap.add_argument("--L", type=int, default=32768)
    ap.add_argument("--B", type=int, default=1)
    ap.add_argument("--hq", type=int, default=32)
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--D", type=int, default=128)
    ap.add_argument("--dtype", choices=("bf16", "f16"), default="bf16")
    ap.add_argument("--fraction", type=float, default=0.10)
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--regimes", action="store_true", help="also CUDA events: back-to-back, synchronised, rested")
    args = ap.parse_args(argv)
    if args.calls < 1 or args.split_us <= 0:
        ap.error("--calls must be >= 1 and --split-us > 0")
    if args.trace:
        try:
            with open(args.trace) as f:
                data = json.load(f)
            events = data["traceEvents"] if isinstance(data, dict) else data
            if not isinstance(events, list):
                raise ValueError("traceEvents is not a list")
        except (OSError, ValueError, KeyError) as e:
            print(f"dev_timeline.py: cannot read {args.trace} as a chrome trace: {e}", file=sys.stderr)
            return 2
        calls = summarize(events, args.split_us)
        if not calls:
            print(f"{args.trace}: no GPU events")
            return 1
        print(report(calls))
        return 0
    return run_on_gpu(args)


if __name__ == "__main__":
    sys.exit(main())
