"""bench_records.py: reading ksa-bench / peer_torch.py JSON-lines files, shared by plot.py and
make_table.py. A line that is not a JSON object is skipped; a missing file is reported and skipped."""
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
