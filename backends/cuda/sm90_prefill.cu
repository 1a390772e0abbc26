/* sm90_prefill.cu: Hopper (sm_90a) prefill kernels: warpgroup MMA (wgmma) with a warp-specialised
 * pipeline, for the dense causal pass and the sparse pass (the Kascade tile's selected keys + its own
 * keys) in k90_prefill, and the lse-only pass (k90_lse) and the pooled-score pass (k90_pooled) of
 * anchor layers. Same contract and argument block (ksa_gpu_args) as the mma.sync kernels of
 * flash_prefill.cu, which stay the sm_80 path and the fallback for views that are not 16-byte
 * aligned.
 *
 * One CTA = 3 warpgroups (384 threads) owning up to 128 MMA rows (a row is a (query, head of the
 * GQA group) pair, as in flash_prefill.cu; dense calls at head_dim 64 / 128 with block_q=192: 4
 * warpgroups, 512 threads, 192 rows, see k90_cfg):
 *  - warpgroup 0, the producer, fills 128-byte-swizzled shared memory: Q with cp.async; K / V
 *    tiles of BN keys with the tensor memory accelerator (TMA: one thread issues a box copy that
 *    completes on an mbarrier) when the keys are a contiguous run of a uniform-length batch, else
 *    (gathered through the index tensor, paged, ragged) with 16-byte cp.async whose completion
 *    arrives on the tile's mbarrier by itself (cp.async.mbarrier.arrive.noinc), so the producer
 *    never waits for data, only for free buffers. K and V have separate rings, so a K tile is freed
 *    as soon as its scores exist and a V tile after its P V product.
 *  - warpgroups 1 and 2 (and 3), the consumers, own 64 rows each: S = Q K^T with wgmma (both
 *    operands in shared memory), online softmax in registers, O += P V with wgmma (P from
 *    registers). The next tile's Q K^T is issued before the previous tile's P V (FlashAttention-3's
 *    intra-warpgroup order); ptxas still waits for both before the softmax unless
 *    k90_pin_before_wait keeps the softmax ahead of the second wait, which only D 256 does (measured
 *    faster there, 2-4% slower at D 64 and D 128).
 *  - the lse-only pass (k90_lse) and the pooled-score pass (k90_pooled: the candidate keys of one
 *    query tile, exp2(s - lse2) summed over the tile's rows per key) have no P V; they are kernels
 *    of their own with four consumer warpgroups over K units (see "the unit kernels").
 * Register budget: setmaxnreg gives the producer 56 and each consumer thread 224 registers (40 / 232
 * made the gathering producer spill its row offsets: L1TEX stalls in the reuse pass); the unit
 * kernels' 640 threads get 56 and 104 (K90_UNIT_*). */
#include <float.h>
#include <stdio.h>
#include <string.h>

#include <type_traits>

#include <cuda.h>
#include <cudaTypedefs.h>

#include "ksa_cuda.h"
#include "ksa_gpu_common.cuh"
#include "ksa_cuda_ptx.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define KC_SM90_BODY 1
#include "sm90_wgmma.cuh"
#endif

/* the unit kernels (k90_lse, k90_pooled): consumer warpgroups and the setmaxnreg budgets of the
 * producer and consumer threads. 640 threads launch with 96 registers each (65536 / 640, in steps of
 * 8), and setmaxnreg only moves registers between the CTA's warps: 128 x 56 + 512 x 104 must fit in
 * 640 x 96, or the consumers' increase waits forever. Four consumer warpgroups instead of three:
 * measured on the H200 (bench/NOTES.md, twenty-fifth session): lse pass -6.5%, pooled pass -3% at
 * L32K D128, anchor prefill -2..-5% */
constexpr int K90_UNIT_CW = 4;
constexpr int K90_UNIT_THREADS = 128 * (K90_UNIT_CW + 1);
constexpr int K90_UNIT_PREG = 56;
constexpr int K90_UNIT_CREG = 104;
static_assert(128 * K90_UNIT_PREG + 128 * K90_UNIT_CW * K90_UNIT_CREG <= (65536 / K90_UNIT_THREADS) / 8 * 8 * K90_UNIT_THREADS,
              "the unit kernels' setmaxnreg budgets exceed the registers the CTA launches with");

/* the flash kernel's shape: CW consumer warpgroups of 64 rows each. CW 2 everywhere by default; CW 3
 * (192 rows per CTA, FlashAttention-3's shape at head_dim 64: each K / V tile feeds 1.5x the rows)
 * is the dense `block_q=192` variant at head_dim 64 and 128 (built in at 64 on big grids, a tunable
 * at 128, where it measured slower), whose 512 threads launch with 128 registers each: setmaxnreg
 * gives the producer 32 and the consumers 160 (128 x 32 + 384 x 160 = 65536; with 152, ptxas
 * serialised the consumers' wgmma for want of registers) */
template <int D, int CW = 2> struct k90_cfg {
    static_assert(CW == 2 || (CW == 3 && D <= 128), "three consumer warpgroups only at head_dim 64 and 128");
    static constexpr int BM = 64 * CW;              /* MMA rows per CTA: CW consumer warpgroups x 64 */
    /* keys per K / V tile: 64 for three warpgroups at head_dim 128, whose 64 O accumulators leave room
     * in 160 registers for 32 S accumulators (with 96-key tiles ptxas serialised the wgmma) */
    static constexpr int BN = D > 128 || (CW == 3 && D == 128) ? 64 : 128;
    static constexpr int KS = D == 64 ? 4 : D == 128 ? 3 : 2; /* K ring buffers */
    static constexpr int VS = D == 64 ? 4 : 2;                /* V ring buffers */
    static constexpr int Q_BYTES = BM * D * 2;
    static constexpr int KV_BYTES = BN * D * 2;     /* one K or V tile */
    static constexpr int SMEM = 1024 + Q_BYTES + (KS + VS) * KV_BYTES; /* 1024: room to align the base */
    static constexpr int THREADS = 128 * (CW + 1);
    static constexpr int PREG = CW == 2 ? 56 : 32;  /* setmaxnreg: producer, consumers */
    static constexpr int CREG = CW == 2 ? 224 : 160;
    static_assert(128 * PREG + 128 * CW * CREG <= 65536, "the setmaxnreg budgets exceed the register file");
};

/* the pass kinds, for the helpers all three kernels share: FLASH is k90_prefill's, LSE k90_lse's and
 * POOL k90_pooled's */
enum { K90_FLASH = 0, K90_LSE = 1, K90_POOL = 2 };

/* device helpers: compiled only in the sm_90a pass (the kernel is an empty shell for sm_80) */
#if defined(KC_SM90_BODY)
/* wgmma shared-memory descriptor: start address, leading / stride byte offsets, 128-byte swizzle */
static __device__ __forceinline__ uint64_t k90_desc(uint32_t saddr, uint32_t lbo, uint32_t sbo)
{
    return (uint64_t)((saddr & 0x3FFFFu) >> 4) | ((uint64_t)((lbo >> 4) & 0x3FFFu) << 16) |
           ((uint64_t)((sbo >> 4) & 0x3FFFu) << 32) | (1ull << 62);
}

/* the same for the 128-byte-swizzled K-major tiles (leading byte offset 16, stride 1024), split in
 * its words: k90_desc_lo(a) + d is the low word of the tile at a + 16 d (the address field holds a
 * shared-memory address >> 4, under 2^14, so the sum never carries out of it), and k90_desc_sw128 puts
 * the constant high word on. The unit kernels step their k-slices this way: one add per descriptor
 * instead of the mask, shift and or of each k90_desc (measured on the H200, bench/NOTES.md,
 * twenty-sixth session: lse and pooled passes -2%, anchor prefill -1..-3%) */
static __device__ __forceinline__ uint32_t k90_desc_lo(uint32_t saddr) { return ((saddr & 0x3FFFFu) >> 4) | (1u << 16); }
static __device__ __forceinline__ uint64_t k90_desc_sw128(uint32_t lo) { return ((uint64_t)(0x40000000u | (1024u >> 4)) << 32) | lo; }

static __device__ __forceinline__ void k90_wgmma_fence(void) { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
static __device__ __forceinline__ void k90_wgmma_commit(void) { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> static __device__ __forceinline__ void k90_wgmma_wait(void)
{
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* keep the compiler from moving accesses of registers across an asynchronous wgmma */
template <int N> static __device__ __forceinline__ void k90_fence_regs(float (&r)[N])
{
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N> static __device__ __forceinline__ void k90_fence_regs(uint32_t (&r)[N][4])
{
#pragma unroll
    for (int i = 0; i < N; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) asm volatile("" : "+r"(r[i][e])::"memory");
}
/* ptxas hoists a wgmma wait above independent arithmetic that comes before it in the program: the
 * exponentials meant to run while this warpgroup's other product (the second 64-row half, or the
 * previous tile's P V) is on the tensor cores were scheduled after the wait (SASS: the two waits
 * back to back, every MUFU.EX2 after them). A shared-memory store stays ahead of the wait, so
 * storing a value that every exponential of the step feeds (the row sums) keeps the step before
 * it. slot: this consumer thread's 8 bytes of a scratch array nothing reads. Used where it measured
 * faster (bench/NOTES.md, twentieth session): the D 256 flash step (-4%); at D 64 / 128 the pinned
 * flash step was 2-4% slower and the lse pass did not move. (The pooled pass used it too until it
 * became k90_pooled, whose warpgroups have one product in flight and so one wait per step.) */
static __device__ __forceinline__ void k90_pin_before_wait(uint32_t slot, float x0, float x1)
{
    asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(slot), "f"(x0), "f"(x1) : "memory");
}
/* named barriers: 1 = the 128 producer threads; 2 = the unit kernels' 512 consumer threads (k90_lse's
 * merge, k90_pooled's -lse2 table); 3, 4 = k90_prefill's ping-pong turns */
static __device__ __forceinline__ void k90_producer_sync(void) { asm volatile("bar.sync 1, 128;\n" ::: "memory"); }
static __device__ __forceinline__ void k90_unit_consumer_sync(void) { asm volatile("bar.sync 2, %0;\n" ::"n"(128 * K90_UNIT_CW) : "memory"); }

/* rows and key list of a CTA: FLASH / LSE follow flash_prefill.cu's kc_cta_rows (dense: 128 rows
 * of the flattened (query, head) rows; sparse: the rows of one query tile); POOL: the rows of
 * query tile tile0 + blockIdx.x and its candidate keys 0 .. pos(tT) - 1 */
struct k90_work {
    int b, g, lq, lk, qrow0, krow0, row_begin, row_end, tile;
    int pos_shift, pos_min, pos_max;
    int nsel, own0, nkeys, ntiles;
    const int *idx;
};
template <int BN, int MODE>
static __device__ __forceinline__ int k90_setup(const ksa_gpu_args &a, k90_work &w, int tile0)
{
    w.b = blockIdx.z;
    w.g = blockIdx.y;
    w.lq = kg_lq(a, w.b);
    w.lk = kg_lk(a, w.b);
    w.qrow0 = kg_qrow0(a, w.b);
    w.krow0 = kg_krow0(a, w.b);
    const int G = a.group, T = a.tile_size;
    w.pos_shift = w.lk - w.lq;
    w.nsel = 0;
    w.own0 = 0;
    w.idx = NULL;
    if (MODE == K90_POOL) {
        w.tile = tile0 + (gridDim.x - 1 - blockIdx.x); /* the longest candidate lists start first */
        if (w.tile * T >= w.lq) return 0;
        const int start = w.pos_shift + w.tile * T; /* candidates j < start */
        if (start <= 0 || kg_tile_count(a, w.lq, w.lk, w.tile) >= start) return 0; /* every candidate is taken */
        w.row_begin = w.tile * T * G;
        w.row_end = min((w.tile + 1) * T, w.lq) * G;
        w.nkeys = start;
    } else {
        /* the longest key lists start first */
        kc_chunk_rows(a, w.lq, gridDim.x - 1 - blockIdx.x, w.tile, w.row_begin, w.row_end);
        if (w.row_begin >= w.row_end) return 0;
        w.pos_max = w.pos_shift + (w.row_end - 1) / G;
        if (a.sparse) {
            const int mg = a.head_map[w.g];
            w.own0 = w.pos_shift + w.tile * T;
            w.nsel = a.counts[(int64_t)w.b * a.cs0 + (int64_t)mg * a.cs1 + (int64_t)w.tile * a.cs2];
            w.idx = a.indices + (int64_t)w.b * a.is0 + (int64_t)mg * a.is1 + (int64_t)w.tile * a.is2;
            w.nkeys = w.nsel + (w.pos_max - w.own0 + 1);
        } else {
            w.nkeys = w.pos_max + 1;
        }
    }
    w.pos_min = w.pos_shift + w.row_begin / G;
    w.ntiles = (w.nkeys + BN - 1) / BN;
    return 1;
}

/* key index of list entry n (-1 past the end) */
template <int MODE> static __device__ __forceinline__ int k90_key(const ksa_gpu_args &a, const k90_work &w, int n)
{
    if (n >= w.nkeys) return -1;
    if (MODE == K90_POOL || !a.sparse) return n;
    return n < w.nsel ? w.idx[(int64_t)n * a.is3] : w.own0 + (n - w.nsel);
}

/* element offset of key j's row in K (which 0) or V (which 1) of this CTA's sequence and KV head
 * (the sequence's first key row read once, in k90_setup) */
static __device__ __forceinline__ int64_t k90_row_off(const ksa_gpu_args &a, const k90_work &w, int which, int j)
{
    const ksa_gpu_strides &s = which ? a.v_s : a.k_s;
    if (a.kv_layout == KSA_GPU_KV_PAGED) {
        const int pg = a.page_table[(int64_t)w.b * a.pt_s0 + (int64_t)(j / a.page_size) * a.pt_s1];
        return (int64_t)pg * s.page + (int64_t)(j % a.page_size) * s.token + (int64_t)w.g * s.head;
    }
    return (int64_t)w.b * s.batch + (int64_t)(w.krow0 + j) * s.token + (int64_t)w.g * s.head;
}

/* producer (cp.async path): the global addresses of one key's K and V rows in a tile (key j; NULL
 * past the list), one row per producer thread pt < BN */
template <int BN, int MODE>
static __device__ __forceinline__ void k90_tile_rows(const ksa_gpu_args &a, const k90_work &w, int j, const char **rk, const char **rv, int pt)
{
    if (pt < BN) {
        rk[pt] = j >= 0 ? (const char *)a.k + 2 * k90_row_off(a, w, 0, j) : NULL;
        if (MODE == K90_FLASH) rv[pt] = j >= 0 ? (const char *)a.v + 2 * k90_row_off(a, w, 1, j) : NULL;
    }
}

/* producer (cp.async path): copy the BN rows of a K or V tile whose addresses are in rows[] (NULL:
 * zeros) into the 128-byte-swizzled tile at shared address dst. Thread pt copies 16-byte piece
 * ch = pt % CH of rows r0 + RPP * i: the row addresses are read first, 8 at a time (independent
 * loads), and the swizzled position depends on i only through its parity (RPP is a multiple of 4),
 * so every destination is a base plus an immediate. FULL (every row present): no zero-fill test. */
template <int D, int BN, bool FULL>
static __device__ __forceinline__ void k90_copy_rows(const ksa_gpu_args &a, const char *const *rows, uint32_t dst, int pt)
{
    constexpr int CH = D / 8, RPP = 128 / CH, NR = BN / RPP;
    static_assert(RPP % 4 == 0 && BN % RPP == 0, "row mapping");
    const int ch = pt % CH, r0 = pt / CH;
    const uint32_t col = (uint32_t)(ch >> 3) * BN * 128 + (uint32_t)r0 * 128;
    const uint32_t sw0 = col + ((uint32_t)((ch & 7) ^ (r0 & 7)) << 4), sw1 = col + ((uint32_t)((ch & 7) ^ ((r0 + RPP) & 7)) << 4);
    constexpr int NB = NR < 8 ? NR : 8; /* addresses held at once (the producer has 56 or 32 registers) */
    static_assert(NR % NB == 0, "whole batches of row addresses");
#pragma unroll
    for (int i0 = 0; i0 < NR; i0 += NB) {
        const char *src[NB];
#pragma unroll
        for (int i = 0; i < NB; i++) src[i] = rows[r0 + RPP * (i0 + i)];
#pragma unroll
        for (int i = 0; i < NB; i++) {
            const int k = i0 + i;
            const uint32_t d = dst + ((k & 1) ? sw1 : sw0) + (uint32_t)k * RPP * 128;
            if constexpr (FULL) {
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d), "l"(src[i] + ch * 16));
            } else {
                const char *p = src[i];
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d),
                             "l"(p ? (const void *)(p + ch * 16) : a.zero_src), "r"(p ? 16 : 0));
            }
        }
    }
}
template <int D, int BN>
static __device__ __forceinline__ void k90_copy_tile(const ksa_gpu_args &a, const char *const *rows, char *tile, int pt, bool full)
{
    const uint32_t dst = (uint32_t)__cvta_generic_to_shared(tile);
    if (full) k90_copy_rows<D, BN, true>(a, rows, dst, pt);
    else k90_copy_rows<D, BN, false>(a, rows, dst, pt);
}

/* a row's log2-domain lse: natural-log lse to the caller's tensor, log2 lse to the workspace (the
 * pooled pass reads it) */
static __device__ __forceinline__ void k90_store_lse(const ksa_gpu_args &a, const k90_work &w, int i, int h, float lse2)
{
    if (a.lse) a.lse[(int64_t)w.b * a.lse_sb + (int64_t)h * a.lse_sh + (int64_t)(w.qrow0 + i) * a.lse_si] = lse2 * KG_LN2;
    if (a.lse_ws) kg_lse_ws_at(a, w.b, h, i) = lse2;
}

/* producer: the CTA's BM Q rows (zero past its last row) into 128-byte-swizzled shared memory with
 * 16-byte cp.async, producer thread pt of 128; the caller arrives on Q's barrier */
template <int D, int BM = KC_PREFILL_ROWS>
static __device__ __forceinline__ void k90_load_q(const ksa_gpu_args &a, const k90_work &w, char *sQ, int pt)
{
    constexpr int CH = D / 8;
    const int G = a.group;
    const uint16_t *q = (const uint16_t *)a.q;
    for (int c = pt; c < BM * CH; c += 128) {
        const int r = c / CH, ch = c % CH, rr = w.row_begin + r;
        const uint16_t *src = (const uint16_t *)a.zero_src;
        if (rr < w.row_end) {
            const int i = rr / G, h = w.g * G + rr % G;
            src = q + (int64_t)w.b * a.q_s.batch + (int64_t)(w.qrow0 + i) * a.q_s.token + (int64_t)h * a.q_s.head + ch * 8;
        }
        kg_copy16(sQ + kc_sw128(BM, r, ch), src, rr < w.row_end ? 16 : 0);
    }
}

/* producer: fill the free ring slot dst with the BN keys of tile n of K or V, completing on its full
 * barrier: a TMA box copy through tm issued by thread 0 (it expects the bytes), or 16-byte cp.async
 * by all 128 producer threads from the row addresses rows[] (arriving by themselves) */
template <int D, int BN>
static __device__ __forceinline__ void k90_fill_slot(const ksa_gpu_args &a, const k90_work &w, const CUtensorMap *tm, int tma, char *dst,
                                                     uint64_t *full, const char *const *rows, int n, int pt)
{
    if (tma) {
        if (pt == 0) {
            kc_bar_expect_tx(full, BN * D * 2);
#pragma unroll
            for (int cb = 0; cb < D / 64; cb++) kc_tma_load_4d(dst + cb * BN * 128, tm, cb * 64, w.g, w.krow0 + n * BN, w.b, full);
        }
    } else {
        k90_copy_tile<D, BN>(a, rows, dst, pt, (n + 1) * BN <= w.nkeys);
        kc_bar_arrive_cpasync(full);
    }
}

/* consumer, list entries n0 .. n0 + BN - 1 of a 64-row half: an entry is visible to a row when
 * n < vis_all (the selected keys) or n <= vis_lim[row]. k90_all_visible: every row sees the tile
 * whole; k90_visible: accumulator element i of this lane is visible (its entry n, its row hf) */
template <int BN> static __device__ __forceinline__ bool k90_all_visible(const ksa_gpu_args &a, const k90_work &w, int n0)
{
    return a.sparse ? n0 + BN <= w.nsel : n0 + BN - 1 <= w.pos_min;
}
static __device__ __forceinline__ bool k90_visible(int n0, int i, int lane, int vis_all, const int (&vis_lim)[2])
{
    const int n = n0 + (i >> 2) * 8 + (lane % 4) * 2 + (i & 1), hf = (i >> 1) & 1;
    return n < vis_all || n <= vis_lim[hf];
}

/* consumer: mask a 64-row half's scores of list entries n0 .. (a tile every row sees whole is left
 * as it is) and, in the same loop, take the lane's maxima of its two rows into mx */
template <int BN, int NS>
static __device__ __forceinline__ void k90_mask_max(const ksa_gpu_args &a, const k90_work &w, float (&s)[NS], int n0, int vis_all,
                                                    const int (&vis_lim)[2], int lane, float (&mx)[2])
{
    mx[0] = KG_NEG_INF;
    mx[1] = KG_NEG_INF;
    if (k90_all_visible<BN>(a, w, n0)) {
#pragma unroll
        for (int i = 0; i < NS; i++) mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], s[i]);
    } else {
#pragma unroll
        for (int i = 0; i < NS; i++) {
            const float x = k90_visible(n0, i, lane, vis_all, vis_lim) ? s[i] : KG_NEG_INF;
            s[i] = x;
            mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], x);
        }
    }
}

#endif /* KC_SM90_BODY */

/* the flash pass (dense or sparse); tma: K / V tiles by TMA through tmK / tmV (dense keys of a
 * uniform contiguous batch) */
template <int D, typename T, int CW>
__global__ void __launch_bounds__(k90_cfg<D, CW>::THREADS, 1)
    k90_prefill(const __grid_constant__ ksa_gpu_args a, const __grid_constant__ CUtensorMap tmK, const __grid_constant__ CUtensorMap tmV,
                int tma)
{
#if defined(KC_SM90_BODY)
    using C = k90_cfg<D, CW>;
    constexpr int MODE = K90_FLASH;
    constexpr int BM = C::BM, BN = C::BN, KS = C::KS, VS = C::VS;
    extern __shared__ __align__(16) unsigned char k90_smem_raw[];
    __shared__ __align__(8) uint64_t barQ, barFullK[KS], barEmptyK[KS], barFullV[VS], barEmptyV[VS];
    __shared__ const char *rowK[3][BN], *rowV[3][BN]; /* cp.async path: row addresses of 3 key tiles */
    __shared__ __align__(8) float2 pinSlot[128 * CW]; /* k90_pin_before_wait's stores, one per consumer thread */

    k90_work w;
    if (!k90_setup<BN, MODE>(a, w, 0)) return;
    const int G = a.group;
    char *smem = (char *)(((uintptr_t)k90_smem_raw + 1023) & ~(uintptr_t)1023);
    char *sQ = smem;
    char *sK = sQ + C::Q_BYTES;          /* [KS][KV_BYTES] */
    char *sV = sK + KS * C::KV_BYTES;    /* [VS][KV_BYTES] */

    if (threadIdx.x == 0) {
        /* full barriers: one expect_tx arrival (TMA) or the 128 producer threads' cp.async arrivals;
         * empty barriers: lane 0 of each of the 4 x CW consumer warps */
        kc_bar_init(&barQ, 128);
        for (int s = 0; s < KS; s++) {
            kc_bar_init(&barFullK[s], tma ? 1 : 128);
            kc_bar_init(&barEmptyK[s], 4 * CW);
        }
        for (int s = 0; s < VS; s++) {
            kc_bar_init(&barFullV[s], tma ? 1 : 128);
            kc_bar_init(&barEmptyV[s], 4 * CW);
        }
        kc_fence_bar_init();
    }
    __syncthreads();

    const int wg = threadIdx.x / 128;
    if (wg == 0) {
        /* ---------------------------------------------------------- producer */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(C::PREG));
        const int pt = threadIdx.x;
        k90_load_q<D, BM>(a, w, sQ, pt);
        kc_bar_arrive_cpasync(&barQ);
        /* load K tile n / V tile n once its buffer is free */
        auto load_k = [&](int n) {
            kc_bar_wait(&barEmptyK[n % KS], ((n / KS) & 1) ^ 1);
            k90_fill_slot<D, BN>(a, w, &tmK, tma, sK + (n % KS) * C::KV_BYTES, &barFullK[n % KS], rowK[n % 3], n, pt);
        };
        auto load_v = [&](int n) {
            kc_bar_wait(&barEmptyV[n % VS], ((n / VS) & 1) ^ 1);
            k90_fill_slot<D, BN>(a, w, &tmV, tma, sV + (n % VS) * C::KV_BYTES, &barFullV[n % VS], rowV[n % 3], n, pt);
        };
        if (tma && pt != 0) {
            asm volatile("cp.async.wait_all;\n" ::: "memory");
            return;
        }
        /* the key of this thread's row in the next tile, read one tile ahead: a gathered list's index
         * load is then in flight while the producer waits for buffers and issues the copies */
        int key_next = -1;
        if (!tma) {
            k90_tile_rows<BN, MODE>(a, w, pt < BN ? k90_key<MODE>(a, w, pt) : -1, rowK[0], rowV[0], pt);
            key_next = pt < BN ? k90_key<MODE>(a, w, BN + pt) : -1;
            k90_producer_sync();
        }
        load_k(0);
        for (int j = 0; j < w.ntiles; j++) {
            const bool next = j + 1 < w.ntiles;
            if (!tma && next) {
                const int key_after = pt < BN ? k90_key<MODE>(a, w, (j + 2) * BN + pt) : -1; /* tile j + 2 */
                /* offsets of tile j + 1: slot (j + 1) % 3 was last read for V_{j-2}, before the last sync */
                k90_tile_rows<BN, MODE>(a, w, key_next, rowK[(j + 1) % 3], rowV[(j + 1) % 3], pt);
                key_next = key_after;
                k90_producer_sync();
            }
            if (next) load_k(j + 1);
            load_v(j);
        }
        asm volatile("cp.async.wait_all;\n" ::: "memory");
        return;
    }

    /* -------------------------------------------------------------- consumers */
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(C::CREG));
    const int cw = wg - 1;                      /* consumer warpgroup: FLASH rows cw*64 .. cw*64+63 */
    const int warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
    constexpr int NS = BN / 2;                  /* S accumulator floats per thread */
    constexpr int NO = D / 2;                   /* O accumulator floats per thread */
    const float sl2 = a.scale_log2;

    /* list entry n is visible to a row when n < vis_all (selected keys) or n <= vis_lim[row] (dense:
     * the causal limit; sparse: the tile's own keys up to the row's position) */
    const int vis_all = a.sparse ? w.nsel : 0;
    int vis_lim[2];
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        const int rr = w.row_begin + cw * 64 + warp * 16 + lane / 4 + hf * 8;
        const int ps = rr < w.row_end ? w.pos_shift + rr / G : -1;
        vis_lim[hf] = a.sparse ? (ps < 0 ? -1 : ps - w.own0 + w.nsel) : ps;
    }
    const uint32_t qbase = kc_smem_u32(sQ) + cw * 64 * 128;
    const uint32_t kbase = kc_smem_u32(sK), vbase = kc_smem_u32(sV);
    const uint32_t pin = kc_smem_u32(&pinSlot[threadIdx.x - 128]); /* consumers: threads 128..383 */

    float m[2] = {KG_NEG_INF, KG_NEG_INF}, l[2] = {0.f, 0.f};
    float o[NO];
#pragma unroll
    for (int i = 0; i < NO; i++) o[i] = 0.f;
    uint32_t p[BN / 16][4];

    /* S = Q K_j^T (issued, not waited for) */
    auto issue_qk = [&](float (&s)[NS], int j) {
        const uint32_t kt = kbase + (j % KS) * C::KV_BYTES;
        k90_wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            const uint32_t off = (kk % 4) * 32; /* k16 step inside a 64-column block */
            const uint64_t da = k90_desc(qbase + (kk / 4) * BM * 128 + off, 16, 1024);
            const uint64_t db = k90_desc(kt + (kk / 4) * BN * 128 + off, 16, 1024);
            kc_wgmma_ss<BN, T>::run(s, da, db, kk > 0);
        }
        k90_wgmma_commit();
    };
    /* O += P V_j (P from registers); the first product overwrites O */
    auto issue_pv = [&](int j) {
        const uint32_t vt = vbase + (j % VS) * C::KV_BYTES;
        k90_wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < BN / 16; ks++) {
            const uint64_t db = k90_desc(vt + ks * 16 * 128, BN * 128, 1024);
            kc_wgmma_rs<D, T>::run(o, p[ks], db, j > 0 || ks > 0);
        }
        k90_wgmma_commit();
    };
    /* mask, online softmax of tile j's scores; returns the factor that rescales O. The running max m
     * is kept in raw scores and the scale folded into the exponent's argument (one FFMA per score
     * instead of a multiply and a subtraction): the passes are issue-bound */
    auto softmax = [&](float (&s)[NS], int j, float (&m)[2], float (&l)[2], const int (&vis_lim)[2], float (&alpha)[2]) {
        float mx[2];
        k90_mask_max<BN>(a, w, s, j * BN, vis_all, vis_lim, lane, mx);
        /* m and mx are raw scores (scale_log2 > 0 keeps the order); base is in the log2 domain, one per
         * row (P V needs it) */
        float base[2];
        kc_quad_softmax_step(m, mx, sl2, base, alpha);
        float sum[2] = {0.f, 0.f};
#pragma unroll
        for (int i = 0; i < NS; i++) {
            const float pv = ksa_exp2(fmaf(s[i], sl2, -base[(i >> 1) & 1]));
            s[i] = pv;
            sum[(i >> 1) & 1] += pv;
        }
#pragma unroll
        for (int hf = 0; hf < 2; hf++) l[hf] = l[hf] * alpha[hf] + sum[hf];
    };
    auto to_p = [&](const float (&s)[NS]) {
#pragma unroll
        for (int ks = 0; ks < BN / 16; ks++) {
            p[ks][0] = kc_mma<T>::pack(s[(2 * ks) * 4 + 0], s[(2 * ks) * 4 + 1]);
            p[ks][1] = kc_mma<T>::pack(s[(2 * ks) * 4 + 2], s[(2 * ks) * 4 + 3]);
            p[ks][2] = kc_mma<T>::pack(s[(2 * ks + 1) * 4 + 0], s[(2 * ks + 1) * 4 + 1]);
            p[ks][3] = kc_mma<T>::pack(s[(2 * ks + 1) * 4 + 2], s[(2 * ks + 1) * 4 + 3]);
        }
    };
    auto release = [&](uint64_t *bar) {
        __syncwarp();
        if (lane == 0) kc_bar_arrive(bar);
    };
    auto wait_k = [&](int j) {
        kc_bar_wait(&barFullK[j % KS], (j / KS) & 1);
        if (!tma) kc_fence_async_smem();
    };
    auto wait_v = [&](int j) {
        kc_bar_wait(&barFullV[j % VS], (j / VS) & 1);
        if (!tma) kc_fence_async_smem();
    };

    kc_bar_wait(&barQ, 0);
    kc_fence_async_smem();
    {
        /* ping-pong (a.pingpong): the two consumer warpgroups take turns issuing their products
         * (named barriers 3 and 4), so one's softmax runs while the other's GEMMs use the tensor cores;
         * warpgroup 0 goes first, and each passes the turn after every issue point but warpgroup 1's last.
         * Two consumer warpgroups only: three run free */
        const bool pp = CW == 2 && a.pingpong;
        auto turn_wait = [&]() {
            if (pp) asm volatile("bar.sync %0, 256;\n" ::"r"(3 + cw) : "memory");
        };
        auto turn_pass = [&](bool last) {
            if (pp && !(last && cw == 1)) asm volatile("bar.arrive %0, 256;\n" ::"r"(3 + (cw ^ 1)) : "memory");
        };
        if (pp && cw == 1) asm volatile("bar.arrive 3, 256;\n" ::: "memory");
        {
            float s[NS];
            float alpha[2];
            wait_k(0);
            turn_wait();
            issue_qk(s, 0);
            turn_pass(false);
            k90_wgmma_wait<0>();
            k90_fence_regs(s);
            release(&barEmptyK[0]);
            softmax(s, 0, m, l, vis_lim, alpha);
            to_p(s);
        }
        for (int j = 1; j < w.ntiles; j++) {
            float s[NS];
            float alpha[2];
            wait_k(j);
            wait_v(j - 1);
            turn_wait();
            issue_qk(s, j);
            /* no register fence on o here: a non-wgmma definition of o while Q K^T is in flight makes
             * ptxas serialise every wgmma (C7515); the P V asm's operands order it after the rescale */
            issue_pv(j - 1);
            turn_pass(false);
            k90_wgmma_wait<1>();
            k90_fence_regs(s);
            release(&barEmptyK[j % KS]);
            softmax(s, j, m, l, vis_lim, alpha);
            if constexpr (D == 256) k90_pin_before_wait(pin, l[0], l[1]);
            k90_wgmma_wait<0>();
            k90_fence_regs(o);
            k90_fence_regs(p);
            release(&barEmptyV[(j - 1) % VS]);
#pragma unroll
            for (int i = 0; i < NO; i++) o[i] *= alpha[(i >> 1) & 1];
            to_p(s);
        }
        const int j = w.ntiles - 1;
        wait_v(j);
        turn_wait();
        issue_pv(j);
        turn_pass(true);
        k90_wgmma_wait<0>();
        k90_fence_regs(o);
        release(&barEmptyV[j % VS]);
    }

    /* ---------------------------------------------------------- epilogue (o, lse) */
    {
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            float lt = l[hf];
            lt += ksa_shfl_xor(lt, 1);
            lt += ksa_shfl_xor(lt, 2);
            const int rr = w.row_begin + cw * 64 + warp * 16 + lane / 4 + hf * 8;
            if (rr >= w.row_end) continue;
            const int i = rr / G, h = w.g * G + rr % G;
            if (a.o) {
                const float inv = lt != 0.f ? 1.f / lt : 0.f; /* NaN (a NaN row) stays NaN */
                T *op = (T *)a.o + (int64_t)w.b * a.o_s.batch + (int64_t)(w.qrow0 + i) * a.o_s.token + (int64_t)h * a.o_s.head;
                if (((uintptr_t)op & 3) == 0) {
#pragma unroll
                    for (int nb = 0; nb < NO / 4; nb++) {
                        const int d = nb * 8 + (lane % 4) * 2;
                        *(uint32_t *)(op + d) = kc_mma<T>::pack(o[nb * 4 + hf * 2] * inv, o[nb * 4 + hf * 2 + 1] * inv);
                    }
                } else {
#pragma unroll
                    for (int nb = 0; nb < NO / 4; nb++) {
                        const int d = nb * 8 + (lane % 4) * 2;
                        op[d] = ksa_from_float<T>(o[nb * 4 + hf * 2] * inv);
                        op[d + 1] = ksa_from_float<T>(o[nb * 4 + hf * 2 + 1] * inv);
                    }
                }
            }
            if (lane % 4 == 0) {
                const float lse2 = lt != 0.f ? m[hf] * sl2 + ksa_log2(lt) : KG_NEG_INF;
                k90_store_lse(a, w, i, h, lse2);
            }
        }
    }
#endif
}

/* ------------------------------------------------------------------ the unit kernels */
/* k90_pooled and k90_lse: one producer warpgroup and K90_UNIT_CW (4) consumer warpgroups; K arrives in units
 * of BN keys into a ring of KS slots, unit n in slot n % KS; consumer warpgroup c takes units c,
 * c + CW, ..., so with KS a multiple of CW every slot has one consumer, whose parity waits can never
 * see a phase of another warpgroup's units. */

/* the producer warpgroup: Q rows (zero past the CTA's last row) with cp.async, then the K units once
 * their slots are free (TMA by thread 0, or 16-byte cp.async by all 128 threads for gathered, paged
 * and ragged keys, the row offsets read one unit ahead) */
#if defined(KC_SM90_BODY)
template <int D, int BN, int KS, int MODE>
static __device__ __forceinline__ void k90_unit_producer(const ksa_gpu_args &a, const k90_work &w, const CUtensorMap *tmK, int tma, char *sQ,
                                                         char *sK, uint64_t *barQ, uint64_t *barFull, uint64_t *barEmpty,
                                                         const char *(*rowK)[BN])
{
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(K90_UNIT_PREG));
    const int pt = threadIdx.x;
    k90_load_q<D>(a, w, sQ, pt);
    kc_bar_arrive_cpasync(barQ);
    auto load_k = [&](int n) {
        kc_bar_wait(&barEmpty[n % KS], ((n / KS) & 1) ^ 1);
        k90_fill_slot<D, BN>(a, w, tmK, tma, sK + (n % KS) * (BN * D * 2), &barFull[n % KS], rowK[n % 3], n, pt);
    };
    if (tma && pt != 0) {
        asm volatile("cp.async.wait_all;\n" ::: "memory");
        return;
    }
    int key_next = -1;
    if (!tma) {
        k90_tile_rows<BN, MODE>(a, w, pt < BN ? k90_key<MODE>(a, w, pt) : -1, rowK[0], NULL, pt);
        key_next = pt < BN ? k90_key<MODE>(a, w, BN + pt) : -1;
        k90_producer_sync();
    }
    load_k(0);
    for (int j = 0; j + 1 < w.ntiles; j++) {
        if (!tma) {
            const int key_after = pt < BN ? k90_key<MODE>(a, w, (j + 2) * BN + pt) : -1;
            /* slot (j + 1) % 3 was last read for unit j - 2, before the last sync */
            k90_tile_rows<BN, MODE>(a, w, key_next, rowK[(j + 1) % 3], NULL, pt);
            key_next = key_after;
            k90_producer_sync();
        }
        load_k(j + 1);
    }
    asm volatile("cp.async.wait_all;\n" ::: "memory");
}

/* the unit kernels' start: the barriers (full: one expect_tx arrival by TMA or the producer's 128
 * cp.async arrivals; empty: the owning warpgroup's 4 warps), then the producer warpgroup loads the
 * CTA's Q and K units and returns true; the consumers get their registers and false */
template <int D, int BN, int KS, int MODE>
static __device__ __forceinline__ bool k90_unit_start(const ksa_gpu_args &a, const k90_work &w, const CUtensorMap *tmK, int tma, char *sQ,
                                                      char *sK, uint64_t *barQ, uint64_t *barFull, uint64_t *barEmpty,
                                                      const char *(*rowK)[BN])
{
    if (threadIdx.x == 0) {
        kc_bar_init(barQ, 128);
        for (int s = 0; s < KS; s++) {
            kc_bar_init(&barFull[s], tma ? 1 : 128);
            kc_bar_init(&barEmpty[s], 4);
        }
        kc_fence_bar_init();
    }
    __syncthreads();
    if (threadIdx.x < 128) {
        k90_unit_producer<D, BN, KS, MODE>(a, w, tmK, tma, sQ, sK, barQ, barFull, barEmpty, rowK);
        return true;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(K90_UNIT_CREG));
    return false;
}
#endif /* KC_SM90_BODY */

/* ------------------------------------------------------------------ the pooled pass */
/* POOL with four consumer warpgroups (see the unit kernels above): per candidate key of a query tile, exp2(s - lse2) summed over
 * the tile's rows, computed as S^T = K Q^T (the keys are the wgmma's M rows, A = K straight from its
 * ring; the tile's rows are its N columns, B = Q; N 64 when the tile has at most 64 rows), so a
 * key's sum is the thread's own columns plus two quad exchanges. K arrives in 64-key units, one
 * product each; consumer warpgroup c takes units c, c + 4, ... with one product in flight, and the
 * four warpgroups (4 warps per scheduler besides the producer's) hide each other's product waits
 * and exponential latencies. The candidates all lie before the tile's first query: no mask. */
template <int D> struct k90_pool_cfg {
    static constexpr int BM = KC_PREFILL_ROWS;       /* the tile's rows (the product's N at most) */
    static constexpr int BN = 64;                    /* keys per K unit: one m64 product */
    static constexpr int CW = K90_UNIT_CW;           /* consumer warpgroups */
    static constexpr int KS = CW * (D == 64 ? 3 : D == 128 ? 2 : 1); /* K buffers: a fixed set per warpgroup */
    static constexpr int Q_BYTES = BM * D * 2;
    static constexpr int KV_BYTES = BN * D * 2;
    static constexpr int SMEM = 1024 + Q_BYTES + KS * KV_BYTES;
    static constexpr int THREADS = 128 * (CW + 1);
    static_assert(KS % CW == 0, "each K slot belongs to one consumer warpgroup");
};

template <int D, typename T>
__global__ void __launch_bounds__(K90_UNIT_THREADS, 1)
    k90_pooled(const __grid_constant__ ksa_gpu_args a, const __grid_constant__ CUtensorMap tmK, int tma, float *pooled, int tile0,
               int ntiles_out, int64_t ld)
{
#if defined(KC_SM90_BODY)
    using C = k90_pool_cfg<D>;
    constexpr int BM = C::BM, BN = C::BN, KS = C::KS, CW = C::CW;
    extern __shared__ __align__(16) unsigned char k90p_smem_raw[];
    __shared__ __align__(8) uint64_t barQ, barFull[KS], barEmpty[KS];
    __shared__ const char *rowK[3][BN]; /* cp.async path: row addresses of 3 units */

    k90_work w;
    if (!k90_setup<BN, K90_POOL>(a, w, tile0)) return;
    const int G = a.group;
    char *smem = (char *)(((uintptr_t)k90p_smem_raw + 1023) & ~(uintptr_t)1023);
    char *sQ = smem;
    char *sK = sQ + C::Q_BYTES; /* [KS][KV_BYTES] */

    if (k90_unit_start<D, BN, KS, K90_POOL>(a, w, &tmK, tma, sQ, sK, &barQ, barFull, barEmpty, rowK)) return;

    /* -------------------------------------------------------------- consumers */
    const int cw = threadIdx.x / 128 - 1;
    const int warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
    const float sl2 = a.scale_log2;
    const uint32_t qb = kc_smem_u32(sQ), qd = k90_desc_lo(qb), kbase = kc_smem_u32(sK);
    float *out = pooled + ((int64_t)(w.b * a.hkv + w.g) * ntiles_out + (w.tile - tile0)) * ld;
    /* -lse2 of the tile's rows, in shared memory: consumer thread t < BM reads row t's (one
     * division by the run-time G each, before the wait for Q so the two latencies overlap); -inf for
     * a row past the tile (its Q row is zero, so its score is 0 and its exp2 is 0) or a row whose
     * lse is -inf. (Each thread computing its 32 columns' rows took 32 divisions, ~2000 instructions
     * per warp before its first unit: bench/NOTES.md, twenty-sixth session.) */
    __shared__ __align__(16) float sNL[BM];
    {
        const int t = threadIdx.x - 128, rr = w.row_begin + t;
        if (t < BM) {
            float v = KG_NEG_INF;
            if (rr < w.row_end) {
                const float r = kg_lse_ws_at(a, w.b, w.g * G + rr % G, rr / G);
                if (r != KG_NEG_INF) v = -r;
            }
            sNL[t] = v;
        }
    }
    k90_unit_consumer_sync();
    kc_bar_wait(&barQ, 0);
    kc_fence_async_smem();
    auto units = [&](auto nq_const) {
        constexpr int NQ = decltype(nq_const)::value;
        constexpr int NP = NQ / 2; /* accumulator floats per thread */
        /* this thread's columns c = 8 (i / 2) + 2 (lane % 4) + i % 2 */
        float nlse[NP / 2];
#pragma unroll
        for (int j = 0; j < NP / 4; j++) {
            const float2 v = *(const float2 *)&sNL[8 * j + 2 * (lane % 4)];
            nlse[2 * j] = v.x;
            nlse[2 * j + 1] = v.y;
        }
        for (int u = cw; u < w.ntiles; u += CW) {
            float s[NP];
            kc_bar_wait(&barFull[u % KS], (u / KS) & 1);
            if (!tma) kc_fence_async_smem();
            const uint32_t kt = kbase + (u % KS) * C::KV_BYTES, kd = k90_desc_lo(kt);
            k90_wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++) {
                const uint32_t off = (kk % 4) * 32;
                /* stepped descriptors, except at D 256, where they spilled in this loop */
                const uint64_t da = D <= 128 ? k90_desc_sw128(kd + ((kk / 4) * BN * 128 + off) / 16) : k90_desc(kt + (kk / 4) * BN * 128 + off, 16, 1024);
                const uint64_t db = D <= 128 ? k90_desc_sw128(qd + ((kk / 4) * BM * 128 + off) / 16) : k90_desc(qb + (kk / 4) * BM * 128 + off, 16, 1024);
                kc_wgmma_ss<NQ, T>::run(s, da, db, kk > 0);
            }
            k90_wgmma_commit();
            k90_wgmma_wait<0>();
            k90_fence_regs(s);
            __syncwarp();
            if (lane == 0) kc_bar_arrive(&barEmpty[u % KS]);
            float t[2] = {0.f, 0.f}; /* this thread's two keys (rows hf 0 / 1 of the unit) */
#pragma unroll
            for (int i = 0; i < NP; i++) t[(i >> 1) & 1] += ksa_exp2(fmaf(s[i], sl2, nlse[(i >> 2) * 2 + (i & 1)]));
#pragma unroll
            for (int hf = 0; hf < 2; hf++) {
                t[hf] += ksa_shfl_xor(t[hf], 1);
                t[hf] += ksa_shfl_xor(t[hf], 2);
            }
            if (lane % 4 == 0)
#pragma unroll
                for (int hf = 0; hf < 2; hf++) {
                    const int jj = u * BN + warp * 16 + lane / 4 + hf * 8;
                    if (jj < w.nkeys) out[jj] = t[hf];
                }
        }
    };
    if (w.row_end - w.row_begin > 64) units(std::integral_constant<int, 128>{});
    else units(std::integral_constant<int, 64>{});
#endif
}

/* ------------------------------------------------------------------ the lse pass */
/* LSE with four consumer warpgroups (see the unit kernels above): the per-row log-sum-exp of the
 * CTA's rows (128 (query, head) rows, as k90_prefill's) over their visible keys, K in units of BN
 * keys. Consumer warpgroup c takes units c, c + 4, ... for all of the CTA's rows, one 64-row product
 * in flight (S = Q K^T, m64nBN), and keeps a running (m, l) per lane over the lane's own columns;
 * at the end a row's four lanes and the four warpgroups are merged. One slot per warpgroup: the
 * slot is released as soon as its last product is done, before that half's exponentials. */
template <int D> struct k90_lse_cfg {
    static constexpr int BM = KC_PREFILL_ROWS;
    static constexpr int BN = D <= 128 ? 128 : 64;   /* keys per K unit */
    static constexpr int CW = K90_UNIT_CW;
    static constexpr int KS = CW;                    /* one slot per consumer warpgroup */
    static constexpr int Q_BYTES = BM * D * 2;
    static constexpr int KV_BYTES = BN * D * 2;
    static constexpr int SMEM = 1024 + Q_BYTES + KS * KV_BYTES;
    static constexpr int THREADS = 128 * (CW + 1);
    static_assert(CW * BM * 2 * 4 <= Q_BYTES, "the merge reuses Q's shared memory");
    static_assert(KS % CW == 0, "each K slot belongs to one consumer warpgroup");
};

#if defined(KC_SM90_BODY)
/* one 64-row half's step of the lse pass over list entries n0.. (masked as in k90_mask_max). A lane
 * keeps its own (m, l) per row, l relative to 2^(m * sl2). The exponentials use the lane's running
 * maximum as it stands, without this step's maxima: a score above it only makes its term larger than
 * 1, and f32 holds that exactly as well. Only where the step's sum exceeds K90_LSE_STALE_SUM (a score
 * more than ~58 log2 units above m) or on NaN does the lane take the step's maxima, rescale l and
 * redo the step's sum; where m is still -inf (the lane's first visible scores: a warpgroup's first
 * unit, ~6% of the units at L16K) it takes them at once. So a step adds at most 2^64 (l stays far
 * inside f32's range), and l >= 1 once m is finite, so no term that could matter underflows. The
 * row maxima were a serial chain in front of every step's exponentials. */
#define K90_LSE_STALE_SUM 1.8446744e19f /* 2^64 */
template <int BN, int NS>
static __device__ __forceinline__ void k90_lse_step(const ksa_gpu_args &a, const k90_work &w, float (&s)[NS], int n0, int vis_all,
                                                    const int (&vis_lim)[2], int lane, float sl2, float (&m)[2], float (&l)[2])
{
    if (!k90_all_visible<BN>(a, w, n0)) {
#pragma unroll
        for (int i = 0; i < NS; i++)
            if (!k90_visible(n0, i, lane, vis_all, vis_lim)) s[i] = KG_NEG_INF;
    }
    float sum[2] = {0.f, 0.f};
    /* the step's terms against log2 bases b (one per row) into sum */
    auto sum_terms = [&](const float (&b)[2]) {
#pragma unroll
        for (int i = 0; i < NS; i++) sum[(i >> 1) & 1] += ksa_exp2(fmaf(s[i], sl2, -b[(i >> 1) & 1]));
    };
    bool redo = m[0] == KG_NEG_INF || m[1] == KG_NEG_INF; /* a lane's first unit: straight to the maxima */
    if (!redo) {
        const float base[2] = {m[0] * sl2, m[1] * sl2};
        sum_terms(base);
        redo = !(sum[0] <= K90_LSE_STALE_SUM) || !(sum[1] <= K90_LSE_STALE_SUM);
    }
    if (redo) {
        float mx[2] = {KG_NEG_INF, KG_NEG_INF}, b[2], alpha[2];
#pragma unroll
        for (int i = 0; i < NS; i++) mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], s[i]);
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            kc_softmax_rebase(m[hf], mx[hf], sl2, b[hf], alpha[hf]);
            l[hf] *= alpha[hf];
            sum[hf] = 0.f;
        }
        sum_terms(b);
    }
    l[0] += sum[0];
    l[1] += sum[1];
}
#endif /* KC_SM90_BODY */

template <int D, typename T>
__global__ void __launch_bounds__(K90_UNIT_THREADS, 1) k90_lse(const __grid_constant__ ksa_gpu_args a, const __grid_constant__ CUtensorMap tmK, int tma)
{
#if defined(KC_SM90_BODY)
    using C = k90_lse_cfg<D>;
    constexpr int BM = C::BM, BN = C::BN, KS = C::KS, CW = C::CW, NS = BN / 2;
    extern __shared__ __align__(16) unsigned char k90l_smem_raw[];
    __shared__ __align__(8) uint64_t barQ, barFull[KS], barEmpty[KS];
    __shared__ const char *rowK[3][BN]; /* cp.async path: row addresses of 3 units */

    k90_work w;
    if (!k90_setup<BN, K90_LSE>(a, w, 0)) return;
    const int G = a.group;
    char *smem = (char *)(((uintptr_t)k90l_smem_raw + 1023) & ~(uintptr_t)1023);
    char *sQ = smem;
    char *sK = sQ + C::Q_BYTES; /* [KS][KV_BYTES] */

    if (k90_unit_start<D, BN, KS, K90_LSE>(a, w, &tmK, tma, sQ, sK, &barQ, barFull, barEmpty, rowK)) return;

    /* -------------------------------------------------------------- consumers */
    const int cw = threadIdx.x / 128 - 1;
    const int warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
    const float sl2 = a.scale_log2;
    const uint32_t qd = k90_desc_lo(kc_smem_u32(sQ)), kbase = kc_smem_u32(sK);
    const int nacc = w.row_end - w.row_begin > 64 ? 2 : 1; /* 64-row halves holding rows */
    const int vis_all = a.sparse ? w.nsel : 0;
    float m[2][2], l[2][2];
    int vl[2][2];
#pragma unroll
    for (int h = 0; h < 2; h++)
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            const int rr = w.row_begin + h * 64 + warp * 16 + lane / 4 + hf * 8;
            const int ps = rr < w.row_end ? w.pos_shift + rr / G : -1;
            m[h][hf] = KG_NEG_INF;
            l[h][hf] = 0.f;
            vl[h][hf] = a.sparse ? (ps < 0 ? -1 : ps - w.own0 + w.nsel) : ps;
        }
    kc_bar_wait(&barQ, 0);
    kc_fence_async_smem();
    for (int u = cw; u < w.ntiles; u += CW) {
        kc_bar_wait(&barFull[u % KS], (u / KS) & 1);
        if (!tma) kc_fence_async_smem();
        const uint32_t kd = k90_desc_lo(kbase + (u % KS) * C::KV_BYTES);
#pragma unroll
        for (int h = 0; h < 2; h++) {
            if (h >= nacc) break;
            float s[NS];
            k90_wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++) {
                const uint32_t off = (kk % 4) * 32;
                kc_wgmma_ss<BN, T>::run(s, k90_desc_sw128(qd + (h * 64 * 128 + (kk / 4) * BM * 128 + off) / 16),
                                        k90_desc_sw128(kd + ((kk / 4) * BN * 128 + off) / 16), kk > 0);
            }
            k90_wgmma_commit();
            k90_wgmma_wait<0>();
            k90_fence_regs(s);
            if (h == nacc - 1) {
                __syncwarp();
                if (lane == 0) kc_bar_arrive(&barEmpty[u % KS]);
            }
            k90_lse_step<BN>(a, w, s, u * BN, vis_all, vl[h], lane, sl2, m[h], l[h]);
        }
    }
    /* merge: a row's four lanes (each with its own (m, l)), then the four warpgroups through the
     * shared memory Q used (every product has completed once all consumers pass the barrier) */
    float *sM = (float *)sQ; /* [CW][BM rows][m, l] */
    k90_unit_consumer_sync();
#pragma unroll
    for (int h = 0; h < 2; h++)
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            float mq = fmaxf(m[h][hf], ksa_shfl_xor(m[h][hf], 1));
            mq = fmaxf(mq, ksa_shfl_xor(mq, 2));
            const float bq = mq == KG_NEG_INF ? 0.f : mq * sl2;
            float lq = l[h][hf] * ksa_exp2(fmaf(m[h][hf], sl2, -bq)); /* a lane with m -inf adds 0 */
            lq += ksa_shfl_xor(lq, 1);
            lq += ksa_shfl_xor(lq, 2);
            const int row = h * 64 + warp * 16 + lane / 4 + hf * 8;
            if (lane % 4 == 0) {
                sM[(cw * BM + row) * 2] = mq;
                sM[(cw * BM + row) * 2 + 1] = lq;
            }
        }
    k90_unit_consumer_sync();
    const int row = threadIdx.x - 128; /* consumer threads 0 .. BM - 1 write one row each */
    if (row < BM) {
        const int rr = w.row_begin + row;
        if (rr < w.row_end) {
            float mt = KG_NEG_INF;
#pragma unroll
            for (int c = 0; c < CW; c++) mt = fmaxf(mt, sM[(c * BM + row) * 2]); /* raw-score maxima */
            const float base = mt == KG_NEG_INF ? 0.f : mt * sl2;
            float lt = 0.f;
#pragma unroll
            for (int c = 0; c < CW; c++) lt += sM[(c * BM + row) * 2 + 1] * ksa_exp2(fmaf(sM[(c * BM + row) * 2], sl2, -base));
            const float lse2 = lt != 0.f ? base + ksa_log2(lt) : KG_NEG_INF;
            k90_store_lse(a, w, rr / G, w.g * G + rr % G, lse2);
        }
    }
#endif
}

/* ------------------------------------------------------------------ host side */
/* cuTensorMapEncodeTiled from the driver, through the runtime (the plugin links no libcuda) */
static PFN_cuTensorMapEncodeTiled_v12000 k90_encode_fn(void)
{
    static PFN_cuTensorMapEncodeTiled_v12000 fn;
    static int tried;
    if (!tried) {
        void *f = NULL;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) == cudaSuccess &&
            q == cudaDriverEntryPointSuccess)
            fn = (PFN_cuTensorMapEncodeTiled_v12000)f;
        else
            (void)cudaGetLastError();
        tried = 1;
    }
    return fn;
}

/* a (D, Hkv, rows, outer) tensor map over K or V with (64 x 1 x box_rows x 1) boxes, 128-byte
 * swizzle; outer is the batch (outer_stride its stride) or, for a paged pool, the page */
static int k90_make_map(CUtensorMap *m, const void *base, int dtype, int D, int hkv, int64_t rows, int64_t outer, int64_t outer_stride,
                        const ksa_gpu_strides &s, int box_rows)
{
    PFN_cuTensorMapEncodeTiled_v12000 enc = k90_encode_fn();
    if (!enc) return 0;
    cuuint64_t dims[4] = {(cuuint64_t)D, (cuuint64_t)hkv, (cuuint64_t)rows, (cuuint64_t)outer};
    cuuint64_t strides[3] = {(cuuint64_t)s.head * 2, (cuuint64_t)s.token * 2, (cuuint64_t)outer_stride * 2};
    cuuint32_t box[4] = {64, 1, (cuuint32_t)box_rows, 1};
    cuuint32_t estr[4] = {1, 1, 1, 1};
    CUresult r = enc(m, dtype == KSA_GPU_DT_F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, (void *)base, dims,
                     strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    return r == CUDA_SUCCESS;
}

/* TMA serves dense key runs of a uniform contiguous batch (no padded or foreign rows inside a tile:
 * rows past Lk are out of the tensor and read as zeros) whose strides TMA accepts */
extern "C" int kc_tma_kv_maps(const ksa_gpu_args *a, int head_dim, int box_rows, CUtensorMap *mk, CUtensorMap *mv)
{
    if (a->sparse || !a->uniform_lengths || a->kv_layout != KSA_GPU_KV_CONTIGUOUS || !a->vec16) return 0;
    const ksa_gpu_strides *ks[2] = {&a->k_s, &a->v_s};
    for (int i = 0; i < 2; i++)
        if (ks[i]->head <= 0 || ks[i]->token <= 0 || (a->batch > 1 && ks[i]->batch <= 0) || (ks[i]->token * 2) >= (1ll << 40) ||
            (ks[i]->batch * 2) >= (1ll << 40))
            return 0;
    return k90_make_map(mk, a->k, a->dtype, head_dim, a->hkv, a->max_lk, a->batch,
                        a->batch > 1 ? a->k_s.batch : a->k_s.token * a->max_lk, a->k_s, box_rows) &&
           k90_make_map(mv, a->v, a->dtype, head_dim, a->hkv, a->max_lk, a->batch,
                        a->batch > 1 ? a->v_s.batch : a->v_s.token * a->max_lk, a->v_s, box_rows);
}

/* a paged pool: a chunk of box_rows keys lies inside one page when the page size is a multiple of
 * it; rows of a page past its sequence's end are real memory, which the decode zeroes in shared
 * memory before use */
extern "C" int kc_tma_paged_maps(const ksa_gpu_args *a, int head_dim, int box_rows, CUtensorMap *mk, CUtensorMap *mv)
{
    if (a->sparse || a->kv_layout != KSA_GPU_KV_PAGED || !a->vec16 || a->kv_pages < 1 || a->page_size % box_rows) return 0;
    const ksa_gpu_strides *ks[2] = {&a->k_s, &a->v_s};
    for (int i = 0; i < 2; i++)
        if (ks[i]->head <= 0 || ks[i]->token <= 0 || ks[i]->page <= 0 || (ks[i]->page * 2) >= (1ll << 40)) return 0;
    return k90_make_map(mk, a->k, a->dtype, head_dim, a->hkv, a->page_size, a->kv_pages, a->k_s.page, a->k_s, box_rows) &&
           k90_make_map(mv, a->v, a->dtype, head_dim, a->hkv, a->page_size, a->kv_pages, a->v_s.page, a->v_s, box_rows);
}

/* what every sm_90a prefill launch prepares: the kernel's shared-memory allowance (once per device:
 * done), the K / V tensor maps for box_rows-key tiles (tma: whether TMA serves this call) and the
 * argument block. The softmax keeps raw-score maxima, which needs a positive normal scale: a
 * subnormal one (scale below 1e-38, every weight equal either way) is raised to the smallest
 * normal float. */
struct k90_launch_prep {
    CUtensorMap mk, mv;
    ksa_gpu_args ka;
    int tma;
};
template <typename F>
static cudaError_t k90_prepare(F *kernel, unsigned *done, const ksa_gpu_args *a, int head_dim, int box_rows, k90_launch_prep &p)
{
    cudaError_t e = kg_allow_smem(kernel, done);
    if (e != cudaSuccess) return e;
    memset(&p.mk, 0, sizeof p.mk);
    memset(&p.mv, 0, sizeof p.mv);
    p.tma = kc_tma_kv_maps(a, head_dim, box_rows, &p.mk, &p.mv);
    p.ka = *a;
    if (!(p.ka.scale_log2 >= FLT_MIN)) p.ka.scale_log2 = FLT_MIN;
    return cudaSuccess;
}

template <int D, typename T, int CW> static int k90_launch_flash(const ksa_gpu_args *a, cudaStream_t st)
{
    using C = k90_cfg<D, CW>;
    static unsigned done; /* devices this kernel was configured on */
    k90_launch_prep p;
    cudaError_t e = k90_prepare(k90_prefill<D, T, CW>, &done, a, D, C::BN, p);
    if (e != cudaSuccess) return (int)e;
    const dim3 grid((unsigned)kc_prefill_chunks(a), (unsigned)a->hkv, (unsigned)a->batch);
    k90_prefill<D, T, CW><<<grid, C::THREADS, C::SMEM, st>>>(p.ka, p.mk, p.mv, p.tma);
    return (int)cudaGetLastError();
}
template <int D, typename T> static int k90_launch_lse(const ksa_gpu_args *a, cudaStream_t st)
{
    using C = k90_lse_cfg<D>;
    static unsigned done;
    k90_launch_prep p;
    cudaError_t e = k90_prepare(k90_lse<D, T>, &done, a, D, C::BN, p);
    if (e != cudaSuccess) return (int)e;
    const dim3 grid((unsigned)kc_prefill_chunks(a), (unsigned)a->hkv, (unsigned)a->batch);
    k90_lse<D, T><<<grid, C::THREADS, C::SMEM, st>>>(p.ka, p.mk, p.tma);
    return (int)cudaGetLastError();
}
template <int D, typename T> static int k90_launch_d(const ksa_gpu_args *a, cudaStream_t st)
{
    if (a->lse_only) return k90_launch_lse<D, T>(a, st);
    /* the dense block_q=192 variant (the host plans it only for dense calls at head_dim 64 and 128) */
    if constexpr (D <= 128)
        if (a->dense_cta_rows == k90_cfg<D, 3>::BM && !a->sparse) return k90_launch_flash<D, T, 3>(a, st);
    if (a->dense_cta_rows != 0 && a->dense_cta_rows != KC_PREFILL_ROWS) return (int)cudaErrorInvalidValue;
    return k90_launch_flash<D, T, 2>(a, st);
}

template <int D, typename T>
static int k90_launch_pooled(const ksa_gpu_args *a, float *pooled, int tile0, int ntiles, int64_t ld, cudaStream_t st)
{
    using C = k90_pool_cfg<D>;
    static unsigned done;
    k90_launch_prep p;
    cudaError_t e = k90_prepare(k90_pooled<D, T>, &done, a, D, C::BN, p);
    if (e != cudaSuccess) return (int)e;
    const dim3 grid((unsigned)ntiles, (unsigned)a->hkv, (unsigned)a->batch);
    k90_pooled<D, T><<<grid, C::THREADS, C::SMEM, st>>>(p.ka, p.mk, p.tma, pooled, tile0, ntiles, ld);
    return (int)cudaGetLastError();
}

/* the largest shared-memory need of the three sm_90a prefill kernels at head_dim D */
template <int D> static constexpr int k90_smem_max(void)
{
    /* the three-consumer shape exists at head_dim <= 128 only (k90_cfg<256, 3> does not compile) */
    const int flash2 = k90_cfg<D>::SMEM, flash3 = D <= 128 ? k90_cfg<D <= 128 ? D : 128, 3>::SMEM : 0;
    const int flash = flash2 > flash3 ? flash2 : flash3, lse = k90_lse_cfg<D>::SMEM, pool = k90_pool_cfg<D>::SMEM;
    const int m = flash > lse ? flash : lse;
    return m > pool ? m : pool;
}
extern "C" size_t kc_sm90_prefill_smem(int head_dim)
{
    return head_dim == 64 ? (size_t)k90_smem_max<64>() : head_dim == 128 ? (size_t)k90_smem_max<128>() : head_dim == 256 ? (size_t)k90_smem_max<256>() : 0;
}

extern "C" int kc_launch_sm90_prefill(const ksa_gpu_args *a, const ksa_gpu_call *c)
{
    cudaStream_t st = (cudaStream_t)c->stream;
    if (c->kernel)
        snprintf(c->kernel, (size_t)c->kernel_len, "wgmma_flash_prefill_%s_d%d", a->lse_only ? "lse" : a->sparse ? "sparse" : "dense",
                 a->head_dim);
    KG_DISPATCH(a, k90_launch_d, a, st);
}

/* pooled scores of tiles [tile0, tile0 + ntiles) into the POOLED region; tiles of more than 128 rows
 * (tile_size x group) take the mma.sync kernel, which reads the same log2-domain lse */
extern "C" int kc_launch_sm90_pooled(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles)
{
    if (a->tile_size * a->group > k90_cfg<128>::BM) return kc_launch_pooled_prefill(a, c, tile0, ntiles);
    cudaStream_t st = (cudaStream_t)c->stream;
    float *pooled = (float *)ksa_gpu_ws(c, KSA_GPU_WS_POOLED);
    const int64_t ld = c->plan->lk_ld;
    ksa_gpu_args b = *a;
    b.sparse = 0; /* the candidates are a dense run of keys */
    KG_DISPATCH(a, k90_launch_pooled, &b, pooled, tile0, ntiles, ld, st);
}
