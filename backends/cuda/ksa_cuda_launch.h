/* ksa_cuda_launch.h: the interface between the CUDA backend's host glue (plugin.c, C11) and its
 * kernels (*.cu): the kernel argument block kc_args, filled once per call from a ksa_problem and
 * passed by value to every kernel, and the extern "C" launchers, one per kernel family. Launchers
 * enqueue on the given stream and return a cudaError_t value as int (0 = success). */
#ifndef KSA_CUDA_LAUNCH_H
#define KSA_CUDA_LAUNCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KC_MAX_KV_HEADS 256
#define KC_KV_CONTIGUOUS 0
#define KC_KV_RAGGED 1
#define KC_KV_PAGED 2
#define KC_DT_F16 2
#define KC_DT_BF16 3
#define KC_PREFILL_ROWS 128 /* MMA rows per prefill CTA (8 warps x 16) */

/* strides (elements) of a token-major tensor, see ksa_token_strides */
typedef struct kc_strides {
    int64_t batch, token, head, page;
} kc_strides;

typedef struct kc_args {
    /* tensors (device pointers) */
    const void *q, *k, *v;
    void *o;            /* NULL: this pass writes no output */
    float *lse;         /* user lse (natural log) or NULL */
    float *lse2_ws;     /* internal log2-domain lse [B][Hq][max_lq] or NULL */
    const int *meta;    /* [4][B]: lq, lk, q_row0, k_row0 */
    const int *page_table;
    int *indices;
    int *counts;
    kc_strides q_s, k_s, v_s, o_s;
    int64_t lse_sb, lse_sh, lse_si;
    int64_t pt_s0, pt_s1;
    int64_t is0, is1, is2, is3; /* index strides (b, g, tile, slot); decode: is2 unused */
    int64_t cs0, cs1, cs2;      /* count strides (b, g, tile) */
    int32_t kv_layout, page_size;
    int32_t batch, hq, hkv, group, head_dim;
    int32_t max_lq, max_lk;
    int32_t dtype;
    int32_t vec16;    /* every q/k/v row start is 16-byte aligned */
    float scale_log2; /* scale * log2(e) */
    /* Top-k */
    double fraction;
    int32_t top_k, min_k, round_multiple, tile_size, rolling, local_window;
    int32_t n_tiles, k_slots;
    /* pass selection */
    int32_t sparse;   /* prefill: 0 dense causal keys, 1 selected indices + the tile's own keys */
    int32_t lse_only; /* prefill: compute only the log-sum-exp (no P V, no V loads, no o) */
    int32_t warp_rows;  /* prefill: MMA rows per warp, 16 or 32 (32 only at head_dim <= 128) */
    int32_t dec_stages; /* decode: 1 or 2 shared-memory buffers for K/V chunks */
    int32_t rows_per_cta_chunks; /* prefill sparse: CTAs per tile (ceil(T*G/KC_PREFILL_ROWS)) */
    int32_t head_map[KC_MAX_KV_HEADS];
} kc_args;

/* per-sequence metadata from the device length tensors */
int kc_launch_meta(const kc_args *a, int *meta, const int *cu_q, int64_t cu_q_s, const int *cu_k, int64_t cu_k_s,
                   const int *seq_k, int64_t seq_k_s, int32_t lq_uniform, int32_t lk_uniform, void *stream);

/* prefill flash pass (tensor cores, mma.sync): dense causal or sparse (a->sparse) */
int kc_launch_flash_prefill(const kc_args *a, void *stream, char *kernel_name, int name_len);
/* anchor prefill: pooled probabilities of tiles [tile0, tile0 + ntiles) into pooled[seg][ld] */
int kc_launch_pooled_prefill(const kc_args *a, int tile0, int ntiles, float *pooled, int64_t ld, void *stream);
/* Top-k of pooled scores: prefill (tiles [tile0, tile0+ntiles)) or decode (ntiles = 0) */
int kc_launch_topk(const kc_args *a, int decode, int tile0, int ntiles, const float *pooled, int64_t ld, void *stream);

/* decode: split-KV partials, then combine. sparse: 0 dense over all keys, 1 indices (+ window for
 * reuse when window > 0). scores2: optional [B][Hq][ld] log2-domain scores for anchor pooling. */
int kc_launch_decode(const kc_args *a, int sparse, int window, int splits, float *partials, float *scores2,
                     int64_t scores_ld, void *stream, char *kernel_name, int name_len);
int kc_launch_decode_combine(const kc_args *a, int splits, const float *partials, float *lse2_out, void *stream);
/* anchor decode: pooled[b*Hkv+g][j] = sum over heads of exp2(scores2 - lse2) */
int kc_launch_decode_pool(const kc_args *a, const float *scores2, int64_t ld, const float *lse2, float *pooled,
                          void *stream);
/* dynamic shared memory of the decode kernel for head_dim D and group G (0 = unsupported) */
size_t kc_decode_smem(int head_dim, int group, int stages);
/* resident decode CTAs per SM for this configuration (occupancy calculator) */
int kc_decode_blocks_per_sm(int head_dim, int dtype, int group, int stages);

#ifdef __cplusplus
}
#endif
#endif /* KSA_CUDA_LAUNCH_H */
