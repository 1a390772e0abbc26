#!/bin/bash
# s20 call 3: lib_pin2 (the pin kept only where call 1 measured it faster: the pooled pass at every head
# dimension, the flash step at D 256; the other kernels' SASS is byte-identical to HEAD's): tests, three
# alternating rounds base / pin2
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in base pin2; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_pin2
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-200)"
done
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2 3; do
  for lib in base pin2; do
    for s in "1,16384,16384 anchor bf16" "1,32768,32768 anchor bf16" "1,32768,32768 anchor f16" "1,16384,16384 anchor bf16 64" "1,16384,16384 anchor bf16 256" \
             "1,16384,16384 dense bf16 256" "1,16384,16384 dense f16 256" "1,32768,32768 reuse bf16 256" "1,16384,16384 dense bf16"; do
      set -- $s
      KSA_PLUGIN_PATH=$D/lib_$lib timeout 60 $B --device cuda:0 --shape $1,32,8,${4:-128} --mode $2 --phase prefill --dtype $3 \
        --max-measure-ms 1000 --tag $lib --out $J --append > /dev/null 2>> $L/bench.err
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
    b, p = r.get((k, "base"), []), r.get((k, "pin2"), [])
    if b and p: print(f"{k[0]:7s} {k[1]:5s} L{k[2]:6d} D{k[3]:3d}: base {min(b):8.3f} ({max(b):.3f})  pin2 {min(p):8.3f} ({max(p):.3f})  pin2/base {min(p)/min(b):.3f}")
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
