# call 7 (carry .carry/cuda, .carry/devbin; lib_pt = HEAD's CUDA plugin): the development-call peer
# helper of cba5938 on the lent H200 (this machine has no torch): ksa_dev_peer with and without a
# configuration override, two rounds, then bench/dev_ab.py over the tagged records.
set -u
. scripts/device/device-common.sh
ksa_dev_libs $PWD pt || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
cp -r $KSA_DEV/lib_pt $KSA_DEV/lib_pts8 # the same plugin under a second tag
for r in 1 2; do
  ksa_dev_peer $PWD pt $OUT/peer.jsonl --device cuda --dtype bf16 --modes dense --shape 1,1,8192,32,8,128 --page-size 16 2>>$OUT/peer.log
  KSA_DEV_TAGGED=1 ksa_dev_peer $PWD pts8 $OUT/peer.jsonl --device cuda --dtype bf16 --modes dense --shape 1,1,8192,32,8,128 \
    --page-size 16 --config decode_splits=8,decode_cluster=1 2>>$OUT/peer.log
done
python3 bench/dev_ab.py $OUT/peer.jsonl --base pt
python3 - $OUT/peer.jsonl <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r.get("tag"), r["config"].get("override"), r["config"].get("page_size"), r.get("median_ms"), r.get("peer_ms"))
PY
