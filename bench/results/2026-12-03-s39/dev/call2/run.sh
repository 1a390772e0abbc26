# call 2 (carry .carry/cuda, .carry/devbin; lib_pt = HEAD's CUDA plugin): dense B1 in pages of 16
# with deeper copy rings whose clusters fit the GPCs (8 splits in 8-CTA clusters, or 16 splits and
# the combine kernel), peer_torch timing (bf16, three rounds, medians via dev_ab.py).
set -u
. scripts/device/device-common.sh
ksa_dev_libs $PWD pt || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
P=$OUT/peer.jsonl
t0=$(date +%s)
variant() { # tag config page-size mode shapes...
  local tag=$1 cfg=$2 ps=$3 mode=$4; shift 4
  [ -d $KSA_DEV/lib_$tag ] || cp -r $KSA_DEV/lib_pt $KSA_DEV/lib_$tag
  local extra=""; [ -n "$cfg" ] && extra="--config $cfg"
  local pg=""; [ "$ps" != 0 ] && pg="--page-size $ps"
  local sh=""; for s in "$@"; do sh="$sh --shape $s"; done
  ksa_dev_peer $PWD $tag $P --device cuda --dtype bf16 --modes $mode $sh $pg $extra 2>>$OUT/peer.log
}
S8=1,1,8192,32,8,128; S32=1,1,32768,32,8,128
A="decode_kernel=3,decode_chunk"
for r in 1 2 3; do
  variant pt "" 0 dense $S8 $S32
  variant pt "" 16 dense $S8 $S32
  variant c16s3x8 "$A=16,decode_stages=3,decode_splits=8,decode_cluster=2" 16 dense $S8 $S32
  variant c16s3x16k "$A=16,decode_stages=3,decode_splits=16,decode_cluster=1" 16 dense $S8 $S32
  variant c32s3x8 "$A=32,decode_stages=3,decode_splits=8,decode_cluster=2" 16 dense $S8 $S32
  variant c32s3x16k "$A=32,decode_stages=3,decode_splits=16,decode_cluster=1" 16 dense $S8 $S32
  variant c16s2x16k "$A=16,decode_stages=2,decode_splits=16,decode_cluster=1" 16 dense $S8 $S32
  echo "round $r ($(($(date +%s)-t0)) s)"
  [ $(($(date +%s)-t0)) -gt 330 ] && break
done
python3 bench/dev_ab.py $P --base pt
grep -iE "error|unsupported|invalid" $OUT/peer.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
