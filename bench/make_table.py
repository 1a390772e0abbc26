#!/usr/bin/env python3
"""make_table.py: the README's benchmark summary, generated from a run's JSON lines.

    make_table.py [-o bench/README-table.md] run1.jsonl [run2.jsonl ...]

Writes Markdown: the bench/PERFORMANCE.md targets P1-P9 (and the issues' extra rules: anchor decode
cost, GQA 1, the Kascade authors' reuse kernels) with the measured value and whether it is met,
then every ksa-vs-peer comparison (device, shape, ksa ms, peer ms, ratio). Later records of the
same measurement replace earlier ones, so several runs can be passed oldest first."""
import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_records import cpu_isa as isa_of  # noqa: E402
from bench_records import kv_form, load  # noqa: E402


def sh(r):
    s = r["shape"]
    if r["phase"] == "decode":
        return f"B{s['B']} Lk{s['Lk']} Hq{s['Hq']}/Hkv{s['Hkv']} D{s['D']}"
    lq = f"L{s['Lq']}" if s["Lq"] == s["Lk"] else f"Lq{s['Lq']} Lk{s['Lk']}"
    return f"B{s['B']} {lq} Hq{s['Hq']}/Hkv{s['Hkv']} D{s['D']}"


def page_size(r):
    """the page size of a paged-K/V record (peer_torch.py --page-size), 0 for contiguous K/V"""
    return (r.get("config") or {}).get("page_size") or 0


def match(r, **kw):
    kw.setdefault("page_size", 0)  # paged records answer only when asked for
    kw.setdefault("kv_form", "")  # so do peer_torch.py's diagnostic K/V forms (bench_records.kv_form)
    for k, v in kw.items():
        if k == "page_size":
            if page_size(r) != v:
                return False
            continue
        if k == "kv_form":
            if kv_form(r) != v:
                return False
            continue
        if k == "compare":  # a ksa time paired with a peer time (peer_torch.py or an imported pair)
            if bool(r.get("peer_ms")) != v:
                return False
            continue
        if k in ("B", "Lq", "Lk", "Hq", "Hkv", "D"):
            if r["shape"][k] != v:
                return False
        elif r.get(k) != v:
            return False
    return True


class Index:
    def __init__(self, recs):
        self.all = recs
        self.recs = [r for r in recs if r.get("status") == "ok"]

    def find(self, **kw):
        """The last successful record matching kw (shape keys B, Lq, Lk, Hq, Hkv, D allowed)."""
        hit = None
        for r in self.recs:
            if match(r, **kw):
                hit = r
        return hit


def fmt(x, unit="", digits=2):
    return "n/a" if x is None else f"{x:.{digits}f}{unit}"


def fmt_edge(x, goal, unit="x"):
    """fmt with a third decimal where two would print the goal itself for a value that is not the
    goal (P3 at 1.304 read "1.30x" beside "no")"""
    if x is not None and f"{x:.2f}" == f"{goal:.2f}" and x != goal:
        return fmt(x, unit, 3)
    return fmt(x, unit)


# The Kascade authors' Hopper kernels (TileLang; f16, G 4, T 32, k = 10%), timed on the lent H200
# with ksa-bench's method (the numbers quoted by issues 17 and 18): reuse prefill (ms) by rolling and
# L, reuse decode (us) by B and Lk.
KASCADE_PREFILL_MS = {0: {8192: 0.42, 16384: 1.21, 32768: 4.15}, 1: {8192: 0.33, 16384: 0.87, 32768: 2.57}}
KASCADE_DECODE_US = {(1, 8192): 7.8, (1, 32768): 11.3, (16, 8192): 36.5, (16, 32768): 78.5, (64, 8192): 116.0,
                     (64, 32768): 274.0}


def targets(ix, read_gbs=None):
    rows = []
    std = dict(Hq=32, Hkv=8, D=128)
    gpu = [r for r in ix.recs if r.get("backend") in ("cuda", "hip")]
    gpu_dev = gpu[0]["device"] if gpu else None

    def add(pid, what, value, target, met, src):
        rows.append((pid, what, value, target, "yes" if met else ("no" if met is not None else "not measured"), src))

    def peer(mode, phase, dt, **shape):
        return ix.find(compare=True, mode=mode, phase=phase, dtype=dt, peer="torch-sdpa-cudnn", device=gpu_dev,
                       **shape) if gpu_dev else None

    def own(mode, phase, dt, **shape):
        """the grid's record (tagged runs, e.g. the previous kernels' 'legacy', are not the default:
        tag=None matches only records without a tag)"""
        return ix.find(compare=False, op="attention", mode=mode, phase=phase, dtype=dt, device=gpu_dev, tag=None,
                       **shape) if gpu_dev else None

    for dt in ("f16", "bf16"):
        for D, goal in ((128, 1.0), (64, 0.8), (256, 0.8)):
            r = peer("dense", "prefill", dt, B=1, Lq=16384, Lk=16384, Hq=32, Hkv=8, D=D)
            if D != 128 and not r:
                continue
            il = r and r.get("interleaved")
            # met only when both timings of the run meet the goal (separate medians, and in alternation)
            add("P1", f"dense causal prefill L16K D{D} {dt} vs SDPA cuDNN", fmt_edge(r and r.get("ratio"), goal), f">= {goal:g}x",
                None if not r else r["ratio"] >= goal and (not il or il["ratio"] >= goal),
                r and f"{r['median_ms']:.2f} vs {r['peer_ms']:.2f} ms" +
                (f"; timed in alternation {il['ratio']:.2f}x ({il['ksa_ms']:.2f} vs {il['peer_ms']:.2f} ms)" if il else ""))
    for dt in ("f16", "bf16"):
        r = peer("reuse", "prefill", dt, B=1, Lq=32768, Lk=32768, **std)
        add("P2", f"reuse prefill L32K {dt} vs SDPA cuDNN dense", fmt(r and r.get("ratio"), "x"), ">= 4x",
            None if not r else r["ratio"] >= 4.0, r and f"{r['median_ms']:.2f} vs {r['peer_ms']:.2f} ms")
    for dt in ("bf16", "f16"):
        a, d = own("anchor", "prefill", dt, B=1, Lq=32768, Lk=32768, **std), own("dense", "prefill", dt, B=1, Lq=32768,
                                                                                  Lk=32768, **std)
        if a and d:
            v = a["median_ms"] / d["median_ms"]
            add("P3", f"anchor / own dense prefill time, L32K {dt}", fmt_edge(v, 1.3), "<= 1.3x", v <= 1.3,
                f"{a['median_ms']:.2f} vs {d['median_ms']:.2f} ms")
            break
    else:
        add("P3", "anchor / own dense prefill time, L32K", "n/a", "<= 1.3x", None, None)
    for dt in ("bf16", "f16"):
        ratios = []
        for B in (1, 16, 64):
            for Lk in (8192, 32768):
                r = peer("dense", "decode", dt, B=B, Lk=Lk, **std)
                if r:
                    ratios.append((r["ratio"], f"B{B} Lk{Lk // 1024}K", r))
        if ratios:
            worst = min(ratios, key=lambda x: x[0])
            best = max(ratios, key=lambda x: x[0])
            add("P4", f"dense decode B1/16/64 x Lk 8K/32K {dt} vs SDPA cuDNN ({len(ratios)} points)",
                f"{fmt_edge(worst[0], 1.0)} .. {best[0]:.2f}x", ">= 1.0x at every point", worst[0] >= 1.0,
                f"worst {worst[1]}: {worst[2]['median_ms']:.3f} vs {worst[2]['peer_ms']:.3f} ms"
                + (f"; KV reads {worst[2]['gbs']:.0f} vs {worst[2]['bytes'] / (worst[2]['peer_ms'] * 1e6):.0f} GB/s"
                   f" (cuDNN), read probe {read_gbs:.0f}" if read_gbs and worst[2].get("gbs") and worst[2].get("bytes")
                   else "")
                + (f"; timed in alternation: {min(x[2]['interleaved']['ratio'] for x in ratios):.2f}x .. "
                   f"{max(x[2]['interleaved']['ratio'] for x in ratios):.2f}x"
                   if all(x[2].get("interleaved") for x in ratios) else ""))
            break
    else:
        add("P4", "dense decode vs SDPA cuDNN", "n/a", ">= 1.0x", None, None)
    for dt in ("bf16", "f16"):
        got = []
        for B in (16, 64):
            u = own("reuse", "decode", dt, B=B, Lk=32768, **std)
            if u and read_gbs:
                got.append((u["gbs"] / read_gbs, B, u))
        if got:
            worst = min(got, key=lambda x: x[0])
            add("P5", f"reuse decode B16/B64 Lk32K {dt}: gathered bytes / time vs read bandwidth", fmt(100 * worst[0], "%", 0),
                ">= 70%", worst[0] >= 0.70, f"worst B{worst[1]}: {worst[2]['gbs']:.0f} GB/s of {read_gbs:.0f} (read probe)")
            break
    else:
        add("P5", "reuse decode gathered bytes / time vs read bandwidth", "n/a", ">= 70%", None, None)
    for phase, tgt, shape in (("prefill", 2.5, dict(B=1, Lq=32768, Lk=32768)), ("decode", 3.5, dict(B=64, Lk=32768))):
        r = ix.find(op="schedule", mode="kascade", phase=phase, device=gpu_dev) if gpu_dev else None
        c = r and peer("dense", phase, r["dtype"], **shape, **std)
        v = c and 32 * c["peer_ms"] / r["median_ms"]
        add("P6" + phase[0], f"32-layer Kascade {phase} vs 32 SDPA cuDNN dense layers" + (f" ({sh(r)} {r['dtype']})" if r else ""),
            fmt(v, "x"), f">= {tgt:g}x", None if not v else v >= tgt,
            r and c and f"{r['median_ms']:.1f} vs 32 x {c['peer_ms']:.2f} ms (own dense: {r['dense_ms']:.1f} ms)")
    # anchor decode cost and the GQA-1 rule of issues 17 / 18
    # at P4's six points (the issue names no shape; until 2026-12-02 the row read B64 Lk32K only)
    pts = []
    for B in (1, 16, 64):
        for Lk in (8192, 32768):
            a, d = own("anchor", "decode", "bf16", B=B, Lk=Lk, **std), own("dense", "decode", "bf16", B=B, Lk=Lk, **std)
            if a and d:
                pts.append((a["median_ms"] / d["median_ms"], f"B{B} Lk{Lk // 1024}K", a, d))
    if pts:
        worst = max(pts, key=lambda x: x[0])
        over = [p for p in pts if p[0] > 1.3]
        add("P3d", f"anchor / own dense decode time, B1/16/64 x Lk 8K/32K bf16 ({len(pts)} points)",
            f"{min(p[0] for p in pts):.2f}x .. {fmt_edge(worst[0], 1.3)}", "<= 1.3x at every point", not over,
            f"worst {worst[1]}: {worst[2]['median_ms'] * 1e3:.1f} vs {worst[3]['median_ms'] * 1e3:.1f} us"
            + (f"; over 1.3x: {', '.join(f'{p[1]} {p[0]:.2f}x' for p in over)}" if over else "")
            + "; " + ", ".join(f"{p[1]} {p[0]:.2f}x" for p in pts if p[1].startswith("B64")))
    g1 = own("dense", "prefill", "bf16", B=1, Lq=16384, Lk=16384, Hq=32, Hkv=32, D=128)
    g4 = own("dense", "prefill", "bf16", B=1, Lq=16384, Lk=16384, **std)
    if g1 and g4:
        v = g1["tflops"] / g4["tflops"]
        add("GQA1", "dense prefill L16K: GQA 1 TFLOP/s over GQA 4", fmt(100 * v, "%", 0), ">= 50%", v >= 0.5,
            f"{g1['tflops']:.0f} vs {g4['tflops']:.0f} TFLOP/s")
    # the Kascade authors' kernels (reuse only; their numbers (f16), ksa's time in this run, in f16 and
    # in bf16, which the issues hold to the same times)
    for dt in ("f16", "bf16"):
        for rolling, by_l in KASCADE_PREFILL_MS.items():
            pts = []
            for L, theirs in by_l.items():
                r = ix.find(compare=False, op="attention", mode="reuse", phase="prefill", dtype=dt, device=gpu_dev,
                            B=1, Lq=L, Lk=L, tag=f"roll{rolling}", **std) if gpu_dev else None
                if r:
                    pts.append((theirs / r["median_ms"], L, r, theirs))
            if pts:
                worst = min(pts, key=lambda x: x[0])
                add("K-pre", f"reuse prefill {dt} rolling {'on' if rolling else 'off'} L8K/16K/32K vs the Kascade kernel",
                    " / ".join(fmt_edge(p[0], 1.0) for p in sorted(pts, key=lambda x: x[1])), ">= 1.0x at every L",
                    worst[0] >= 1.0, "ksa " + " / ".join(f"{p[2]['median_ms']:.2f}" for p in sorted(pts, key=lambda x: x[1]))
                    + " ms vs " + " / ".join(f"{p[3]:.2f}" for p in sorted(pts, key=lambda x: x[1])))
    for dt in ("f16", "bf16"):
        pts = []
        for (B, Lk), theirs in KASCADE_DECODE_US.items():
            # the Kascade stage's records (tag kdec)
            r = ix.find(compare=False, op="attention", mode="reuse", phase="decode", dtype=dt, device=gpu_dev, tag="kdec",
                        B=B, Lk=Lk, **std) if gpu_dev else None
            if not r and dt == "f16":  # runs before 2026-12-03's forty-second session timed f16 there untagged
                r = own("reuse", "decode", dt, B=B, Lk=Lk, **std)
            if r:
                pts.append((theirs / (1000 * r["median_ms"]), B, Lk, r, theirs))
        if pts:
            worst = min(pts, key=lambda x: x[0])
            add("K-dec", f"reuse decode {dt} B1/16/64 x Lk8K/32K vs the Kascade kernel",
                f"{fmt_edge(worst[0], 1.0)} .. {max(p[0] for p in pts):.2f}x", ">= 1.0x at every point", worst[0] >= 1.0,
                f"worst B{worst[1]} Lk{worst[2] // 1024}K: {1000 * worst[3]['median_ms']:.1f} vs {worst[4]:.1f} us"
                # at B1 the call time can be the host's submission rate (ksa-bench's host_ms), not the device's
                + (f" (host submission {1000 * worst[3]['host_ms']:.1f} us per call)" if worst[3].get("host_ms") else ""))
    # paged K/V (pages of 64 and 16, with the host bound max_seqlen_k) against contiguous, same call
    pts = []
    for ps in (64, 16):
        for mode in ("dense", "anchor", "reuse"):
            for B in (1, 16, 64):
                pg = ix.find(compare=True, mode=mode, phase="decode", dtype="bf16", device=gpu_dev, page_size=ps, B=B,
                             Lk=32768, **std) if gpu_dev else None
                ct = peer(mode, "decode", "bf16", B=B, Lk=32768, **std)
                if pg and ct:
                    pts.append((pg["median_ms"] / ct["median_ms"], ps, mode, B, pg, ct))
    if pts:
        worst = max(pts, key=lambda x: x[0])
        wide = [p for p in pts if p[3] > 1]
        add("Paged", f"paged / contiguous decode time, bf16 Lk32K, dense/anchor/reuse B1/16/64, pages of 64 and 16 "
                     f"({len(pts)} points)",
            f"{min(p[0] for p in pts):.2f}x .. {fmt_edge(worst[0], 1.05)}", "<= 1.05x", worst[0] <= 1.05,
            f"worst {worst[2]} B{worst[3]} pages of {worst[1]}: {1000 * worst[4]['median_ms']:.1f} vs "
            f"{1000 * worst[5]['median_ms']:.1f} us"
            + (f"; B16/B64 at most {max(p[0] for p in wide):.2f}x" if wide else ""))
    p7 = [r for r in ix.recs if match(r, compare=True, backend="cpu", mode="dense", phase="prefill", dtype="bf16", B=1,
                                      Lq=4096, Lk=4096, **std)]
    r = max(p7, key=lambda x: x["ratio"]) if p7 else None
    cfg = r and (r.get("config") or {}).get("override")
    add("P7", "CPU dense bf16 prefill L4096 vs torch CPU SDPA" + (f" ({r.get('isa', '')}{', ' + cfg if cfg else ''})" if r else ""),
        fmt(r and r.get("ratio"), "x"), ">= 3.5x",
        None if not r else r["ratio"] >= 3.5 and (not r.get("interleaved") or r["interleaved"]["ratio"] >= 3.5),
        r and f"{r['median_ms']:.1f} vs {r['peer_ms']:.1f} ms" +
        (f"; timed in alternation {r['interleaved']['ratio']:.2f}x ({r['interleaved']['ksa_ms']:.1f} vs "
         f"{r['interleaved']['peer_ms']:.1f} ms)" if r.get("interleaved") else ""))
    # P7's second half: that run's rate over the AMX bf16 peak measured in the same run (ksa-cpu-bench
    # --probe): the highest of its tile-loop peak, that loop's one-thread rate times the threads (the
    # cores have a tile unit each; on a busy VM the 16-thread loop can read far below it), its tiled
    # GEMM from L2 and oneDNN's matmul where carried
    probe = next((x for x in reversed(ix.all) if x.get("op") == "amx_probe" and x.get("tile_peak_tflops")), None)
    dnnl = next((x for x in reversed(ix.all) if x.get("op") == "onednn_matmul" and x.get("tflops")), None)
    peaks = []
    if probe:
        peaks.append((probe["tile_peak_tflops"], f"tile-loop peak, {probe.get('threads')} threads"))
        if probe.get("tile_peak_one_thread_tflops") and probe.get("threads"):
            peaks.append((probe["tile_peak_one_thread_tflops"] * probe["threads"],
                          f"tile-loop peak of one thread x {probe['threads']}"))
        if probe.get("gemm_l2_tflops"):
            peaks.append((probe["gemm_l2_tflops"], "tiled GEMM from L2"))
    if dnnl:
        ver = dnnl.get("version", "")  # "oneDNN 2.6.3 (...)" from the probe; not named twice
        peaks.append((dnnl["tflops"], f"{ver if ver.startswith('oneDNN') else ('oneDNN ' + ver).strip()} matmul"))
    what7 = "CPU dense bf16 prefill L4096: share of the run's AMX bf16 GEMM probe (the highest of its rates)"
    # the tile units' state in that run: the multiply-only loop alone on each CPU (a lent VM's tile
    # units run at full rate or ~2.4x slower, set from outside it: bench/NOTES.md, fiftieth session);
    # where the probe also timed the tile-peak loop alone on each CPU, the fastest CPU's rate times the
    # threads is one more reference rate (a throttled CPU 0 makes "one thread x N" read low)
    solo = next((x for x in reversed(ix.all) if x.get("op") == "amx_probe_solo" and x.get("dp_only_tflops")), None)
    solo_note = ""
    if solo:
        rates = solo["dp_only_tflops"]
        n = (probe or {}).get("threads") or solo.get("cpus") or len(rates)
        if solo.get("tile_peak_tflops"):
            peaks.append((max(solo["tile_peak_tflops"]) * n, f"tile-loop peak of the fastest CPU alone x {n}"))
        else:  # a probe that timed only the multiply-only loop alone (the fiftieth session's full run):
            # its fastest CPU x n bounds the tile loop from above, so the share it gives is the lower one
            peaks.append((max(rates) * n, f"multiply-only loop of the fastest CPU alone x {n}"))
        solo_note = (f"; multiply-only loop alone on each of {len(rates)} CPUs: {solo['within_80pct_of_fastest']} within 80% of "
                     f"the fastest ({max(rates):.2f} TFLOP/s), slowest {min(rates):.2f}")
    if r and r.get("tflops") and peaks:
        g, gname = max(peaks)
        share = r["tflops"] / g
        # the multiply-only loop (tdpbf16ps with no operand loads) is no GEMM: shown, not the denominator
        dp = probe.get("dp_only_tflops") if probe else None
        add("P7", what7, fmt(100 * share, "%", 0), ">= 30%", share >= 0.30,
            f"{r['tflops']:.2f} of {g:.2f} TFLOP/s ({gname}); "
            + ", ".join(f"{n} {v:.2f} ({100 * r['tflops'] / v:.0f}%)" for v, n in sorted(peaks, reverse=True)[1:])
            + (f"; multiply-only loop, no loads: {dp:.2f} ({100 * r['tflops'] / dp:.0f}%)" if dp else "")
            + solo_note)
    elif r:
        add("P7", what7, "n/a", ">= 30%", None, "no ksa-cpu-bench --probe record in this run")
    best = None
    for r in ix.recs:
        if match(r, compare=False, backend="cpu", op="attention", mode="reuse", phase="decode") and r["shape"]["Hq"] == 32:
            if best is None or r["roofline_pct"] > best["roofline_pct"]:
                best = r
    add("P8", "CPU reuse decode: gathered bytes / time vs measured bandwidth" + (f" ({sh(best)}, {isa_of(best) or 'auto'})"
                                                                                  if best else ""),
        fmt(best and best["roofline_pct"], "%", 0), ">= 70%", None if not best else best["roofline_pct"] >= 70,
        best and f"{best['gbs']:.0f} GB/s of {best['bandwidth_gbs']:.0f}")
    # f16 prefill at the AMX level: the bf16-pair kernels (amx.f16x3) against the float32 ones
    # (KSA_CPU_F16=f32), the run's CPU stage records tagged f16-pairs / f16-f32
    f16 = []
    for mode in ("dense", "anchor", "reuse"):
        kw = dict(compare=False, backend="cpu", op="attention", mode=mode, phase="prefill", dtype="f16", B=1, Lq=4096,
                  Lk=4096, Hq=32, Hkv=8, D=128)
        pr, fr = ix.find(tag="f16-pairs", **kw), ix.find(tag="f16-f32", **kw)
        if pr and fr:
            f16.append((mode, fr["median_ms"] / pr["median_ms"], pr, fr))
    if f16:
        add("F16", "CPU f16 prefill L4096 (AMX): bf16-pair kernels vs float32 kernels, " + "/".join(m for m, *_ in f16),
            " / ".join(f"{x:.2f}x" for _, x, *_ in f16), "> 1x (faster)", all(x > 1.0 for _, x, *_ in f16),
            "; ".join(f"{m} {pr['median_ms']:.1f} vs {fr['median_ms']:.1f} ms" for m, _, pr, fr in f16))
    tune = [r for r in ix.all if r.get("measure") == "P9" and r.get("tuned_ms")]
    for dev in sorted({r["device"] for r in tune}):  # one row per tuned device (GPU, CPU, ...)
        mine = [r for r in tune if r["device"] == dev]
        worst = min(mine, key=lambda r: r["speedup"])
        best = max(mine, key=lambda r: r["speedup"])
        # ksa-tune's verdict: "slower" only when the whole noise band of the interleaved rounds is
        # below 1 (autotune/NOTES-autotune.md); records from before the rounds use a 3% margin
        # A class whose tuned lookup resolves to the built-in configuration itself (same_code) is
        # not a tuning decision: a gap there is the lookup's own cost or the bench's, and is listed
        # apart from the tuned configurations' verdicts.
        def is_slower(r):
            if "verdict" in r:
                return r["verdict"] == "slower"
            return r["builtin_ms"] / r["tuned_ms"] < 1 / 1.03
        tuned = [r for r in mine if not r.get("same_code")]
        same = [r for r in mine if r.get("same_code")]
        slower = sum(1 for r in tuned if is_slower(r))
        same_slower = [r for r in same if is_slower(r)]
        band = (f"; worst band {worst['ratio_low']:.3f}-{worst['ratio_high']:.3f}"
                if "ratio_low" in worst and "ratio_high" in worst else "")
        same_note = ""
        if same_slower:
            lo = min(r.get("ratio", r["speedup"]) for r in same_slower)
            hi = max(r.get("ratio", r["speedup"]) for r in same_slower)
            same_note = (f"; {len(same_slower)} of {len(same)} built-in-marker classes (same code) "
                         f"below their band at {lo:.3f}-{hi:.3f}x")
        add("P9", f"tuned vs built-in configuration, {len(mine)} shapes on {dev} ({len(tuned)} tuned)",
            f"{worst['speedup']:.2f}x .. {best['speedup']:.2f}x", "never slower (beyond the noise band)", slower == 0,
            f"worst {worst['op']} B{worst['B']} Lk{worst['Lk']}{band}; {slower} tuned slower{same_note}")
    if not tune:
        add("P9", "tuned vs built-in configuration (ksa-tune --compare)", "n/a", "never slower", None, None)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default=None, help="Markdown file (default stdout)")
    ap.add_argument("--title", default="", help="a line naming the run (date, machine, what was run)")
    ap.add_argument("--read-gbs", type=float, default=None,
                    help="the run's read-only bandwidth probe (GB/s), the denominator of P5")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    recs = load(args.files)
    ix = Index(recs)
    devs = sorted({f"{r['device']} ({r.get('device_name', '')})" for r in ix.recs
                   if r.get("backend") and not r["backend"].startswith("torch") and r.get("device_name")})
    lines = []
    lines.append("<!-- generated by bench/make_table.py from " + ", ".join(os.path.basename(f) for f in args.files)
                 + f" on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; do not edit by hand -->")
    lines.append("")
    if args.title:
        lines.append(f"Run: {args.title}")
        lines.append("")
    lines.append("Devices: " + ("; ".join(devs) if devs else "none measured"))
    tv = next((r.get("torch_version") for r in recs if r.get("torch_version")), None)
    if tv:
        cv = next((r.get("cudnn_version") for r in recs if r.get("cudnn_version")), None)
        lines.append(f"Peer: PyTorch {tv} scaled_dot_product_attention" + (f" (cuDNN {cv})" if cv else "")
                     + ". Ratio = peer time / ksa time (above 1: ksa faster). 'measured by': peer_torch = same"
                     " tensors, same process; a backend owner's bench + peer = the same device call.")
    lines.append("")
    lines.append("| target | measure | measured | goal | met | detail |")
    lines.append("|---|---|---|---|---|---|")
    for pid, what, val, tgt, met, src in targets(ix, args.read_gbs):
        lines.append(f"| {pid} | {what} | {val} | {tgt} | {met} | {src or ''} |")
    lines.append("")
    lines.append("| device | op | shape | dtype | ksa ms | peer | peer ms | ratio | agrees | measured by |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    seen = {}
    for r in recs:
        if r.get("peer_ms") and "shape" in r and not r.get("backend", "").startswith("torch"):
            cfg = (r.get("config") or {}).get("override") or ""
            if page_size(r):
                cfg = (cfg + " " if cfg else "") + f"pages of {page_size(r)}"
            if kv_form(r):
                cfg = (cfg + " " if cfg else "") + kv_form(r)
            seen[(r["device"], r["mode"], r["phase"], r["dtype"], sh(r), cfg)] = r
    for key in sorted(seen, key=lambda k: (k[0], k[2], k[1], k[3], k[4])):
        r = seen[key]
        ok = r.get("status") in ("ok", "mismatch")
        agree = "" if "agree" not in r else ("yes" if r["agree"] else f"NO ({r.get('rel_err')})")
        cfg = key[5]
        lines.append(f"| {r['device']} {isa_of(r)}{' ' + cfg if cfg else ''} | {r['mode']} {r['phase']} | {sh(r)} | {r['dtype']} | "
                     f"{fmt(r.get('median_ms') if ok else None, '', 3)} | {r['peer'].replace('torch-sdpa-', 'SDPA ')} | "
                     f"{fmt(r.get('peer_ms'), '', 3)} | {fmt(r.get('ratio') if ok else None, 'x')} | {agree} | {r.get('tool', '')} |")
    if not seen:
        lines.append("| (no peer comparisons in these files) | | | | | | | | | |")
    # (ksa-tune's P9 lines use "source" for where the configuration came from, not for a file)
    sources = sorted({r["source"] for r in recs if r.get("source") and r.get("measure") != "P9"})
    if sources:
        lines.append("")
        lines.append("Sources (device calls' outputs; see bench/NOTES.md for each run's method):")
        for src in sources:
            lines.append(f"- {src}")
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
