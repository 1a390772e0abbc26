#!/usr/bin/env python3
"""dev_ncu_sum.py: per-kernel time of one Nsight Compute run, from `ncu --csv --metrics
gpu__time_duration.sum` on stdin: the kernels' durations summed per group and counted. Groups are
LABEL=REGEX pairs matched against the kernel name in order (default: the anchor prefill's passes and
the MMA decode kernel); a kernel no group matches is summed under its own name.

    ncu --clock-control none --metrics gpu__time_duration.sum --csv -k regex:'k90_|kg_topk' \\
        ksa-bench ... | python3 bench/dev_ncu_sum.py --title "head anchor L32K"
"""
import argparse
import collections
import csv
import re
import sys

DEFAULT_GROUPS = ["lse=k90_lse", "pooled=k90_pooled", "flash=k90_prefill", "topk=kg_topk", "decode=kc_mma_decode"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--title", default="", help="printed before the sums")
    ap.add_argument("--group", action="append", help="LABEL=REGEX (repeatable; default: the anchor passes)")
    args = ap.parse_args(argv)
    groups = []
    for g in args.group or DEFAULT_GROUPS:
        label, _, rx = g.partition("=")
        groups.append((label, re.compile(rx)))
    rows = list(csv.reader(line for line in sys.stdin if line.startswith('"')))
    if not rows:
        print(f"{args.title}: no ncu rows")
        return 1
    head = rows[0]
    try:
        vi, ki = head.index("Metric Value"), head.index("Kernel Name")
    except ValueError:
        print(f"{args.title}: ncu csv without 'Metric Value' / 'Kernel Name' columns")
        return 1
    sums = collections.OrderedDict()
    for r in rows[1:]:
        name = r[ki]
        label = next((lab for lab, rx in groups if rx.search(name)), name)
        sums.setdefault(label, []).append(float(r[vi].replace(",", "")) / 1000.0)  # ns -> us
    print((args.title + " " if args.title else "") + " ".join(f"{k} {sum(v):.0f} us ({len(v)})" for k, v in sums.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
