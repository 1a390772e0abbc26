#!/usr/bin/env bash
# Forty-third session, call 3: the lazy-margin check after the pass on the lent Xeon, by call 1's
# script (it ran as a copy of it) with .carry/devbin-cpu holding the binaries of ebe34bb's parent
# (ksa-cpu-bench-base) and of ebe34bb (ksa-cpu-bench-new). Run as ROUNDS=30 bash .../call3/run.sh.
exec bash "$(dirname "$0")/../call1/run.sh" "$@"
