#!/bin/bash
# s19 call 7 (diagnostics, nothing lands): the cost of a cluster launch and of cluster barriers on the
# H200 for the Top-k's launch shape (64 CTAs of 512 threads, 28 KB, clusters of 8): events over 200
# back-to-back launches, and Nsight Compute's gpu__time_duration of five launches of each variant
D=$PWD/.carry/devbin
$D/cluster_cost
for v in 0 1 2 3 4; do
  ncu --clock-control none --launch-skip 20 --launch-count 5 --metrics gpu__time_duration.sum --csv $D/cluster_cost $v 2>/dev/null \
    | grep '^"' | tail -n +2 | awk -F'","' -v v=$v '{gsub(/"/,"",$NF); gsub(/,/,"",$NF); s+=$NF; n++} END {printf "variant %d: ncu duration mean %.2f us over %d launches\n", v, s/n/1000, n}'
done
