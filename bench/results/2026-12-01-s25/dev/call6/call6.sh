#!/bin/bash
# s25 call 6: the final run's ksa-topk-bench stopped at B64 with an illegal address (kg_topk_stream<true> given the
# NULL scores / lse regions of the bench's hand-made plan); lib_fix = 4e7e889 + the launcher's check: ksa-topk-bench,
# and the decode Top-k tests with the fixed plugin
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
tar xJf $D/lib_fix.tar.xz -C $D
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_fix
s=$(date +%s); timeout 60 $D/lib_fix/ksa-topk-bench > $OUT/topk.jsonl 2> $L/topk.err; echo "ksa-topk-bench rc=$? $(( $(date +%s)-s )) s, $(wc -l < $OUT/topk.jsonl) records"; tail -2 $L/topk.err
python3 -c "
import json
for l in open('$OUT/topk.jsonl'):
    d=json.loads(l)
    print(d['scores'], 'B%d n%d' % (d['batch'], d['n']), d['method'], '%.1f us' % d['us'], 'agree %d/%d' % (d['lists_agreeing_with_ksa'], d['lists']))
" 2>&1 | grep -v order-only | head -40
for f in test_decode_topk_pooling test_decode_topk_ties test_topk_sampled_pivot test_decode_topk_cluster_pools; do
  KSA_TEST_QUICK=1 KSA_TEST_FILTER=$f timeout 40 $D/bin/test_cuda > $L/$f.log 2>&1; echo "$f rc=$? $(grep -E '^\[  (PASSED|FAILED) ' $L/$f.log | tr '\n' ' ')"
done
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
