#!/usr/bin/env bash
# setup-and-demo.sh: the README's first command. Installs what is missing (Debian 12, as root),
# configures with every backend whose toolchain is present (AUTO), builds libksa, the plugins of
# those backends (CUDA, HIP, OpenCL), ksa-info and ksa-demo, prints what was found (ksa-info) and
# runs the demo on the best device: a GPU when there is one, else the CPU (ksa-demo --which).
# Arguments go to ksa-demo (e.g. --device cpu, --seq-len 4096).
# Environment: KSA_BUILD_DIR (default build), KSA_CMAKE_ARGS (extra configure arguments),
# KSA_SKIP_DEPS=1 (do not touch packages), KSA_WITH_HIP_PACKAGES=1 (also install Debian's HIP
# toolchain, large; off here unless asked).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
if [ "${KSA_SKIP_DEPS:-0}" != 1 ] && command -v apt-get >/dev/null; then
  # the Python test environment is the test command's business
  KSA_WITH_HIP_PACKAGES=${KSA_WITH_HIP_PACKAGES:-0} KSA_SKIP_PYTHON=1 bash scripts/install-deps.sh
fi
[ -d /usr/local/cuda/bin ] && case ":$PATH:" in *:/usr/local/cuda/bin:*) ;; *) PATH=/usr/local/cuda/bin:$PATH ;; esac
build=${KSA_BUILD_DIR:-build}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# The build folder is shared with scripts/test.sh: leave its KSA_BUILD_TESTS as it is (tests need
# cmocka, which install-deps.sh provides; without it configure here without them).
tests=()
if ! pkg-config --exists cmocka 2>/dev/null; then
  echo "setup-and-demo: cmocka not found: configuring without the test suite (scripts/test.sh needs it)"
  tests=(-DKSA_BUILD_TESTS=OFF)
fi
# shellcheck disable=SC2086
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "${tests[@]}" ${KSA_CMAKE_ARGS:-}
cmake --build "$build" -j "$(nproc)" --target ksa ksa-plugins ksa-info ksa-demo
"$build/bin/ksa-info"
echo
[ $# -eq 0 ] && "$build/bin/ksa-demo" --which
"$build/bin/ksa-demo" "$@"
echo "setup-and-demo: done in $(( $(date +%s) - start )) s (build folder $build; tests: bash scripts/test.sh)"
