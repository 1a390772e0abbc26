# call 2 (as call 1): initcheck only; call 1 passed it "--track-unused-memory no", which the tool took for the program (that option is a bare flag).
# compute-sanitizer tools no run has used yet (initcheck: reads of device memory never written;
# synccheck: barrier misuse) and racecheck over every quick test_cuda case (the full run's racecheck
# covers test_llama_class only). Each tool over test_cuda (quick), test_cuda_graph and test_backends
# (quick, cuda:0); logs per tool and test under $OUT.
set -u
. scripts/device/device-common.sh
ksa_device_cmocka $PWD >/dev/null
ksa_dev_libs $PWD head || { echo "no devbin"; exit 1; }
export KSA_ROOT=$PWD KSA_PLUGIN_PATH=$KSA_DEV/lib_head KSA_TEST_QUICK=1
B=$KSA_DEV/bin
S=$OUT/summary.txt; : >$S
t0=$(date +%s)
compute-sanitizer --version | tail -1 >>$S
run_tool() { # tool seconds test args...
  local tool=$1 sec=$2 t=$3; shift 3
  local extra=""
  [ $tool = synccheck ] && extra="--num-cuda-barriers 65536"
  [ $tool = initcheck ] && extra=""
  timeout $sec compute-sanitizer --tool $tool $extra --error-exitcode 9 --print-limit 200 $B/$t "$@" >$OUT/$tool-$t.log 2>&1
  local rc=$?
  echo "$tool $t rc=$rc $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/$tool-$t.log | tail -1) ($(($(date +%s)-t0)) s)" | tee -a $S
  grep -E "^\[  (FAILED|PASSED|SKIPPED) \]" $OUT/$tool-$t.log | head -3 >>$S
}
for tool in initcheck; do
  run_tool $tool 150 test_cuda
  run_tool $tool 60 test_cuda_graph
  run_tool $tool 90 test_backends --devices cuda:0
done
# the first distinct findings of each log, with their kernels
for f in $OUT/*.log; do
  n=$(grep -c "^========= [A-Z]" $f)
  [ "$n" -gt 2 ] && { echo "== $f"; grep -E "^=========  *(Uninitialized|Race|Barrier|Invalid|Error|in |at )|^========= [A-Z]" $f | sort | uniq -c | sort -rn | head -25; } >>$S
done
echo "done ($(($(date +%s)-t0)) s)" | tee -a $S
