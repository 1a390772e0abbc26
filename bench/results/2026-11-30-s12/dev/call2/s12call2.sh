#!/bin/bash
# twelfth session, device call 2: persistent sm_90a prefill grid (lib_p1): tests with it on and off,
# A/B against HEAD (lib_fin), SASS spill sites
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH KSA_TUNE_CACHE=off
D=$R/.carry/devbin
for pv in 1 0; do
  export KSA_CUDA_PERSISTENT=$pv KSA_PLUGIN_PATH=$D/lib_p1
  s=$(date +%s); timeout 120 $D/bin/test_cuda > $OUT/test_cuda_p$pv.log 2>&1; echo "test_cuda persistent=$pv rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|PASSED|LINE" $OUT/test_cuda_p$pv.log | head -4
done
export KSA_CUDA_PERSISTENT=1
s=$(date +%s); timeout 100 $D/bin/test_cuda_graph > $OUT/test_cuda_graph.log 2>&1; echo "test_cuda_graph rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|PASSED" $OUT/test_cuda_graph.log | head -3
s=$(date +%s); timeout 120 $D/bin/test_backends --devices cuda:0 > $OUT/test_backends.log 2>&1; echo "test_backends rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|ktest grid" $OUT/test_backends.log | head -3
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2; do
  for v in head:lib_fin:0 p0:lib_p1:0 p1:lib_p1:1; do
    IFS=: read tag lib pv <<< "$v"
    for s in "1,16384,16384 dense bf16" "1,32768,32768 dense bf16" "1,16384,16384 anchor bf16" "1,32768,32768 anchor bf16" \
             "1,8192,8192 reuse f16" "1,16384,16384 reuse bf16" "1,32768,32768 reuse bf16"; do
      set -- $s
      KSA_CUDA_PERSISTENT=$pv KSA_PLUGIN_PATH=$D/$lib timeout 60 $B --device cuda:0 --shape $1,32,8,128 --mode $2 --phase prefill --dtype $3 \
        --max-measure-ms 1200 --tag $tag --out $J --append
    done
  done
done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    k = (d["mode"], d["dtype"], d["shape"]["Lq"])
    r[(k, d["tag"])].append(d["median_ms"])
keys = sorted({k for k, t in r})
for k in keys:
    h = min(r.get((k, "head"), [float("nan")]))
    line = f"{k[0]:7s} {k[1]:5s} L{k[2]:6d}: head {h:8.3f} ms"
    for t in ("p0", "p1"):
        v = min(r.get((k, t), [float("nan")]))
        line += f"  {t} {v:8.3f} ({v / h:5.3f})"
    print(line)
PY
CO=$(ls /usr/local/cuda/bin/cuobjdump 2>/dev/null || which cuobjdump)
$CO -sass $D/lib_p1/libksa_cuda.so 2>/dev/null | awk '/Function : .*k90_prefill/ {f=$0} /STL|LDL/ && f {print f " :: " $0}' | sed 's/  */ /g' > $OUT/spills.txt
wc -l $OUT/spills.txt; cut -c1-200 $OUT/spills.txt | grep "ILi128E13" | head -20
$CO -sass -fun '_Z11k90_prefillILi128E13__nv_bfloat16Li0EEv12ksa_gpu_args14CUtensorMap_stS2_iPfiili' $D/lib_p1/libksa_cuda.so > $OUT/k90_128_bf16_flash.sass 2>&1
wc -l $OUT/k90_128_bf16_flash.sass
