#!/bin/bash
# s13 call 8: tests + sanitizers of the dense-decode rule (lib_d32); racecheck of the decode chunk tests; paged A/B
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_d32
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > $OUT/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $OUT/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-200)"
done
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_chunks' timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/memcheck-chunks.log 2>&1; echo "memcheck decode_chunks rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/memcheck-chunks.log | tail -1)"
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_chunks' timeout 200 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda > $OUT/racecheck-chunks.log 2>&1; echo "racecheck decode_chunks rc=$? $(( $(date +%s)-s )) s $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' $OUT/racecheck-chunks.log | tail -1)"
# paged dense decode A/B (the rule applies to paged pools too): peer_torch's paged cache, L2 flushed per call
export LD_LIBRARY_PATH=$D/core
for round in 1 2; do
  for v in new:lib_new d32:lib_d32; do
    for b in 16 64; do
      TAG=${v%%:*} BATCH=$b MODES=dense PAGES=0,16,64 LKS=8192,32768 KSA_PLUGIN_PATH=$D/${v#*:} KSA_LIBRARY=$D/core/libksa.so \
        /opt/torch/.venv/bin/python3 $D/paged_configs.py 2>&1 | tee -a $OUT/paged.txt | grep -i error
    done
  done
done
python3 - $OUT/paged.txt <<'PY' | tee $OUT/paged-ab.txt
import re,sys,collections
g=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r"(\S+) B(\d+) (\S+)\s+Lk(\d+) pages\s+(\d+)\s+([\d.]+) us",l)
    if m: g[(int(m.group(2)),int(m.group(4)),int(m.group(5)),m.group(1))].append(float(m.group(6)))
for k in sorted({k[:3] for k in g}):
    a,b=g.get(k+('new',),[]),g.get(k+('d32',),[])
    if a and b: print("B%d Lk%d pages %2d: new %.1f d32 %.1f -> %.3fx (%s | %s)"%(k+(min(a),min(b),min(a)/min(b)," ".join("%.1f"%x for x in a)," ".join("%.1f"%x for x in b))))
PY
