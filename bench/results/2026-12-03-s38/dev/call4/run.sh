# call 4 (carry .carry/cuda, .carry/devbin; lib_pt = HEAD b91841e's plugin, lib_fz3 = the fused anchor
# decode with the tail's loops batched (8 scores per thread and step), the weights computed once in
# place, and the K-only pass's merge of (m, l) only): (1) the new test, full and under memcheck /
# racecheck (quick); (2) peer_torch timing, two rounds alternating pt and fz3, bf16: anchor decode
# B1 Lk8K / 16K / 32K, B2 Lk8K, B1 Lk8K in pages of 16 and 64; dense decode B1 and B16 Lk8K (the
# kernel's epilogue changed for every pass).
set -u
R=bench/results/2026-12-02-s32/dev/call1
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD pt fz3 || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_fz3 KSA_TEST_FILTER='test_decode_anchor_fused' timeout 100 $B/test_cuda >$OUT/test_fused.log 2>&1
echo "test_decode_anchor_fused (fz3) rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "FAIL|failed|PASSED" $OUT/test_fused.log | head -20 >>$S
for tool in memcheck racecheck; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_fz3 KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_anchor_fused' timeout 150 \
    compute-sanitizer --tool $tool --error-exitcode 9 $B/test_cuda >$OUT/san-$tool.log 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
done
run_peer() { # tag plugin [extra args...]
  local tag=$1 lib=$2; shift 2
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$lib timeout 120 python3 $R/peer_cfg.py --device cuda --dtype bf16 \
    "$@" --out $OUT/peer-$tag.jsonl --append >>$OUT/peer.log 2>&1
}
for r in 1 2; do
  [ $(($(date +%s)-t0)) -gt 400 ] && { echo "out of time at round $r" >>$S; break; }
  for v in pt fz3; do
    run_peer $v-contig $v --modes anchor --shape 1,1,8192,32,8,128 --shape 1,1,16384,32,8,128 --shape 1,1,32768,32,8,128 --shape 2,1,8192,32,8,128
    run_peer $v-p16 $v --modes anchor --page-size 16 --shape 1,1,8192,32,8,128
    run_peer $v-p64 $v --modes anchor --page-size 64 --shape 1,1,8192,32,8,128
    run_peer $v-dense $v --modes dense --shape 1,1,8192,32,8,128 --shape 16,1,8192,32,8,128
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
tar czf $OUT/logs.tar.gz -C $OUT test_fused.log san-memcheck.log san-racecheck.log peer.log 2>/dev/null
rm -f $OUT/peer-*.jsonl
cat $S
