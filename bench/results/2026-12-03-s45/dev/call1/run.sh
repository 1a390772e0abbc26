#!/usr/bin/env bash
# Forty-fifth session, call 1 (carry .carry/cuda, .carry/devbin; lib_el = the landed CUDA plugin):
# dense and anchor decode of few lists at 4K-16K keys, the built-in plans against the configuration
# the H200's tuner stored for anchor decode B1 Lk8K (T: 16 splits, every key by cp.async in 16-key
# chunks, one stage, the combine kernel) and T in two stages (T2). ksa-bench (the grid's timing) and
# peer_torch (L2 flushed, P4's timing; contiguous and pages of 16 / 64), three alternating rounds.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD el || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
T="decode_splits=16,decode_stages=1,decode_kernel=3,decode_chunk=16,decode_cluster=0"
T2="decode_splits=16,decode_stages=2,decode_kernel=3,decode_chunk=16,decode_cluster=0"
t0=$(date +%s)
for r in 1 2 3; do
  for c in builtin T T2; do
    [ $(($(date +%s) - t0)) -gt 230 ] && break 2
    cfg=""; [ $c = T ] && cfg=$T; [ $c = T2 ] && cfg=$T2
    KSA_PLUGIN_PATH=$KSA_DEV/lib_el timeout 60 $KSA_DEV/bin/ksa-bench --device cuda:0 --phase decode --mode dense,anchor \
      --dtype bf16 --shape 1,1,8192,32,8,128 --shape 2,1,8192,32,8,128 --shape 1,1,4096,32,8,128 \
      --shape 1,1,16384,32,8,128 ${cfg:+--config $cfg} --tag "$c" --out $OUT/bench.jsonl --append >>$OUT/bench.log 2>&1
    for ps in 0 16 64; do
      ksa_dev_peer $PWD el $OUT/peer.jsonl --tag "$c" --config "$cfg" --device cuda --dtype bf16 --modes dense,anchor \
        --page-size $ps --shape 1,1,8192,32,8,128 --shape 2,1,8192,32,8,128 --shape 1,1,4096,32,8,128 >>$OUT/peer.log 2>&1
    done
    echo "round $r $c ($(($(date +%s) - t0)) s)" >>$OUT/summary.txt
  done
done
python3 - $OUT/bench.jsonl <<'PY' | tee -a $OUT/summary.txt
import json, sys, statistics as st
d = {}
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("status") != "ok": continue
    s = j["shape"]
    d.setdefault((j["mode"], j["dtype"], s["B"], s["Lk"]), {}).setdefault(j["tag"], []).append(1000 * j["median_ms"])
for k in sorted(d):
    b = d[k].get("builtin", [])
    line = f"ksa-bench {k[0]:6s} {k[1]:4s} B{k[2]} Lk{k[3]:<5d}"
    for t in ("builtin", "T", "T2"):
        x = d[k].get(t, [])
        if x: line += f"  {t} {st.median(x):7.2f} us" + (f" ({st.median(b)/st.median(x):.3f}x)" if b and t != "builtin" else "")
    print(line)
PY
python3 bench/dev_ab.py $OUT/peer.jsonl --base builtin | tee -a $OUT/summary.txt
