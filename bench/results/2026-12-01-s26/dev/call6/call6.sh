#!/bin/bash
# s26 call 6 (after the final run, call 5): lib_pd (k90_prefill, the dense and sparse flash pass, steps its wgmma
# descriptors as the unit kernels do since 9607b4a) against lib_dd (HEAD 9607b4a): tests, three alternating rounds
# of dense prefill (P1's shapes), reuse and anchor prefill L32K; k90_lse's stall samples at HEAD
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
LIBS="dd pd"
for l in $LIBS; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
for t in test_cuda "test_backends --devices cuda:0"; do
  n=$(echo $t | cut -d' ' -f1)
  s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_pd KSA_TEST_QUICK=1 timeout 60 $D/bin/$t > $L/${n}_pd.log 2>&1; rc=$?; echo "pd $t rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/${n}_pd.log | tr '\n' ' ' | cut -c1-300)"
  [ $rc -eq 124 ] && { tail -3 $L/${n}_pd.log; exit 1; }
done
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2 3; do for lib in $LIBS; do
  for s in "dense 1,16384,16384,32,8,128 f16" "dense 1,16384,16384,32,8,128 bf16" "dense 1,16384,16384,32,8,64 f16" "dense 1,16384,16384,32,8,256 f16" \
           "reuse 1,32768,32768,32,8,128 bf16" "anchor 1,32768,32768,32,8,128 bf16"; do
    set -- $s
    KSA_PLUGIN_PATH=$D/lib_$lib timeout 30 $B --device cuda:0 --shape $2 --mode $1 --phase prefill --dtype $3 \
      --max-measure-ms 600 --tag $lib --out $J --append > /dev/null 2>> $L/bench.err
  done
done; done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    sh=d["shape"]
    r[((d["mode"], sh["Lk"], sh["D"], d["dtype"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b, p = r[(k, "dd")], r[(k, "pd")]
    if b and p: print(f"{k[0]} prefill L{k[1]} D{k[2]} {k[3]}: dd {min(b):.3f} ({max(b):.3f})  pd {min(p):.3f} ({max(p):.3f})  pd/dd {min(p)/min(b):.3f}")
PY
KSA_PLUGIN_PATH=$D/lib_dd timeout 120 ncu --clock-control none --section SourceCounters --section WarpStateStats -k regex:k90_lse -c 1 \
  --page source --csv --print-source sass $B --device cuda:0 --shape 1,16384,16384,32,8,128 --mode anchor --phase prefill \
  --dtype bf16 --repeats 1 --warmup 0 > $OUT/lse_source_dd.csv 2> $L/ncu.err
echo "ncu lse source rc=$?"
gzip -f $OUT/*.csv
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
