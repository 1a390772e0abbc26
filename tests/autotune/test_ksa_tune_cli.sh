#!/bin/sh
# test_ksa_tune_cli.sh: end-to-end smoke test of the ksa-tune command on the first device that
# has tunable parameters (cpu when built in): --help, a bad option, --dry-run, a short tuning job
# into a temporary cache, --show, and --compare (--json and text) reading that cache back: the
# rounds' speedup, noise band, built-in run-to-run band and verdict are reported, and the exit
# status is 3 exactly when a tuned (not built-in) shape is "slower" beyond its band.
# Usage: test_ksa_tune_cli.sh <path to ksa-tune>
set -u
TUNE="$1"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ksa-tune-cli-XXXXXX") || exit 1
trap 'rm -rf "$DIR"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$TUNE" --help > "$DIR/help.txt" || fail "--help exited with $?"
grep -q -- "--dry-run" "$DIR/help.txt" || fail "--help does not list --dry-run"
"$TUNE" --no-such-option > /dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown option must exit with status 2"
"$TUNE" --shape B=1,Hq=3,L=x > /dev/null 2>&1
[ $? -eq 2 ] || fail "a malformed --shape must exit with status 2"
"$TUNE" --rounds 2 > "$DIR/rounds.txt" 2>&1
[ $? -eq 2 ] || fail "--rounds 2 must exit with status 2"
grep -q -- "--rounds" "$DIR/rounds.txt" || fail "the --rounds error does not name the option"

if ! "$TUNE" --device cpu --dry-run --op dense.decode --shape B=1,Hq=4,Hkv=2,D=64,L=256 > "$DIR/dry.txt" 2>&1; then
    cat "$DIR/dry.txt"
    echo "SKIP: no cpu device (the CPU backend is not built)"
    exit 0
fi
cat "$DIR/dry.txt"
grep -q "(default values)" "$DIR/dry.txt" || fail "--dry-run does not list the default configuration first"

CACHE="$DIR/sub/cache.txt"
"$TUNE" --device cpu --op dense.decode,reuse.prefill --dtype f32 --shape B=1,Hq=4,Hkv=2,D=64,L=256 \
    --budget 20 --repeats 3 --quiet --cache "$CACHE" > "$DIR/tune.txt" 2>&1 || { cat "$DIR/tune.txt"; fail "tuning failed"; }
cat "$DIR/tune.txt"
[ -f "$CACHE" ] || fail "no cache file written"
head -n 1 "$CACHE" | grep -q "^ksa-tune-cache 1$" || fail "cache header missing"
[ "$(grep -c 'op=dense.decode' "$CACHE")" -eq 1 ] || fail "no dense.decode entry (winner or builtin marker) in the cache"
[ "$(grep -c 'op=reuse.prefill' "$CACHE")" -eq 1 ] || fail "no reuse.prefill entry in the cache"
ls "$DIR/sub" | grep -q "\.tmp\." && fail "a temporary file was left next to the cache"

"$TUNE" --device cpu --show --cache "$CACHE" > "$DIR/show.txt" 2>&1 || fail "--show failed"
grep -q "2 valid entries" "$DIR/show.txt" || { cat "$DIR/show.txt"; fail "--show does not see the 2 entries"; }

"$TUNE" --device cpu --op dense.decode --dtype f32 --shape B=1,Hq=4,Hkv=2,D=64,L=256 --compare --json --repeats 3 \
    --quiet --cache "$CACHE" > "$DIR/cmp.jsonl" 2>&1
rc=$?
cat "$DIR/cmp.jsonl"
[ $rc -eq 0 ] || [ $rc -eq 3 ] || fail "--compare exited with $rc"
grep -q '"source":"cache:exact' "$DIR/cmp.jsonl" || fail "--compare did not find the tuned entry"
for field in builtin_ms tuned_ms speedup same_code ratio ratio_low ratio_high builtin_band_low builtin_band_high \
    rounds calls_per_round round_ratios verdict; do
    grep -q "\"$field\":" "$DIR/cmp.jsonl" || fail "--compare --json has no \"$field\" field"
done
grep -q '"rounds":5,' "$DIR/cmp.jsonl" || fail "--compare did not run the default 5 rounds"
grep -Eq '"verdict":"(faster|same within noise|slower)"' "$DIR/cmp.jsonl" || fail "--compare --json has no known verdict"
# exit status 3 exactly when a tuned (not same-code) shape is slower beyond its band
if grep '"same_code":false' "$DIR/cmp.jsonl" | grep -q '"verdict":"slower"'; then want=3; else want=0; fi
[ $rc -eq $want ] || fail "--compare exited with $rc but its verdicts call for $want"

"$TUNE" --device cpu --op dense.decode,reuse.prefill --dtype f32 --shape B=1,Hq=4,Hkv=2,D=64,L=256 --compare --rounds 3 \
    --repeats 3 --quiet --cache "$CACHE" > "$DIR/cmp.txt" 2>&1
rc=$?
cat "$DIR/cmp.txt"
grep -q "band \[" "$DIR/cmp.txt" || fail "--compare text output shows no noise band"
grep -q "built-in run-to-run \[" "$DIR/cmp.txt" || fail "--compare text output shows no built-in run-to-run band"
grep -q "^P9: .* beyond the noise band" "$DIR/cmp.txt" || fail "--compare text output has no P9 summary"
if grep -q "^P9: 0 of" "$DIR/cmp.txt"; then want=0; else want=3; fi
[ $rc -eq $want ] || fail "--compare (text) exited with $rc but its summary calls for $want"
echo "PASS"
