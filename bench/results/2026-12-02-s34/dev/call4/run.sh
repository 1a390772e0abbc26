# call 4 (carry .carry/cuda, .carry/devbin; lib_head = HEAD's CUDA plugin, lib_new = 4 splits of at
# most 8192 keys for dense decode by cp.async over more than one wave of lists): tests with the new
# plugin, then peer_torch's timing, three rounds alternating the two plugins.
set -u
R=bench/results/2026-12-02-s32/dev/call1 # its peer_cfg.py (bench/peer_torch.py with KSA_DEV_CONFIG)
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD head new || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_new KSA_TEST_QUICK=1 timeout 150 $B/test_cuda >$OUT/test_cuda.log 2>&1
rc=$?; grep -E "workspace:|long_lists" $OUT/test_cuda.log >>$S
echo "test_cuda rc=$rc ($(tail -3 $OUT/test_cuda.log | tr '\n' ' '))" >>$S
KSA_PLUGIN_PATH=$KSA_DEV/lib_new timeout 150 $B/test_backends --devices cuda:0 >$OUT/test_backends.log 2>&1
echo "test_backends rc=$? ($(tail -3 $OUT/test_backends.log | tr '\n' ' ')) ($(($(date +%s)-t0)) s)" >>$S
for r in 1 2 3; do
  for lib in head new; do
    [ $(($(date +%s)-t0)) -gt 400 ] && break 2
    export KSA_PLUGIN_PATH=$KSA_DEV/lib_$lib
    timeout 120 python3 $R/peer_cfg.py --device cuda --dtype bf16,f16 --modes dense \
      --shape 64,1,32768,32,8,128 --shape 64,1,16384,32,8,128 --shape 32,1,32768,32,8,128 \
      --shape 64,1,8192,32,8,128 --shape 16,1,32768,32,8,128 --out $OUT/peer.jsonl --append >>$OUT/peer.log 2>&1
    echo "{\"cfg\":\"$lib\",\"round\":$r,\"end\":true}" >>$OUT/peer.jsonl
    for ps in 16 64; do
      timeout 60 python3 $R/peer_cfg.py --device cuda --dtype bf16 --modes dense --page-size $ps \
        --shape 64,1,32768,32,8,128 --out $OUT/peer.jsonl --append >>$OUT/peer.log 2>&1
      echo "{\"cfg\":\"$lib p$ps\",\"round\":$r,\"end\":true}" >>$OUT/peer.jsonl
    done
    echo "round $r $lib ($(($(date +%s)-t0)) s)" >>$S
  done
done
python3 - $OUT/peer.jsonl >>$S 2>&1 <<'PY'
import json, statistics, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
ksa, peer, pend = collections.defaultdict(list), collections.defaultdict(list), []
for r in rows:
    if r.get("end"):
        for x in pend:
            sh = x["shape"]; lay = r["cfg"].split(" ")[1] if " " in r["cfg"] else ""
            key = (r["cfg"].split(" ")[0], x["dtype"], sh["B"], sh["Lk"], lay)
            ksa[key].append(x["median_ms"])
            if x.get("peer_ms"): peer[key[1:]].append(x["peer_ms"])
        pend = []
    elif r.get("device") == "cuda:0" and r.get("median_ms"):
        pend.append(r)
for key in sorted(ksa, key=lambda k: (k[1:], k[0])):
    b = ksa.get(("head",) + key[1:])
    m, mb = statistics.median(ksa[key]), statistics.median(b) if b else None
    p = statistics.median(peer[key[1:]]) if peer.get(key[1:]) else None
    print("%-5s %-5s B%-3d Lk%-6d %-4s ksa ms %s median %.4f  vs head %.3fx  vs cuDNN %.3fx" % (key[0], key[1], key[2], key[3], key[4],
          [round(x, 4) for x in ksa[key]], m, mb / m if mb else 0, p / m if p else 0))
PY
echo "done ($(($(date +%s)-t0)) s)" | tee -a $S
