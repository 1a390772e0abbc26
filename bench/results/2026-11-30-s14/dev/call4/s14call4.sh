#!/bin/bash
# s14 call 4: ncu of B1 Lk32K decode, contiguous vs paged (HEAD kernels)
D=$PWD/.carry/devbin
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core KSA_PLUGIN_PATH=$D/lib_head KSA_LIBRARY=$D/core/libksa.so
PY=/opt/torch/.venv/bin/python3
ncu --query-metrics 2>/dev/null | grep -iE "tlb|xbar2l1tex|lts__t_sectors_srcunit_tex_op_read" | head -20 > $OUT/metrics-query.txt
SEC="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section LaunchStats --section Occupancy"
prof() { # name mode pages skip config
  s=$(date +%s)
  MODES=$2 PAGES=$3 LKS=32768 BATCH=1 CONFIGS="$5" timeout 120 ncu -k regex:kc_mma_decode --launch-skip $4 --launch-count 1 $SEC \
     --metrics smsp__inst_executed.sum,dram__bytes_read.sum,lts__t_sector_hit_rate.pct,smsp__pcsamp_warps_issue_stalled_long_scoreboard,smsp__pcsamp_warps_issue_stalled_barrier,smsp__pcsamp_warps_issue_stalled_no_instructions,smsp__pcsamp_warps_issue_stalled_wait \
     $PY $D/paged_configs.py > $OUT/ncu-$1.txt 2>&1
  echo "$1 rc=$? $(( $(date +%s)-s )) s: $(grep -E 'Duration|DRAM Throughput|Memory Throughput' $OUT/ncu-$1.txt | tr -s ' ' | tr '\n' ';' | cut -c1-200)"
}
CF="decode_splits=8,decode_cluster=2,decode_stages=3"
prof dense-p0 dense 0 8 $CF
prof dense-p16 dense 16 8 $CF
prof dense-p64 dense 64 8 $CF
prof reuse-p0 reuse 0 14 ""
prof reuse-p16 reuse 16 14 ""
