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

# ksa_sanitize_one TOOL SECONDS LOG REPORT LABEL BUILD TEST [ARGS...]: one compute-sanitizer run
# (exit status 9 on a finding) of BUILD/bin/TEST ARGS, capped at SECONDS, appended to LOG.
# test_backends runs the whole shared grid (head_dim 64, 128 and 256, every mode, phase and layout),
# every other test its CI-sized cases (KSA_TEST_QUICK); synccheck gets --num-cuda-barriers 65536,
# which its table of tracked barriers needs after the tensor-core decode. Then REPORT is called with
# TOOL, LABEL, the exit status and LOG's last ERROR/RACECHECK SUMMARY line, to put in the caller's
# summary in the caller's words.
ksa_sanitize_one() {
  local tool=$1 seconds=$2 log=$3 report=$4 label=$5 build=$6 test=$7 quick=1 extra=() rc
  shift 7
  [ "$test" = test_backends ] && quick=0
  [ "$tool" = synccheck ] && extra=(--num-cuda-barriers 65536)
  KSA_TEST_QUICK=$quick timeout "$seconds" compute-sanitizer --tool "$tool" "${extra[@]}" --error-exitcode 9 \
    "$build/bin/$test" "$@" >>"$log" 2>&1
  rc=$?
  "$report" "$tool" "$label" "$rc" "$(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$log" | tail -1)"
}

# ksa_cuda_sanitize BUILD LOGDIR SECONDS REPORT: memcheck over BUILD's test_backends on cuda:0 (the
# whole grid; ~5 s under memcheck on the H200) and test_cuda (its CI-sized cases), each run capped at
# SECONDS; then racecheck, which runs 10-100x slower, over test_cuda's Llama-class case only (dense,
# anchor and reuse prefill on the sm_90a kernels with TMA and cp.async loads, chunked and paged;
# dense, anchor and reuse decode), capped at twice SECONDS. One log per tool,
# LOGDIR/sanitize-TOOL.log (started empty); REPORT as for ksa_sanitize_one.
ksa_cuda_sanitize() {
  local build=$1 logdir=$2 seconds=$3 report=$4
  : >"$logdir/sanitize-memcheck.log"
  ksa_sanitize_one memcheck "$seconds" "$logdir/sanitize-memcheck.log" "$report" "test_backends --devices cuda:0" \
    "$build" test_backends --devices cuda:0
  ksa_sanitize_one memcheck "$seconds" "$logdir/sanitize-memcheck.log" "$report" test_cuda "$build" test_cuda
  : >"$logdir/sanitize-racecheck.log"
  KSA_TEST_FILTER=test_llama_class ksa_sanitize_one racecheck $((seconds * 2)) "$logdir/sanitize-racecheck.log" \
    "$report" "test_cuda (test_llama_class)" "$build" test_cuda
}

# ksa_cuda_sanitize_wide BUILD LOGDIR SECONDS REPORT: the checks the full run has no time for:
# initcheck (device memory read before anything wrote it: the workspace is cudaMalloc'd, never
# cleared) and synccheck (barrier misuse) over test_cuda, test_cuda_graph and test_backends, each run
# capped at SECONDS, then racecheck over every quick test_cuda case and the whole test_backends grid,
# capped at four times SECONDS each. ~280 s in all on the H200 (bench/NOTES.md, thirty-third
# session, calls 1-4). One log per tool and test, LOGDIR/sanitize-TOOL-TEST.log (started empty);
# REPORT as for ksa_sanitize_one.
ksa_cuda_sanitize_wide() {
  local build=$1 logdir=$2 seconds=$3 report=$4 tool t log cap
  for tool in initcheck synccheck racecheck; do
    cap=$seconds
    [ $tool = racecheck ] && cap=$((seconds * 4))
    for t in test_cuda test_cuda_graph test_backends; do
      [ $tool = racecheck ] && [ $t = test_cuda_graph ] && continue
      log=$logdir/sanitize-$tool-$t.log
      : >"$log"
      if [ $t = test_backends ]; then
        ksa_sanitize_one $tool "$cap" "$log" "$report" "test_backends --devices cuda:0" "$build" test_backends --devices cuda:0
      else
        ksa_sanitize_one $tool "$cap" "$log" "$report" $t "$build" $t
      fi
    done
  done
}

# Development calls (A/B of plugins built here; bench/README.md, "Development calls"). The binaries and
# plugins travel prebuilt in ROOT/.carry/devbin: bin/ (test_cuda, test_backends, ksa-bench, ...),
# core/ (libksa.so*) and lib_TAG.tar.xz (a folder lib_TAG with one libksa_cuda.so per variant).
# ksa_dev_libs ROOT TAG...: unpack those plugins, point the loader at core/, turn the tuning cache
# off and export KSA_DEV (the devbin folder).
ksa_dev_libs() {
  local root=$1 t
  shift
  export KSA_DEV=$root/.carry/devbin
  for t in "$@"; do tar xJf "$KSA_DEV/lib_$t.tar.xz" -C "$KSA_DEV" || return 1; done
  export KSA_TUNE_CACHE=off LD_LIBRARY_PATH=$KSA_DEV/core${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  return 0
}

# ksa_dev_peer ROOT TAG OUT [peer_torch.py args...]: bench/peer_torch.py with plugin TAG (and ROOT's
# python binding), its records tagged TAG and appended to OUT, under a 120 s timeout; a configuration
# override goes in as --config STR. `python3 ROOT/bench/dev_ab.py OUT --base TAG` summarises the rounds.
ksa_dev_peer() {
  local root=$1 tag=$2 out=$3
  shift 3
  KSA_ROOT=$root KSA_PLUGIN_PATH=$KSA_DEV/lib_$tag timeout 120 python3 "$root/bench/peer_torch.py" --tag "$tag" \
    --out "$out" --append "$@"
}

# ksa_dev_ncu_sum ROOT TAG MODE SHAPE DTYPE [PHASE]: one ksa-bench call (PHASE default prefill) of plugin
# TAG under Nsight Compute (durations only, unlocked clocks), printed as per-pass sums by
# bench/dev_ncu_sum.py (ksa-bench's warm-up and timed calls all count: compare TAGs, not absolutes).
ksa_dev_ncu_sum() {
  local root=$1 tag=$2 mode=$3 shape=$4 dtype=$5 phase=${6:-prefill}
  KSA_PLUGIN_PATH=$KSA_DEV/lib_$tag timeout 60 ncu --clock-control none --metrics gpu__time_duration.sum --csv \
    -k regex:'k90_|kg_topk|kc_' "$KSA_DEV/bin/ksa-bench" --device cuda:0 --shape "$shape" --mode "$mode" \
    --phase "$phase" --dtype "$dtype" --repeats 1 --warmup 0 2>/dev/null |
    python3 "$root/bench/dev_ncu_sum.py" --title "$tag $mode $shape $dtype"
}
