#!/bin/sh
# test_ctest_summary.sh: scripts/ctest-summary.sh, the verdict of the README's test command, on
# JUnit files shaped like ctest's: some ran -> 0; every test skipped -> failure; no test -> failure;
# no file -> failure; ctest's own failure status is passed on.
# Usage: test_ctest_summary.sh <path to scripts/ctest-summary.sh>
set -u
SUMMARY=$1
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ksa-summary-XXXXXX") || exit 1
trap 'rm -rf "$DIR"' EXIT
fails=0
junit() { # junit FILE TESTS SKIPPED: ctest's layout, one attribute per line
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="(empty)"\n\ttests="%s"\n\tfailures="0"\n\tdisabled="0"\n\tskipped="%s"\n\thostname=""\n\t>\n</testsuite>\n' "$2" "$3" >"$1"
}
check() { # check WANT_STATUS PATTERN ARGS...
  want=$1 pat=$2
  shift 2
  bash "$SUMMARY" "$@" >"$DIR/out" 2>&1
  rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qE -- "$pat" "$DIR/out"; then
    echo "FAIL: ctest-summary.sh $* -> $rc (want $want, pattern $pat):"; cat "$DIR/out"; fails=$((fails + 1))
  else
    echo "ok:   ctest-summary.sh $* -> $rc: $(tail -1 "$DIR/out")"
  fi
}
junit "$DIR/some.xml" 40 4
junit "$DIR/allskip.xml" 3 3
junit "$DIR/none.xml" 0 0
check 0 "36 test\(s\) ran, 4 skipped" "$DIR/some.xml" 0
check 8 "36 test\(s\) ran" "$DIR/some.xml" 8
check 1 "no test ran \(ctest found 3, all skipped\)" "$DIR/allskip.xml" 0
check 1 "no test ran \(ctest found 0" "$DIR/none.xml" 0
check 1 "no test ran" "$DIR/missing.xml" 0
[ "$fails" -eq 0 ] || exit 1
echo PASS
