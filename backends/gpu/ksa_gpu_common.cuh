/* ksa_gpu_common.cuh: what the kernels of both GPU vendors share on the device: per-sequence
 * lengths from the device length tensors, K/V row addressing for contiguous, ragged and paged layouts, the Top-k
 * budget rules of docs/SEMANTICS.md (dispatch/ksa_budget_rules.h), 16-byte global-to-shared copies
 * (asynchronous on sm_80+), and the shared-memory opt-in. Written only against ksa_gpu_vendor.h, so
 * nvcc and hipcc compile it alike. */
#ifndef KSA_GPU_COMMON_CUH
#define KSA_GPU_COMMON_CUH

#include <math.h>
#include <stdint.h>

#include "ksa_gpu_vendor.h"
#include "ksa_gpu_args.h"
#include "ksa_gpu_launch.h"
#include "../../dispatch/ksa_budget_rules.h"
#include "ksa_gpu_reduce.cuh"
#include "ksa_gpu_topk.cuh"

#define KG_NEG_INF (-INFINITY)
#define KG_LN2 0.6931471805599453f

/* In a launcher: return FN<D, T>(...) for the argument block ARGS's head dim D (64, 128, 256) and
 * element type T (f16 or bf16), or cudaErrorInvalidValue for any other pair. */
#define KG_DISPATCH(ARGS, FN, ...)                                                                          \
    do {                                                                                                    \
        if ((ARGS)->dtype == KSA_GPU_DT_F16) {                                                              \
            if ((ARGS)->head_dim == 64) return FN<64, ksa_f16>(__VA_ARGS__);                                \
            if ((ARGS)->head_dim == 128) return FN<128, ksa_f16>(__VA_ARGS__);                              \
            if ((ARGS)->head_dim == 256) return FN<256, ksa_f16>(__VA_ARGS__);                              \
        } else {                                                                                            \
            if ((ARGS)->head_dim == 64) return FN<64, ksa_bf16>(__VA_ARGS__);                               \
            if ((ARGS)->head_dim == 128) return FN<128, ksa_bf16>(__VA_ARGS__);                             \
            if ((ARGS)->head_dim == 256) return FN<256, ksa_bf16>(__VA_ARGS__);                             \
        }                                                                                                   \
        return (int)cudaErrorInvalidValue;                                                                  \
    } while (0)

/* Per-sequence lengths and first rows, read from the device length tensors (a.len) where the call has
 * them, clamped to the call's bounds (max_lq, max_lk) and the tensors' rows: a no-op for lengths
 * dispatch validated; for lengths only the device sees (params' max_seqlen bounds) it keeps every
 * access inside the tensors. At least one key; no more queries than keys (decode: exactly one). */
static __device__ __forceinline__ int64_t kg_clamp64(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : x > hi ? hi : x; }
static __device__ __forceinline__ int kg_qrow0(const ksa_gpu_args &a, int b)
{
    return a.len.cu_q ? (int)kg_clamp64(a.len.cu_q[(int64_t)b * a.len.cu_q_s], 0, a.len.q_rows - 1) : 0;
}
static __device__ __forceinline__ int kg_krow0(const ksa_gpu_args &a, int b)
{
    return a.len.cu_k ? (int)kg_clamp64(a.len.cu_k[(int64_t)b * a.len.cu_k_s], 0, a.len.k_rows - 1) : 0;
}
/* the anchor's internal lse workspace [B][Hq][max_lq]: the element of query i of head h of sequence b */
static __device__ __forceinline__ float &kg_lse_ws_at(const ksa_gpu_args &a, int b, int h, int i)
{
    return a.lse_ws[((int64_t)b * a.hq + h) * a.max_lq + i];
}
/* kg_lk in two steps: kg_lk_load issues the reads of the length tensors, kg_lk_from clamps what they
 * returned. A kernel whose first loads do not depend on the length (Q, a page-table row, the index
 * set's count) issues them between the two, so the length's round trip runs beside theirs: a warp
 * stalls at the first instruction that uses a load's value, and kg_lk's clamp right behind its read
 * held every later load back by one DRAM round trip (measured on the H200, forty-first session:
 * decode with seq_lens_k on the device against a uniform batch, bench/NOTES.md). */
struct kg_lk_raw {
    int k0, k1; /* cu_k's rows b and b + 1, or (0, seq_lens_k[b]), or (0, max_lk); the tensors' own
                   32-bit values, widened only in kg_lk_from (a widening is a use) */
};
static __device__ __forceinline__ kg_lk_raw kg_lk_load(const ksa_gpu_args &a, int b)
{
    kg_lk_raw r;
    r.k0 = 0;
    r.k1 = a.max_lk; /* no key tensor: the contiguous K/V's length */
    if (!a.uniform_lengths) {
        if (a.len.cu_k) {
            r.k0 = a.len.cu_k[(int64_t)b * a.len.cu_k_s];
            r.k1 = a.len.cu_k[(int64_t)(b + 1) * a.len.cu_k_s];
        } else if (a.len.seq_k) {
            r.k1 = a.len.seq_k[(int64_t)b * a.len.seq_k_s];
        }
    }
    return r;
}
static __device__ __forceinline__ int kg_lk_from(const ksa_gpu_args &a, const kg_lk_raw &r)
{
    if (a.uniform_lengths) return a.max_lk;
    int64_t lk = r.k1;
    if (a.len.cu_k) {
        const int64_t k0 = kg_clamp64((int64_t)r.k0, 0, a.len.k_rows - 1); /* kg_krow0 */
        lk = kg_clamp64((int64_t)r.k1, k0, a.len.k_rows) - k0;
    }
    return (int)kg_clamp64(lk, 1, a.max_lk);
}
static __device__ __forceinline__ int kg_lk(const ksa_gpu_args &a, int b) { return kg_lk_from(a, kg_lk_load(a, b)); }
static __device__ __forceinline__ int kg_lq(const ksa_gpu_args &a, int b)
{
    if (a.uniform_lengths) return a.max_lq;
    if (a.decode) return 1;
    int64_t lq = a.max_lq; /* q not ragged: its Lq */
    if (a.len.cu_q) {
        const int64_t q0 = kg_qrow0(a, b);
        lq = kg_clamp64(a.len.cu_q[(int64_t)(b + 1) * a.len.cu_q_s], q0, a.len.q_rows) - q0;
    }
    const int lk = kg_lk(a, b);
    return (int)kg_clamp64(lq, 0, a.max_lq < lk ? a.max_lq : lk);
}

/* the page-table slot of row j (>= 0) of a paged pool's sequence, and the row's place in its page: a
 * shift and a mask for page sizes that are powers of two (all the usual ones), else a division;
 * kg_page_of reads that slot's entry of sequence b */
static __device__ __forceinline__ int kg_page_slot(const ksa_gpu_args &a, int j, int &in_page)
{
    const int ps = a.page_size;
    int slot;
    if ((ps & (ps - 1)) == 0) {
        slot = j >> (__ffs(ps) - 1);
        in_page = j & (ps - 1);
    } else {
        slot = j / ps;
        in_page = j - slot * ps;
    }
    return slot;
}
static __device__ __forceinline__ int kg_page_of(const ksa_gpu_args &a, int b, int j, int &in_page)
{
    const int slot = kg_page_slot(a, j, in_page);
    return a.page_table[(int64_t)b * a.pt_s0 + (int64_t)slot * a.pt_s1];
}

/* element offset of row j of KV head g of sequence b in k (which = 0) or v (which = 1) */
static __device__ __forceinline__ int64_t kg_kv_offset(const ksa_gpu_args &a, int which, int b, int j, int g)
{
    const ksa_gpu_strides &s = which ? a.v_s : a.k_s;
    if (a.kv_layout == KSA_GPU_KV_PAGED) {
        int in_page;
        const int pg = kg_page_of(a, b, j, in_page);
        return (int64_t)pg * s.page + (int64_t)in_page * s.token + (int64_t)g * s.head;
    }
    return (int64_t)b * s.batch + (int64_t)(kg_krow0(a, b) + j) * s.token + (int64_t)g * s.head;
}

/* Top-k budget rules: the one copy is dispatch/ksa_budget_rules.h (__host__ __device__ under nvcc
 * and hipcc); the argument block carries the rule's fields */
static __host__ __device__ __forceinline__ ksa_budget_rule kg_rule(const ksa_gpu_args &a)
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

/* k(L) (host and device) */
static __host__ __device__ __forceinline__ int64_t kg_budget(const ksa_gpu_args &a, int64_t L)
{
    const ksa_budget_rule r = kg_rule(a);
    return ksa_rule_budget(&r, L);
}

/* selection size of prefill tile t (ksa_prefill_tile_count of dispatch/ksa_backend.h; host and device) */
static __host__ __device__ __forceinline__ int64_t kg_tile_count(const ksa_gpu_args &a, int64_t lq, int64_t lk, int64_t t)
{
    const ksa_budget_rule r = kg_rule(a);
    return ksa_rule_prefill_tile_count(&r, lq, lk, t);
}

/* 16-byte global -> shared copy; src_bytes 0 zero-fills. Asynchronous on sm_80+. */
static __device__ __forceinline__ void kg_copy16(void *smem, const void *gmem, int src_bytes)
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
static __device__ __forceinline__ void kg_copy_commit(void)
{
#if !defined(KSA_GPU_HIP_BRANCH) && !(defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800)
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N> static __device__ __forceinline__ void kg_copy_wait(void)
{
#if !defined(KSA_GPU_HIP_BRANCH) && !(defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800)
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

/* Copy one row of D elements (16-bit storage) from global to shared: 16-byte pieces when the
 * call's pointers and strides allow (a.vec16), else element by element. `part` / `nparts` spread
 * the row over threads; src NULL zero-fills. */
template <int D>
static __device__ __forceinline__ void kg_row_piece(const ksa_gpu_args &a, uint16_t *dst, const uint16_t *src, int piece)
{
    if (a.vec16) {
        kg_copy16(dst + piece * 8, src ? (const void *)(src + piece * 8) : a.zero_src, src ? 16 : 0);
    } else {
        for (int e = 0; e < 8; e++) dst[piece * 8 + e] = src ? src[piece * 8 + e] : (uint16_t)0;
    }
}

/* decode's output row of query head hq of sequence b (its query at row qrow0) */
template <typename T> static __device__ __forceinline__ T *kg_decode_orow(const ksa_gpu_args &a, int b, int qrow0, int hq)
{
    return (T *)a.o + (int64_t)b * a.o_s.batch + (int64_t)qrow0 * a.o_s.token + (int64_t)hq * a.o_s.head;
}
/* the log2-domain lse of merged splits: maximum mt, sum lt of l * exp2(m - mt) (-inf without keys) */
static __device__ __forceinline__ float kg_lse2_of(float mt, float lt) { return lt != 0.f ? mt + ksa_log2(lt) : KG_NEG_INF; }
/* decode's log-sum-exp of query head hq from its merged state in the log2 domain (raw maximum mt,
 * sum lt of exp2(score - mt)): natural log to the caller's lse, log2 to lse2_out (the anchor's
 * pooling reads it) when given; -inf for a head that saw no key */
static __device__ __forceinline__ void kg_decode_store_lse(const ksa_gpu_args &a, int b, int qrow0, int hq, float mt, float lt,
                                                           float *lse2_out)
{
    const float lse2 = kg_lse2_of(mt, lt);
    if (a.lse) a.lse[(int64_t)b * a.lse_sb + (int64_t)hq * a.lse_sh + (int64_t)qrow0 * a.lse_si] = lse2 * KG_LN2;
    if (lse2_out) lse2_out[(int64_t)b * a.hq + hq] = lse2;
}

/* Programmatic dependent launch (CUDA, compute capability 9.0; ksa_gpu_args.pdl). A kernel launched
 * with it (kg_launch) may become resident while the kernel before it in the stream still runs, so
 * that its launch latency hides under the other's tail. kg_grid_wait() blocks until the earlier
 * kernel has finished and its writes are visible: every such kernel calls it in every CTA before it
 * touches global memory (a CTA that skipped it could let a later kernel overtake the earlier one).
 * kg_grid_release() lets the next kernel be scheduled once every CTA of this one has called it (or
 * exited); it only moves scheduling, never visibility. Both are no-ops without the launch attribute,
 * on sm_80 and on AMD. */
static __device__ __forceinline__ void kg_grid_wait(void)
{
#if !defined(KSA_GPU_HIP_BRANCH) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
static __device__ __forceinline__ void kg_grid_release(void)
{
#if !defined(KSA_GPU_HIP_BRANCH) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
/* launch kernel k, with programmatic dependent launch when pdl and, when cluster_x > 1, as thread-block
 * clusters of cluster_x CTAs along x (CUDA only; AMD launches plainly and takes neither) */
template <typename... P, typename... A>
static inline cudaError_t kg_launch_ex(int pdl, unsigned cluster_x, void (*k)(P...), dim3 grid, dim3 block, size_t smem,
                                       ksa_gpu_stream_t st, A... args)
{
#if !defined(KSA_GPU_HIP_BRANCH)
    if (pdl || cluster_x > 1) {
        cudaLaunchAttribute at[2];
        unsigned n = 0;
        if (pdl) {
            at[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
            at[n++].val.programmaticStreamSerializationAllowed = 1;
        }
        if (cluster_x > 1) {
            at[n].id = cudaLaunchAttributeClusterDimension;
            at[n].val.clusterDim.x = cluster_x;
            at[n].val.clusterDim.y = 1;
            at[n++].val.clusterDim.z = 1;
        }
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = grid;
        cfg.blockDim = block;
        cfg.dynamicSmemBytes = smem;
        cfg.stream = st;
        cfg.attrs = at;
        cfg.numAttrs = n;
        return cudaLaunchKernelEx(&cfg, k, args...);
    }
#else
    (void)pdl;
    (void)cluster_x;
#endif
    k<<<grid, block, smem, st>>>(args...);
    return cudaGetLastError();
}
template <typename... P, typename... A>
static inline cudaError_t kg_launch(int pdl, void (*k)(P...), dim3 grid, dim3 block, size_t smem, ksa_gpu_stream_t st, A... args)
{
    return kg_launch_ex(pdl, 1u, k, grid, block, smem, st, args...);
}

/* Allow a kernel the device's whole opt-in shared memory, once per device (a host call kept out
 * of the per-call path, so captured calls issue no attribute changes after the first run). AMD has
 * no opt-in: a block may use the whole LDS (64 KiB) as it is. */
template <typename F> static inline cudaError_t kg_allow_smem(F *fn, unsigned *done_mask)
{
#if defined(KSA_GPU_HIP_BRANCH)
    (void)fn;
    (void)done_mask;
    return cudaSuccess;
#else
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
#endif
}

/* the key list of one (sequence, KV head) in split-KV decode: all keys (dense), or an index set
 * followed by the last `window` keys (sparse); entry n's key, -1 for an index inside the window
 * (attended through the window part) */
struct kg_dec_list {
    const int *idx;
    int64_t is3;
    int cnt, lk, wstart, sparse;
};
/* where the index set's count of KV head g of sequence b lies (sparse lists); kg_dec_list_make reads
 * it itself, a kernel may read it first (kg_dec_list_make_cnt) so that the read does not wait on the
 * length */
static __device__ __forceinline__ const int *kg_dec_count_at(const ksa_gpu_args &a, int b, int g)
{
    return a.counts + (int64_t)b * a.cs0 + (int64_t)a.head_map[g] * a.cs1;
}
/* the key list of sequence b and KV head g (its index set through the head map when sparse, cnt
 * entries, plus the last min(window, lk) keys); returns the list's length */
static __device__ __forceinline__ int kg_dec_list_make_cnt(const ksa_gpu_args &a, int b, int g, int lk, int sparse, int window,
                                                           int cnt, kg_dec_list &L)
{
    L.sparse = sparse;
    L.lk = lk;
    L.idx = NULL;
    L.is3 = a.is3;
    L.cnt = 0;
    int wlen = 0;
    if (sparse) {
        L.idx = a.indices + (int64_t)b * a.is0 + (int64_t)a.head_map[g] * a.is1;
        L.cnt = cnt;
        wlen = window < lk ? window : lk;
    }
    L.wstart = lk - wlen;
    return sparse ? L.cnt + wlen : lk;
}
static __device__ __forceinline__ int kg_dec_list_make(const ksa_gpu_args &a, int b, int g, int lk, int sparse, int window,
                                                       kg_dec_list &L)
{
    return kg_dec_list_make_cnt(a, b, g, lk, sparse, window, sparse ? *kg_dec_count_at(a, b, g) : 0, L);
}
static __device__ __forceinline__ int kg_dec_key(const kg_dec_list &L, int n)
{
    if (!L.sparse) return n;
    if (n < L.cnt) {
        int j = L.idx[(int64_t)n * L.is3];
        return j < L.wstart ? j : -1; /* keys inside the window are attended through the window part */
    }
    return L.wstart + (n - L.cnt);
}

#endif /* KSA_GPU_COMMON_CUH */
