#!/usr/bin/env python3
"""test_make_table.py: checks bench/make_table.py (ctest bench_make_table): the third decimal at a
goal's edge, on values with known answers, and the target rows' verdicts on three recorded device runs
(bench/results/2026-12-02-s32, -s33 and -s34): P1 met only when the separate and the alternating reading
both meet the goal, P3 at 1.304 printed so and missed, P4's worst point, P7 below its goal, P3d
over its six decode points (s32, s34); and that peer_torch.py's diagnostic K/V forms (pages in
order, contiguous K/V given device lengths) stay out of the standard rows."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_table  # noqa: E402


def table(run, read_gbs):
    d = os.path.join(HERE, "results", run)
    files = [os.path.join(d, f) for f in ("bench.jsonl", "peer.jsonl", "tune-compare.jsonl", "cpu-probe.jsonl")
             if os.path.exists(os.path.join(d, f))]
    with tempfile.TemporaryDirectory() as t:
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
