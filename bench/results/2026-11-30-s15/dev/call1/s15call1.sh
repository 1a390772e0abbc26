#!/bin/bash
# s15 call 1: dense decode with fewer instructions per chunk (lib_new) vs the committed kernels (lib_clx) and lib_aff2 (patch only): tests, ncu counts, A/B
D=$PWD/.carry/devbin
R=$PWD
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_new
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 200 $D/bin/$t > /tmp/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' /tmp/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-300)"
done
cat /tmp/test_cuda.log /tmp/test_cuda_graph.log /tmp/test_backends.log > $OUT/tests.log
s=$(date +%s); KSA_TEST_FILTER='test_decode_gathered_contiguous' timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $OUT/sanitize.log 2>&1; echo "memcheck gathered_contiguous rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_chunks' timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "memcheck decode_chunks rc=$? $(( $(date +%s)-s )) s $(grep 'ERROR SUMMARY' $OUT/sanitize.log | tail -1)"
s=$(date +%s); KSA_TEST_QUICK=1 KSA_TEST_FILTER='test_decode_gathered_contiguous' timeout 100 compute-sanitizer --tool racecheck --error-exitcode 9 $D/bin/test_cuda >> $OUT/sanitize.log 2>&1; echo "racecheck gathered_contiguous rc=$? $(( $(date +%s)-s )) s $(grep 'RACECHECK SUMMARY' $OUT/sanitize.log | tail -1)"
export LD_LIBRARY_PATH=$D/core
PY=/opt/torch/.venv/bin/python3
for v in clx new; do
  s=$(date +%s)
  KSA_PLUGIN_PATH=$D/lib_$v KSA_LIBRARY=$D/core/libksa.so MODES=dense PAGES=0 LKS=8192 BATCH=16 timeout 100 ncu -k regex:kc_mma_decode --launch-skip 8 --launch-count 1 \
    --metrics smsp__inst_executed.sum,gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,smsp__average_warp_latency_per_inst_issued.ratio $PY $D/paged_configs.py > /tmp/ncu-$v.log 2>&1
  echo "ncu $v rc=$? $(( $(date +%s)-s )) s"; grep -E "inst_executed|duration|dram__|latency" /tmp/ncu-$v.log | head -4
done
for round in 1 2; do for v in clx new; do
  s=$(date +%s)
  KSA_PLUGIN_PATH=$D/lib_$v KSA_LIBRARY=$D/core/libksa.so timeout 80 $PY bench/peer_torch.py --device cuda --dtype bf16 --modes dense \
    --shape 1,1,8192,32,8,128 --shape 16,1,8192,32,8,128 --shape 16,1,32768,32,8,128 --shape 64,1,8192,32,8,128 --shape 64,1,32768,32,8,128 \
    --interleave dense --out $OUT/peer-$v.jsonl --append > /dev/null 2>>/tmp/peer.err; echo "peer $v rc=$? $(( $(date +%s)-s )) s"
done; done
$PY - $OUT/peer-clx.jsonl $OUT/peer-new.jsonl <<'PY' | tee $OUT/p4.txt
import json,sys,collections
for f in sys.argv[1:]:
    g=collections.defaultdict(list)
    for l in open(f):
        r=json.loads(l)
        if r.get('backend')!='cuda' or 'median_ms' not in r: continue
        s=r['shape']; it=r.get('interleaved',{})
        g[(s['B'],s['Lk'])].append((r['median_ms']*1e3, r.get('peer_ms',0)*1e3, it.get('ksa_ms',0)*1e3, it.get('peer_ms',0)*1e3))
    for k,v in sorted(g.items()):
        print(f.split('/')[-1], "B%d Lk%d"%k, " | ".join("ksa %.1f cudnn %.1f (%.3fx) alt %.1f/%.1f (%.3fx)"%(a,b,b/a if a else 0,c,d,d/c if c else 0) for a,b,c,d in v))
PY
VARIANTS="clx=lib_clx new=lib_new" bash $D/abv.sh 2 dec hd dec16 rdec1 rdec16 adec > $OUT/abv.txt 2>&1
cat $OUT/abv.txt
