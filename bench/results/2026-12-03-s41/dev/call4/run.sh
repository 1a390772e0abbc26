# call 4 (carry .carry/cuda, .carry/devbin; lib_op = a165a4e's CUDA plugin, lib_el = calls 1-2's
# build of the early length read): where reuse decode f16 B1 Lk32K, a uniform batch, spends its extra
# ~0.12 us with lib_el. Nsight Compute on one ksa-bench call per plugin, caches left warm as ksa-bench
# runs them (--cache-control none), clocks unlocked: (1) the kernel's duration over 10 launches;
# (2) one launch with the warp-state and source-counter sections, exported as the SASS source page
# (stall samples per instruction) and the details page.
set -u
. scripts/device/device-common.sh
ksa_dev_libs $PWD op el || { echo "no devbin"; exit 1; }
B=$KSA_DEV/bin
t0=$(date +%s)
SH=1,1,32768,32,8,128
for v in op el; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$v timeout 60 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum \
    --csv -k regex:kc_mma_decode -s 20 -c 10 $B/ksa-bench --device cuda:0 --dtype f16 --phase decode --mode reuse \
    --shape $SH --repeats 40 --no-probe >$OUT/dur-$v.csv 2>/dev/null
  echo "duration $v rc=$? ($(($(date +%s)-t0)) s)"
done
for v in op el; do
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$v timeout 90 ncu --clock-control none --cache-control none --section WarpStateStats \
    --section SourceCounters --section LaunchStats --import-source no -k regex:kc_mma_decode -s 20 -c 1 -f -o /tmp/src-$v \
    $B/ksa-bench --device cuda:0 --dtype f16 --phase decode --mode reuse --shape $SH --repeats 30 --no-probe >/dev/null 2>&1
  echo "profile $v rc=$? ($(($(date +%s)-t0)) s)"
  ncu -i /tmp/src-$v.ncu-rep --page source --csv --print-source sass >$OUT/sass-$v.csv 2>&1
  ncu -i /tmp/src-$v.ncu-rep --page details --csv >$OUT/details-$v.csv 2>&1
done
python3 - $OUT <<'PY'
import csv, sys, statistics as st
for v in ("op", "el"):
    rows = [r for r in csv.reader(l for l in open(f"{sys.argv[1]}/dur-{v}.csv") if l.startswith('"'))]
    if len(rows) < 2: print(v, "no rows"); continue
    i, k, g = rows[0].index("Metric Value"), rows[0].index("Kernel Name"), rows[0].index("Grid Size")
    groups = {}
    for r in rows[1:]:
        groups.setdefault((r[k].split("(")[0], r[g]), []).append(float(r[i].replace(",", "")) / 1000)
    for (name, grid), xs in groups.items():
        print(f"{v}: {name} grid {grid}: {st.median(xs):.2f} us median of {len(xs)} (min {min(xs):.2f})")
PY
echo "done ($(($(date +%s)-t0)) s)"
