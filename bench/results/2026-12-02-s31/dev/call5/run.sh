#!/usr/bin/env bash
# thirty-first session, device call 5 (lent Xeon): the prefill profile (every phase) with ksa-cpu-bench's
# arrays on 4 KiB pages and on transparent huge pages (KSA_BENCH_HUGEPAGES), two runs each, alternating:
# what is left of the row set-up, store and packing time once page walks are gone.
D=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$D/../../../../.." && pwd)
BUILD=$ROOT/build-cpu-dev
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF \
  -DKSA_WITH_OPENCL=OFF -DKSA_BUILD_TESTS=OFF -DKSA_BUILD_TOOLS=ON >"$OUT/build.log" 2>&1 && ninja -C "$BUILD" ksa-cpu-bench >>"$OUT/build.log" 2>&1
echo "build rc=$?"
for r in 1 2; do
  for hp in 0 1; do
    echo "== round $r KSA_BENCH_HUGEPAGES=$hp"
    KSA_BENCH_HUGEPAGES=$hp KSA_CPU_PROFILE=1 KSA_CPU_ISA=amx timeout 100 "$BUILD/bin/ksa-cpu-bench" --prefill 2>/dev/null | grep -E "prefill|profile\"" | tee -a "$OUT/profile-hp$hp.jsonl"
  done
done
