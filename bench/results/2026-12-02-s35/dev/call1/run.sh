# call 1 (carry .carry/cuda, .carry/devbin; lib_base = the CUDA plugin of HEAD 5e250ed, lib_fused = the
# cluster Top-k attending its selected keys): (1) test_cuda at full size with lib_fused; (2) memcheck,
# racecheck and synccheck of the anchor-decode Top-k tests (quick); (3) peer_torch-style timing,
# three alternating rounds: anchor and dense decode B1 Lk8K / Lk32K bf16 (base, fused,
# fused with anchor_fused_sparse=1), anchor B2 Lk32K and B1 Lk32K in pages of 16; (4) Nsight Compute
# per-kernel sums of anchor decode B1 Lk8K, base and fused.
set -u
R=bench/results/2026-12-02-s32/dev/call1 # its peer_cfg.py (bench/peer_torch.py with KSA_DEV_CONFIG)
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD base fused || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_fused timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "FAILED|failed|PASSED" $OUT/test_cuda.log | head -20 >>$S
for tool in memcheck racecheck synccheck; do
  extra=""; [ $tool = synccheck ] && extra="--num-cuda-barriers 65536"
  KSA_PLUGIN_PATH=$KSA_DEV/lib_fused KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_topk_*' timeout 150 \
    compute-sanitizer --tool $tool $extra --error-exitcode 9 $B/test_cuda >$OUT/san-$tool.log 2>&1
  echo "$tool rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED" $OUT/san-$tool.log | head -5 >>$S
done
run_peer() { # tag plugin config [extra args...]
  local tag=$1 lib=$2 cfg=$3; shift 3
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$lib KSA_DEV_CONFIG=$cfg timeout 90 python3 $R/peer_cfg.py --device cuda --dtype bf16 \
    "$@" --out $OUT/peer-$tag.jsonl --append >>$OUT/peer.log 2>&1
}
for r in 1 2 3; do
  [ $(($(date +%s)-t0)) -gt 420 ] && { echo "out of time at round $r" >>$S; break; }
  for v in base fused sparse; do
    lib=$v; cfg=""; [ $v = sparse ] && { lib=fused; cfg=anchor_fused_sparse=1; }
    run_peer $v $lib "$cfg" --modes anchor,dense --shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128 --shape 2,1,32768,32,8,128
    run_peer $v-p16 $lib "$cfg" --modes anchor --page-size 16 --shape 1,1,32768,32,8,128
  done
  echo "round $r ($(($(date +%s)-t0)) s)" >>$S
done
python3 - $OUT >>$S 2>&1 <<'PY'
import glob, json, statistics, sys, collections
for f in sorted(glob.glob(sys.argv[1] + "/peer-*.jsonl")):
    d = collections.defaultdict(list)
    for l in open(f):
        r = json.loads(l)
        if r.get("device", "").startswith("cuda") and r.get("median_ms") and "peer" in r:
            d[(r["mode"], r["dtype"], r["shape"]["B"], r["shape"]["Lk"])].append(r["median_ms"] * 1000)
    for k, v in sorted(d.items(), key=str):
        print(f.split("/")[-1], k, "us", [round(x, 1) for x in v], "median", round(statistics.median(v), 1))
PY
for tag in base fused; do
  [ $(($(date +%s)-t0)) -gt 520 ] && break
  ksa_dev_ncu_sum $PWD $tag anchor 1,1,8192,32,8,128 bf16 decode >>$S 2>&1
done
echo "done ($(($(date +%s)-t0)) s)" | tee -a $S
