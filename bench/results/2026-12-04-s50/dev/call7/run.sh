#!/usr/bin/env bash
# Fiftieth session, call 7 (carry .carry/cuda, .carry/devbin; lib_new = this tree's CUDA plugin with
# cuda_plan's reuse_one_wave rule, built off the device): (1) test_cuda's reuse decode tests (the new
# test_decode_reuse_one_wave, test_decode_gathered_paths, test_decode_chunks); (2) the plans both
# forms resolve (KSA_LOG); (3) ksa-bench (warm L2, the K-dec row's method), three rounds: the new
# built-in against decode_chunk=16 (the old built-in: the rule is off where a chunk is configured),
# reuse decode B1 Lk 8K/16K/32K and B2 Lk32K, f16 and bf16; (4) peer_torch (L2 flushed), two rounds,
# reuse decode bf16 B1 Lk16K / Lk32K, contiguous and in pages of 16.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD new || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so KSA_PLUGIN_PATH=$KSA_DEV/lib_new
B=$KSA_DEV/bin
t0=$(date +%s)
for f in "*reuse_one_wave*" "*gathered_paths*" "*decode_chunks*"; do
  KSA_TEST_FILTER="$f" timeout 90 $B/test_cuda >>$OUT/test_cuda.log 2>&1
  echo "test_cuda $f rc=$? ($(($(date +%s)-t0)) s)"
done
grep -E "PASSED|FAILED|SKIPPED|failed" $OUT/test_cuda.log | head -12
S="--shape 1,1,8192,32,8,128 --shape 1,1,16384,32,8,128 --shape 1,1,32768,32,8,128 --shape 2,1,32768,32,8,128"
for cfg in "" "decode_chunk=16"; do
  KSA_LOG=1 timeout 30 $B/ksa-bench --device cuda:0 --dtype bf16 --phase decode --mode reuse $S --warmup-ms 0 --repeats 1 \
    --min-sample-ms 0.001 ${cfg:+--config $cfg} 2>&1 >/dev/null | grep -o 'Lk=[0-9]* .*\|config=[^ ]*' | sort -u | head -12
done
one() { timeout 60 $B/ksa-bench --device cuda:0 --dtype f16,bf16 --phase decode --mode reuse --tag "$1" $S \
  --max-measure-ms 500 ${2:+--config "$2"} --append --out $OUT/kdec.jsonl 2>>$OUT/bench.err; }
for r in 1 2 3; do
  if [ $r = 2 ]; then one old decode_chunk=16; one new ""; else one new ""; one old decode_chunk=16; fi
done
echo "ksa-bench done ($(($(date +%s)-t0)) s)"
P=$OUT/peer.jsonl
for r in 1 2; do
  for form in new old; do
    cfg=""; [ $form = old ] && cfg="decode_chunk=16"
    KSA_ROOT=$PWD timeout 60 python3 bench/peer_torch.py --tag $form ${cfg:+--config $cfg} --device cuda --dtype bf16 --modes reuse \
      --shape 1,1,16384,32,8,128 --shape 1,1,32768,32,8,128 --out $P --append 2>>$OUT/peer.log
    KSA_ROOT=$PWD timeout 60 python3 bench/peer_torch.py --tag $form ${cfg:+--config $cfg} --device cuda --dtype bf16 --modes reuse \
      --page-size 16 --shape 1,1,16384,32,8,128 --shape 1,1,32768,32,8,128 --out $P --append 2>>$OUT/peer.log
  done
  echo "peer round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 200 ] && break
done
python3 bench/dev_ab.py $OUT/kdec.jsonl --base old
python3 bench/dev_ab.py $P --base old
grep -iE "error|unsupported|invalid|disagree" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
