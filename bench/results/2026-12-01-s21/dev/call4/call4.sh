#!/bin/bash
# s21 call 4: what the pooled pass's time is made of. Timing-only builds of the transposed pooled pass
# (st2, landed as 35fc75c): nomufu (the exponential replaced by its argument), nomma (no wgmma: scores
# made up from the buffer address), h2 (exponentials as ex2.approx.f16x2 of packed f16 arguments).
# Nsight Compute of the pooled kernel in anchor prefill L16K bf16 D128: duration and pipe activity;
# test_backends with h2 (does an f16 exponential keep the selection inside the tie tolerance?)
D=$PWD/.carry/devbin
R=$PWD
L=$OUT/logs; mkdir -p $L
for l in st2 nomufu nomma h2; do tar xJf $D/lib_$l.tar.xz -C $D; done
cd $R && . scripts/device/device-common.sh && ksa_device_cmocka $R >/dev/null 2>&1
export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$D/core:$LD_LIBRARY_PATH
KSA_PLUGIN_PATH=$D/lib_h2 timeout 100 $D/bin/test_backends --devices cuda:0 > $L/test_backends_h2.log 2>&1
echo "test_backends (h2) rc=$?: $(grep -E 'ktest grid|failed' $L/test_backends_h2.log | tr '\n' ' ' | cut -c1-300)"
grep -iE "fail|mismatch|near-tie" $L/test_backends_h2.log | head -5
B=$D/bin/ksa-bench
M=gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_active,sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active,smsp__issue_active.avg.pct_of_peak_sustained_active,sm__cycles_elapsed.avg.per_second
for l in st2 nomufu nomma h2; do
  KSA_PLUGIN_PATH=$D/lib_$l timeout 120 ncu --clock-control none --kernel-name-base demangled -k "regex:k90_prefill<.int.128, __nv_bfloat16, .int.[12]>" \
    --metrics $M --csv $B --device cuda:0 --shape 1,16384,16384,32,8,128 --mode anchor --phase prefill --dtype bf16 --repeats 1 --warmup 0 > $L/ncu_$l.csv 2> $L/ncu_$l.err
  python3 - $L/ncu_$l.csv $l <<'PY'
import sys,csv,collections
rows=[r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print(sys.argv[2], 'no ncu rows'); sys.exit()
h=rows[0]; ki=h.index('Kernel Name'); mi=h.index('Metric Name'); vi=h.index('Metric Value')
d=collections.defaultdict(list)
for r in rows[1:]:
    try: d[(r[ki][:40], r[mi])].append(float(r[vi].replace(',','')))
    except: pass
for k in sorted({k for k, m in d}):
    print(sys.argv[2], k, ' '.join('%s=%.4g' % (m.split('.')[0].replace('sm__','').replace('smsp__','').replace('gpu__',''), sorted(v)[len(v)//2]) for (kk, m), v in sorted(d.items()) if kk == k))
PY
done
tar czf $OUT/logs.tar.gz -C $OUT logs && rm -rf $L
