/* ksa_gpu_launch.h: how the host glue (gpu_backend.c, C) reaches kernels (*.cu, *.hip): the
 * workspace plan of a call, the launch context, and the launcher table. The pass sequence of every
 * mode lives once in gpu_backend.c and calls the steps of a ksa_gpu_kernels table; each vendor file
 * (backends/cuda/cuda_vendor.c, backends/hip/hip_vendor.c) picks the table per call, so a vendor,
 * or one compute capability of it, can supply a faster kernel for one step and size its own
 * workspace regions. Launchers enqueue on c->stream and return the runtime's error code as int
 * (0 = success); they never allocate and never synchronise. */
#ifndef KSA_GPU_LAUNCH_H
#define KSA_GPU_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

#include "ksa_gpu_args.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Regions of the caller's workspace, laid out in this order, each 256-byte aligned. The glue sizes
 * the shared ones from the plan; a vendor's plan hook may size KSA_GPU_WS_VENDOR* for its own
 * kernels (semaphores, extra partials) and read them back with ksa_gpu_ws(). */
typedef enum ksa_gpu_region {
    KSA_GPU_WS_ZERO_SRC = 0, /* 256 bytes: a valid aligned address for zero-byte copies (ksa_gpu_args.zero_src) */
    KSA_GPU_WS_PARTIALS,  /* split decode: float [B][Hq][splits][D + 2]: acc, m, l per split */
    KSA_GPU_WS_SCORES,    /* anchor split decode: float [B][Hq][lk_ld], log2-domain scores */
    KSA_GPU_WS_LSE,       /* anchor: split decode float [B][Hq] (log2); prefill-style pass a.lse_ws */
    KSA_GPU_WS_POOLED,    /* anchor: pooled scores, float [B * Hkv][tile_group][lk_ld] (decode: tile_group 1) */
    KSA_GPU_WS_VENDOR0,   /* a vendor kernel's own scratch */
    KSA_GPU_WS_VENDOR1,
    KSA_GPU_WS_COUNT
} ksa_gpu_region;

#define KSA_GPU_WS_ALIGN 256

typedef struct ksa_gpu_kernels ksa_gpu_kernels;

/* What one call runs and where its scratch lives; made by ksa_gpu_make_plan (gpu_backend.c) with the
 * vendor's plan hook, identical for the workspace query and the call. */
typedef struct ksa_gpu_plan {
    const ksa_gpu_kernels *kernels; /* the launcher table of this call */
    int32_t split_decode;  /* decode: 1 split-KV + combine (kernels->decode), 0 the prefill-style sequence */
    int32_t splits;        /* split decode: key-list splits per (sequence, KV head); 0 = the glue's heuristic */
    int32_t dec_stages;    /* split decode: K/V chunk buffers, 0 = the glue's heuristic */
    int32_t decode_direct; /* split decode: with one split, or with decode_cluster, the vendor's decode step
                            * writes o / lse (and, with scores, the LSE region) itself, and no combine runs */
    int32_t decode_cluster; /* split decode: the splits of a (sequence, KV head) merge inside the decode step
                             * (CUDA: one thread-block cluster); no PARTIALS region */
    int32_t sparse_splits;  /* anchor split decode: the sparse pass's own split count (0: the dense pass's) */
    int32_t sparse_cluster; /* ... and whether its splits merge inside the decode step (decode_cluster) */
    int32_t decode_topk_pools; /* anchor split decode: the vendor's Top-k pools SCORES itself, so
                                * kernels->decode_pool launches nothing; 1: from each head's lse in
                                * LSE; 2: no combine runs before it (several splits merged by the
                                * combine kernel, sparse output): it merges PARTIALS' (m, l) itself */
    int32_t tile_group;    /* anchor prefill: tiles per pooled-score launch, 0 = from pooled_cap */
    size_t pooled_cap;     /* anchor prefill: bytes the pooled scores may take when tile_group is 0 */
    int64_t lk_ld;         /* leading dimension (floats) of per-key scratch rows */
    int32_t vendor[8];     /* the vendor's own choices (CUDA: warps per prefill CTA) */
    int32_t sms;           /* the device's SMs / CUs, for launchers that choose a kernel by the work's size */
    size_t bytes[KSA_GPU_WS_COUNT], offset[KSA_GPU_WS_COUNT];
    size_t total;
} ksa_gpu_plan;

/* One launch's context beyond the argument block. */
typedef struct ksa_gpu_call {
    void *stream;              /* cudaStream_t / hipStream_t (NULL: default) */
    const ksa_gpu_plan *plan;  /* splits, lk_ld, tile_group, the regions */
    char *ws;                  /* the workspace; region r at ws + plan->offset[r] */
    char *kernel;              /* the call's kernel name for KSA_LOG (launchers of the main pass write it) */
    int kernel_len;
} ksa_gpu_call;

/* split decode: the vendor's decode step writes o / lse itself (one split, or the splits merged inside
 * it: decode_direct), so no combine runs after it */
static inline int ksa_gpu_decode_writes_output(const ksa_gpu_plan *pl)
{
    return pl->decode_direct && (pl->splits == 1 || pl->decode_cluster);
}

static inline void *ksa_gpu_ws(const ksa_gpu_call *c, ksa_gpu_region r)
{
    return c->plan->bytes[r] ? (void *)(c->ws + c->plan->offset[r]) : (void *)0;
}

/* The steps of the pass sequences (gpu_backend.c). A NULL step is not run. */
struct ksa_gpu_kernels {
    /* prefill-style pass over query rows: dense causal keys or (a->sparse) the index set plus the
     * tile's own keys or the decode window; writes o, lse and/or a->lse_ws as the block says */
    int (*prefill)(const ksa_gpu_args *a, const ksa_gpu_call *c);
    /* anchor: pooled post-softmax scores of tiles [tile0, tile0 + ntiles) (decode: 0, 1) into the
     * POOLED region, from a->lse_ws. A vendor whose pooled kernel also selects leaves topk NULL. */
    int (*pooled)(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles);
    /* anchor: Top-k of the POOLED rows (prefill tiles [tile0, tile0 + ntiles), or decode) into indices/counts */
    int (*topk)(const ksa_gpu_args *a, const ksa_gpu_call *c, int decode, int tile0, int ntiles);
    /* split decode: partials of the key list (sparse: the index set + `window` last keys); with_scores:
     * also the log2-domain scores into SCORES (anchor) */
    int (*decode)(const ksa_gpu_args *a, const ksa_gpu_call *c, int sparse, int window, int with_scores);
    /* split decode: merge the partials into o and lse; with_lse2: also the log2 lse into LSE */
    int (*combine)(const ksa_gpu_args *a, const ksa_gpu_call *c, int with_lse2);
    /* anchor split decode: pooled probabilities per KV head from SCORES and LSE into POOLED */
    int (*decode_pool)(const ksa_gpu_args *a, const ksa_gpu_call *c);
};

/* ------------------------------------------------------------------ the shared kernels (decode_topk.cu) */
int ksa_gpu_launch_topk(const ksa_gpu_args *a, const ksa_gpu_call *c, int decode, int tile0, int ntiles);
int ksa_gpu_launch_decode(const ksa_gpu_args *a, const ksa_gpu_call *c, int sparse, int window, int with_scores);
int ksa_gpu_launch_decode_combine(const ksa_gpu_args *a, const ksa_gpu_call *c, int with_lse2);
int ksa_gpu_launch_decode_pool(const ksa_gpu_args *a, const ksa_gpu_call *c);
/* the split decode kernel exists for 16-bit storage at these head dims */
int ksa_gpu_decode_supports(int dtype, int head_dim);
/* dynamic shared memory of the split decode kernel (head_dim D, group G, 1 or 2 stages) */
size_t ksa_gpu_decode_smem(int head_dim, int group, int stages);
/* resident split-decode blocks per SM/CU for this configuration (occupancy calculator) */
int ksa_gpu_decode_blocks_per_sm(int head_dim, int dtype, int group, int stages);

#ifdef __cplusplus
}
#endif
#endif /* KSA_GPU_LAUNCH_H */
