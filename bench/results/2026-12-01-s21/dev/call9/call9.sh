#!/bin/bash
# s21 call 9 (after the final run): lib_fin, the review's build (the unit kernels' common start in one helper,
# k90_unit_start; the shared-memory maximum as a constexpr function; register allocation differs, the
# instructions do not): tests, memcheck, racecheck of the Llama-class case, and two alternating rounds of
# anchor prefill against lib_l3 (the kernels of the final run)
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in l3 fin; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_fin
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 100 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-200)"
done
KSA_TEST_QUICK=1 timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $L/memcheck.log 2>&1; echo "memcheck test_cuda rc=$? $(grep -E 'ERROR SUMMARY' $L/memcheck.log | tail -1)"
KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_llama_class timeout 60 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda > $L/racecheck.log 2>&1; echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $L/racecheck.log | tail -1)"
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2; do
  for lib in l3 fin; do
    for s in "1,16384,16384,32,8,128" "1,32768,32768,32,8,128"; do
      KSA_PLUGIN_PATH=$D/lib_$lib timeout 60 $B --device cuda:0 --shape $s --mode anchor --phase prefill --dtype bf16 \
        --max-measure-ms 800 --tag $lib --out $J --append > /dev/null 2>> $L/bench.err
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
    b, p = r[(L, "l3")], r[(L, "fin")]
    print(f"anchor bf16 L{L}: l3 {min(b):.3f} ({max(b):.3f})  fin {min(p):.3f} ({max(p):.3f})  fin/l3 {min(p)/min(b):.3f}")
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
