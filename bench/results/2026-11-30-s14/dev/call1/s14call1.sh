#!/bin/bash
# s14 call 1: tests + sanitizers of the page-id batches (lib_pgb); paged B1 A/B HEAD vs lib_pgb; split plans; ksa-bench A/B
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_pgb
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > $OUT/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $OUT/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
s=$(date +%s); KSA_TEST_FILTER='test_decode_page_batches' timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/memcheck-pgb.log 2>&1; echo "memcheck page_batches rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/memcheck-pgb.log | tail -1)"
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_page_batches' timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda > $OUT/racecheck-pgb.log 2>&1; echo "racecheck page_batches rc=$? $(( $(date +%s)-s )) s $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $OUT/racecheck-pgb.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
pc() { KSA_LIBRARY=$D/core/libksa.so $PY $D/paged_configs.py 2>&1 | tee -a $OUT/paged.txt | grep -i error; }
for round in 1 2; do
  for v in head pgb; do
    TAG=$v BATCH=1 MODES=dense,anchor,reuse PAGES=0,16,64 LKS=8192,32768 KSA_PLUGIN_PATH=$D/lib_$v pc
  done
  TAG=pgbcfg BATCH=1 MODES=dense PAGES=16,64 LKS=8192,32768 KSA_PLUGIN_PATH=$D/lib_pgb \
    CONFIGS=";decode_splits=8,decode_cluster=2,decode_stages=3;decode_splits=16,decode_cluster=1,decode_stages=3;decode_splits=12,decode_cluster=2,decode_stages=3" pc
done
for v in head pgb; do TAG=$v BATCH=16 MODES=dense,anchor PAGES=0,16,64 LKS=32768 KSA_PLUGIN_PATH=$D/lib_$v pc; done
python3 - $OUT/paged.txt <<'PY' | tee $OUT/paged-ab.txt
import re,sys,collections
g=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) B(\d+) (\S+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us\s+config '(.*)'",l)
    if m: g[(int(m.group(2)),m.group(3),int(m.group(4)),int(m.group(5)),m.group(1)+(':'+m.group(7) if m.group(1)=='pgbcfg' else ''))].append(float(m.group(6)))
keys=sorted({k[:4] for k in g})
for k in keys:
    c=min(g.get((k[0],k[1],k[2],0,'pgb'),[0]) or [0])
    row=["B%d %-6s Lk%d p%2d"%k]
    for t in sorted({kk[4] for kk in g if kk[:4]==k}):
        v=g[k+(t,)]; row.append("%s %.1f%s"%(t,min(v),(" (%.3fx)"%(min(v)/c) if c and k[3] else "")))
    print(" | ".join(row))
PY
VARIANTS="head=lib_head pgb=lib_pgb" bash $D/abv.sh 3 dec1b adec1 hd > $OUT/abv.txt 2>&1; tail -30 $OUT/abv.txt
