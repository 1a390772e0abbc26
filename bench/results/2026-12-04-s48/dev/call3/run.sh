#!/usr/bin/env bash
# Forty-eighth session, call 3 (no carry): the torch custom-op tests on a fresh machine, CUDA included,
# for the full run's slow exit. Builds libksa with the CUDA plugin only, then runs the test
# file twice: (1) as committed (inductor compiles in-process, TORCHINDUCTOR_COMPILE_THREADS=1), on a
# cold inductor cache; (2) with the inductor cache removed again and TORCHINDUCTOR_COMPILE_THREADS=16
# (inductor's default on these 16 cores), the full run's setting. Each: wall time, and the exit's
# time after unittest's last line; a process alive 60 s after it gets Python's stacks (SIGABRT).
set -u
t0=$(date +%s)
B=$PWD/build-device
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=ON -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=OFF >$OUT/cmake.log 2>&1
timeout 300 ninja -C $B -j16 ksa ksa_cuda >$OUT/build.log 2>&1
echo "build rc=$? ($(($(date +%s)-t0)) s)"; ls $B/lib
export KSA_PLUGIN_PATH=$B/lib KSA_LIBRARY=$B/lib/libksa.so
torch_try() { # NAME [ENV=VALUE...]
  local name=$1 log=$OUT/torch-$1.log pid s ok=0 left; shift
  rm -rf /tmp/torchinductor_* ~/.cache/torch/inductor 2>/dev/null
  s=$(date +%s.%N)
  env "$@" PYTHONPATH=$PWD/python python3 -X faulthandler -m unittest discover -s python/tests -p 'test_torch*' -v >$log 2>&1 &
  pid=$!
  while kill -0 $pid 2>/dev/null; do
    if grep -qE "^(OK|FAILED)" $log; then
      [ $ok = 0 ] && ok=$(date +%s.%N)
      left=$(python3 -c "print(int($(date +%s.%N) - $ok))")
      if [ "$left" -ge 60 ]; then
        echo "$name: alive 60 s after its last line"; kill -ABRT $pid; sleep 2; kill -9 $pid 2>/dev/null; break
      fi
    fi
    sleep 0.5
  done
  wait $pid; local rc=$?
  local e=$(date +%s.%N)
  echo "$name rc=$rc: wall $(python3 -c "print(round($e-$s,1))") s, exit $(python3 -c "print(round($e-$ok,1) if $ok else 'under 0.5')") s after its last line; $(grep -E '^Ran|^OK|^FAILED' $log | tr '\n' ' ')"
  grep -E "skipped|ERROR|FAIL" $log | head -5
}
torch_try inproc
torch_try pool16 TORCHINDUCTOR_COMPILE_THREADS=16
echo "done ($(($(date +%s)-t0)) s)"
