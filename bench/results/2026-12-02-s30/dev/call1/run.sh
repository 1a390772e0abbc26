#!/usr/bin/env bash
# thirtieth session, device call 1: ompspin.py under three OpenMP wait settings (one process each)
D=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$D/../../../../.." && pwd)
export PYTHONPATH=$ROOT/python KSA_LIBRARY=$ROOT/.carry/devbin/core/libksa.so
lscpu | grep -E "Model name|^CPU\(s\)|Thread" | tee "$OUT/lscpu.txt"
python3 -c "import torch, glob, os; p=os.path.dirname(torch.__file__); print('torch libs:', [os.path.basename(x) for x in glob.glob(p+'/lib/*omp*')+glob.glob(p+'/../torch.libs/*omp*')])"
for setting in "" "OMP_WAIT_POLICY=PASSIVE" "GOMP_SPINCOUNT=0" "OMP_WAIT_POLICY=ACTIVE"; do
  echo "=== ${setting:-default}"
  env $setting timeout 150 python3 "$D/ompspin.py" 2>&1 | grep -v Warn
done | tee "$OUT/ompspin.log"
