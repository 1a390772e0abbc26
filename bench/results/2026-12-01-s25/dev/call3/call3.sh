#!/bin/bash
# s25 call 3: Nsight Compute of dense decode B64 / B16 Lk32K bf16, contiguous vs pages of 16 / 64 over the same memory
D=$PWD/.carry/devbin
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_ts5.tar.xz -C $D
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_LIBRARY=$D/core/libksa.so KSA_PLUGIN_PATH=$D/lib_ts5
M=gpu__time_duration.sum,dram__bytes_read.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,lts__t_sectors_srcunit_tex_op_read.sum,lts__t_sector_op_read_hit_rate.pct,sm__cycles_active.avg,smsp__inst_executed.sum,launch__grid_size,launch__registers_per_thread,smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,l1tex__t_requests_pipe_lsu_mem_global_op_ldgsts.sum,dram__sectors_read.sum
for sh in "64 32768" "16 32768"; do for var in contig p16 p64; do
  timeout 60 ncu --clock-control none --metrics $M --csv -k regex:kc_mma_decode -c 3 python3 bench/results/2026-12-01-s25/dev/call3/one.py $sh $var 2>/dev/null | python3 -c "
import sys,csv,collections
rows=[r for r in csv.reader(l for l in sys.stdin if l.startswith('\"'))]
h=rows[0]; vi=h.index('Metric Value'); mi=h.index('Metric Name'); ii=h.index('ID')
d=collections.defaultdict(list)
for r in rows[1:]: d[r[mi]].append(r[vi])
print('$sh $var', ' '.join('%s=%s' % (k.split('__')[1][:40], '/'.join(v)) for k,v in sorted(d.items())))"
done; done
