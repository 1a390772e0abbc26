#!/usr/bin/env bash
# ctest-summary.sh JUNIT [CTEST_STATUS]: the last line of scripts/test.sh. Reads the test and skip
# counts of ctest's JUnit file (ctest --output-junit), prints how many tests ran and how many were
# skipped, and exits non-zero when ctest failed (CTEST_STATUS, default 0) or when no test ran at
# all (none found, or every one skipped): a test command that ran nothing has not passed.
set -uo pipefail
junit=$1 status=${2:-0}
total=0 skipped=0
if [ -f "$junit" ]; then
  # the attributes of <testsuite ...> may span lines
  suite=$(head -c 4096 "$junit" | tr '\n\t' '  ' | grep -o '<testsuite [^>]*>' || true)
  total=$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$suite")
  skipped=$(sed -n 's/.* skipped="\([0-9]*\)".*/\1/p' <<<"$suite")
fi
total=${total:-0} skipped=${skipped:-0}
ran=$((total - skipped))
echo "test summary: $ran test(s) ran, $skipped skipped (need hardware or software this machine lacks), of $total"
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
if [ "$ran" -le 0 ]; then
  echo "test summary: no test ran (ctest found $total, all skipped): that is a failure" >&2
  exit 1
fi
exit 0
