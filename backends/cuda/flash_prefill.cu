/* flash_prefill.cu: tensor-core prefill kernels (mma.sync m16n8k16, f16/bf16 in, f32 accumulate,
 * sm_80 and sm_90a). One CTA owns 128 MMA rows (4 warps x 32 rows, or 8 x 16 at head_dim 256); a row is a (query, head of the GQA group)
 * pair, so all rows of a CTA read the same KV head and every K/V tile loaded serves the G heads.
 *  - kc_flash_prefill: FlashAttention-style online softmax over a key list, K/V tiles of 64 rows
 *    double-buffered with cp.async. Dense: the causal keys 0..pos. Sparse (anchor sparse pass and
 *    reuse prefill): the tile's selected keys (gathered rows through the index tensor and the
 *    head map) followed by the tile's own keys; then a CTA's rows all belong to one query tile, so
 *    the T queries x G heads of the tile form the MMA rows. Writes o, lse, and/or the internal
 *    log2-domain lse used by the pooled-score pass.
 *  - kc_pooled_prefill: for one (sequence, KV head, tile), streams the candidate keys, recomputes
 *    s = q.k for every row of the tile and sums exp2(s - lse2) over the rows: the pooled
 *    post-softmax scores that the Top-k selects from. */
#include <stdio.h>

#include "ksa_cuda.h"
#include "ksa_gpu_common.cuh"
#include "ksa_cuda_ptx.cuh"

#define KC_BQ KC_PREFILL_ROWS /* MMA rows per CTA */
#define KC_BK 64

/* S[MB x 16 x 64] of a warp (MB blocks of 16 rows of sQ from qrow) times the 64 rows of sK: each
 * K fragment loaded from shared memory feeds MB MMAs */
template <int D, int MB, typename T>
static __device__ __forceinline__ void kc_qk(float s[MB][8][4], const uint16_t *sQ, const uint16_t *sK, int qrow, int lane)
{
    constexpr int LD = D + 8;
#pragma unroll
    for (int mb = 0; mb < MB; mb++)
#pragma unroll
        for (int nb = 0; nb < 8; nb++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[mb][nb][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        uint32_t af[MB][4];
#pragma unroll
        for (int mb = 0; mb < MB; mb++)
            kc_ldmatrix_x4(af[mb], sQ + (qrow + mb * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + kk * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int nb2 = 0; nb2 < 4; nb2++) {
            uint32_t bf[4];
            kc_ldmatrix_x4(bf, sK + (nb2 * 16 + (lane & 7) + (lane >> 4) * 8) * LD + kk * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
            for (int mb = 0; mb < MB; mb++) {
                kc_mma<T>::run(s[mb][2 * nb2], af[mb], bf[0], bf[1]);
                kc_mma<T>::run(s[mb][2 * nb2 + 1], af[mb], bf[2], bf[3]);
            }
        }
    }
}

/* geometry of the rows a CTA owns; returns 0 when the CTA has nothing to do */
struct kc_rows {
    int b, g, lq, lk, row_begin, row_end, tile, qrow0;
};
static __device__ __forceinline__ int kc_cta_rows(const ksa_gpu_args &a, kc_rows &r)
{
    r.b = blockIdx.z;
    r.g = blockIdx.y;
    r.lq = kg_lq(a, r.b);
    r.lk = kg_lk(a, r.b);
    r.qrow0 = kg_qrow0(a, r.b);
    /* the longest key lists (last rows) start first */
    kc_chunk_rows(a, r.lq, gridDim.x - 1 - blockIdx.x, r.tile, r.row_begin, r.row_end);
    return r.row_begin < r.row_end;
}

/* load the KC_BQ rows of Q owned by the CTA (zero rows past the end) */
template <int D>
static __device__ __forceinline__ void kc_load_q(const ksa_gpu_args &a, const kc_rows &r, uint16_t *sQ, int nthreads)
{
    constexpr int LD = D + 8, P = D / 8;
    const uint16_t *q = (const uint16_t *)a.q;
    for (int c = threadIdx.x; c < KC_BQ * P; c += nthreads) {
        int row = c / P, piece = c % P;
        int rr = r.row_begin + row;
        const uint16_t *src = NULL;
        if (rr < r.row_end) {
            int i = rr / a.group, h = r.g * a.group + rr % a.group;
            src = q + (int64_t)r.b * a.q_s.batch + (int64_t)(r.qrow0 + i) * a.q_s.token + (int64_t)h * a.q_s.head;
        }
        kg_row_piece<D>(a, sQ + row * LD, src, piece);
    }
}

/* warps of a prefill CTA (tunable warp_rows): MB = 1: 8 warps x 16 rows; MB = 2 (head_dim <= 128):
 * 4 warps x 32 rows, each K/V fragment feeding two MMAs. 2 CTAs per SM at head_dim <= 128. */
template <int D, int MB> struct kc_flash_cfg {
    static constexpr int WARPS = KC_BQ / (16 * MB);
    static constexpr int THREADS = 32 * WARPS;
    static constexpr int MIN_BLOCKS = D <= 128 ? 2 : 1;
};

template <int D, int MB, typename T>
__global__ void __launch_bounds__(kc_flash_cfg<D, MB>::THREADS, kc_flash_cfg<D, MB>::MIN_BLOCKS)
    kc_flash_prefill(const __grid_constant__ ksa_gpu_args a)
{
    constexpr int LD = D + 8, P = D / 8, NB = D / 8, NT = kc_flash_cfg<D, MB>::THREADS;
    extern __shared__ __align__(16) uint16_t kc_smem[];
    uint16_t *sQ = kc_smem;
    uint16_t *sK = sQ + KC_BQ * LD;       /* [2][KC_BK][LD] */
    uint16_t *sV = sK + 2 * KC_BK * LD;   /* [2][KC_BK][LD] */
    __shared__ int sKey[2][KC_BK];

    kc_rows r;
    if (!kc_cta_rows(a, r)) return;
    const int G = a.group, tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int pos_shift = r.lk - r.lq;
    const int pos_max = pos_shift + (r.row_end - 1) / G;

    /* key list */
    int nsel = 0, own0 = 0, mg = 0;
    const int *idx = NULL;
    if (a.sparse) {
        mg = a.head_map[r.g];
        own0 = pos_shift + r.tile * a.tile_size;
        nsel = a.counts[(int64_t)r.b * a.cs0 + (int64_t)mg * a.cs1 + (int64_t)r.tile * a.cs2];
        idx = a.indices + (int64_t)r.b * a.is0 + (int64_t)mg * a.is1 + (int64_t)r.tile * a.is2;
    }
    const int nkeys = a.sparse ? nsel + (pos_max - own0 + 1) : pos_max + 1;
    const int ntiles = (nkeys + KC_BK - 1) / KC_BK;
    const int pos_min = pos_shift + r.row_begin / G;

    const uint16_t *kp = (const uint16_t *)a.k, *vp = (const uint16_t *)a.v;
    auto load_kv = [&](int kt, int buf) {
        for (int c = tid; c < KC_BK * P; c += NT) {
            int row = c / P, piece = c % P;
            int n = kt * KC_BK + row;
            int j = -1;
            if (n < nkeys) j = a.sparse ? (n < nsel ? idx[(int64_t)n * a.is3] : own0 + n - nsel) : n;
            if (piece == 0) sKey[buf][row] = j;
            const uint16_t *ks = NULL, *vs = NULL;
            if (j >= 0) {
                ks = kp + kg_kv_offset(a, 0, r.b, j, r.g);
                vs = vp + kg_kv_offset(a, 1, r.b, j, r.g);
            }
            kg_row_piece<D>(a, sK + (buf * KC_BK + row) * LD, ks, piece);
            if (!a.lse_only) kg_row_piece<D>(a, sV + (buf * KC_BK + row) * LD, vs, piece);
        }
    };

    kc_load_q<D>(a, r, sQ, NT);
    if (ntiles > 0) load_kv(0, 0);
    kg_copy_commit();

    /* rows of this thread: for each row block mb, r0 = warp*16*MB + mb*16 + lane/4 and r0 + 8 */
    int pos[MB][2];
    float m[MB][2], l[MB][2];
    float o[MB][NB][4];
#pragma unroll
    for (int mb = 0; mb < MB; mb++)
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            int rr = r.row_begin + warp * 16 * MB + mb * 16 + lane / 4 + hf * 8;
            pos[mb][hf] = rr < r.row_end ? pos_shift + rr / G : -1;
            m[mb][hf] = KG_NEG_INF;
            l[mb][hf] = 0.f;
        }
#pragma unroll
    for (int mb = 0; mb < MB; mb++)
#pragma unroll
        for (int nb = 0; nb < NB; nb++)
#pragma unroll
            for (int e = 0; e < 4; e++) o[mb][nb][e] = 0.f;

    for (int kt = 0; kt < ntiles; kt++) {
        const int buf = kt & 1;
        if (kt + 1 < ntiles) {
            load_kv(kt + 1, buf ^ 1);
            kg_copy_commit();
            kg_copy_wait<1>();
        } else {
            kg_copy_wait<0>();
        }
        __syncthreads();
        const uint16_t *cK = sK + buf * KC_BK * LD, *cV = sV + buf * KC_BK * LD;
        float s[MB][8][4];
        kc_qk<D, MB, T>(s, sQ, cK, warp * 16 * MB, lane);
        /* tiles every row sees completely (below the diagonal, or selected keys only) skip the mask */
        const int kend = (kt + 1) * KC_BK;
        const bool full = a.sparse ? kend <= nsel : (kend <= nkeys && kend - 1 <= pos_min);
        int keys[8][2];
#pragma unroll
        for (int nb = 0; nb < 8; nb++)
#pragma unroll
            for (int e = 0; e < 2; e++) keys[nb][e] = full ? 0 : sKey[buf][nb * 8 + (lane % 4) * 2 + e];
#pragma unroll
        for (int mb = 0; mb < MB; mb++) {
            float mx[2] = {KG_NEG_INF, KG_NEG_INF};
#pragma unroll
            for (int nb = 0; nb < 8; nb++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int j = keys[nb][e & 1], hf = e >> 1;
                    float x = s[mb][nb][e] * a.scale_log2;
                    if (!full) x = (j >= 0 && j <= pos[mb][hf]) ? x : KG_NEG_INF;
                    s[mb][nb][e] = x;
                    mx[hf] = fmaxf(mx[hf], x);
                }
            float base[2], al[2], sum[2] = {0.f, 0.f};
            kc_quad_softmax_step(m[mb], mx, 1.f, base, al); /* scores already scaled */
#pragma unroll
            for (int nb = 0; nb < 8; nb++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float pv = ksa_exp2(s[mb][nb][e] - base[e >> 1]);
                    s[mb][nb][e] = pv;
                    sum[e >> 1] += pv;
                }
#pragma unroll
            for (int hf = 0; hf < 2; hf++) l[mb][hf] = l[mb][hf] * al[hf] + sum[hf];
#pragma unroll
            for (int nb = 0; nb < NB; nb++) {
                o[mb][nb][0] *= al[0];
                o[mb][nb][1] *= al[0];
                o[mb][nb][2] *= al[1];
                o[mb][nb][3] *= al[1];
            }
        }
        /* O += P V: each V fragment feeds MB MMAs. A pass that only needs the log-sum-exp (the
         * anchor's first pass when its output is sparse) skips it: half the work. */
        if (!a.lse_only)
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            uint32_t pf[MB][4];
#pragma unroll
            for (int mb = 0; mb < MB; mb++) {
                pf[mb][0] = kc_mma<T>::pack(s[mb][2 * kk][0], s[mb][2 * kk][1]);
                pf[mb][1] = kc_mma<T>::pack(s[mb][2 * kk][2], s[mb][2 * kk][3]);
                pf[mb][2] = kc_mma<T>::pack(s[mb][2 * kk + 1][0], s[mb][2 * kk + 1][1]);
                pf[mb][3] = kc_mma<T>::pack(s[mb][2 * kk + 1][2], s[mb][2 * kk + 1][3]);
            }
#pragma unroll
            for (int db2 = 0; db2 < D / 16; db2++) {
                uint32_t bf[4];
                kc_ldmatrix_x4_trans(bf, cV + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + db2 * 16 + (lane >> 4) * 8);
#pragma unroll
                for (int mb = 0; mb < MB; mb++) {
                    kc_mma<T>::run(o[mb][2 * db2], pf[mb], bf[0], bf[1]);
                    kc_mma<T>::run(o[mb][2 * db2 + 1], pf[mb], bf[2], bf[3]);
                }
            }
        }
        __syncthreads();
    }

    /* epilogue */
#pragma unroll
    for (int mb = 0; mb < MB; mb++)
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            float lt = l[mb][hf];
            lt += ksa_shfl_xor(lt, 1);
            lt += ksa_shfl_xor(lt, 2);
            int rr = r.row_begin + warp * 16 * MB + mb * 16 + lane / 4 + hf * 8;
            if (rr >= r.row_end) continue;
            float inv = lt != 0.f ? 1.f / lt : 0.f; /* NaN (a NaN row) stays NaN */
            int i = rr / G, h = r.g * G + rr % G;
            if (a.o) {
                T *op = (T *)a.o + (int64_t)r.b * a.o_s.batch + (int64_t)(r.qrow0 + i) * a.o_s.token + (int64_t)h * a.o_s.head;
#pragma unroll
                for (int nb = 0; nb < NB; nb++) {
                    int d = nb * 8 + (lane % 4) * 2;
                    op[d] = ksa_from_float<T>(o[mb][nb][2 * hf] * inv);
                    op[d + 1] = ksa_from_float<T>(o[mb][nb][2 * hf + 1] * inv);
                }
            }
            if (lane % 4 == 0) {
                float lse2 = lt != 0.f ? m[mb][hf] + ksa_log2(lt) : KG_NEG_INF;
                if (a.lse)
                    a.lse[(int64_t)r.b * a.lse_sb + (int64_t)h * a.lse_sh + (int64_t)(r.qrow0 + i) * a.lse_si] = lse2 * KG_LN2;
                if (a.lse_ws) kg_lse_ws_at(a, r.b, h, i) = lse2;
            }
        }
}

/* pooled-score pass: one CTA per (sequence, KV head, tile) streams the tile's candidate keys in
 * chunks of 64 (double-buffered) against the tile's T x G rows held in shared memory (128 at a
 * time); grid: x = tile - tile0, y = KV head, z = sequence */
#define KC_POOL_WARPS 8
#define KC_POOL_THREADS (32 * KC_POOL_WARPS)
template <int D, typename T>
__global__ void __launch_bounds__(KC_POOL_THREADS) kc_pooled_prefill(const __grid_constant__ ksa_gpu_args a, int tile0, int ntiles,
                                                                     float *pooled, int64_t ld)
{
    constexpr int LD = D + 8, P = D / 8;
    extern __shared__ __align__(16) uint16_t kc_smem[];
    uint16_t *sQ = kc_smem;
    uint16_t *sK = sQ + KC_BQ * LD; /* [2][KC_BK][LD] */
    __shared__ float sRed[KC_POOL_WARPS][KC_BK];
    __shared__ float sLse[KC_BQ];

    const int b = blockIdx.z, g = blockIdx.y, t = tile0 + blockIdx.x;
    const int lq = kg_lq(a, b), lk = kg_lk(a, b), TS = a.tile_size, G = a.group;
    if (t * TS >= lq) return;
    const int start = lk - lq + t * TS; /* candidates j < start */
    if (start <= 0) return;
    if (kg_tile_count(a, lq, lk, t) >= start) return; /* every candidate is taken: no scores needed */
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int qrow0 = kg_qrow0(a, b);
    const uint16_t *kp = (const uint16_t *)a.k, *q = (const uint16_t *)a.q;
    float *out = pooled + ((int64_t)(b * a.hkv + g) * ntiles + blockIdx.x) * ld;
    const int tq = min(TS, lq - t * TS);
    const int nrows = tq * G;
    const int nchunks = (start + KC_BK - 1) / KC_BK;

    auto load_k = [&](int kc, int buf) {
        for (int c = tid; c < KC_BK * P; c += KC_POOL_THREADS) {
            int row = c / P, piece = c % P;
            int j = kc * KC_BK + row;
            const uint16_t *src = j < start ? kp + kg_kv_offset(a, 0, b, j, g) : NULL;
            kg_row_piece<D>(a, sK + (buf * KC_BK + row) * LD, src, piece);
        }
    };

    for (int rc = 0; rc < nrows; rc += KC_BQ) {
        for (int c = tid; c < KC_BQ * P; c += KC_POOL_THREADS) {
            int row = c / P, piece = c % P;
            int rr = rc + row;
            const uint16_t *src = NULL;
            if (rr < nrows) {
                int i = t * TS + rr / G, h = g * G + rr % G;
                src = q + (int64_t)b * a.q_s.batch + (int64_t)(qrow0 + i) * a.q_s.token + (int64_t)h * a.q_s.head;
            }
            kg_row_piece<D>(a, sQ + row * LD, src, piece);
        }
        if (tid < KC_BQ) {
            int rr = rc + tid;
            float v = KG_NEG_INF;
            if (rr < nrows) {
                int i = t * TS + rr / G, h = g * G + rr % G;
                v = kg_lse_ws_at(a, b, h, i);
            }
            sLse[tid] = v;
        }
        load_k(0, 0);
        kg_copy_commit();
        for (int kc = 0; kc < nchunks; kc++) {
            const int buf = kc & 1;
            if (kc + 1 < nchunks) {
                load_k(kc + 1, buf ^ 1);
                kg_copy_commit();
                kg_copy_wait<1>();
            } else {
                kg_copy_wait<0>();
            }
            __syncthreads();
            float s[1][8][4];
            kc_qk<D, 1, T>(s, sQ, sK + buf * KC_BK * LD, warp * 16, lane);
            const float la = sLse[warp * 16 + lane / 4], lb = sLse[warp * 16 + lane / 4 + 8];
            const int j0 = kc * KC_BK;
#pragma unroll
            for (int nb = 0; nb < 8; nb++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    int j = j0 + nb * 8 + (lane % 4) * 2 + e;
                    float pa = (la == KG_NEG_INF || j >= start) ? 0.f : ksa_exp2(s[0][nb][e] * a.scale_log2 - la);
                    float pb = (lb == KG_NEG_INF || j >= start) ? 0.f : ksa_exp2(s[0][nb][2 + e] * a.scale_log2 - lb);
                    float v = pa + pb;
                    v += ksa_shfl_xor(v, 4);
                    v += ksa_shfl_xor(v, 8);
                    v += ksa_shfl_xor(v, 16);
                    if (lane < 4) sRed[warp][nb * 8 + lane * 2 + e] = v;
                }
            __syncthreads();
            if (tid < KC_BK) {
                int j = j0 + tid;
                if (j < start) {
                    float v = 0.f;
#pragma unroll
                    for (int w = 0; w < KC_POOL_WARPS; w++) v += sRed[w][tid];
                    out[j] = rc == 0 ? v : out[j] + v;
                }
            }
            __syncthreads();
        }
    }
}

/* ------------------------------------------------------------------ launchers */
template <int D, int MB, typename T> static int kc_flash_launch_mb(const ksa_gpu_args *a, cudaStream_t st)
{
    size_t smem = (size_t)(KC_BQ + 4 * KC_BK) * (D + 8) * 2;
    static unsigned kc_smem_done; /* devices this kernel was configured on */
    cudaError_t e = kg_allow_smem(kc_flash_prefill<D, MB, T>, &kc_smem_done);
    if (e != cudaSuccess) return (int)e;
    dim3 grid((unsigned)kc_prefill_chunks(a), (unsigned)a->hkv, (unsigned)a->batch);
    kc_flash_prefill<D, MB, T><<<grid, kc_flash_cfg<D, MB>::THREADS, smem, st>>>(*a);
    return (int)cudaGetLastError();
}
template <int D, typename T> static int kc_flash_launch_t(const ksa_gpu_args *a, cudaStream_t st)
{
    if constexpr (D <= 128) {
        if (a->warp_rows == 32) return kc_flash_launch_mb<D, 2, T>(a, st);
    }
    return kc_flash_launch_mb<D, 1, T>(a, st);
}

template <int D, typename T>
static int kc_pooled_launch_t(const ksa_gpu_args *a, int tile0, int ntiles, float *pooled, int64_t ld, cudaStream_t st)
{
    size_t smem = (size_t)(KC_BQ + 2 * KC_BK) * (D + 8) * 2;
    static unsigned kc_smem_done; /* devices this kernel was configured on */
    cudaError_t e = kg_allow_smem(kc_pooled_prefill<D, T>, &kc_smem_done);
    if (e != cudaSuccess) return (int)e;
    dim3 grid((unsigned)ntiles, (unsigned)a->hkv, (unsigned)a->batch);
    kc_pooled_prefill<D, T><<<grid, KC_POOL_THREADS, smem, st>>>(*a, tile0, ntiles, pooled, ld);
    return (int)cudaGetLastError();
}

extern "C" int kc_launch_flash_prefill(const ksa_gpu_args *a, const ksa_gpu_call *c)
{
    if (c->kernel)
        snprintf(c->kernel, (size_t)c->kernel_len, "mma_flash_prefill_%s_d%d_wr%d", a->sparse ? "sparse" : "dense",
                 a->head_dim, a->head_dim <= 128 ? a->warp_rows : 16);
    KG_DISPATCH(a, kc_flash_launch_t, a, (cudaStream_t)c->stream);
}

extern "C" int kc_launch_pooled_prefill(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles)
{
    float *pooled = (float *)ksa_gpu_ws(c, KSA_GPU_WS_POOLED);
    KG_DISPATCH(a, kc_pooled_launch_t, a, tile0, ntiles, pooled, c->plan->lk_ld, (cudaStream_t)c->stream);
}
