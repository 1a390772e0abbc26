# call 4 (carry .carry/cuda, .carry/devbin; lib_head = HEAD's plugin): the whole shared grid on cuda:0
# (test_backends without --quick: head_dim 64, 128 and 256, f16 and bf16, every mode, phase and
# layout), which no compute-sanitizer run has covered (every run so far used the CI-sized quick grid,
# head_dim 128 only), under memcheck, initcheck, racecheck and synccheck; each capped at 130 s.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD head || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_head
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
timeout 60 $KSA_DEV/bin/test_backends --devices cuda:0 >$OUT/plain.log 2>&1
echo "plain rc=$? $(grep -E 'grid on cuda' $OUT/plain.log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
for tool in memcheck initcheck racecheck synccheck; do
  extra=""
  [ $tool = synccheck ] && extra="--num-cuda-barriers 65536"
  timeout 130 compute-sanitizer --tool $tool $extra --error-exitcode 9 --print-limit 100 $KSA_DEV/bin/test_backends --devices cuda:0 \
    >$OUT/$tool.log 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/$tool.log | tail -1) | $(grep -E 'grid on cuda' $OUT/$tool.log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
done
for f in $OUT/*.log; do
  n=$(grep -c "^========= [A-Z]" $f)
  [ "$n" -gt 2 ] && { echo "== $f"; grep -E "^========= " $f | sed 's/0x[0-9a-f]*/ADDR/g' | sort | uniq -c | sort -rn | head -20; } >>$S
done
echo "done ($(($(date +%s)-t0)) s)" | tee -a $S
