/* ksa_gpu_args.h: the one kernel argument block of the GPU layer (CUDA and HIP), plain C read by
 * the host glue (gpu_backend.c fills it once per call from a ksa_problem) and by every kernel,
 * which takes it by value (__grid_constant__ on NVIDIA). Per-sequence lengths are not in the block:
 * kernels read them from the device length tensors (`len`, through kg_lq ... in
 * ksa_gpu_common.cuh), so a call issues no copy and stays capturable in a CUDA/HIP graph. */
#ifndef KSA_GPU_ARGS_H
#define KSA_GPU_ARGS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KSA_GPU_MAX_KV_HEADS 256 /* = KSA_MAX_KV_HEADS */
#define KSA_GPU_KV_CONTIGUOUS 0
#define KSA_GPU_KV_RAGGED 1
#define KSA_GPU_KV_PAGED 2
#define KSA_GPU_DT_F32 1 /* the values of ksa_dtype */
#define KSA_GPU_DT_F16 2
#define KSA_GPU_DT_BF16 3

/* strides (elements) of a token-major tensor, see ksa_token_strides */
typedef struct ksa_gpu_strides {
    int64_t batch, token, head, page;
} ksa_gpu_strides;

/* Where a call's per-sequence lengths come from: the device length tensors (NULL: absent; a count
 * without its tensor is the call's max_lq / max_lk) with their element strides, and the rows of a
 * ragged q / K-V that offsets must stay in. */
typedef struct ksa_gpu_lengths {
    const int *cu_q, *cu_k, *seq_k;
    int64_t cu_q_s, cu_k_s, seq_k_s;
    int64_t q_rows, k_rows;
} ksa_gpu_lengths;

typedef struct ksa_gpu_args {
    /* tensors (device pointers) */
    const void *q, *k, *v;
    void *o;           /* NULL: this pass writes no output */
    float *lse;        /* the caller's lse (natural log) or NULL */
    float *lse_ws;     /* anchor: internal lse [B][Hq][max_lq] written by the dense prefill-style pass and read
                        * by the pooled-score pass of the same vendor (CUDA: log2 domain, HIP: natural log) */
    const void *zero_src; /* a 16-byte aligned workspace address: the source operand of zero-byte copies */
    const int *page_table;
    int *indices;      /* read by sparse passes, written by Top-k */
    int *counts;
    ksa_gpu_strides q_s, k_s, v_s, o_s;
    int64_t lse_sb, lse_sh, lse_si;
    int64_t pt_s0, pt_s1;
    int64_t is0, is1, is2, is3; /* index strides (b, g, tile, slot); decode: is2 = 0 */
    int64_t cs0, cs1, cs2;      /* count strides (b, g, tile); decode: cs2 = 0 */
    int32_t kv_layout, page_size;
    int32_t batch, hq, hkv, group, head_dim;
    int32_t max_lq, max_lk;
    int32_t dtype;      /* KSA_GPU_DT_* */
    int32_t vec16;      /* every q/k/v row start is 16-byte aligned */
    float scale_log2;   /* scale * log2(e) */
    /* Top-k rule (docs/SEMANTICS.md "Budget k"), re-derived on the device (kg_budget, ksa_gpu_common.cuh) */
    double fraction;
    int32_t top_k, min_k, round_multiple, tile_size, rolling, local_window;
    int32_t n_tiles, k_slots; /* decode: n_tiles = 1 */
    /* pass selection */
    int32_t sparse;   /* 0: dense causal keys; 1: the index set (+ the tile's own keys, or the decode window) */
    int32_t lse_only; /* prefill pass: only the log-sum-exp is needed (a vendor may skip P V and o) */
    int32_t warp_rows;           /* CUDA prefill: MMA rows per warp, 16 or 32 (32 only at head_dim <= 128) */
    int32_t dec_stages;          /* split decode: 1 or 2 shared-memory buffers for K/V chunks */
    int32_t rows_per_cta_chunks; /* CUDA sparse prefill: CTAs per tile (ceil(T * G / 128)) */
    int32_t head_map[KSA_GPU_MAX_KV_HEADS]; /* REUSE: the KV head whose index set head g reads; else identity */
    /* read by the HIP kernels (kept after the fields above, so the NVIDIA kernels' parameter layout
     * is that of the CUDA-only block they were tuned with) */
    float scale;      /* softmax scale */
    int32_t decode;   /* one query per sequence at pos = Lk - 1 */
    int32_t window;   /* prefill-style pass over a decode REUSE set: local window W (0 = none) */
    int32_t uniform_lengths; /* no length tensor: every sequence has max_lq queries and max_lk keys from row 0 */
    /* CUDA (set by cuda_vendor.c) */
    int32_t tma_ok;       /* the device has the tensor memory accelerator (compute capability 9.0) */
    int32_t pingpong;     /* sm_90a prefill: the two consumer warpgroups alternate their MMA issue */
    int32_t dec_chunk;    /* CUDA tensor-core decode: keys per warp chunk of gathered lists, 16 or 32 */
    int32_t pdl;          /* decode on compute capability 9.0: the split pass and the combine are launched with
                           * programmatic dependent launch (kg_launch) */
    int32_t kv_pages;     /* paged K/V: pages in the pool (the extent of the decode's TMA maps over it) */
    int32_t dense_cta_rows; /* CUDA dense prefill: MMA rows per CTA (0: KC_PREFILL_ROWS, 128; 192: the sm_90a
                             * flash kernel with three consumer warpgroups, head_dim 64) */
    ksa_gpu_lengths len;  /* the length tensors (all absent with uniform_lengths) */
} ksa_gpu_args;

#ifdef __cplusplus
}
#endif
#endif /* KSA_GPU_ARGS_H */
