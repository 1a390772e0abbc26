# call 2 (carry .carry/cuda, .carry/devbin; lib_el = the landed CUDA plugin, lib_w8 = the same with
# 8 warps per decode CTA instead of 4 (KC_MD_WARPS, w8.patch; an experiment: at head_dim 256 its
# rings outgrow shared memory)): does a B1 decode CTA finish sooner when its split's chunks are
# spread over 8 warps? (1) test_cuda's gathered decode tests with lib_w8; (2) ksa-bench, three
# rounds alternating the plugins: reuse f16 B1 Lk8K / Lk32K and B2 Lk32K, dense and anchor bf16 B1
# Lk8K / Lk32K.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD el w8 || { echo "no devbin"; exit 1; }
export KSA_LIBRARY=$KSA_DEV/core/libksa.so
B=$KSA_DEV/bin
t0=$(date +%s)
KSA_PLUGIN_PATH=$KSA_DEV/lib_w8 KSA_TEST_FILTER='test_decode_gathered*' timeout 100 $B/test_cuda >$OUT/test_cuda.log 2>&1
echo "test_cuda gathered (w8) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "FAILED|failed|PASSED" $OUT/test_cuda.log | head -5
for r in 1 2 3; do
  for v in el w8; do
    KSA_PLUGIN_PATH=$KSA_DEV/lib_$v timeout 60 $B/ksa-bench --device cuda:0 --dtype f16 --phase decode --mode reuse \
      --shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128 --shape 2,1,32768,32,8,128 --max-measure-ms 300 --no-probe \
      --tag $v --append --out $OUT/bench.jsonl 2>>$OUT/bench.log
    KSA_PLUGIN_PATH=$KSA_DEV/lib_$v timeout 60 $B/ksa-bench --device cuda:0 --dtype bf16 --phase decode --mode dense,anchor \
      --shape 1,1,8192,32,8,128 --shape 1,1,32768,32,8,128 --max-measure-ms 300 --no-probe --tag $v --append \
      --out $OUT/bench.jsonl 2>>$OUT/bench.log
  done
  echo "bench round $r ($(($(date +%s)-t0)) s)"
done
python3 - $OUT/bench.jsonl <<'PY'
import json, sys, collections, statistics as st
d = collections.defaultdict(list)
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("status") == "ok":
        s = r["shape"]; d[(r["mode"], r["dtype"], s["B"], s["Lk"], r["tag"])].append(1000 * r["median_ms"])
for k in sorted(d):
    print(k, " ".join(f"{x:.2f}" for x in d[k]), f"median {st.median(d[k]):.2f}")
PY
grep -iE "error|unsupported|invalid" $OUT/bench.log | sort | uniq -c | head -5
echo "done ($(($(date +%s)-t0)) s)"
