#!/bin/bash
# s26 call 7: lib_pk (kg_pool_key and kg_tstream_pool::at share kg_pool_sum; only kg_decode_pool's SASS changes)
# against lib_dd (HEAD 9607b4a): tests with lib_pk, three alternating rounds of anchor decode where kg_decode_pool runs
# (few lists: B1, B4) and where the Top-k pools itself (B64)
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
LIBS="dd pk"
for l in $LIBS; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
for t in test_cuda "test_backends --devices cuda:0"; do
  n=$(echo $t | cut -d' ' -f1)
  s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_pk KSA_TEST_QUICK=1 timeout 60 $D/bin/$t > $L/${n}_pk.log 2>&1; rc=$?; echo "pk $t rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/${n}_pk.log | tr '\n' ' ' | cut -c1-300)"
  [ $rc -eq 124 ] && { tail -3 $L/${n}_pk.log; exit 1; }
done
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_pk KSA_TEST_FILTER="*topk*" timeout 90 $D/bin/test_cuda > $L/test_cuda_topk_pk.log 2>&1; echo "pk test_cuda (topk tests, full size) rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |failed' $L/test_cuda_topk_pk.log | tr '\n' ' ' | cut -c1-300)"
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2 3; do for lib in $LIBS; do
  for sh in "1,1,32768,32,8,128" "4,1,32768,32,8,128" "64,1,8192,32,8,128"; do
    KSA_PLUGIN_PATH=$D/lib_$lib timeout 30 $B --device cuda:0 --shape $sh --mode anchor --phase decode --dtype bf16 \
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
    r[((sh["B"], sh["Lk"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b, p = r[(k, "dd")], r[(k, "pk")]
    if b and p: print(f"anchor decode B{k[0]} Lk{k[1]} bf16: dd {min(b)*1e3:.1f} ({max(b)*1e3:.1f}) us  pk {min(p)*1e3:.1f} ({max(p)*1e3:.1f}) us  pk/dd {min(p)/min(b):.3f}")
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
