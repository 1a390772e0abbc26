# device-common.sh: setup shared by the device-machine scripts (bench/device-run.sh,
# examples/tp-run.sh and the backends' scripts/device/device-*.sh); sourced, not run. The lent
# machine has no package registry, so the test framework travels as Debian packages in .carry/cuda
# (see scripts/device/device-dev.sh).

# ksa_device_cmocka ROOT: unpack cmocka from ROOT/.carry/cuda/*.deb under /tmp/cmocka and point
# pkg-config, the compiler and the loader at it when the machine lacks it. Returns 0 when it
# unpacked, 1 when nothing was needed or nothing was carried.
ksa_device_cmocka() {
  local root=$1 f pc libdir
  pkg-config --exists cmocka 2>/dev/null && return 1
  ls "$root"/.carry/cuda/*.deb >/dev/null 2>&1 || return 1
  for f in "$root"/.carry/cuda/*.deb; do dpkg -x "$f" /tmp/cmocka; done
  pc=$(find /tmp/cmocka -name cmocka.pc | head -1)
  sed -i "s|/usr/|/tmp/cmocka/usr/|g" "$pc"
  libdir=$(dirname "$(dirname "$pc")")
  export PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export LIBRARY_PATH=$libdir${LIBRARY_PATH:+:$LIBRARY_PATH}
  export CPATH=/tmp/cmocka/usr/include${CPATH:+:$CPATH}
  return 0
}

# ksa_device_onednn ROOT: unpack Debian's oneDNN (.carry/dnnl/*.deb, libdnnl2 + libdnnl-dev) under
# /tmp/dnnl when the machine lacks it, and export KSA_DNNL_CMAKE (a -Ddnnl_DIR=... argument for
# cmake) and LD_LIBRARY_PATH. Returns 0 when it unpacked, 1 when nothing was carried.
ksa_device_onednn() {
  local root=$1 f cfg
  ls "$root"/.carry/dnnl/*.deb >/dev/null 2>&1 || return 1
  for f in "$root"/.carry/dnnl/*.deb; do dpkg -x "$f" /tmp/dnnl; done
  cfg=$(find /tmp/dnnl -name dnnl-config.cmake | head -1)
  [ -n "$cfg" ] || return 1
  export KSA_DNNL_CMAKE="-Ddnnl_DIR=$(dirname "$cfg")"
  export LD_LIBRARY_PATH=$(dirname "$(find /tmp/dnnl -name 'libdnnl.so.2*' | head -1)")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  return 0
}

# ksa_device_cccl ROOT: unpack the nvidia-cuda-cccl wheel carried in ROOT/.carry/cccl (CCCL 3.5 headers:
#   mkdir -p .carry/cccl && pip download --no-deps -d .carry/cccl -r bench/cuda/requirements-cccl.txt)
# under /tmp/cccl and export KSA_CCCL_INCLUDE, which CMake's KSA_WITH_CCCL_TOPK reads (ksa-topk-bench's
# DeviceBatchedTopK peer). Returns 0 when it unpacked, 1 when nothing was carried.
ksa_device_cccl() {
  local root=$1 f inc
  f=$(ls "$root"/.carry/cccl/nvidia_cuda_cccl-*.whl 2>/dev/null | head -1)
  [ -n "$f" ] || return 1
  python3 -m zipfile -e "$f" /tmp/cccl >/dev/null 2>&1 || return 1
  inc=$(dirname "$(dirname "$(dirname "$(find /tmp/cccl -name device_batched_topk.cuh | head -1)")")")
  [ -f "$inc/cub/device/device_batched_topk.cuh" ] || return 1
  export KSA_CCCL_INCLUDE=$inc
  return 0
}

# ksa_device_cuda_env: the CUDA toolkit for the build: CUDA_PATH (unless set) when /usr/local/cuda
# exists (its OpenCL headers and loader let the OpenCL plugin build too), and /usr/local/cuda/bin on
# PATH when nvcc is not on it already.
ksa_device_cuda_env() {
  [ -d /usr/local/cuda ] && export CUDA_PATH=${CUDA_PATH:-/usr/local/cuda}
  command -v nvcc >/dev/null 2>&1 || { [ -x /usr/local/cuda/bin/nvcc ] && export PATH=/usr/local/cuda/bin:$PATH; }
  return 0
}

# ksa_device_summary DIR: start DIR/summary.txt (SUM) and the clock (T0) of a device script; then
# say TEXT (print and append), elapsed (seconds since the start) and left RESERVE (seconds of
# $LIMIT still free after RESERVE, at least 5: a timeout for the next step).
ksa_device_summary() {
  mkdir -p "$1"
  SUM=$1/summary.txt
  : >"$SUM"
  T0=$(date +%s)
}
say() { echo "$*" | tee -a "$SUM"; }
elapsed() { echo $(($(date +%s) - T0)); }
left() {
  local l=$((LIMIT - $(elapsed) - $1))
  [ $l -lt 5 ] && l=5
  echo $l
}

# ksa_cuda_sanitize BUILD LOGDIR SECONDS REPORT: compute-sanitizer memcheck (exit status 9 on a
# finding) over BUILD's test_backends on cuda:0 and test_cuda, KSA_TEST_QUICK=1 (the CI-sized grid,
# head_dim 128, every mode and layout), each run capped at SECONDS; then racecheck, which runs 10-100x
# slower, over test_cuda's Llama-class case only (dense, anchor and reuse prefill on the sm_90a
# kernels with TMA and cp.async loads, chunked and paged; dense, anchor and reuse decode), capped at
# twice SECONDS. One log per tool, LOGDIR/sanitize-TOOL.log (started empty). After each run REPORT
# is called with the tool, the test command, its exit status and the log's last ERROR/RACECHECK
# SUMMARY line, to put in the caller's summary in the caller's words.
ksa_cuda_sanitize() {
  local build=$1 logdir=$2 seconds=$3 report=$4 t rc
  : >"$logdir/sanitize-memcheck.log"
  for t in "test_backends --devices cuda:0" test_cuda; do
    # shellcheck disable=SC2086
    KSA_TEST_QUICK=1 timeout "$seconds" compute-sanitizer --tool memcheck --error-exitcode 9 "$build/bin/"$t \
      >>"$logdir/sanitize-memcheck.log" 2>&1
    rc=$?
    "$report" memcheck "$t" "$rc" "$(grep -E 'ERROR SUMMARY' "$logdir/sanitize-memcheck.log" | tail -1)"
  done
  : >"$logdir/sanitize-racecheck.log"
  KSA_TEST_QUICK=1 KSA_TEST_FILTER=test_llama_class timeout $((seconds * 2)) compute-sanitizer --tool racecheck \
    --error-exitcode 9 "$build/bin/test_cuda" >>"$logdir/sanitize-racecheck.log" 2>&1
  rc=$?
  "$report" racecheck "test_cuda (test_llama_class)" "$rc" "$(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$logdir/sanitize-racecheck.log" | tail -1)"
}
