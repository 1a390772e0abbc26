#!/bin/sh
# test_cli_bad_input.sh: bad input to the command-line tools gets an exit status and a sentence,
# and changes nothing. ksa-bench: a missing or malformed --head-maps file is an error (status 2,
# an existing --out file left as it was); a run whose inputs do not fit in the device's memory is
# skipped with a sentence, grid and schedule alike, and a run that measured nothing exits 3;
# numeric options are checked. ksa-tune: numeric options (--min-gain abc|5|-1 ...) and a cache path
# that is a folder. KSA_NUM_THREADS=-1|abc|100000, KSA_CPU_NUMA=both and KSA_CPU_SPIN_US=-5|999999: warned about, and ksa-info shows what was done;
# ksa-info lists every ksa variable set (and flags unknown KSA_ names). ksa-demo: numeric options.
# Usage: test_cli_bad_input.sh KSA_BENCH KSA_TUNE KSA_INFO KSA_DEMO TEST_DATA_DIR
set -u
BENCH=$1 TUNE=$2 INFO=$3 DEMO=$4 DATA=$5
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ksa-cli-bad-XXXXXX") || exit 1
trap 'rm -rf "$DIR"' EXIT
fails=0

# expect STATUS PATTERN COMMAND...: COMMAND must exit with STATUS and print a line matching PATTERN
expect() {
  want=$1 pat=$2
  shift 2
  "$@" >"$DIR/out" 2>&1
  rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qE -- "$pat" "$DIR/out"; then
    echo "FAIL: $* -> exit $rc (want $want; pattern: $pat); output:"
    head -20 "$DIR/out"
    fails=$((fails + 1))
  else
    echo "ok:   $* -> exit $rc: $(grep -E -m1 -- "$pat" "$DIR/out" | cut -c1-200)"
  fi
}

# ---- ksa-bench
MAPS=$DATA/Meta-Llama-3.1-8B-Instruct_layers_0_2_8_13_14.npy
printf 'results of an earlier run\n' >"$DIR/keep.jsonl"
expect 2 "^ksa-bench: --head-maps /nonexistent.npy: cannot open" \
  "$BENCH" --schedule --quick --device reference --no-probe --head-maps /nonexistent.npy --out "$DIR/keep.jsonl"
expect 2 "^ksa-bench: --head-maps .*planted6x2_importance.npy: .*int32" \
  "$BENCH" --schedule --quick --device reference --no-probe --head-maps "$DATA/planted6x2_importance.npy" --out "$DIR/keep.jsonl"
[ "$(cat "$DIR/keep.jsonl")" = "results of an earlier run" ] || { echo "FAIL: a refused run changed its --out file"; fails=$((fails + 1)); }
expect 3 "nothing was measured: 1 record.*needs 4398.0 GB of the [0-9.]+ GB of (available host memory|device memory)" \
  "$BENCH" --device reference --no-probe --mode dense --phase decode --shape 64,1,16777216,32,8,128
expect 3 "schedule decode B64 Lk16777216 skipped: needs [0-9.]+ GB of the [0-9.]+ GB" \
  "$BENCH" --schedule --device reference --no-probe --head-maps "$MAPS" --shape 64,1,16777216,32,8,128
expect 2 "^ksa-bench: --fraction must be a number in \(0, 1\], not 'abc'" "$BENCH" --fraction abc --dry-run
expect 2 "^ksa-bench: --repeats must be a whole number in 1\.\.200, not '-1'" "$BENCH" --repeats -1 --dry-run
expect 2 "^ksa-bench: --tile must be a whole number in 1\.\.1024, not '0'" "$BENCH" --tile 0 --dry-run
expect 2 "^ksa-bench: --schedule-sets must be a whole number in 1\.\.8, not '2x'" "$BENCH" --schedule-sets 2x --dry-run
expect 0 '"status":"ok"' "$BENCH" --quick --device reference --no-probe --mode dense --phase decode --repeats 1

# ---- ksa-tune
for v in abc 5 -1 1; do
  expect 2 "^ksa-tune: --min-gain must be a number in \[0, 1\), not '$v'" "$TUNE" --dry-run --min-gain "$v"
done
expect 2 "^ksa-tune: --budget must be a number in \(0, 1e\+07\], not 'soon'" "$TUNE" --dry-run --budget soon
expect 2 "^ksa-tune: --repeats must be a whole number in 1\.\.10000, not '0'" "$TUNE" --dry-run --repeats 0
expect 2 "^ksa-tune: --warmup must be a whole number in 0\.\.10000, not '-2'" "$TUNE" --dry-run --warmup -2
for v in 65 -1 two; do
  expect 2 "^ksa-tune: --sample-calls must be a whole number in 0\.\.64, not '$v'" "$TUNE" --dry-run --sample-calls "$v"
done
expect 2 "^ksa-tune: --max-candidates must be a whole number in 1\.\.1000000, not '1e3'" "$TUNE" --dry-run --max-candidates 1e3
mkdir "$DIR/cachedir"
expect 2 "^ksa-tune: tuning cache $DIR/cachedir \(--cache\) is a folder; name a file, e.g. $DIR/cachedir/tune-cache.txt" \
  "$TUNE" --dry-run --op dense.decode --shape B=1,Hq=4,Hkv=2,D=64,L=256 --cache "$DIR/cachedir"
expect 2 "^ksa-tune: tuning cache $DIR/cachedir \(KSA_TUNE_CACHE\) is a folder" \
  env KSA_TUNE_CACHE="$DIR/cachedir" "$TUNE" --show
[ -z "$(ls -A "$DIR/cachedir")" ] || { echo "FAIL: ksa-tune wrote into the folder it refused"; fails=$((fails + 1)); }

# ---- KSA_NUM_THREADS and ksa-info's environment section
if "$INFO" | grep -q "thread pool:"; then
  expect 0 "^ksa: warning: KSA_NUM_THREADS=-1 ignored: not a whole number >= 1; using [0-9]+ threads" env KSA_NUM_THREADS=-1 "$INFO"
  expect 0 "^  KSA_NUM_THREADS=abc: CPU thread pool size; pool: .*KSA_NUM_THREADS=abc ignored" env KSA_NUM_THREADS=abc "$INFO"
  expect 0 "^ksa: warning: KSA_NUM_THREADS=100000 capped at [0-9]+ threads" env KSA_NUM_THREADS=100000 "$INFO"
  expect 0 "^  KSA_NUM_THREADS=3: CPU thread pool size; pool: 3 threads" env KSA_NUM_THREADS=3 "$INFO"
  expect 0 "^ksa: warning: KSA_CPU_NUMA=both ignored: not first-touch, interleave or off; using first-touch" \
    env KSA_CPU_NUMA=both "$INFO"
  expect 0 "^  KSA_CPU_NUMA=off: CPU NUMA policy: first-touch, interleave or off; pool: " env KSA_CPU_NUMA=off "$INFO"
  expect 0 "^ksa: warning: KSA_CPU_SPIN_US=-5 ignored: not a whole number >= 0; spinning 0 us" env KSA_CPU_SPIN_US=-5 "$INFO"
  expect 0 "^ksa: warning: KSA_CPU_SPIN_US=999999 capped at 100000 us" env KSA_CPU_SPIN_US=999999 "$INFO"
  expect 0 "^  KSA_CPU_SPIN_US=250: CPU pool: .*; pool: .*spin 250 us before sleeping" env KSA_CPU_SPIN_US=250 "$INFO"
else
  echo "note: no CPU backend in this build: the KSA_NUM_THREADS cases do not apply"
fi
env KSA_BACKEND=reference KSA_LOG=0 KSA_CHECK=1 KSA_TUNE_CACHE=off KSA_OPENCL_FP16=off KSA_OPENCL_QUIRKS=none \
  KSA_CPU_ISA=portable KSA_NUMTHREADS=4 "$INFO" >"$DIR/info.txt" 2>&1
for line in "KSA_BACKEND=reference: .*auto -> reference" "KSA_LOG=0: .*off" "KSA_CHECK=1: .*on" \
            "KSA_TUNE_CACHE=off: .*(off|tuning cache)" "KSA_OPENCL_FP16=off" "KSA_OPENCL_QUIRKS=none" \
            "KSA_CPU_ISA=portable: .*kernel level portable" "KSA_NUMTHREADS=4: NOT a ksa setting"; do
  grep -qE "^  $line" "$DIR/info.txt" || { echo "FAIL: ksa-info does not show '$line'"; fails=$((fails + 1)); }
done
expect 0 "^  none: every setting at its default" env -i PATH="$PATH" "$INFO"

# ---- ksa-demo
expect 2 "^ksa-demo: --steps must be a whole number in 1\.\.1000, not 'abc'" "$DEMO" --steps abc
expect 2 "^ksa-demo: --seq-len must be a whole number in 1\.\.1048576, not '-5'" "$DEMO" --seq-len -5

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "PASS"
