#!/usr/bin/env bash
# setup-and-demo.sh: the README's first command. Installs what is missing (Debian 12, as root),
# builds ksa with every backend whose toolchain is present, prints what was found (ksa-info) and
# runs the demo on the best device found.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null; then
  KSA_WITH_HIP_PACKAGES=${KSA_WITH_HIP_PACKAGES:-0} bash scripts/install-deps.sh
fi
build=${KSA_BUILD_DIR:-build}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# shellcheck disable=SC2086
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DKSA_BUILD_TESTS=OFF ${KSA_CMAKE_ARGS:-}
cmake --build "$build" -j "$(nproc)" --target ksa-info ksa-demo
"$build/bin/ksa-info"
echo
"$build/bin/ksa-demo" "$@"
