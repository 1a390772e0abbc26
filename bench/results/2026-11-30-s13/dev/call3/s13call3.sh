#!/bin/bash
# s13 call 3: launch cost by parameter list; device time of small decode kernels (ncu, real clocks)
D=$PWD/.carry/devbin
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core KSA_PLUGIN_PATH=$D/lib_new
echo "== launch nparams"; $D/hp/launch_nparams 2>&1 | tee $OUT/launch_nparams.txt
B=$D/bin/ksa-bench
for c in "reuse f16 1,1,8192" "reuse f16 1,1,32768" "dense bf16 1,1,8192"; do
  set -- $c
  timeout 120 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum -c 60 \
    $B --device cuda:0 --shape $3,32,8,128 --mode $1 --phase decode --dtype $2 --repeats 5 --max-measure-ms 200 > $OUT/ncu-$1-$2-$3.txt 2>&1
  echo "== $c"; python3 - $OUT/ncu-$1-$2-$3.txt <<'PY'
import re,sys,collections
d=collections.defaultdict(list); name=None
for l in open(sys.argv[1]):
    if ')x(' in l and 'Context' in l: name=l.strip().split('(')[0][:60]
    m=re.search(r'gpu__time_duration.sum\s+(\S+)\s+([\d.,]+)',l)
    if m and name:
        v=float(m.group(2).replace(',','')); v = v/1000 if m.group(1)=='ns' else v
        d[name].append(v)
for k,v in d.items():
    v=sorted(v[-40:]); print("  %-60s n=%d median %.2f us min %.2f" % (k,len(v),v[len(v)//2],v[0]))
PY
done
