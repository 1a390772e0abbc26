#!/bin/bash
# s20 call 2: where the lse pass of anchor prefill waits: a full Nsight Compute profile (real clocks) of
# the lse kernel and of the dense kernel at L16K bf16 (HEAD's build, lib_base), stall samples per SASS
# line of the lse kernel
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in base; do tar xJf $D/lib_$l.tar.xz -C $D; done
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_base
B=$D/bin/ksa-bench
for m in "lse:anchor:1" "dense:dense:0"; do
  IFS=: read tag mode k <<< "$m"
  timeout 200 ncu --clock-control none --kernel-name-base demangled -k "regex:k90_prefill<.int.128, __nv_bfloat16, .int.$k>" --launch-skip 1 --launch-count 1 \
    --set full --import-source no -o $OUT/$tag -f $B --device cuda:0 --shape 1,16384,16384,32,8,128 --mode $mode --phase prefill --dtype bf16 \
    --repeats 2 --warmup 0 > $L/prof_$tag.log 2>&1; echo "prof $tag rc=$?"
  ncu -i $OUT/$tag.ncu-rep --page details > $OUT/${tag}_details.txt 2>&1
  grep -E "Duration|SM Frequency|Memory Throughput|L2 Cache Throughput|L1/TEX Cache Throughput|Compute \(SM\) Throughput|Issue Slots Busy|Issued Ipc|Warp Cycles Per Issued|Stall|Achieved Occupancy|L2 Hit Rate|Mem Busy|Max Bandwidth|DRAM Throughput" $OUT/${tag}_details.txt | head -40
  ncu -i $OUT/$tag.ncu-rep --page raw --csv --metrics sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_active,sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active,sm__pipe_alu_cycles_active.avg.pct_of_peak_sustained_active,lts__t_bytes.sum.per_second,sm__inst_executed.sum,smsp__inst_executed_pipe_xu.sum,sm__pipe_shared_cycles_active.avg.pct_of_peak_sustained_active,l1tex__throughput.avg.pct_of_peak_sustained_active,lts__throughput.avg.pct_of_peak_sustained_elapsed > $L/raw_$tag.csv 2>&1
  python3 - $L/raw_$tag.csv $tag <<'PY'
import sys,csv
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if len(rows) < 3: print(sys.argv[2], 'raw: nothing', open(sys.argv[1]).read()[:300]); sys.exit()
h, u, v = rows[0], rows[1], rows[2]
for i, c in enumerate(h):
    if '__' in c: print(sys.argv[2], c, v[i], u[i])
PY
  ncu -i $OUT/$tag.ncu-rep --page source --csv --print-source sass > $L/${tag}_sass.csv 2>&1
  python3 - $L/${tag}_sass.csv > $OUT/${tag}_top.txt <<'PY'
import sys,csv
rows=list(csv.reader(open(sys.argv[1])))
hi=[i for i,r in enumerate(rows) if any('Stall Sampling (All' in c for c in r)]
if not hi: print('no stall column'); print(rows[:3]); sys.exit()
h=rows[hi[0]]; si=[i for i,c in enumerate(h) if 'Stall Sampling (All' in c][0]
src=[i for i,c in enumerate(h) if c=='Source'][0]
data=[]
for r in rows[hi[0]+1:]:
    try: data.append((float(r[si] or 0), r[0], r[src]))
    except: pass
tot=sum(x[0] for x in data) or 1
print('total samples', tot)
for v,a,s in sorted(data,reverse=True)[:40]: print('%5.1f%% %s %s'%(100*v/tot,a,s[:110]))
print('--- in order (samples >= 0.3%):')
for v,a,s in data:
    if v/tot>=0.003: print('%5.1f%% %s %s'%(100*v/tot,a,s[:110]))
PY
  head -25 $OUT/${tag}_top.txt
done
rm -f $OUT/*.ncu-rep
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
