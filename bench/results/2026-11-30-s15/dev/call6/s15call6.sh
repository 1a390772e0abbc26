#!/bin/bash
# s15 call 6: 8 warps per CTA for gathered lists (lib_w8 with KSA_DEV_DECODE_WARPS=8) vs 4 (lib_w8 without, = cfc6425 kernels): tests with the switch on, A/B of reuse / anchor decode
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_w8 KSA_DEV_DECODE_WARPS=8
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
cat /tmp/test_cuda.log /tmp/test_cuda_graph.log /tmp/test_backends.log > $OUT/tests.log
s=$(date +%s); KSA_TEST_QUICK=1 timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "memcheck test_cuda quick rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_decode_chunks timeout 100 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "racecheck decode_chunks rc=$? $(( $(date +%s)-s )) s $(grep 'RACECHECK SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
B=$D/bin/ksa-bench
J=$OUT/ab.jsonl
for round in 1 2 3; do
 for v in "w4|0|" "w8|8|" "w8s8|8|decode_splits=8" "w4s8|0|decode_splits=8"; do
  IFS='|' read tag w cf <<< "$v"
  cfa=(); [ -n "$cf" ] && cfa=(--config "$cf")
  for s in 1,1,8192 1,1,32768 2,1,32768 16,1,32768; do
    KSA_DEV_DECODE_WARPS=$w $B --device cuda:0 --shape $s,32,8,128 --mode reuse --phase decode --dtype f16 "${cfa[@]}" --tag $tag --out $J --append 2>>$OUT/ab.err
  done
  for s in 1,1,32768 16,1,32768; do
    KSA_DEV_DECODE_WARPS=$w $B --device cuda:0 --shape $s,32,8,128 --mode anchor --phase decode --dtype bf16 "${cfa[@]}" --tag $tag --out $J --append 2>>$OUT/ab.err
  done
 done
done
python3 - $J <<'PY'
import json,sys,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    try: r=json.loads(l)
    except: continue
    if r.get('status')!='ok': continue
    s=r['shape']; d[(r['mode'],s['B'],s['Lk'],r['dtype'])].append((r['tag'],r['median_ms']*1e3))
for k,v in sorted(d.items()):
    m=collections.defaultdict(list)
    for t,x in v: m[t].append(x)
    base=min(m['w4'])
    print('%-6s B%-3d Lk%-6d %-4s '%k + ' '.join('%s %.2f (%.3f)'%(t,min(x),min(x)/base) for t,x in m.items()))
PY
PY=/opt/torch/.venv/bin/python3
for round in 1 2; do for w in 0 8; do
  KSA_DEV_DECODE_WARPS=$w KSA_PLUGIN_PATH=$D/lib_w8 KSA_LIBRARY=$D/core/libksa.so TAG=w$w MODES=reuse PAGES=0,16 LKS=8192,32768 timeout 100 $PY $D/paged_configs.py >> $OUT/paged.txt 2>&1
done; done
sort -k4,4 -k6,6n -k1,1 $OUT/paged.txt
