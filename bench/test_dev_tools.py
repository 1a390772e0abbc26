#!/usr/bin/env python3
"""test_dev_tools.py: checks dev_ab.py, dev_ncu_sum.py and dev_timeline.py on made-up inputs whose
answers are known (ctest bench_dev_tools): medians and ratios per shape and tag, peer_torch records
grouped by device and page size with the peer's median, a missing base tag refused, ncu durations
summed per pass with thousands separators, an unmatched kernel under its own name, a chrome trace
cut into calls at idle time with each call's span, kernel and idle time and the last call's kernels
with the gaps before them, a trace without GPU events or a file that is not a trace refused."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(script, args, stdin=None):
    p = subprocess.run([sys.executable, os.path.join(HERE, script)] + args, input=stdin, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def rec(tag, ms, lk=32768, mode="anchor", status="ok"):
    return json.dumps({"mode": mode, "phase": "prefill", "status": status, "tag": tag, "dtype": "bf16", "median_ms": ms,
                       "shape": {"B": 1, "Lq": lk, "Lk": lk, "Hq": 32, "Hkv": 8, "D": 128}})


def main():
    fails = []
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "ab.jsonl")
        with open(f, "w") as out:
            for ms in (10.0, 12.0, 11.0):
                out.write(rec("head", ms) + "\n")
            for ms in (9.0, 9.9, 9.5):
                out.write(rec("new", ms) + "\n")
            out.write(rec("new", 1.0, status="failed") + "\n")  # not counted
            out.write(rec("head", 4.0, lk=16384) + "\n")
            out.write(rec("new", 5.0, lk=16384) + "\n")
        rc, so, se = run("dev_ab.py", [f, "--base", "head"])
        lines = so.strip().splitlines()
        if rc != 0 or len(lines) != 2:
            fails.append(f"dev_ab.py: rc {rc}, {len(lines)} lines: {so!r} {se!r}")
        else:
            l16 = next((x for x in lines if "Lk16384" in x), "")
            l32 = next((x for x in lines if "Lk32768" in x), "")
            if "head 4.0000 (med 4.0000, 1 rounds)" not in l16 or l16.split()[-1] != "1.250":
                fails.append(f"dev_ab.py L16K line: {l16!r}")
            # head median 11.0, new median 9.5 (the failed record left out): 0.864
            if "head 10.0000 (med 11.0000, 3 rounds)" not in l32 or "new 9.0000 (med 9.5000)" not in l32 or l32.split()[-1] != "0.864":
                fails.append(f"dev_ab.py L32K line: {l32!r}")
        # peer_torch records: the device, the page size and the K/V's form (pages in order, contiguous
        # with device lengths) key the groups, the peer's median is printed
        with open(f, "w") as out:
            for tag, ms, page, peer, form in (("head", 20.0, 0, 21.0, {}), ("new", 19.0, 0, 22.0, {}),
                                              ("head", 30.0, 16, 21.5, {}), ("new", 33.0, 16, 20.5, {}),
                                              ("head", 40.0, 16, 21.0, {"ordered_pages": True}),
                                              ("new", 36.0, 16, 21.0, {"ordered_pages": True}),
                                              ("head", 50.0, 0, 21.0, {"device_lengths": True}),
                                              ("new", 45.0, 0, 21.0, {"device_lengths": True})):
                r = json.loads(rec(tag, ms, lk=8192, mode="dense"))
                r.update(device="cuda:0", phase="decode", peer_ms=peer, config=dict(form, page_size=page))
                r["shape"]["Lq"] = 1
                out.write(json.dumps(r) + "\n")
                r.update(backend="torch-sdpa-math", device="cuda", median_ms=300.0)  # a peer's own row: skipped
                out.write(json.dumps(r) + "\n")
        rc, so, se = run("dev_ab.py", [f, "--base", "head"])
        lines = so.strip().splitlines()
        contig = next((x for x in lines if x.startswith("cuda:0 dense decode B1 Lk8192")), "")
        paged = next((x for x in lines if x.startswith("cuda:0 pages of 16 dense decode B1 Lk8192")), "")
        ordered = next((x for x in lines if x.startswith("cuda:0 pages of 16 in order dense decode B1")), "")
        lengths = next((x for x in lines if x.startswith("cuda:0 with device lengths dense decode B1")), "")
        if rc != 0 or len(lines) != 4 or "new 19.0000 (med 19.0000) 0.950  peer med 21.5000" not in contig \
                or "1.100  peer med 21.0000" not in paged or "new 36.0000 (med 36.0000) 0.900" not in ordered \
                or "new 45.0000 (med 45.0000) 0.900" not in lengths:
            fails.append(f"dev_ab.py on peer records: rc {rc}, {lines!r} {se!r}")
        rc, so, se = run("dev_ab.py", [f, "--base", "nope"])
        if rc == 0 or "no record tagged 'nope'" not in se:
            fails.append(f"dev_ab.py with a missing base: rc {rc}, {se!r}")
    csv_text = ('"ID","Kernel Name","Metric Name","Metric Unit","Metric Value"\n'
                '"0","void k90_lse<128, __nv_bfloat16>(ksa_gpu_args)","gpu__time_duration.sum","ns","6,800,500"\n'
                '"1","void k90_pooled<128, __nv_bfloat16>(ksa_gpu_args)","gpu__time_duration.sum","ns","1,000,000"\n'
                '"2","void k90_pooled<128, __nv_bfloat16>(ksa_gpu_args)","gpu__time_duration.sum","ns","2,500,000"\n'
                '"3","some_other_kernel","gpu__time_duration.sum","ns","2,000"\n')
    rc, so, se = run("dev_ncu_sum.py", ["--title", "t"], stdin="==PROF== noise\n" + csv_text)
    if rc != 0 or so.strip() != "t lse 6800 us (1) pooled 3500 us (2) some_other_kernel 2 us (1)":
        fails.append(f"dev_ncu_sum.py: rc {rc}, {so!r} {se!r}")
    rc, so, se = run("dev_ncu_sum.py", ["--title", "t"], stdin="no csv at all\n")
    if rc == 0 or "no ncu rows" not in so:
        fails.append(f"dev_ncu_sum.py without rows: rc {rc}, {so!r}")
    # dev_timeline.py on a made-up chrome trace: two calls 20 ms apart (microseconds), a CPU event
    # that must not count, and a memset inside the second call
    trace = {"traceEvents": [
        {"cat": "cpu_op", "ph": "X", "name": "aten::empty", "ts": 0, "dur": 50000},
        {"cat": "kernel", "ph": "X", "name": "void k90_lse<128, __nv_bfloat16>(ksa_gpu_args)", "ts": 1000, "dur": 6000},
        {"cat": "kernel", "ph": "X", "name": "void k90_pooled<128, __nv_bfloat16>(ksa_gpu_args, int, int)", "ts": 7002, "dur": 3000},
        {"cat": "kernel", "ph": "X", "name": "void k90_lse<128, __nv_bfloat16>(ksa_gpu_args)", "ts": 30000, "dur": 6000},
        {"cat": "gpu_memset", "ph": "X", "name": "Memset (Device)", "ts": 36500, "dur": 100},
        {"cat": "kernel", "ph": "X", "name": "void k90_pooled<128, __nv_bfloat16>(ksa_gpu_args, int, int)", "ts": 36604, "dur": 3000},
    ]}
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "trace.json")
        with open(f, "w") as out:
            json.dump(trace, out)
        rc, so, se = run("dev_timeline.py", ["--trace", f])
        lines = so.strip().splitlines()
        want = ["call 0: 2 kernels, span 9.002 ms, kernel time 9.000 ms, idle 0.002 ms",
                "call 1: 3 kernels, span 9.604 ms, kernel time 9.100 ms, idle 0.504 ms"]
        if rc != 0 or lines[:2] != want:
            fails.append(f"dev_timeline.py calls: rc {rc}, {lines[:2]!r} {se!r}")
        rows = [x.split() for x in lines[2:]]
        # the last call's rows: name, ms, gap before (us)
        if len(rows) != 3 or rows[0][:2] != ["k90_lse<128,", "__nv_bfloat16>"] or rows[1][:2] != ["Memset", "0.100"] \
                or rows[1][-2] != "500.0" or rows[2][-2] != "4.0" or rows[2][-6] != "3.000":
            fails.append(f"dev_timeline.py rows: {lines[2:]!r}")
        with open(f, "w") as out:
            json.dump({"traceEvents": trace["traceEvents"][:1]}, out)
        rc, so, se = run("dev_timeline.py", ["--trace", f])
        if rc == 0 or "no GPU events" not in so:
            fails.append(f"dev_timeline.py without GPU events: rc {rc}, {so!r}")
        with open(f, "w") as out:
            out.write("not json")
        rc, so, se = run("dev_timeline.py", ["--trace", f])
        if rc != 2 or "cannot read" not in se or "Traceback" in se:
            fails.append(f"dev_timeline.py on a file that is not a trace: rc {rc}, {se!r}")
    for x in fails:
        print("FAIL", x)
    print(f"test_dev_tools: {11 - len(fails)} of 11 checks passed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
