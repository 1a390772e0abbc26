#!/bin/bash
# twelfth session, device call 12: peer_torch.py --interleave on P1's shapes (dense prefill L16K, D64/128/256, bf16/f16), HEAD's plugin
cd "$(dirname "$0")/../.."
R=$PWD
D=$R/.carry/devbin
export LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_LIBRARY=$D/core/libksa.so KSA_PLUGIN_PATH=$D/lib_fin
PY=$(ls /opt/torch/.venv/bin/python3 2>/dev/null || which python3)
for round in 1 2; do
  timeout 100 $PY bench/peer_torch.py --device cuda --dtype bf16,f16 --modes dense --interleave --repeats 15 \
    --shape 1,16384,16384,32,8,128 --shape 1,16384,16384,32,8,64 --shape 1,16384,16384,32,8,256 --append --out $OUT/peer.jsonl 2> $OUT/peer$round.err
  echo "round $round rc=$?"; grep "^# cuda" $OUT/peer$round.err
done
