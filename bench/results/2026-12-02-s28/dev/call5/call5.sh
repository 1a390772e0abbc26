#!/bin/bash
# s28 call 5: lib_ring (the unit kernels' consumer warpgroups issue their products in turn, through named
# barriers 5-8: round, row half, warpgroup) against lib_head: tests with deadlock timeouts, synccheck and
# racecheck, Nsight Compute per kernel, alternating rounds
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
LIBS="head ring"
for l in $LIBS; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_ring KSA_TEST_FILTER="*score_jumps*" timeout 60 $D/bin/test_cuda > $L/jumps.log 2>&1; rc=$?
echo "ring score_jumps (full) rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |FAIL' $L/jumps.log | tr '\n' ' ' | cut -c1-300)"
[ $rc -eq 124 ] && { echo "hang: stopping"; tar czf $OUT/logs.tar.gz -C $OUT logs; exit 1; }
for t in test_cuda "test_backends --devices cuda:0"; do
  n=$(echo $t | cut -d' ' -f1)
  s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_ring KSA_TEST_QUICK=1 timeout 60 $D/bin/$t > $L/${n}.log 2>&1; rc=$?; echo "ring $t rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/${n}.log | tr '\n' ' ' | cut -c1-300)"
  [ $rc -eq 124 ] && { echo "hang: stopping"; tar czf $OUT/logs.tar.gz -C $OUT logs; exit 1; }
done
for tool in synccheck racecheck; do
  s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_ring KSA_TEST_FILTER="*score_jumps*" timeout 120 compute-sanitizer --tool $tool $D/bin/test_cuda > $L/$tool.log 2>&1
  echo "ring $tool score_jumps rc=$? $(( $(date +%s)-s )) s: $(grep -E 'SUMMARY|PASSED|FAILED' $L/$tool.log | tr '\n' ' ' | cut -c1-300)"
done
B=$D/bin/ksa-bench
ncu_sum() { # lib mode shape dtype
  KSA_PLUGIN_PATH=$D/lib_$1 timeout 60 ncu --clock-control none --metrics gpu__time_duration.sum --csv -k regex:'k90_(lse|pooled|prefill)|kg_topk' $B --device cuda:0 \
    --shape $3 --mode $2 --phase prefill --dtype $4 --repeats 1 --warmup 0 2>/dev/null | python3 -c "
import sys,csv,collections
rows=[r for r in csv.reader(l for l in sys.stdin if l.startswith('\"'))]
if not rows: print('$1 $2 $3 $4: no ncu rows'); sys.exit()
h=rows[0]; vi=h.index('Metric Value'); ki=h.index('Kernel Name')
t=collections.OrderedDict()
for r in rows[1:]:
    k=r[ki]; k='lse' if 'k90_lse' in k else 'pooled' if 'k90_pooled' in k else 'flash' if 'k90_prefill' in k else 'topk'
    t.setdefault(k, []).append(float(r[vi].replace(',',''))/1000)
print('$1 $2 $3 $4', ' '.join('%s %.0f us (%d)' % (k, sum(v), len(v)) for k, v in t.items()))"
}
for lib in $LIBS; do ncu_sum $lib anchor 1,32768,32768,32,8,128 bf16; ncu_sum $lib anchor 1,16384,16384,32,8,64 bf16; done
J=$OUT/ab.jsonl
for round in 1 2 3; do for lib in $LIBS; do
  for sh in 1,32768,32768,32,8,128 1,16384,16384,32,8,128 1,16384,16384,32,8,64 1,16384,16384,32,8,256 1,16384,16384,32,32,128; do
    KSA_PLUGIN_PATH=$D/lib_$lib timeout 30 $B --device cuda:0 --shape $sh --mode anchor --phase prefill --dtype bf16 --tag $lib --out $J --append > /dev/null 2>> $L/bench.err
  done
  KSA_PLUGIN_PATH=$D/lib_$lib timeout 30 $B --device cuda:0 --shape 1,32768,32768,32,8,128 --mode anchor --phase prefill --dtype f16 --tag $lib --out $J --append > /dev/null 2>> $L/bench.err
done; done
python3 - $J <<'PY'
import json, sys, collections, statistics
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    sh=d["shape"]
    r[((sh["Lk"], sh["Hkv"], sh["D"], d["dtype"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b, p = r[(k, "head")], r[(k, "ring")]
    if b and p: print(f"anchor prefill L{k[0]} Hkv{k[1]} D{k[2]} {k[3]}: head {min(b):.3f} (med {statistics.median(b):.3f})  ring {min(p):.3f} (med {statistics.median(p):.3f}) {statistics.median(p)/statistics.median(b):.3f}")
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
