# call 4 (carry .carry/cuda, .carry/devbin; lib_op = HEAD's CUDA plugin, 86eb737): the README's Paged row
# alone, measured as bench/device-run.sh does (contiguous records, then the shuffled paged copies in
# pages of 64 and 16), two rounds into separate files; bench/make_table.py reads each.
set -u
. scripts/device/device-common.sh
ksa_dev_libs $PWD op || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
t0=$(date +%s)
SH="--shape 1,1,32768,32,8,128 --shape 16,1,32768,32,8,128 --shape 64,1,32768,32,8,128"
for r in 1 2; do
  P=$OUT/peer-r$r.jsonl
  # shellcheck disable=SC2086
  ksa_dev_peer $PWD op $P --device cuda --dtype bf16 $SH 2>>$OUT/peer.log
  for ps in 64 16; do
    # shellcheck disable=SC2086
    ksa_dev_peer $PWD op $P --device cuda --dtype bf16 --page-size $ps $SH 2>>$OUT/peer.log
  done
  echo "round $r ($(($(date +%s)-t0)) s)"
  python3 bench/make_table.py $P | grep -E "^\| Paged"
  [ $(($(date +%s)-t0)) -gt 300 ] && break
done
grep -iE "error|unsupported|invalid|disagree" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
