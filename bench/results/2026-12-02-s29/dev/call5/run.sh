#!/bin/bash
# s29 call 5: what the lent Xeon's 16 vCPUs are (SMT siblings or not) and whether the AMX level's
# dense prefill runs faster on fewer threads: topology as the VM shows it, AMX tile-loop probes on
# 16 / 8 / 4 threads, interleaved A/B rounds of threads=16 / 12 / 8, and dense prefill in separate
# processes pinned to CPUs 0-7, 8-15 and the even CPUs (taskset), alternating.
R=$PWD; B=$R/build-cpu-dev
cmake -S $R -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF \
  -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=ON > $OUT/build.log 2>&1 && ninja -C $B ksa-cpu-bench >> $OUT/build.log 2>&1 || { tail -20 $OUT/build.log; exit 1; }
{ lscpu | grep -E "^(Model name|Thread|Core|Socket|CPU\(s\)|NUMA|L1d|L2|L3)"; for c in 0 1 2 7 8 9 15; do echo "cpu$c siblings $(cat /sys/devices/system/cpu/cpu$c/topology/thread_siblings_list) core_id $(cat /sys/devices/system/cpu/cpu$c/topology/core_id)"; done; } | tee $OUT/topo.txt
for t in 16 8 4; do KSA_NUM_THREADS=$t timeout 60 $B/bin/ksa-cpu-bench --probe 2>/dev/null | grep amx_probe | sed "s/^/threads $t: /"; done | tee $OUT/probe.txt
KSA_CPU_ISA=amx timeout 120 $B/bin/ksa-cpu-bench --ab "threads=16;threads=12;threads=8" --mode dense --rounds 7 2>/dev/null | tee $OUT/ab.json
for round in 1 2 3; do
  for cfg in "0-15 16" "0-7 8" "8-15 8" "0-15:2 8"; do
    set -- $cfg
    ms=$(KSA_NUM_THREADS=$2 taskset -c $1 timeout 60 $B/bin/ksa-cpu-bench --dense 2>/dev/null | grep '"mode":"dense"' | head -1 | sed 's/.*"ms":\([0-9.]*\).*/\1/')
    echo "round $round cpus $1 threads $2: dense prefill L4096 $ms ms"
  done
done | tee $OUT/pinned.txt
