#!/usr/bin/env python3
"""dev_ab.py: summary of a development call's alternating rounds. Reads ksa-bench or peer_torch.py
JSON lines whose `tag` names the plugin (or setting) each was timed with (both take --tag), groups
them by (device, mode, phase, shape, dtype, page size) and prints, per group, the base tag's best and
median time and every other tag's with its median ratio to the base (below 1: faster), and for
peer_torch records the peer's median over the same rounds (the peers' own rows are skipped). The
rounds are the repeated records of a group and tag.

    python3 bench/dev_ab.py ab.jsonl --base head
"""
import argparse
import collections
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_records import kv_form  # noqa: E402

# how a group's line names peer_torch.py's diagnostic K/V forms (bench_records.kv_form)
FORM_LABEL = {"": "", "pages in order": "in order ", "device lengths": "with device lengths "}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", help="ksa-bench JSON lines (--tag per plugin)")
    ap.add_argument("--base", required=True, help="the tag the others are compared with")
    args = ap.parse_args(argv)
    times = collections.defaultdict(list)
    peers = collections.defaultdict(list)
    tags = []
    for name in args.files:
        with open(name) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                d = json.loads(line)
                if d.get("status") != "ok" or "tag" not in d:
                    continue
                if str(d.get("backend", "")).startswith("torch"):
                    continue  # peer_torch's rows of the peers themselves: they enter as peer_ms of ksa's rows
                sh = d["shape"]
                page = (d.get("config") or {}).get("page_size") or 0
                form = FORM_LABEL[kv_form(d)]  # pages in logical order, contiguous K/V with device lengths
                key = (d.get("device", ""), d["mode"], d["phase"], sh["B"], sh["Lk"], sh["Hq"], sh["Hkv"], sh["D"],
                       d["dtype"], page, form)
                times[(key, d["tag"])].append(d["median_ms"])
                if d.get("peer_ms"):
                    peers[(key, d["tag"])].append(d["peer_ms"])
                if d["tag"] not in tags:
                    tags.append(d["tag"])
    if args.base not in tags:
        print(f"dev_ab.py: no record tagged {args.base!r} (tags: {', '.join(tags) or 'none'})", file=sys.stderr)
        return 1
    for key in sorted({k for k, _ in times}):
        base = times.get((key, args.base))
        if not base:
            continue
        dev, mode, phase, b, lk, hq, hkv, d, dt, page, form = key
        bm = statistics.median(base)
        where = (f"{dev} " if dev else "") + (f"pages of {page} " if page else "") + form
        line = (f"{where}{mode} {phase} B{b} Lk{lk} Hq{hq}/Hkv{hkv} D{d} {dt}: {args.base} {min(base):.4f} "
                f"(med {bm:.4f}, {len(base)} rounds)")
        for t in tags:
            v = times.get((key, t))
            if t == args.base or not v:
                continue
            line += f"  {t} {min(v):.4f} (med {statistics.median(v):.4f}) {statistics.median(v) / bm:.3f}"
        pe = [x for t in tags for x in peers.get((key, t), [])]
        if pe:
            line += f"  peer med {statistics.median(pe):.4f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
