/* ksa_budget_rules.h: the Top-k budget and selection-size rules of docs/SEMANTICS.md, written once.
 * Plain C11 that nvcc and hipcc also compile (every function is __host__ __device__ there), so
 * dispatch, the reference, the cpu backend, the OpenCL host code and the CUDA/HIP kernels all run
 * this arithmetic and nothing else:
 *   - C callers go through the ksa_topk_params wrappers of dispatch/ksa_backend.h;
 *   - the CUDA and HIP kernels through kg_budget / kg_tile_count of backends/gpu/ksa_gpu_common.cuh,
 *     which only copy their argument block's fields into a ksa_budget_rule;
 *   - the OpenCL kernels hold no copy: the host (backends/opencl/ocl_attention.c) computes every
 *     count with these functions and passes them in the call metadata; tests/common's grid checks
 *     the counts each device writes against a table computed by hand.
 * Integer arithmetic in int64_t; the fraction product is truncated toward zero (floor: f and L are
 * non-negative), identically on every compiler. */
#ifndef KSA_BUDGET_RULES_H
#define KSA_BUDGET_RULES_H

#include <stdint.h>

#if defined(__CUDACC__) || defined(__HIPCC__) || defined(__HIP__)
#define KSA_BUDGET_FN static __host__ __device__ __forceinline__
#else
#define KSA_BUDGET_FN static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The fields of ksa_topk_params the rules read (validated: fraction in (0, 1] unless top_k > 0,
 * min_k >= 1, round_multiple >= 1, tile_size >= 1). */
typedef struct ksa_budget_rule {
    double fraction;
    int32_t top_k;          /* > 0: fixed k replaces the fraction rule */
    int32_t min_k;
    int32_t round_multiple; /* 1: no rounding */
    int32_t tile_size;      /* T */
    int32_t rolling;        /* prefill: cap each tile's selection by its own position's budget */
} ksa_budget_rule;

/* round_up(max(min_k, floor(f * L)), m): the fraction rule before the cap at L. Also the rolling
 * budget r_t of a prefill tile, with L = pos(tT). */
KSA_BUDGET_FN int64_t ksa_rule_fraction_budget(const ksa_budget_rule *r, int64_t L)
{
    int64_t k = (int64_t)(r->fraction * (double)L);
    if (k < r->min_k) k = r->min_k;
    int64_t m = r->round_multiple > 1 ? r->round_multiple : 1;
    return (k + m - 1) / m * m;
}

/* k(L) = min(L, round_up(max(min_k, floor(f * L)), m)), or min(L, top_k) when top_k > 0. */
KSA_BUDGET_FN int64_t ksa_rule_budget(const ksa_budget_rule *r, int64_t L)
{
    if (L <= 0) return 0;
    int64_t k = r->top_k > 0 ? (int64_t)r->top_k : ksa_rule_fraction_budget(r, L);
    return k < L ? k : L;
}

/* Decode: keys selected for a sequence of lk keys: k(lk). */
KSA_BUDGET_FN int64_t ksa_rule_decode_count(const ksa_budget_rule *r, int64_t lk) { return ksa_rule_budget(r, lk); }

/* Prefill: keys selected (outside the tile's own keys) by tile t of a sequence with lq queries and
 * lk keys. Its candidates are the pos(tT) = lk - lq + tT keys before the tile.
 *   count_t = clamp(k(lk) - T, 0, pos(tT))                      non-rolling, or top_k fixed
 *   count_t = clamp(min(k(lk) - T, r_t), 0, pos(tT))            rolling,
 *             r_t = round_up(max(min_k, floor(f * pos(tT))), m)
 * The tile counts toward the prompt's budget k (hence k - T); the rolling budget caps the
 * selection itself, with nothing subtracted from it. */
KSA_BUDGET_FN int64_t ksa_rule_prefill_tile_count(const ksa_budget_rule *r, int64_t lq, int64_t lk, int64_t t)
{
    int64_t start = lk - lq + t * (int64_t)r->tile_size; /* pos(tT) = number of candidates */
    if (start <= 0) return 0;
    int64_t sel = ksa_rule_budget(r, lk) - r->tile_size;
    if (r->rolling && r->top_k <= 0) {
        int64_t rolling = ksa_rule_fraction_budget(r, start);
        if (rolling < sel) sel = rolling;
    }
    if (sel < 0) sel = 0;
    return sel < start ? sel : start;
}

/* Index slots (the last dimension of the index tensor) a call needs for its longest sequence:
 * decode k(max_lk); prefill max(k(max_lk) - T, 0), which bounds every count_t above. */
KSA_BUDGET_FN int64_t ksa_rule_index_slots(const ksa_budget_rule *r, int decode, int64_t max_lk)
{
    if (decode) return ksa_rule_budget(r, max_lk);
    int64_t s = ksa_rule_budget(r, max_lk) - r->tile_size;
    return s > 0 ? s : 0;
}

#ifdef __cplusplus
}
#endif
#endif /* KSA_BUDGET_RULES_H */
