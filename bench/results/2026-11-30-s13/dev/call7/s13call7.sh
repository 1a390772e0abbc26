#!/bin/bash
# s13 call 7: dense decode from 64 lists on in 32-key chunks, three buffers (lib_d32) vs HEAD (lib_new);
# D64/D256 by override; paged; f16; B8/B32; three alternating rounds
D=$PWD/.carry/devbin
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core
B=$D/bin/ksa-bench
J=$OUT/bench.jsonl
one() { # tag lib shape dtype [extra...]
  local tag=$1 lib=$2 s=$3 dt=$4; shift 4
  KSA_PLUGIN_PATH=$D/$lib $B --device cuda:0 --shape $s --mode dense --phase decode --dtype $dt --repeats 20 --tag $tag --out $J --append "$@" 2>&1 | grep -i 'error\|fail' | head -2
}
for round in 1 2 3; do
  for v in new:lib_new d32:lib_d32; do
    t=${v%%:*}; l=${v#*:}
    for s in 8,1,32768 16,1,8192 16,1,32768 32,1,8192 64,1,8192 64,1,32768; do one $t $l $s,32,8,128 bf16; done
    for s in 16,1,8192 64,1,32768; do one $t-f16 $l $s,32,8,128 f16; done
    for s in 16,1,32768 64,1,32768; do one $t-hd64 $l $s,32,8,64 bf16; one $t-hd256 $l $s,32,8,256 bf16; done
  done
  for s in 16,1,32768 64,1,32768; do
    one base-hd64 lib_new $s,32,8,64 bf16; one ovr-hd64 lib_new $s,32,8,64 bf16 --config decode_chunk=32,decode_stages=3,decode_kernel=3,decode_splits=1
    one base-hd256 lib_new $s,32,8,256 bf16; one ovr-hd256 lib_new $s,32,8,256 bf16 --config decode_chunk=32,decode_stages=3,decode_kernel=3,decode_splits=1
  done
done
python3 - $J <<'PY' | tee $OUT/ab.txt
import json,sys,collections
g=collections.defaultdict(list)
for l in open(sys.argv[1]):
    r=json.loads(l); s=r['shape']
    if r.get('status')!='ok': continue
    g[(s['B'],s['Lk'],s['D'],r['dtype'],r['tag'])].append(r['median_ms']*1e3)
def pair(a,b):
    for k in sorted({k[:4] for k in g}):
        ta=[t for t in {x[4] for x in g if x[:4]==k} if t.startswith(a)]
        for t in ta:
            suf=t[len(a):]; tb=b+suf
            if (k+(tb,)) in g:
                va,vb=g[k+(t,)],g[k+(tb,)]
                print("B%-3d Lk%-6d D%-3d %-4s %-10s %8.1f us | %-10s %8.1f us  -> %.3fx  (%s | %s)"%(k+(t,min(va),tb,min(vb),min(va)/min(vb)," ".join("%.1f"%x for x in va)," ".join("%.1f"%x for x in vb))))
pair("new","d32"); pair("base","ovr")
PY
