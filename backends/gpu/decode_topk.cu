/* decode_topk.cu: the shared kernels of the GPU layer, compiled by nvcc for the CUDA plugin and by
 * hipcc for the HIP plugin through ksa_gpu_vendor.h (no warp-size-32 assumption outside the
 * NVIDIA-only kg_topk_stream), and their launchers (the shared entries of a ksa_gpu_kernels table,
 * ksa_gpu_launch.h):
 *  - kg_decode_split: split-KV decode for the G heads of one KV head over a key list (all keys, or
 *    an index set plus an optional local window), K/V chunks of 64 keys (32 on AMD) double-buffered
 *    in shared memory with 16-byte copies (asynchronous on sm_80+); writes (acc, m, l) partials and,
 *    for anchor decode, the scores;
 *  - kg_decode_combine: merges the partials into o and lse;
 *  - kg_decode_pool: pooled probabilities per KV head for anchor decode;
 *  - kg_topk: radix select (4 passes of 8 bits over the float bits of the non-negative pooled
 *    scores) of the count largest candidates, written in ascending key order, ties to the smaller
 *    index, unused slots -1; lists that fit in shared memory are read from global memory once, and
 *    long ones with a small selection first narrowed by a sampled pivot (kg_topk<true>);
 *  - kg_topk_stream (NVIDIA): the same selection for long lists with a small selection (prefill,
 *    and split decode's lists pooled as they stream by), the list streamed and only the pivot's
 *    candidates kept in shared memory. */
#include <stdio.h>

#include "ksa_gpu_common.cuh"

#define KG_DEC_THREADS 256
/* keys per shared-memory chunk of the decode kernel. AMD's LDS is 64 KiB per block: with 64 keys,
 * head_dim 128, 4 heads per group and two stages the kernel needs 75 KB, so the HIP branch streams
 * chunks of 32 keys (about 39 KB); NVIDIA keeps 64 (its numerics and launches are unchanged). */
#if defined(KSA_GPU_HIP_BRANCH)
#define KG_DEC_KC 32
#else
#define KG_DEC_KC 64
#endif
#define KG_TOPK_THREADS 1024
#define KG_TOPK_BATCH 8 /* keys per thread whose loads kg_topk issues together */

/* ------------------------------------------------------------------ decode */
template <typename T> static __device__ __forceinline__ float kg_u16_to_float(uint16_t x);
template <> __device__ __forceinline__ float kg_u16_to_float<ksa_f16>(uint16_t x)
{
    return __half2float(__ushort_as_half(x));
}
template <> __device__ __forceinline__ float kg_u16_to_float<ksa_bf16>(uint16_t x)
{
    return __uint_as_float(((uint32_t)x) << 16);
}

/* grid: x = split, y = KV head, z = sequence */
template <int D, typename T>
__global__ void __launch_bounds__(KG_DEC_THREADS) kg_decode_split(const __grid_constant__ ksa_gpu_args a, int sparse, int window,
                                                                  int splits, float *partials, float *scores2,
                                                                  int64_t scores_ld)
{
    constexpr int LD = D + 8, P = D / 8;
    extern __shared__ __align__(16) unsigned char kg_dsmem[];
    const int G = a.group;
    const int nst = a.dec_stages == 2 ? 2 : 1;
    uint16_t *sK = (uint16_t *)kg_dsmem;            /* [stages][KC][LD] */
    uint16_t *sV = sK + nst * KG_DEC_KC * LD;       /* [stages][KC][LD] */
    float *sQ = (float *)(sV + nst * KG_DEC_KC * LD); /* [G][D] */
    float *sAcc = sQ + G * D;                  /* [G][D] */
    float *sS = sAcc + G * D;                  /* [G][KC] */
    float *sM = sS + G * KG_DEC_KC;
    float *sL = sM + G;
    float *sAl = sL + G;
    int *sKey = (int *)(sAl + G);

    const int b = blockIdx.z, g = blockIdx.y, split = blockIdx.x, tid = threadIdx.x;
    const int lk = kg_lk(a, b), qrow0 = kg_qrow0(a, b);
    kg_dec_list L;
    const int nlist = kg_dec_list_make(a, b, g, lk, sparse, window, L);
    const int per = (nlist + splits - 1) / splits;
    const int n_begin = split * per, n_end = min(n_begin + per, nlist);

    const T *q = (const T *)a.q;
    for (int e = tid; e < G * D; e += KG_DEC_THREADS) {
        int h = g * G + e / D, d = e % D;
        sQ[e] = ksa_to_float(q[(int64_t)b * a.q_s.batch + (int64_t)qrow0 * a.q_s.token + (int64_t)h * a.q_s.head + d]) *
                a.scale_log2;
        sAcc[e] = 0.f;
    }
    for (int h = tid; h < G; h += KG_DEC_THREADS) {
        sM[h] = KG_NEG_INF;
        sL[h] = 0.f;
    }
    const uint16_t *kp = (const uint16_t *)a.k, *vp = (const uint16_t *)a.v;
    const int lane8 = tid % 8, grp = tid / 8; /* 8 lanes per key in the score phase */
    const int warp = tid / KSA_WARP_SIZE, lane = tid % KSA_WARP_SIZE, nwarps = KG_DEC_THREADS / KSA_WARP_SIZE;

    /* stage keys [c0, c0 + KG_DEC_KC) of the list (and their V rows) into buffer `buf`. The argument
     * block is a parameter, not a capture: a closure holding its address makes hipcc (clang 15) copy
     * the whole block to scratch memory (1448 bytes per lane); nvcc's code is the same either way. */
    auto load_chunk = [&](const ksa_gpu_args &ka, int c0, int buf) {
        for (int c = tid; c < KG_DEC_KC * P; c += KG_DEC_THREADS) {
            int row = c / P, piece = c % P;
            int n = c0 + row;
            int j = n < n_end ? kg_dec_key(L, n) : -1;
            if (piece == 0) sKey[buf * KG_DEC_KC + row] = j;
            const uint16_t *ks = NULL, *vs = NULL;
            if (j >= 0) {
                ks = kp + kg_kv_offset(ka, 0, b, j, g);
                vs = vp + kg_kv_offset(ka, 1, b, j, g);
            }
            kg_row_piece<D>(ka, sK + (buf * KG_DEC_KC + row) * LD, ks, piece);
            kg_row_piece<D>(ka, sV + (buf * KG_DEC_KC + row) * LD, vs, piece);
        }
    };
    const int two = a.dec_stages == 2;
    if (two && n_begin < n_end) load_chunk(a, n_begin, 0);
    kg_copy_commit();
    int it = 0;
    for (int c0 = n_begin; c0 < n_end; c0 += KG_DEC_KC, it++) {
        const int buf = two ? (it & 1) : 0;
        if (!two) {
            load_chunk(a, c0, 0);
            kg_copy_commit();
            kg_copy_wait<0>();
        } else if (c0 + KG_DEC_KC < n_end) {
            load_chunk(a, c0 + KG_DEC_KC, buf ^ 1); /* the next chunk streams in while this one is used */
            kg_copy_commit();
            kg_copy_wait<1>();
        } else {
            kg_copy_wait<0>();
        }
        __syncthreads();
        const uint16_t *cK = sK + buf * KG_DEC_KC * LD, *cV = sV + buf * KG_DEC_KC * LD;
        const int *cKey = sKey + buf * KG_DEC_KC;
        /* scores: 8 lanes per key, each lane D/8 elements in 16-byte pieces */
        for (int n = grp; n < KG_DEC_KC; n += KG_DEC_THREADS / 8) {
            float kf[D / 8];
#pragma unroll
            for (int c = 0; c < D / 64; c++) {
                uint4 raw = *(const uint4 *)(cK + n * LD + c * 64 + lane8 * 8);
                const uint16_t *r16 = (const uint16_t *)&raw;
#pragma unroll
                for (int e = 0; e < 8; e++) kf[c * 8 + e] = kg_u16_to_float<T>(r16[e]);
            }
            int j = cKey[n];
            for (int h = 0; h < G; h++) {
                float dot = 0.f;
#pragma unroll
                for (int c = 0; c < D / 64; c++)
#pragma unroll
                    for (int e = 0; e < 8; e++) dot += kf[c * 8 + e] * sQ[h * D + c * 64 + lane8 * 8 + e];
                dot += ksa_shfl_xor(dot, 1);
                dot += ksa_shfl_xor(dot, 2);
                dot += ksa_shfl_xor(dot, 4);
                if (lane8 == 0) {
                    sS[h * KG_DEC_KC + n] = j >= 0 ? dot : KG_NEG_INF;
                    if (scores2 && j >= 0) scores2[((int64_t)b * a.hq + g * G + h) * scores_ld + j] = dot;
                }
            }
        }
        __syncthreads();
        /* online softmax per head: one warp per head */
        for (int h = warp; h < G; h += nwarps) {
            float mx = KG_NEG_INF;
            for (int n = lane; n < KG_DEC_KC; n += KSA_WARP_SIZE) mx = fmaxf(mx, sS[h * KG_DEC_KC + n]);
            mx = ksa_wave_max(mx);
            float mo = sM[h], mn = fmaxf(mo, mx);
            ksa_warp_sync(); /* every lane has read sM[h] before lane 0 rewrites it */
            float base = mn == KG_NEG_INF ? 0.f : mn;
            float sum = 0.f;
            for (int n = lane; n < KG_DEC_KC; n += KSA_WARP_SIZE) {
                float p = ksa_exp2(sS[h * KG_DEC_KC + n] - base);
                sS[h * KG_DEC_KC + n] = p;
                sum += p;
            }
            sum = ksa_wave_sum(sum);
            if (lane == 0) {
                float al = ksa_exp2(mo - base);
                sAl[h] = al;
                sL[h] = sL[h] * al + sum;
                sM[h] = mn;
            }
        }
        __syncthreads();
        /* acc = acc * alpha + P V: each thread owns pairs of (head, 2 dims) */
        for (int e = tid; e < G * D / 2; e += KG_DEC_THREADS) {
            int h = e / (D / 2), d = (e % (D / 2)) * 2;
            float x = 0.f, y = 0.f;
            const float *ph = sS + h * KG_DEC_KC;
#pragma unroll 8
            for (int n = 0; n < KG_DEC_KC; n++) {
                uint32_t vv = *(const uint32_t *)(cV + n * LD + d);
                float p = ph[n];
                x += p * kg_u16_to_float<T>((uint16_t)(vv & 0xffffu));
                y += p * kg_u16_to_float<T>((uint16_t)(vv >> 16));
            }
            float al = sAl[h];
            sAcc[h * D + d] = sAcc[h * D + d] * al + x;
            sAcc[h * D + d + 1] = sAcc[h * D + d + 1] * al + y;
        }
        __syncthreads(); /* buffer `buf` is refilled by the next iteration's prefetch */
    }
    __syncthreads();
    for (int e = tid; e < G * (D + 2); e += KG_DEC_THREADS) {
        int h = e / (D + 2), d = e % (D + 2);
        float v = d < D ? sAcc[h * D + d] : (d == D ? sM[h] : sL[h]);
        partials[(((int64_t)b * a.hq + g * G + h) * splits + split) * (D + 2) + d] = v;
    }
}

extern "C" size_t ksa_gpu_decode_smem(int head_dim, int group, int stages)
{
    size_t s = (size_t)2 * stages * KG_DEC_KC * (head_dim + 8) * 2 + (size_t)4 * group * head_dim * 2 +
               (size_t)4 * group * KG_DEC_KC + (size_t)12 * group + 4 * 2 * KG_DEC_KC;
    return s;
}

template <int D, typename T>
static int kg_decode_launch_t(const ksa_gpu_args *a, int sparse, int window, int splits, float *partials, float *scores2,
                              int64_t ld, ksa_gpu_stream_t st)
{
    size_t smem = ksa_gpu_decode_smem(D, a->group, a->dec_stages == 2 ? 2 : 1);
    static unsigned kg_smem_done; /* devices this kernel was configured on */
    cudaError_t e = kg_allow_smem(kg_decode_split<D, T>, &kg_smem_done);
    if (e != cudaSuccess) return (int)e;
    dim3 grid((unsigned)splits, (unsigned)a->hkv, (unsigned)a->batch);
    kg_decode_split<D, T><<<grid, KG_DEC_THREADS, smem, st>>>(*a, sparse, window, splits, partials, scores2, ld);
    return (int)cudaGetLastError();
}

template <int D, typename T> static int kg_decode_occ_t(int group, int stages)
{
    int n = 0;
    size_t smem = ksa_gpu_decode_smem(D, group, stages);
    static unsigned kg_smem_done; /* devices this kernel was configured on */
    if (kg_allow_smem(kg_decode_split<D, T>, &kg_smem_done) != cudaSuccess)
        return 1;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kg_decode_split<D, T>, KG_DEC_THREADS, smem) != cudaSuccess) return 1;
    return n > 0 ? n : 1;
}

extern "C" int ksa_gpu_decode_supports(int dtype, int head_dim)
{
    return (dtype == KSA_GPU_DT_F16 || dtype == KSA_GPU_DT_BF16) && (head_dim == 64 || head_dim == 128 || head_dim == 256);
}

extern "C" int ksa_gpu_decode_blocks_per_sm(int head_dim, int dtype, int group, int stages)
{
    if (dtype == KSA_GPU_DT_F16) {
        if (head_dim == 64) return kg_decode_occ_t<64, ksa_f16>(group, stages);
        if (head_dim == 128) return kg_decode_occ_t<128, ksa_f16>(group, stages);
        return kg_decode_occ_t<256, ksa_f16>(group, stages);
    }
    if (head_dim == 64) return kg_decode_occ_t<64, ksa_bf16>(group, stages);
    if (head_dim == 128) return kg_decode_occ_t<128, ksa_bf16>(group, stages);
    return kg_decode_occ_t<256, ksa_bf16>(group, stages);
}

extern "C" int ksa_gpu_launch_decode(const ksa_gpu_args *a, const ksa_gpu_call *c, int sparse, int window, int with_scores)
{
    ksa_gpu_stream_t st = (ksa_gpu_stream_t)c->stream;
    const int splits = c->plan->splits;
    const int64_t scores_ld = c->plan->lk_ld;
    float *partials = (float *)ksa_gpu_ws(c, KSA_GPU_WS_PARTIALS);
    float *scores2 = with_scores ? (float *)ksa_gpu_ws(c, KSA_GPU_WS_SCORES) : NULL;
    if (c->kernel)
        snprintf(c->kernel, (size_t)c->kernel_len, "decode_split%d_%s_d%d_st%d", splits, sparse ? "sparse" : "dense",
                 a->head_dim, a->dec_stages);
    KG_DISPATCH(a, kg_decode_launch_t, a, sparse, window, splits, partials, scores2, scores_ld, st);
}

/* grid: x = query head, y = sequence; threads over head_dim (at least one warp). Every split's (m, l)
 * is read once, by one thread each, into shared memory, and its weight exp2(m - max) computed once;
 * then each thread sums its dimensions over the splits with the loads of several splits in flight.
 * (It used to run three serial loops over the splits in every thread, each load waiting for the one
 * before: 14 us for 33 splits at B1, longer than the split pass itself, measured on the H200 in the
 * eighteenth session.) The sums run in split order, as before, so o and lse keep their bits. */
#define KG_COMBINE_MAX_SPLITS 64 /* ksa_gpu_max_splits' bound */
template <typename T>
__global__ void kg_decode_combine(const __grid_constant__ ksa_gpu_args a, int splits, const float *partials, float *lse2_out)
{
    kg_grid_wait(); /* the split pass's partials (no early release: a next call's CTAs resident early would
                     * take the SMs' places unevenly) */
    __shared__ float s_m[KG_COMBINE_MAX_SPLITS], s_l[KG_COMBINE_MAX_SPLITS], s_w[KG_COMBINE_MAX_SPLITS];
    __shared__ float s_mt, s_lt;
    const int h = blockIdx.x, b = blockIdx.y, D = a.head_dim, tid = threadIdx.x, nt = blockDim.x;
    const int ns = splits < KG_COMBINE_MAX_SPLITS ? splits : KG_COMBINE_MAX_SPLITS; /* the launcher refuses more */
    const float *pp = partials + ((int64_t)b * a.hq + h) * splits * (D + 2);
    for (int s = tid; s < ns; s += nt) {
        s_m[s] = pp[s * (D + 2) + D];
        s_l[s] = pp[s * (D + 2) + D + 1];
    }
    __syncthreads();
    if (tid == 0) {
        float mt = KG_NEG_INF;
        for (int s = 0; s < ns; s++) mt = fmaxf(mt, s_m[s]);
        s_mt = mt;
    }
    __syncthreads();
    const float mt = s_mt, base = mt == KG_NEG_INF ? 0.f : mt;
    for (int s = tid; s < ns; s += nt) s_w[s] = ksa_exp2(s_m[s] - base);
    __syncthreads();
    if (tid == 0) {
        float lt = 0.f;
        for (int s = 0; s < ns; s++) lt += s_l[s] * s_w[s];
        s_lt = lt;
    }
    __syncthreads();
    const float lt = s_lt;
    const int qrow0 = kg_qrow0(a, b);
    if (a.o) {
        float inv = lt != 0.f ? 1.f / lt : 0.f; /* NaN (a NaN row) stays NaN */
        T *op = kg_decode_orow<T>(a, b, qrow0, h);
        for (int d = tid; d < D; d += nt) {
            float x = 0.f;
#pragma unroll 8
            for (int s = 0; s < ns; s++) x += pp[s * (D + 2) + d] * s_w[s];
            op[d] = ksa_from_float<T>(x * inv);
        }
    }
    if (tid == 0) kg_decode_store_lse(a, b, qrow0, h, mt, lt, lse2_out);
}

extern "C" int ksa_gpu_launch_decode_combine(const ksa_gpu_args *a, const ksa_gpu_call *c, int with_lse2)
{
    dim3 grid((unsigned)a->hq, (unsigned)a->batch);
    int threads = a->head_dim < 256 ? a->head_dim : 256;
    threads = (threads + 31) / 32 * 32;
    const int splits = c->plan->splits;
    if (splits > KG_COMBINE_MAX_SPLITS) return (int)cudaErrorInvalidValue; /* never planned (ksa_gpu_max_splits) */
    const float *partials = (const float *)ksa_gpu_ws(c, KSA_GPU_WS_PARTIALS);
    float *lse2_out = with_lse2 ? (float *)ksa_gpu_ws(c, KSA_GPU_WS_LSE) : NULL;
    ksa_gpu_stream_t st = (ksa_gpu_stream_t)c->stream;
    if (a->dtype == KSA_GPU_DT_F16) return (int)kg_launch(a->pdl, kg_decode_combine<ksa_f16>, grid, dim3((unsigned)threads), 0, st, *a, splits, partials, lse2_out);
    return (int)kg_launch(a->pdl, kg_decode_combine<ksa_bf16>, grid, dim3((unsigned)threads), 0, st, *a, splits, partials, lse2_out);
}

/* the pooled probability of key j over a group's query heads: the sum of exp2(score - lse) (log2
 * domain; a head whose lse is -inf adds nothing). s2 is the group's first head's score row (the
 * heads' rows ld apart), l2 its lse (the heads' next to each other) */
static __device__ __forceinline__ float kg_pool_sum(const float *s2, int64_t ld, const float *l2, int group, int j)
{
    float s = 0.f;
    for (int hl = 0; hl < group; hl++) {
        const float l = l2[hl];
        if (l != KG_NEG_INF) s += ksa_exp2(s2[hl * ld + j] - l);
    }
    return s;
}
/* the same for sequence b and KV head g, from the split decode's score rows and lse */
static __device__ __forceinline__ float kg_pool_key(const ksa_gpu_args &a, const float *scores2, int64_t ld, const float *lse2, int b,
                                                    int g, int j)
{
    const int64_t h0 = (int64_t)b * a.hq + (int64_t)g * a.group;
    return kg_pool_sum(scores2 + h0 * ld, ld, lse2 + h0, a.group, j);
}

/* grid: x = chunk of keys, y = b * Hkv + g */
__global__ void kg_decode_pool(const __grid_constant__ ksa_gpu_args a, const float *scores2, int64_t ld, const float *lse2,
                               float *pooled)
{
    const int b = blockIdx.y / a.hkv, g = blockIdx.y % a.hkv;
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= kg_lk(a, b)) return;
    pooled[(int64_t)blockIdx.y * ld + j] = kg_pool_key(a, scores2, ld, lse2, b, g, j);
}

static int kg_topk_smem(const ksa_gpu_args *a, int64_t longest, int *cand_n);

/* Does the split decode's Top-k pool the scores itself (kg_topk with scores2), so that
 * kg_decode_pool is not launched? When the list fits the Top-k's shared memory and there are at
 * least as many (sequence, KV head) lists as SMs: the Top-k's CTAs (one per list) then fill the GPU,
 * and pooling as they load saves writing and reading back the pooled list (measured on the H200,
 * anchor decode B64 Lk32K: -3.5%). With fewer lists the separate pooling kernel, spread over every
 * SM, is faster (B1 Lk32K: 8 Top-k CTAs pooling 32K keys each took 10% longer). Not on AMD. */
static int kg_topk_pools(const ksa_gpu_args *a, const ksa_gpu_call *c)
{
#if defined(KSA_GPU_HIP_BRANCH)
    (void)a;
    (void)c;
    return 0;
#else
    if (!a->decode || !c->plan->split_decode || c->plan->sms <= 0 || kg_topk_smem(a, a->max_lk, NULL) <= 0) return 0;
    return (int64_t)a->batch * a->hkv >= c->plan->sms;
#endif
}

/* split decode's pooling: not launched when the Top-k pools (kg_topk_pools, or the vendor's Top-k:
 * ksa_gpu_plan.decode_topk_pools) */
extern "C" int ksa_gpu_launch_decode_pool(const ksa_gpu_args *a, const ksa_gpu_call *c)
{
    if (c->plan->decode_topk_pools || kg_topk_pools(a, c)) return 0;
    dim3 grid((unsigned)((a->max_lk + 255) / 256), (unsigned)(a->batch * a->hkv));
    const float *scores2 = (const float *)ksa_gpu_ws(c, KSA_GPU_WS_SCORES), *lse2 = (const float *)ksa_gpu_ws(c, KSA_GPU_WS_LSE);
    float *pooled = (float *)ksa_gpu_ws(c, KSA_GPU_WS_POOLED);
    kg_decode_pool<<<grid, 256, 0, (ksa_gpu_stream_t)c->stream>>>(*a, scores2, c->plan->lk_ld, lse2, pooled);
    return (int)cudaGetLastError();
}

/* ------------------------------------------------------------------ Top-k */
/* the candidates of prefill tile t (tile size T) of a sequence with lq queries and lk keys: the keys
 * before the tile's first query, lk - lq + t T; none for a tile past the queries (host and device) */
template <typename I> static __host__ __device__ __forceinline__ I kg_tile_list_len(I lq, I lk, I t, I T)
{
    const I n = t * T < lq ? lk - lq + t * T : 0;
    return n < 0 ? 0 : n;
}
/* the Top-k list of prefill tile t of (sequence b, KV head g): its n candidates (the keys before the
 * tile's first query), the k it selects, and where its indices and count go */
static __device__ __forceinline__ void kg_topk_tile_list(const ksa_gpu_args &a, int b, int g, int t, int &n, int &k, int *&out,
                                                         int *&cnt_out)
{
    const int lq = kg_lq(a, b), lk = kg_lk(a, b);
    n = kg_tile_list_len<int>(lq, lk, t, a.tile_size);
    k = t * a.tile_size < lq ? (int)kg_tile_count(a, lq, lk, t) : 0;
    out = a.indices + (int64_t)b * a.is0 + (int64_t)g * a.is1 + (int64_t)t * a.is2;
    cnt_out = a.counts + (int64_t)b * a.cs0 + (int64_t)g * a.cs1 + (int64_t)t * a.cs2;
}
/* the Top-k list of decode's (sequence b, KV head g): its n keys, the k it selects, and where its
 * indices and count go */
static __device__ __forceinline__ void kg_topk_decode_list(const ksa_gpu_args &a, int b, int g, int &n, int &k, int *&out, int *&cnt_out)
{
    n = kg_lk(a, b);
    k = (int)kg_budget(a, n);
    out = a.indices + (int64_t)b * a.is0 + (int64_t)g * a.is1;
    cnt_out = a.counts + (int64_t)b * a.cs0 + (int64_t)g * a.cs1;
}
/* every thread of the block: writes the list's count and -1 to its unused slots, and takes the lists
 * with nothing to select (k <= 0) or everything (k >= n); true when the list is done */
static __device__ __forceinline__ bool kg_topk_trivial(const ksa_gpu_args &a, int n, int k, int *out, int *cnt_out)
{
    const int tid = threadIdx.x;
    if (tid == 0) *cnt_out = k;
    for (int s = k + tid; s < a.k_slots; s += blockDim.x) out[(int64_t)s * a.is3] = -1;
    if (k <= 0) return true;
    if (k >= n) {
        for (int s = tid; s < n; s += blockDim.x) out[(int64_t)s * a.is3] = s;
        return true;
    }
    return false;
}

/* grid: x = tile - tile0 (prefill) or 0 (decode), y = b * Hkv + g. cache_n: how many scores fit in
 * the dynamic shared memory; a list that fits is copied there once, so the four radix passes and
 * the compaction (one barrier: ksa_topk_compact_segmented) read shared memory instead of global.
 * cand_n: room after the cached list for the radix select's candidates (the scores of the bin that
 * holds the threshold, once there are at most cand_n: the later passes read only them; measured on
 * the H200 at B64 Lk32K, passes 2-4 over the whole list were 44% of the Top-k's stall samples) */
template <bool SAMPLED>
__global__ void __launch_bounds__(KG_TOPK_THREADS) kg_topk(const __grid_constant__ ksa_gpu_args a, int decode, int tile0,
                                                           int ntiles, const float *pooled, int64_t ld, int cache_n, int cand_n,
                                                           const float *scores2, const float *lse2)
{
    extern __shared__ float sCache[];
    __shared__ unsigned sHist[256];
    __shared__ int sWarp[KG_TOPK_THREADS / 16];
    __shared__ unsigned sPrefix;
    __shared__ int sRemain, sNcand;
    const int b = blockIdx.y / a.hkv, g = blockIdx.y % a.hkv, tid = threadIdx.x;
    int n, k;
    int *out;
    int *cnt_out;
    const float *sc;
    if (decode) {
        kg_topk_decode_list(a, b, g, n, k, out, cnt_out);
        sc = pooled + (int64_t)blockIdx.y * ld;
    } else {
        kg_topk_tile_list(a, b, g, tile0 + blockIdx.x, n, k, out, cnt_out);
        sc = pooled + ((int64_t)blockIdx.y * ntiles + blockIdx.x) * ld;
    }
    if (kg_topk_trivial(a, n, k, out, cnt_out)) return;
    /* exact radix select + ordered compaction (ksa_gpu_topk.cuh, also used by HIP's kh_pool_topk) */
    unsigned threshold;
    int remain;
    if (n <= cache_n) {
        /* near-uniform lists: a sampled pivot first (ksa_topk_sampled); else the first radix pass's
         * histogram is counted as the list is loaded */
        const int sampled = SAMPLED && ksa_topk_sampled_fits(n, k, cand_n);
        for (int i = tid; i < 256; i += blockDim.x) sHist[i] = 0;
        __syncthreads();
        /* KG_TOPK_BATCH keys per thread at a time, their loads issued together: a loop of one key
         * per iteration, each ending in the wave-wide histogram step, had one global-memory round
         * trip per key in flight */
        for (int j0 = 0; j0 < n; j0 += KG_TOPK_BATCH * blockDim.x) { /* uniform trip count for ksa_hist_add */
            float v[KG_TOPK_BATCH];
            if (scores2) { /* split decode: the keys pooled here (kg_decode_pool did not run) */
#pragma unroll
                for (int u = 0; u < KG_TOPK_BATCH; u++) v[u] = 0.f;
                for (int hl = 0; hl < a.group; hl++) {
                    const int64_t row = (int64_t)b * a.hq + g * a.group + hl;
                    const float l = lse2[row]; /* a head whose lse is -inf adds nothing */
                    const float *sr = scores2 + row * ld;
                    float x[KG_TOPK_BATCH];
#pragma unroll
                    for (int u = 0; u < KG_TOPK_BATCH; u++) {
                        const int j = j0 + u * blockDim.x + tid;
                        x[u] = j < n ? sr[j] : KG_NEG_INF;
                    }
                    if (l != KG_NEG_INF)
#pragma unroll
                        for (int u = 0; u < KG_TOPK_BATCH; u++) v[u] += ksa_exp2(x[u] - l);
                }
            } else {
#pragma unroll
                for (int u = 0; u < KG_TOPK_BATCH; u++) {
                    const int j = j0 + u * blockDim.x + tid;
                    v[u] = j < n ? sc[j] : 0.f;
                }
            }
#pragma unroll
            for (int u = 0; u < KG_TOPK_BATCH; u++) {
                const int j = j0 + u * blockDim.x + tid;
                int bin = -1;
                if (j < n) {
                    sCache[j] = v[u];
                    if (!sampled) bin = ksa_radix_bin0(v[u]);
                }
                ksa_hist_add(sHist, bin);
            }
        }
        __syncthreads();
        if (sampled && ksa_topk_sampled(sCache, n, k, (int *)(sCache + cache_n), cand_n, sHist, &sPrefix, &sRemain, &sNcand,
                                        sWarp, out, a.is3))
            return;
        ksa_radix_select(sCache, n, k, sHist, &sPrefix, &sRemain, &threshold, &remain, !sampled, sCache + cache_n, cand_n,
                         &sNcand);
        ksa_topk_compact_segmented(sCache, n, threshold, remain, out, a.is3, sWarp);
        return;
    }
    ksa_radix_select(sc, n, k, sHist, &sPrefix, &sRemain, &threshold, &remain, 0);
    ksa_topk_compact(sc, n, k, threshold, remain, out, a.is3, sWarp);
}

#if !defined(KSA_GPU_HIP_BRANCH)
/* ------------------------------------------------------------------ streamed Top-k (NVIDIA) */
/* kg_topk_stream: the Top-k of long lists whose selection is a small share (prefill lists, and split
 * decode's lists pooled as they stream by: kg_topk_stream<true>), without the list in shared memory,
 * so that several blocks share an SM (kg_topk<true> holds the whole list, ~112 KB at 28K keys, and
 * runs one block per SM whose load, barriers and ballot passes nothing overlaps). The pivot of
 * ksa_topk_sampled comes from KG_TSTREAM_SAMPLES scores read from global memory; the list is then
 * streamed once, in chunks of KG_TSTREAM_CHUNK scores, and the scores at or above the pivot are
 * appended with their keys, in key order, to shared memory (a block barrier per chunk orders the
 * warps' appends); the exact radix select and the ordered compaction run on those. Too few or too
 * many candidates (ties, an unlucky sample): the exact select over the list in global memory, so the
 * index set is kg_topk's whichever path runs. */
#define KG_TSTREAM_THREADS 512
#define KG_TSTREAM_WAVES (KG_TSTREAM_THREADS / 32)
#define KG_TSTREAM_SAMPLES 1024
#define KG_TSTREAM_PER_LANE 8 /* consecutive scores per lane and chunk */
#define KG_TSTREAM_CHUNK (KG_TSTREAM_THREADS * KG_TSTREAM_PER_LANE)
/* whether a list of n scores with k selected takes the streamed path with room for cand_cap
 * candidates: long enough for the samples to be spread, and the expected candidates (the pivot's
 * sample rank over the samples) at most 7/8 of the room (host and device; lists hold int32 keys).
 * Under fast math the device's square root may put the rank 4 higher than the host's where ks is a
 * perfect square: then the launcher and the kernel can disagree on a list, which only sends it to
 * the kernel's exact fallback, never changes its index set. */
static __host__ __device__ __forceinline__ int kg_tstream_fits(int64_t n, int64_t k, int64_t cand_cap)
{
    if (k <= 0 || k >= n || n < KSA_TOPK_SAMPLED_MIN_PER_THREAD * KG_TSTREAM_THREADS || n > INT32_MAX) return 0;
    const int64_t klo = ksa_topk_pivot_rank((int)n, (int)k, KG_TSTREAM_SAMPLES);
    return klo < KG_TSTREAM_SAMPLES && klo * n * 8 <= cand_cap * KG_TSTREAM_SAMPLES * 7;
}

/* kg_topk_stream<true>, split decode's Top-k that pools as it loads (kg_topk_pools): a list's score j
 * is pooled from the dense pass's log2-domain scores and lse of the group's heads, as kg_topk does
 * (the same sum in the same head order); the list's pooled row is written only by the fallback,
 * which then reads it back. */
struct kg_tstream_pool {
    const float *s2; /* the group's first head's score row (rows ld apart) */
    const float *l2; /* its lse */
    int64_t ld;
    int group;
    /* the pooled score of key j */
    __device__ __forceinline__ float at(int j) const { return kg_pool_sum(s2, ld, l2, group, j); }
    /* the pooled scores of keys j .. j + PER - 1 (all < n; 16-byte aligned rows when vec) */
    template <int PER> __device__ __forceinline__ void run(int j, bool vec, float (&v)[PER]) const
    {
#pragma unroll
        for (int e = 0; e < PER; e++) v[e] = 0.f;
        for (int hl = 0; hl < group; hl++) {
            const float l = l2[hl];
            const float *r = s2 + hl * ld + j;
            float x[PER];
            if (vec) {
#pragma unroll
                for (int e = 0; e < PER; e += 4) *(float4 *)&x[e] = *(const float4 *)(r + e);
            } else {
#pragma unroll
                for (int e = 0; e < PER; e++) x[e] = r[e];
            }
            if (l != KG_NEG_INF)
#pragma unroll
                for (int e = 0; e < PER; e++) v[e] += ksa_exp2(x[e] - l);
        }
    }
};

/* grid: prefill: x = the launch's tiles from the last, y = b * Hkv + g; tile t's pooled row is
 * y * ntiles + t - pool_tile0 (the launch's pooled rows start at tile pool_tile0; kg_topk may take
 * its first tiles). Decode: x = 0, y = b * Hkv + g, pooled row y. Dynamic shared memory: float
 * scores[cand_cap], int keys[cand_cap], float samples[KG_TSTREAM_SAMPLES] (also the radix select's
 * narrowed candidates). */
template <bool DECODE>
__global__ void __launch_bounds__(KG_TSTREAM_THREADS, 3)
    kg_topk_stream(const __grid_constant__ ksa_gpu_args a, int tile0, int pool_tile0, int ntiles, float *pooled, int64_t ld,
                   int cand_cap, const float *scores2, const float *lse2)
{
    extern __shared__ float sStream[];
    __shared__ unsigned sHist[256];
    __shared__ int sCnt[2][KG_TSTREAM_WAVES]; /* per chunk (double-buffered): each wave's appends */
    __shared__ unsigned sPrefix;
    __shared__ int sRemain, sNcand;
    float *cs = sStream;
    int *ck = (int *)(sStream + cand_cap);
    float *samp = sStream + 2 * (int64_t)cand_cap;
    const int b = blockIdx.y / a.hkv, g = blockIdx.y % a.hkv, tid = threadIdx.x;
    const int wave = tid / 32, lane = tid % 32;
    int n, k;
    int *out;
    int *cnt_out;
    float *sc;
    kg_tstream_pool src = {NULL, NULL, ld, a.group};
    if (DECODE) {
        kg_topk_decode_list(a, b, g, n, k, out, cnt_out);
        sc = pooled + (int64_t)blockIdx.y * ld;
        const int64_t row0 = (int64_t)b * a.hq + (int64_t)g * a.group;
        src.s2 = scores2 + row0 * ld;
        src.l2 = lse2 + row0;
    } else {
        const int t = tile0 + (gridDim.x - 1 - blockIdx.x); /* the longest lists start first */
        kg_topk_tile_list(a, b, g, t, n, k, out, cnt_out);
        sc = pooled + ((int64_t)blockIdx.y * ntiles + (t - pool_tile0)) * ld;
    }
    if (kg_topk_trivial(a, n, k, out, cnt_out)) return;
    unsigned threshold;
    int remain;
    if (kg_tstream_fits(n, k, cand_cap)) {
        /* 1. the pivot: the klo-th largest of evenly spaced samples */
        for (int i = tid; i < KG_TSTREAM_SAMPLES; i += blockDim.x) {
            const int j = (int)((int64_t)i * n / KG_TSTREAM_SAMPLES);
            samp[i] = DECODE ? src.at(j) : sc[j];
        }
        __syncthreads();
        unsigned lo;
        int unused;
        ksa_radix_select(samp, KG_TSTREAM_SAMPLES, ksa_topk_pivot_rank(n, k, KG_TSTREAM_SAMPLES), sHist, &sPrefix, &sRemain,
                         &lo, &unused, 0);
        /* 2. stream the list, appending the scores >= lo and their keys in key order: per chunk, warp
         * w takes the 256 scores from j0 + 256 w, lane l eight of them (two 16-byte loads), a warp
         * scan orders the lanes and sCnt[chunk & 1] the warps. Chunk c's barrier also orders the
         * reads of sCnt[(c - 1) & 1] before chunk c + 1 writes it. */
        /* block-uniform (rows are lk_ld floats, a multiple of 4) */
        const bool vec = DECODE ? ((uintptr_t)src.s2 & 15) == 0 && ld % 4 == 0 : ((uintptr_t)sc & 15) == 0;
        int c = 0, buf = 0; /* c: block-uniform count so far (may pass cand_cap; then nothing more is written) */
        for (int j0 = 0; j0 < n; j0 += KG_TSTREAM_CHUNK, buf ^= 1) {
            const int j = j0 + wave * (32 * KG_TSTREAM_PER_LANE) + lane * KG_TSTREAM_PER_LANE;
            float v[KG_TSTREAM_PER_LANE];
            if constexpr (DECODE) {
                if (j + KG_TSTREAM_PER_LANE <= n) {
                    src.run(j, vec, v);
                } else {
#pragma unroll
                    for (int e = 0; e < KG_TSTREAM_PER_LANE; e++) v[e] = j + e < n ? src.at(j + e) : 0.f;
                }
            } else if (vec && j + KG_TSTREAM_PER_LANE <= n) {
#pragma unroll
                for (int e = 0; e < KG_TSTREAM_PER_LANE; e += 4) *(float4 *)&v[e] = *(const float4 *)(sc + j + e);
            } else {
#pragma unroll
                for (int e = 0; e < KG_TSTREAM_PER_LANE; e++) v[e] = j + e < n ? sc[j + e] : 0.f;
            }
            unsigned take = 0;
#pragma unroll
            for (int e = 0; e < KG_TSTREAM_PER_LANE; e++) take |= (unsigned)(j + e < n && __float_as_uint(v[e]) >= lo) << e;
            const int mine = __popc(take);
            int incl = mine; /* lanes' inclusive scan */
#pragma unroll
            for (int off = 1; off < 32; off <<= 1) {
                const int y = __shfl_up_sync(KSA_FULL_MASK, incl, off);
                if (lane >= off) incl += y;
            }
            if (lane == 31) sCnt[buf][wave] = incl;
            __syncthreads();
            const int cw = lane < KG_TSTREAM_WAVES ? sCnt[buf][lane] : 0;
            int wincl = cw; /* warps' inclusive scan, one warp per lane */
#pragma unroll
            for (int off = 1; off < KG_TSTREAM_WAVES; off <<= 1) {
                const int y = __shfl_up_sync(KSA_FULL_MASK, wincl, off);
                if (lane >= off) wincl += y;
            }
            const int before = __shfl_sync(KSA_FULL_MASK, wincl - cw, wave);
            const int total = __shfl_sync(KSA_FULL_MASK, wincl, KG_TSTREAM_WAVES - 1);
            int at = c + before + incl - mine;
#pragma unroll
            for (int e = 0; e < KG_TSTREAM_PER_LANE; e++)
                if (take >> e & 1u) {
                    if (at < cand_cap) {
                        cs[at] = v[e];
                        ck[at] = j + e;
                    }
                    at++;
                }
            c += total;
        }
        __syncthreads();
        if (c >= k && c <= cand_cap) { /* block-uniform */
            if (c == k) {
                for (int i = tid; i < c; i += blockDim.x) out[(int64_t)i * a.is3] = ck[i];
                return;
            }
            /* 3. the exact select over the candidates (narrowed into the samples' room), then the
             * ordered compaction of their keys */
            ksa_radix_select(cs, c, k, sHist, &sPrefix, &sRemain, &threshold, &remain, 0, samp, KG_TSTREAM_SAMPLES, &sNcand);
            ksa_topk_compact_segmented(cs, c, threshold, remain, out, a.is3, &sCnt[0][0], ck);
            return;
        }
    }
    /* the whole list from global memory (the candidate room narrows the later radix passes); decode
     * pools it into its row first */
    if constexpr (DECODE) {
        for (int j = tid; j < n; j += blockDim.x) sc[j] = src.at(j);
        __syncthreads();
    }
    ksa_radix_select(sc, n, k, sHist, &sPrefix, &sRemain, &threshold, &remain, 0, cs, cand_cap, &sNcand);
    ksa_topk_compact(sc, n, k, threshold, remain, out, a.is3, &sCnt[0][0]);
}
#endif /* !KSA_GPU_HIP_BRANCH */

/* scores kg_topk keeps in shared memory: the longest list of the launch (`longest`) when it fits
 * (NVIDIA: at most 160 KiB, within what the device's opt-in leaves beside the static arrays, found
 * once per device; AMD: 48 KiB of the 64 KiB LDS), else none. *cand_n (when not NULL): room for the
 * radix select's candidates beside a cached list, up to half its length, within the opt-in (NVIDIA
 * only; 0 else). */
#if !defined(KSA_GPU_HIP_BRANCH)
/* the dynamic shared memory kernel `fn` may use on the current device (the opt-in maximum less its
 * static arrays, allowed once through kg_allow_smem), found once per device and kept in room_of
 * (bytes + 1; 0: not known yet); -1 when the device cannot be asked */
template <typename F> static int64_t kg_smem_room(F *fn, unsigned *done, int (&room_of)[32])
{
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 32) {
        (void)cudaGetLastError();
        return -1;
    }
    if (room_of[dev] == 0) {
        int optin = 0;
        cudaFuncAttributes fa;
        int64_t r = 0;
        if (kg_allow_smem(fn, done) == cudaSuccess &&
            cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) == cudaSuccess &&
            cudaFuncGetAttributes(&fa, fn) == cudaSuccess)
            r = (int64_t)optin - (int64_t)fa.sharedSizeBytes;
        else
            (void)cudaGetLastError();
        room_of[dev] = (int)(r > 0 ? r : 0) + 1;
    }
    return room_of[dev] - 1;
}
#endif

static int kg_topk_smem(const ksa_gpu_args *a, int64_t longest, int *cand_n)
{
    if (cand_n) *cand_n = 0;
#if defined(KSA_GPU_HIP_BRANCH)
    const int64_t cap = 48 << 10;
#else
    static int room_of[32];
    static unsigned done, done_sampled;
    if (kg_allow_smem(kg_topk<false>, &done) != cudaSuccess) return 0; /* its static arrays are kg_topk<true>'s */
    const int64_t room = kg_smem_room(kg_topk<true>, &done_sampled, room_of), cap = room < (160 << 10) ? room : (160 << 10);
    if (room < 0) return 0;
#endif
    const int64_t need = longest * (int64_t)sizeof(float);
    if (need > cap) return 0;
#if !defined(KSA_GPU_HIP_BRANCH)
    if (cand_n) {
        int64_t cn = (room - need) / (int64_t)sizeof(float);
        *cand_n = (int)(cn < longest / 2 ? cn : longest / 2);
    }
#endif
    return (int)longest;
}
/* the longest list of one Top-k launch: a prefill tile's list holds the keys before its first query
 * (lk - lq + t T), so with uniform lengths the launch's last tile bounds its lists; else (and for
 * decode) max_lk. A list longer than the bound would take the uncached path, still exact. */
static int64_t kg_topk_longest(const ksa_gpu_args *a, int decode, int tile0, int ntiles)
{
    if (decode || !a->uniform_lengths) return a->max_lk;
    const int64_t n = (int64_t)a->max_lk - a->max_lq + (int64_t)(tile0 + ntiles - 1) * a->tile_size;
    return n < 1 ? 1 : n > a->max_lk ? a->max_lk : n;
}
/* kg_topk's block size. The 1024-thread block needs ~46 registers per thread, so one block runs per
 * SM whatever its shared memory; a prefill launch whose cache and candidates leave room for two
 * blocks per SM takes 512 threads (measured on the H200, anchor prefill L32K: the launches over lists
 * of up to 8K and 16K keys -31% and -20%; where one block fits by shared memory, 512 threads were
 * 25% slower than 1024). Decode keeps 1024. */
static int kg_topk_threads(int decode, size_t dyn_smem)
{
#if defined(KSA_GPU_HIP_BRANCH)
    (void)decode;
    (void)dyn_smem;
    return KG_TOPK_THREADS;
#else
    int dev = 0, per_sm = 0;
    if (decode || cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return KG_TOPK_THREADS;
    }
    /* the static arrays and the 1 KB the runtime reserves per block, counted generously */
    return 2 * ((int64_t)dyn_smem + (16 << 10)) <= per_sm ? KG_TOPK_THREADS / 2 : KG_TOPK_THREADS;
#endif
}
#if !defined(KSA_GPU_HIP_BRANCH)
#define KG_TSTREAM_CAND_BYTES ((int64_t)(sizeof(float) + sizeof(int))) /* a candidate's score and key */
/* the streamed kernel's dynamic shared memory for cand_cap candidates (its layout: kg_topk_stream) */
static size_t kg_tstream_smem(int64_t cand_cap)
{
    return (size_t)(cand_cap * KG_TSTREAM_CAND_BYTES) + KG_TSTREAM_SAMPLES * sizeof(float);
}
/* the candidate room for lists of up to `longest` keys: a quarter of them, within the opt-in shared
 * memory (both instantiations have the same static arrays); 0 when none fits */
static int64_t kg_tstream_room(int64_t longest)
{
    static int room_of[32];
    static unsigned done, done_decode;
    if (kg_allow_smem(kg_topk_stream<true>, &done_decode) != cudaSuccess) return 0;
    const int64_t room = kg_smem_room(kg_topk_stream<false>, &done, room_of) - KG_TSTREAM_SAMPLES * (int64_t)sizeof(float);
    int64_t cap = (longest / 4 + 31) / 32 * 32;
    if (cap * KG_TSTREAM_CAND_BYTES > room) cap = room / KG_TSTREAM_CAND_BYTES;
    return cap > 0 ? cap : 0;
}
/* the streamed Top-k's share of a prefill launch over tiles [tile0, tile0 + ntiles): returns its
 * candidate room (0: kg_topk takes the whole launch) and sets *first to the first tile it takes.
 * The room is a quarter of the launch's longest list, within the opt-in shared memory; the streamed
 * tiles are those from the first whose list qualifies (kg_tstream_fits: its list grows with the tile
 * and its selection's share shrinks, so the first is found by bisection), and the last and middle
 * streamed tiles must qualify too. Uniform lengths only. A list the rule misjudges takes the stream
 * kernel's exact fallback. */
static int kg_tstream_cap(const ksa_gpu_args *a, int tile0, int ntiles, int *first)
{
    if (!a->uniform_lengths || ntiles <= 0) return 0;
    const int64_t cap = kg_tstream_room(kg_topk_longest(a, 0, tile0, ntiles));
    if (cap <= 0) return 0;
    auto fits = [&](int64_t t) {
        const int64_t n = kg_tile_list_len<int64_t>(a->max_lq, a->max_lk, t, a->tile_size);
        return n > 0 && kg_tstream_fits(n, kg_tile_count(*a, a->max_lq, a->max_lk, t), cap);
    };
    const int64_t last = (int64_t)tile0 + ntiles - 1;
    if (!fits(last)) return 0;
    int64_t lo = tile0, hi = last; /* the first tile that qualifies lies in [lo, hi] */
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (fits(mid)) hi = mid;
        else lo = mid + 1;
    }
    if (!fits(lo + (last - lo) / 2)) return 0;
    *first = (int)lo;
    return (int)cap;
}
#endif

extern "C" int ksa_gpu_launch_topk(const ksa_gpu_args *a, const ksa_gpu_call *c, int decode, int tile0, int ntiles)
{
    dim3 grid((unsigned)(decode ? 1 : ntiles), (unsigned)(a->batch * a->hkv));
    float *pooled = (float *)ksa_gpu_ws(c, KSA_GPU_WS_POOLED);
    /* split decode's dense-pass scores and lse, where the plan holds them (the Top-k then pools) */
    const float *dec_scores2 = (const float *)ksa_gpu_ws(c, KSA_GPU_WS_SCORES), *dec_lse2 = (const float *)ksa_gpu_ws(c, KSA_GPU_WS_LSE);
#if !defined(KSA_GPU_HIP_BRANCH)
    /* long prefill lists with a small selection: streamed, several blocks per SM; the launch's
     * first tiles, if their lists do not qualify, stay kg_topk's (launched below over grid.x tiles,
     * with the same pooled rows) */
    int first = 0;
    const int stream_cap = decode ? 0 : kg_tstream_cap(a, tile0, ntiles, &first);
    if (stream_cap > 0) {
        const size_t smem_s = kg_tstream_smem(stream_cap);
        dim3 grid_s((unsigned)(tile0 + ntiles - first), grid.y);
        kg_topk_stream<false><<<grid_s, KG_TSTREAM_THREADS, smem_s, (ksa_gpu_stream_t)c->stream>>>(
            *a, first, tile0, ntiles, pooled, c->plan->lk_ld, stream_cap, NULL, NULL);
        const int e = (int)cudaGetLastError();
        if (e || first == tile0) return e;
        grid.x = (unsigned)(first - tile0);
    }
    /* split decode's Top-k that pools as it loads (kg_topk_pools), uniform lengths: the same streamed
     * selection, each key pooled as it streams by (its fallback writes the list's pooled row). Only
     * where the plan holds the dense pass's scores and lse: a caller whose plan has the pooled lists
     * alone (ksa-topk-bench) gets kg_topk, which then selects over the pooled rows as they are */
    if (decode && a->uniform_lengths && pooled && dec_scores2 && dec_lse2 && kg_topk_pools(a, c)) {
        const int64_t cap = kg_tstream_room(a->max_lk);
        if (cap > 0 && kg_tstream_fits(a->max_lk, kg_budget(*a, a->max_lk), cap)) {
            const size_t smem_s = kg_tstream_smem(cap);
            kg_topk_stream<true><<<grid, KG_TSTREAM_THREADS, smem_s, (ksa_gpu_stream_t)c->stream>>>(
                *a, 0, 0, 1, pooled, c->plan->lk_ld, (int)cap, dec_scores2, dec_lse2);
            return (int)cudaGetLastError();
        }
    }
#endif
    int cand_n = 0;
    const int64_t longest = kg_topk_longest(a, decode, tile0, decode ? ntiles : (int)grid.x); /* the tiles it takes */
    const int cache_n = kg_topk_smem(a, longest, &cand_n);
    const size_t smem = (size_t)(cache_n + cand_n) * sizeof(float);
    const int threads = kg_topk_threads(decode, smem);
    /* the instantiation with the sampled pivot only where a list may be long enough to take it
     * (ksa_topk_sampled_fits): its extra code made the Top-k of shorter lists slower (anchor decode
     * B64 Lk8K: 78 -> 84 us on the H200) */
    const bool sampled = cache_n > 0 && longest >= KSA_TOPK_SAMPLED_MIN_PER_THREAD * (int64_t)threads;
    /* the scores and lse of the split decode's dense pass, pooled in the Top-k
     * (ksa_gpu_launch_decode_pool launched nothing) */
    const int fused = decode && kg_topk_pools(a, c);
    const float *scores2 = fused ? dec_scores2 : NULL;
    const float *lse2 = fused ? dec_lse2 : NULL;
    (sampled ? kg_topk<true> : kg_topk<false>)<<<grid, threads, smem, (ksa_gpu_stream_t)c->stream>>>(
        *a, decode, tile0, ntiles, pooled, c->plan->lk_ld, cache_n, cand_n, scores2, lse2);
    return (int)cudaGetLastError();
}
