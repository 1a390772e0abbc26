#!/usr/bin/env bash
# test.sh: the README's test command. Installs missing Debian packages, configures with every
# backend whose toolchain is present (AUTO), builds, and runs the whole ctest suite.
# Environment: KSA_BUILD_DIR (default build), KSA_CMAKE_ARGS (extra configure arguments),
# KSA_SKIP_DEPS=1 (do not touch packages), KSA_TEST_JOBS (parallel tests, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${KSA_SKIP_DEPS:-0}" != 1 ] && command -v apt-get >/dev/null; then
  bash scripts/install-deps.sh
fi
build=${KSA_BUILD_DIR:-build}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# shellcheck disable=SC2086
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release ${KSA_CMAKE_ARGS:-}
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "${KSA_TEST_JOBS:-2}" ${KSA_CTEST_ARGS:-}
