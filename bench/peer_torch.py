#!/usr/bin/env python3
"""peer_torch.py: ksa against PyTorch scaled_dot_product_attention on the same tensors, in one process.

GPU: torch SDPA with the cuDNN, FlashAttention, memory-efficient and math backends (chosen with
torch.nn.attention.sdpa_kernel); CPU: torch's CPU SDPA against ksa's CPU backend. For DENSE the
outputs must agree (relative Frobenius error under the dtype's tolerance); ANCHOR and REUSE are
timed against the same dense peer (their speedup is the point of Kascade). Records are JSON lines
in ksa-bench's format plus peer fields: peer, peer_ms, ratio (= peer_ms / ksa median_ms: above 1
means ksa is faster), peers (every backend's ms), rel_err, agree.

Tensors are allocated in ksa's layout [B, L, H, D]; torch gets the [B, H, L, D] views
(x.transpose(1, 2)), as model code passes them. --kv-layout bhsd allocates K and V head-major
instead ([B, H, L, D] storage, each head's rows contiguous; ksa gets the [B, L, H, D] view), to
separate a kernel's rate from the DRAM locality of the token-major cache. --page-size P gives ksa
the same K/V as a paged cache ([pages, P, H, D] in a shuffled page order, with a page table and
seq_lens_k on the device; torch keeps the contiguous tensors), to compare paged with contiguous
rates; ksa gets the host bound max_seqlen_k = Lk, so it reads no lengths back (--read-back-lengths
leaves the bound out, to measure the synchronising read-back).
--modes limits the ksa modes run. GQA goes to torch with enable_gqa=True, or with K/V expanded by
repeat_interleave outside the timed region where a backend refuses it.
--interleave MODES (e.g. dense) also times those ksa modes and the primary peer (its faster GQA way)
call by call in alternation, so both run in the same power and clock state of the device (a GPU at
its power cap clocks lower the longer it has been busy), and adds "interleaved": {ksa_ms, peer_ms,
ratio}; the fields above keep the separate timings. On the CPU each of those calls follows 50 ms of
idle, so that torch's busy-waiting OpenMP threads are asleep when ksa starts (and the reverse).

usage: peer_torch.py [--out FILE] [--device cuda,cpu] [--quick] [--dtype f16,bf16] [--repeats N]
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import ksa  # noqa: E402
from bench_records import count  # noqa: E402

TOL = {"f16": 5e-3, "bf16": 2e-2, "f32": 1e-4}
TORCH_DT = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}
MODES = {"dense": ksa.MODE_DENSE, "anchor": ksa.MODE_ANCHOR, "reuse": ksa.MODE_REUSE}
EXPAND_MAX = 4 << 30  # bytes of K/V expanded per query head (repeat_interleave peer, math backend)


def peaks_for(device_kind, args):
    tf, bw, src = 100.0, 1000.0, "guess"
    if device_kind == "cuda":
        name = torch.cuda.get_device_name()
        if "H100" in name:
            tf, bw, src = 800.0, 3000.0, "builtin: H100 measured"
        elif "H200" in name:
            tf, bw, src = 790.0, 4300.0, "builtin: H200 measured"
    else:
        flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
        per = 2048 if "amx_bf16" in flags else 128 if "avx512" in flags else 32
        tf, bw, src = os.cpu_count() * 2.0e9 * per / 1e12, 200.0, f"nominal CPU ({per} FLOP/cycle/core at 2 GHz)"
    tf = float(os.environ.get("KSA_BENCH_PEAK_TFLOPS", tf))
    bw = float(os.environ.get("KSA_BENCH_BANDWIDTH_GBS", bw))
    if device_kind == "cpu" and args.cpu_bandwidth_gbs:
        bw, src = args.cpu_bandwidth_gbs, src + "; bandwidth from option"
    if device_kind == "cuda" and args.peak_tflops:
        tf = args.peak_tflops
    if device_kind == "cuda" and args.bandwidth_gbs:
        bw = args.bandwidth_gbs
    return tf, bw, src


# ------------------------------------------------------------------ timing
class Timer:
    """Median time of fn() in ms: events on GPU with the L2 flushed before each call, wall clock on CPU."""

    def __init__(self, device_kind, repeats, warmup):
        self.kind, self.repeats, self.warmup = device_kind, repeats, warmup
        self.flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda") if device_kind == "cuda" else None

    def __call__(self, fn):
        for _ in range(self.warmup):
            fn()
        if self.kind == "cuda":
            torch.cuda.synchronize()
            starts = [torch.cuda.Event(enable_timing=True) for _ in range(self.repeats)]
            ends = [torch.cuda.Event(enable_timing=True) for _ in range(self.repeats)]
            for s, e in zip(starts, ends):
                self.flush.zero_()
                s.record()
                fn()
                e.record()
            torch.cuda.synchronize()
            times = [s.elapsed_time(e) for s, e in zip(starts, ends)]
        else:
            times = []
            for _ in range(self.repeats):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times), min(times)

    # idle before each timed CPU call of pair(): torch's OpenMP threads busy-wait after each parallel
    # region and share the cores with the next ksa call for several ms (bench/NOTES.md, thirtieth
    # session: +47% at L2048); 50 ms lets them sleep, as the L2 flush resets the GPU's caches
    CPU_IDLE_S = 0.05

    def pair(self, fa, fb):
        """Median ms of fa and of fb timed call by call in alternation (the first of each pair alternating
        too), each call after its own L2 flush on the GPU or CPU_IDLE_S of idle on the CPU, so both see
        the same device state and neither shares the cores with the other's threads."""
        for _ in range(self.warmup):
            fa()
            fb()
        ta, tb = [], []
        for i in range(self.repeats):
            for f, t in (((fa, ta), (fb, tb)) if i % 2 == 0 else ((fb, tb), (fa, ta))):
                if self.kind == "cuda":
                    self.flush.zero_()
                    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    s.record()
                    f()
                    e.record()
                    e.synchronize()
                    t.append(s.elapsed_time(e))
                else:
                    time.sleep(self.CPU_IDLE_S)
                    t0 = time.perf_counter()
                    f()
                    t.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ta), statistics.median(tb)


# ------------------------------------------------------------------ peers
def sdpa_backends(device_kind):
    if device_kind == "cpu":
        return {"cpu": None}
    from torch.nn.attention import SDPBackend
    return {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}


def make_peers(backend, q, k, v, causal, group):
    """Closures running torch SDPA with one backend on [B, H, L, D] views, one per way of passing GQA
    (enable_gqa=True, or K/V expanded with repeat_interleave beforehand): [(fn, gqa_mode, output)].
    A way the backend refuses is left out; raises when it refuses every way."""
    from contextlib import nullcontext
    try:
        from torch.nn.attention import sdpa_kernel
    except ImportError:  # torch < 2.3
        sdpa_kernel = None
    ctx = (lambda: sdpa_kernel([backend])) if (backend is not None and sdpa_kernel) else nullcontext
    expanded = 2 * k.numel() * group * k.element_size()
    attempts = [("enable_gqa", q, k, v, {"enable_gqa": True})] if group > 1 else [("none", q, k, v, {})]
    if group > 1 and expanded <= EXPAND_MAX:  # K/V copied per query head: only where that fits easily
        attempts.append(("repeat_interleave", q, k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1), {}))
    made, last = [], None
    for mode, qq, kk, vv, kw in attempts:
        def fn(qq=qq, kk=kk, vv=vv, kw=kw):
            with ctx():
                return F.scaled_dot_product_attention(qq, kk, vv, is_causal=causal, **kw)
        try:
            out = fn()
            if q.is_cuda:
                torch.cuda.synchronize()
            made.append((fn, mode, out))
        except Exception as e:  # noqa: BLE001  (this backend refuses this input)
            last = e
    if not made:
        raise RuntimeError(str(last).splitlines()[0] if last else "refused")
    return made


# ------------------------------------------------------------------ one comparison
def device_lengths(args):
    """ksa gets seq_lens_k on the device: paged K/V always, contiguous K/V with --device-lengths"""
    return bool(args.page_size or args.device_lengths)


def base_record(args, dev, shape, phase, dtype_name, mode, tf, bw, src):
    B, Lq, Lk, Hq, Hkv, D = shape
    es = 4 if dtype_name == "f32" else 2
    flops, nbytes = count(shape, mode, phase, args.topk, es)
    floor_ms = 1e3 * max(flops / (tf * 1e12), nbytes / (bw * 1e9))
    membound = nbytes / (bw * 1e9) > flops / (tf * 1e12)
    return {
        "tool": "peer_torch", "ksa_version": ksa.version(), "op": "attention", "mode": mode, "phase": phase,
        "backend": dev.backend if dev else "none", "device": dev.name if dev else "", "device_name":
        dev.description if dev else "", "isa": dev.isa if dev else "",
        "shape": {"B": B, "Lq": Lq, "Lk": Lk, "Hq": Hq, "Hkv": Hkv, "D": D}, "dtype": dtype_name,
        "config": dict(args.topk, layout="BLHD" if args.kv_layout == "bshd" else "BLHD view of BHLD K/V",
                       page_size=args.page_size, ordered_pages=bool(args.page_size and args.ordered_pages),
                       length_bounds=device_lengths(args) and not args.read_back_lengths,
                       device_lengths=device_lengths(args),
                       cpu_isa_env=os.environ.get("KSA_CPU_ISA", ""),
                       repeats=args.repeats, override=args.config),
        "torch_version": torch.__version__,
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "flops": flops, "bytes": nbytes, "floor_ms": floor_ms, "bound": "memory" if membound else "compute",
        "peak_tflops": tf, "bandwidth_gbs": bw, "peak_source": src,
    }


def finish(rec, ms, min_ms):
    rec["status"] = "ok"
    rec["median_ms"], rec["min_ms"] = ms, min_ms
    rec["tflops"] = rec["flops"] / (ms * 1e-3) / 1e12
    rec["gbs"] = rec["bytes"] / (ms * 1e-3) / 1e9
    mem = rec["bound"] == "memory"
    rec["rate"], rec["rate_unit"] = (rec["gbs"], "GB/s") if mem else (rec["tflops"], "TFLOP/s")
    rec["roofline_pct"] = 100.0 * rec["floor_ms"] / ms


def compare(args, emit, timer, kind, dev, shape, phase, dtype_name, modes, tf, bw, src, math_ok):
    B, Lq, Lk, Hq, Hkv, D = shape
    tdev = "cuda" if kind == "cuda" else "cpu"
    dt = TORCH_DT[dtype_name]
    g = torch.Generator(device=tdev).manual_seed(1234)

    def rnd(*s):
        return (torch.rand(*s, device=tdev, dtype=torch.float32, generator=g) * 2 - 1).to(dt)
    q = rnd(B, Lq, Hq, D)
    if args.kv_layout == "bhsd":  # head-major storage, the same [B, L, H, D] view
        k = rnd(B, Hkv, Lk, D).transpose(1, 2)
        v = rnd(B, Hkv, Lk, D).transpose(1, 2)
    else:
        k = rnd(B, Lk, Hkv, D)
        v = rnd(B, Lk, Hkv, D)
    o = torch.full_like(q, float("nan"))
    qt, kt, vt = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    kx, vx, kv_tensors, bounds = k, v, {}, {}  # what ksa reads: the same tensors or a paged copy, and their lengths
    if args.page_size:
        ps = args.page_size
        if Lk % ps:
            return
        npg = B * (Lk // ps)
        # physical page of logical page: shuffled, or in order with --ordered-pages (which separates the
        # cost of scattered addresses from that of the page-table reads)
        perm = (torch.arange(npg) if args.ordered_pages else
                torch.randperm(npg, generator=torch.Generator().manual_seed(99))).to(tdev)
        kx, vx = (torch.empty(npg, ps, Hkv, D, dtype=dt, device=tdev) for _ in range(2))
        kx[perm] = k.reshape(npg, ps, Hkv, D)
        vx[perm] = v.reshape(npg, ps, Hkv, D)
        kv_tensors = {"page_table": perm.view(B, Lk // ps).to(torch.int32).contiguous()}
    if device_lengths(args):  # paged K/V, or contiguous K/V given its lengths the same way
        # on the device, as ksa requires for paged K/V; with the host bound it reads them on the device
        kv_tensors["seq_lens_k"] = torch.full((B,), Lk, dtype=torch.int32, device=tdev)
        if not args.read_back_lengths:
            bounds = {"max_seqlen_k": Lk}
    causal = phase == "prefill" and Lq == Lk
    if phase == "prefill" and Lq != Lk:
        return  # torch's is_causal aligns the top-left corner; chunked prefill is ksa-bench only

    # peers on the dense problem
    peers, outs, gqa, peer_fns = {}, {}, {}, {}
    for name, backend in sdpa_backends(kind).items():
        if name == "math" and (not math_ok or 2 * B * Lk * Hq * D * q.element_size() > EXPAND_MAX):
            continue
        try:  # the faster way of passing GQA is the peer's time; both are recorded
            timed = [(timer(fn), mode, out, fn) for fn, mode, out in make_peers(backend, qt, kt, vt, causal, Hq // Hkv)]
            best = min(timed, key=lambda x: x[0][0])
            peers[name], gqa[name], outs[name], peer_fns[name] = best
            gqa_ms = {mode: t[0] for t, mode, _, _ in timed}
        except Exception as e:  # noqa: BLE001
            peers[name] = None
            gqa[name] = f"refused: {e}"[:200]
        rec = base_record(args, None, shape, phase, dtype_name, "dense", tf, bw, src)
        rec.update(backend=f"torch-sdpa-{name}", device=tdev, device_name=torch.cuda.get_device_name() if kind == "cuda"
                   else "cpu", gqa=gqa[name])
        if peers[name]:
            rec["gqa_ms"] = gqa_ms
            finish(rec, *peers[name])
        else:
            rec["status"], rec["error"] = "unsupported", gqa[name]
        emit(rec)
    ok_peers = {n: t for n, t in peers.items() if t}
    primary = next((n for n in ("cudnn", "flash", "efficient", "cpu", "math") if n in ok_peers), None)

    for mode in modes:
        if args.modes and mode not in args.modes.split(","):
            continue
        rec = base_record(args, dev, shape, phase, dtype_name, mode, tf, bw, src)
        rec["peers"] = {n: (t[0] if t else None) for n, t in peers.items()}
        if primary:
            rec["peer"], rec["peer_ms"] = f"torch-sdpa-{primary}", ok_peers[primary][0]
            best = min(ok_peers, key=lambda n: ok_peers[n][0])
            rec["best_peer"], rec["best_peer_ms"] = f"torch-sdpa-{best}", ok_peers[best][0]
        try:
            extra = {}
            if mode != "dense":
                params = dev.params(MODES["anchor"], ksa.PHASE_DECODE if phase == "decode" else ksa.PHASE_PREFILL,
                                    **bounds, **args.topk)
                tens = dev.tensors(q, kx, vx, o, **kv_tensors)
                n_tiles, k_slots = dev.index_shape(params, tens)
                ishape = (B, Hkv, k_slots) if phase == "decode" else (B, Hkv, n_tiles, k_slots)
                cshape = (B, Hkv) if phase == "decode" else (B, Hkv, n_tiles)
                extra = {"indices": torch.full(ishape, -1, dtype=torch.int32, device=tdev),
                         "counts": torch.zeros(cshape, dtype=torch.int32, device=tdev)}
                if mode == "reuse":  # the anchor's own indices, identity head map
                    dev.attention(q, kx, vx, o, mode=ksa.MODE_ANCHOR, **extra, **kv_tensors, **bounds, **args.topk)
            ph = ksa.PHASE_DECODE if phase == "decode" else ksa.PHASE_PREFILL
            run = dev.prepare(q, kx, vx, o, mode=MODES[mode], phase=ph, **extra, **kv_tensors, **bounds, **args.topk)
            o.fill_(float("nan"))
            run()
            if kind == "cuda":
                torch.cuda.synchronize()
            if mode == "dense" and primary:
                ref = outs[primary].transpose(1, 2).float()
                err = ((o.float() - ref).norm() / ref.norm()).item()
                rec["rel_err"] = err if math.isfinite(err) else None
                rec["agree"] = bool(math.isfinite(err) and err <= TOL[dtype_name])
                rec["agree_with"] = f"torch-sdpa-{primary}"
            ms, mn = timer(run)
            finish(rec, ms, mn)
            if primary:
                rec["ratio"] = rec["peer_ms"] / ms
                rec["ratio_best"] = rec["best_peer_ms"] / ms
                if mode in args.interleave.split(","):
                    ksa_ms, peer_ms = timer.pair(run, peer_fns[primary])
                    rec["interleaved"] = {"ksa_ms": ksa_ms, "peer_ms": peer_ms, "ratio": peer_ms / ksa_ms}
            if mode == "dense" and not rec.get("agree", True):
                rec["status"] = "mismatch"
        except Exception as e:  # noqa: BLE001  (ksa refused or failed: keep the peer's numbers)
            rec["status"], rec["error"] = "error", str(e)[:300]
        emit(rec)
    del q, k, v, o, outs, peer_fns
    if kind == "cuda":
        torch.cuda.empty_cache()


# ------------------------------------------------------------------ grids
def gpu_cases(quick):
    if quick:
        return [((1, 2048, 2048, 32, 8, 128), "prefill", ["dense", "anchor", "reuse"]),
                ((16, 1, 8192, 32, 8, 128), "decode", ["dense", "reuse"])]
    # the targets' shapes first (P1 L16K, P2 L32K, P4/P5 B64 Lk32K), so a time budget cuts the rest
    cases = [((1, 16384, 16384, 32, 8, 128), "prefill", ["dense", "anchor", "reuse"]),
             ((1, 32768, 32768, 32, 8, 128), "prefill", ["dense", "anchor", "reuse"]),
             ((64, 1, 32768, 32, 8, 128), "decode", ["dense", "anchor", "reuse"])]
    for L in (4096, 8192):
        cases.append(((1, L, L, 32, 8, 128), "prefill", ["dense", "anchor", "reuse"]))
    for B, Lk in ((1, 8192), (16, 8192), (1, 32768), (16, 32768), (64, 8192)):
        cases.append(((B, 1, Lk, 32, 8, 128), "decode", ["dense", "anchor", "reuse"]))
    cases.append(((1, 16384, 16384, 32, 8, 64), "prefill", ["dense"]))
    cases.append(((1, 16384, 16384, 32, 8, 256), "prefill", ["dense"]))  # P1 D256
    return cases


def cpu_cases(quick):
    if quick:
        return [((1, 512, 512, 32, 8, 128), "prefill", ["dense", "reuse"]),
                ((1, 1, 4096, 32, 8, 128), "decode", ["dense", "reuse"])]
    return [((1, 4096, 4096, 32, 8, 128), "prefill", ["dense", "anchor", "reuse"]),  # P7
            ((1, 2048, 2048, 32, 8, 128), "prefill", ["dense", "anchor", "reuse"]),
            ((1, 1, 32768, 32, 8, 128), "decode", ["dense", "reuse"]),
            ((16, 1, 32768, 32, 8, 128), "decode", ["dense", "reuse"])]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="JSON lines file (default stdout)")
    ap.add_argument("--append", action="store_true")
    ap.add_argument("--device", default="", help="cuda,cpu (default: cuda if torch sees one, and cpu)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dtype", default="bf16,f16")
    ap.add_argument("--cpu-dtype", default="bf16")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--shape", action="append", default=[], help="B,Lq,Lk,Hq,Hkv,D (replaces the grid)")
    ap.add_argument("--time-budget", type=float, default=0, help="stop starting cases after S seconds")
    ap.add_argument("--math-max-len", type=int, default=4096, help="largest Lq x Lk side for the math backend")
    ap.add_argument("--cpu-threads", type=int, default=0)
    ap.add_argument("--peak-tflops", type=float, default=0)
    ap.add_argument("--bandwidth-gbs", type=float, default=0)
    ap.add_argument("--cpu-bandwidth-gbs", type=float, default=0)
    ap.add_argument("--fraction", type=float, default=0.10)
    ap.add_argument("--kv-layout", choices=("bshd", "bhsd"), default="bshd",
                    help="K/V storage: token-major [B, L, H, D] (default) or head-major [B, H, L, D]")
    ap.add_argument("--modes", default="", help="ksa modes to run, e.g. dense,reuse (default: each case's)")
    ap.add_argument("--page-size", type=int, default=0, help="give ksa K/V as a paged cache of this page size")
    ap.add_argument("--ordered-pages", action="store_true",
                    help="paged: physical pages in logical order (each sequence's K/V one contiguous run) instead of shuffled")
    ap.add_argument("--device-lengths", action="store_true",
                    help="contiguous: give ksa seq_lens_k on the device and the host bound max_seqlen_k, as paged calls do")
    ap.add_argument("--read-back-lengths", action="store_true",
                    help="paged or --device-lengths: leave out the host bound max_seqlen_k, so ksa reads seq_lens_k back every call")
    ap.add_argument("--interleave", default="", metavar="MODES",
                    help="ksa modes (e.g. dense) also timed call by call in alternation with the primary peer "
                         "(field 'interleaved')")
    ap.add_argument("--ksa-gpu-device", default="cuda:0", help="ksa device compared on the GPU (e.g. opencl:0.0)")
    ap.add_argument("--ksa-cpu-device", default="cpu", help="ksa device compared on the CPU")
    ap.add_argument("--config", default="", help="ksa configuration override for every case (ksa_set_config_override)")
    ap.add_argument("--tag", default="", help="written into each record (development calls: bench/dev_ab.py groups by it)")
    args = ap.parse_args()
    args.topk = {"fraction": args.fraction, "min_k": 128, "round_multiple": 128, "tile_size": 32, "rolling": 1}
    out = open(args.out, "a" if args.append else "w") if args.out else sys.stdout
    t_start = time.time()

    def emit(rec):
        if args.tag:
            rec["tag"] = args.tag
        out.write(json.dumps(rec) + "\n")
        out.flush()
        if rec.get("ratio"):
            il = rec.get("interleaved")
            print(f"# {rec['device']} {rec['mode']:6s} {rec['phase']:7s} {rec['dtype']:4s} B{rec['shape']['B']} "
                  f"Lq{rec['shape']['Lq']} Lk{rec['shape']['Lk']} D{rec['shape']['D']}: ksa {rec['median_ms']:.3f} ms, "
                  f"{rec['peer']} {rec['peer_ms']:.3f} ms -> {rec['ratio']:.2f}x"
                  + (f" (rel_err {rec['rel_err']:.1e})" if rec.get("rel_err") is not None else "")
                  + (f"; interleaved {il['ksa_ms']:.3f} vs {il['peer_ms']:.3f} ms -> {il['ratio']:.2f}x" if il else ""),
                  file=sys.stderr)
        elif rec.get("status") not in ("ok",):
            print(f"# {rec['backend']} {rec['mode']} {rec['phase']} {rec['shape']}: {rec.get('status')}: "
                  f"{rec.get('error', '')[:160]}", file=sys.stderr)

    # the CPU first: its cases are few and short, and P7 must not be cut by the GPU grid's time budget
    kinds = [d for d in args.device.split(",") if d] or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    ctx = ksa.Context()
    if args.config:
        ksa.set_config_override(args.config)
    print(f"# torch {torch.__version__}, cuDNN {torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}, "
          f"ksa {ksa.version()}, devices {ctx.device_names()}", file=sys.stderr)
    user = [tuple(int(x) for x in s.split(",")) for s in args.shape]
    for kind in kinds:
        try:
            dev = ctx.open(args.ksa_gpu_device if kind == "cuda" else args.ksa_cpu_device)
        except ksa.KsaError as e:
            print(f"# ksa has no {kind} device: {e}", file=sys.stderr)
            dev = None
        if kind == "cpu":
            torch.set_num_threads(args.cpu_threads or os.cpu_count())
        tf, bw, src = peaks_for(kind, args)
        timer = Timer(kind, args.repeats if kind == "cuda" else max(3, args.repeats // 3), args.warmup if kind == "cuda" else 1)
        cases = [(s, "decode" if s[1] == 1 else "prefill", ["dense", "anchor", "reuse"]) for s in user] if user else \
            (gpu_cases(args.quick) if kind == "cuda" else cpu_cases(args.quick))
        dtypes = args.dtype.split(",") if kind == "cuda" else args.cpu_dtype.split(",")
        for shape, phase, modes in cases:
            for dtype_name in dtypes:
                if args.time_budget and time.time() - t_start > args.time_budget:
                    print(f"# time budget spent; skipping {kind} {shape} {dtype_name}", file=sys.stderr)
                    continue
                if dev is None:
                    modes = []
                try:
                    compare(args, emit, timer, kind, dev, shape, phase, dtype_name, modes, tf, bw, src,
                            math_ok=max(shape[1], shape[2]) <= args.math_max_len or shape[1] == 1)
                except Exception as e:  # noqa: BLE001  (one case failing must not end the run)
                    print(f"# {kind} {shape} {phase} {dtype_name}: {type(e).__name__}: {e}", file=sys.stderr)
                    if kind == "cuda":
                        torch.cuda.empty_cache()
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
