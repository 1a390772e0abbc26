#!/bin/bash
# s14 call 3: Q read after the first chunks' copies (lib_pre): tests, racecheck; paged/contiguous B1 A/B, flushed and not; ksa-bench A/B
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_pre
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > $OUT/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $OUT/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_chunks' timeout 200 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "racecheck decode_chunks rc=$? $(( $(date +%s)-s )) s $(grep -E 'RACECHECK SUMMARY' $OUT/sanitize.log | tail -1)"
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_chunks' timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "memcheck decode_chunks rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
pc() { KSA_LIBRARY=$D/core/libksa.so $PY $D/paged_configs.py 2>&1 | tee -a $OUT/paged.txt | grep -i error | cut -c1-200; }
for round in 1 2; do
  for v in head pre; do
    TAG=$v BATCH=1 MODES=dense,anchor,reuse PAGES=0,16,64 LKS=8192,32768 KSA_PLUGIN_PATH=$D/lib_$v pc
    TAG=${v}_nf NOFLUSH=1 BATCH=1 MODES=dense,reuse PAGES=0,16,64 LKS=32768 KSA_PLUGIN_PATH=$D/lib_$v pc
  done
done
python3 - $OUT/paged.txt <<'PY' | tee $OUT/paged-ab.txt
import re,sys,collections
g=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) B(\d+) (\S+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us",l)
    if m: g[(m.group(3),int(m.group(4)),m.group(1),int(m.group(5)))].append(float(m.group(6)))
for k in sorted({k[:3] for k in g}):
    c=min(g.get(k+(0,),[0]) or [0])
    print("%-6s Lk%-6d %-8s "%k + " | ".join("p%d %.1f (%.3f)"%(p,min(g[k+(p,)]),min(g[k+(p,)])/c if c else 0) for p in (0,16,64) if g.get(k+(p,))))
PY
VARIANTS="head=lib_head pre=lib_pre" bash $D/abv.sh 3 rdec1 dec1b adec1 dec16 rdec16 hd > $OUT/abv.txt 2>&1; tail -30 $OUT/abv.txt
