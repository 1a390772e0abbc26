#!/bin/bash
# s14 call 2: the page-batch test (fixed split value) + memcheck; B1 Lk32K paged plan sweep (HEAD and lib_pgb)
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_pgb
s=$(date +%s); KSA_TEST_FILTER='test_decode_page_batches' timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/memcheck-pgb.log 2>&1; echo "memcheck page_batches (pgb) rc=$? $(( $(date +%s)-s )) s $(grep -E 'ERROR SUMMARY|PASSED|FAILED' $OUT/memcheck-pgb.log | tr '\n' ' ')"
s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_head KSA_TEST_FILTER='test_decode_page_batches' timeout 150 $D/bin/test_cuda > $OUT/head-pgb.log 2>&1; echo "page_batches on HEAD rc=$? $(( $(date +%s)-s )) s $(grep -E 'PASSED|FAILED' $OUT/head-pgb.log | tr '\n' ' ')"
export LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
pc() { KSA_LIBRARY=$D/core/libksa.so $PY $D/paged_configs.py 2>&1 | tee -a $OUT/paged.txt | grep -i error | cut -c1-200; }
DC=";decode_chunk=16;decode_chunk=16,decode_stages=3;decode_chunk=16,decode_splits=32;decode_chunk=16,decode_splits=64;decode_splits=32;decode_splits=32,decode_stages=3;decode_kernel=3,decode_chunk=16;decode_kernel=3,decode_chunk=16,decode_stages=3"
for round in 1 2; do
  for v in head pgb; do
    TAG=$v BATCH=1 MODES=dense PAGES=0,16,64 LKS=32768 KSA_PLUGIN_PATH=$D/lib_$v CONFIGS="$DC" pc
  done
  TAG=head BATCH=1 MODES=reuse PAGES=0,16,64 LKS=32768 KSA_PLUGIN_PATH=$D/lib_head \
    CONFIGS=";decode_stages=3;decode_chunk=32;decode_chunk=32,decode_stages=3;decode_splits=8;decode_splits=16,decode_cluster=1,decode_stages=3" pc
  TAG=head BATCH=1 MODES=anchor PAGES=0,16,64 LKS=32768 KSA_PLUGIN_PATH=$D/lib_head \
    CONFIGS=";decode_stages=2;decode_chunk=32,decode_stages=3;decode_chunk=16,decode_stages=3,decode_splits=32" pc
done
python3 - $OUT/paged.txt <<'PY' | tee $OUT/sweep.txt
import re,sys,collections
g=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) B(\d+) (\S+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us\s+config '(.*)'",l)
    if m: g[(m.group(3),int(m.group(4)),m.group(1),m.group(7),int(m.group(5)))].append(float(m.group(6)))
base={}
for k,v in g.items():
    if k[3]=='built-in' and k[4]==0 and k[2]=='head': base[(k[0],k[1])]=min(v)
for k in sorted({k[:4] for k in g}):
    c=base.get(k[:2],0)
    print("%-6s Lk%d %-4s %-60s "%k + " | ".join("p%d %.1f (%.3f)"%(p,min(g[k+(p,)]),min(g[k+(p,)])/c if c else 0) for p in (0,16,64) if g.get(k+(p,))))
PY
