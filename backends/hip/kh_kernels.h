/* kh_kernels.h: the HIP backend's own kernels (the prefill-style passes; decode and Top-k are the GPU
 * layer's shared kernels of backends/gpu/decode_topk.cu), templated on the storage type and on a
 * head-dim bound, written only against ksa_gpu_vendor.h so the same source builds for AMD (wave64
 * on CDNA, wave32 on RDNA: nothing here assumes either) and, through HIP's NVIDIA platform, for CUDA.
 * They read the GPU layer's argument block; per-sequence lengths come from the workspace metadata.
 *  - kh_attend: one block per (query row, head, sequence); the waves of the block split the row's key
 *    list (dense: keys 0..pos; sparse: the index set through the head map plus the tile's own keys,
 *    or the decode window), each lane owns head-dim elements lane, lane + W, ...; a wave reduces each
 *    score with shuffles and keeps an online softmax; the waves merge through LDS. Writes o, the
 *    caller's lse and/or the internal lse the anchor pooling needs.
 *  - kh_pool_topk: one block per (sequence, KV head, tile): pooled post-softmax scores of every
 *    candidate over the tile's queries and the group's heads (query rows staged in LDS), then an
 *    exact Top-k by 4-pass radix select on the float bits and an ordered compaction (ties: smaller
 *    key first, like the reference), indices written ascending, free slots -1, counts written.
 *    The Top-k, the wave reductions and the budget rules are the GPU layer's (backends/gpu/:
 *    ksa_gpu_topk.cuh, ksa_gpu_reduce.cuh, the budget wrappers of ksa_gpu_common.cuh), as are the
 *    K/V row addressing and the metadata accessors (ksa_gpu_common.cuh).
 * Each kh_<dtype>.hip instantiates the launchers for one storage type (KH_DEFINE_LAUNCHERS). */
#ifndef KSA_KH_KERNELS_H
#define KSA_KH_KERNELS_H

#include <math.h>
#include <stdint.h>

#include <hip/hip_runtime.h> /* hipStream_t and hipGetLastError on both HIP platforms */

#include "ksa_gpu_common.cuh"
#include "ksa_hip.h"

#ifndef KSA_WARP_SIZE_MIN
#define KSA_WARP_SIZE_MIN KSA_WARP_SIZE
#endif
#define KH_WAVES_MAX (KH_THREADS / KSA_WARP_SIZE_MIN)
#define KH_POOL_LDS_FLOATS 8192 /* 32 KiB of staged query rows in the pooling pass */

template <typename T> static __device__ __forceinline__ float kh_ld(const T *p, int64_t i) { return ksa_to_float(p[i]); }
template <typename T> static __device__ __forceinline__ void kh_st(T *p, int64_t i, float x) { p[i] = ksa_from_float<T>(x); }

/* ------------------------------------------------------------------ attention rows */
template <typename T, int MAXD>
__global__ void __launch_bounds__(KH_THREADS) kh_attend(const ksa_gpu_args a)
{
    constexpr int W = KSA_WARP_SIZE;
    constexpr int PL = MAXD / W; /* head-dim elements per lane */
    constexpr int NW = KH_THREADS / W;
    __shared__ float s_m[KH_WAVES_MAX], s_l[KH_WAVES_MAX];
    __shared__ float s_acc[KH_WAVES_MAX][MAXD];

    const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int lq = kg_lq(a, b), lk = kg_lk(a, b);
    if (i >= lq) return; /* uniform over the block */
    const int g = h / a.group, D = a.head_dim;
    const int lane = threadIdx.x % W, wave = threadIdx.x / W;
    const int pos = lk - lq + i;

    /* the key list: nlist entries of an index set (entries outside [0, limit) are skipped), then
     * the contiguous keys r0..r1 */
    const int32_t *list = nullptr;
    int64_t list_stride = 0;
    int nlist = 0, limit = 0, r0 = 0, r1 = pos;
    if (a.sparse) {
        const int t = a.decode ? 0 : i / a.tile_size;
        const int start = a.decode ? lk : lk - lq + t * a.tile_size;
        const int src = a.head_map[g];
        int c = a.counts[(int64_t)b * a.cs0 + (int64_t)src * a.cs1 + (int64_t)t * a.cs2];
        nlist = c < 0 ? 0 : (c > a.k_slots ? a.k_slots : c);
        list = a.indices + (int64_t)b * a.is0 + (int64_t)src * a.is1 + (int64_t)t * a.is2;
        list_stride = a.is3;
        if (a.decode) {
            limit = a.window > 0 ? (lk - a.window > 0 ? lk - a.window : 0) : lk;
            r0 = limit;
            r1 = lk - 1;
        } else {
            limit = start;
            r0 = start;
        }
    }
    const int total = nlist + (r1 >= r0 ? r1 - r0 + 1 : 0);

    const T *q = (const T *)a.q, *k = (const T *)a.k, *v = (const T *)a.v;
    const int64_t qoff = (int64_t)b * a.q_s.batch + (int64_t)(kg_qrow0(a, b) + i) * a.q_s.token + (int64_t)h * a.q_s.head;
    float qv[PL], acc[PL];
#pragma unroll
    for (int e = 0; e < PL; e++) {
        const int d = lane + e * W;
        qv[e] = d < D ? kh_ld(q, qoff + d) * a.scale : 0.0f;
        acc[e] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int x = wave; x < total; x += NW) {
        int j;
        if (x < nlist) {
            j = list[(int64_t)x * list_stride];
            if (j < 0 || j >= limit) continue; /* same j on every lane: uniform */
        } else {
            j = r0 + (x - nlist);
        }
        const int64_t ko = kg_kv_offset(a, 0, b, j, g), vo = kg_kv_offset(a, 1, b, j, g);
        float s = 0.0f;
#pragma unroll
        for (int e = 0; e < PL; e++) {
            const int d = lane + e * W;
            if (d < D) s += qv[e] * kh_ld(k, ko + d);
        }
        s = ksa_wave_sum(s);
        const float mn = fmaxf(m, s);
        const float corr = expf(m - mn), p = expf(s - mn);
        l = l * corr + p;
#pragma unroll
        for (int e = 0; e < PL; e++) {
            const int d = lane + e * W;
            acc[e] = acc[e] * corr + (d < D ? p * kh_ld(v, vo + d) : 0.0f);
        }
        m = mn;
    }
    if (lane == 0) {
        s_m[wave] = m;
        s_l[wave] = l;
    }
#pragma unroll
    for (int e = 0; e < PL; e++) s_acc[wave][lane + e * W] = acc[e];
    __syncthreads();

    float M = -INFINITY, L = 0.0f;
    for (int w = 0; w < NW; w++) M = fmaxf(M, s_m[w]);
    /* a wave that saw no key has l = 0 and adds nothing; a wave whose scores were NaN has m = -inf
     * but l = NaN, and must make the row NaN (docs/SEMANTICS.md), so the test is on l, not on m */
    for (int w = 0; w < NW; w++)
        if (s_l[w] != 0.0f) L += s_l[w] * expf(s_m[w] - M);
    if (a.o) {
        T *o = (T *)a.o;
        const int64_t ooff = (int64_t)b * a.o_s.batch + (int64_t)(kg_qrow0(a, b) + i) * a.o_s.token + (int64_t)h * a.o_s.head;
        for (int d = threadIdx.x; d < D; d += KH_THREADS) {
            float r = 0.0f;
            for (int w = 0; w < NW; w++)
                if (s_l[w] != 0.0f) r += s_acc[w][d] * expf(s_m[w] - M);
            kh_st(o, ooff + d, L != 0.0f ? r / L : 0.0f);
        }
    }
    if (threadIdx.x == 0) {
        const float lse = L != 0.0f ? M + logf(L) : -INFINITY;
        if (a.lse) a.lse[(int64_t)b * a.lse_sb + (int64_t)h * a.lse_sh + (int64_t)(kg_qrow0(a, b) + i) * a.lse_si] = lse;
        if (a.lse_ws) kg_lse_ws_at(a, b, h, i) = lse;
    }
}

/* ------------------------------------------------------------------ pooled scores + Top-k */
template <typename T, int MAXD>
__global__ void __launch_bounds__(KH_THREADS) kh_pool_topk(const ksa_gpu_args a, int tile0, int ntiles, float *pooled,
                                                            int64_t ld)
{
    constexpr int QCH = KH_POOL_LDS_FLOATS / MAXD; /* query rows staged per round, a multiple of 8 */
    __shared__ float s_q[QCH][MAXD];
    __shared__ float s_lse[QCH];
    __shared__ unsigned s_hist[256];
    __shared__ unsigned s_prefix;
    __shared__ int s_remain;
    __shared__ int s_waves[KH_WAVES_MAX];

    const int tid = threadIdx.x;
    const int t = tile0 + blockIdx.x, g = blockIdx.y, b = blockIdx.z;
    const int lq = kg_lq(a, b), lk = kg_lk(a, b), D = a.head_dim;
    float *S = pooled + ((int64_t)(b * a.hkv + g) * ntiles + blockIdx.x) * ld;
    int i0 = 0, i1 = 1, start = 0, count = 0;
    if (a.decode) {
        start = lk;
        count = (int)kg_budget(a, lk);
    } else if (t < (lq + a.tile_size - 1) / a.tile_size) {
        i0 = t * a.tile_size;
        i1 = i0 + a.tile_size < lq ? i0 + a.tile_size : lq;
        start = lk - lq + i0;
        count = (int)kg_tile_count(a, lq, lk, t);
    }
    int32_t *idx = a.indices + (int64_t)b * a.is0 + (int64_t)g * a.is1 + (int64_t)t * a.is2;
    if (tid == 0) a.counts[(int64_t)b * a.cs0 + (int64_t)g * a.cs1 + (int64_t)t * a.cs2] = count;

    if (count > 0 && count >= start) { /* every candidate is taken */
        for (int x = tid; x < count; x += KH_THREADS) idx[(int64_t)x * a.is3] = x;
    } else if (count > 0) {
        const T *q = (const T *)a.q, *k = (const T *)a.k;
        const int nq = i1 - i0, nrows = a.group * nq;
        /* 1. S[j] = sum over (head, query) rows of exp(scale q.k_j - lse), rows staged in LDS */
        for (int c0 = 0; c0 < nrows; c0 += QCH) {
            const int nc = nrows - c0 < QCH ? nrows - c0 : QCH;
            __syncthreads();
            for (int x = tid; x < nc * D; x += KH_THREADS) {
                const int rr = c0 + x / D, d = x % D;
                const int h = g * a.group + rr / nq, i = i0 + rr % nq;
                const int64_t qo = (int64_t)b * a.q_s.batch + (int64_t)(kg_qrow0(a, b) + i) * a.q_s.token + (int64_t)h * a.q_s.head;
                s_q[x / D][d] = kh_ld(q, qo + d) * a.scale;
            }
            for (int x = tid; x < nc; x += KH_THREADS) {
                const int rr = c0 + x, h = g * a.group + rr / nq, i = i0 + rr % nq;
                s_lse[x] = kg_lse_ws_at(a, b, h, i);
            }
            __syncthreads();
            for (int j = tid; j < start; j += KH_THREADS) {
                const int64_t ko = kg_kv_offset(a, 0, b, j, g);
                float sum = c0 == 0 ? 0.0f : S[j];
                for (int rb = 0; rb < nc; rb += 8) {
                    float dot[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                    for (int d = 0; d < D; d++) {
                        const float kd = kh_ld(k, ko + d);
#pragma unroll
                        for (int u = 0; u < 8; u++) dot[u] += s_q[rb + u][d] * kd;
                    }
#pragma unroll
                    for (int u = 0; u < 8; u++)
                        if (rb + u < nc) sum += expf(dot[u] - s_lse[rb + u]);
                }
                S[j] = sum; /* each j stays with one thread through every phase */
            }
        }
        /* 2-3. exact radix select of the count-th largest score (scores are >= 0: float bits order
         * like uints) and ordered compaction, ties to the smaller key; shared with the CUDA backend
         * (backends/gpu/ksa_gpu_topk.cuh). Each j is read by the thread that wrote S[j]. */
        unsigned threshold;
        int remain;
        ksa_radix_select(S, start, count, s_hist, &s_prefix, &s_remain, &threshold, &remain, 0);
        ksa_topk_compact(S, start, count, threshold, remain, idx, a.is3, s_waves);
    }
    for (int x = count + tid; x < a.k_slots; x += KH_THREADS) idx[(int64_t)x * a.is3] = -1;
}

/* ------------------------------------------------------------------ launchers */
template <typename T, int MAXD> static int kh_attend_at(const ksa_gpu_args *a, hipStream_t st)
{
    kh_attend<T, MAXD><<<dim3((unsigned)a->max_lq, (unsigned)a->hq, (unsigned)a->batch), dim3(KH_THREADS), 0, st>>>(*a);
    return (int)hipGetLastError();
}
template <typename T, int MAXD>
static int kh_pool_topk_at(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles)
{
    float *pooled = (float *)ksa_gpu_ws(c, KSA_GPU_WS_POOLED);
    kh_pool_topk<T, MAXD><<<dim3((unsigned)ntiles, (unsigned)a->hkv, (unsigned)a->batch), dim3(KH_THREADS), 0,
                            (hipStream_t)c->stream>>>(*a, tile0, ntiles, pooled, c->plan->lk_ld);
    return (int)hipGetLastError();
}
template <typename T> static int kh_attend_any(const ksa_gpu_args *a, const ksa_gpu_call *c)
{
    hipStream_t st = (hipStream_t)c->stream;
    switch (kh_max_head_dim(a->head_dim)) {
    case 64: return kh_attend_at<T, 64>(a, st);
    case 128: return kh_attend_at<T, 128>(a, st);
    case 256: return kh_attend_at<T, 256>(a, st);
    case 512: return kh_attend_at<T, 512>(a, st);
    default: return (int)hipErrorInvalidValue;
    }
}
template <typename T> static int kh_pool_topk_any(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles)
{
    switch (kh_max_head_dim(a->head_dim)) {
    case 64: return kh_pool_topk_at<T, 64>(a, c, tile0, ntiles);
    case 128: return kh_pool_topk_at<T, 128>(a, c, tile0, ntiles);
    case 256: return kh_pool_topk_at<T, 256>(a, c, tile0, ntiles);
    case 512: return kh_pool_topk_at<T, 512>(a, c, tile0, ntiles);
    default: return (int)hipErrorInvalidValue;
    }
}

#define KH_DEFINE_LAUNCHERS(SUFFIX, TYPE)                                                                        \
    extern "C" int kh_launch_attend_##SUFFIX(const ksa_gpu_args *a, const ksa_gpu_call *c)                      \
    {                                                                                                            \
        return kh_attend_any<TYPE>(a, c);                                                                        \
    }                                                                                                            \
    extern "C" int kh_launch_pool_topk_##SUFFIX(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0,        \
                                                int ntiles)                                                      \
    {                                                                                                            \
        return kh_pool_topk_any<TYPE>(a, c, tile0, ntiles);                                                      \
    }

#endif /* KSA_KH_KERNELS_H */
