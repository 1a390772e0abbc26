#!/usr/bin/env python3
"""check_json.py: validate a ksa-bench JSON-lines file with Python's own parser (CI smoke test).

Every line must be one JSON object with the fields every record carries; at least one record must
be a successful measurement with a positive median time. Exit status 0 when all holds."""
import json
import sys

REQUIRED = ("tool", "op", "mode", "phase", "backend", "device", "shape", "dtype", "config", "status",
            "flops", "bytes", "floor_ms")
OK_FIELDS = ("median_ms", "rate", "rate_unit", "roofline_pct", "tflops", "gbs")


def main(path):
    ok = 0
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    if not lines:
        print(f"{path}: no records")
        return 1
    for n, line in enumerate(lines, 1):
        rec = json.loads(line)
        if not isinstance(rec, dict):
            print(f"{path}:{n}: not an object")
            return 1
        missing = [k for k in REQUIRED if k not in rec]
        if missing:
            print(f"{path}:{n}: missing {missing}")
            return 1
        if rec["status"] == "ok":
            missing = [k for k in OK_FIELDS if k not in rec]
            if missing or not rec["median_ms"] > 0:
                print(f"{path}:{n}: successful record without {missing or 'a positive median_ms'}")
                return 1
            ok += 1
    print(f"{path}: {len(lines)} records, {ok} measurements")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
