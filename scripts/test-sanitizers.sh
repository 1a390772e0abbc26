#!/usr/bin/env bash
# test-sanitizers.sh: the README's test command (scripts/test.sh) twice more, under AddressSanitizer +
# UndefinedBehaviorSanitizer (core library, reference and CPU backend, tests not labelled slow;
# without the Python tests, since a sanitized libksa cannot be loaded into Python) and under
# ThreadSanitizer (the tests labelled threads: application threads on cpu and reference, cache
# reloads). CI runs it after the plain command (.ci/run); scripts/device/device-amx.sh sanitize runs
# it on an AMX CPU, whose default kernel level CI's machine lacks. Build folders PREFIX-asan and
# PREFIX-tsan (KSA_SANITIZE_BUILD_PREFIX, default build); scripts/test.sh's own variables
# (KSA_SKIP_DEPS, KSA_TEST_JOBS, ...) pass through. Fails when a test fails or none ran.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${KSA_SANITIZE_BUILD_PREFIX:-build}
off="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DKSA_WITH_CUDA=OFF -DKSA_WITH_HIP=OFF -DKSA_WITH_OPENCL=OFF -DKSA_WITH_PYTHON=OFF"
echo "== sanitizers (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  KSA_BUILD_DIR=$prefix-asan KSA_CMAKE_ARGS="-DKSA_SANITIZE=ON $off" KSA_CTEST_ARGS="-LE slow" bash scripts/test.sh
echo "== ThreadSanitizer (tests labelled threads: application threads on cpu and reference, cache reloads)"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  KSA_BUILD_DIR=$prefix-tsan KSA_CMAKE_ARGS="-DKSA_SANITIZE_THREAD=ON $off -DKSA_BUILD_TOOLS=OFF" KSA_CTEST_ARGS="-L threads" \
  bash scripts/test.sh
