#!/bin/sh
# pip_install_test.sh PYTHON BUILD_COPY LIBKSA: the package installs with pip and finds libksa by
# itself. Installs (offline: --no-deps --no-build-isolation --no-index, from a scratch copy so
# nothing is written next to the sources) the build folder's copy of python/ into a temporary
# target, imports it there with no KSA_* settings, and requires it to load LIBKSA (this build's) and
# see the reference and cpu devices; then installs the source tree's python/ the same way and
# requires KSA_LIBRARY to be honoured. ctest: python_pip_install.
set -u
py=$1 copy=$2 lib=$3
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ksa-pip-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
check='
import os, sys, ksa
path, how = ksa.library_path()
print("ksa", ksa.version(), "from", ksa.__file__, "loaded", path, "(" + how + ")")
want = os.path.realpath(sys.argv[1])
assert os.path.realpath(path) == want, f"loaded {path}, expected {want}"
assert ksa.__file__.startswith(sys.argv[2]), f"imported {ksa.__file__}, not the installed copy"
names = ksa.Context().device_names()
assert "reference" in names and "cpu" in names, names
'
cp -r "$copy" "$tmp/build-copy" && cp -r "$src" "$tmp/source-copy" || fail "cannot copy the package"
rm -rf "$tmp/source-copy/tests"
"$py" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --no-index \
  --target "$tmp/site1" "$tmp/build-copy" || fail "pip install of the build folder's copy"
[ -f "$tmp/site1/ksa/_build_location.py" ] || fail "the installed copy lost _build_location.py"
(cd "$tmp" && env -u KSA_LIBRARY -u KSA_PLUGIN_PATH PYTHONPATH="$tmp/site1" "$py" -c "$check" "$lib" "$tmp/site1") \
  || fail "the installed build copy did not find this build's libksa by itself"
"$py" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --no-index \
  --target "$tmp/site2" "$tmp/source-copy" || fail "pip install of the source tree's python/"
[ -f "$tmp/site2/ksa/_build_location.py" ] && fail "the source package must not carry a build location"
(cd "$tmp" && env -u KSA_PLUGIN_PATH PYTHONPATH="$tmp/site2" KSA_LIBRARY="$lib" "$py" -c "$check" "$lib" "$tmp/site2") \
  || fail "the installed source package did not honour KSA_LIBRARY"
echo "PASS"
