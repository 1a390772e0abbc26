#!/bin/bash
# twelfth session, device call 10: sm_90a prefill epilogue staged through shared memory (lib_ep): tests, A/B against HEAD (lib_fin), sanitizers
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh; ksa_device_cmocka $R >/dev/null
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH KSA_TUNE_CACHE=off
D=$R/.carry/devbin
export KSA_PLUGIN_PATH=$D/lib_ep
s=$(date +%s); timeout 120 $D/bin/test_cuda > $OUT/test_cuda.log 2>&1; echo "test_cuda rc=$? $(( $(date +%s)-s )) s"; grep -E "PASSED|FAILED|LINE" $OUT/test_cuda.log | head -4
s=$(date +%s); timeout 100 $D/bin/test_cuda_graph > $OUT/test_cuda_graph.log 2>&1; echo "test_cuda_graph rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|PASSED" $OUT/test_cuda_graph.log | head -3
s=$(date +%s); timeout 120 $D/bin/test_backends --devices cuda:0 > $OUT/test_backends.log 2>&1; echo "test_backends rc=$? $(( $(date +%s)-s )) s"; grep -E "FAIL|ktest grid" $OUT/test_backends.log | head -3
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2 3; do
  for v in head:lib_fin ep:lib_ep; do
    IFS=: read tag lib <<< "$v"
    for s in "1,16384,16384 dense bf16" "1,16384,16384 dense f16" "1,32768,32768 dense bf16" "1,16384,16384 anchor bf16" \
             "1,8192,8192 reuse f16" "1,16384,16384 reuse bf16" "1,32768,32768 reuse bf16" "1,32768,32768 reuse f16" \
             "1,16384,16384 dense bf16 64" "1,16384,16384 dense bf16 256" "1,32768,32768 reuse bf16 256"; do
      set -- $s
      KSA_PLUGIN_PATH=$D/$lib timeout 60 $B --device cuda:0 --shape $1,32,8,${4:-128} --mode $2 --phase prefill --dtype $3 \
        --max-measure-ms 1000 --tag $tag --out $J --append
    done
  done
done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    k = (d["mode"], d["dtype"], d["shape"]["Lq"], d["shape"]["D"])
    r[(k, d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    h = min(r.get((k, "head"), [float("nan")])); e = min(r.get((k, "ep"), [float("nan")]))
    print(f"{k[0]:7s} {k[1]:5s} L{k[2]:6d} D{k[3]:3d}: head {h:8.3f} ms  ep {e:8.3f} ({e / h:5.3f})   rounds head {sorted(r[(k,'head')])} ep {sorted(r[(k,'ep')])}")
PY
said() { echo "compute-sanitizer $1 ${2%% *} rc=$3: $4"; }
ksa_cuda_sanitize $D $OUT 50 said
