# call 3 (carry .carry/cuda, .carry/devbin; lib_head = the CUDA plugin of HEAD): dense decode B64 Lk32K,
# B64 Lk8K, B16 Lk32K, bf16 and f16, peer_torch's timing (L2 flushed, CUDA events, cuDNN in the same
# process), three rounds alternating four configurations of the split count.
set -u
R=bench/results/2026-12-02-s32/dev/call1 # its peer_cfg.py (bench/peer_torch.py with KSA_DEV_CONFIG)
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD head || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_head KSA_LIBRARY=$KSA_DEV/core/libksa.so
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
CFGS="builtin decode_splits=4 decode_splits=4,decode_cluster=2 decode_splits=2,decode_cluster=2"
for r in 1 2 3; do
  for c in $CFGS; do
    [ $(($(date +%s)-t0)) -gt 380 ] && break 2
    cfg=$c; [ $c = builtin ] && cfg=""
    KSA_DEV_CONFIG=$cfg timeout 90 python3 $R/peer_cfg.py --device cuda --dtype bf16,f16 --modes dense \
      --shape 64,1,32768,32,8,128 --shape 64,1,8192,32,8,128 --shape 16,1,32768,32,8,128 \
      --out $OUT/peer.jsonl --append >>$OUT/peer.log 2>&1
    echo "{\"cfg\":\"$c\",\"round\":$r,\"end\":true}" >>$OUT/peer.jsonl
    echo "round $r $c ($(($(date +%s)-t0)) s)" >>$S
  done
done
python3 - $OUT/peer.jsonl >>$S 2>&1 <<'PY'
import json, statistics, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
ksa, peer, pend = collections.defaultdict(list), collections.defaultdict(list), []
for r in rows:
    if r.get("end"):
        for x in pend:
            sh = x["shape"]; key = (r["cfg"], x["dtype"], sh["B"], sh["Lk"])
            ksa[key].append(x["median_ms"])
            if x.get("peer_ms"): peer[(x["dtype"], sh["B"], sh["Lk"])].append(x["peer_ms"])
        pend = []
    elif r.get("device") == "cuda:0" and r.get("median_ms"):
        pend.append(r)
for key in sorted(ksa):
    b = ksa.get(("builtin",) + key[1:])
    m, mb = statistics.median(ksa[key]), statistics.median(b) if b else None
    p = statistics.median(peer[key[1:]]) if peer.get(key[1:]) else None
    print("%-36s %-5s B%-3d Lk%-6d ksa ms %s median %.4f  vs built-in %.3fx  vs cuDNN %.3fx" % (key[0], key[1], key[2], key[3],
          [round(x, 4) for x in ksa[key]], m, mb / m if mb else 0, p / m if p else 0))
PY
echo "done ($(($(date +%s)-t0)) s)" | tee -a $S
