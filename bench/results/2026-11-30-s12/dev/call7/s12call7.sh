#!/bin/bash
# twelfth session, device call 7: ncu source-level stalls of the sparse pass (reuse prefill bf16 L16K): lib_p4 one CTA per item, lib_p4 persistent
cd "$(dirname "$0")/../.."
R=$PWD
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH KSA_TUNE_CACHE=off KSA_PLUGIN_PATH=$R/.carry/devbin/lib_p4
B=$R/.carry/devbin/bin/ksa-bench
for pv in 0 d; do
  s=$(date +%s)
  KSA_CUDA_PERSISTENT=$pv ncu -k regex:k90_prefill -s 2 -c 1 --section WarpStateStats --section SourceCounters --section LaunchStats --section SpeedOfLight \
    -o $OUT/p4_$pv $B --device cuda:0 --shape 1,16384,16384,32,8,128 --mode reuse --phase prefill --dtype bf16 --repeats 1 --warmup 1 --min-sample-ms 0.001 > $OUT/ncu_$pv.log 2>&1
  echo "ncu $pv rc=$? $(( $(date +%s)-s )) s"
  ncu -i $OUT/p4_$pv.ncu-rep --page source --csv --print-source sass > $OUT/p4_$pv-sass.csv 2>&1
  ncu -i $OUT/p4_$pv.ncu-rep --page details --csv > $OUT/p4_$pv-details.csv 2>&1
  grep -E '"Duration"|Grid Size|"Elapsed Cycles"' $OUT/p4_$pv-details.csv | cut -c180-300 | head -4
done
