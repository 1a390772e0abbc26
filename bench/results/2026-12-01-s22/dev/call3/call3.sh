#!/bin/bash
# s22 call 3: where the anchor prefill's Top-k spends its time (lib_tkd = lib_tk + development hooks: KSA_DEV_TOPK_STOP
# 1 / 2 ends each block after loading the list (with the first histogram) / after the radix select; KSA_DEV_TOPK_COUNT
# prints per launch how many full-list radix passes ran after the first); Nsight Compute per-launch times per stop
# point, and the per-instruction SASS counts and stall samples of the longest launch
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_tkd.tar.xz -C $D
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_tkd
B=$D/bin/ksa-bench
for L2 in 16384 32768; do
KSA_DEV_TOPK_COUNT=1 timeout 60 $B --device cuda:0 --shape 1,$L2,$L2,32,8,128 --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 2>&1 >/dev/null | grep "topk dev" | head -8
done
for st in 1 2 0; do
  KSA_DEV_TOPK_STOP=$st timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum,smsp__inst_executed.sum --csv -k regex:kg_topk $B --device cuda:0 --shape 1,32768,32768,32,8,128 \
    --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 > $L/ncu_stop$st.csv 2> $L/ncu_stop$st.err
  python3 - $L/ncu_stop$st.csv stop$st <<'PY'
import sys,csv,collections
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print(sys.argv[2], 'no ncu rows'); sys.exit()
h=rows[0]; vi=h.index('Metric Value'); mi=h.index('Metric Name'); ii=h.index('ID')
d=collections.defaultdict(dict)
for r in rows[1:]: d[int(r[ii])][r[mi]]=float(r[vi].replace(',',''))
ids=sorted(d)[:4]
print('%-6s us: %s  | warp instr (M): %s' % (sys.argv[2], ' '.join('%.1f'%(d[i]['gpu__time_duration.sum']/1000) for i in ids), ' '.join('%.1f'%(d[i]['smsp__inst_executed.sum']/1e6) for i in ids)))
PY
done
timeout 200 ncu --clock-control none --set full -k regex:kg_topk --launch-skip 3 --launch-count 1 -o $L/tk $B --device cuda:0 --shape 1,32768,32768,32,8,128 \
  --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 > $L/ncu_full.log 2>&1
ncu -i $L/tk.ncu-rep --page source --print-source sass --csv > $L/tk_sass.csv 2> $L/tk_sass.err; echo "source page rc=$? $(wc -l < $L/tk_sass.csv) lines"
head -3 $L/tk_sass.csv | cut -c1-400
python3 - $L/tk_sass.csv <<'PY'
import sys,csv
try:
    rows=list(csv.reader(open(sys.argv[1])))
except Exception as e:
    print('no csv', e); sys.exit()
hdr=None
for i,r in enumerate(rows):
    if any('Address' in c or 'Source' in c for c in r): hdr=i; break
if hdr is None: print('no header'); sys.exit()
h=rows[hdr]; print(h[:12])
def col(name):
    for i,c in enumerate(h):
        if c.startswith(name): return i
    return None
ie=col('Instructions Executed'); ws=col('Warp Stall Sampling (All'); src=col('Source'); ad=col('Address')
data=[r for r in rows[hdr+1:] if len(r)==len(h)]
def f(x):
    try: return float(x.replace(',',''))
    except: return 0.
tot_i=sum(f(r[ie]) for r in data) if ie is not None else 0
tot_s=sum(f(r[ws]) for r in data) if ws is not None else 0
print('total inst', tot_i, 'samples', tot_s)
top=sorted(data,key=lambda r:-f(r[ws]) if ws is not None else 0)[:40]
for r in top: print(r[ad] if ad is not None else '', '%6.2f%% samp %6.2f%% inst'%(100*f(r[ws])/max(tot_s,1), 100*f(r[ie])/max(tot_i,1)), r[src][:70])
PY
cp $L/tk_sass.csv $OUT/ 2>/dev/null
tar czf $OUT/logs.tar.gz -C $OUT logs --exclude='*.ncu-rep' && rm -rf $L
