#!/bin/bash
# twelfth session, device call 4: ncu source-level stall sampling of reuse prefill (HEAD plugin), L16K and L32K bf16
cd "$(dirname "$0")/../.."
R=$PWD
export LD_LIBRARY_PATH=$R/.carry/devbin/core:$LD_LIBRARY_PATH KSA_TUNE_CACHE=off KSA_PLUGIN_PATH=$R/.carry/devbin/lib_fin
B=$R/.carry/devbin/bin/ksa-bench
for L in 16384 32768; do
  s=$(date +%s)
  ncu -k regex:k90_prefill -s 2 -c 1 --section WarpStateStats --section SourceCounters --section LaunchStats --section Occupancy --section SpeedOfLight \
    -o $OUT/reuse$L $B --device cuda:0 --shape 1,$L,$L,32,8,128 --mode reuse --phase prefill --dtype bf16 --repeats 1 --warmup 1 --min-sample-ms 0.001 > $OUT/ncu$L.log 2>&1
  echo "ncu L$L rc=$? $(( $(date +%s)-s )) s"
  ncu -i $OUT/reuse$L.ncu-rep --page source --csv --print-source sass > $OUT/reuse$L-sass.csv 2>&1
  ncu -i $OUT/reuse$L.ncu-rep --page details --csv > $OUT/reuse$L-details.csv 2>&1
  grep -E "Duration|Warp Cycles Per Issued|Issue Slots Busy|Compute \(SM\) Throughput|Memory Throughput|No Eligible" $OUT/reuse$L-details.csv | cut -c1-200 | head -8
done
