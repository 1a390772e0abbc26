#!/bin/bash
# eleventh session, device call 3 (diagnosis, no code change): per-kernel device time of anchor and dense
# decode B1 Lk32K bf16, contiguous vs pages of 16 / 64 (peer_torch's paged cache), under ncu; ncu of dense
# decode B16 Lk8K bf16, ksa's kernel and cuDNN's, same process
cd "$(dirname "$0")/../.."
R=$PWD
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH
export KSA_PLUGIN_PATH=$R/.carry/devbin/lib_s11 KSA_LIBRARY=$R/.carry/devbin/core/libksa.so KSA_TUNE_CACHE=off
mkdir -p $OUT/gpu
P="python3 bench/peer_torch.py --device cuda --dtype bf16 --repeats 5 --warmup 2"
for mode in anchor dense; do
  for ps in 0 16 64; do
    s=$(date +%s)
    ncu --cache-control none --clock-control none -k regex:'k[cg]_' --metrics gpu__time_duration.sum --csv \
      $P --modes $mode --page-size $ps --shape 1,1,32768,32,8,128 > $OUT/gpu/ncu-$mode-p$ps.csv 2> $OUT/gpu/ncu-$mode-p$ps.err
    echo "$mode p$ps rc=$? $(( $(date +%s)-s )) s"
    python3 - $OUT/gpu/ncu-$mode-p$ps.csv <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
hdr = rows[0]; rows = rows[1:]
ki, mi, vi, ii = hdr.index("Kernel Name"), hdr.index("Metric Name"), hdr.index("Metric Value"), hdr.index("ID")
d = collections.OrderedDict()
for r in rows:
    if r[mi] != "gpu__time_duration.sum": continue
    name = r[ki][:110] + " grid " + r[hdr.index("Grid Size")]
    d.setdefault(name, []).append(float(r[vi].replace(",", "")))
for n, v in d.items():
    v = sorted(v)
    print("   %-120s n=%2d median %8.2f us" % (n, len(v), v[len(v)//2] / 1e3))
PY
  done
done
s=$(date +%s)
ncu --cache-control none -k regex:'kc_|kg_|cudnn|fort|sdpa' -s 40 -c 12 --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats --csv \
  $P --modes dense --shape 16,1,8192,32,8,128 > $OUT/gpu/ncu-dec16.csv 2> $OUT/gpu/ncu-dec16.err
echo "dec16 rc=$? $(( $(date +%s)-s )) s"
grep -E "Duration|DRAM Throughput|L2 Hit Rate|Memory Throughput|Achieved Occupancy|Grid Size|Block Size|Registers Per|Waves Per SM" $OUT/gpu/ncu-dec16.csv | awk -F'","' '{print $5" | "$(NF-2)" | "$NF}' | cut -c1-200 | head -80
(cd $OUT && tar czf gpu.tar.gz gpu && rm -rf gpu)
