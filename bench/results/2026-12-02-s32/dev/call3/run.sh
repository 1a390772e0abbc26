# call 3 (carry .carry/cuda, .carry/devbin; lib_new = block_q=192 also at head_dim 128, 64-key tiles):
# the new case (head_dim 64 and 128, f16 and bf16), memcheck and racecheck of its quick set; four
# alternating ksa-bench rounds of block_q 128 / 192 over dense prefill D128; peer_torch P1 D128 with
# each setting against cuDNN (interleaved), one round.
set -u
R=bench/results/2026-12-02-s32/dev/call1
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD new || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_new
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
KSA_TEST_FILTER=test_prefill_block_q192 timeout 100 $B/test_cuda >$OUT/test_cuda.log 2>&1; echo "test_cuda (new case) rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
grep -E "FAIL|PASSED|block_q" $OUT/test_cuda.log | head >>$S
for tool in memcheck racecheck; do
  KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_prefill_block_q192 timeout 100 compute-sanitizer --tool $tool --error-exitcode 9 \
    $B/test_cuda >$OUT/$tool.log 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/$tool.log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
done
for r in 1 2 3 4; do
  for q in 128 192; do
    timeout 60 $B/ksa-bench --device cuda:0 --mode dense --phase prefill --dtype bf16,f16 --no-probe \
      --shape 1,16384,16384,32,8,128 --shape 1,32768,32768,32,8,128 --shape 4,4096,4096,32,8,128 \
      --config block_q=$q --tag q$q --out $OUT/ab.jsonl --append 2>>$OUT/bench.err
  done
done
echo "ab done ($(($(date +%s)-t0)) s)" | tee -a $S
python3 bench/dev_ab.py $OUT/ab.jsonl --base q128 >>$S 2>&1
for q in 128 192; do
  KSA_DEV_CONFIG=block_q=$q KSA_LIBRARY=$KSA_DEV/core/libksa.so timeout 90 python3 $R/peer_cfg.py --device cuda --dtype bf16,f16 \
    --shape 1,16384,16384,32,8,128 --modes dense --interleave dense --out $OUT/peer-q$q.jsonl --append >>$OUT/peer.log 2>&1
  echo "peer q$q rc=$? ($(($(date +%s)-t0)) s)" | tee -a $S
done
python3 - $OUT >>$S 2>&1 <<'PY'
import json, sys, glob
for f in sorted(glob.glob(sys.argv[1] + "/peer-q*.jsonl")):
    for l in open(f):
        r = json.loads(l)
        if r.get("backend") != "cuda": continue
        il = r.get("interleaved") or {}
        print(f.split("/")[-1], r.get("dtype"), "ksa %.3f cudnn %.3f ratio %.3f" % (r["median_ms"], r["peer_ms"], r["ratio"]),
              "alternation %.3f vs %.3f ratio %.3f" % (il.get("ksa_ms", 0), il.get("peer_ms", 0), il.get("ratio", 0)))
PY
