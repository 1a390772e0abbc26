#!/bin/bash
# s22 call 4: lib_wide, kg_topk's cached lists selected by ksa_radix_select_wide (3 passes of 11/11/10 bits, a block-wide
# bin pick) with lib_tkd's switches and stop hooks: tests (built-in, and with KSA_DEV_TOPK_FIT=1 KSA_DEV_TOPK_THREADS=512),
# Nsight Compute per-launch Top-k times (stop points; fit512), alternating rounds against lib_rev (anchor prefill, anchor decode)
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in rev wide; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_wide
for v in "" "KSA_DEV_TOPK_FIT=1 KSA_DEV_TOPK_THREADS=512"; do
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); env $v timeout 100 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).log 2>&1; echo "[$v] $t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-200)"
done; done
KSA_TEST_QUICK=1 timeout 80 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $L/memcheck.log 2>&1; echo "memcheck test_cuda rc=$? $(grep -E 'ERROR SUMMARY' $L/memcheck.log | tail -1)"
KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_llama_class timeout 60 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda > $L/racecheck.log 2>&1; echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $L/racecheck.log | tail -1)"
B=$D/bin/ksa-bench
for v in "KSA_DEV_TOPK_STOP=1" "KSA_DEV_TOPK_STOP=2" "KSA_DEV_TOPK_STOP=0" "KSA_DEV_TOPK_FIT=1 KSA_DEV_TOPK_THREADS=512"; do
  env $v timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum --csv -k regex:kg_topk $B --device cuda:0 --shape 1,32768,32768,32,8,128 \
    --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 > $L/ncu.csv 2> $L/ncu.err
  python3 - $L/ncu.csv "$v" <<'PY'
import sys,csv
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print(sys.argv[2], 'no ncu rows'); sys.exit()
h=rows[0]; vi=h.index('Metric Value')
v=[float(r[vi].replace(',',''))/1000 for r in rows[1:]][:4]
print('wide [%s] Top-k launches L32K (us): %s | sum %.1f' % (sys.argv[2], ' '.join('%.1f'%x for x in v), sum(v)))
PY
done
J=$OUT/ab.jsonl
for round in 1 2 3; do
  for c in rev wide wfit; do
    lib=$c; v=""; [ $c = wfit ] && { lib=wide; v="KSA_DEV_TOPK_FIT=1 KSA_DEV_TOPK_THREADS=512"; }
    for s in "prefill 1,16384,16384,32,8,128" "prefill 1,32768,32768,32,8,128" "prefill 1,16384,16384,32,8,64" "decode 64,1,32768,32,8,128" "decode 1,1,32768,32,8,128" "decode 16,1,8192,32,8,128"; do
      set -- $s
      env $v KSA_PLUGIN_PATH=$D/lib_$lib timeout 60 $B --device cuda:0 --shape $2 --mode anchor --phase $1 --dtype bf16 \
        --max-measure-ms 600 --tag $c --out $J --append > /dev/null 2>> $L/bench.err
    done
  done
done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    sh=d["shape"]
    r[((d["phase"], sh["B"], sh["Lq"], sh["Lk"], sh["D"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b = r[(k, "rev")]
    print(f"anchor {k}: rev {min(b):.4f} ({max(b):.4f}) " + " ".join(f"{t} {min(r[(k,t)]):.4f} ({max(r[(k,t)]):.4f}) {min(r[(k,t)])/min(b):.3f}" for t in ("wide","wfit") if r[(k,t)]))
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
