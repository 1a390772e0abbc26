#!/bin/bash
# s28 call 2: lib_split (the pooled pass's 128-row product in two n64 halves, the first half's exponentials while the tensor
# cores compute the second) against lib_head (ae46089): tests, Nsight Compute per kernel, alternating rounds
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
LIBS="head split"
for l in $LIBS; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
for l in split; do
  s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_$l KSA_TEST_FILTER="*score_jumps*" timeout 60 $D/bin/test_cuda > $L/jumps_$l.log 2>&1; rc=$?
  echo "$l score_jumps (full) rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |failed|FAIL' $L/jumps_$l.log | tr '\n' ' ' | cut -c1-300)"
done
for l in split; do for t in test_cuda "test_backends --devices cuda:0"; do
  n=$(echo $t | cut -d' ' -f1)
  s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_$l KSA_TEST_QUICK=1 timeout 60 $D/bin/$t > $L/${n}_$l.log 2>&1; rc=$?; echo "$l $t rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/${n}_$l.log | tr '\n' ' ' | cut -c1-300)"
  [ $rc -eq 124 ] && { tail -3 $L/${n}_$l.log; exit 1; }
done; done
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_split KSA_TEST_FILTER="*score_jumps*" timeout 150 compute-sanitizer --tool racecheck $D/bin/test_cuda > $L/racecheck_split.log 2>&1; echo "split racecheck score_jumps rc=$? $(( $(date +%s)-s )) s: $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY|PASSED|FAILED' $L/racecheck_split.log | tr '\n' ' ' | cut -c1-300)"
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
for lib in $LIBS; do ncu_sum $lib anchor 1,32768,32768,32,8,128 bf16; done
for lib in head split; do ncu_sum $lib anchor 1,16384,16384,32,8,64 bf16; ncu_sum $lib anchor 1,16384,16384,32,8,256 bf16; done
J=$OUT/ab.jsonl
run() { KSA_PLUGIN_PATH=$D/lib_$1 timeout 30 $B --device cuda:0 --shape $3 --mode $2 --phase prefill --dtype $4 --max-measure-ms 400 --tag $1 --out $J --append > /dev/null 2>> $L/bench.err; }
for round in 1 2 3; do for lib in $LIBS; do
  for s in "1,32768,32768,32,8,128 bf16" "1,32768,32768,32,8,128 f16" "1,16384,16384,32,8,128 bf16"; do run $lib anchor $s; done
  if [ $lib = head ] || [ $lib = split ]; then
    for s in "1,16384,16384,32,8,64 bf16" "1,16384,16384,32,8,256 bf16" "1,16384,16384,32,32,128 bf16"; do run $lib anchor $s; done
  fi
  if [ $round = 1 ] || [ $lib = head ]; then run $lib dense "1,32768,32768,32,8,128 bf16"; fi
done; done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    sh=d["shape"]
    r[((d["mode"], sh["Lk"], sh["Hkv"], sh["D"], d["dtype"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b = r[(k, "head")]
    line = f"{k[0]} prefill L{k[1]} Hkv{k[2]} D{k[3]} {k[4]}: head {min(b):.3f} ({max(b):.3f})" if b else str(k)
    for t in ("split",):
        p = r[(k, t)]
        if b and p: line += f"  {t} {min(p):.3f} ({max(p):.3f}) {min(p)/min(b):.3f}"
    print(line)
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
