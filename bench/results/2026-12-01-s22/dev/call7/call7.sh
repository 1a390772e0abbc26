#!/bin/bash
# s22 call 7: lib_ptp = lib_tkr (76cd01a) + gathered decode over a paged pool prefetches the sequence's page-table row
# into L2 in its prologue: tests, memcheck; three alternating rounds of peer_torch.py (L2 flushed before each call, as
# the README table's Paged row) for reuse and anchor decode B1/B16 Lk32K bf16, contiguous and pages of 64 / 16
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in tkr ptp; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH KSA_PLUGIN_PATH=$D/lib_ptp
for t in test_cuda test_cuda_graph "test_backends --devices cuda:0"; do
  s=$(date +%s); timeout 100 $D/bin/$t > $L/$(echo $t | cut -d' ' -f1).log 2>&1; echo "$t rc=$? $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/$(echo $t | cut -d' ' -f1).log | tr '\n' ' ' | cut -c1-200)"
done
KSA_TEST_QUICK=1 timeout 80 compute-sanitizer --tool memcheck --error-exitcode 9 $D/bin/test_cuda > $L/memcheck.log 2>&1; echo "memcheck test_cuda rc=$? $(grep -E 'ERROR SUMMARY' $L/memcheck.log | tail -1)"
export KSA_LIBRARY=$D/core/libksa.so
J=$OUT/peer.jsonl
for round in 1 2 3; do
  for lib in tkr ptp; do
    for ps in 0 64 16; do
      KSA_PLUGIN_PATH=$D/lib_$lib timeout 60 python3 bench/peer_torch.py --device cuda --dtype bf16 --page-size $ps --modes reuse,anchor \
        --shape 1,1,32768,32,8,128 --shape 16,1,32768,32,8,128 --out $J --append > /dev/null 2>> $L/peer.err
      python3 - $J $lib <<'PY'
import json,sys
p=sys.argv[1]; out=[]
for l in open(p):
    d=json.loads(l)
    d.setdefault('devtag', sys.argv[2])
    out.append(json.dumps(d))
open(p,'w').write('\n'.join(out)+'\n')
PY
    done
  done
done
tail -3 $L/peer.err
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if not d.get('median_ms') or d.get('phase') != 'decode' or d.get('backend') != 'cuda': continue
    sh = d.get('shape', {})
    k = (d.get('mode'), sh.get('B'), (d.get('config') or {}).get('page_size') or 0)
    r[(k, d['devtag'])].append(d['median_ms'] * 1000)
for k in sorted({k for k, t in r}, key=str):
    a, b = r.get((k, 'tkr'), []), r.get((k, 'ptp'), [])
    if a and b: print(f"{k[0]:7s} B{k[1]:<3} pages {k[2]:>2}: tkr {min(a):7.2f} ({max(a):7.2f}) us  ptp {min(b):7.2f} ({max(b):7.2f}) us  {min(b)/min(a):.3f}")
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
