#!/usr/bin/env bash
# Forty-eighth session, call 2 (carry .carry/cuda, .carry/dnnl, .carry/cccl): (1) the full run's Xeon
# P9 stage, which its clock left out (build with CUDA on, then only cputune: KSA_RUN_SKIP all else);
# (2) the torch custom-op tests whose process outlived its 40 s stage in the full run although all 11
# tests had passed in 25.7 s: the whole file, then CudaOps and CpuOps alone, each with its exit time
# after unittest's last line; a process still alive 20 s after its "OK" gets its threads' native
# stacks from gdb (where present) and Python's from faulthandler (SIGABRT).
set -u
t0=$(date +%s)
KSA_RUN_LIMIT=330 KSA_RUN_SKIP="test sanitize grid kascade topk legacy torchops peer paged cpu opencl tune owners" \
  OUT=$OUT bash bench/device-run.sh >$OUT/run.log 2>&1
echo "device-run (cputune only) rc=$? ($(($(date +%s)-t0)) s)"
grep -E "ksa-tune|tuned|slower|rc=" $OUT/summary.txt | head -20
export KSA_PLUGIN_PATH=$PWD/build-device/lib KSA_LIBRARY=$PWD/build-device/lib/libksa.so
command -v gdb >/dev/null && echo "gdb: $(command -v gdb)" || echo "gdb: not found"
torch_try() { # NAME PATTERN...
  local name=$1 log=$OUT/torch-$1.log pid s ok=0 left; shift
  s=$(date +%s.%N)
  PYTHONPATH=$PWD/python python3 -X faulthandler -m unittest "$@" -v >$log 2>&1 &
  pid=$!
  while kill -0 $pid 2>/dev/null; do
    if grep -qE "^(OK|FAILED)" $log; then
      [ $ok = 0 ] && ok=$(date +%s.%N)
      left=$(python3 -c "print(int($(date +%s.%N) - $ok))")
      if [ "$left" -ge 20 ]; then
        echo "$name: alive 20 s after its last line; native stacks:"
        command -v gdb >/dev/null && timeout 60 gdb -p $pid -batch -ex "thread apply all bt 12" 2>/dev/null \
          | grep -E "^Thread|^#" | head -120 > $OUT/torch-$name-gdb.txt
        kill -ABRT $pid; sleep 2; kill -9 $pid 2>/dev/null; break
      fi
    fi
    sleep 0.5
  done
  wait $pid; local rc=$?
  local e=$(date +%s.%N)
  echo "$name rc=$rc: wall $(python3 -c "print(round($e-$s,1))") s, exit $(python3 -c "print(round($e-$ok,1) if $ok else 'n/a')") s after its last line; $(grep -E '^Ran' $log)"
}
torch_try all discover -s python/tests -p 'test_torch*'
torch_try cuda discover -s python/tests -p 'test_torch*' -k CudaOps
torch_try cpu discover -s python/tests -p 'test_torch*' -k CpuOps
echo "done ($(($(date +%s)-t0)) s)"
