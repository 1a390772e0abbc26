/* cuda_vendor.c: what the CUDA plugin adds to the GPU layer's host glue (backends/gpu/gpu_backend.c):
 * which NVIDIA devices it uses (compute capability 8.0 or newer: the kernels are built for sm_80
 * and sm_90a) and how they are named, what it supports (f16/bf16, head_dim 64/128/256, shared-memory
 * limits), its tunable space, and per call the launcher table: the tensor-core prefill of
 * flash_prefill.cu (mma.sync) and the GPU layer's shared split decode, pooling and radix Top-k.
 * A kernel for one compute capability (e.g. sm_90a wgmma) plugs in here: another table chosen in
 * cuda_plan from d->prop.major/minor, with its own KSA_GPU_WS_VENDOR* regions if it needs them. */
#include <stdio.h>
#include <string.h>

#include "ksa_cuda.h"
#include "ksa_gpu_backend.h"

/* prefill CTA: 8 warps x 16 MMA rows (4 x 32 is the tunable alternative at head_dim <= 128) */
#define KC_DEFAULT_WARPS 8
#define KC_PLAN_WARPS 0 /* ksa_gpu_plan.vendor[KC_PLAN_WARPS]: warps per prefill CTA */

static const ksa_gpu_kernels kc_kernels = {
    kc_launch_flash_prefill,     kc_launch_pooled_prefill,      ksa_gpu_launch_topk,
    ksa_gpu_launch_decode,       ksa_gpu_launch_decode_combine, ksa_gpu_launch_decode_pool,
};

/* ------------------------------------------------------------------ devices */
static void cuda_why_absent(int err, int found, char *why, size_t len)
{
    if (err)
        snprintf(why, len, "no CUDA driver (cudaGetDeviceCount: %s)", cudaGetErrorString((cudaError_t)err));
    else if (found <= 0)
        snprintf(why, len, "no CUDA device (cudaGetDeviceCount found 0)");
    else
        snprintf(why, len, "no CUDA device of compute capability 8.0 or newer (found %d older)", found);
}

static int cuda_device(ksa_gpu_device *d)
{
    if (d->prop.major < 8) return 0; /* kernels are built for sm_80 and sm_90a */
    snprintf(d->isa, sizeof d->isa, "sm_%d%d", d->prop.major, d->prop.minor);
    d->arch_built = 1;
    d->decode_smem_limit = 200 * 1024;
    return 1;
}

static void cuda_driver_version(char *out, size_t len)
{
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    snprintf(out, len, "driver %d runtime %d", driver, runtime);
}

/* ------------------------------------------------------------------ tunables */
static const int32_t kc_v_block_q[] = {KC_PREFILL_ROWS};
static const int32_t kc_v_block_k[] = {64};
static const int32_t kc_v_warps[] = {4, 8};
static const int32_t kc_v_warps256[] = {8};
static const int32_t kc_v_dstages[] = {0, 1, 2};
static const int32_t kc_v_stages[] = {2};
static const int32_t kc_v_splits[] = {0, 1, 2, 4, 8, 16, 32, 64};
static const int32_t kc_v_group_tiles[] = {0, 16, 64, 256, 1024};

enum { KC_T_BLOCK_Q, KC_T_BLOCK_K, KC_T_WARPS, KC_T_STAGES, KC_T_PREFILL_COUNT };
enum { KC_T_SPLITS, KC_T_DSTAGES, KC_T_DECODE_COUNT };

static ksa_status cuda_tunables(const ksa_gpu_device *d, const ksa_problem *p, ksa_tunable_space *out)
{
    (void)d;
    if (p->phase == KSA_PHASE_DECODE) {
        out->num_params = KC_T_DECODE_COUNT;
        out->params[KC_T_SPLITS] = (ksa_tunable_param){"decode_splits", 8, kc_v_splits, 0};
        out->params[KC_T_DSTAGES] = (ksa_tunable_param){"decode_stages", 3, kc_v_dstages, 0};
        return KSA_STATUS_SUCCESS;
    }
    out->params[KC_T_BLOCK_Q] = (ksa_tunable_param){"block_q", 1, kc_v_block_q, KC_PREFILL_ROWS};
    out->params[KC_T_BLOCK_K] = (ksa_tunable_param){"block_k", 1, kc_v_block_k, 64};
    if (p->head_dim <= 128)
        out->params[KC_T_WARPS] = (ksa_tunable_param){"warps", 2, kc_v_warps, KC_DEFAULT_WARPS};
    else
        out->params[KC_T_WARPS] = (ksa_tunable_param){"warps", 1, kc_v_warps256, 8};
    out->params[KC_T_STAGES] = (ksa_tunable_param){"stages", 1, kc_v_stages, 2};
    out->num_params = KC_T_PREFILL_COUNT;
    if (p->mode == KSA_MODE_ANCHOR) {
        out->params[KC_T_PREFILL_COUNT] = (ksa_tunable_param){"anchor_tile_group", 5, kc_v_group_tiles, 0};
        out->num_params = KC_T_PREFILL_COUNT + 1;
    }
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ support, plan, arguments */
static ksa_status cuda_check(const ksa_host_api *host, const ksa_gpu_device *d, int index, const ksa_problem *p)
{
    (void)index;
    if (p->dtype != KSA_DTYPE_F16 && p->dtype != KSA_DTYPE_BF16)
        return host->set_error(KSA_STATUS_UNSUPPORTED,
                               "cuda: dtype %s is not supported by the CUDA backend (f16 and bf16 only; its tensor-core "
                               "kernels would not meet the f32 tolerance)",
                               p->dtype == KSA_DTYPE_F32 ? "f32" : "other");
    if (p->head_dim != 64 && p->head_dim != 128 && p->head_dim != 256)
        return host->set_error(KSA_STATUS_UNSUPPORTED, "cuda: head_dim %d is not supported (64, 128 or 256)", p->head_dim);
    if (p->phase == KSA_PHASE_PREFILL) {
        /* the prefill CTA holds 128 query rows and two K/V tile pairs of 64 rows in shared memory */
        size_t need = (size_t)(KC_PREFILL_ROWS + 4 * 64) * (size_t)(p->head_dim + 8) * 2 + 1024;
        if (need > d->prop.sharedMemPerBlockOptin)
            return host->set_error(KSA_STATUS_UNSUPPORTED,
                                   "cuda: prefill at head_dim %d needs %zu bytes of shared memory per block; %s offers %zu",
                                   p->head_dim, need, d->prop.name, (size_t)d->prop.sharedMemPerBlockOptin);
    }
    if (p->phase == KSA_PHASE_DECODE && ksa_gpu_decode_smem(p->head_dim, p->group_size, 1) > d->decode_smem_limit)
        return host->set_error(KSA_STATUS_UNSUPPORTED,
                               "cuda: decode with %d query heads per KV head at head_dim %d needs more shared memory than a "
                               "block has",
                               p->group_size, p->head_dim);
    return KSA_STATUS_SUCCESS;
}

static void cuda_plan(const ksa_gpu_device *d, const ksa_problem *p, ksa_gpu_plan *pl)
{
    (void)d;
    pl->kernels = &kc_kernels;
    if (p->phase == KSA_PHASE_DECODE) {
        pl->split_decode = 1;
        pl->splits = ksa_gpu_config(p, KC_T_SPLITS, 0);
        pl->dec_stages = ksa_gpu_config(p, KC_T_DSTAGES, 0);
        return;
    }
    int w = ksa_gpu_config(p, KC_T_WARPS, KC_DEFAULT_WARPS);
    pl->vendor[KC_PLAN_WARPS] = (p->head_dim <= 128 && w == 4) ? 4 : 8;
    if (p->mode == KSA_MODE_ANCHOR) pl->tile_group = ksa_gpu_config(p, KC_T_PREFILL_COUNT, 0);
}

static void cuda_args(const ksa_gpu_plan *pl, const ksa_problem *p, ksa_gpu_args *a)
{
    a->warp_rows = pl->vendor[KC_PLAN_WARPS] == 4 ? 32 : 16;
    if (p->phase == KSA_PHASE_PREFILL)
        a->rows_per_cta_chunks = (p->topk.tile_size * p->group_size + KC_PREFILL_ROWS - 1) / KC_PREFILL_ROWS;
}

static void cuda_config(const ksa_gpu_plan *pl, const ksa_problem *p, char *out, size_t len)
{
    snprintf(out, len, "block_q=128,block_k=64,warps=%d,stages=2", pl->vendor[KC_PLAN_WARPS]);
    if (p->mode == KSA_MODE_ANCHOR) snprintf(out + strlen(out), len - strlen(out), ",anchor_tile_group=%d", pl->tile_group);
}

const ksa_gpu_vendor ksa_gpu_vendor_ops = {
    "cuda",     KSA_DEVICE_CUDA, cuda_why_absent, cuda_device, cuda_driver_version, cuda_check,
    cuda_plan,  cuda_args,       cuda_config,     cuda_tunables,
};
