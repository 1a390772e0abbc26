/* ksa_cuda.h: what the CUDA vendor file (cuda_vendor.c) needs of the NVIDIA-only kernels of this
 * folder: the prefill CTA geometry and the tensor-core launchers, in the signatures of the GPU
 * layer's launcher table (backends/gpu/ksa_gpu_launch.h). */
#ifndef KSA_CUDA_H
#define KSA_CUDA_H

#include <cuda.h>

#include "ksa_gpu_launch.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KC_PREFILL_ROWS 128 /* MMA rows per prefill CTA (8 warps x 16, or 4 x 32) */

/* prefill flash pass (mma.sync m16n8k16, sm_80 and sm_90a): dense causal or sparse (a->sparse) */
int kc_launch_flash_prefill(const ksa_gpu_args *a, const ksa_gpu_call *c);
/* anchor prefill: pooled probabilities of tiles [tile0, tile0 + ntiles) into the POOLED region */
int kc_launch_pooled_prefill(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles);

/* sm_90a (compute capability 9.0 only): the wgmma prefill pass (dense, sparse, lse-only; sm90_prefill.cu)
 * and the pooled-score pass on the same pipeline (tiles of more than 128 rows fall back to mma.sync) */
int kc_launch_sm90_prefill(const ksa_gpu_args *a, const ksa_gpu_call *c);
int kc_launch_sm90_pooled(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles);
/* dynamic shared memory of the sm_90a prefill kernels at head_dim D (0 = unsupported) */
size_t kc_sm90_prefill_smem(int head_dim);

/* tensor-core split decode (mma_decode.cu, sm_80 and sm_90a, G <= 16; TMA loads on sm_90): the decode
 * step of the launcher table; with plan->splits == 1, or its splits run as one cluster
 * (plan->decode_cluster, sm_90), it writes o / lse itself (plan->decode_direct) */
int kc_launch_mma_decode(const ksa_gpu_args *a, const ksa_gpu_call *c, int sparse, int window, int with_scores);
/* the tensor-core decode's instantiations, whose register counts differ (so do their CTAs per SM):
 * keys copied by cp.async through a per-chunk row table (GATHERED: index sets, and paged pools whose
 * pages are not a multiple of the chunk), dense keys copied by cp.async at a stride from the chunk's
 * first row (AFFINE: contiguous or ragged caches; AFFINE_PAGED: pages of a multiple of 16 keys, one
 * page-table read per chunk, or per 16-key half of a 32-key chunk whose pages are not a multiple of 32),
 * dense keys by TMA (sm_90) */
enum { KC_DEC_GATHERED = 0, KC_DEC_AFFINE = 1, KC_DEC_AFFINE_PAGED = 2, KC_DEC_TMA = 3 };
/* the cp.async instantiation for a decode pass's keys, the one rule the launcher follows and the plan
 * predicts: an index set (sparse) is gathered; dense keys of a contiguous or ragged cache are affine;
 * dense keys of a paged pool are affine when each 16-key piece of a chunk (the whole chunk of 16)
 * lies in one page, i.e. pages of a multiple of 16 keys, else gathered. 16-byte rows are a condition
 * of the launch on top of this (else gathered). */
static inline int kc_dec_copy_variant(int sparse, int paged, int page_size, int chunk_keys)
{
    if (sparse) return KC_DEC_GATHERED;
    if (!paged) return KC_DEC_AFFINE;
    const int piece = chunk_keys < 16 ? chunk_keys : 16;
    return page_size > 0 && page_size % piece == 0 ? KC_DEC_AFFINE_PAGED : KC_DEC_GATHERED;
}
/* resident CTAs per SM of the tensor-core decode's instantiation `variant` (KC_DEC_*), cached per
 * device and configuration */
int kc_mma_decode_blocks_per_sm(int head_dim, int dtype, int stages, int chunk, int variant);
/* clusters of `cluster` (2..16) tensor-core decode CTAs the device holds at once; 0 when it cannot
 * launch them (cached per device and configuration) */
int kc_mma_decode_max_clusters(int head_dim, int dtype, int stages, int chunk, int cluster);

/* the Top-k step on compute capability 9.0: an anchor split decode planned with decode_topk_pools runs
 * one thread-block cluster per list that pools (and merges) as it loads (topk_cluster.cu), everything
 * else the shared ksa_gpu_launch_topk */
int kc_launch_topk(const ksa_gpu_args *a, const ksa_gpu_call *c, int decode, int tile0, int ntiles);
/* can that cluster Top-k take a decode of `lists` (sequence, KV head) lists of up to max_lk keys, `group`
 * query heads per KV head and `splits` splits on a device of `sms` SMs? */
int kc_topk_cluster_plans(int64_t lists, int64_t max_lk, int group, int splits, int sms);

/* TMA tensor maps over K and V as (D, Hkv, rows, batch) with (64 x 1 x box_rows x 1) boxes and the
 * 128-byte swizzle, for the dense keys of a uniform contiguous batch with 16-byte aligned strides
 * (sm90_prefill.cu); 0 when TMA cannot describe the call */
int kc_tma_kv_maps(const ksa_gpu_args *a, int head_dim, int box_rows, CUtensorMap *mk, CUtensorMap *mv);
/* the decode's TMA maps over a paged K/V pool: (D, Hkv, page_size, pages), boxes of box_rows keys of
 * one page (page_size a multiple of box_rows); 0 when TMA cannot serve it */
int kc_tma_paged_maps(const ksa_gpu_args *a, int head_dim, int box_rows, CUtensorMap *mk, CUtensorMap *mv);
/* rows per TMA box when the decode loads chunks of `chunk` keys from pages of page_size keys: the
 * chunk when a page holds a whole number of chunks; one page when the page holds a multiple of 8
 * keys and divides the chunk (the kernel then loads a chunk page by page, each box a whole number of
 * 1 KB swizzle periods); 0 when TMA cannot load such pages */
static inline int kc_tma_page_rows(int page_size, int chunk)
{
    if (page_size <= 0 || chunk <= 0) return 0;
    if (page_size % chunk == 0) return chunk;
    return chunk % page_size == 0 && page_size % 8 == 0 ? page_size : 0;
}

#ifdef __cplusplus
}
#endif
#endif /* KSA_CUDA_H */
