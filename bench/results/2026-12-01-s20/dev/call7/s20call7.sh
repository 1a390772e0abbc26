#!/bin/bash
# s20 call 7 (diagnostic): lib_nok = HEAD with the lse and pooled passes' producer loading no K tile
# after the first ring fill (it only arrives on the full barrier, so the consumers compute on stale
# tiles: results are wrong, timing only; not committed). ncu per-kernel times of anchor L16K bf16
# against HEAD (lib_pin2): how much of the two passes' time is the K tiles' supply
D=$PWD/.carry/devbin
L=$OUT/logs; mkdir -p $L
for l in pin2 nok; do tar xJf $D/lib_$l.tar.xz -C $D; done
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
B=$D/bin/ksa-bench
for l in pin2 nok pin2 nok; do
  KSA_PLUGIN_PATH=$D/lib_$l timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_active --csv $B --device cuda:0 --shape 1,16384,16384,32,8,128 \
    --mode anchor --phase prefill --dtype bf16 --repeats 2 --warmup 0 > $L/ncu_$l.csv 2> $L/ncu_$l.err
  python3 - $L/ncu_$l.csv $l <<'PY'
import sys,csv,collections
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print(sys.argv[2], 'no ncu rows'); sys.exit()
h=rows[0]; ki=h.index('Kernel Name'); mi=h.index('Metric Name'); vi=h.index('Metric Value')
d=collections.defaultdict(list)
for r in rows[1:]:
    try: d[(r[ki][:48], r[mi])].append(float(r[vi].replace(',','')))
    except: pass
for (k,m),v in sorted(d.items()):
    v.sort(); x=v[len(v)//2]
    print(sys.argv[2], '%-48s %-60s %.1f'%(k,m,x/1000 if 'duration' in m else x))
PY
done
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
