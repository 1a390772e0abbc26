#!/bin/bash
# s28 call 6: the development-call helpers (scripts/device/device-common.sh: ksa_dev_libs, ksa_dev_ncu_sum;
# bench/dev_ab.py) exercised on the machine with the plugins of calls 3-5 (head, ring), anchor prefill L4096
. scripts/device/device-common.sh
ksa_dev_libs $PWD head ring || { echo "ksa_dev_libs failed"; exit 1; }
ksa_dev_ncu_sum $PWD head anchor 1,4096,4096,32,8,128 bf16
ksa_dev_ncu_sum $PWD ring anchor 1,4096,4096,32,8,128 bf16
ksa_dev_ncu_sum $PWD head dense 1,1,8192,32,8,128 bf16 decode
J=$OUT/ab.jsonl
for round in 1 2; do for t in head ring; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$t timeout 30 $KSA_DEV/bin/ksa-bench --device cuda:0 --shape 1,4096,4096,32,8,128 --mode anchor \
    --phase prefill --dtype bf16 --tag $t --out $J --append > /dev/null 2>> $OUT/bench.err
done; done
python3 bench/dev_ab.py $J --base head
