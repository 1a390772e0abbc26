# call 1 (carry .carry/cuda, .carry/devbin; lib_new = this session's plugin with block_q=192):
# tests (test_cuda whole, test_backends quick on cuda:0, test_cuda_graph), memcheck and racecheck of
# the new case, 5 alternating ksa-bench rounds of block_q 128 / 192 (dense prefill D64), peer_torch
# with each configuration against cuDNN (interleaved), and a ksa-tune of the D64 dense class.
set -u
R=bench/results/2026-12-02-s32/dev/call1
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD new || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_new
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
timeout 240 $B/test_cuda >$OUT/test_cuda.log 2>&1; echo "test_cuda rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
KSA_TEST_QUICK=1 timeout 150 $B/test_backends --devices cuda:0 >$OUT/test_backends.log 2>&1; echo "test_backends quick rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
timeout 60 $B/test_cuda_graph >$OUT/test_cuda_graph.log 2>&1; echo "test_cuda_graph rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "FAILED|PASSED|SKIPPED|block_q" $OUT/test_cuda.log | head -20 >>$S
for tool in memcheck racecheck; do
  KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_prefill_block_q192 timeout 150 compute-sanitizer --tool $tool --error-exitcode 9 \
    $B/test_cuda >$OUT/$tool.log 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/$tool.log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
done
for r in 1 2 3 4 5; do
  for q in 128 192; do
    timeout 60 $B/ksa-bench --device cuda:0 --mode dense --phase prefill --dtype bf16,f16 --no-probe \
      --shape 1,16384,16384,32,8,64 --shape 1,32768,32768,32,8,64 --shape 1,8192,8192,32,8,64 --shape 1,16384,16384,32,32,64 \
      --config block_q=$q --tag q$q --out $OUT/ab.jsonl --append 2>>$OUT/bench.err
  done
done
echo "ab done ($(($(date +%s)-t0)) s)" | tee -a $S
python3 bench/dev_ab.py $OUT/ab.jsonl --base q128 >>$S 2>&1
for r in 1 2; do
  for q in 128 192; do
    KSA_DEV_CONFIG=block_q=$q KSA_LIBRARY=$KSA_DEV/core/libksa.so timeout 90 python3 $R/peer_cfg.py --device cuda --dtype bf16,f16 \
      --shape 1,16384,16384,32,8,64 --modes dense --interleave dense --out $OUT/peer-q$q.jsonl --append >>$OUT/peer.log 2>&1
    echo "peer q$q round $r rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
  done
done
python3 - $OUT >>$S 2>&1 <<'PY'
import json, sys, glob
for f in sorted(glob.glob(sys.argv[1] + "/peer-q*.jsonl")):
    for l in open(f):
        r = json.loads(l)
        if r.get("device") == "cpu" or r.get("mode") not in ("dense", "interleaved"): continue
        print(f.split("/")[-1], r.get("mode"), r.get("dtype"), r.get("backend"), "ksa", r.get("median_ms", r.get("ksa_ms")), "peer", r.get("peer_ms"), "ratio", r.get("ratio"))
PY
KSA_TUNE_CACHE=$OUT/tune-cache.txt timeout 100 $B/ksa-tune --device cuda:0 --op dense.prefill --dtype bf16 --shape B=1,Hq=32,Hkv=8,D=64,L=16384 \
  --budget 70 --cache $OUT/tune-cache.txt --quiet >$OUT/tune.log 2>&1; echo "ksa-tune rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
tail -15 $OUT/tune.log >>$S
cat $OUT/tune-cache.txt >>$S 2>/dev/null
