#!/bin/bash
# twelfth session, device call 9: CPU (AMX Xeon) reuse prefill: prefetch of the current gathered block (KSA_CPU_PREFETCH=2/3) against the next-block prefetch (1)
cd "$(dirname "$0")/../.."
R=$PWD
. scripts/device/device-common.sh
s=$(date +%s)
cmake -S $R -B /tmp/bcpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=ON > $OUT/build.log 2>&1 && ninja -C /tmp/bcpu ksa-cpu-bench >> $OUT/build.log 2>&1
echo "build rc=$? $(( $(date +%s)-s )) s"; grep -E "^-- ksa:" $OUT/build.log | head -20
B=/tmp/bcpu/bin/ksa-cpu-bench
for pf in 1 2; do
  KSA_CPU_PREFETCH=$pf KSA_CPU_PROFILE=1 KSA_CPU_ISA=amx timeout 100 $B --prefill > $OUT/prefill_pf$pf.json 2> $OUT/prefill_pf$pf.err
  echo "prefill pf=$pf rc=$?"; grep -E "reuse|anchor" $OUT/prefill_pf$pf.err | head -8
  grep -E '"mode":"(reuse|anchor)"' $OUT/prefill_pf$pf.json | cut -c1-260
done
for mode in reuse anchor; do
  KSA_CPU_ISA=amx timeout 120 $B --ab "KSA_CPU_PREFETCH=1;KSA_CPU_PREFETCH=2;KSA_CPU_PREFETCH=3;KSA_CPU_PREFETCH=0" --mode $mode --rounds 7 2>/dev/null | tee -a $OUT/ab.json | cut -c1-240
done
