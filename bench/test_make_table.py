#!/usr/bin/env python3
"""test_make_table.py: checks bench/make_table.py (ctest bench_make_table): the third decimal at a
goal's edge, on values with known answers, and the target rows' verdicts on three recorded device runs
(bench/results/2026-12-02-s32, -s33 and -s34): P1 met only when the separate and the alternating reading
both meet the goal, P3 at 1.304 printed so and missed, P4's worst point, P7 below its goal, P3d
over its six decode points (s32, s34); the K-pre / K-dec rows in f16 and in bf16 (s41, and s41 with
records of the Kascade stage added); the F16 row (CPU f16 prefill, bf16 pairs against float32); the P7 share row's note on the
tile units' state (the probe's solo rates per CPU); and
that peer_torch.py's diagnostic K/V forms (pages in order,
contiguous K/V given device lengths) stay out of the standard rows."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_table  # noqa: E402


def table(run, read_gbs, extra=()):
    """the table of a recorded run, with the records `extra` appended to its bench.jsonl"""
    d = os.path.join(HERE, "results", run)
    files = [os.path.join(d, f) for f in ("bench.jsonl", "peer.jsonl", "tune-compare.jsonl", "cpu-probe.jsonl")
             if os.path.exists(os.path.join(d, f))]
    with tempfile.TemporaryDirectory() as t:
        if extra:
            more = os.path.join(t, "extra.jsonl")
            with open(more, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in extra)
            files.insert(1, more)
        out = os.path.join(t, "table.md")
        p = subprocess.run([sys.executable, os.path.join(HERE, "make_table.py"), "--read-gbs", str(read_gbs), "-o", out]
                           + files, capture_output=True, text=True)
        if p.returncode != 0:
            return None, p.stderr
        return open(out).read(), ""


def row(text, start):
    """the cells of the first target row whose 'target | measure' begins with start"""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and " | ".join(cells[:2]).startswith(start):
            return cells
    return None


def main():
    fails = []

    def check(what, got, want):
        if got != want:
            fails.append(f"{what}: got {got!r}, want {want!r}")

    check("edge above", make_table.fmt_edge(18.56 / 14.24, 1.3), "1.303x")
    check("edge below", make_table.fmt_edge(0.998, 1.0), "0.998x")
    check("at the goal", make_table.fmt_edge(1.3, 1.3), "1.30x")
    check("away from the goal", make_table.fmt_edge(1.32, 1.3), "1.32x")
    check("missing", make_table.fmt_edge(None, 1.0), "n/a")

    t, err = table("2026-12-02-s32", 4046)
    if t is None:
        fails.append("s32 table: " + err[-300:])
    else:
        r = row(t, "P1 | dense causal prefill L16K D128 f16")
        check("s32 P1 D128 f16", r and [r[2], r[4]], ["0.98x", "no"])  # 0.98x separately, 1.11x in alternation
        r = row(t, "P1 | dense causal prefill L16K D128 bf16")
        check("s32 P1 D128 bf16", r and [r[2], r[4]], ["1.01x", "yes"])
        r = row(t, "P3 | anchor")
        check("s32 P3", r and [r[2], r[4]], ["1.32x", "no"])
        r = row(t, "P7 | CPU dense bf16 prefill L4096 vs torch")
        check("s32 P7 (3.71x separately, 2.13x in alternation)", r and [r[2], r[4]], ["3.71x", "no"])
        r = row(t, "P3d | anchor / own dense decode")  # six points; B1 Lk8K 34.2 vs 18.1 us, B64 Lk32K 0.77x
        check("s32 P3d", r and [r[2], r[4]], ["0.77x .. 1.90x", "no"])
        check("s32 P3d worst point", r and r[5].startswith("worst B1 Lk8K: 34.2 vs 18.1 us"), True)
    t, err = table("2026-12-02-s33", 4055)
    if t is None:
        fails.append("s33 table: " + err[-300:])
    else:
        r = row(t, "P3 | anchor")
        check("s33 P3", r and [r[2], r[4]], ["1.304x", "no"])
        r = row(t, "P1 | dense causal prefill L16K D128 bf16")
        check("s33 P1 D128 bf16", r and [r[2], r[4]], ["1.002x", "yes"])
        r = row(t, "P4 | dense decode")
        check("s33 P4", r and (r[2].split(" ")[0], r[4]), ("0.98x", "no"))
    t, err = table("2026-12-02-s34", 4118)
    if t is None:
        fails.append("s34 table: " + err[-300:])
    else:
        r = row(t, "P3d | anchor / own dense decode")  # B1 Lk8K 33.8 vs 18.1 us
        check("s34 P3d", r and [r[2], r[4]], ["0.80x .. 1.86x", "no"])
        r = row(t, "P4 | dense decode")  # B64 Lk32K passed (1.012x); B64 Lk8K 0.985x
        check("s34 P4", r and (r[2].split(" ")[0], r[4], r[5].split(":")[0]), ("0.98x", "no", "worst B64 Lk8K"))
    # the Kascade authors' kernels: s41 measured f16 only (decode untagged), so no bf16 rows
    t, err = table("2026-12-03-s41", 3982)
    if t is None:
        fails.append("s41 table: " + err[-300:])
    else:
        r = row(t, "K-dec | reuse decode f16")  # B1 Lk32K 11.43 against 11.3 us
        check("s41 K-dec f16", r and [r[2], r[4]], ["0.99x .. 1.72x", "no"])
        check("s41 no K-dec bf16", row(t, "K-dec | reuse decode bf16"), None)
        r = row(t, "K-pre | reuse prefill f16 rolling off")
        check("s41 K-pre f16 off", r and [r[2], r[4]], ["1.33x / 1.32x / 1.22x", "yes"])
        check("s41 no K-pre bf16", row(t, "K-pre | reuse prefill bf16"), None)

    def kascade(dt, phase, L, ms, tag, B=1):
        return {"tool": "ksa-bench", "op": "attention", "status": "ok", "mode": "reuse", "phase": phase, "dtype": dt,
                "device": "cuda:0", "tag": tag, "median_ms": ms, "config": {"rolling": 1 if tag == "roll1" else 0},
                "shape": {"B": B, "Lq": 1 if phase == "decode" else L, "Lk": L, "Hq": 32, "Hkv": 8, "D": 128}}
    dec_us = {(1, 8192): 7.5, (1, 32768): 11.6, (16, 8192): 21.0, (16, 32768): 60.0, (64, 8192): 68.0, (64, 32768): 216.0}
    extra = [kascade("bf16", "decode", Lk, us / 1000, "kdec", B) for (B, Lk), us in dec_us.items()]
    extra.append(kascade("f16", "decode", 32768, 0.0110, "kdec"))  # the stage's record wins over the grid's
    extra += [kascade("bf16", "prefill", L, ms, "roll0") for L, ms in ((8192, 0.30), (16384, 0.95), (32768, 4.20))]
    t, err = table("2026-12-03-s41", 3982, extra)
    if t is None:
        fails.append("s41 + Kascade stage table: " + err[-300:])
    else:
        r = row(t, "K-dec | reuse decode bf16")  # B1 Lk32K 11.6 against 11.3 us
        check("K-dec bf16", r and [r[2], r[4]], ["0.97x .. 1.74x", "no"])
        check("K-dec bf16 worst", r and r[5].startswith("worst B1 Lk32K: 11.6 vs 11.3 us"), True)
        r = row(t, "K-dec | reuse decode f16")  # B1 Lk32K now 11.0 us (kdec): 1.03x, the worst
        check("K-dec f16 from the stage", r and [r[2], r[4]], ["1.03x .. 1.72x", "yes"])
        r = row(t, "K-pre | reuse prefill bf16 rolling off")  # 4.20 against 4.15 ms at L32K
        check("K-pre bf16 off", r and [r[2], r[4]], ["1.40x / 1.27x / 0.99x", "no"])
        check("no K-pre bf16 on", row(t, "K-pre | reuse prefill bf16 rolling on"), None)
    # the F16 row: the later record of each form counts; a pair of forms missing a mode leaves it out
    def f16(mode, tag, ms):
        return {"status": "ok", "op": "attention", "backend": "cpu", "device": "cpu", "mode": mode, "phase": "prefill",
                "dtype": "f16", "tag": tag, "median_ms": ms, "shape": {"B": 1, "Lq": 4096, "Lk": 4096, "Hq": 32, "Hkv": 8, "D": 128}}
    extra = [f16("dense", "f16-pairs", 80.0), f16("dense", "f16-f32", 100.0), f16("dense", "f16-pairs", 72.0),
             f16("anchor", "f16-pairs", 95.0), f16("anchor", "f16-f32", 90.0), f16("reuse", "f16-f32", 18.0)]
    t, err = table("2026-12-03-s41", 3982, extra)
    if t is None:
        fails.append("s41 + f16 records: " + err[-300:])
    else:
        r = row(t, "F16 | CPU f16 prefill")
        check("F16 row", r and [r[1].split(", ")[-1], r[2], r[4]], ["dense/anchor", "1.39x / 0.95x", "no"])
    t, err = table("2026-12-03-s41", 3982)
    check("no F16 row without its records", t and row(t, "F16 |"), None)
    check("no tile-unit note without its record", t and "alone on each" in (row(t, "P7 | CPU dense bf16 prefill L4096: share") or [""] * 6)[5], False)
    # the P7 share row names the tile units' state when the run's probe measured each CPU alone
    solo = {"op": "amx_probe_solo", "cpus": 4, "fastest_tflops": 2.7, "within_80pct_of_fastest": 2,
            "dp_only_tflops": [2.70, 1.12, 2.65, 1.31]}
    t, err = table("2026-12-03-s41", 3982, [solo])
    if t is None:
        fails.append("s41 + solo probe: " + err[-300:])
    else:
        r = row(t, "P7 | CPU dense bf16 prefill L4096: share")
        # without the tile-loop rates, the fastest CPU's multiply-only rate x 16 (43.2) is the reference
        check("P7 share against the fastest CPU's multiply-only loop", r and r[5].split("; ")[0].endswith(
            "of 43.20 TFLOP/s (multiply-only loop of the fastest CPU alone x 16)"), True)
        check("P7 share row, tile units' state", r and r[5].endswith(
            "; multiply-only loop alone on each of 4 CPUs: 2 within 80% of the fastest (2.70 TFLOP/s), slowest 1.12"), True)
    # with the tile-peak loop timed alone on each CPU, the fastest CPU's rate x the threads is a
    # reference rate too: here 2.5 x 16 = 40 TFLOP/s, above every other rate of that run's probe
    solo["tile_peak_tflops"] = [2.5, 1.0, 2.4, 1.1]
    t, err = table("2026-12-03-s41", 3982, [solo])
    if t is None:
        fails.append("s41 + solo tile probe: " + err[-300:])
    else:
        r = row(t, "P7 | CPU dense bf16 prefill L4096: share")
        check("P7 share against the fastest CPU alone", r and r[5].split("; ")[0].endswith(
            "of 40.00 TFLOP/s (tile-loop peak of the fastest CPU alone x 16)"), True)
    # peer_torch.py's diagnostic K/V forms answer only when asked for: a later record of pages in order
    # or of contiguous K/V given device lengths does not replace the table's shuffled-pages or
    # uniform-batch record of the same shape
    def rec(ms, **cfg):
        return {"status": "ok", "mode": "reuse", "phase": "decode", "dtype": "bf16", "median_ms": ms,
                "shape": {"B": 1, "Lq": 1, "Lk": 32768, "Hq": 32, "Hkv": 8, "D": 128}, "config": cfg}
    ix = make_table.Index([rec(1.0, page_size=16), rec(2.0, page_size=16, ordered_pages=True),
                           rec(3.0, page_size=0), rec(4.0, page_size=0, device_lengths=True)])
    kw = dict(mode="reuse", phase="decode", B=1, Lk=32768)
    check("shuffled pages", (ix.find(page_size=16, **kw) or {}).get("median_ms"), 1.0)
    check("pages in order", (ix.find(page_size=16, kv_form="pages in order", **kw) or {}).get("median_ms"), 2.0)
    check("uniform batch", (ix.find(**kw) or {}).get("median_ms"), 3.0)
    check("device lengths", (ix.find(kv_form="device lengths", **kw) or {}).get("median_ms"), 4.0)
    for f in fails:
        print("FAIL", f)
    print(f"test_make_table: {len(fails)} failure(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
