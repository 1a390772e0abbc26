#!/bin/bash
# s22 call 8 (after the final run; the review's build): lib_rv2 = 76cd01a's code + one accessor for the anchor's lse workspace
# (kg_lse_ws_at) in place of the six spelled-out indices; SASS of k90_pooled differs (instruction selection), the rest is
# the same: tests, memcheck, racecheck, two alternating rounds of anchor prefill against lib_tkr
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in tkr rv2; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_rv2
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 100 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-200)"
done
KSA_TEST_QUICK=1 timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $L/memcheck.log 2>&1; echo "memcheck test_cuda rc=$? $(grep -E 'ERROR SUMMARY' $L/memcheck.log | tail -1)"
KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_llama_class timeout 60 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda > $L/racecheck.log 2>&1; echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $L/racecheck.log | tail -1)"
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2; do
  for lib in tkr rv2; do
    for s in "1,16384,16384,32,8,128" "1,32768,32768,32,8,128" "1,16384,16384,32,8,64"; do
      KSA_PLUGIN_PATH=$D/lib_$lib timeout 60 $B --device cuda:0 --shape $s --mode anchor --phase prefill --dtype bf16 \
        --max-measure-ms 500 --tag $lib --out $J --append > /dev/null 2>> $L/bench.err
    done
  done
done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    r[((d["shape"]["Lq"], d["shape"]["D"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b, p = r[(k, "tkr")], r[(k, "rv2")]
    print(f"anchor bf16 L{k[0]} D{k[1]}: tkr {min(b):.3f} ({max(b):.3f})  rv2 {min(p):.3f} ({max(p):.3f})  rv2/tkr {min(p)/min(b):.3f}")
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
