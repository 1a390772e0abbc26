/* ksa_cuda_common.cuh: what every kernel of the CUDA backend shares: the kernel argument block
 * (kc_args, built once per call by the host glue from a ksa_problem), per-sequence metadata in the
 * workspace, K/V row addressing for contiguous, ragged and paged layouts, the Top-k budget rules of
 * docs/SEMANTICS.md (from backends/gpu_common/, shared with HIP), and 16-byte asynchronous copies. Portable: uses only
 * ksa_gpu_vendor.h, so the HIP backend can compile it too. */
#ifndef KSA_CUDA_COMMON_CUH
#define KSA_CUDA_COMMON_CUH

#include <math.h>
#include <stdint.h>

#include "ksa_gpu_vendor.h"
#include "ksa_cuda_launch.h"
#include "../gpu_common/ksa_gpu_budget.cuh"
#include "../gpu_common/ksa_gpu_reduce.cuh"
#include "../gpu_common/ksa_gpu_topk.cuh"

#define KC_NEG_INF (-INFINITY)
#define KC_LOG2E 1.4426950408889634f
#define KC_LN2 0.6931471805599453f

/* per-sequence metadata, int32 [4][B] in the workspace */
static __device__ __forceinline__ int kc_lq(const kc_args &a, int b) { return a.meta[b]; }
static __device__ __forceinline__ int kc_lk(const kc_args &a, int b) { return a.meta[a.batch + b]; }
static __device__ __forceinline__ int kc_qrow0(const kc_args &a, int b) { return a.meta[2 * a.batch + b]; }
static __device__ __forceinline__ int kc_krow0(const kc_args &a, int b) { return a.meta[3 * a.batch + b]; }

/* element offset of row j of KV head g of sequence b in k (which = 0) or v (which = 1) */
static __device__ __forceinline__ int64_t kc_kv_offset(const kc_args &a, int which, int b, int j, int g)
{
    const kc_strides &s = which ? a.v_s : a.k_s;
    if (a.kv_layout == KC_KV_PAGED) {
        int pg = a.page_table[(int64_t)b * a.pt_s0 + (int64_t)(j / a.page_size) * a.pt_s1];
        return (int64_t)pg * s.page + (int64_t)(j % a.page_size) * s.token + (int64_t)g * s.head;
    }
    return (int64_t)b * s.batch + (int64_t)(kc_krow0(a, b) + j) * s.token + (int64_t)g * s.head;
}

/* Top-k budget rules, shared with the HIP backend (backends/gpu_common/ksa_gpu_budget.cuh) */
static __device__ __forceinline__ int64_t kc_budget(const kc_args &a, int64_t L) { return ksa_gpu_budget(a, L); }

/* selection size of prefill tile t (ksa_prefill_tile_count of dispatch/ksa_backend.h) */
static __device__ __forceinline__ int64_t kc_tile_count(const kc_args &a, int64_t lq, int64_t lk, int64_t t)
{
    return ksa_gpu_tile_count(a, lq, lk, t);
}

/* 16-byte global -> shared copy; src_bytes 0 zero-fills. Asynchronous on sm_80+. */
static __device__ __forceinline__ void kc_copy16(void *smem, const void *gmem, int src_bytes)
{
#if defined(KSA_GPU_HIP_BRANCH) || (defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800)
    uint4 v = make_uint4(0, 0, 0, 0);
    if (src_bytes) v = *(const uint4 *)gmem;
    *(uint4 *)smem = v;
#else
    unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
#endif
}
static __device__ __forceinline__ void kc_copy_commit(void)
{
#if !defined(KSA_GPU_HIP_BRANCH) && !(defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800)
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N> static __device__ __forceinline__ void kc_copy_wait(void)
{
#if !defined(KSA_GPU_HIP_BRANCH) && !(defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800)
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

/* Copy one row of D elements (16-bit storage) from global to shared: 16-byte pieces when the
 * call's pointers and strides allow (a.vec16), else element by element. `part` / `nparts` spread
 * the row over threads; src NULL zero-fills. */
template <int D>
static __device__ __forceinline__ void kc_row_piece(const kc_args &a, uint16_t *dst, const uint16_t *src, int piece)
{
    if (a.vec16) {
        kc_copy16(dst + piece * 8, src ? (const void *)(src + piece * 8) : (const void *)a.meta, src ? 16 : 0);
    } else {
        for (int e = 0; e < 8; e++) dst[piece * 8 + e] = src ? src[piece * 8 + e] : (uint16_t)0;
    }
}

/* Allow a kernel the device's whole opt-in shared memory, once per device (a host call kept out
 * of the per-call path, so captured calls issue no attribute changes after the first run). */
template <typename F> static inline cudaError_t kc_allow_smem(F *fn, unsigned *done_mask)
{
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) return e;
    unsigned bit = 1u << (dev & 31);
    if (*done_mask & bit) return cudaSuccess;
    int maxs = 0;
    e = cudaDeviceGetAttribute(&maxs, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    if (e != cudaSuccess) return e;
    cudaFuncAttributes fa;
    e = cudaFuncGetAttributes(&fa, fn);
    if (e != cudaSuccess) return e;
    /* the dynamic limit is what the block's static shared memory leaves of the opt-in maximum */
    e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, maxs - (int)fa.sharedSizeBytes);
    if (e == cudaSuccess) *done_mask |= bit;
    else (void)cudaGetLastError(); /* do not leave the error for the next launch check */
    return e;
}

#endif /* KSA_CUDA_COMMON_CUH */
