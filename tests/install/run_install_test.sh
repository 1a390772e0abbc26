#!/usr/bin/env bash
# run_install_test.sh BUILD_DIR SOURCE_DIR: install ksa into a temporary prefix, then configure,
# build and run a consumer through find_package(ksa) and through pkg-config.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; exit 1; }
PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" > /dev/null
cmake --build "$tmp/consumer" > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
export LD_LIBRARY_PATH="$tmp/prefix/lib"
"$tmp/consumer/consumer_cmake"
"$tmp/consumer/consumer_pkgconfig"
test -f "$tmp/prefix/include/ksa/ksa.h"
echo "install test: ok"
