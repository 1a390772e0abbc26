#!/bin/bash
# s27 call 2: lib_ni (the unit kernels take two work items per CTA: a long and a short one, the second's Q
# loaded while the first runs) against lib_lse (HEAD b53fd9e): tests (full prefill cases, test_backends full),
# racecheck / synccheck / memcheck of the score-jump case, Nsight Compute of the lse and pooled passes,
# three alternating rounds of anchor prefill
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
LIBS="lse ni"
for l in $LIBS; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
t0=$(date +%s)
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_ni KSA_TEST_FILTER="*llama*:*score_jumps*" timeout 120 $D/bin/test_cuda > $L/test_cuda_ni_full.log 2>&1; rc=$?
echo "ni test_cuda llama+jumps (full) rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |failed' $L/test_cuda_ni_full.log | tr '\n' ' ' | cut -c1-300)"
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_ni KSA_TEST_QUICK=1 timeout 60 $D/bin/test_cuda > $L/test_cuda_ni.log 2>&1; rc=$?
echo "ni test_cuda (quick) rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |failed' $L/test_cuda_ni.log | tr '\n' ' ' | cut -c1-300)"
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_ni timeout 150 $D/bin/test_backends --devices cuda:0 > $L/test_backends_ni.log 2>&1; rc=$?
echo "ni test_backends (full) rc=$rc $(( $(date +%s)-s )) s: $(grep -E 'ktest grid|failed' $L/test_backends_ni.log | tr '\n' ' ' | cut -c1-300)"
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_ni timeout 60 $D/bin/test_cuda_graph > $L/test_cuda_graph_ni.log 2>&1; rc=$?
echo "ni test_cuda_graph rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) ' $L/test_cuda_graph_ni.log | tr '\n' ' ')"
for tool in racecheck synccheck memcheck; do
  s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_ni KSA_TEST_QUICK=1 KSA_TEST_FILTER="*score_jumps*" timeout 150 compute-sanitizer --tool $tool $D/bin/test_cuda > $L/san_$tool.log 2>&1; rc=$?
  echo "ni $tool rc=$rc $(( $(date +%s)-s )) s: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED' $L/san_$tool.log | tr '\n' ' ' | cut -c1-200)"
done
echo "tests took $(( $(date +%s)-t0 )) s"
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
for lib in $LIBS; do ncu_sum $lib anchor 1,32768,32768,32,8,128 bf16; ncu_sum $lib anchor 1,16384,16384,32,8,64 bf16; ncu_sum $lib anchor 1,16384,16384,32,32,128 bf16; done
J=$OUT/ab.jsonl
run() { KSA_PLUGIN_PATH=$D/lib_$1 timeout 30 $B --device cuda:0 --shape $3 --mode $2 --phase prefill --dtype $4 --max-measure-ms 500 --tag $1 --out $J --append > /dev/null 2>> $L/bench.err; }
for round in 1 2 3; do for lib in $LIBS; do
  for s in "1,32768,32768,32,8,128 bf16" "1,32768,32768,32,8,128 f16" "1,16384,16384,32,8,128 bf16" "1,16384,16384,32,8,64 bf16" "1,16384,16384,32,8,256 bf16" "1,16384,16384,32,32,128 bf16" "4,8192,8192,32,8,128 bf16"; do
    run $lib anchor $s
  done
done; done
for lib in lse; do run $lib dense 1,32768,32768,32,8,128 bf16; run $lib dense 1,32768,32768,32,8,128 bf16; done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    sh=d["shape"]
    r[((d["mode"], sh["B"] if "B" in sh else sh.get("batch"), sh["Lk"], sh["Hkv"], sh["D"], d["dtype"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}, key=str):
    b = r[(k, "lse")]
    line = f"{k[0]} prefill B{k[1]} L{k[2]} Hkv{k[3]} D{k[4]} {k[5]}: lse {min(b):.3f} ({max(b):.3f})" if b else str(k)
    for t in ("ni",):
        p = r[(k, t)]
        if b and p: line += f"  {t} {min(p):.3f} ({max(p):.3f}) {min(p)/min(b):.3f}"
    print(line)
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
