#!/usr/bin/env bash
# install-deps.sh: install the Debian 12 packages ksa builds and tests with, when missing.
# Needs root (or sudo) and apt; does nothing when everything is already installed.
# KSA_WITH_HIP_PACKAGES=0 skips the (large) HIP toolchain.
set -euo pipefail
pkgs=(cmake ninja-build pkg-config gcc g++ make libcmocka-dev libhwloc-dev hwloc libjansson-dev
      ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo python3 libdnnl-dev)
if [ "${KSA_WITH_HIP_PACKAGES:-1}" = 1 ]; then
  pkgs+=(hipcc libamdhip64-dev rocm-device-libs)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
