#!/usr/bin/env bash
# run-rocm.sh: build ksa with the HIP backend on a ROCm machine (an AMD Instinct or Radeon GPU with
# the amdgpu driver, /dev/kfd, and ROCm or Debian's hipcc/libamdhip64-dev/rocm-device-libs), run the
# whole test suite (every backend present, with the HIP op suite against the reference), then the
# benchmark grid on hip:0 (JSON lines).
#   scripts/device/run-rocm.sh [OUTDIR]            (default OUTDIR: build-rocm/results)
# Environment:
#   KSA_HIP_ARCHS   targets to compile for (default: the GPUs rocm_agent_enumerator reports, else
#                   the CMake default gfx90a;gfx940;gfx1030). Newer targets (gfx942, gfx950,
#                   gfx1100, gfx1200) need a ROCm whose clang and device libraries know them.
#   KSA_BUILD_DIR   build directory (default build-rocm)
#   KSA_BENCH_ARGS  extra ksa-bench arguments (default: the standard grid, bf16 and f16)
#   KSA_TEST_QUICK=1  the CI-sized op grid instead of the full one
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${KSA_BUILD_DIR:-build-rocm}
out=${1:-$build/results}
mkdir -p "$out"
export PATH=$PATH:/opt/rocm/bin
command -v hipcc >/dev/null || { echo "run-rocm: hipcc not found (install ROCm or hipcc libamdhip64-dev rocm-device-libs)" >&2; exit 2; }

archs=${KSA_HIP_ARCHS:-}
if [ -z "$archs" ] && command -v rocm_agent_enumerator >/dev/null; then
  archs=$(rocm_agent_enumerator 2>/dev/null | grep -v '^gfx000$' | sort -u | paste -sd';' || true)
fi
arch_arg=()
[ -n "$archs" ] && arch_arg=(-DKSA_HIP_ARCHS="$archs")
echo "== configure (HIP targets: ${archs:-CMake default})"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DKSA_WITH_HIP=ON "${arch_arg[@]}" | tee "$out/configure.log"
cmake --build "$build" -j "$(nproc)" 2>&1 | tee "$out/build.log"

echo "== devices"
KSA_PLUGIN_PATH="$PWD/$build/lib" "$build/bin/ksa-bench" --list-devices | tee "$out/devices.txt" || true
if ! grep -q "hip:0" "$out/devices.txt"; then
  echo "run-rocm: no hip:0 device; the HIP op tests will skip (see the hip entry's reason below)" >&2
  "$build/bin/test_hip_plugin" | grep -E "init:|hip entry" >&2 || true
fi

echo "== tests (all backends)"
status=0
ctest --test-dir "$build" --output-on-failure -j 2 2>&1 | tee "$out/ctest.log" || status=1
echo "== the shared grid on every HIP device and the HIP backend's own cases (verbose)"
KSA_PLUGIN_PATH="$PWD/$build/lib" "$build/bin/test_backends" --devices hip 2>&1 | tee "$out/test_backends_hip.log" || status=1
KSA_PLUGIN_PATH="$PWD/$build/lib" "$build/bin/test_hip_ops" 2>&1 | tee "$out/test_hip_ops.log" || status=1

echo "== benchmark on hip:0"
# shellcheck disable=SC2086
KSA_PLUGIN_PATH="$PWD/$build/lib" "$build/bin/ksa-bench" --device hip:0 ${KSA_BENCH_ARGS:---dtype bf16,f16} \
  --out "$out/bench-hip.jsonl" 2>&1 | tee "$out/bench.log" || status=1
echo "== done: results in $out (status $status)"
exit $status
