#!/bin/bash
# s24 call 6: lib_ts4 (d884d1a + kg_topk_stream longest lists first) against lib_ts3 (call 5; kg_topk prologue before the helpers): tests,
# memcheck, racecheck, synccheck; Nsight Compute of the Top-k launches; three alternating rounds
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in ts3 ts4; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_ts4
for t in test_cuda "test_backends --devices cuda:0" test_cuda_graph; do
  s=$(date +%s); timeout 120 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
s=$(date +%s); KSA_TEST_FILTER=test_topk_sampled_pivot timeout 60 $D/bin/test_cuda > $L/sampled-full.log 2>&1; echo "sampled full rc=$? $(( $(date +%s)-s )) s"
KSA_TEST_QUICK=1 timeout 90 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $L/memcheck.log 2>&1; echo "memcheck test_cuda rc=$? $(grep -E 'ERROR SUMMARY' $L/memcheck.log | tail -1)"
KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_topk_sampled_pivot timeout 90 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda > $L/racecheck.log 2>&1; echo "racecheck sampled rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $L/racecheck.log | tail -1)"
KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_topk_sampled_pivot timeout 90 compute-sanitizer --tool synccheck --error-exitcode 9 $D/bin/test_cuda > $L/synccheck.log 2>&1; echo "synccheck sampled rc=$? $(grep -E 'ERROR SUMMARY' $L/synccheck.log | tail -1)"
KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_topk_sampled_pivot timeout 90 ncu --metrics gpu__time_duration.sum --csv -k regex:kg_topk_stream $D/bin/test_cuda > $L/ncu-test.csv 2>&1; echo "kg_topk_stream launches in the test: $(grep -c '"kg_topk_stream' $L/ncu-test.csv)"
KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_topk_sampled_pivot timeout 90 ncu --metrics gpu__time_duration.sum --csv -k regex:kg_topk $D/bin/test_cuda 2>&1 | python3 -c "
import sys,csv
rows=[r for r in csv.reader(l for l in sys.stdin if l.startswith('\"'))]
h=rows[0]; ki=h.index('Kernel Name'); gi=h.index('Grid Size') if 'Grid Size' in h else None
print('test Top-k launches:', ' | '.join(r[ki][:16]+(' '+r[gi] if gi is not None else '') for r in rows[1:]))"
B=$D/bin/ksa-bench
ncu_topk() { # lib label bench-args...
  local lib=$1 lab=$2; shift 2
  KSA_PLUGIN_PATH=$D/lib_$lib timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum --csv -k regex:kg_topk $B --device cuda:0 "$@" \
    --repeats 1 --warmup 0 > $L/ncu.csv 2> $L/ncu.err
  python3 - $L/ncu.csv "$lib $lab" <<'PY'
import sys,csv
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print(sys.argv[2], 'no ncu rows'); sys.exit()
h=rows[0]; vi=h.index('Metric Value'); ki=h.index('Kernel Name')
v=[(r[ki][:16], float(r[vi].replace(',',''))/1000) for r in rows[1:]]
v=v[:len(v)//2]
print('%s Top-k launches (us): %s | sum %.1f' % (sys.argv[2], ' '.join('%s %.1f'%x for x in v), sum(x[1] for x in v)))
PY
}
for lib in ts3 ts4; do
  for LL in 16384 32768; do ncu_topk $lib "prefill L$LL" --shape 1,$LL,$LL,32,8,128 --mode anchor --phase prefill --dtype bf16; done
  for LK in 8192 32768; do ncu_topk $lib "decode B64 Lk$LK" --shape 64,1,$LK,32,8,128 --mode anchor --phase decode --dtype bf16; done
done
J=$OUT/ab.jsonl
for round in 1 2 3; do
  for lib in ts3 ts4; do
    for s in "1,16384,16384,32,8,128 bf16 prefill" "1,32768,32768,32,8,128 bf16 prefill" \
             "64,1,8192,32,8,128 bf16 decode" "16,1,32768,32,8,128 bf16 decode" "64,1,32768,32,8,128 bf16 decode"; do
      set -- $s
      KSA_PLUGIN_PATH=$D/lib_$lib timeout 60 $B --device cuda:0 --shape $1 --mode anchor --phase $3 --dtype $2 \
        --max-measure-ms 600 --tag $lib --out $J --append > /dev/null 2>> $L/bench.err
    done
  done
done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    sh=d["shape"]
    r[((d["phase"], d["dtype"], sh["B"], sh["Lq"], sh["Lk"], sh["Hkv"], sh["D"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b, p = r[(k, "ts3")], r[(k, "ts4")]
    if b and p: print(f"anchor {k}: ts3 {min(b):.4f} ({max(b):.4f})  ts4 {min(p):.4f} ({max(p):.4f})  ts4/ts3 {min(p)/min(b):.3f}")
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
