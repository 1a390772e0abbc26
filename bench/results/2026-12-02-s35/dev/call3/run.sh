# call 3 (carry .carry/cuda, .carry/devbin; lib_fused as in call 2): where the fused cluster Top-k's
# ~17 extra microseconds go. Nsight Compute, full set with source counters, one launch of
# kc_topk_cluster<128, bf16> (anchor decode B1 Lk8K bf16) and one of the base plugin's Top-k; the
# hottest SASS lines by warp-stall samples, with their stall reasons.
set -u
. scripts/device/device-common.sh
ksa_dev_libs $PWD base fused || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_LIBRARY=$KSA_DEV/core/libksa.so
S=$OUT/summary.txt; : >$S
for tag in fused base; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$tag timeout 150 ncu --set full --import-source no -k regex:kc_topk_cluster -s 2 -c 1 \
    -o /tmp/prof-$tag $KSA_DEV/bin/ksa-bench --device cuda:0 --shape 1,1,8192,32,8,128 --mode anchor --phase decode \
    --dtype bf16 --repeats 2 --warmup 1 >/tmp/ncu-$tag.log 2>&1
  echo "$tag ncu rc=$?" >>$S
  ncu --import /tmp/prof-$tag.ncu-rep --page details --csv 2>/dev/null | grep -E '"Duration"|"Registers Per Thread"|"Achieved Occupancy"|"Dynamic Shared Memory Per Block"|"Elapsed Cycles"|"SM Frequency"' >>$S
  ncu --import /tmp/prof-$tag.ncu-rep --page source --csv --print-source sass >/tmp/src-$tag.csv 2>/tmp/src-$tag.err
  python3 - /tmp/src-$tag.csv >>$S 2>&1 <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], errors="replace")))
hdr_i = next(i for i, r in enumerate(rows) if any("Sampling" in c for c in r))
hdr = rows[hdr_i]; data = rows[hdr_i + 1:]
col = next(i for i, c in enumerate(hdr) if "Warp Stall Sampling (All" in c)
src = next(i for i, c in enumerate(hdr) if c.strip() == "Source")
addr = next((i for i, c in enumerate(hdr) if "Address" in c), 0)
def num(x):
    try: return float(x.replace(",", ""))
    except Exception: return 0.0
tot = sum(num(r[col]) for r in data if len(r) > col)
print("stall samples", tot, "lines", len(data))
stall_cols = [i for i, c in enumerate(hdr) if c.startswith("stall_") or "Stall" in c and "Sampling" not in c]
top = sorted((r for r in data if len(r) > col), key=lambda r: -num(r[col]))[:40]
for r in top:
    reasons = sorted(((num(r[i]), hdr[i]) for i in stall_cols if i < len(r) and num(r[i]) > 0), reverse=True)[:3]
    print("%5.1f%% %s %s | %s" % (100 * num(r[col]) / max(tot, 1), r[addr], r[src][:70], reasons))
# cumulative by index order in quarters of the code
n = len(data); acc = 0
for q in range(10):
    part = data[q * n // 10:(q + 1) * n // 10]
    print("decile", q, "%.1f%%" % (100 * sum(num(r[col]) for r in part if len(r) > col) / max(tot, 1)))
PY
done
head -c 3000 /tmp/src-fused.err >>$S
echo done >>$S
