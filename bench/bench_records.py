"""bench_records.py: reading ksa-bench / peer_torch.py JSON-lines files, shared by plot.py,
make_table.py and dev_ab.py. A line that is not a JSON object is skipped; a missing file is reported and skipped."""
import json
import os
import sys


def load(paths):
    """Every record of the given files, in order (later records of a measurement win where it matters)."""
    recs = []
    for path in paths:
        if not os.path.exists(path):
            print(f"{os.path.basename(sys.argv[0])}: {path} not found; skipped", file=sys.stderr)
            continue
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    recs.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return recs


def kv_form(rec):
    """'' for the table's K/V forms (contiguous as a uniform batch, shuffled pages); peer_torch.py's
    diagnostic forms, pages in logical order (--ordered-pages) and contiguous K/V given device lengths
    (--device-lengths), are named: "pages in order", "device lengths" """
    c = rec.get("config") or {}
    if c.get("page_size"):
        return "pages in order" if c.get("ordered_pages") else ""
    return "device lengths" if c.get("device_lengths") else ""


def cpu_isa(rec):
    """The kernel level a CPU-backend record ran at: the device's reported level (what KSA_CPU_ISA
    resolved to on that CPU), else the KSA_CPU_ISA asked for; '' for other backends."""
    if rec.get("backend") != "cpu":
        return ""
    return rec.get("isa") or (rec.get("config") or {}).get("cpu_isa_env") or ""


def device_key(rec):
    """Device name, with the kernel level for CPU records ('cpu@avx512+bf16')."""
    isa = cpu_isa(rec)
    return rec.get("device", "?") + (f"@{isa}" if isa else "")


# ------------------------------------------------------------------ counting (mirrors bench_model.c)
DEFAULT_TOPK = {"fraction": 0.10, "min_k": 128, "round_multiple": 128, "tile_size": 32, "rolling": 1}


def budget(L, topk):
    if L <= 0:
        return 0
    k = max(topk["min_k"], int(topk["fraction"] * L))
    m = max(1, topk["round_multiple"])
    k = (k + m - 1) // m * m
    return min(k, L)


def tile_count(lq, lk, t, topk):
    T = topk["tile_size"]
    start = lk - lq + t * T
    if start <= 0:
        return 0
    sel = budget(lk, topk) - T  # the tile counts toward k
    if topk["rolling"] and topk.get("top_k", 0) <= 0:
        kr = max(topk["min_k"], int(topk["fraction"] * start))
        m = max(1, topk["round_multiple"])
        sel = min(sel, (kr + m - 1) // m * m)  # the rolling budget caps the selection itself
    return min(max(sel, 0), start)


def count(shape, mode, phase, topk, es):
    B, Lq, Lk, Hq, Hkv, D = shape
    q_bytes = B * Lq * Hq * D * es
    kv_all = 2 * B * Lk * Hkv * D * es
    if phase == "decode":
        dense = Lk
        sparse = budget(Lk, topk)
        rows = sparse
        idx = sparse
    else:
        dense = Lq * Lq / 2 if Lq == Lk else Lq * (Lk - Lq) + Lq * (Lq + 1) / 2
        T = topk["tile_size"]
        sparse = rows = idx = 0
        for t in range((Lq + T - 1) // T):
            n = min(T, Lq - t * T)
            c = tile_count(Lq, Lk, t, topk)
            sparse += n * c + n * (n + 1) / 2
            rows += c + n
            idx += c
    kv_sel = min(kv_all, 2 * B * Hkv * rows * D * es)
    ib = B * Hkv * idx * 4
    if mode == "dense":
        return 4 * D * Hq * B * dense, 2 * q_bytes + kv_all
    if mode == "anchor":
        return 2 * D * Hq * B * dense + 4 * D * Hq * B * sparse, 2 * q_bytes + kv_all + ib
    return 4 * D * Hq * B * sparse, 2 * q_bytes + kv_sel + ib
