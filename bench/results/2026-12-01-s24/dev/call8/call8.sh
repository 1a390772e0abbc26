#!/bin/bash
# s24 call 8: device-run.sh's new oneDNN step (ksa_device_onednn from .carry/dnnl, KSA_DNNL_CMAKE into
# cmake), checked on a CPU-only build of ksa-cpu-bench, then its --probe (P7's reference rates)
R=$PWD
. scripts/device/device-common.sh
ksa_device_onednn "$R" && echo "oneDNN unpacked: $KSA_DNNL_CMAKE"
B=/tmp/b-cpu
t0=$(date +%s)
cmake -S "$R" -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=ON ${KSA_DNNL_CMAKE:-} > $OUT/build.log 2>&1 && ninja -C $B -j16 ksa-cpu-bench >> $OUT/build.log 2>&1
echo "build rc=$? in $(( $(date +%s) - t0 )) s"; grep -E "^-- ksa:.*(ONEDNN|oneDNN|dnnl)" -i $OUT/build.log
timeout 60 $B/bin/ksa-cpu-bench --probe | tee $OUT/cpu-probe.jsonl
