#!/usr/bin/env bash
# thirty-first session, device call 3 (lent Xeon): what the TLB costs. ksa-cpu-bench's host arrays
# (q, k, v, o, workspace) on 4 KiB pages (KSA_BENCH_HUGEPAGES=0, as before) or on transparent huge
# pages (=1), in alternating processes; the machine's THP settings; the cpu tests (ksa's own CPU
# buffers of 2 MiB and more are now advised to huge pages too).
D=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$D/../../../../.." && pwd)
. "$ROOT/scripts/device/device-common.sh"
ksa_device_cmocka "$ROOT" && echo "cmocka from .carry/cuda"
echo "THP enabled: $(cat /sys/kernel/mm/transparent_hugepage/enabled) defrag: $(cat /sys/kernel/mm/transparent_hugepage/defrag)"
grep -i huge /proc/meminfo
BUILD=$ROOT/build-cpu-dev
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF \
  -DKSA_WITH_OPENCL=OFF -DKSA_BUILD_TESTS=ON -DKSA_BUILD_TOOLS=ON >"$OUT/build.log" 2>&1 &&
  ninja -C "$BUILD" -j"$(nproc)" ksa-cpu-bench test_backends test_cpu_ops >>"$OUT/build.log" 2>&1
echo "build rc=$?"
KSA_NUM_THREADS=8 timeout 120 "$BUILD/bin/test_backends" --devices cpu >"$OUT/test_backends.log" 2>&1; echo "test_backends cpu rc=$?"
grep -E "ktest grid" "$OUT/test_backends.log" | head -3
KSA_NUM_THREADS=8 timeout 200 "$BUILD/bin/test_cpu_ops" >"$OUT/test_cpu_ops.log" 2>&1; echo "test_cpu_ops rc=$?"
grep -E "PASSED|FAILED" "$OUT/test_cpu_ops.log" | head -3
for round in 1 2 3 4; do
  for hp in 0 1; do
    KSA_BENCH_HUGEPAGES=$hp KSA_CPU_ISA=amx timeout 120 "$BUILD/bin/ksa-cpu-bench" 2>/dev/null |
      sed "s/^{/{\"hugepages\":$hp,\"round\":$round,/" >>"$OUT/bench.jsonl"
  done
done
python3 - "$OUT/bench.jsonl" <<'PY' | tee "$OUT/summary.txt"
import json, sys, collections, statistics
rows = collections.defaultdict(lambda: collections.defaultdict(list))
for l in open(sys.argv[1]):
    try: r = json.loads(l)
    except Exception: continue
    if r.get("op") not in ("prefill", "decode"): continue
    key = (r["op"], r["mode"], r.get("L", r.get("Lk")))
    rows[key][r["hugepages"]].append((r["round"], r["ms"], r.get("gathered_GBps", r.get("GBps"))))
for key, by in sorted(rows.items()):
    r0 = {rd: ms for rd, ms, _ in by[0]}; r1 = {rd: ms for rd, ms, _ in by[1]}
    ratios = sorted(r0[rd] / r1[rd] for rd in r0 if rd in r1)
    print(*key, "4K pages ms", [round(x[1], 3) for x in by[0]], "huge", [round(x[1], 3) for x in by[1]],
          "ratio median %.3f band %.3f-%.3f" % (statistics.median(ratios), ratios[0], ratios[-1]),
          "GB/s", [x[2] for x in by[0]], [x[2] for x in by[1]])
PY
