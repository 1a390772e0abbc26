#!/bin/bash
# s27 call 1: lib_lse (the lse pass exponentiates against each lane's running base, no per-step maxima) and
# lib_both (lib_lse plus the flash pass's conditional O rescale) against lib_base (HEAD dd0aa42): tests with the
# new score-jump case, Nsight Compute per kernel (anchor L32K, dense L16K), alternating rounds of anchor, dense
# and reuse prefill
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
LIBS="base lse both"
for l in $LIBS; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
for l in lse both base; do
  s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_$l KSA_TEST_FILTER="*score_jumps*" timeout 60 $D/bin/test_cuda > $L/jumps_$l.log 2>&1; rc=$?
  echo "$l score_jumps (full) rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |failed|FAIL' $L/jumps_$l.log | tr '\n' ' ' | cut -c1-300)"
done
for l in lse both; do for t in test_cuda "test_backends --devices cuda:0"; do
  n=$(echo $t | cut -d' ' -f1)
  s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_$l KSA_TEST_QUICK=1 timeout 60 $D/bin/$t > $L/${n}_$l.log 2>&1; rc=$?; echo "$l $t rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/${n}_$l.log | tr '\n' ' ' | cut -c1-300)"
  [ $rc -eq 124 ] && { tail -3 $L/${n}_$l.log; exit 1; }
done; done
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
for lib in base both; do ncu_sum $lib dense 1,16384,16384,32,8,128 f16; ncu_sum $lib dense 1,16384,16384,32,8,64 f16; done
J=$OUT/ab.jsonl
run() { KSA_PLUGIN_PATH=$D/lib_$1 timeout 30 $B --device cuda:0 --shape $3 --mode $2 --phase prefill --dtype $4 --max-measure-ms 500 --tag $1 --out $J --append > /dev/null 2>> $L/bench.err; }
for round in 1 2 3; do for lib in $LIBS; do
  for s in "1,32768,32768,32,8,128 bf16" "1,32768,32768,32,8,128 f16" "1,16384,16384,32,8,128 bf16" "1,16384,16384,32,8,64 bf16" "1,16384,16384,32,8,256 bf16" "1,16384,16384,32,32,128 bf16"; do
    run $lib anchor $s
  done
  if [ $lib != lse ]; then
    for s in "1,16384,16384,32,8,128 f16" "1,16384,16384,32,8,128 bf16" "1,16384,16384,32,8,64 f16" "1,16384,16384,32,8,256 f16" "1,16384,16384,32,32,128 bf16"; do run $lib dense $s; done
    run $lib reuse 1,32768,32768,32,8,128 bf16
  fi
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
    b = r[(k, "base")]
    line = f"{k[0]} prefill L{k[1]} Hkv{k[2]} D{k[3]} {k[4]}: base {min(b):.3f} ({max(b):.3f})" if b else str(k)
    for t in ("lse", "both"):
        p = r[(k, t)]
        if b and p: line += f"  {t} {min(p):.3f} ({max(p):.3f}) {min(p)/min(b):.3f}"
    print(line)
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
