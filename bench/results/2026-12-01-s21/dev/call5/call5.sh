#!/bin/bash
# s21 call 5: where the pooled pass's warps wait. Full Nsight Compute profiles (real clocks) of the pooled
# kernel in anchor prefill L16K bf16 D128 for st2 (landed) and nomma (no wgmma, call 4's timing-only build),
# with warp-state statistics and stall samples per SASS line and per stall reason
D=$PWD/.carry/devbin
L=$OUT/logs; mkdir -p $L
for l in st2 nomma; do tar xJf $D/lib_$l.tar.xz -C $D; done
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
B=$D/bin/ksa-bench
for l in st2 nomma; do
  KSA_PLUGIN_PATH=$D/lib_$l timeout 200 ncu --clock-control none --kernel-name-base demangled -k "regex:k90_prefill<.int.128, __nv_bfloat16, .int.2>" \
    --launch-count 1 --set full --import-source no -o $OUT/$l -f $B --device cuda:0 --shape 1,16384,16384,32,8,128 --mode anchor --phase prefill \
    --dtype bf16 --repeats 1 --warmup 0 > $L/prof_$l.log 2>&1; echo "prof $l rc=$?"
  ncu -i $OUT/$l.ncu-rep --page details > $OUT/${l}_details.txt 2>&1
  grep -E "Duration|Issue Slots Busy|Warp Cycles Per Issued|Stall|Eligible|Active Warps Per" $OUT/${l}_details.txt | head -20
  ncu -i $OUT/$l.ncu-rep --page source --csv --print-source sass > $L/${l}_sass.csv 2>&1
  python3 - $L/${l}_sass.csv > $OUT/${l}_top.txt <<'PY'
import sys,csv,collections
rows=list(csv.reader(open(sys.argv[1])))
hi=[i for i,r in enumerate(rows) if any('Stall Sampling (All' in c for c in r)]
if not hi: print('no stall column'); print(rows[:3]); sys.exit()
h=rows[hi[0]]; si=[i for i,c in enumerate(h) if 'Stall Sampling (All' in c][0]
src=[i for i,c in enumerate(h) if c=='Source'][0]
reasons=[(i,c) for i,c in enumerate(h) if c.startswith('stall_') or 'Stall' in c and i!=si and 'Not' not in c and 'Sampling' not in c]
tot=0; data=[]; byreason=collections.Counter()
for r in rows[hi[0]+1:]:
    try: v=float(r[si] or 0)
    except: continue
    tot+=v
    rs={}
    for i,c in reasons:
        try:
            x=float(r[i] or 0)
            if x: rs[c]=x; byreason[c]+=x
        except: pass
    data.append((v,r[0],r[src],rs))
tot=tot or 1
print('total samples', tot, 'reason columns:', len(reasons))
for c,x in byreason.most_common(14): print('reason %-50s %5.1f%%'%(c[:50],100*x/tot))
for v,a,s,rs in sorted(data,key=lambda x:-x[0])[:40]:
    top=', '.join('%s %.0f%%'%(k[:28],100*x/v) for k,x in sorted(rs.items(),key=lambda y:-y[1])[:3]) if v else ''
    print('%5.1f%% %s %-60s | %s'%(100*v/tot,a[-5:],s[:60],top))
PY
  head -40 $OUT/${l}_top.txt
done
rm -f $OUT/*.ncu-rep
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
