#!/usr/bin/env bash
# test.sh: the README's test command. Installs missing Debian packages (and the Python test
# environment), configures with every backend whose toolchain is present (AUTO) and the test suite
# on (whatever the build folder had before), builds, and runs the whole ctest suite. Fails when a
# test fails and when no test ran at all; prints how many ran and which were skipped (tests that
# need hardware this machine lacks, e.g. a GPU, report themselves as skipped, never as passed).
# Environment: KSA_BUILD_DIR (default build), KSA_CMAKE_ARGS (extra configure arguments),
# KSA_SKIP_DEPS=1 (do not touch packages), KSA_TEST_JOBS (parallel tests, default 2),
# KSA_CTEST_ARGS (extra ctest arguments, e.g. "-LE slow"), KSA_TEST_COLD=1 (empty the tests' cache
# folder <build>/test-cache first, to time the cold path as on a fresh clone).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
if [ "${KSA_SKIP_DEPS:-0}" != 1 ] && command -v apt-get >/dev/null; then
  bash scripts/install-deps.sh
fi
[ -d /usr/local/cuda/bin ] && case ":$PATH:" in *:/usr/local/cuda/bin:*) ;; *) PATH=/usr/local/cuda/bin:$PATH ;; esac
build=${KSA_BUILD_DIR:-build}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# shellcheck disable=SC2086
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release ${KSA_CMAKE_ARGS:-} -DKSA_BUILD_TESTS=ON
cmake --build "$build" -j "$(nproc)"
if [ "${KSA_TEST_COLD:-0}" = 1 ]; then
  rm -rf "$build/test-cache"
fi
built=$(( $(date +%s) - start ))
junit="$build/Testing/ksa-ctest.xml"
rm -f "$junit"
rc=0
# shellcheck disable=SC2086
ctest --test-dir "$build" --output-on-failure --no-tests=error --output-junit "$(realpath -m "$junit")" \
  -j "${KSA_TEST_JOBS:-2}" ${KSA_CTEST_ARGS:-} || rc=$?
echo "test.sh: build ${built} s, total $(( $(date +%s) - start )) s"
bash scripts/ctest-summary.sh "$junit" "$rc"
