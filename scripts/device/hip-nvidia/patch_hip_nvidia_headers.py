#!/usr/bin/env python3
"""patch_hip_nvidia_headers.py: make a copy of an installed HIP include tree (e.g. Debian 12's
/usr/include/hip from libamdhip64-dev, ROCm 5.2) usable with CUDA 12/13, so the HIP backend can be
compiled for HIP's NVIDIA platform (nvcc -D__HIP_PLATFORM_NVIDIA__). ROCm 5.2's nvidia_detail
wrappers call CUDA APIs that later CUDA releases removed (texture references, multi-device
cooperative launch, cudaDeviceProp clock/compute-mode fields, old cudaMemAdvise/cuCtxCreate
signatures). This script copies the tree and, in nvidia_hip_runtime_api.h only, turns reads of the
removed cudaDeviceProp fields into 0, drops assignments to them, and deletes the top-level wrapper
functions that call removed APIs. Nothing is vendored into the repository: run it where the headers
are installed; the output goes to an ignored folder.
usage: patch_hip_nvidia_headers.py SRC_INCLUDE_DIR OUT_INCLUDE_DIR"""
import os
import re
import shutil
import sys

REMOVED_FIELDS = ["clockRate", "memoryClockRate", "computeMode", "kernelExecTimeoutEnabled",
                  "cooperativeMultiDeviceLaunch", "maxTexture1DLinear", "deviceOverlap"]
REMOVED_APIS = ["cudaBindTexture", "cudaBindTexture2D", "cudaUnbindTexture", "cudaBindTextureToArray",
                "cudaGetTextureAlignmentOffset", "cudaLaunchCooperativeKernelMultiDevice", "cudaMemAdvise(",
                "cudaMemPrefetchAsync(", "cuCtxCreate(", "cudaDevAttrCooperativeMultiDeviceLaunch",
                "texture<", "cudaGetTextureReference", "cudaGetChannelDesc(", "cudaProfilerInitialize",
                "cudaDevAttrMaxTexture1DLinearWidth", "cuDeviceComputeCapability", "cuDeviceGetProperties",
                "cudaThreadExit", "cudaThreadSynchronize", "cudaThreadSetLimit", "cudaThreadGetLimit",
                "cudaGraphAddDependencies(", "cudaGraphRemoveDependencies(", "cudaGraphGetEdges(",
                "cudaGraphNodeGetDependencies(", "cudaGraphNodeGetDependentNodes(", "cudaStreamGetCaptureInfo_v2(",
                "cudaStreamUpdateCaptureDependencies("]
# enum values that were renamed or removed: old -> a still existing one
RENAMED = {"cudaDevAttrCooperativeMultiDeviceLaunch": "cudaDevAttrCooperativeLaunch"}


def function_span(lines, at):
    """[first, last] line numbers of the top-level function around line `at`: the header starts at the
    line after the nearest blank or preprocessor line above, the body ends at the
    next '}' in column 0. None when the span holds preprocessor lines (left alone)."""
    first = at
    while first > 0 and lines[first - 1].strip() != "" and not lines[first - 1].startswith("#"):
        first -= 1
    if first > 0 and lines[first - 1].startswith("template"):
        first -= 1
    last = at
    while last < len(lines) and lines[last].rstrip() != "}":
        last += 1
    if last >= len(lines):
        return None
    if any(l.lstrip().startswith("#") for l in lines[first:last + 1]):
        return None
    head = "".join(lines[first:at + 1])
    if "(" not in head or "{" not in "".join(lines[first:last + 1]):
        return None
    return first, last


def patch_api(text):
    for f in REMOVED_FIELDS:
        # assignments to a removed cudaDeviceProp field: drop the statement; reads: 0
        text = re.sub(r"^[ \t]*cdprop\.%s\s*=[^;]*;[ \t]*\n" % f, "", text, flags=re.M)
        text = re.sub(r"cdprop\.%s\b" % f, "0", text)
    for old, new in RENAMED.items():
        text = text.replace(old, new)
    lines = text.splitlines(True)
    drop = set()
    for i, line in enumerate(lines):
        if i in drop or not any(api in line for api in REMOVED_APIS):
            continue
        span = function_span(lines, i)
        if span is None:
            sys.stderr.write("warning: line %d calls a removed API outside a function I can remove\n" % (i + 1))
            continue
        for k in range(span[0], span[1] + 1):
            drop.add(k)
    out = []
    for i, line in enumerate(lines):
        if i in drop:
            if i - 1 not in drop:
                out.append("/* (a wrapper of an API removed in CUDA >= 12 was dropped here) */\n")
            continue
        out.append(line)
    return "".join(out)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    if os.path.exists(os.path.join(dst, "hip")):
        shutil.rmtree(os.path.join(dst, "hip"))
    shutil.copytree(os.path.join(src, "hip"), os.path.join(dst, "hip"))
    api = os.path.join(dst, "hip", "nvidia_detail", "nvidia_hip_runtime_api.h")
    with open(api) as f:
        text = f.read()
    with open(api, "w") as f:
        f.write(patch_api(text))
    print("patched HIP headers for the NVIDIA platform in %s" % dst)


if __name__ == "__main__":
    main()
