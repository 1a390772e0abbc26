# call 6 (carry .carry/cuda, .carry/devbin; lib_head): the Paged row's worst point, dense decode B1
# Lk32K bf16 in pages of 16 (1.07x of contiguous in the last table). The contiguous class runs a
# shipped tuned entry (decode_stages=2, 1.06x over its built-in); the paged classes have none. ksa-tune
# --paged searches the paged class (page size 16), then peer_torch.py (L2 flushed, as the table)
# times the built-in plan, the tuner's winner in pages of 16 and contiguous, three rounds.
set -u
R=bench/results/2026-12-02-s32/dev/call1 # its peer_cfg.py; the call itself ran an identical copy kept in this folder then
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD head || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_head KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
KSA_TUNE_CACHE=$OUT/tune-cache.txt timeout 150 $B/ksa-tune --device cuda:0 --op dense.decode --dtype bf16 --paged \
  --shape B=1,Hq=32,Hkv=8,D=128,L=32768 --budget 110 --cache $OUT/tune-cache.txt >$OUT/tune.log 2>&1
echo "ksa-tune rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
tail -12 $OUT/tune.log >>$S
grep -v "^#" $OUT/tune-cache.txt >>$S 2>/dev/null
WIN=$(grep -v "^#" $OUT/tune-cache.txt 2>/dev/null | awk -F'\t' 'NF>=6 && $4!="builtin" {print $4}' | tail -1)
echo "winner: ${WIN:-builtin}" | tee -a $S
for r in 1 2 3; do
  for v in builtin win; do
    cfg=""; [ $v = win ] && cfg=$WIN
    [ $v = win ] && [ -z "$WIN" ] && continue
    KSA_DEV_CONFIG=$cfg timeout 60 python3 $R/peer_cfg.py --device cuda --dtype bf16 --page-size 16 --modes dense \
      --shape 1,1,32768,32,8,128 --out $OUT/peer-$v-p16.jsonl --append >>$OUT/peer.log 2>&1
  done
  timeout 60 python3 $R/peer_cfg.py --device cuda --dtype bf16 --modes dense --shape 1,1,32768,32,8,128 \
    --out $OUT/peer-contig.jsonl --append >>$OUT/peer.log 2>&1
  echo "round $r ($(($(date +%s)-t0)) s)" | tee -a $S
done
python3 - $OUT >>$S 2>&1 <<'PY'
import glob, json, statistics, sys
for f in sorted(glob.glob(sys.argv[1] + "/peer-*.jsonl")):
    ms = [json.loads(l) for l in open(f)]
    ms = [r for r in ms if r.get("device") != "cpu" and r.get("mode") == "dense" and r.get("median_ms")]
    k = [r["median_ms"] * 1000 for r in ms]
    p = [r["peer_ms"] * 1000 for r in ms if r.get("peer_ms")]
    if k: print(f.split("/")[-1], "ksa us", [round(x, 1) for x in k], "median", round(statistics.median(k), 1),
                "| cuDNN us median", round(statistics.median(p), 1) if p else None)
PY
echo "done ($(($(date +%s)-t0)) s)" | tee -a $S
