/* ksa_cuda_ptx.cuh: the NVIDIA-only device helpers the kernels of this folder share: ldmatrix (plain
 * and transposed), mma.sync m16n8k16 with f32 accumulators for f16 and bf16 and the matching
 * 16-bit pair packing (flash_prefill.cu, mma_decode.cu, sm90_prefill.cu), the online-softmax step on
 * an m16n8 accumulator fragment (all three), the prefill CTAs' row ranges (flash_prefill.cu,
 * sm90_prefill.cu), the 128-byte-swizzled tile offset, and the mbarrier,
 * TMA and proxy-fence instructions of the sm_90 pipelines (sm90_prefill.cu, mma_decode.cu), and the
 * cluster barrier and distributed-shared-memory load of the decode's in-cluster combine (their
 * bodies are empty below sm_90, where no caller reaches them). Not static (__forceinline__ makes
 * them inline): a file that uses part of the header gets no warning. */
#ifndef KSA_CUDA_PTX_CUH
#define KSA_CUDA_PTX_CUH

#include <stdint.h>

#include <cuda.h>

#include "ksa_cuda.h"
#include "ksa_gpu_common.cuh"

/* ldmatrix (plain and transposed) at a 32-bit shared-memory address (base + per-lane offset + an
 * immediate), and at a generic pointer into shared memory */
__device__ __forceinline__ void kc_ldmatrix_x4_at(uint32_t r[4], uint32_t s)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}
__device__ __forceinline__ void kc_ldmatrix_x4_trans_at(uint32_t r[4], uint32_t s)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}
__device__ __forceinline__ void kc_ldmatrix_x4(uint32_t r[4], const void *smem)
{
    kc_ldmatrix_x4_at(r, (uint32_t)__cvta_generic_to_shared(smem));
}
__device__ __forceinline__ void kc_ldmatrix_x4_trans(uint32_t r[4], const void *smem)
{
    kc_ldmatrix_x4_trans_at(r, (uint32_t)__cvta_generic_to_shared(smem));
}

/* c[16 x 8] += a[16 x 16] b[16 x 8] (fragments in the mma.sync layout); pack: two floats rounded to
 * the storage type, low half first (the A-fragment layout of a probability pair) */
template <typename T> struct kc_mma;
template <> struct kc_mma<ksa_f16> {
    static __device__ __forceinline__ void run(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
    {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ uint32_t pack(float x, float y)
    {
        __half2 h = __floats2half2_rn(x, y);
        return *(uint32_t *)&h;
    }
};
template <> struct kc_mma<ksa_bf16> {
    static __device__ __forceinline__ void run(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
    {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ uint32_t pack(float x, float y)
    {
        __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
        return *(uint32_t *)&h;
    }
};

/* x, through an instruction the compiler cannot look into: a value computed once stays in its
 * register instead of being recomputed inside the loop that uses it */
__device__ __forceinline__ uint32_t kc_opaque_u32(uint32_t x)
{
    uint32_t y;
    asm volatile("mov.b32 %0, %1;\n" : "=r"(y) : "r"(x));
    return y;
}
__device__ __forceinline__ uint32_t kc_smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
/* *p where `take`, else 0: the zero is moved in first and the load is predicated, so the value is one
 * register written once. (As `take ? *p : 0` the compiler wrote the zero after the load, and that
 * write waited for the load's scoreboard, stalling the warp there.) */
__device__ __forceinline__ int kc_load_or_zero(const int *p, int take)
{
    int v;
    asm volatile("{\n .reg .pred q;\n setp.ne.s32 q, %2, 0;\n mov.b32 %0, 0;\n @q ld.global.b32 %0, [%1];\n}\n"
                 : "=r"(v)
                 : "l"(p), "r"(take));
    return v;
}
/* a hint that the 128-byte line holding p will be read soon: fetched into L2, nothing waits for it */
__device__ __forceinline__ void kc_prefetch_l2(const void *p) { asm volatile("prefetch.global.L2 [%0];\n" ::"l"(p)); }

/* thread-block clusters (sm_90; nothing below): a barrier over every thread of the cluster whose
 * arrival releases this CTA's shared-memory writes and whose wait acquires the others', and a load
 * of the float at shared address `saddr` of the cluster's CTA `rank` (distributed shared memory) */
__device__ __forceinline__ void kc_cluster_sync(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
#endif
}
/* the cluster barrier before a CTA exits, when the CTA's distributed-shared-memory loads have all been
 * consumed (their values used) and nothing it wrote needs to be seen by the others: a relaxed arrival,
 * so no memory fence (a release arrival waits for this CTA's global stores to reach L2 first) */
__device__ __forceinline__ void kc_cluster_exit_sync(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.relaxed.aligned;\nbarrier.cluster.wait.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ float kc_cluster_ld_f32(uint32_t saddr, int rank)
{
    float v = 0.f;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    uint32_t remote;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(saddr), "r"(rank));
    asm volatile("ld.shared::cluster.f32 %0, [%1];\n" : "=f"(v) : "r"(remote)); /* ordered by the barrier's clobber */
#else
    (void)saddr;
    (void)rank;
#endif
    return v;
}
/* spin until the mbarrier's phase of the given parity has completed (sm_90; nothing below) */
__device__ __forceinline__ void kc_bar_wait(uint64_t *bar, int parity)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    uint32_t done = 0;
    const uint32_t a = kc_smem_u32(bar);
    do {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(a), "r"(parity)
                     : "memory");
    } while (!done);
#endif
}

/* the running maximum m (raw scores) raised to mx: the log2-domain base of the new exponentials and
 * the factor alpha that rescales what was summed under the old maximum (m -inf: 0) */
__device__ __forceinline__ void kc_softmax_rebase(float &m, float mx, float scale, float &base, float &alpha)
{
    const float mn = fmaxf(m, mx);
    base = mn == KG_NEG_INF ? 0.f : mn * scale;
    alpha = ksa_exp2(fmaf(m, scale, -base));
    m = mn;
}
/* One online-softmax step on an m16n8 accumulator fragment, where a row's 8 columns sit in a quad of
 * 4 lanes and a lane holds two rows (hf = 0, 1). mx: the lane's maxima of the new scores, reduced
 * here over the quad; m: the running row maxima, raised to include them. Scores, and so m and mx,
 * are in the units that `scale` (> 0) takes to the log2 domain: 1 for scores already scaled, the
 * softmax scale times log2(e) for raw ones (then the caller's exponent is one FFMA,
 * exp2(s * scale - base)). Returns base, what to subtract in the log2 domain before exp2 (the new
 * maximum times scale, or 0 for a row with no finite score yet, so exp2 gives 0 instead of NaN),
 * and alpha = exp2(old m * scale - base), the factor for the old sums (exactly 1 when m did not
 * move). kc_quad_softmax_half does it for one of the lane's two rows (a caller that knows the
 * other row is padding skips it), kc_quad_softmax_step for both; kc_softmax_rebase is its step after
 * the quad's maximum (the sm_90a lse pass, whose statistics are per lane, calls it alone). */
__device__ __forceinline__ void kc_quad_softmax_half(float &m, float &mx, float scale, float &base, float &alpha)
{
    mx = fmaxf(mx, ksa_shfl_xor(mx, 1));
    mx = fmaxf(mx, ksa_shfl_xor(mx, 2));
    kc_softmax_rebase(m, mx, scale, base, alpha);
}
__device__ __forceinline__ void kc_quad_softmax_step(float m[2], float mx[2], float scale, float base[2], float alpha[2])
{
#pragma unroll
    for (int hf = 0; hf < 2; hf++) kc_quad_softmax_half(m[hf], mx[hf], scale, base[hf], alpha[hf]);
}

/* Prefill CTAs own KC_PREFILL_ROWS MMA rows each (a row is a (query, head of the GQA group) pair,
 * query-major), or dense_cta_rows (192) in the three-consumer dense variant of the sm_90a flash
 * kernel. Dense: the chunks of the flattened rows of a sequence; sparse: rows_per_cta_chunks chunks
 * of KC_PREFILL_ROWS per query tile, so a CTA's rows share one index set. The grid's x extent: */
__host__ __device__ inline int kc_dense_rows(const ksa_gpu_args &a) { return a.dense_cta_rows > 0 ? a.dense_cta_rows : KC_PREFILL_ROWS; }
__host__ __device__ inline int kc_prefill_chunks(const ksa_gpu_args *a)
{
    const int rows = kc_dense_rows(*a);
    return a->sparse ? a->n_tiles * a->rows_per_cta_chunks : (a->max_lq * a->group + rows - 1) / rows;
}
/* the rows [row_begin, row_end) of chunk `chunk` of a sequence with lq queries and, when sparse, their
 * query tile (-1 when dense); empty when the sequence is shorter than the grid */
__device__ __forceinline__ void kc_chunk_rows(const ksa_gpu_args &a, int lq, int chunk, int &tile, int &row_begin, int &row_end)
{
    const int G = a.group;
    if (!a.sparse) {
        const int rows = kc_dense_rows(a);
        tile = -1;
        row_begin = chunk * rows;
        row_end = min(row_begin + rows, lq * G);
    } else {
        const int cpt = a.rows_per_cta_chunks;
        tile = chunk / cpt;
        const int c = chunk % cpt, T = a.tile_size;
        const int tb = tile * T * G, te = min((tile + 1) * T, lq) * G;
        row_begin = tb + c * KC_PREFILL_ROWS;
        row_end = min(row_begin + KC_PREFILL_ROWS, te);
    }
}

/* byte offset of 16-byte chunk ch of row r in a [rows][D] tile stored as D/64 column blocks of
 * [rows][64] 16-bit elements, each row 128 bytes with the 128-byte swizzle (chunk ^= row % 8) that
 * TMA writes and ldmatrix / the wgmma descriptors read; the tile base is 1024-byte aligned */
__device__ __forceinline__ uint32_t kc_sw128(int rows, int r, int ch)
{
    return (uint32_t)((ch >> 3) * rows * 128 + r * 128 + (((ch & 7) ^ (r & 7)) << 4));
}

/* ------------------------------------------------------------------ mbarrier, TMA, fences (sm_90) */
__device__ __forceinline__ void kc_bar_init(uint64_t *bar, int count)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(kc_smem_u32(bar)), "r"(count) : "memory");
#endif
}
/* the barrier initialisations of this thread become visible to the other threads and the TMA unit */
__device__ __forceinline__ void kc_fence_bar_init(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void kc_bar_arrive(uint64_t *bar)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(kc_smem_u32(bar)) : "memory");
#endif
}
/* the executing thread's cp.async copies issued so far arrive on bar when they complete */
__device__ __forceinline__ void kc_bar_arrive_cpasync(uint64_t *bar)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(kc_smem_u32(bar)) : "memory");
#endif
}
/* arrive and expect `bytes` more of asynchronous (TMA) writes before the phase completes */
__device__ __forceinline__ void kc_bar_expect_tx(uint64_t *bar, uint32_t bytes)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(kc_smem_u32(bar)), "r"(bytes) : "memory");
#endif
}
/* TMA: the box at coordinates (c0, c1, c2, c3) of a 4-d tensor map into shared memory, completing on bar */
__device__ __forceinline__ void kc_tma_load_4d(void *dst, const CUtensorMap *map, int c0, int c1, int c2, int c3, uint64_t *bar)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(
                     kc_smem_u32(dst)),
                 "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(kc_smem_u32(bar))
                 : "memory");
#endif
}
/* generic-proxy accesses to shared memory (cp.async writes, ldmatrix reads) are ordered before
 * later async-proxy ones (wgmma reads, TMA writes) */
__device__ __forceinline__ void kc_fence_async_smem(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

#endif /* KSA_CUDA_PTX_CUH */
