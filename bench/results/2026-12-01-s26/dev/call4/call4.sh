#!/bin/bash
# s26 call 4: lib_dd (the unit kernels step their wgmma descriptors: first slice plus a constant)
# against lib_np (HEAD f06bd5e): tests, Nsight Compute of the lse and pooled passes, three alternating rounds of anchor prefill
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
LIBS="np dd"
for l in $LIBS; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
for l in dd; do for t in test_cuda "test_backends --devices cuda:0"; do
  n=$(echo $t | cut -d' ' -f1)
  s=$(date +%s); KSA_PLUGIN_PATH=$D/lib_$l KSA_TEST_QUICK=1 timeout 60 $D/bin/$t > $L/${n}_$l.log 2>&1; rc=$?; echo "$l $t rc=$rc $(( $(date +%s)-s )) s: $(grep -E '^\[  (PASSED|FAILED) |ktest grid|failed' $L/${n}_$l.log | tr '\n' ' ' | cut -c1-300)"
  [ $rc -eq 124 ] && { tail -3 $L/${n}_$l.log; exit 1; }
done; done
B=$D/bin/ksa-bench
for lib in $LIBS; do for sh in "1,16384,16384,32,8,128" "1,32768,32768,32,8,128" "1,16384,16384,32,8,64" "1,16384,16384,32,32,128"; do
  KSA_PLUGIN_PATH=$D/lib_$lib timeout 40 ncu --clock-control none --metrics gpu__time_duration.sum --csv -k regex:'k90_(lse|pooled)' $B --device cuda:0 \
    --shape $sh --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 2>/dev/null | python3 -c "
import sys,csv,collections
rows=[r for r in csv.reader(l for l in sys.stdin if l.startswith('\"'))]
if not rows: print('$lib $sh: no ncu rows'); sys.exit()
h=rows[0]; vi=h.index('Metric Value'); ki=h.index('Kernel Name')
t=collections.OrderedDict()
for r in rows[1:]:
    k='lse' if 'k90_lse' in r[ki] else 'pooled'
    t.setdefault(k, []).append(float(r[vi].replace(',',''))/1000)
print('$lib $sh', ' '.join('%s %.0f us (%d launches)' % (k, sum(v), len(v)) for k, v in t.items()))"
done; done
J=$OUT/ab.jsonl
for round in 1 2 3; do for lib in $LIBS; do
  for s in "1,32768,32768,32,8,128 bf16" "1,32768,32768,32,8,128 f16" "1,16384,16384,32,8,128 bf16" "1,16384,16384,32,8,64 bf16" "1,16384,16384,32,8,256 bf16" "1,16384,16384,32,32,128 bf16"; do
    set -- $s
    KSA_PLUGIN_PATH=$D/lib_$lib timeout 30 $B --device cuda:0 --shape $1 --mode anchor --phase prefill --dtype $2 \
      --max-measure-ms 600 --tag $lib --out $J --append > /dev/null 2>> $L/bench.err
  done
done; done
python3 - $J <<'PY'
import json, sys, collections
r = collections.defaultdict(list)
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("status") != "ok": continue
    sh=d["shape"]
    r[((sh["Lk"], sh["Hkv"], sh["D"], d["dtype"]), d["tag"])].append(d["median_ms"])
for k in sorted({k for k, t in r}):
    b = r[(k, "np")]
    line = f"anchor prefill L{k[0]} Hkv{k[1]} D{k[2]} {k[3]}: np {min(b):.3f} ({max(b):.3f})"
    for t in ("dd",):
        p = r[(k, t)]
        if b and p: line += f"  {t} {min(p):.3f} ({max(p):.3f}) {min(p)/min(b):.3f}"
    print(line)
PY
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
