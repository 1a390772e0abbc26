/* hip_vendor.c: what the HIP plugin adds to the GPU layer's host glue (backends/gpu/gpu_backend.c,
 * built here with KSA_GPU_RUNTIME_HIP): how AMD devices are named (gfx ISA, and whether this plugin
 * carries code for it), what it supports (f32/f16/bf16, head_dim up to 512), and per call the
 * launcher table:
 *  - decode at f16/bf16 and head_dim 64/128/256 whose LDS need fits the device: the GPU layer's
 *    shared split decode, combine, anchor pooling and radix Top-k (backends/gpu/decode_topk.cu);
 *  - everything else (prefill, and decode at f32 or other head dims): this folder's kernels,
 *    kh_attend for the attention passes and kh_pool_topk for the anchor's pooled scores, which
 *    also selects (so the table has no separate Top-k step there).
 * MFMA prefill kernels for gfx90a/gfx94x are not written; they would plug in as another table.
 * Written in C11 that also compiles as C++, so the same file builds for HIP's NVIDIA platform. */
#include <stdio.h>
#include <string.h>

#include "ksa_gpu_backend.h"
#include "ksa_hip.h"

#ifndef KSA_HIP_ARCHS
#define KSA_HIP_ARCHS "gfx90a,gfx940,gfx1030" /* set by CMake from KSA_HIP_ARCHS */
#endif
#define KH_POOLED_CAP ((size_t)64 << 20) /* bytes of pooled-score rows per kh_pool_topk launch */

#if defined(__HIP_PLATFORM_NVIDIA__)
#define KH_NO_DEVICE "no NVIDIA GPU for HIP's NVIDIA platform"
#else
#define KH_NO_DEVICE "no AMD GPU"
#endif

/* ------------------------------------------------------------------ launcher tables */
static int hip_attend(const ksa_gpu_args *a, const ksa_gpu_call *c)
{
    if (c->kernel)
        snprintf(c->kernel, (size_t)c->kernel_len, "attend_%s_%s_d%d", a->sparse ? "sparse" : "dense",
                 a->decode ? "decode" : "prefill", kh_max_head_dim(a->head_dim));
    if (a->dtype == KSA_GPU_DT_F32) return kh_launch_attend_f32(a, c);
    if (a->dtype == KSA_GPU_DT_F16) return kh_launch_attend_f16(a, c);
    return kh_launch_attend_bf16(a, c);
}

static int hip_pool_topk(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles)
{
    if (a->dtype == KSA_GPU_DT_F32) return kh_launch_pool_topk_f32(a, c, tile0, ntiles);
    if (a->dtype == KSA_GPU_DT_F16) return kh_launch_pool_topk_f16(a, c, tile0, ntiles);
    return kh_launch_pool_topk_bf16(a, c, tile0, ntiles);
}

/* the prefill-style sequence: kh_attend passes, kh_pool_topk pools and selects */
static const ksa_gpu_kernels kh_rows = {hip_attend, hip_pool_topk, NULL, NULL, NULL, NULL};
/* decode through the GPU layer's shared split decode */
static const ksa_gpu_kernels kh_split_decode = {
    hip_attend, NULL, ksa_gpu_launch_topk, ksa_gpu_launch_decode, ksa_gpu_launch_decode_combine, ksa_gpu_launch_decode_pool,
};

/* ------------------------------------------------------------------ devices */
#if !defined(__HIP_PLATFORM_NVIDIA__)
/* Is `arch` (e.g. "gfx90a", without ":sramecc+..." features) in the comma-separated built list? */
static int kh_arch_listed(const char *arch)
{
    size_t n = strlen(arch);
    const char *s = KSA_HIP_ARCHS;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && strncmp(s, arch, n) == 0) return 1;
        if (!e) break;
        s = e + 1;
    }
    return 0;
}
#endif

static void hip_why_absent(int err, int found, char *why, size_t len)
{
    hipError_t e = (hipError_t)err;
    if (e == hipSuccess && found > 0) {
        snprintf(why, len, KH_NO_DEVICE ": hipGetDeviceProperties failed on all %d devices", found);
        return;
    }
    const char *name = hipGetErrorName(e), *text = e == hipSuccess ? "0 devices" : hipGetErrorString(e);
    if (strcmp(name, text) == 0)
        snprintf(why, len, KH_NO_DEVICE ": hipGetDeviceCount returned %s", name);
    else
        snprintf(why, len, KH_NO_DEVICE ": hipGetDeviceCount returned %s (%s)", name, text);
}

static int hip_device(ksa_gpu_device *d)
{
#if defined(__HIP_PLATFORM_NVIDIA__)
    snprintf(d->isa, sizeof d->isa, "sm_%d%d", d->prop.major, d->prop.minor);
    d->arch_built = 1; /* nvcc compiled for the build machine's chosen architectures */
#else
    snprintf(d->isa, sizeof d->isa, "%s", d->prop.gcnArchName);
    char *colon = strchr(d->isa, ':'); /* "gfx90a:sramecc+:xnack-" -> "gfx90a" */
    if (colon) *colon = '\0';
    d->arch_built = kh_arch_listed(d->isa);
#endif
    d->decode_smem_limit = d->prop.sharedMemPerBlock; /* AMD: 64 KiB of LDS, no opt-in */
    return 1;
}

static void hip_driver_version(char *out, size_t len)
{
    int runtime = 0, driver = 0;
    (void)hipRuntimeGetVersion(&runtime);
    (void)hipDriverGetVersion(&driver);
    snprintf(out, len, "hip runtime %d, driver %d", runtime, driver);
}

/* ------------------------------------------------------------------ support, plan */
static ksa_status hip_check(const ksa_host_api *host, const ksa_gpu_device *d, int index, const ksa_problem *p)
{
    if (!d->arch_built)
        return host->set_error(KSA_STATUS_UNSUPPORTED,
                               "hip: hip:%d is a %s but this plugin carries code only for %s; rebuild with "
                               "-DKSA_HIP_ARCHS=\"%s\" (with a ROCm that knows that target)",
                               index, d->isa, KSA_HIP_ARCHS, d->isa);
    if (p->dtype != KSA_DTYPE_F32 && p->dtype != KSA_DTYPE_F16 && p->dtype != KSA_DTYPE_BF16)
        return host->set_error(KSA_STATUS_UNSUPPORTED, "hip: storage type %d is not supported (f32, f16, bf16 are)",
                               (int)p->dtype);
    if (!kh_max_head_dim(p->head_dim))
        return host->set_error(KSA_STATUS_UNSUPPORTED, "hip: head_dim %d is above the %d this backend supports", p->head_dim,
                               KH_MAX_HEAD_DIM);
    return KSA_STATUS_SUCCESS;
}

static void hip_plan(const ksa_gpu_device *d, const ksa_problem *p, ksa_gpu_plan *pl)
{
    pl->pooled_cap = KH_POOLED_CAP;
    pl->kernels = &kh_rows;
    if (p->phase == KSA_PHASE_DECODE && ksa_gpu_decode_supports((int)p->dtype, p->head_dim) &&
        ksa_gpu_decode_smem(p->head_dim, p->group_size, 1) <= d->decode_smem_limit) {
        pl->kernels = &kh_split_decode;
        pl->split_decode = 1;
    }
}

static void hip_config(const ksa_gpu_plan *pl, const ksa_problem *p, char *out, size_t len)
{
    if (p->phase == KSA_PHASE_DECODE && pl->split_decode)
        snprintf(out, len, "decode_splits=%d,decode_stages=%d", pl->splits, pl->dec_stages);
    else
        snprintf(out, len, "threads=%d,max_head_dim=%d", KH_THREADS, kh_max_head_dim(p->head_dim));
}

const ksa_gpu_vendor ksa_gpu_vendor_ops = {
    "hip",    KSA_DEVICE_HIP, hip_why_absent, hip_device, hip_driver_version, hip_check,
    hip_plan, NULL,           hip_config,     NULL,
};
