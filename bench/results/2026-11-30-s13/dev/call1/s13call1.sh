#!/bin/bash
# s13 call 1: launch floor + host-time stamps of small decode calls
D=$PWD/.carry/devbin
export KSA_TUNE_CACHE=off
cd $D
echo "== launch floor"; ./hp/launch_floor 2>&1 | tee $OUT/launch_floor.txt
B=$D/bin/ksa-bench
run() { # tag libdir mode dtype shape
  LD_LIBRARY_PATH=$2 KSA_PLUGIN_PATH=$2 $B --device cuda:0 --shape $5,32,8,128 --mode $3 --phase decode --dtype $4 --repeats 30 --tag $1 --out $OUT/bench.jsonl --append 2>&1 | grep -v '^$' | sed "s/^/[$1 $3 $4 $5] /"
}
for rep in 1 2; do
for c in "reuse f16 1,1,8192" "reuse f16 1,1,32768" "dense bf16 1,1,8192" "anchor bf16 1,1,8192" "dense bf16 16,1,8192"; do
  set -- $c
  run prof $D/prof $1 $2 $3
  run base $D/lib_fin $1 $2 $3
done
done 2>&1 | tee $OUT/hostprof.txt | grep -E 'hostprof|error|fail' | head -150
python3 - $OUT/bench.jsonl <<'PY'
import json,sys
for l in open(sys.argv[1]):
    r=json.loads(l); s=r['shape']
    print("%-5s %-6s %-4s B%-3d Lk%-6d median %7.2f us  host %6.2f us  resolve %5.2f us  %s" % (r.get('tag'), r['mode'], r['dtype'], s['B'], s['Lk'], r['median_ms']*1e3, r.get('host_ms',0)*1e3, r.get('resolve_ms',0)*1e3, r.get('kernel','')))
PY
