#!/usr/bin/env bash
# thirty-first session, device call 4 (lent Xeon): what an engine in a PyTorch process sees with huge
# pages. peer_torch.py on the CPU (dense / anchor / reuse prefill L2048 and L4096, dense and reuse
# decode B1 and B16 Lk32K), torch's allocator on 4 KiB pages (THP_MEM_ALLOC_ENABLE=0) against huge
# pages (=1, torch's own switch: q, k, v, o and ksa's workspace are torch tensors or ksa buffers), in
# alternating processes, 3 rounds; the process's AnonHugePages shows whether the pages were huge.
D=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$D/../../../../.." && pwd)
BUILD=$ROOT/build-cpu-dev
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF \
  -DKSA_WITH_OPENCL=OFF -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=OFF >"$OUT/build.log" 2>&1 && ninja -C "$BUILD" ksa >>"$OUT/build.log" 2>&1
echo "build rc=$?"
export PYTHONPATH=$ROOT/python KSA_LIBRARY=$BUILD/lib/libksa.so OMP_WAIT_POLICY=PASSIVE
for round in 1 2 3; do
  for thp in 0 1; do
    THP_MEM_ALLOC_ENABLE=$thp timeout 150 python3 - "$ROOT" "$thp" "$round" "$OUT" <<'PY' 2>>"$OUT/err.log"
import sys, subprocess, os, json, threading, time
root, thp, rnd, out = sys.argv[1:5]
args = [sys.executable, os.path.join(root, "bench/peer_torch.py"), "--device", "cpu", "--repeats", "9",
        "--shape", "1,2048,2048,32,8,128", "--shape", "1,4096,4096,32,8,128",
        "--shape", "1,1,32768,32,8,128", "--shape", "16,1,32768,32,8,128",
        "--out", os.path.join(out, f"peer-thp{thp}-r{rnd}.jsonl")]
p = subprocess.Popen(args)
peak = 0
while p.poll() is None:
    try:
        for l in open(f"/proc/{p.pid}/smaps_rollup"):
            if l.startswith("AnonHugePages"): peak = max(peak, int(l.split()[1]))
    except OSError: pass
    time.sleep(0.5)
print(f"round {rnd} THP_MEM_ALLOC_ENABLE={thp}: rc {p.returncode}, AnonHugePages peak {peak // 1024} MB")
PY
  done
done
python3 - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import json, sys, glob, collections, statistics
out = sys.argv[1]
t = collections.defaultdict(lambda: collections.defaultdict(dict))
for f in sorted(glob.glob(out + "/peer-thp*-r*.jsonl")):
    thp = int(f.split("peer-thp")[1][0]); rnd = int(f.split("-r")[-1].split(".")[0])
    for l in open(f):
        r = json.loads(l)
        if r.get("status") != "ok": continue
        s = r.get("shape", {})
        key = (r.get("phase"), r.get("mode"), s.get("B"), s.get("Lk"))
        t[key + ("ksa",)][thp][rnd] = r["median_ms"]
        if r.get("peer_ms"): t[key + ("torch",)][thp][rnd] = r["peer_ms"]
for key, by in sorted(t.items(), key=str):
    rs = sorted(by[0][r] / by[1][r] for r in by[0] if r in by[1])
    if not rs: continue
    print(*key, "4K", [round(by[0][r], 3) for r in sorted(by[0])], "huge", [round(by[1][r], 3) for r in sorted(by[1])],
          "4K/huge median %.3f (%.3f-%.3f)" % (statistics.median(rs), rs[0], rs[-1]))
PY
