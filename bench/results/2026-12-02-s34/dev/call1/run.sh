# call 1 (carry .carry/cuda, .carry/devbin; lib_head = the CUDA plugin of HEAD, core library and
# ksa-tune with the back-to-back sample timing): (a) ksa-tune --preset standard over the decode ops
# bf16, then --compare (P9) of that cache; (b) --paged dense and reuse decode B1 Lk32K, then their
# --compare; (c) peer_torch-style timing (L2 flushed, three rounds) of each B1 winner vs built-in.
set -u
R=bench/results/2026-12-02-s32/dev/call1 # its peer_cfg.py (bench/peer_torch.py with KSA_DEV_CONFIG)
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD head || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_head KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
OPS=dense.decode,anchor.decode,reuse.decode
timeout 200 $B/ksa-tune --device cuda:0 --op $OPS --dtype bf16 --preset standard --budget 150 --quiet \
  --cache $OUT/cache.txt >$OUT/tune.txt 2>&1
echo "tune rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
timeout 120 $B/ksa-tune --device cuda:0 --op $OPS --dtype bf16 --preset standard --compare --json --quiet \
  --cache $OUT/cache.txt >$OUT/compare.jsonl 2>>$OUT/tune.txt
echo "compare rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
timeout 100 $B/ksa-tune --device cuda:0 --op dense.decode,reuse.decode --dtype bf16 --paged \
  --shape B=1,Hq=32,Hkv=8,D=128,L=32768 --budget 60 --quiet --cache $OUT/cache-paged.txt >$OUT/tune-paged.txt 2>&1
echo "tune paged rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
timeout 60 $B/ksa-tune --device cuda:0 --op dense.decode,reuse.decode --dtype bf16 --paged \
  --shape B=1,Hq=32,Hkv=8,D=128,L=32768 --compare --json --quiet --cache $OUT/cache-paged.txt >$OUT/compare-paged.jsonl 2>>$OUT/tune-paged.txt
echo "compare paged rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -v '^ksa-tune-cache' $OUT/tune.txt $OUT/tune-paged.txt | grep -E 'winner|kept' | cut -c1-400 >>$S
# (c) B1 winners under peer_torch's timing
for f in cache.txt cache-paged.txt; do
  grep -v '^#' $OUT/$f 2>/dev/null | awk -F'\t' 'NF>=6 && $4!="builtin" && $3 ~ /;b=1;/ {print $3 "\t" $4}'
done >$OUT/winners.txt
while IFS=$'\t' read -r cls cfg; do
  [ $(($(date +%s)-t0)) -gt 430 ] && { echo "out of time before $cls" >>$S; break; }
  mode=$(echo "$cls" | sed -E 's/.*op=([a-z]+)\.decode.*/\1/'); lk=$(echo "$cls" | sed -E 's/.*lk=([0-9]+).*/\1/')
  ps=""; echo "$cls" | grep -q 'layout=paged' && ps="--page-size 16"
  tag=$mode-$lk${ps:+-p16}
  for r in 1 2 3; do
    for v in builtin win; do
      c=""; [ $v = win ] && c=$cfg
      KSA_DEV_CONFIG=$c timeout 60 python3 $R/peer_cfg.py --device cuda --dtype bf16 $ps --modes $mode \
        --shape 1,1,$lk,32,8,128 --out $OUT/peer-$tag-$v.jsonl --append >>$OUT/peer.log 2>&1
    done
  done
  echo "peer $tag ($cfg) done ($(($(date +%s)-t0)) s)" >>$S
done <$OUT/winners.txt
python3 - $OUT >>$S 2>&1 <<'PY'
import glob, json, statistics, sys
for f in sorted(glob.glob(sys.argv[1] + "/peer-*.jsonl")):
    ms = [json.loads(l) for l in open(f)]
    ms = [r for r in ms if r.get("device") != "cpu" and r.get("median_ms")]
    k = [r["median_ms"] * 1000 for r in ms]
    if k: print(f.split("/")[-1], "ksa us", [round(x, 1) for x in k], "median", round(statistics.median(k), 1))
for f in ("compare.jsonl", "compare-paged.jsonl"):
    for l in open(sys.argv[1] + "/" + f):
        try: r = json.loads(l)
        except Exception: continue
        print(f, r.get("op"), "B%s Lk%s" % (r.get("B"), r.get("Lk")), r.get("source"), r.get("config"), r.get("builtin_ms"), r.get("tuned_ms"), r.get("ratio"), r.get("ratio_low"), r.get("ratio_high"), r.get("calls_per_round"), r.get("calls_per_sample"), r.get("verdict"))
PY
echo "done ($(($(date +%s)-t0)) s)" | tee -a $S
