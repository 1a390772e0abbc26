#!/bin/bash
# s24 call 9: lib_ts5 (kg_topk_stream<true>: split decode's Top-k pooling as it streams) against lib_ts4: tests,
# memcheck and racecheck of the Top-k test, Nsight Compute of the decode Top-k, two alternating rounds
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in ts4 ts5; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_ts5
s=$(date +%s); KSA_TEST_QUICK=1 timeout 60 $D/bin/test_cuda > $L/test_cuda.log 2>&1; echo "test_cuda quick rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |failed' $L/test_cuda.log | tr '\n' ' ' | cut -c1-300)"
s=$(date +%s); KSA_TEST_FILTER=test_topk_sampled_pivot timeout 60 $D/bin/test_cuda > $L/sampled-full.log 2>&1; echo "sampled full rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |failed' $L/sampled-full.log | tr '\n' ' ' | cut -c1-300)"
KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_topk_sampled_pivot timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $L/memcheck.log 2>&1; echo "memcheck sampled rc=$? $(grep -E 'ERROR SUMMARY' $L/memcheck.log | tail -1)"
KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_topk_sampled_pivot timeout 60 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda > $L/racecheck.log 2>&1; echo "racecheck sampled rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $L/racecheck.log | tail -1)"
B=$D/bin/ksa-bench
for lib in ts4 ts5; do for LK in 8192 32768; do
  KSA_PLUGIN_PATH=$D/lib_$lib timeout 60 ncu --clock-control none --metrics gpu__time_duration.sum --csv -k regex:kg_topk $B --device cuda:0 \
    --shape 64,1,$LK,32,8,128 --mode anchor --phase decode --dtype bf16 --repeats 1 --warmup 0 2>/dev/null | python3 -c "
import sys,csv
rows=[r for r in csv.reader(l for l in sys.stdin if l.startswith('\"'))]
h=rows[0]; vi=h.index('Metric Value'); ki=h.index('Kernel Name')
print('$lib decode B64 Lk$LK Top-k (us):', ' '.join('%s %.1f' % (r[ki][:18], float(r[vi].replace(',',''))/1000) for r in rows[1:]))"
done; done
J=$OUT/ab.jsonl
for round in 1 2; do for lib in ts4 ts5; do
  for s in "64,1,32768,32,8,128 decode" "64,1,8192,32,8,128 decode" "32,1,32768,32,8,128 decode" "16,1,32768,32,8,128 decode" "1,32768,32768,32,8,128 prefill"; do
    set -- $s
    KSA_PLUGIN_PATH=$D/lib_$lib timeout 60 $B --device cuda:0 --shape $1 --mode anchor --phase $2 --dtype bf16 \
      --max-measure-ms 400 --tag $lib --out $J --append > /dev/null 2>> $L/bench.err
  done
done; done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    sh=d["shape"]
    r[((d["phase"], sh["B"], sh["Lq"], sh["Lk"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b, p = r[(k, "ts4")], r[(k, "ts5")]
    if b and p: print(f"anchor {k}: ts4 {min(b):.4f} ({max(b):.4f})  ts5 {min(p):.4f} ({max(p):.4f})  ts5/ts4 {min(p)/min(b):.3f}")
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
