# call 5 (carry .carry/cuda, .carry/devbin; lib_pt = HEAD's CUDA plugin, GPU code of b91841e): the
# Paged row's B1 points under the tunables, peer_torch timing (bf16, two rounds, medians): dense
# decode B1 Lk8K / Lk32K in pages of 16 (built-in: the affine paged copies in 16-key chunks, 16 splits
# in clusters) against TMA in 16-key chunks (one box per page) with 8 / 16 splits, TMA in 32-key
# chunks (page by page) and contiguous; reuse decode B1 Lk32K in pages of 64 against 16-key chunks.
set -u
R=bench/results/2026-12-02-s32/dev/call1
. scripts/device/device-common.sh
ksa_dev_libs $PWD pt || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so KSA_PLUGIN_PATH=$KSA_DEV/lib_pt
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
run_peer() { # tag config [extra args...]
  local tag=$1 cfg=$2; shift 2
  KSA_DEV_CONFIG=$cfg timeout 120 python3 $R/peer_cfg.py --device cuda --dtype bf16 "$@" --out $OUT/peer-$tag.jsonl --append >>$OUT/peer.log 2>&1
}
SH="--shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128"
for r in 1 2; do
  run_peer d-contig "" --modes dense $SH
  run_peer d-p16-builtin "" --modes dense --page-size 16 $SH
  run_peer d-p16-tma16-s8 "decode_kernel=2,decode_chunk=16,decode_splits=8,decode_cluster=2" --modes dense --page-size 16 $SH
  run_peer d-p16-tma16-s16 "decode_kernel=2,decode_chunk=16,decode_splits=16,decode_cluster=2" --modes dense --page-size 16 $SH
  run_peer d-p16-tma32-s8 "decode_kernel=2,decode_chunk=32,decode_splits=8,decode_cluster=2" --modes dense --page-size 16 $SH
  run_peer r-contig "" --modes reuse --shape 1,1,32768,32,8,128
  run_peer r-p64-builtin "" --modes reuse --page-size 64 --shape 1,1,32768,32,8,128
  run_peer r-p64-c32 "decode_chunk=32" --modes reuse --page-size 64 --shape 1,1,32768,32,8,128
  run_peer r-p64-c16-s16 "decode_chunk=16,decode_splits=16,decode_cluster=2" --modes reuse --page-size 64 --shape 1,1,32768,32,8,128
  echo "round $r ($(($(date +%s)-t0)) s)" >>$S
  [ $(($(date +%s)-t0)) -gt 300 ] && break
done
python3 - $OUT >>$S 2>&1 <<'PY'
import glob, json, statistics, sys, collections
for f in sorted(glob.glob(sys.argv[1] + "/peer-*.jsonl")):
    d = collections.defaultdict(list)
    for l in open(f):
        r = json.loads(l)
        if r.get("device", "").startswith("cuda") and r.get("median_ms") and "peer" in r:
            d[(r["mode"], r["shape"]["B"], r["shape"]["Lk"])].append(r["median_ms"] * 1000)
    for k, v in sorted(d.items(), key=str):
        print(f.split("/")[-1][5:-6], k, [round(x, 1) for x in v], "median", round(statistics.median(v), 1))
PY
grep -iE "error|unsupported|invalid" $OUT/peer.log | sort | uniq -c | head -5 >>$S
echo "done ($(($(date +%s)-t0)) s)" >>$S
rm -f $OUT/peer-*.jsonl
cat $S
