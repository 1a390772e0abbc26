# call 1 (carry .carry/cuda, .carry/devbin; lib_pt = the CUDA plugin of HEAD b91841e, lib_fz = the
# fused anchor decode): (1) test_cuda whole with lib_fz; (2) the new test under memcheck and racecheck
# (quick set); (3) peer_torch-style timing, two rounds alternating the plugins, bf16: anchor decode
# B1 Lk8K / Lk32K, B2 Lk8K, B1 Lk8K in pages of 16, and dense B1 Lk8K (the P3d denominator, unchanged).
set -u
R=bench/results/2026-12-02-s32/dev/call1 # its peer_cfg.py (bench/peer_torch.py with KSA_DEV_CONFIG)
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD pt fz || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_fz timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda whole (fz) rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "FAILED|failed|PASSED|fused" $OUT/test_cuda.log | head -20 >>$S
for tool in memcheck racecheck; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_fz KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_anchor_fused' timeout 150 \
    compute-sanitizer --tool $tool --error-exitcode 9 $B/test_cuda >$OUT/san-$tool.log 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
done
run_peer() { # tag plugin [extra args...]
  local tag=$1 lib=$2; shift 2
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$lib timeout 120 python3 $R/peer_cfg.py --device cuda --dtype bf16 \
    "$@" --out $OUT/peer-$tag.jsonl --append >>$OUT/peer.log 2>&1
}
for r in 1 2; do
  [ $(($(date +%s)-t0)) -gt 480 ] && { echo "out of time at round $r" >>$S; break; }
  for v in pt fz; do
    run_peer $v-contig $v --modes anchor --shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128 --shape 2,1,8192,32,8,128
    run_peer $v-p16 $v --modes anchor --page-size 16 --shape 1,1,8192,32,8,128
  done
  [ $r = 1 ] && run_peer dense-contig fz --modes dense --shape 1,1,8192,32,8,128
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
              "cudnn", [round(x, 1) for x in pe[k]], "median", round(statistics.median(pe[k]), 1))
PY
echo "done ($(($(date +%s)-t0)) s)" | tee -a $S
cat $S
