# call 1 (carry .carry/cuda, .carry/devbin; lib_base = the CUDA plugin of HEAD 97ed585 (GPU code
# unchanged since baaba29), lib_pt = the tensor-core decode with the page-table row copied into
# shared memory where the grid is one wave): (1) test_cuda whole with lib_pt; (2) the new case and
# the small-pages case under memcheck and racecheck; (3) peer_torch-style timing, three rounds
# alternating the plugins, bf16: dense / anchor / reuse decode B1 Lk8K and Lk32K in pages of 64 and
# 16 and contiguous (unchanged path, a control), reuse B16 Lk32K in pages of 16 (path not taken).
set -u
R=bench/results/2026-12-02-s32/dev/call1 # its peer_cfg.py (bench/peer_torch.py with KSA_DEV_CONFIG)
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD base pt || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_pt timeout 200 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda whole (pt) rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "FAILED|failed|PASSED|page-table" $OUT/test_cuda.log | head -10 >>$S
for tool in memcheck racecheck; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_pt KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_page_table_copy' timeout 120 \
    compute-sanitizer --tool $tool --error-exitcode 9 $B/test_cuda >$OUT/san-$tool.log 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
done
run_peer() { # tag plugin [extra args...]
  local tag=$1 lib=$2; shift 2
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$lib timeout 120 python3 $R/peer_cfg.py --device cuda --dtype bf16 \
    "$@" --out $OUT/peer-$tag.jsonl --append >>$OUT/peer.log 2>&1
}
SH="--shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128"
for r in 1 2 3; do
  [ $(($(date +%s)-t0)) -gt 470 ] && { echo "out of time at round $r" >>$S; break; }
  for v in base pt; do
    run_peer $v-p64 $v --modes dense,anchor,reuse --page-size 64 $SH
    run_peer $v-p16 $v --modes dense,anchor,reuse --page-size 16 $SH --shape 16,1,32768,32,8,128
    run_peer $v-contig $v --modes dense,anchor,reuse $SH
  done
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
