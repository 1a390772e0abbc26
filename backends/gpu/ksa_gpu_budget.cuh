/* ksa_gpu_budget.cuh: the Top-k budget rules of docs/SEMANTICS.md (ksa_budget and
 * ksa_prefill_tile_count of dispatch/ksa_backend.h) re-derived on the device, shared by the CUDA
 * and HIP kernels. Templated on the kernel argument block (kc_args, kh_args), which both carry
 * `double fraction` and int32 top_k, min_k, round_multiple, tile_size, rolling. */
#ifndef KSA_GPU_BUDGET_CUH
#define KSA_GPU_BUDGET_CUH

#include <stdint.h>

#include "ksa_gpu_vendor.h"

/* fraction-derived budget: at least min_k, rounded up to round_multiple */
template <typename A> static __device__ __forceinline__ int64_t ksa_gpu_round_budget(const A &a, int64_t k)
{
    if (k < a.min_k) k = a.min_k;
    int64_t m = a.round_multiple > 1 ? a.round_multiple : 1;
    return (k + m - 1) / m * m;
}

/* k(L): the selection size for L candidate keys */
template <typename A> static __device__ __forceinline__ int64_t ksa_gpu_budget(const A &a, int64_t L)
{
    if (L <= 0) return 0;
    int64_t k = a.top_k > 0 ? (int64_t)a.top_k : ksa_gpu_round_budget(a, (int64_t)(a.fraction * (double)L));
    return k < L ? k : L;
}

/* selection size of prefill tile t of a sequence with lq queries and lk keys */
template <typename A>
static __device__ __forceinline__ int64_t ksa_gpu_tile_count(const A &a, int64_t lq, int64_t lk, int64_t t)
{
    int64_t start = lk - lq + t * a.tile_size;
    if (start <= 0) return 0;
    int64_t k = ksa_gpu_budget(a, lk);
    if (a.rolling && a.top_k <= 0) {
        int64_t kr = ksa_gpu_round_budget(a, (int64_t)(a.fraction * (double)start));
        if (kr < k) k = kr;
    }
    int64_t sel = k - a.tile_size;
    if (sel < 0) sel = 0;
    return sel < start ? sel : start;
}

#endif /* KSA_GPU_BUDGET_CUH */
