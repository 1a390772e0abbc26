# call 3 (carry .carry/cuda, .carry/devbin; lib_fzp = lib_fz2 with %globaltimer stamps at the fused
# kernel's phases, printed by ranks 0 and splits-1 of list 0; not a shipped build): where the fused
# anchor decode's time goes, B1 Lk8K and Lk32K bf16 (built-in plan), and Lk8K with 8 splits.
set -u
. scripts/device/device-common.sh
ksa_dev_libs $PWD fzp || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
for sh in 1,1,8192,32,8,128 1,1,32768,32,8,128; do
  echo "== $sh" >>$S
  KSA_PLUGIN_PATH=$KSA_DEV/lib_fzp timeout 60 $B/ksa-bench --device cuda:0 --shape $sh --mode anchor --phase decode \
    --dtype bf16 --repeats 3 --warmup 1 >$OUT/b.log 2>&1
  grep prof $OUT/b.log | tail -6 >>$S
done
echo "== 8 splits" >>$S
KSA_PLUGIN_PATH=$KSA_DEV/lib_fzp timeout 60 $B/ksa-bench --device cuda:0 --shape 1,1,8192,32,8,128 --mode anchor --phase decode \
  --dtype bf16 --repeats 3 --warmup 1 --config anchor_fused=2,decode_splits=8 >$OUT/b.log 2>&1
grep prof $OUT/b.log | tail -4 >>$S
tail -3 $OUT/b.log >>$S
cat $S
