# call 3 (carry .carry/cuda, .carry/devbin; lib_op = HEAD's CUDA plugin, also as lib_dl): does reading
# seq_lens_k from device memory cost the paged calls their microsecond? Anchor and reuse decode B1
# Lk32K bf16, contiguous as a uniform batch (op), contiguous with seq_lens_k on the device and the
# host bound (dl: peer_torch.py --device-lengths), and in pages of 16 (op), three rounds.
set -u
. scripts/device/device-common.sh
ksa_dev_libs $PWD op || { echo "no devbin"; exit 1; }
cp -r $KSA_DEV/lib_op $KSA_DEV/lib_dl
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
P=$OUT/peer.jsonl
t0=$(date +%s)
S1=1,1,32768,32,8,128
for r in 1 2 3; do
  ksa_dev_peer $PWD op $P --device cuda --dtype bf16 --modes anchor,reuse --shape $S1 2>>$OUT/peer.log
  ksa_dev_peer $PWD dl $P --device cuda --dtype bf16 --modes anchor,reuse --shape $S1 --device-lengths 2>>$OUT/peer.log
  ksa_dev_peer $PWD op $P --device cuda --dtype bf16 --modes anchor,reuse --shape $S1 --page-size 16 2>>$OUT/peer.log
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 120 ] && break
done
python3 bench/dev_ab.py $P --base op
grep -iE "error|unsupported|invalid|Traceback" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
