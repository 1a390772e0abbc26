# call 2 (carry .carry/cuda, .carry/devbin; lib_base = the CUDA plugin of baaba29 (= fcd3240's GPU code),
# lib_tk = the cluster Top-k with 1, 2, 4 or 8 CTAs per list, tunable anchor_topk_ctas (built in: 8)):
# (1) test_cuda quick, and its cluster Top-k test at full size; (2) memcheck, racecheck, synccheck of
# the Top-k tests (quick); (3) peer_torch-style timing, three rounds, bf16, anchor decode with each CTA
# count at B1 Lk8K / 16K / 32K, B2 Lk8K, B16 Lk8K; (4) Nsight Compute sums of anchor B1 Lk8K, 8 vs 1 CTA.
set -u
R=bench/results/2026-12-02-s32/dev/call1 # its peer_cfg.py (bench/peer_torch.py with KSA_DEV_CONFIG)
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD base tk || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_tk KSA_TEST_QUICK=1 timeout 150 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda quick rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
KSA_PLUGIN_PATH=$KSA_DEV/lib_tk KSA_TEST_FILTER='test_decode_topk_cluster_pools' timeout 100 $B/test_cuda >>$OUT/test_cuda.log 2>&1
echo "test_cuda cluster Top-k full rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "FAILED|failed|PASSED|FAIL " $OUT/test_cuda.log | head -20 >>$S
: >$OUT/san.log
for tool in memcheck racecheck synccheck; do
  extra=""; [ $tool = synccheck ] && extra="--num-cuda-barriers 65536"
  KSA_PLUGIN_PATH=$KSA_DEV/lib_tk KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_topk_*' timeout 150 \
    compute-sanitizer --tool $tool $extra --error-exitcode 9 $B/test_cuda >>$OUT/san.log 2>&1
  echo "$tool rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
done
grep -E "ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED" $OUT/san.log | head -12 >>$S
run_peer() { # tag plugin config [extra args...]
  local tag=$1 lib=$2 cfg=$3; shift 3
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$lib KSA_DEV_CONFIG=$cfg timeout 90 python3 $R/peer_cfg.py --device cuda --dtype bf16 \
    "$@" --out $OUT/peer-$tag.jsonl --append >>$OUT/peer.log 2>&1
}
for r in 1 2 3; do
  [ $(($(date +%s)-t0)) -gt 430 ] && { echo "out of time at round $r" >>$S; break; }
  run_peer c8 tk "" --modes anchor --shape 1,1,8192,32,8,128 --shape 1,1,16384,32,8,128 --shape 1,1,32768,32,8,128 \
    --shape 2,1,8192,32,8,128 --shape 16,1,8192,32,8,128
  run_peer c1 tk "anchor_topk_ctas=1" --modes anchor --shape 1,1,8192,32,8,128 --shape 2,1,8192,32,8,128 --shape 16,1,8192,32,8,128
  run_peer c2 tk "anchor_topk_ctas=2" --modes anchor --shape 1,1,8192,32,8,128 --shape 1,1,16384,32,8,128 --shape 2,1,8192,32,8,128
  run_peer c4 tk "anchor_topk_ctas=4" --modes anchor --shape 1,1,8192,32,8,128 --shape 1,1,16384,32,8,128 \
    --shape 1,1,32768,32,8,128 --shape 2,1,8192,32,8,128
  [ $r = 1 ] && run_peer base base "" --modes anchor,dense --shape 1,1,8192,32,8,128 --shape 2,1,8192,32,8,128
  echo "round $r ($(($(date +%s)-t0)) s)" >>$S
done
python3 - $OUT >>$S 2>&1 <<'PY'
import glob, json, statistics, sys, collections
for f in sorted(glob.glob(sys.argv[1] + "/peer-*.jsonl")):
    d = collections.defaultdict(list); pe = collections.defaultdict(list)
    for l in open(f):
        r = json.loads(l)
        if r.get("device", "").startswith("cuda") and r.get("median_ms") and "peer" in r:
            k = (r["mode"], r["dtype"], r["shape"]["B"], r["shape"]["Lk"])
            d[k].append(r["median_ms"] * 1000); pe[k].append((r.get("peer_ms") or 0) * 1000)
    for k, v in sorted(d.items(), key=str):
        print(f.split("/")[-1], k, "us", [round(x, 1) for x in v], "median", round(statistics.median(v), 1),
              "cudnn", [round(x, 1) for x in pe[k]])
PY
for c in 8 1; do
  [ $(($(date +%s)-t0)) -gt 540 ] && break
  KSA_PLUGIN_PATH=$KSA_DEV/lib_tk timeout 40 ncu --clock-control none --metrics gpu__time_duration.sum --csv \
    -k regex:'k90_|kg_|kc_' $B/ksa-bench --device cuda:0 --shape 1,1,8192,32,8,128 --mode anchor --phase decode \
    --dtype bf16 --repeats 1 --warmup 0 --config anchor_topk_ctas=$c 2>/dev/null |
    python3 bench/dev_ncu_sum.py --title "ctas $c anchor B1 Lk8K" >>$S 2>&1
done
echo "done ($(($(date +%s)-t0)) s)" | tee -a $S
cat $S
