#!/bin/bash
# s22 call 2: the anchor prefill's Top-k launches (lib_tk = lib_rev + two development switches read from the
# environment: KSA_DEV_TOPK_FIT sizes a prefill launch's shared-memory list cache by its last tile's list instead
# of max_lk; KSA_DEV_TOPK_THREADS sets the prefill Top-k's block size): tests under the switches, Nsight Compute
# per-kernel times of anchor L32K bf16 D128 per setting, a stall profile of the longest Top-k launch, and two
# alternating rounds of anchor prefill
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in tk; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_tk
for thr in 512 256; do
for t in test_cuda "test_backends --devices cuda:0"; do
  s=$(date +%s); KSA_DEV_TOPK_FIT=1 KSA_DEV_TOPK_THREADS=$thr timeout 100 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).$thr.log 2>&1; echo "FIT $thr $t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).$thr.log | tr '\n' ' ' | cut -c1-200)"
done; done
B=$D/bin/ksa-bench
cfg() { case $1 in base) echo "";; fit) echo "KSA_DEV_TOPK_FIT=1";; fit512) echo "KSA_DEV_TOPK_FIT=1 KSA_DEV_TOPK_THREADS=512";;
  fit256) echo "KSA_DEV_TOPK_FIT=1 KSA_DEV_TOPK_THREADS=256";; b512) echo "KSA_DEV_TOPK_THREADS=512";; esac; }
for c in base fit fit512 fit256 b512; do
  env $(cfg $c) timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum --csv -k regex:kg_topk $B --device cuda:0 --shape 1,32768,32768,32,8,128 \
    --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 > $L/ncu_$c.csv 2> $L/ncu_$c.err
  python3 - $L/ncu_$c.csv $c <<'PY'
import sys,csv
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print(sys.argv[2], 'no ncu rows'); sys.exit()
h=rows[0]; vi=h.index('Metric Value')
v=[float(r[vi].replace(',',''))/1000 for r in rows[1:]]
n=len(v)//2; a=v[:n]; b=v[n:]
print('%-7s Top-k launches (us): %s | sum %.1f / %.1f' % (sys.argv[2], ' '.join('%.1f'%x for x in a), sum(a), sum(b)))
PY
done
timeout 150 ncu --clock-control none --section SpeedOfLight --section Occupancy --section WarpStateStats --section SchedulerStats --section LaunchStats \
  -k regex:kg_topk --launch-skip 3 --launch-count 1 $B --device cuda:0 --shape 1,32768,32768,32,8,128 --mode anchor --phase prefill --dtype bf16 \
  --repeats 1 --warmup 0 > $L/ncu_prof_base.txt 2>&1
KSA_DEV_TOPK_FIT=1 timeout 150 ncu --clock-control none --section SpeedOfLight --section Occupancy --section WarpStateStats --section SchedulerStats --section LaunchStats \
  -k regex:kg_topk --launch-skip 1 --launch-count 1 $B --device cuda:0 --shape 1,32768,32768,32,8,128 --mode anchor --phase prefill --dtype bf16 \
  --repeats 1 --warmup 0 > $L/ncu_prof_fit1.txt 2>&1
grep -E "Duration|Achieved Occupancy|Theoretical Occupancy|Issue Slots Busy|Eligible Warps|Active Warps Per|Block Limit|Warp Cycles Per Issued|Compute \(SM\) Throughput|Memory Throughput|Dynamic Shared|Block Size" $L/ncu_prof_base.txt $L/ncu_prof_fit1.txt | sed 's/  */ /g'
J=$OUT/ab.jsonl
for round in 1 2; do
  for c in base fit fit512; do
    for s in "1,16384,16384,32,8,128" "1,32768,32768,32,8,128"; do
      env $(cfg $c) timeout 60 $B --device cuda:0 --shape $s --mode anchor --phase prefill --dtype bf16 \
        --max-measure-ms 800 --tag $c --out $J --append > /dev/null 2>> $L/bench.err
    done
  done
done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    r[(d["shape"]["Lq"], d["tag"])].append(d["median_ms"])
for L in sorted({k for k, t in r}):
    b = r[(L, "base")]
    print(f"anchor bf16 L{L}: base {min(b):.3f} ({max(b):.3f}) " + " ".join(f"{t} {min(r[(L,t)]):.3f} ({max(r[(L,t)]):.3f}) {min(r[(L,t)])/min(b):.3f}" for t in ("fit","fit512") if r[(L,t)]))
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
