# call 2 (carry .carry/cuda, .carry/devbin; lib_pt = HEAD b91841e's plugin, lib_fz = call 1's fused
# anchor decode, lib_fz2 = the same with the cluster histogram loads all in flight and the selected V
# rows copied into shared memory in batches): (1) the new test with lib_fz2, full and under
# memcheck / racecheck (quick); (2) Nsight Compute kernel durations, anchor decode B1 Lk8K and Lk32K,
# each plugin (and fz2 with 8 splits); (3) peer_torch timing, two rounds alternating pt and fz2.
set -u
R=bench/results/2026-12-02-s32/dev/call1
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD pt fz fz2 || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_fz2 KSA_TEST_FILTER='test_decode_anchor_fused' timeout 100 $B/test_cuda >$OUT/test_fused.log 2>&1
echo "test_decode_anchor_fused (fz2) rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "FAIL|failed|PASSED" $OUT/test_fused.log | head -20 >>$S
for tool in memcheck racecheck; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_fz2 KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_anchor_fused' timeout 150 \
    compute-sanitizer --tool $tool --error-exitcode 9 $B/test_cuda >$OUT/san-$tool.log 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$tool.log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
done
ncu_sum() { # tag shape [config]
  local tag=$1 shape=$2 cfg=${3:-}
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$tag timeout 60 ncu --clock-control none --metrics gpu__time_duration.sum --csv \
    -k regex:'kg_|kc_' $B/ksa-bench --device cuda:0 --shape "$shape" --mode anchor --phase decode --dtype bf16 \
    --repeats 1 --warmup 0 ${cfg:+--config $cfg} 2>/dev/null | python3 bench/dev_ncu_sum.py --title "$tag $shape $cfg" >>$S 2>&1
}
for sh in 1,1,8192,32,8,128 1,1,32768,32,8,128; do
  ncu_sum pt $sh; ncu_sum fz $sh; ncu_sum fz2 $sh; ncu_sum fz2 $sh anchor_fused=2,decode_splits=8
done
echo "ncu done ($(($(date +%s)-t0)) s)" >>$S
run_peer() { # tag plugin [extra args...]
  local tag=$1 lib=$2; shift 2
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$lib timeout 120 python3 $R/peer_cfg.py --device cuda --dtype bf16 \
    "$@" --out $OUT/peer-$tag.jsonl --append >>$OUT/peer.log 2>&1
}
for r in 1 2; do
  [ $(($(date +%s)-t0)) -gt 460 ] && { echo "out of time at round $r" >>$S; break; }
  for v in pt fz2; do
    run_peer $v-contig $v --modes anchor --shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128 --shape 2,1,8192,32,8,128
    run_peer $v-p16 $v --modes anchor --page-size 16 --shape 1,1,8192,32,8,128
  done
  KSA_DEV_CONFIG=anchor_fused=2,decode_splits=8 run_peer fz2s8-contig fz2 --modes anchor --shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128
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
cat $S
