/* cuda_vendor.c: what the CUDA plugin adds to the GPU layer's host glue (backends/gpu/gpu_backend.c):
 * which NVIDIA devices it uses (compute capability 8.0 or newer: the kernels are built for sm_80
 * and sm_90a) and how they are named, what it supports (f16/bf16, head_dim 64/128/256, shared-memory
 * limits), its tunable space, and per call the launcher table:
 *  - prefill: the wgmma kernels of sm90_prefill.cu on compute capability 9.0 (H100/H200) with
 *    16-byte aligned q/k/v, else the mma.sync kernels of flash_prefill.cu (tunable `kernel`);
 *  - decode: the tensor-core split decode of mma_decode.cu (G <= 16; TMA loads on 9.0), else the
 *    GPU layer's shared split decode (tunable `decode_kernel`); pooling and radix Top-k shared. */
#include <stdio.h>
#include <string.h>

#include "ksa_cuda.h"
#include "ksa_gpu_backend.h"

/* prefill CTA: 8 warps x 16 MMA rows (4 x 32 is the tunable alternative at head_dim <= 128) */
#define KC_DEFAULT_WARPS 8
#define KC_PLAN_WARPS 0 /* ksa_gpu_plan.vendor[KC_PLAN_WARPS]: warps per prefill CTA */

#define KC_PLAN_PP 1      /* ksa_gpu_plan.vendor[KC_PLAN_PP]: sm_90a prefill ping-pong between warpgroups */
#define KC_DEFAULT_PP 1   /* ping-pong default: 2-3 % faster on the H200 (bench/NOTES.md) */
#define KC_PLAN_DCHUNK 2  /* ksa_gpu_plan.vendor[KC_PLAN_DCHUNK]: tensor-core decode, keys per warp chunk of gathered lists */
#define KC_PLAN_DGATHER 3 /* ksa_gpu_plan.vendor[KC_PLAN_DGATHER]: tensor-core decode copies dense keys with cp.async, not TMA */
#define KC_PLAN_ROWS 4    /* ksa_gpu_plan.vendor[KC_PLAN_ROWS]: sm_90a dense prefill, MMA rows per CTA (0: 128) */
#define KC_ROWS_CW3 192   /* block_q of the sm_90a flash kernel's three-consumer variant (head_dim 64 / 128, dense) */

/* mma.sync prefill, shared split decode (the portable path, and decode_kernel=1) */
static const ksa_gpu_kernels kc_kernels = {
    kc_launch_flash_prefill,     kc_launch_pooled_prefill,      ksa_gpu_launch_topk,
    ksa_gpu_launch_decode,       ksa_gpu_launch_decode_combine, ksa_gpu_launch_decode_pool,
};
/* mma.sync prefill, tensor-core decode (sm_80 and later) */
static const ksa_gpu_kernels kc_kernels_mma = {
    kc_launch_flash_prefill,     kc_launch_pooled_prefill,      ksa_gpu_launch_topk,
    kc_launch_mma_decode,        ksa_gpu_launch_decode_combine, ksa_gpu_launch_decode_pool,
};
/* sm_90a wgmma prefill, tensor-core decode (compute capability 9.0) */
static const ksa_gpu_kernels kc_kernels_sm90 = {
    kc_launch_sm90_prefill,      kc_launch_sm90_pooled,         kc_launch_topk,
    kc_launch_mma_decode,        ksa_gpu_launch_decode_combine, ksa_gpu_launch_decode_pool,
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
static const int32_t kc_v_block_q[] = {KC_PREFILL_ROWS, KC_ROWS_CW3};
static const int32_t kc_v_block_k[] = {64};
static const int32_t kc_v_warps[] = {4, 8};
static const int32_t kc_v_warps256[] = {8};
static const int32_t kc_v_dstages[] = {0, 1, 2, 3};
static const int32_t kc_v_dkernel[] = {0, 1, 2, 3};
static const int32_t kc_v_kernel[] = {0, 80, 90};
static const int32_t kc_v_pingpong[] = {0, 1};
static const int32_t kc_v_stages[] = {2};
static const int32_t kc_v_splits[] = {0, 1, 2, 4, 8, 16, 32, 64};
static const int32_t kc_v_group_tiles[] = {0, 16, 64, 256, 1024};
static const int32_t kc_v_dchunk[] = {0, 16, 32};
static const int32_t kc_v_dcluster[] = {0, 1, 2};

/* prefill `kernel`: 0 = the best the device has, 80 = mma.sync (flash_prefill.cu), 90 = wgmma
 * (sm90_prefill.cu, compute capability 9.0); `block_q` 192: dense prefill at head_dim 64 or 128 on
 * the wgmma kernel with three consumer warpgroups (offered where that kernel can run; refused
 * elsewhere). decode `decode_kernel`: 0 = the best, 1 = the shared portable split decode, 2 = the tensor-core split decode (G <= 16; dense keys by TMA where the
 * device and layout allow), 3 = the tensor-core split decode copying every key with cp.async; `decode_stages`: 1-2 for the
 * portable kernel, 2-3 for the tensor-core one (other values are moved into that range);
 * `decode_cluster` (tensor-core decode on compute capability 9.0): 0 = the built-in rule, 1 = splits
 * merged by the combine kernel, 2 = splits merged inside one thread-block cluster when the device
 * can launch clusters of that many CTAs (2..16 splits). */
enum { KC_T_BLOCK_Q, KC_T_BLOCK_K, KC_T_WARPS, KC_T_STAGES, KC_T_KERNEL, KC_T_PINGPONG, KC_T_PREFILL_COUNT };
enum { KC_T_SPLITS, KC_T_DSTAGES, KC_T_DKERNEL, KC_T_DCHUNK, KC_T_DCLUSTER, KC_T_DECODE_COUNT };

static int kc_sm90_usable(const ksa_gpu_device *d, const ksa_problem *p);
/* block_q 192 (the three-consumer wgmma flash kernel): dense prefill at head_dim 64 or 128 where the
 * wgmma kernel runs */
static int kc_rows192_possible(const ksa_gpu_device *d, const ksa_problem *p)
{
    return p->phase == KSA_PHASE_PREFILL && p->mode == KSA_MODE_DENSE && (p->head_dim == 64 || p->head_dim == 128) &&
           kc_sm90_usable(d, p) && ksa_gpu_config(p, KC_T_KERNEL, 0) != 80;
}

/* the built-in block_q where 192 is possible: at head_dim 128 always 128 (the 192-row variant there
 * takes 64-key tiles and measured 7-9% slower: a tunable only); at head_dim 64 192 when the call's
 * 128-row grid holds at least 10 waves of CTAs (rows of all sequences and KV heads / 128 >= 10 x
 * SMs), else 128. Measured on the H200 (bench/NOTES.md, thirty-second session, bf16, 3-5 alternating
 * rounds, 192 against 128): big grids gain (B1 Hq32/Hkv8 L6K / 8K / 12K / 16K / 32K -6 / -5 / -7 /
 * -7 / -9%, G1 L16K -2%, G8 L16K -8%, B4 L4K -4%); grids of 8 waves or less lose to the coarser wave
 * tail (B1 L1K / 2K / 4K +9 / +2 / +2%, G1 L4K +6%, chunked Lq 4K Lk 32K +6%: 1024 equal CTAs are
 * 7.8 waves of 128 rows but 5.2 of 192) */
#define KC_ROWS192_WAVES 10
static int kc_default_rows(const ksa_gpu_device *d, const ksa_problem *p)
{
    if (p->head_dim != 64) return KC_PREFILL_ROWS;
    const int64_t rows = (int64_t)p->num_kv_heads * p->group_size * p->total_q;
    return rows >= (int64_t)KC_ROWS192_WAVES * KC_PREFILL_ROWS * d->prop.multiProcessorCount ? KC_ROWS_CW3 : KC_PREFILL_ROWS;
}

static ksa_status cuda_tunables(const ksa_gpu_device *d, const ksa_problem *p, ksa_tunable_space *out)
{
    if (p->phase == KSA_PHASE_DECODE) {
        out->num_params = KC_T_DECODE_COUNT;
        out->params[KC_T_SPLITS] = (ksa_tunable_param){"decode_splits", 8, kc_v_splits, 0};
        out->params[KC_T_DSTAGES] = (ksa_tunable_param){"decode_stages", 4, kc_v_dstages, 0};
        out->params[KC_T_DKERNEL] = (ksa_tunable_param){"decode_kernel", 4, kc_v_dkernel, 0};
        out->params[KC_T_DCHUNK] = (ksa_tunable_param){"decode_chunk", 3, kc_v_dchunk, 0};
        out->params[KC_T_DCLUSTER] = (ksa_tunable_param){"decode_cluster", 3, kc_v_dcluster, 0};
        return KSA_STATUS_SUCCESS;
    }
    if (kc_rows192_possible(d, p))
        out->params[KC_T_BLOCK_Q] = (ksa_tunable_param){"block_q", 2, kc_v_block_q, kc_default_rows(d, p)};
    else
        out->params[KC_T_BLOCK_Q] = (ksa_tunable_param){"block_q", 1, kc_v_block_q, KC_PREFILL_ROWS};
    out->params[KC_T_BLOCK_K] = (ksa_tunable_param){"block_k", 1, kc_v_block_k, 64};
    if (p->head_dim <= 128)
        out->params[KC_T_WARPS] = (ksa_tunable_param){"warps", 2, kc_v_warps, KC_DEFAULT_WARPS};
    else
        out->params[KC_T_WARPS] = (ksa_tunable_param){"warps", 1, kc_v_warps256, 8};
    out->params[KC_T_STAGES] = (ksa_tunable_param){"stages", 1, kc_v_stages, 2};
    out->params[KC_T_KERNEL] = (ksa_tunable_param){"kernel", 3, kc_v_kernel, 0};
    out->params[KC_T_PINGPONG] = (ksa_tunable_param){"pingpong", 2, kc_v_pingpong, KC_DEFAULT_PP};
    out->num_params = KC_T_PREFILL_COUNT;
    if (p->mode == KSA_MODE_ANCHOR) {
        out->params[KC_T_PREFILL_COUNT] = (ksa_tunable_param){"anchor_tile_group", 5, kc_v_group_tiles, 0};
        out->num_params = KC_T_PREFILL_COUNT + 1;
    }
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ support, plan, arguments */
/* the sm_90a prefill kernels run on compute capability 9.0 exactly (sm_90a code), with 16-byte
 * aligned q/k/v rows and their shared memory available */
static int kc_sm90_usable(const ksa_gpu_device *d, const ksa_problem *p)
{
    const size_t smem = kc_sm90_prefill_smem(p->head_dim);
    return d->prop.major == 9 && d->prop.minor == 0 && smem > 0 && smem <= d->prop.sharedMemPerBlockOptin &&
           ksa_gpu_qkv_aligned16(p);
}

/* Decode splits of the tensor-core kernel: enough CTAs to fill the device's resident slots in whole
 * waves (the share of busy slots over the run, minus a small cost per split for the combine), each
 * split at least 256 keys (4 warps x 2 chunks of 32), at most 64; one split needs no combine. */
static int kc_pick_splits(int64_t slots, int64_t items, int64_t nlist)
{
    if (slots < 1) slots = 1;
    if (items < 1) items = 1;
    const int64_t maxs = ksa_gpu_max_splits(nlist);
    int best = 1;
    double best_score = -1.0;
    for (int64_t sp = 1; sp <= maxs; sp++) {
        const int64_t ctas = items * sp, waves = (ctas + slots - 1) / slots;
        const double score = (double)ctas / (double)(waves * slots) - 0.002 * (double)sp;
        if (score > best_score + 0.02) {
            best_score = score;
            best = (int)sp;
        }
    }
    return best;
}
/* clusters of `splits` CTAs of the call's decode variant the device holds at once (0: none) */
static int kc_cluster_count(const ksa_problem *p, const ksa_gpu_plan *pl, int chunk, int splits)
{
    if (pl->kernels != &kc_kernels_sm90) return 0;
    return kc_mma_decode_max_clusters(p->head_dim, (int)p->dtype, pl->dec_stages, chunk, splits); /* 0 outside 2..16 */
}
static int kc_cluster_fits(const ksa_problem *p, const ksa_gpu_plan *pl, int chunk, int splits)
{
    return kc_cluster_count(p, pl, chunk, splits) >= (int64_t)p->batch * p->num_kv_heads;
}
/* The in-cluster combine of the tensor-core decode (mma_decode.cu): compute capability 9.0, 2 to 16
 * splits, and every (sequence, KV head)'s cluster resident at once. Built in for REUSE decode only,
 * measured on the H200 (2026-11-30, f16 B1): it takes the combine kernel's launch and its round trip
 * through global memory off the critical path of a short gathered list (Lk8K 8 splits 11.3 -> 7.8
 * us), while for dense keys clusters were slower than the combine kernel (Lk8K 8 splits 18.2 vs 16.4
 * us, Lk32K 52.8 vs 40.0 us), except for the few-list dense rule of cuda_plan (`dense_few`).
 * `decode_cluster` 2 forces it wherever it can run. */
static void kc_plan_cluster(const ksa_problem *p, ksa_gpu_plan *pl, int chunk, int dense_few)
{
    const int want = ksa_gpu_config(p, KC_T_DCLUSTER, 0);
    if (want == 1 || (want == 0 && p->mode != KSA_MODE_REUSE && !dense_few)) return;
    if (want == 2 ? kc_cluster_count(p, pl, chunk, pl->splits) > 0 : kc_cluster_fits(p, pl, chunk, pl->splits))
        pl->decode_cluster = 1;
}

/* REUSE's in-cluster split rule for a gathered list of `nlist` keys: the most splits of 128 keys or
 * more, up to 16, above `floor`, with which every one of `lists` lists runs in one wave of `slots`
 * CTAs as one cluster; `floor` when no such count is above it */
static int64_t kc_cluster_splits(const ksa_problem *p, const ksa_gpu_plan *pl, int chunk, int64_t lists, int64_t nlist,
                                 int64_t slots, int64_t floor)
{
    int64_t sp = (nlist + 127) / 128;
    sp = sp > 16 ? 16 : sp;
    for (; sp > floor; sp--)
        if (lists * sp <= slots && kc_cluster_fits(p, pl, chunk, (int)sp)) break;
    return sp > floor ? sp : floor;
}

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
    if (p->phase == KSA_PHASE_PREFILL) {
        const int bq = ksa_gpu_config(p, KC_T_BLOCK_Q, KC_PREFILL_ROWS);
        if (bq != KC_PREFILL_ROWS && !(bq == KC_ROWS_CW3 && kc_rows192_possible(d, p)))
            return host->set_error(KSA_STATUS_UNSUPPORTED,
                                   "cuda: block_q=%d is not available for this call: 128 everywhere, 192 only for dense "
                                   "prefill at head_dim 64 or 128 on the wgmma kernel (compute capability 9.0, 16-byte "
                                   "aligned q/k/v; %s is sm_%d%d)",
                                   bq, d->prop.name, d->prop.major, d->prop.minor);
    }
    if (p->phase == KSA_PHASE_PREFILL && ksa_gpu_config(p, KC_T_KERNEL, 0) == 90 && !kc_sm90_usable(d, p))
        return host->set_error(KSA_STATUS_UNSUPPORTED,
                               "cuda: kernel=90 (the sm_90a wgmma prefill) needs a compute capability 9.0 device (%s is "
                               "sm_%d%d), head_dim 64/128/256 and 16-byte aligned q/k/v rows",
                               d->prop.name, d->prop.major, d->prop.minor);
    if (p->phase == KSA_PHASE_DECODE && p->group_size > 16 &&
        ksa_gpu_decode_smem(p->head_dim, p->group_size, 1) > d->decode_smem_limit)
        return host->set_error(KSA_STATUS_UNSUPPORTED,
                               "cuda: decode with %d query heads per KV head at head_dim %d needs more shared memory than a "
                               "block has",
                               p->group_size, p->head_dim);
    return KSA_STATUS_SUCCESS;
}

/* the tensor-core decode instantiation (KC_DEC_*) that runs a decode call's main pass (the anchor's:
 * its dense pass), as kc_launch_mma_decode chooses it; gather: the plan's cp.async choice for dense
 * keys. REUSE gathers its index sets; dense keys go by TMA on sm_90 where the plan allows it and the
 * layout has a tensor map (a uniform contiguous batch, or pages that kc_tma_page_rows can box), else
 * by the affine cp.async copies (a contiguous or ragged cache, or pages of a multiple of the chunk),
 * else gathered. Alignment (16-byte rows) is a property of the call's pointers, not of the problem:
 * a call without it runs the gathered instantiation under this plan. */
static int kc_decode_variant(const ksa_gpu_plan *pl, const ksa_problem *p, int gather, int chunk)
{
    const int sparse = p->mode == KSA_MODE_REUSE, paged = p->kv_layout == KSA_KV_PAGED;
    const int keys = p->head_dim <= 128 ? chunk : 16; /* a chunk's keys (16 at head_dim 256) */
    if (!sparse && !gather && pl->kernels == &kc_kernels_sm90 &&
        ((!paged && !p->seq_lens_k.present) || (paged && kc_tma_page_rows(p->page_size, keys) > 0)))
        return KC_DEC_TMA;
    return kc_dec_copy_variant(sparse, paged, p->page_size, keys);
}

static void cuda_plan(const ksa_gpu_device *d, const ksa_problem *p, ksa_gpu_plan *pl)
{
    pl->kernels = &kc_kernels;
    if (p->phase == KSA_PHASE_DECODE) {
        pl->split_decode = 1;
        pl->splits = ksa_gpu_config(p, KC_T_SPLITS, 0);
        pl->dec_stages = ksa_gpu_config(p, KC_T_DSTAGES, 0);
        if (p->group_size > 16 || ksa_gpu_config(p, KC_T_DKERNEL, 0) == 1) return; /* the shared portable decode */
        pl->kernels = d->prop.major == 9 && d->prop.minor == 0 ? &kc_kernels_sm90 : &kc_kernels_mma;
        pl->decode_direct = 1;
        /* two K/V buffers per warp: measured on the H200 (2026-11-30) as fast as three at B64 and 7%
         * faster at B16 Lk32K */
        pl->dec_stages = pl->dec_stages < 2 ? 2 : pl->dec_stages > 3 ? 3 : pl->dec_stages;
        /* 16-key chunks fit three CTAs per SM instead of one, so three times the warps hide each
         * other's latencies and three times the rows are in flight: the default from 64 (sequence,
         * KV head) lists on, except where dense keys with V go by TMA, whose 32-key chunks were as
         * fast or faster (B64 Lk8K 525 vs 544 us); with fewer lists the 32-key chunk stays ahead
         * (B1: 12.9 vs 13.4 us at Lk8K). Measured on the H200 (2026-11-30): reuse decode B64 Lk32K
         * 0.363 -> 0.281 ms, B16 0.095 -> 0.079 ms; the anchor's K-only dense pass by TMA, anchor
         * decode B64 Lk32K 2.12 -> 1.64 ms.
         * Dense keys with V: TMA in 32-key chunks (contiguous, or paged in pages of a multiple of 32
         * keys, or of 8 or 16 keys loaded page by page: kc_tma_paged_maps) for fewer than 64 lists, where the 8-split cluster by TMA is
         * fastest; from 64 lists on, cp.async copies, measured faster (eighth session, bf16 B64
         * Lk32K: 1.93 ms against TMA's 2.03 in 32-key and 2.09 in 16-key chunks; B16 Lk32K 0.49 vs
         * 0.52 ms), in 16-key chunks at 64-127 lists and in three buffers of 32-key chunks from 128
         * on (dense_gather below). The anchor's K-only pass kept TMA (16-key chunks from 64 lists:
         * 1.66 ms against 1.88-1.95 by cp.async) until the affine cp.async copies (anchor_gather). */
        const int dk = ksa_gpu_config(p, KC_T_DKERNEL, 0);
        const int64_t lists = (int64_t)p->batch * p->num_kv_heads;
        const int dense_kv = p->mode == KSA_MODE_DENSE && !p->q_ragged &&
                             ((p->kv_layout == KSA_KV_CONTIGUOUS && !p->seq_lens_k.present) ||
                              (p->kv_layout == KSA_KV_PAGED && kc_tma_page_rows(p->page_size, 32) > 0));
        /* the anchor's K-only dense pass by cp.async from 64 lists on, as dense decode, where it was
         * measured faster since the affine copies (fifteenth session, bf16 B16/B64: -3..-4.5% at
         * head_dim 64 and 128, +2.6% at 256); paged pools too where their pages hold a multiple of
         * the 16-key chunk (the affine paged copies; seventeenth session, bf16, pages of 16 and 64,
         * against TMA under the same split rule: -5% at Lk32K, -3% at Lk8K, B16 and B64); other
         * page sizes keep TMA (their cp.async path is the gathered one) */
        const int paged = p->kv_layout == KSA_KV_PAGED;
        const int affine16 = kc_dec_copy_variant(0, paged, p->page_size, 16) != KC_DEC_GATHERED; /* dense keys in 16-key chunks */
        const int anchor_gather = p->mode == KSA_MODE_ANCHOR && p->head_dim <= 128 && affine16;
        const int measured = pl->kernels == &kc_kernels_sm90 && p->head_dim <= 128;
        const int few = measured && lists * 8 <= d->prop.multiProcessorCount;
        const int64_t nlist = ksa_gpu_decode_list_len(p);
        const int page_by_page = paged && kc_tma_page_rows(p->page_size, 32) < 32;
        const int chunk_set = ksa_gpu_config(p, KC_T_DCHUNK, 0), no_cluster = ksa_gpu_config(p, KC_T_DCLUSTER, 0) == 1;
        /* dense keys of few lists by the affine cp.async copies in 16-key chunks, 128 CTAs merged
         * inside their clusters (16 splits per list up to 8 lists, 8 up to 16): from 9 lists on
         * (B2 at 8 KV heads), and (with 16 splits) for one sequence in pages of 16, where TMA loads
         * a chunk page by page, until dense_one_paged below took that case. Measured on the H200
         * (seventeenth session, bf16, three rounds, against TMA's 8 splits in a cluster, or 16 with
         * the combine kernel for pages of 16 from 16K keys): B2 Lk8K contiguous / pages of 16 /
         * pages of 64 -7% / -6% / -5.5%, Lk32K -5% / -6% / -5.5%; B1 in pages of 16 Lk8K -7%, Lk32K
         * -5%; B1 contiguous and in pages of 64 it was +2% / +1.7% at Lk32K, so those keep TMA. */
        const int few_splits = lists * 16 <= d->prop.multiProcessorCount ? 16 : 8;
        const int dense_few_aff_rule = few && dk == 0 && dense_kv && (lists * 16 > d->prop.multiProcessorCount || page_by_page) &&
                                       affine16 && pl->splits <= 0 && chunk_set != 32 && !no_cluster &&
                                       ksa_gpu_max_splits(nlist) >= few_splits;
        /* ... except one sequence in pages smaller than the 32-key chunk (the 16-split case of that
         * rule): the affine paged copies in 32-key chunks, three buffers, 8 splits merged inside
         * 8-CTA clusters, which is contiguous dense_few's grid with cp.async copies instead of TMA's
         * page-by-page boxes. Measured on the H200 (thirty-ninth session, bf16 B1, three rounds,
         * against the 16-split rule): pages of 16 Lk8K 20.7 -> 20.1 us, Lk32K 50.1 -> 48.3
         * (contiguous 19.5 / 46.8). Three buffers with 16 splits in a cluster were 7-12% slower:
         * CTAs that no longer share an SM do not fit eight 16-CTA clusters into the GPCs at once.
         * Built in only (decode_chunk=16 keeps the 16-split plan). */
        const int dense_one_paged = dense_few_aff_rule && lists * 16 <= d->prop.multiProcessorCount && !chunk_set;
        const int dense_few_aff = dense_few_aff_rule && !dense_one_paged;
        /* the anchor's K-only pass over few lists of 16K keys or more: the affine copies in 16-key
         * chunks, two buffers, 32 splits and the combine kernel (measured on the H200, eighteenth
         * session, bf16 B1 Lk32K, against TMA's 33 splits in three buffers: contiguous 70.7 -> 71.2
         * us (equal: this was the shipped tuned entry), pages of 16 77.3 -> 74.1, pages of 64 76.2 ->
         * 73.5; Lk8K, not long, keeps its plan) */
        const int long_list = nlist >= 16384;
        const int stages_set = ksa_gpu_config(p, KC_T_DSTAGES, 0) != 0;
        /* an anchor over few lists in copies of 16-key chunks whose plan no configuration sets */
        const int anchor_few_free = p->mode == KSA_MODE_ANCHOR && few && affine16 && dk == 0 && pl->splits <= 0 && !chunk_set &&
                                    !stages_set;
        const int anchor_few_aff = anchor_few_free && long_list && ksa_gpu_max_splits(nlist) >= 32;
        /* ... and over few lists of 3841 to 8192 keys at head_dim 64 and 128: the same copies in
         * 16-key chunks, two buffers, 16 splits (which the sparse pass, under 2048 slots, shares)
         * and the combine kernel, where TMA's 32-key chunks ran before. Measured on the H200
         * (forty-sixth session, three rounds, peer_torch's timing with the L2 flushed): bf16 D128 B1
         * Lk4K 36.2 -> 34.3 us, B1 Lk8K 39.4 -> 38.8, B2 Lk8K 48.1 -> 45.3, pages of 16 and 64 alike
         * (-2..-5%), f16 the same; D64 (the configuration forced) B1 Lk8K 38.9 -> 33.9, B2 42.6 ->
         * 37.3 (-13%). Dense decode over the same lists stays on TMA's cluster: the same copies were
         * 9-19% slower there with the L2 flushed (forty-fifth session). */
        const int anchor_few_short = anchor_few_free && nlist <= 8192 && (p->head_dim == 64 || p->head_dim == 128) &&
                                     ksa_gpu_max_splits(nlist) >= 16;
        /* ... and at head_dim 64 over 32-63 lists (B4-B7 at 8 KV heads) of more than 3840 keys: the
         * affine copies in 16-key chunks under the split rule, as from 64 lists on, where TMA's
         * 32-key chunks ran before. Measured on the H200 (forty-seventh session, three rounds,
         * peer_torch's timing with the L2 flushed): bf16 B4 Lk4K 48.7 -> 45.5 us, Lk8K 59.6 -> 56.7,
         * Lk32K 122.4 -> 118.5, B6 Lk32K 150.0 -> 146.6, pages of 16 and 64 and f16 alike (-2.7..-5%);
         * at 24 lists (B3 Lk8K) +1%, and at head_dim 128 the same copies were equal or slower (B4 Lk8K
         * 73.4 -> 76.4), so those keep TMA. */
        /* lists between few and 64 whose copy form and chunk no configuration sets */
        const int mid_free = measured && !few && lists < 64 && dk == 0 && !chunk_set;
        const int anchor_mid_d64 = anchor_gather && mid_free && p->head_dim == 64 && lists >= 32 && nlist > 3840;
        /* dense keys with V over 17-63 lists (neither few nor the cp.async rule's 64) of 16K keys or
         * more, at head_dim 128, and at 64 from 32 lists: the affine copies of K and V in 16-key
         * chunks under the split rule instead of TMA's 32-key chunks. Measured on the H200
         * (forty-seventh session, three rounds, peer_torch's timing with the L2 flushed), bf16 us:
         * D128 Lk32K B3 116.1 -> 111.0, B4 146.1 -> 140.6 (pages of 16 / 64 and f16 -2.7..-3.7%), B6
         * 210.5 -> 198.7; Lk16K B3 68.6 -> 65.2, B4 equal (81.0 / 81.4), B6 117.2 -> 110.8; D64 B4
         * Lk32K 87.0 -> 82.0, B6 123.8 -> 113.3, B4 Lk16K 52.0 -> 50.5, B6 Lk16K in pages of 64 -2%,
         * of 16 equal. Left on TMA: D64 at 24 lists (B3 Lk8K +6%, Lk16K +3%), D64 below 16K keys (B6
         * Lk8K +1.7%, though B4 Lk8K -3%), D128 below 16K keys (B4 Lk8K +3%). */
        const int dense_mid = p->mode == KSA_MODE_DENSE && dense_kv && affine16 && mid_free && long_list &&
                              (p->head_dim == 128 || (p->head_dim == 64 && lists >= 32));
        const int gather = dk == 3 || dense_few_aff || dense_one_paged || anchor_few_aff || anchor_few_short || anchor_mid_d64 ||
                           dense_mid || (dk == 0 && (p->mode == KSA_MODE_DENSE || anchor_gather) && lists >= 64);
        const int tma_with_v = dense_kv && !gather;
        pl->vendor[KC_PLAN_DGATHER] = gather;
        /* Few lists (8 CTAs each within one CTA per SM: B1-B2 at 8 KV heads on the H200) and the
         * rules measured there (2026-11-30, medians with the L2 flushed unless said):
         * - REUSE lists of 2048 keys or more take 16-key chunks with any number of lists (f16 B1
         *   Lk32K, 3328 keys: 13.9 -> 13.1 us by ksa-bench, B2 16.9 -> 15.3; Lk8K, 896 keys, stays
         *   at 32: equal by ksa-bench, +8% flushed);
         * - ANCHOR over 16K keys or more: 16-key chunks and 3 stages (B1 Lk32K in pages of 16 93.6
         *   -> 85.8 us, pages of 64 86.3 -> 85.2, contiguous equal; Lk8K keeps 32 and 2); since the
         *   eighteenth session its K-only pass goes by the affine copies in 2 stages where the pages
         *   allow (anchor_few_aff above);
         * - dense keys with V by TMA: 8 splits merged inside their cluster, 3 stages from 16K keys
         *   (the ninth session's tuned winner for contiguous B1: Lk8K 24.5 vs 27.4 us, Lk32K 49.2 vs
         *   52.1 against the split rule with the combine kernel; pages of 64 Lk8K 25.0 -> 21.7, Lk32K
         *   52.6 -> 51.0; pages of 16 Lk8K 29.5 -> 24.5, B2 Lk32K 93.0 -> 85.2), except a single
         *   sequence's long list in pages smaller than a chunk (loaded page by page), which keeps
         *   the split rule's 16 splits and the combine kernel (B1 Lk32K in pages of 16: 53.1 us
         *   against 65.4 with 8: on shuffled 16-key pages 64 CTAs fall short of the bandwidth);
         *   from 9 lists on, and for one sequence in pages of 16, the affine copies took over
         *   (dense_few_aff above).
         * They apply where they were measured: compute capability 9.0, head_dim <= 128 (at 256 three
         * stages would not fit an sm_80 block, and nothing there was timed). */
        /* dense keys with V copied by cp.async from 128 lists on (sm_90): 32-key chunks (16 at head_dim
         * 256) in three buffers per warp, so one CTA per SM keeps 128-192 KB in flight, and the split
         * rule below, with that occupancy, gives one split (cuDNN's grid: a CTA per list, no combine
         * kernel). Measured on the H200 (thirteenth session, bf16, three alternating rounds, against
         * 16-key chunks in two buffers, three CTAs per SM and three splits): B16 Lk32K 487.8 -> 475.5
         * us, B32 Lk8K 252.6 -> 248.4, B64 Lk8K 499.0 -> 490.8, Lk32K 1917.6 -> 1897.7 (f16 1918.4 ->
         * 1895.8), D64 B16 Lk32K 255.5 -> 252.6, B16 Lk8K equal; D256 (two buffers of 16-key chunks
         * before) B16 Lk32K 1011.9 -> 975.6, B64 4007 -> 3858. At 64 lists (two splits and the
         * combine kernel) it was 1.7% slower (B8 Lk32K), so that stays on 16-key chunks. Paged
         * pools too since a page is read once per chunk (the affine paged copies, pages of 64) or
         * once per key for K and V (pages of 16): seventeenth session, bf16, three rounds, against
         * 16-key chunks in two buffers, B16 Lk8K / Lk32K pages of 16 -0.1% / -1.3%, pages of 64 -3.2%
         * / -0.4%, B64 -0.6% / -1.0% and -1.6% / +0.5% (the thirteenth session had measured them
         * 5-20% slower, when each key's page was read twice and behind its index). */
        const int dense_gather = pl->kernels == &kc_kernels_sm90 && gather && p->mode == KSA_MODE_DENSE && lists >= 128;
        int chunk = chunk_set;
        if (chunk != 16 && chunk != 32)
            chunk = (lists >= 64 && !tma_with_v && !dense_gather) || (measured && p->mode == KSA_MODE_REUSE && nlist >= 2048) ||
                            (p->mode == KSA_MODE_ANCHOR && few && long_list) || dense_few_aff || anchor_few_short ||
                                    anchor_mid_d64 || dense_mid
                        ? 16
                        : 32;
        pl->vendor[KC_PLAN_DCHUNK] = chunk;
        if (dense_gather && chunk == 32 && !stages_set) pl->dec_stages = 3;
        if (p->mode == KSA_MODE_ANCHOR && few && long_list && !stages_set) pl->dec_stages = anchor_few_aff ? 2 : 3;
        const int dense_few = tma_with_v && chunk == 32 && pl->splits <= 0 && few && ksa_gpu_max_splits(nlist) >= 8 && !no_cluster &&
                              !(page_by_page && long_list && lists * 16 <= d->prop.multiProcessorCount);
        if (dense_few) {
            if (!stages_set && long_list) pl->dec_stages = 3;
            pl->splits = 8;
        }
        if (dense_few_aff) pl->splits = few_splits;
        if (dense_one_paged) {
            if (!stages_set) pl->dec_stages = 3;
            pl->splits = 8;
        }
        if (anchor_few_aff) pl->splits = 32;
        if (anchor_few_short) pl->splits = 16;
        if (pl->splits <= 0) {
            /* the occupancy of the instantiation that runs the call's main pass (kc_decode_variant:
             * their registers differ. Measured on the H200, sixteenth session: when the gathered
             * variant went to 2 CTAs per SM and the affine and TMA ones stayed at 3, planning the
             * anchor's dense pass with the gathered count cost anchor decode B64 Lk32K 1.55 -> 1.83
             * ms, and in pages of 16 1.64 -> 1.94 ms) */
            const int variant = kc_decode_variant(pl, p, gather, chunk);
            const int per_sm = kc_mma_decode_blocks_per_sm(p->head_dim, (int)p->dtype, pl->dec_stages, chunk, variant);
            const int64_t slots = (int64_t)d->prop.multiProcessorCount * per_sm;
            pl->splits = kc_pick_splits(slots, lists, nlist);
            /* dense keys with V by cp.async over at least three waves of whole lists of more than
             * 16K keys: 4 splits over 24K keys, else 2 (values of the tunable `decode_splits`; the
             * combine kernel merges them). A CTA
             * over a whole 32K list runs ~0.5 ms, and the last wave's slowest CTAs set the end;
             * quarter lists shorten that tail. Measured on the H200 (thirty-fourth session, peer_torch's
             * timing, three rounds, against one split): B64 Lk32K bf16 1.952 -> 1.907 ms, f16 1.938 ->
             * 1.909 (cuDNN 1.93), in pages of 64 1.952 -> 1.930; slower or equal where this leaves one
             * split: B32 Lk32K (two waves) -1.3..-1.5%, B64 Lk16K (2 splits) -0.1..-0.2%, B64 Lk8K and
             * B16 Lk32K (one wave) -0.4..-3%, B64 Lk32K in pages of 16 -1.1% */
            if (dense_gather && p->head_dim == 128 && pl->splits == 1 && lists >= 3 * slots && nlist > 16384 &&
                (!paged || p->page_size >= 64))
                pl->splits = nlist > 24576 ? 4 : 2;
            /* REUSE in one wave with the in-cluster combine: shorter splits (128 keys or more, up to
             * 16) cost no combine kernel, so take the most that still fit (measured on the H200, f16
             * B1 Lk8K: 8 splits 7.8 us, the 256-key rule's 4 splits 9.9 us) */
            if (p->mode == KSA_MODE_REUSE && !no_cluster) pl->splits = (int32_t)kc_cluster_splits(p, pl, chunk, lists, nlist, slots, pl->splits);
        }
        kc_plan_cluster(p, pl, chunk, dense_few || dense_few_aff || dense_one_paged);
        /* the anchor's sparse pass over few lists reads the index set, about k keys, not Lk: from 2048
         * slots on, REUSE's rule (up to 16 splits of 128 keys or more, merged inside their cluster, in
         * one wave) instead of the dense pass's splits and the combine kernel. Measured on the H200
         * (nineteenth session, bf16, Lk32K, 3328 slots): B2 in pages of 16 / 64 -3.4% / -4.3%, B1
         * equal; at Lk8K (896 slots) within +-1.8% either way, so shorter lists keep the dense pass's
         * splits. Not where the splits or the cluster are set by a configuration. */
        if (p->mode == KSA_MODE_ANCHOR && !p->anchor_dense_output && few && ksa_gpu_config(p, KC_T_SPLITS, 0) == 0 &&
            ksa_gpu_config(p, KC_T_DCLUSTER, 0) == 0 && p->k_slots >= 2048) {
            const int64_t slots = (int64_t)d->prop.multiProcessorCount *
                                  kc_mma_decode_blocks_per_sm(p->head_dim, (int)p->dtype, pl->dec_stages, chunk, KC_DEC_GATHERED);
            const int64_t sp = kc_cluster_splits(p, pl, chunk, lists, p->k_slots, slots, 1);
            if (sp >= 2) {
                pl->sparse_splits = (int32_t)sp;
                pl->sparse_cluster = 1;
            }
        }
        /* anchor decode over few lists: the Top-k runs one thread-block cluster per list
         * (topk_cluster.cu) and pools the dense pass's scores as it loads them, so no pooling kernel
         * runs; where the combine kernel would run only for the lse (several splits, sparse output) the
         * Top-k merges the splits itself and that combine does not run either. Measured on the H200
         * (nineteenth session, bf16 B1, against the pooling and combine kernels): bench/NOTES.md. */
        if (p->mode == KSA_MODE_ANCHOR && pl->kernels == &kc_kernels_sm90 && pl->splits >= 1 &&
            kc_topk_cluster_plans(lists, p->max_seqlen_k, p->group_size, pl->splits, d->prop.multiProcessorCount)) {
            pl->decode_topk_pools = !ksa_gpu_decode_writes_output(pl) && !p->anchor_dense_output ? 2 : 1;
        }
        return;
    }
    int w = ksa_gpu_config(p, KC_T_WARPS, KC_DEFAULT_WARPS);
    pl->vendor[KC_PLAN_WARPS] = (p->head_dim <= 128 && w == 4) ? 4 : 8;
    const int k = ksa_gpu_config(p, KC_T_KERNEL, 0);
    if (k == 90 || (k == 0 && kc_sm90_usable(d, p))) {
        pl->kernels = &kc_kernels_sm90;
        pl->vendor[KC_PLAN_PP] = ksa_gpu_config(p, KC_T_PINGPONG, KC_DEFAULT_PP);
        if (kc_rows192_possible(d, p) && ksa_gpu_config(p, KC_T_BLOCK_Q, kc_default_rows(d, p)) == KC_ROWS_CW3) {
            pl->vendor[KC_PLAN_ROWS] = KC_ROWS_CW3;
            pl->vendor[KC_PLAN_PP] = 0; /* three consumer warpgroups run free */
        }
    }
    if (p->mode == KSA_MODE_ANCHOR) pl->tile_group = ksa_gpu_config(p, KC_T_PREFILL_COUNT, 0);
}

static void cuda_args(const ksa_gpu_plan *pl, const ksa_problem *p, ksa_gpu_args *a)
{
    a->warp_rows = pl->vendor[KC_PLAN_WARPS] == 4 ? 32 : 16;
    a->pingpong = pl->vendor[KC_PLAN_PP];
    a->dense_cta_rows = pl->vendor[KC_PLAN_ROWS]; /* set only by the sm_90a prefill plan (0 elsewhere) */
    a->dec_chunk = pl->vendor[KC_PLAN_DCHUNK];
    a->tma_ok = pl->kernels == &kc_kernels_sm90 && !(p->phase == KSA_PHASE_DECODE && pl->vendor[KC_PLAN_DGATHER]);
    /* decode's split pass and combine: programmatic dependent launch where the sm_90a code runs */
    a->pdl = p->phase == KSA_PHASE_DECODE && pl->kernels == &kc_kernels_sm90;
    if (p->phase == KSA_PHASE_PREFILL)
        a->rows_per_cta_chunks = (p->topk.tile_size * p->group_size + KC_PREFILL_ROWS - 1) / KC_PREFILL_ROWS;
}

static void cuda_config(const ksa_gpu_plan *pl, const ksa_problem *p, char *out, size_t len)
{
    if (p->phase == KSA_PHASE_DECODE) {
        if (pl->kernels != &kc_kernels) /* the tensor-core decode */
            snprintf(out, len, "decode_splits=%d,decode_stages=%d,decode_kernel=%d,decode_chunk=%d,decode_cluster=%d", pl->splits,
                     pl->dec_stages, pl->vendor[KC_PLAN_DGATHER] ? 3 : 2, pl->vendor[KC_PLAN_DCHUNK], pl->decode_cluster ? 2 : 1);
        else
            snprintf(out, len, "decode_splits=%d,decode_stages=%d,decode_kernel=1", pl->splits, pl->dec_stages);
        return;
    }
    if (pl->kernels == &kc_kernels_sm90)
        snprintf(out, len, "kernel=90,block_q=%d,block_k=%d,pingpong=%d", pl->vendor[KC_PLAN_ROWS] ? pl->vendor[KC_PLAN_ROWS] : 128,
                 p->head_dim > 128 || (p->head_dim == 128 && pl->vendor[KC_PLAN_ROWS]) ? 64 : 128, pl->vendor[KC_PLAN_PP]);
    else
        snprintf(out, len, "kernel=80,block_q=128,block_k=64,warps=%d,stages=2", pl->vendor[KC_PLAN_WARPS]);
    if (p->mode == KSA_MODE_ANCHOR) snprintf(out + strlen(out), len - strlen(out), ",anchor_tile_group=%d", pl->tile_group);
}

const ksa_gpu_vendor ksa_gpu_vendor_ops = {
    "cuda",     KSA_DEVICE_CUDA, cuda_why_absent, cuda_device, cuda_driver_version, cuda_check,
    cuda_plan,  cuda_args,       cuda_config,     cuda_tunables,
};
