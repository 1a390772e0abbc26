#!/usr/bin/env python3
"""plot.py: turn a run's JSON lines (ksa-bench and peer_torch.py records) into PNG charts.

    plot.py OUTDIR run1.jsonl [run2.jsonl ...]

Writes, per device (a CPU run under KSA_CPU_ISA counts as its own device, e.g. "cpu@avx512"):
  speedup_<device>.png   speedup vs sequence length: ANCHOR and REUSE over ksa's own DENSE, and ksa
                         over the PyTorch SDPA peer where peer records exist (prefill and decode)
  roofline_<device>.png  share of the roofline floor reached by every successful measurement
and, when more than one device measured the same shapes:
  backends.png           backend vs backend: time of each device relative to the first device
Needs matplotlib (Agg backend; no display)."""
import collections
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_records import device_key, load  # noqa: E402


def shape_key(r, drop=()):
    s = r["shape"]
    return tuple(s[k] for k in ("B", "Lq", "Lk", "Hq", "Hkv", "D") if k not in drop)


def safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def heads_of(r):
    s = r["shape"]
    return (s["Hq"], s["Hkv"], s["D"])


def main_heads(recs):
    """The standard (Hq 32, Hkv 8, D 128) when measured, else the most common head configuration."""
    counts = collections.Counter(heads_of(r) for r in recs if r.get("status") == "ok")
    if (32, 8, 128) in counts or not counts:
        return (32, 8, 128)
    return counts.most_common(1)[0][0]


def plot_speedup(recs, dev, outdir):
    mine = [r for r in recs if device_key(r) == dev]
    heads = main_heads(mine)
    ok = [r for r in mine if r.get("status") == "ok" and r.get("op") == "attention" and heads_of(r) == heads]
    ksa = [r for r in ok if not r.get("peer_ms")]  # ksa-bench or an imported owner's bench
    peer = [r for r in ok if r.get("peer_ms") and r.get("ratio")]  # ksa paired with a peer
    if not ksa and not peer:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, phase in zip(axes, ("prefill", "decode")):
        series = collections.defaultdict(list)
        dense = {(r["dtype"], shape_key(r)): r["median_ms"] for r in ksa if r["mode"] == "dense" and r["phase"] == phase}
        for r in ksa:
            if r["phase"] != phase or r["mode"] == "dense":
                continue
            if phase == "prefill" and r["shape"]["Lq"] != r["shape"]["Lk"]:
                continue
            d = dense.get((r["dtype"], shape_key(r)))
            if d:
                lab = f"{r['mode']} / own dense ({r['dtype']}" + (f", B{r['shape']['B']})" if phase == "decode" else ")")
                series[lab].append((r["shape"]["Lk"], d / r["median_ms"]))
        for r in peer:  # ksa DENSE and REUSE over the peer; decode in bf16 only (fewer lines)
            if r["phase"] != phase or r["mode"] == "anchor" or (phase == "decode" and r["dtype"] == "f16"):
                continue
            lab = f"ksa {r['mode']} / {r['peer'].replace('torch-sdpa-', 'SDPA ')} ({r['dtype']}" + \
                (f", B{r['shape']['B']})" if phase == "decode" else ")")
            series[lab].append((r["shape"]["Lk"], r["ratio"]))
        for lab, pts in sorted(series.items()):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=lab,
                    linestyle="--" if "SDPA" in lab else "-")
        ax.axhline(1.0, color="gray", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("keys per sequence (Lk)")
        ax.set_ylabel("speedup (x)")
        ax.set_title(f"{dev}: {phase}")
        ax.grid(True, alpha=0.3)
        if series:
            ax.legend(fontsize=7)
    fig.suptitle(f"ksa speedup vs sequence length (Hq {heads[0]}, Hkv {heads[1]}, D {heads[2]}; Top-k 10%)")
    fig.tight_layout()
    path = os.path.join(outdir, f"speedup_{safe(dev)}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_roofline(recs, dev, outdir):
    ok = [r for r in recs if r.get("status") == "ok" and device_key(r) == dev and not r.get("peer_ms")
          and r.get("roofline_pct") is not None]
    if not ok:
        return None
    ok.sort(key=lambda r: (r["op"], r["phase"], r["mode"], r["dtype"], shape_key(r)))
    labels = [f"{r['op'][:5]} {r['mode']} {r['phase'][:3]} {r['dtype']} B{r['shape']['B']} Lq{r['shape']['Lq']} "
              f"Lk{r['shape']['Lk']} H{r['shape']['Hq']}/{r['shape']['Hkv']} D{r['shape']['D']}" for r in ok]
    vals = [r["roofline_pct"] for r in ok]
    colors = ["tab:orange" if r.get("bound") == "memory" else "tab:blue" for r in ok]
    fig, ax = plt.subplots(figsize=(11, max(3, 0.22 * len(ok) + 1)))
    ax.barh(range(len(ok)), vals, color=colors)
    ax.set_yticks(range(len(ok)))
    ax.set_yticklabels(labels, fontsize=6)
    ax.invert_yaxis()
    ax.axvline(100, color="gray", linewidth=0.8)
    ax.set_xlabel("% of roofline floor (blue: compute-bound, orange: memory-bound)")
    src = ok[0].get("peak_source", "")
    ax.set_title(f"{dev}: share of the floor max(FLOPs/peak, bytes/bandwidth)\n{src}", fontsize=9)
    fig.tight_layout()
    path = os.path.join(outdir, f"roofline_{safe(dev)}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_backends(recs, outdir):
    ok = [r for r in recs if r.get("status") == "ok" and not r.get("peer_ms") and r.get("op") == "attention"
          and not r.get("backend", "").startswith("torch")]
    by = collections.defaultdict(dict)
    for r in ok:
        by[(r["mode"], r["phase"], r["dtype"], shape_key(r))][device_key(r)] = r["median_ms"]
    devs = []
    for r in ok:
        if device_key(r) not in devs:
            devs.append(device_key(r))
    shared = {k: v for k, v in by.items() if len(v) > 1}
    if len(devs) < 2 or not shared:
        return None
    base = devs[0]
    keys = sorted(shared)
    fig, ax = plt.subplots(figsize=(max(8, 0.5 * len(keys) + 3), 5))
    width = 0.8 / len(devs)
    for i, d in enumerate(devs):
        ys = [shared[k].get(d, float("nan")) / shared[k].get(base, float("nan")) if base in shared[k] else float("nan")
              for k in keys]
        ax.bar([x + i * width for x in range(len(keys))], ys, width=width, label=d)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(keys))])
    ax.set_xticklabels([f"{k[0]} {k[1][:3]} {k[2]}\nB{k[3][0]} L{k[3][2]} D{k[3][5]}" for k in keys], fontsize=6,
                       rotation=60, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel(f"time relative to {base} (lower is faster)")
    ax.set_title("backend vs backend, same shapes")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    path = os.path.join(outdir, "backends.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    recs = load(argv[2:])
    devs = []
    for r in recs:
        if r.get("backend", "").startswith("torch"):
            continue
        if device_key(r) not in devs and r.get("backend") != "dry-run":
            devs.append(device_key(r))
    made = []
    for d in devs:
        made += [plot_speedup(recs, d, outdir), plot_roofline(recs, d, outdir)]
    made.append(plot_backends(recs, outdir))
    made = [m for m in made if m]
    for m in made:
        print(m)
    return 0 if made else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
