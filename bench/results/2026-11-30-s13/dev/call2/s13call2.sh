#!/bin/bash
# s13 call 2: launch cost by parameter size; host-path cuts A/B (base = HEAD plugin, new = this tree); tests
D=$PWD/.carry/devbin
R=$PWD
export KSA_TUNE_CACHE=off
echo "== launch params"; $D/hp/launch_params 2>&1 | tee $OUT/launch_params.txt
B=$D/bin/ksa-bench
for round in 1 2 3; do
  for v in base:lib_fin new:lib_new; do
    tag=${v%%:*}; lib=$D/${v#*:}
    for c in "reuse f16 1,1,8192" "reuse f16 1,1,32768" "dense bf16 1,1,8192" "anchor bf16 1,1,8192" "dense bf16 16,1,8192"; do
      set -- $c
      LD_LIBRARY_PATH=$D/core KSA_PLUGIN_PATH=$lib $B --device cuda:0 --shape $3,32,8,128 --mode $1 --phase decode --dtype $2 --repeats 30 --tag $tag --out $OUT/bench.jsonl --append 2>&1 | grep -i 'error\|fail'
    done
  done
done
python3 - $OUT/bench.jsonl <<'PY' | tee $OUT/ab.txt
import json,sys,collections
g=collections.defaultdict(list)
for l in open(sys.argv[1]):
    r=json.loads(l); s=r['shape']
    g[(r['mode'],r['dtype'],s['B'],s['Lk'],r['tag'])].append((r['median_ms']*1e3, r.get('host_ms',0)*1e3, r.get('resolve_ms',0)*1e3))
keys=sorted({k[:4] for k in g})
for k in keys:
    b=g.get(k+('base',),[]); n=g.get(k+('new',),[])
    f=lambda v: " ".join("%.2f/%.2f"%(x[0],x[1]) for x in v)
    mb=sorted(x[0] for x in b)[len(b)//2]; mn=sorted(x[0] for x in n)[len(n)//2]
    hb=sorted(x[1] for x in b)[len(b)//2]; hn=sorted(x[1] for x in n)[len(n)//2]
    print("%-6s %-4s B%-3d Lk%-6d base %s | new %s | median call %.2f -> %.2f us (%.3fx), host %.2f -> %.2f us" % (k+(f(b),f(n),mb,mn,mb/mn,hb,hn)))
PY
echo "== tests (new plugin)"
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_new
for t in test_cuda test_cuda_graph test_backends; do
  ( time timeout 200 $D/bin/$t ) > $OUT/$t.log 2>&1; echo "$t rc=$? $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' $OUT/$t.log | tr '\n' ' ')"
done
