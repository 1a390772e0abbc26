#!/bin/bash
# s22 call 1: lib_rev, the second review's build (696f1b0: k90_load_q / k90_fill_slot / k90_mask_max, k90_prepare;
# never run on the device): tests, memcheck, racecheck; two alternating rounds of anchor prefill against lib_fin
# (15b3eab, device-tested in s21 call 9); Nsight Compute per-kernel times of anchor and dense prefill L32K bf16 D128
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in fin rev; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_rev
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 100 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-200)"
done
KSA_TEST_QUICK=1 timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $L/memcheck.log 2>&1; echo "memcheck test_cuda rc=$? $(grep -E 'ERROR SUMMARY' $L/memcheck.log | tail -1)"
KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_llama_class timeout 60 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda > $L/racecheck.log 2>&1; echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $L/racecheck.log | tail -1)"
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2; do
  for lib in fin rev; do
    for s in "1,16384,16384,32,8,128" "1,32768,32768,32,8,128" "1,16384,16384,32,8,64" "1,16384,16384,32,8,256"; do
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
    r[((d["shape"]["Lq"], d["shape"]["D"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b, p = r[(k, "fin")], r[(k, "rev")]
    print(f"anchor bf16 L{k[0]} D{k[1]}: fin {min(b):.3f} ({max(b):.3f})  rev {min(p):.3f} ({max(p):.3f})  rev/fin {min(p)/min(b):.3f}")
PY
for m in anchor dense; do
  timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum --csv $B --device cuda:0 --shape 1,32768,32768,32,8,128 \
    --mode $m --phase prefill --dtype bf16 --repeats 2 --warmup 0 > $L/ncu_$m.csv 2> $L/ncu_$m.err
  python3 - $L/ncu_$m.csv $m <<'PY'
import sys,csv,collections
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print(sys.argv[2], 'no ncu rows'); sys.exit()
h=rows[0]; ki=h.index('Kernel Name'); vi=h.index('Metric Value')
d=collections.defaultdict(list)
for r in rows[1:]:
    try: d[r[ki][:60]].append(float(r[vi].replace(',','')))
    except: pass
for k,v in sorted(d.items()):
    v.sort(); print(sys.argv[2], 'L32K %-60s n=%d median %.1f us'%(k,len(v),v[len(v)//2]/1000))
PY
done
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
