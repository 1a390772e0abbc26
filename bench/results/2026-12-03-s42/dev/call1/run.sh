# call 1 (carry .carry/cuda, .carry/devbin; lib_el = the landed CUDA plugin (4ddfe16's kernels),
# lib_pl = the decode kernel requesting its argument block's hot lines at once (kc_param_lines)):
# (1) test_cuda's decode tests with lib_pl; (2) ksa-bench, three rounds alternating the plugins:
# reuse decode f16 B1 Lk8K / Lk32K, B16 Lk32K, dense and anchor decode bf16 B1 Lk8K / Lk32K;
# (3) Nsight Compute: the decode kernel's duration over 10 launches, reuse f16 B1 Lk32K.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD el pl || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_pl KSA_TEST_FILTER='test_decode*' timeout 150 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda decode (pl) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED|SKIPPED" $OUT/test_cuda.log | head -8
for r in 1 2 3; do
  for v in el pl; do
    KSA_PLUGIN_PATH=$KSA_DEV/lib_$v timeout 60 $B/ksa-bench --device cuda:0 --dtype f16 --phase decode --mode reuse \
      --shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128 --shape 16,1,32768,32,8,128 --max-measure-ms 300 --no-probe \
      --tag $v --append --out $OUT/bench.jsonl 2>>$OUT/bench.log
    KSA_PLUGIN_PATH=$KSA_DEV/lib_$v timeout 60 $B/ksa-bench --device cuda:0 --dtype bf16 --phase decode --mode dense,anchor \
      --shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128 --max-measure-ms 300 --no-probe --tag $v --append \
      --out $OUT/bench.jsonl 2>>$OUT/bench.log
  done
  echo "bench round $r ($(($(date +%s)-t0)) s)"
done
python3 bench/dev_ab.py $OUT/bench.jsonl --base el
SH=1,1,32768,32,8,128
for v in el pl el pl; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$v timeout 60 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum \
    --csv -k regex:kc_mma_decode -s 20 -c 10 $B/ksa-bench --device cuda:0 --dtype f16 --phase decode --mode reuse \
    --shape $SH --repeats 40 --no-probe >>$OUT/dur-$v.csv 2>/dev/null
done
python3 - $OUT <<'PY'
import csv, sys, statistics as st
for v in ("el", "pl"):
    rows = [r for r in csv.reader(l for l in open(f"{sys.argv[1]}/dur-{v}.csv") if l.startswith('"'))]
    hdr = rows[0]; rows = [r for r in rows if r != hdr]
    i = hdr.index("Metric Value")
    xs = [float(r[i].replace(",", "")) / 1000 for r in rows]
    print(f"ncu {v}: {st.median(xs):.3f} us median of {len(xs)} (min {min(xs):.3f})")
PY
grep -iE "error|unsupported|invalid" $OUT/bench.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
