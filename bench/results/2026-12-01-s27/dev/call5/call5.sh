#!/bin/bash
# s27 call 5 (after the final run): lib_ff (the lse pass's first unit per warpgroup goes straight to the
# maxima instead of computing the running-base exponentials first) against lib_lse (HEAD): tests, three
# alternating rounds of anchor prefill
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
LIBS="lse ff"
for l in $LIBS; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_ff KSA_TEST_FILTER="*score_jumps*" timeout 40 $D/bin/test_cuda > $L/jumps_ff.log 2>&1; rc=$?
echo "ff score_jumps (full) rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) ' $L/jumps_ff.log | tr '\n' ' ')"
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_ff KSA_TEST_QUICK=1 timeout 40 $D/bin/test_cuda > $L/test_cuda_ff.log 2>&1; rc=$?
echo "ff test_cuda (quick) rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) ' $L/test_cuda_ff.log | tr '\n' ' ')"
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_ff KSA_TEST_QUICK=1 timeout 30 $D/bin/test_backends --devices cuda:0 > $L/test_backends_ff.log 2>&1; rc=$?
echo "ff test_backends (quick) rc=$rc $(( $(date +%s)-s )) s: $(grep -E 'ktest grid' $L/test_backends_ff.log | tr '\n' ' ')"
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2 3; do for lib in $LIBS; do
  for s in "1,32768,32768,32,8,128" "1,16384,16384,32,8,128" "1,16384,16384,32,8,64"; do
    KSA_PLUGIN_PATH=$D/lib_$lib timeout 20 $B --device cuda:0 --shape $s --mode anchor --phase prefill --dtype bf16 --max-measure-ms 400 \
      --tag $lib --out $J --append > /dev/null 2>> $L/bench.err
  done
done; done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    sh = d["shape"]
    r[((sh["Lk"], sh["D"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b, p = r[(k, "lse")], r[(k, "ff")]
    if b and p: print(f"anchor prefill L{k[0]} D{k[1]} bf16: lse {min(b):.3f} ({max(b):.3f})  ff {min(p):.3f} ({max(p):.3f})  {min(p)/min(b):.3f}")
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
