#!/usr/bin/env python3
"""import_runs.py: bring the backend owners' device-script results into ksa-bench's JSON format.

    import_runs.py -o imported.jsonl DIR [DIR ...]

Each DIR is one device call's $OUT as the device tool returned it. Recognised contents:
  - ksa-bench lines (scripts/device/device-opencl.sh, bench/device-run.sh): passed through;
  - scripts/device/device-dev.sh: bench.jsonl of ksa-cuda-bench and peer.jsonl of peer_sdpa.py
    (PyTorch SDPA cuDNN/flash, device copy bandwidth);
  - scripts/device/device-amx.sh: bench_<isa>.json and bench_configs.json of ksa-cpu-bench (with the
    memcpy bandwidth of the same run) and peer_torch.json (torch CPU SDPA).
Every output record carries "source" (the directory and file) and the work counts and floor of
bench_model.c (via bench_records.count); pairs of a ksa time and a peer time on the same shape in
the same call become comparison records (peer, peer_ms, ratio) as peer_torch.py writes them.
Timing method of each source: the owner's script (CUDA events / wall clock, medians); see
bench/NOTES.md section 5."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_records import DEFAULT_TOPK, count  # noqa: E402

DT = {"f16": "f16", "float16": "f16", "bf16": "bf16", "bfloat16": "bf16", "f32": "f32", "float32": "f32"}


def lines(path):
    out = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    return out


def record(source, tool, backend, device, device_name, isa, mode, phase, shape, dtype, ms, tf, bw, peak_src, op="attention",
           config=""):
    flops, nbytes = count(shape, mode if op == "attention" else "dense", phase, DEFAULT_TOPK, 4 if dtype == "f32" else 2)
    floor_ms = 1e3 * max(flops / (tf * 1e12), nbytes / (bw * 1e9))
    mem = nbytes / (bw * 1e9) > flops / (tf * 1e12)
    B, Lq, Lk, Hq, Hkv, D = shape
    r = {"tool": tool, "source": source, "op": op, "mode": mode, "phase": phase, "backend": backend, "device": device,
         "device_name": device_name, "isa": isa, "shape": {"B": B, "Lq": Lq, "Lk": Lk, "Hq": Hq, "Hkv": Hkv, "D": D},
         "dtype": dtype, "config": dict(DEFAULT_TOPK, override=config, cpu_isa_env=""), "status": "ok",
         "flops": flops, "bytes": nbytes, "floor_ms": floor_ms, "bound": "memory" if mem else "compute",
         "peak_tflops": tf, "bandwidth_gbs": bw, "peak_source": peak_src, "median_ms": ms,
         "tflops": flops / (ms * 1e-3) / 1e12, "gbs": nbytes / (ms * 1e-3) / 1e9}
    r["rate"], r["rate_unit"] = (r["gbs"], "GB/s") if mem else (r["tflops"], "TFLOP/s")
    r["roofline_pct"] = 100.0 * floor_ms / ms
    return r


def with_peer(rec, peers, primary):
    """Add peer fields (peers: name -> ms) the way peer_torch.py writes them."""
    ok = {n: t for n, t in peers.items() if t}
    if primary not in ok:
        return None
    r = dict(rec)
    r["peers"] = peers
    r["peer"], r["peer_ms"] = f"torch-sdpa-{primary}", ok[primary]
    best = min(ok, key=ok.get)
    r["best_peer"], r["best_peer_ms"] = f"torch-sdpa-{best}", ok[best]
    r["ratio"] = r["peer_ms"] / r["median_ms"]
    r["ratio_best"] = r["best_peer_ms"] / r["median_ms"]
    return r


def import_cuda(d, out):
    """scripts/device/device-dev.sh: ksa-cuda-bench (bench.jsonl) + peer_sdpa.py (peer.jsonl)."""
    peer = lines(os.path.join(d, "peer.jsonl"))
    bench = lines(os.path.join(d, "bench.jsonl"))
    if not peer or not bench or "tool" in bench[0]:
        return 0
    name = next((p["device"] for p in peer if "device" in p and "peer" not in p), "NVIDIA GPU")
    bw = next((p["GBps_read_plus_write"] for p in peer if p.get("peer") == "device_copy"), 3000.0)
    tf = 800.0
    src_peak = f"H100 bf16 GEMM 800 TFLOP/s (PERFORMANCE.md); copy {bw:.0f} GB/s measured in the same call"
    peer_ms = {}
    for p in peer:
        if p.get("op") == "prefill" and "ms" in p:
            key = (DT[p["dtype"]], p["L"], p["Hkv"], p["D"])
            peer_ms.setdefault(key, {})[p["peer"].replace("torch_sdpa_", "")] = p["ms"]
    n = 0
    src = os.path.join(d, "bench.jsonl") + " (ksa-cuda-bench, scripts/device/device-dev.sh)"
    for b in bench:
        dt = DT.get(b.get("dtype"), "f16")
        if b.get("op") in ("prefill", "decode"):
            if b["op"] == "prefill":
                shape = (b["B"], b["L"], b["L"], b["Hq"], b["Hkv"], b["D"])
            else:
                shape = (b["B"], 1, b["Lk"], b["Hq"], b["Hkv"], b["D"])
            r = record(src, "ksa-cuda-bench", "cuda", "cuda:0", name, "sm_90", b["mode"], b["op"], shape, dt, b["ms"], tf, bw,
                       src_peak)
            out.append(r)
            n += 1
            if b["op"] == "prefill":
                peers = peer_ms.get((dt, b["L"], b["Hkv"], b["D"]))
                if peers:
                    c = with_peer(r, peers, "cudnn")
                    if c:
                        c["tool"] = "ksa-cuda-bench+peer_sdpa"
                        c["source"] = src + " + peer.jsonl (peer_sdpa.py, same call)"
                        out.append(c)
                        n += 1
        elif b.get("op") == "schedule32":
            ph = b["phase"]
            shape = (b["B"], b["L"] if ph == "prefill" else 1, b["L"], b["Hq"], b["Hkv"], b["D"])
            r = record(src, "ksa-cuda-bench", "cuda", "cuda:0", name, "sm_90", "kascade", ph, shape, dt, b["kascade_ms"], tf, bw,
                       src_peak, op="schedule")
            r["dense_ms"], r["speedup"] = b["dense_ms"], b["dense_ms"] / b["kascade_ms"]
            r["note"] = "32 layers, anchors 0,2,8,13,14 (layer 0 dense output), 27 reuse; counts of one dense layer"
            out.append(r)
            n += 1
    return n


def import_cpu(d, out):
    """scripts/device/device-amx.sh: ksa-cpu-bench JSON per level + torch CPU SDPA."""
    files = [f for f in sorted(os.listdir(d)) if f.startswith("bench_") and f.endswith(".json")]
    if not files:
        return 0
    torch_ms = {p["L"]: p["ms"] for p in lines(os.path.join(d, "peer_torch.json")) if p.get("peer") == "torch_cpu_sdpa"}
    n = 0
    for f in files:
        rows = lines(os.path.join(d, f))
        mem = next((r for r in rows if r.get("op") == "memcpy"), None)
        if mem is None:  # bench_configs.json: the memcpy of the amx run
            mem = next((r for r in lines(os.path.join(d, "bench_amx.json")) if r.get("op") == "memcpy"), None)
        bw = mem["GBps_read_plus_write"] if mem else 75.0
        base = {"B": 1, "Hq": 32, "Hkv": 8, "D": 128}
        for r in rows:
            if r.get("op") not in ("prefill", "decode"):
                continue
            isa = r.get("isa", "")
            per = 2048 if "amx" in isa else 128
            tf = 16 * 2.0e9 * per / 1e12
            src_peak = f"nominal CPU, 16 cores x 2.0 GHz x {per} FLOP/cycle; memcpy {bw:.1f} GB/s (r+w) measured in the same call"
            if r["op"] == "prefill":
                shape = (r.get("B", 1), r["L"], r["L"], r.get("Hq", 32), r.get("Hkv", 8), r.get("D", 128))
            else:
                shape = (r.get("B", 16), 1, r["Lk"], base["Hq"], base["Hkv"], base["D"])
            src = os.path.join(d, f) + " (ksa-cpu-bench, scripts/device/device-amx.sh)"
            rec = record(src, "ksa-cpu-bench", "cpu", "cpu", "Intel(R) Xeon(R) Processor", isa, r["mode"], r["op"],
                         shape, DT.get(r.get("dtype"), "bf16"), r["ms"], tf, bw, src_peak, config=r.get("config", ""))
            out.append(rec)
            n += 1
            if r["op"] == "prefill" and r["mode"] == "dense" and r["L"] in torch_ms:
                c = with_peer(rec, {"cpu": torch_ms[r["L"]]}, "cpu")
                c["tool"] = "ksa-cpu-bench+torch"
                c["source"] = src + " + peer_torch.json (torch CPU SDPA, same call)"
                out.append(c)
                n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    out = []
    for d in args.dirs:
        n = 0
        for f in sorted(os.listdir(d)):
            if f.endswith(".jsonl"):
                for r in lines(os.path.join(d, f)):
                    if r.get("tool") in ("ksa-bench", "peer_torch"):
                        r.setdefault("source", os.path.join(d, f))
                        out.append(r)
                        n += 1
        n += import_cuda(d, out)
        n += import_cpu(d, out)
        print(f"import_runs: {d}: {n} records", file=sys.stderr)
    with open(args.out, "w", encoding="utf-8") as f:
        for r in out:
            f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
