/* ksa_hip_launch.h: the interface between the HIP backend's host glue (ksa_hip_plugin.c, C11) and
 * its kernels (kh_*.hip): the kernel argument block kh_args, filled by the host glue from a
 * ksa_problem for one chunk of at most KH_MAX_SEQ sequences and passed by value (so per-sequence
 * lengths and the head map need no device copies and the calls stay graph-capturable), and the
 * extern "C" launchers, one pair per storage type. Launchers enqueue on `stream` (a hipStream_t,
 * NULL = default) and return the hipError_t of the launch as int (0 = success). */
#ifndef KSA_HIP_LAUNCH_H
#define KSA_HIP_LAUNCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KH_MAX_SEQ 64        /* sequences per launch (their lengths travel in the argument block) */
#define KH_MAX_KV_HEADS 256  /* = KSA_MAX_KV_HEADS */
#define KH_MAX_HEAD_DIM 512
#define KH_THREADS 256       /* threads per block of every kernel: 4 waves of 64 or 8 waves of 32 */
#define KH_KV_CONTIGUOUS 0
#define KH_KV_RAGGED 1
#define KH_KV_PAGED 2

/* strides in elements of a token-major tensor (see ksa_token_strides) */
typedef struct kh_strides {
    int64_t batch, token, head, page;
} kh_strides;

typedef struct kh_args {
    const void *q, *k, *v;
    void *o;               /* NULL: this pass writes no output rows */
    float *lse;            /* caller's lse (natural log) or NULL */
    float *lse_ws;         /* internal lse [B][Hq][max_lq] (anchor) or NULL */
    const int32_t *page_table;
    int32_t *indices;      /* read by sparse passes, written by the Top-k pass */
    int32_t *counts;
    float *pooled;         /* Top-k pass: pooled scores, one row of pooled_ld floats per (seq, head, tile) */
    int64_t pooled_ld;
    kh_strides q_s, k_s, v_s, o_s;
    int64_t lse_sb, lse_sh, lse_si;
    int64_t pt_s0, pt_s1;
    int64_t is0, is1, is2, is3; /* index strides (b, g, tile, slot) */
    int64_t cs0, cs1, cs2;      /* count strides (b, g, tile) */
    int32_t kv_layout, page_size;
    int32_t hq, hkv, group, head_dim;
    int32_t max_lq;        /* of the whole call: the lse_ws row length */
    int32_t n_tiles, k_slots;
    float scale;
    int32_t decode;        /* one query per sequence at pos = Lk - 1 */
    int32_t sparse;        /* 0: dense causal keys; 1: index set (+ the tile's own keys / the decode window) */
    int32_t window;        /* decode REUSE local window W (0 = none) */
    /* Top-k rule (docs/SEMANTICS.md "Budget k"), re-derived per tile on the device */
    double fraction;
    int32_t top_k, min_k, round_multiple, tile_size, rolling;
    /* this chunk: sequences b0 .. b0 + nseq - 1 */
    int32_t b0, nseq;
    int32_t lq[KH_MAX_SEQ], lk[KH_MAX_SEQ], q_row0[KH_MAX_SEQ], k_row0[KH_MAX_SEQ];
    int32_t head_map[KH_MAX_KV_HEADS]; /* identity unless REUSE */
} kh_args;

/* Attention rows: grid (rows, Hq, nseq), one block per (query row, head, sequence); `rows` is the
 * longest query count of the chunk. max_head_dim is 64, 128, 256 or 512 (>= head_dim). */
int kh_launch_attend_f32(const kh_args *a, int rows, int max_head_dim, void *stream);
int kh_launch_attend_f16(const kh_args *a, int rows, int max_head_dim, void *stream);
int kh_launch_attend_bf16(const kh_args *a, int rows, int max_head_dim, void *stream);
/* Pooled scores + Top-k of rows [row0, row0 + nrows) of the chunk, row = (seq * Hkv + g) * n_tiles + t;
 * pooled holds nrows rows. */
int kh_launch_pool_topk_f32(const kh_args *a, int row0, int nrows, int max_head_dim, void *stream);
int kh_launch_pool_topk_f16(const kh_args *a, int row0, int nrows, int max_head_dim, void *stream);
int kh_launch_pool_topk_bf16(const kh_args *a, int row0, int nrows, int max_head_dim, void *stream);

#ifdef __cplusplus
}
#endif
#endif /* KSA_HIP_LAUNCH_H */
