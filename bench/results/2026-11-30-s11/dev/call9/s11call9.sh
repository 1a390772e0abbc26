#!/bin/bash
# eleventh session, device call 9: P1 D128 (dense causal prefill L16K) f16 and bf16 against cuDNN, three rounds
# in one process each, to see the run-to-run spread of unchanged prefill kernels (the final run read f16 0.92x)
cd "$(dirname "$0")/../.."
R=$PWD
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH KSA_LIBRARY=$R/.carry/devbin/core/libksa.so KSA_PLUGIN_PATH=$R/.carry/devbin/lib_new3
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader
for r in 1 2 3; do
  timeout 60 python3 bench/peer_torch.py --device cuda --dtype f16,bf16 --modes dense --shape 1,16384,16384,32,8,128 --out $OUT/p1-r$r.jsonl 2>&1 | grep -E "^# cuda" | cut -c1-160
done
