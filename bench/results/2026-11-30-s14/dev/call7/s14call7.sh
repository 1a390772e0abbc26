#!/bin/bash
# s14 call 7: ncu source-level (SASS) of dense decode B16 Lk8K bf16: ksa (committed kernels) and cuDNN (torch SDPA), for the instruction mixes
# (cudnn_dec.py is bench/results/2026-11-30-s13/dev/call4/cudnn_dec.py, carried in .carry/devbin)
D=$PWD/.carry/devbin
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core KSA_PLUGIN_PATH=$D/lib_clx KSA_LIBRARY=$D/core/libksa.so
PY=/opt/torch/.venv/bin/python3
s=$(date +%s)
MODES=dense PAGES=0 LKS=8192 BATCH=16 timeout 150 ncu -k regex:kc_mma_decode --launch-skip 8 --launch-count 1 \
   --section SourceCounters --section WarpStateStats --section InstructionStats --section SpeedOfLight --warp-sampling-interval 0 -f -o /tmp/ksa $PY $D/paged_configs.py > /tmp/ksa.log 2>&1
echo "ksa rc=$? $(( $(date +%s)-s )) s"
s=$(date +%s)
timeout 150 ncu -k regex:'cudnn|sdpa|fmha|flash' --launch-skip 5 --launch-count 1 \
   --section SourceCounters --section WarpStateStats --section InstructionStats --section SpeedOfLight --warp-sampling-interval 0 -f -o /tmp/cudnn $PY $D/cudnn_dec.py 16 8192 > /tmp/cudnn.log 2>&1
echo "cudnn rc=$? $(( $(date +%s)-s )) s"
for n in ksa cudnn; do
  ncu --import /tmp/$n.ncu-rep --page source --csv --print-source sass 2>&1 | gzip -9 > $OUT/src-$n.csv.gz
  ncu --import /tmp/$n.ncu-rep --page details 2>&1 > $OUT/details-$n.txt
  grep -E "Duration|Executed Ipc|Warp Cycles Per Issued|DRAM Throughput|^  [a-z_].*\(" $OUT/details-$n.txt | head -8
  tail -3 /tmp/$n.log
done
