/* ksa_gpu_budget.cuh: the CUDA and HIP kernels' access to the Top-k budget rules. The rules are
 * dispatch/ksa_budget_rules.h (the one copy, __host__ __device__ under nvcc and hipcc); this
 * adapter only copies the fields of the kernel argument block (ksa_gpu_args: `double fraction`
 * and int32 top_k, min_k, round_multiple, tile_size, rolling) into a ksa_budget_rule. */
#ifndef KSA_GPU_BUDGET_CUH
#define KSA_GPU_BUDGET_CUH

#include <stdint.h>

#include "ksa_gpu_vendor.h"
#include "../../dispatch/ksa_budget_rules.h"

template <typename A> static __device__ __forceinline__ ksa_budget_rule ksa_gpu_rule(const A &a)
{
    ksa_budget_rule r;
    r.fraction = a.fraction;
    r.top_k = a.top_k;
    r.min_k = a.min_k;
    r.round_multiple = a.round_multiple;
    r.tile_size = a.tile_size;
    r.rolling = a.rolling;
    return r;
}

/* k(L) */
template <typename A> static __device__ __forceinline__ int64_t ksa_gpu_budget(const A &a, int64_t L)
{
    ksa_budget_rule r = ksa_gpu_rule(a);
    return ksa_rule_budget(&r, L);
}

/* count_t of prefill tile t of a sequence with lq queries and lk keys */
template <typename A>
static __device__ __forceinline__ int64_t ksa_gpu_tile_count(const A &a, int64_t lq, int64_t lk, int64_t t)
{
    ksa_budget_rule r = ksa_gpu_rule(a);
    return ksa_rule_prefill_tile_count(&r, lq, lk, t);
}

#endif /* KSA_GPU_BUDGET_CUH */
