/* mma_decode.cu: NVIDIA tensor-core split-KV decode (mma.sync m16n8k16, sm_80 and sm_90a) for dense,
 * anchor and reuse decode. One CTA owns one (sequence, KV head, split) and all G <= 16 query heads
 * of the group: the G heads are the rows of one 16-row MMA tile ("GQA packing"), so every K / V row
 * is read from memory once for the whole group and converted by the tensor cores, not once per
 * head. Each of the 4 warps streams its own chunks of keys (32 rows; 16 at head_dim 256) through a
 * private ring of STAGES shared-memory buffers filled by 16-byte cp.async, with only warp-level
 * synchronisation in the loop:
 *   S[16 x KC] = Q K^T (Q fragments held in registers at head_dim <= 128), online softmax per head,
 *   O[16 x D] += P V (V fragments by ldmatrix.trans).
 * Per chunk a warp spends few instructions besides the MMAs and copies (measured: dense decode ran
 * on issue, not on DRAM, until this was so): rows 8-15 of the tile are skipped when G <= 8, O is
 * rescaled only when a running maximum rose, ldmatrix addresses are per-lane constants plus
 * immediates, and dense keys of a contiguous or ragged cache get their own instantiation (AFF) whose
 * lanes step their row addresses by the token stride. At B1 each warp copies one or a few chunks, so
 * most of the kernel runs once per warp, cold: its executed path is kept short too (shared-space
 * pointers, the gathered copies' common case in a branch-free loop).
 * The warps' (O, m, l) are merged through shared memory at the end; the CTA writes the partials of
 * its split in the layout kg_decode_combine (backends/gpu/decode_topk.cu) reads, or, with one split, o and lse
 * directly. On sm_90 the splits of one (sequence, KV head) may instead run as one thread-block
 * cluster (in_cluster): each CTA leaves its merged (O, m, l) in its shared memory, and after a cluster
 * barrier the CTAs combine them through distributed shared memory and write o and lse, so no
 * partials go through global memory and no combine kernel runs. Anchor decode also writes the log2-domain scores that kg_decode_pool turns into pooled
 * probabilities. The key list is the same as decode_topk.cu's kg_decode_split: all keys, or an index
 * set plus an optional local window. */
#include <stdio.h>
#include <string.h>

#include "ksa_cuda.h"
#include "ksa_gpu_common.cuh"
#include "ksa_cuda_ptx.cuh"

#define KC_MD_WARPS 4
#define KC_MD_THREADS (32 * KC_MD_WARPS)
#define KC_MD_MAX_CLUSTER 16 /* the most splits merged in one cluster (sm_90's non-portable limit) */
#define KC_MD_PT_MAX 2048     /* the longest page-table row a CTA copies into shared memory (8 KB) */

/* keys per warp chunk: 32 at head dim <= 128 for TMA (dense contiguous keys); gathered lists (index
 * sets, paged K/V) take 16 or 32 (a->dec_chunk: 16 gives three CTAs per SM instead of one, so more
 * rows are in flight); 16 at head dim 256 */
static constexpr __host__ __device__ int kc_md_chunk_keys(int D, int chunk) { return D <= 128 ? chunk : 16; }

template <int D, int KCH> struct kc_md_cfg {
    static constexpr int KC = kc_md_chunk_keys(D, KCH);
    static constexpr int LD = D + 8;                /* padded Q row (elements): conflict-free ldmatrix */
    static constexpr int CH = D / 8;                /* 16-byte pieces per row */
    static constexpr int QREG = D <= 128;           /* Q fragments in registers (else ldmatrix per use) */
    static constexpr int TILE_BYTES = KC * D * 2;   /* one K or V chunk */
    static constexpr int STAGE_BYTES = 2 * TILE_BYTES;
};

/* dynamic shared memory: 1024 (alignment) + Q [16][LD] rounded to 1 KB + per warp STAGES x (K, V)
 * chunks, each [D/64][KC rows][128 bytes] with the 128-byte swizzle (TMA's layout; cp.async writes
 * the same), + per-warp chunk keys + per-warp stage barriers; the merge at the end reuses the
 * chunk buffers (4 warps x 16 rows x (D + 2) floats, then the CTA's merged 16 x (D + 2) that the
 * in-cluster combine reads) */
static __host__ __device__ size_t kc_md_q_bytes(int D) { return ((size_t)16 * (D + 8) * 2 + 1023) / 1024 * 1024; }
static __host__ __device__ size_t kc_md_ring_bytes(int D, int chunk, int stages)
{
    const int KC = kc_md_chunk_keys(D, chunk);
    size_t ring = (size_t)KC_MD_WARPS * stages * 2 * KC * D * 2;
    size_t merge = (size_t)(KC_MD_WARPS + 1) * 16 * (D + 2) * 4;
    return ring > merge ? ring : merge;
}
static __host__ __device__ size_t kc_md_smem_bytes(int D, int chunk, int stages)
{
    const int KC = kc_md_chunk_keys(D, chunk);
    return 1024 + kc_md_q_bytes(D) + kc_md_ring_bytes(D, chunk, stages) + (size_t)KC_MD_WARPS * stages * KC * 4;
}

/* grid: x = split, y = KV head, z = sequence. splits == 1: write o / lse here. TMA (sm_90, dense keys
 * of a uniform contiguous batch, or of a paged pool whose page size is a multiple of the chunk):
 * lane 0 of each warp loads its chunks with two box copies per 64 columns (tmK, tmV) completing on
 * the warp's stage barrier; else 16-byte cp.async. */
template <int D, typename T, int STAGES, bool TMA, int KCH, int AFF = 0>
__global__ void __launch_bounds__(KC_MD_THREADS)
    kc_mma_decode(const __grid_constant__ ksa_gpu_args a, const __grid_constant__ CUtensorMap tmK, const __grid_constant__ CUtensorMap tmV,
                  int sparse, int window, int splits, int in_cluster, float *partials, float *scores2, int64_t scores_ld,
                  float *lse2_out, int pt_n)
{
    kg_grid_wait(); /* a.pdl: the kernel before this one has finished (q, k, v, index sets) */
    using C = kc_md_cfg<D, KCH>;
    constexpr int KC = C::KC, LD = C::LD, CH = C::CH;
    extern __shared__ __align__(16) unsigned char kc_md_smem_raw[];
    /* 1 KB aligned by an offset from the shared array (not an integer round trip), so the compiler
     * still knows every pointer below is shared memory: LDS / STS instead of generic LD / ST */
    unsigned char *kc_md_smem = kc_md_smem_raw + ((1024u - (kc_smem_u32(kc_md_smem_raw) & 1023u)) & 1023u);
    uint16_t *sQ = (uint16_t *)kc_md_smem;                          /* [16][LD] */
    unsigned char *sRing = kc_md_smem + kc_md_q_bytes(D);           /* [warp][stage][K|V tile] */
    int *sKeys = (int *)(sRing + kc_md_ring_bytes(D, KCH, STAGES)); /* [warp][stage][KC] */
    int *sPT = sKeys + KC_MD_WARPS * STAGES * KC; /* pt_n > 0: the first pt_n page-table entries of sequence b */
    __shared__ __align__(8) uint64_t sBar[KC_MD_WARPS][STAGES];     /* TMA: one per warp and stage */

    const int G = a.group, b = blockIdx.z, g = blockIdx.y, split = blockIdx.x;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    /* the length tensors' reads (calls whose lengths are on the device) are issued here and their
     * values first used after the loads below that do not need them: Q, the page-table row, the
     * index set's count (kg_lk_load) */
    const kg_lk_raw lk_raw = kg_lk_load(a, b);
    const int qrow0 = kg_qrow0(a, b);
    const bool no_v = a.lse_only; /* anchor's dense pass with a sparse output: scores and lse only, no V */
    /* the index set's count, beside them (the head map lives in the arguments: no read before it) */
    const int cnt_read = kc_load_or_zero(sparse ? kg_dec_count_at(a, b, g) : a.counts, sparse);

    /* A CTA's first loads form a chain, count -> its first index entries -> K / V rows, each a DRAM
     * round trip when the L2 is cold (as between a model's layers), and Q's rows used to be read
     * behind the first two. So Q is read into registers beside the count, and the index entries this
     * split will read are prefetched into L2 (estimated by the budget rule at the longest length: a
     * wrong estimate costs only the prefetch). */
    constexpr int QN = (16 * CH + KC_MD_THREADS - 1) / KC_MD_THREADS;
    uint4 qv[QN];
    const uint16_t *q = (const uint16_t *)a.q;
#pragma unroll
    for (int i = 0; i < QN; i++) {
        const int c = tid + i * KC_MD_THREADS, r = c / CH, piece = c % CH;
        qv[i] = make_uint4(0, 0, 0, 0);
        if (c < 16 * CH && r < G) {
            const uint16_t *src = q + (int64_t)b * a.q_s.batch + (int64_t)qrow0 * a.q_s.token + (int64_t)(g * G + r) * a.q_s.head;
            if (a.vec16) qv[i] = *(const uint4 *)(src + piece * 8);
            else {
                uint16_t t[8];
#pragma unroll
                for (int e = 0; e < 8; e++) t[e] = src[piece * 8 + e];
                qv[i] = *(uint4 *)t;
            }
        }
    }
    /* paged pools in one wave (pt_n > 0, set by the launcher): a page-table read used to be one more
     * L2 round trip in each chunk's address chain (index entry -> page -> row); the sequence's table
     * row is copied into shared memory now, beside Q's read and ahead of the head map and the counts,
     * so that step becomes a shared-memory load */
    if (pt_n > 0) {
        const int *row = a.page_table + (int64_t)b * a.pt_s0;
        for (int e = tid; e < pt_n; e += KC_MD_THREADS)
            asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(kc_smem_u32(sPT + e)), "l"(row + (int64_t)e * a.pt_s1));
        asm volatile("cp.async.commit_group;\n" ::);
    }
    if (sparse && a.is3 == 1) {
        const int *row = a.indices + (int64_t)b * a.is0 + (int64_t)a.head_map[g] * a.is1;
        /* the budget rule's k, near enough (32-bit, no rounding), at the bound max_lk (the length
         * itself may still be on its way): an estimate of the count, kept inside the index row
         * (k_slots) so that no prefetch leaves the index tensor */
        const int lk_est = a.max_lk;
        const int cnt = min(min(lk_est, a.k_slots),
                            a.top_k > 0 ? a.top_k : max(a.min_k, (int)((float)a.fraction * (float)lk_est)) + a.round_multiple);
        const int per = ((cnt + min(window, lk_est) + KC - 1) / KC + splits - 1) / splits * KC; /* list entries per split */
        const int end = min((split + 1) * per, cnt);
        for (int e = split * per + tid * 32; e < end; e += 32 * KC_MD_THREADS) kc_prefetch_l2(row + e);
    }

    const int lk = kg_lk_from(a, lk_raw);
    kg_dec_list L;
    const int nlist = kg_dec_list_make_cnt(a, b, g, lk, sparse, window, cnt_read, L);
    /* splits cut the list at chunk boundaries */
    const int nch_total = (nlist + KC - 1) / KC;
    const int ch_per = (nch_total + splits - 1) / splits;
    const int ch_begin = split * ch_per, ch_end = min(ch_begin + ch_per, nch_total);
    const int n_end = min(ch_end * KC, nlist);

    __shared__ const char *sRow0[2]; /* K and V row 0 of this (sequence, KV head), not paged */
    if (tid == 0 && a.kv_layout != KSA_GPU_KV_PAGED) {
        const int64_t r0 = kg_krow0(a, b);
        sRow0[0] = (const char *)((const uint16_t *)a.k + (int64_t)b * a.k_s.batch + r0 * a.k_s.token + (int64_t)g * a.k_s.head);
        sRow0[1] = (const char *)((const uint16_t *)a.v + (int64_t)b * a.v_s.batch + r0 * a.v_s.token + (int64_t)g * a.v_s.head);
    }

    /* Q rows: the G heads, zero rows up to 16 */
#pragma unroll
    for (int i = 0; i < QN; i++) {
        const int c = tid + i * KC_MD_THREADS;
        if (c < 16 * CH) *(uint4 *)(sQ + (c / CH) * LD + (c % CH) * 8) = qv[i];
    }
    if (pt_n > 0) asm volatile("cp.async.wait_all;\n" ::: "memory");
    __syncthreads();

    uint32_t qf[C::QREG ? D / 16 : 1][4];
    if constexpr (C::QREG) {
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++)
            kc_ldmatrix_x4(qf[kk], sQ + ((lane & 7) + ((lane >> 3) & 1) * 8) * LD + kk * 16 + (lane >> 4) * 8);
    }

    /* this warp's chunks: ch_begin + warp, + 4, ... */
    const int my_n = ch_end - ch_begin > warp ? (ch_end - ch_begin - warp + KC_MD_WARPS - 1) / KC_MD_WARPS : 0;
    unsigned char *ring = sRing + (size_t)warp * STAGES * C::STAGE_BYTES;
    int *keys = sKeys + warp * STAGES * KC;
    /* gathered path: this warp's chunk's K and V row addresses, a row's pair in one 16-byte entry */
    __shared__ __align__(16) const char *sRowPtr[KC_MD_WARPS][32][2];
    const char *(*rowp)[2] = sRowPtr[warp];
    const uint16_t *kp = (const uint16_t *)a.k, *vp = (const uint16_t *)a.v;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (TMA) {
        if (lane == 0)
            for (int st = 0; st < STAGES; st++)
                kc_bar_init(&sBar[warp][st], 1);
        __syncwarp();
        kc_fence_bar_init();
    }
#endif

    /* AFF (KC_DEC_AFFINE: launched for dense keys of a contiguous or ragged cache with 16-byte rows,
     * the gathered variants' case from 64 lists on): row n of the list is row krow0 + n of the
     * sequence, so a chunk's row addresses are its first row's plus a stride, computed by each lane
     * for its own copies: no per-warp table of row addresses (two shared-memory loads per copy
     * instruction) and no key table. Its own instantiation, so the other variants' code does not
     * change (measured on the H200, bench/NOTES.md, fourteenth session: the copy code was 39% of
     * dense decode B16 Lk8K's warp samples; as a runtime branch of the shared variants it cost reuse
     * decode 4%). KC_DEC_AFFINE_PAGED: the same for a paged pool whose page size is a multiple of 16
     * keys, so a chunk (or each 16-key half of a 32-key chunk) is a run of rows of one page, found by
     * one page-table read. */
    static_assert(!(AFF && TMA), "AFF is a cp.async variant");
    constexpr bool affine = AFF != 0;
    /* caches that are not paged: row 0 of this (sequence, KV head) in K and V and the byte stride of
     * one row, so a key's row address is one multiply-add (paged pools look each key's page up).
     * Row 0's addresses are read from shared memory where they are used (one 16-byte load per
     * chunk; keeping them in registers instead was not measured). */
    const bool paged = a.kv_layout == KSA_GPU_KV_PAGED;
    /* row j's page (from the shared copy of the table where there is one) and its place in the page */
    auto page_of = [&](int j, int &in_page) -> int {
        if (pt_n > 0) return sPT[kg_page_slot(a, j, in_page)];
        return kg_page_of(a, b, j, in_page);
    };
    const int64_t tok_k = a.k_s.token * (int64_t)sizeof(uint16_t), tok_v = a.v_s.token * (int64_t)sizeof(uint16_t);
    const int rl_aff = lane / CH, piece_aff = lane % CH; /* AFF: this lane's row of a copy and its 16-byte piece */
    /* copy chunk number `it` of this warp into its ring slot */
    auto load_chunk = [&](int it) {
        const int n0 = (ch_begin + warp + it * KC_MD_WARPS) * KC;
        const int slot = it % STAGES;
        unsigned char *dK = ring + slot * C::STAGE_BYTES, *dV = dK + C::TILE_BYTES;
        if constexpr (TMA) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
            if (lane == 0) {
                uint64_t *bar = &sBar[warp][slot];
                /* the slot's previous data was read (ldmatrix) before this warp got here */
                kc_fence_async_smem();
                kc_bar_expect_tx(bar, (uint32_t)(no_v ? C::TILE_BYTES : C::STAGE_BYTES));
                /* contiguous: (key, sequence), one box per chunk; paged: (key within its page, page),
                 * one box per page the chunk covers (the launcher's map has boxes of min(KC, page)
                 * rows: pages of 8 or 16 keys take 4 or 2 boxes per 32-key chunk, each landing a whole
                 * number of 1 KB swizzle periods into the chunk). A box past the list's end reloads
                 * the previous page's rows: those keys are masked and their V rows zeroed below. */
                if (a.kv_layout == KSA_GPU_KV_PAGED) {
                    const int rows = a.page_size < KC ? a.page_size : KC;
                    int row = 0, outer = 0;
                    for (int r0 = 0; r0 < KC; r0 += rows) {
                        const int n = n0 + r0;
                        if (r0 == 0 || n < n_end) outer = page_of(n, row);
#pragma unroll
                        for (int cb = 0; cb < D / 64; cb++) {
                            kc_tma_load_4d(dK + cb * KC * 128 + r0 * 128, &tmK, cb * 64, g, row, outer, bar);
                            if (!no_v) kc_tma_load_4d(dV + cb * KC * 128 + r0 * 128, &tmV, cb * 64, g, row, outer, bar);
                        }
                    }
                } else {
#pragma unroll
                    for (int cb = 0; cb < D / 64; cb++) {
                        kc_tma_load_4d(dK + cb * KC * 128, &tmK, cb * 64, g, n0, b, bar);
                        if (!no_v) kc_tma_load_4d(dV + cb * KC * 128, &tmV, cb * 64, g, n0, b, bar);
                    }
                }
            }
#endif
            return;
        }
        static_assert(CH <= 32 && 32 % CH == 0, "rows per copy instruction");
        constexpr int RPI = 32 / CH; /* rows per copy instruction (see below) */
        if constexpr (affine) {
            const int piece = piece_aff, rl = rl_aff;
            const uint32_t lane_off = (uint32_t)(piece >> 3) * KC * 128 + (uint32_t)rl * 128;
            const uint32_t x = (uint32_t)((piece & 7) ^ (rl & 7));
            const int64_t tk = tok_k * RPI, tv = tok_v * RPI;
            const char *pk, *pv;
            /* KC_DEC_AFFINE_PAGED with 32-key chunks in pages of a multiple of 16 keys that are not
             * one of 32 (pages of 16, 48, ...): the chunk's second half (rows 16-31) lies in a page of
             * its own, found by a second page-table read; copy i reads it from pk2 / pv2 when its rows
             * are past 16 (i * RPI >= 16: known at compile time) */
            const char *pk2 = NULL, *pv2 = NULL;
            if constexpr (AFF == KC_DEC_AFFINE_PAGED) {
                /* each 16-row half of the chunk lies in one page (the page size is a multiple of 16):
                 * one page-table read per page, the same address in every lane */
                int in_page;
                const int64_t pg = page_of(n0, in_page);
                pk = (const char *)(kp + pg * a.k_s.page + (int64_t)g * a.k_s.head) + (in_page + rl) * tok_k + piece * 16;
                pv = (const char *)(vp + pg * a.v_s.page + (int64_t)g * a.v_s.head) + (in_page + rl) * tok_v + piece * 16;
                if constexpr (KC > 16) {
                    pk2 = pk + 16 * tok_k;
                    pv2 = pv + 16 * tok_v;
                    if (a.page_size % KC != 0 && n0 + 16 < n_end) { /* no read of the table past the list */
                        const int64_t pg2 = page_of(n0 + 16, in_page);
                        pk2 = (const char *)(kp + pg2 * a.k_s.page + (int64_t)g * a.k_s.head) + (in_page + rl) * tok_k + piece * 16;
                        pv2 = (const char *)(vp + pg2 * a.v_s.page + (int64_t)g * a.v_s.head) + (in_page + rl) * tok_v + piece * 16;
                    }
                }
            } else {
                pk = sRow0[0] + (n0 + rl) * tok_k + piece * 16;
                pv = sRow0[1] + (n0 + rl) * tok_v + piece * 16;
            }
            /* the source of copy i (rows i * RPI + rl) */
            auto src_k = [&](int i) { return AFF == KC_DEC_AFFINE_PAGED && KC > 16 && i * RPI >= 16 ? pk2 + (i - 16 / RPI) * tk : pk + i * tk; };
            auto src_v = [&](int i) { return AFF == KC_DEC_AFFINE_PAGED && KC > 16 && i * RPI >= 16 ? pv2 + (i - 16 / RPI) * tv : pv + i * tv; };
            const uint32_t sK = (uint32_t)__cvta_generic_to_shared(dK), sV = (uint32_t)__cvta_generic_to_shared(dV);
            if (n0 + KC <= n_end && !no_v) {
#pragma unroll
                for (int i = 0; i < KC * CH / 32; i++) {
                    const uint32_t so = lane_off + (uint32_t)i * RPI * 128 + ((x ^ (uint32_t)((i * RPI) & 7)) << 4);
                    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(sK + so), "l"(src_k(i)));
                    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(sV + so), "l"(src_v(i)));
                }
            } else {
#pragma unroll
                for (int i = 0; i < KC * CH / 32; i++) {
                    const uint32_t so = lane_off + (uint32_t)i * RPI * 128 + ((x ^ (uint32_t)((i * RPI) & 7)) << 4);
                    const bool in = n0 + i * RPI + rl < n_end;
                    kg_copy16(dK + so, in ? (const void *)src_k(i) : a.zero_src, in ? 16 : 0);
                    if (!no_v) kg_copy16(dV + so, in ? (const void *)src_v(i) : a.zero_src, in ? 16 : 0);
                }
            }
            return;
        }
        /* lane r < KC: key r of the chunk, its K and V row addresses into this warp's row table */
        int j = -1;
        __syncwarp(); /* the previous chunk's table reads are done */
        if (lane < KC) {
            const int n = n0 + lane;
            j = n < n_end ? kg_dec_key(L, n) : -1;
            const char *pk = NULL, *pv = NULL;
            if (j >= 0 && paged) { /* one page-table read for the K and the V row */
                int in_page;
                const int64_t pg = page_of(j, in_page);
                pk = (const char *)(kp + pg * a.k_s.page + (int64_t)g * a.k_s.head) + in_page * tok_k;
                pv = (const char *)(vp + pg * a.v_s.page + (int64_t)g * a.v_s.head) + in_page * tok_v;
            } else if (j >= 0) {
                pk = sRow0[0] + j * tok_k;
                pv = sRow0[1] + j * tok_v;
            }
            rowp[lane][0] = pk;
            rowp[lane][1] = pv;
            keys[slot * KC + lane] = j;
        }
        const bool full = __all_sync(0xffffffffu, lane >= KC || j >= 0);
        __syncwarp();
        /* one copy instruction covers 32 lanes x 16 bytes: RPI whole rows (or 512-byte pieces of a
         * row); lane copies piece `piece` of rows i * RPI + lane / CH, whose swizzled position is a
         * per-lane constant XOR a per-i constant (RPI is a power of two) */
        const int piece = lane % CH, rl = lane / CH;
        const uint32_t lane_off = (uint32_t)(piece >> 3) * KC * 128 + (uint32_t)rl * 128;
        const uint32_t x = (uint32_t)((piece & 7) ^ (rl & 7));
        const uint32_t sK = (uint32_t)__cvta_generic_to_shared(dK), sV = (uint32_t)__cvta_generic_to_shared(dV);
        /* the common case (every key present, K and V) in a loop of its own: no branch per copy
         * (this code runs cold once per warp in B1 decode, which waits on instruction fetch) */
        const int poff = piece * 16;
        if (a.vec16 && full && !no_v) {
            /* four rows' address pairs first, then their eight copies: the compiler puts three
             * dummy shared loads before a copy that follows a shared load, so once per four rows
             * instead of once per copy */
            static_assert((KC * CH / 32) % 4 == 0, "copy instructions per chunk");
#pragma unroll
            for (int i0 = 0; i0 < KC * CH / 32; i0 += 4) {
                ulonglong2 pr[4];
#pragma unroll
                for (int u = 0; u < 4; u++) pr[u] = *(const ulonglong2 *)rowp[(i0 + u) * RPI + rl];
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    const int i = i0 + u;
                    const uint32_t so = lane_off + (uint32_t)i * RPI * 128 + ((x ^ (uint32_t)((i * RPI) & 7)) << 4);
                    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(sK + so), "l"((const char *)pr[u].x + poff));
                    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(sV + so), "l"((const char *)pr[u].y + poff));
                }
            }
        } else if (a.vec16) {
#pragma unroll
            for (int i = 0; i < KC * CH / 32; i++) {
                const int r = i * RPI + rl;
                const uint32_t so = lane_off + (uint32_t)i * RPI * 128 + ((x ^ (uint32_t)((i * RPI) & 7)) << 4);
                const char *pk = rowp[r][0], *pv = rowp[r][1];
                kg_copy16(dK + so, pk ? (const void *)(pk + poff) : a.zero_src, pk ? 16 : 0);
                if (!no_v) kg_copy16(dV + so, pv ? (const void *)(pv + poff) : a.zero_src, pv ? 16 : 0);
            }
        } else {
#pragma unroll
            for (int i = 0; i < KC * CH / 32; i++) {
                const int r = i * RPI + rl;
                const uint32_t so = kc_sw128(KC, r, piece);
                const uint16_t *pk = (const uint16_t *)rowp[r][0], *pv = (const uint16_t *)rowp[r][1];
#pragma unroll
                for (int e = 0; e < 8; e++) {
                    ((uint16_t *)(dK + so))[e] = pk ? pk[piece * 8 + e] : (uint16_t)0;
                    if (!no_v) ((uint16_t *)(dV + so))[e] = pv ? pv[piece * 8 + e] : (uint16_t)0;
                }
            }
        }
    };

    /* ldmatrix offsets of this lane inside a swizzled K / V tile (kc_sw128): the row's low three
     * bits are lane & 7 in every fragment, so of the 16-byte column only (chunk & 7) ^ (lane & 7)
     * depends on the lane, and it takes four values per lane (chunk & 7 = 2 q + lane bit); the rest
     * of each address is an immediate. Resolved once, not per chunk. */
    uint32_t kq_off[4], vq_off[4];
#pragma unroll
    for (int q = 0; q < 4; q++) {
        const uint32_t kh = (lane >> 3) & 1, vh = lane >> 4;
        kq_off[q] = kc_opaque_u32((uint32_t)((lane & 7) + (lane >> 4) * 8) * 128 + (((q * 2 + kh) ^ (lane & 7)) << 4));
        vq_off[q] = kc_opaque_u32((uint32_t)((lane & 7) + ((lane >> 3) & 1) * 8) * 128 + (((q * 2 + vh) ^ (lane & 7)) << 4));
    }
    const uint32_t ring_s = kc_smem_u32(ring);

    float m[2] = {KG_NEG_INF, KG_NEG_INF}, l[2] = {0.f, 0.f};
    float o[D / 8][4];
#pragma unroll
    for (int nb = 0; nb < D / 8; nb++)
#pragma unroll
        for (int e = 0; e < 4; e++) o[nb][e] = 0.f;
    const float sl2 = a.scale_log2;

#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < my_n) load_chunk(s);
        kg_copy_commit();
    }
    for (int it = 0; it < my_n; it++) {
        if (it + STAGES - 1 < my_n) load_chunk(it + STAGES - 1); /* its slot was consumed at it - 1 */
        kg_copy_commit();
        const int slot = it % STAGES;
        if constexpr (TMA) {
            kc_bar_wait(&sBar[warp][slot], (it / STAGES) & 1);
            /* a paged chunk past its sequence's end holds the page's other rows (any bits, NaN
             * included), which P = 0 would not cancel in P V: zero those V rows (contiguous ones
             * are outside the tensor map and arrive as zeros) */
            const int nv = n_end - (ch_begin + warp + it * KC_MD_WARPS) * KC;
            if (!no_v && a.kv_layout == KSA_GPU_KV_PAGED && nv < KC) {
                unsigned char *zV = ring + slot * C::STAGE_BYTES + C::TILE_BYTES;
                for (int e = lane; e < (KC - nv) * (D / 64) * 8; e += 32) {
                    const int piece = e % 8, r = nv + (e / 8) % (KC - nv), cb = e / (8 * (KC - nv));
                    *(uint4 *)(zV + cb * KC * 128 + r * 128 + piece * 16) = make_uint4(0, 0, 0, 0);
                }
                __syncwarp();
            }
        } else {
            kg_copy_wait<STAGES - 1>();
            __syncwarp();
        }
        const uint32_t cK_s = ring_s + (uint32_t)(slot * C::STAGE_BYTES); /* K tile, then V at + TILE_BYTES */
        const int *ckey = keys + slot * KC;

        /* S = Q K^T: 16 heads x KC keys */
        float s[KC / 8][4];
#pragma unroll
        for (int nb = 0; nb < KC / 8; nb++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[nb][e] = 0.f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t af[4];
            if constexpr (C::QREG) {
#pragma unroll
                for (int e = 0; e < 4; e++) af[e] = qf[kk][e];
            } else {
                kc_ldmatrix_x4(af, sQ + ((lane & 7) + ((lane >> 3) & 1) * 8) * LD + kk * 16 + (lane >> 4) * 8);
            }
#pragma unroll
            for (int nb2 = 0; nb2 < KC / 16; nb2++) {
                uint32_t bf[4]; /* = cK + kc_sw128(KC, nb2 * 16 + (lane & 7) + (lane >> 4) * 8, kk * 2 + ((lane >> 3) & 1)) */
                kc_ldmatrix_x4_at(bf, cK_s + kq_off[kk & 3] + (uint32_t)((kk >> 2) * KC * 128 + nb2 * 16 * 128));
                kc_mma<T>::run(s[2 * nb2], af, bf[0], bf[1]);
                kc_mma<T>::run(s[2 * nb2 + 1], af, bf[2], bf[3]);
            }
        }
        /* mask keys past the list, scale into the log2 domain, write anchor scores. MMA rows 8-15
         * (hf 1) hold heads only when G > 8: otherwise their scores are skipped and their P is 0. */
        const int n0 = (ch_begin + warp + it * KC_MD_WARPS) * KC;
        const bool full = !sparse && n0 + KC <= n_end;
        const bool hi = G > 8;
        float mx[2] = {KG_NEG_INF, KG_NEG_INF};
        const bool plain = full && !scores2; /* no key to mask, no score to write */
        auto scale_half = [&](int hf) {
            if (plain) {
#pragma unroll
                for (int nb = 0; nb < KC / 8; nb++)
#pragma unroll
                    for (int c = 0; c < 2; c++) {
                        s[nb][hf * 2 + c] *= sl2;
                        mx[hf] = fmaxf(mx[hf], s[nb][hf * 2 + c]);
                    }
                return;
            }
#pragma unroll
            for (int nb = 0; nb < KC / 8; nb++)
#pragma unroll
                for (int c = 0; c < 2; c++) {
                    const int e = hf * 2 + c, col = nb * 8 + (lane % 4) * 2 + c;
                    float x = s[nb][e] * sl2;
                    const int j = TMA || affine ? (n0 + col < n_end ? n0 + col : -1) : ckey[col];
                    if (j < 0) x = KG_NEG_INF;
                    else if (scores2) {
                        const int row = lane / 4 + hf * 8;
                        if (row < G) scores2[((int64_t)b * a.hq + g * G + row) * scores_ld + j] = x;
                    }
                    s[nb][e] = x;
                    mx[hf] = fmaxf(mx[hf], x);
                }
        };
        float alpha[2] = {1.f, 1.f}, base[2] = {0.f, 0.f}, sum[2] = {0.f, 0.f};
        auto exp_half = [&](int hf) {
            kc_quad_softmax_half(m[hf], mx[hf], 1.f, base[hf], alpha[hf]); /* scores already scaled */
#pragma unroll
            for (int nb = 0; nb < KC / 8; nb++)
#pragma unroll
                for (int c = 0; c < 2; c++) {
                    const float p = ksa_exp2(s[nb][hf * 2 + c] - base[hf]);
                    s[nb][hf * 2 + c] = p;
                    sum[hf] += p;
                }
            l[hf] = l[hf] * alpha[hf] + sum[hf];
        };
        scale_half(0);
        if (hi) scale_half(1);
        exp_half(0);
        if (hi) exp_half(1);
        else {
#pragma unroll
            for (int nb = 0; nb < KC / 8; nb++) s[nb][2] = s[nb][3] = 0.f;
        }
        /* rescale O only when some row's maximum rose in this chunk (alpha != 1 somewhere in the
         * warp): after the first chunks it rarely does, and O * 1 is O */
        if (__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) {
#pragma unroll
            for (int nb = 0; nb < D / 8; nb++) {
                o[nb][0] *= alpha[0];
                o[nb][1] *= alpha[0];
                o[nb][2] *= alpha[1];
                o[nb][3] *= alpha[1];
            }
        }
        /* O += P V */
        if (!no_v)
#pragma unroll
        for (int kk = 0; kk < KC / 16; kk++) {
            uint32_t pf[4];
            pf[0] = kc_mma<T>::pack(s[2 * kk][0], s[2 * kk][1]);
            pf[1] = kc_mma<T>::pack(s[2 * kk][2], s[2 * kk][3]);
            pf[2] = kc_mma<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            pf[3] = kc_mma<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int db2 = 0; db2 < D / 16; db2++) {
                uint32_t bf[4]; /* = cV + kc_sw128(KC, kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, db2 * 2 + (lane >> 4)) */
                kc_ldmatrix_x4_trans_at(bf, cK_s + C::TILE_BYTES + vq_off[db2 & 3] + (uint32_t)((db2 >> 2) * KC * 128 + kk * 16 * 128));
                kc_mma<T>::run(o[2 * db2], pf, bf[0], bf[1]);
                kc_mma<T>::run(o[2 * db2 + 1], pf, bf[2], bf[3]);
            }
        }
        __syncwarp(); /* the slot is refilled next iteration */
    }
    kg_copy_wait<0>();
    /* the combine (or the next call) may be scheduled now, under this grid's merge and writes; not
     * earlier: CTAs of the next grid resident while this one streams would crowd some SMs */
    kg_grid_release();

    /* merge the 4 warps: (O, m, l) per head through shared memory (reusing the rings) */
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        l[hf] += ksa_shfl_xor(l[hf], 1);
        l[hf] += ksa_shfl_xor(l[hf], 2);
    }
    __syncthreads();
    float *sMerge = (float *)sRing; /* [warp][16][D + 2]: O, then m, l */
    float *mine = sMerge + (size_t)warp * 16 * (D + 2);
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        const int row = lane / 4 + hf * 8;
#pragma unroll
        for (int nb = 0; nb < D / 8; nb++) {
            const int d = nb * 8 + (lane % 4) * 2;
            mine[row * (D + 2) + d] = o[nb][hf * 2];
            mine[row * (D + 2) + d + 1] = o[nb][hf * 2 + 1];
        }
        if (lane % 4 == 0) {
            mine[row * (D + 2) + D] = m[hf];
            mine[row * (D + 2) + D + 1] = l[hf];
        }
    }
    __syncthreads();
    const int direct = splits == 1;
    float *sRes = sMerge + (size_t)KC_MD_WARPS * 16 * (D + 2); /* in_cluster: this CTA's merged [16][D + 2] */
#pragma unroll 1 /* G (D + 2) / 128 passes; the code runs once per CTA, cold (measured: B1 decode waits on instruction fetch) */
    for (int e = tid; e < G * (D + 2); e += KC_MD_THREADS) {
        const int h = e / (D + 2), d = e % (D + 2);
        float mt = KG_NEG_INF;
#pragma unroll
        for (int w = 0; w < KC_MD_WARPS; w++) mt = fmaxf(mt, sMerge[(w * 16 + h) * (D + 2) + D]);
        const float base = mt == KG_NEG_INF ? 0.f : mt;
        float v = 0.f, lt = 0.f;
#pragma unroll
        for (int w = 0; w < KC_MD_WARPS; w++) {
            const float *r = sMerge + (size_t)(w * 16 + h) * (D + 2);
            const float sc = ksa_exp2(r[D] - base);
            lt += r[D + 1] * sc;
            if (d < D) v += r[d] * sc;
        }
        const int hq = g * G + h;
        if (in_cluster) {
            sRes[e] = d < D ? v : (d == D ? mt : lt);
        } else if (!direct) {
            partials[(((int64_t)b * a.hq + hq) * splits + split) * (D + 2) + d] = d < D ? v : (d == D ? mt : lt);
        } else if (d < D) {
            if (a.o) kg_decode_orow<T>(a, b, qrow0, hq)[d] = ksa_from_float<T>(lt != 0.f ? v / lt : 0.f);
        } else if (d == D) {
            kg_decode_store_lse(a, b, qrow0, hq, mt, lt, lse2_out);
        }
    }
    if (in_cluster) {
        /* the cluster is this (sequence, KV head)'s splits (rank = split): after the barrier every
         * CTA's sRes is complete, and CTA `split` combines outputs split, split + splits, ... of the
         * G x D outputs from all of them, as kg_decode_combine does from global partials */
        kc_cluster_sync();
        const uint32_t res = kc_smem_u32(sRes);
        for (int e = split * KC_MD_THREADS + tid; e < G * D; e += splits * KC_MD_THREADS) {
            const int h = e / D, d = e % D, hq = g * G + h;
            const uint32_t row = res + (uint32_t)(h * (D + 2)) * 4u;
            /* all loads first (one round trip), then the arithmetic */
            float mr[KC_MD_MAX_CLUSTER], lr[KC_MD_MAX_CLUSTER], xr[KC_MD_MAX_CLUSTER];
#pragma unroll
            for (int r = 0; r < KC_MD_MAX_CLUSTER; r++) {
                mr[r] = KG_NEG_INF;
                lr[r] = xr[r] = 0.f;
                if (r < splits) {
                    mr[r] = kc_cluster_ld_f32(row + (uint32_t)D * 4u, r);
                    lr[r] = kc_cluster_ld_f32(row + (uint32_t)(D + 1) * 4u, r);
                    xr[r] = kc_cluster_ld_f32(row + (uint32_t)d * 4u, r);
                }
            }
            float mt = KG_NEG_INF;
#pragma unroll
            for (int r = 0; r < KC_MD_MAX_CLUSTER; r++) mt = fmaxf(mt, mr[r]);
            const float base = mt == KG_NEG_INF ? 0.f : mt;
            float lt = 0.f, x = 0.f;
#pragma unroll
            for (int r = 0; r < KC_MD_MAX_CLUSTER; r++) {
                const float sc = ksa_exp2(mr[r] - base); /* -inf (an empty or absent split): 0 */
                lt += lr[r] * sc;
                x += xr[r] * sc;
            }
            if (a.o) {
                const float inv = lt != 0.f ? 1.f / lt : 0.f; /* NaN (a NaN row) stays NaN */
                kg_decode_orow<T>(a, b, qrow0, hq)[d] = ksa_from_float<T>(x * inv);
            }
            if (d == 0) kg_decode_store_lse(a, b, qrow0, hq, mt, lt, lse2_out);
        }
        /* no CTA leaves while another still reads its shared memory; the loads above were consumed,
         * so a relaxed arrival will do (measured: ncu put 3% of reuse decode B1 Lk32K's warp samples
         * on the release arrival's memory fence here, behind the output stores) */
        kc_cluster_exit_sync();
    }
}

/* ------------------------------------------------------------------ launchers */
template <int D, typename T, int STAGES, bool TMA, int KCH, int AFF = 0> static cudaError_t kc_md_prepare(void)
{
    static unsigned done, cluster_done; /* devices this kernel was configured on */
    cudaError_t e = kg_allow_smem(kc_mma_decode<D, T, STAGES, TMA, KCH, AFF>, &done);
    int dev = 0;
    if (e != cudaSuccess || cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 32) return e;
    if (!(cluster_done & (1u << dev))) {
        /* clusters of up to 16 CTAs (the in-cluster combine); 8 without the attribute. A device that
         * refuses it keeps the portable size, and the plan's cluster query then says so. */
        int major = 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major >= 9 &&
            cudaFuncSetAttribute(kc_mma_decode<D, T, STAGES, TMA, KCH, AFF>, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) !=
                cudaSuccess)
            (void)cudaGetLastError();
        cluster_done |= 1u << dev;
    }
    return cudaSuccess;
}

template <int D, typename T, int STAGES, bool TMA, int KCH, int AFF = 0>
static int kc_md_launch_s(const ksa_gpu_args *a, const CUtensorMap *mk, const CUtensorMap *mv, int sparse, int window, int splits,
                          int in_cluster, float *partials, float *scores2, int64_t ld, float *lse2_out, cudaStream_t st)
{
    cudaError_t e = kc_md_prepare<D, T, STAGES, TMA, KCH, AFF>();
    if (e != cudaSuccess) return (int)e;
    dim3 grid((unsigned)splits, (unsigned)a->hkv, (unsigned)a->batch);
    size_t smem = kc_md_smem_bytes(D, KCH, STAGES);
    /* a paged pool's page-table row in shared memory (pt_n entries, see the kernel) where the grid
     * is one wave of at most one CTA per SM, so the extra bytes cannot cost a resident CTA, and the
     * row is at most KC_MD_PT_MAX entries */
    int pt_n = 0;
    if (a->kv_layout == KSA_GPU_KV_PAGED && AFF != KC_DEC_AFFINE && a->page_size > 0) {
        static int sms[32], dyn_max[32]; /* per device: SMs and this kernel's dynamic shared-memory limit */
        int dev = 0;
        if (cudaGetDevice(&dev) == cudaSuccess && dev >= 0 && dev < 32) {
            if (sms[dev] == 0) {
                int n = 0, optin = 0;
                cudaFuncAttributes fa;
                if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess &&
                    cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) == cudaSuccess &&
                    cudaFuncGetAttributes(&fa, kc_mma_decode<D, T, STAGES, TMA, KCH, AFF>) == cudaSuccess) {
                    dyn_max[dev] = optin - (int)fa.sharedSizeBytes;
                    sms[dev] = n;
                } else {
                    (void)cudaGetLastError();
                    sms[dev] = -1;
                }
            }
            const int n = (int)(((int64_t)a->max_lk + a->page_size - 1) / a->page_size);
            if (sms[dev] > 0 && n <= KC_MD_PT_MAX && (int64_t)splits * a->hkv * a->batch <= sms[dev] &&
                smem + (size_t)n * 4 <= (size_t)dyn_max[dev]) {
                pt_n = n;
                smem += (size_t)n * 4;
            }
        } else {
            (void)cudaGetLastError();
        }
    }
    return (int)kg_launch_ex(a->pdl, in_cluster ? (unsigned)splits : 1u, kc_mma_decode<D, T, STAGES, TMA, KCH, AFF>, grid, dim3(KC_MD_THREADS),
                             smem, st, *a, *mk, *mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, pt_n);
}
/* the gathered variants: chunk 16 or 32 keys, 2 or 3 stages */
template <int D, typename T, int KCH>
static int kc_md_launch_g(const ksa_gpu_args *a, const CUtensorMap *mk, const CUtensorMap *mv, int sparse, int window, int splits,
                          int in_cluster, float *partials, float *scores2, int64_t ld, float *lse2_out, cudaStream_t st)
{
    const int variant =
        a->vec16 ? kc_dec_copy_variant(sparse, a->kv_layout == KSA_GPU_KV_PAGED, a->page_size, kc_md_cfg<D, KCH>::KC) : KC_DEC_GATHERED;
    if (variant == KC_DEC_AFFINE) { /* dense keys of a contiguous or ragged cache */
        if (a->dec_stages >= 3) return kc_md_launch_s<D, T, 3, false, KCH, KC_DEC_AFFINE>(a, mk, mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
        return kc_md_launch_s<D, T, 2, false, KCH, KC_DEC_AFFINE>(a, mk, mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
    }
    if (variant == KC_DEC_AFFINE_PAGED) { /* dense keys, a chunk (or a 16-key half) per page run */
        if (a->dec_stages >= 3) return kc_md_launch_s<D, T, 3, false, KCH, KC_DEC_AFFINE_PAGED>(a, mk, mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
        return kc_md_launch_s<D, T, 2, false, KCH, KC_DEC_AFFINE_PAGED>(a, mk, mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
    }
    if (a->dec_stages >= 3) return kc_md_launch_s<D, T, 3, false, KCH>(a, mk, mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
    return kc_md_launch_s<D, T, 2, false, KCH>(a, mk, mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
}
template <int D, typename T>
static int kc_md_launch_t(const ksa_gpu_args *a, int sparse, int window, int splits, int in_cluster, float *partials, float *scores2,
                          int64_t ld, float *lse2_out, cudaStream_t st)
{
    CUtensorMap mk, mv;
    memset(&mk, 0, sizeof mk);
    memset(&mv, 0, sizeof mv);
    /* TMA for the dense keys of a uniform contiguous batch or of a paged pool on sm_90 unless the plan
     * chose cp.async (tma_ok), in 16- or 32-key chunks like the gathered path. Paged: boxes of one
     * chunk when the page size is a multiple of it, else of one page when the page holds a multiple
     * of 8 keys and divides the chunk (the kernel then loads a chunk page by page; measured on the
     * H200, dense decode B1 Lk32K in pages of 16: this was cp.async, 1.13x the contiguous time) */
    const bool c16 = D <= 128 && a->dec_chunk == 16;
    const int box = c16 ? 16 : kc_md_cfg<D, 32>::KC;
    const int pbox = a->kv_layout == KSA_GPU_KV_PAGED ? kc_tma_page_rows(a->page_size, box) : box;
    const int tma = a->tma_ok && !sparse && pbox > 0 &&
                    (a->kv_layout == KSA_GPU_KV_PAGED ? kc_tma_paged_maps(a, D, pbox, &mk, &mv) : kc_tma_kv_maps(a, D, box, &mk, &mv));
    if (tma) {
        if constexpr (D <= 128)
            if (c16) {
                if (a->dec_stages >= 3) return kc_md_launch_s<D, T, 3, true, 16>(a, &mk, &mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
                return kc_md_launch_s<D, T, 2, true, 16>(a, &mk, &mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
            }
        if (a->dec_stages >= 3) return kc_md_launch_s<D, T, 3, true, 32>(a, &mk, &mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
        return kc_md_launch_s<D, T, 2, true, 32>(a, &mk, &mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
    }
    if constexpr (D <= 128)
        if (a->dec_chunk == 16) return kc_md_launch_g<D, T, 16>(a, &mk, &mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
    return kc_md_launch_g<D, T, 32>(a, &mk, &mv, sparse, window, splits, in_cluster, partials, scores2, ld, lse2_out, st);
}

/* occupancy of the instantiation `variant` (KC_DEC_*): the register counts differ (measured at D128
 * with 16-key chunks: gathered 206, affine 166, TMA 168; 3 CTAs per SM against 2), the shared memory
 * does not */
template <int D, typename T, int STAGES, bool TMA, int KCH, int AFF> static int kc_md_occ_v(void)
{
    int n = 0;
    cudaError_t e = kc_md_prepare<D, T, STAGES, TMA, KCH, AFF>();
    if (e == cudaSuccess)
        e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kc_mma_decode<D, T, STAGES, TMA, KCH, AFF>, KC_MD_THREADS,
                                                          kc_md_smem_bytes(D, KCH, STAGES));
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return 1;
    }
    return n > 0 ? n : 1;
}
template <int D, typename T, int STAGES, int KCH> static int kc_md_occ_s(int variant)
{
    switch (variant) {
    case KC_DEC_AFFINE: return kc_md_occ_v<D, T, STAGES, false, KCH, KC_DEC_AFFINE>();
    case KC_DEC_AFFINE_PAGED: return kc_md_occ_v<D, T, STAGES, false, KCH, KC_DEC_AFFINE_PAGED>();
    case KC_DEC_TMA: return kc_md_occ_v<D, T, STAGES, true, KCH, 0>();
    default: return kc_md_occ_v<D, T, STAGES, false, KCH, 0>();
    }
}
template <int D, typename T, int KCH> static int kc_md_occ_c(int stages, int variant)
{
    return stages >= 3 ? kc_md_occ_s<D, T, 3, KCH>(variant) : kc_md_occ_s<D, T, 2, KCH>(variant);
}
template <int D, typename T> static int kc_md_occ_t(int stages, int chunk, int variant)
{
    if constexpr (D <= 128)
        if (chunk == 16) return kc_md_occ_c<D, T, 16>(stages, variant);
    return kc_md_occ_c<D, T, 32>(stages, variant);
}

/* resident CTAs per SM; the occupancy calculator runs once per device and configuration (it costs
 * microseconds, and the plan is made twice per call) */
static int kc_md_occ(int head_dim, int dtype, int stages, int chunk, int variant)
{
    if (dtype == KSA_GPU_DT_F16)
        return head_dim == 64    ? kc_md_occ_t<64, ksa_f16>(stages, chunk, variant)
               : head_dim == 128 ? kc_md_occ_t<128, ksa_f16>(stages, chunk, variant)
                                 : kc_md_occ_t<256, ksa_f16>(stages, chunk, variant);
    return head_dim == 64    ? kc_md_occ_t<64, ksa_bf16>(stages, chunk, variant)
           : head_dim == 128 ? kc_md_occ_t<128, ksa_bf16>(stages, chunk, variant)
                             : kc_md_occ_t<256, ksa_bf16>(stages, chunk, variant);
}

extern "C" int kc_mma_decode_blocks_per_sm(int head_dim, int dtype, int stages, int chunk, int variant)
{
    /* device, head_dim 64/128/256, f16/bf16, 2/3 stages, chunk 32/16, variant; 0 = not yet */
    static int cache[32][3][2][2][2][4];
    int dev = 0;
    if (variant < 0 || variant > KC_DEC_TMA) variant = KC_DEC_GATHERED;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 32) return kc_md_occ(head_dim, dtype, stages, chunk, variant);
    int *c = &cache[dev][head_dim == 64 ? 0 : head_dim == 128 ? 1 : 2][dtype == KSA_GPU_DT_F16 ? 0 : 1][stages >= 3 ? 1 : 0]
                   [chunk == 16 ? 1 : 0][variant];
    if (*c == 0) *c = kc_md_occ(head_dim, dtype, stages, chunk, variant);
    return *c;
}

/* how many clusters of `cluster` CTAs of a variant (chunk 32 stands for the TMA one too) the device
 * holds at once: 0 when it cannot run them (cudaOccupancyMaxActiveClusters) */
template <int D, typename T, int STAGES, int KCH> static int kc_md_clusters_v(int cluster)
{
    if (kc_md_prepare<D, T, STAGES, false, KCH>() != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeClusterDimension;
    at[0].val.clusterDim.x = (unsigned)cluster;
    at[0].val.clusterDim.y = 1;
    at[0].val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)cluster);
    cfg.blockDim = dim3(KC_MD_THREADS);
    cfg.dynamicSmemBytes = kc_md_smem_bytes(D, KCH, STAGES);
    cfg.attrs = at;
    cfg.numAttrs = 1;
    int n = 0;
    if (cudaOccupancyMaxActiveClusters(&n, kc_mma_decode<D, T, STAGES, false, KCH>, &cfg) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}
template <int D, typename T> static int kc_md_clusters_t(int stages, int chunk, int cluster)
{
    if constexpr (D <= 128)
        if (chunk == 16) return stages >= 3 ? kc_md_clusters_v<D, T, 3, 16>(cluster) : kc_md_clusters_v<D, T, 2, 16>(cluster);
    return stages >= 3 ? kc_md_clusters_v<D, T, 3, 32>(cluster) : kc_md_clusters_v<D, T, 2, 32>(cluster);
}

extern "C" int kc_mma_decode_max_clusters(int head_dim, int dtype, int stages, int chunk, int cluster)
{
    if (cluster < 2 || cluster > KC_MD_MAX_CLUSTER) return 0;
    /* per device and configuration, once (the query costs microseconds; the plan is made twice per call) */
    static int cache[32][3][2][2][2][KC_MD_MAX_CLUSTER + 1]; /* value + 1; 0 = not yet */
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 32) {
        (void)cudaGetLastError();
        return 0;
    }
    int *c = &cache[dev][head_dim == 64 ? 0 : head_dim == 128 ? 1 : 2][dtype == KSA_GPU_DT_F16 ? 0 : 1][stages >= 3 ? 1 : 0]
                   [chunk == 16 ? 1 : 0][cluster];
    if (*c == 0) {
        int n;
        if (dtype == KSA_GPU_DT_F16)
            n = head_dim == 64 ? kc_md_clusters_t<64, ksa_f16>(stages, chunk, cluster)
                : head_dim == 128 ? kc_md_clusters_t<128, ksa_f16>(stages, chunk, cluster)
                                  : kc_md_clusters_t<256, ksa_f16>(stages, chunk, cluster);
        else
            n = head_dim == 64 ? kc_md_clusters_t<64, ksa_bf16>(stages, chunk, cluster)
                : head_dim == 128 ? kc_md_clusters_t<128, ksa_bf16>(stages, chunk, cluster)
                                  : kc_md_clusters_t<256, ksa_bf16>(stages, chunk, cluster);
        *c = n + 1;
    }
    return *c - 1;
}

/* the launcher-table decode step: partials of c->plan->splits splits (or, with one split, o / lse
 * and for anchor scores the LSE region directly); scores into the SCORES region when with_scores */
extern "C" int kc_launch_mma_decode(const ksa_gpu_args *a, const ksa_gpu_call *c, int sparse, int window, int with_scores)
{
    cudaStream_t st = (cudaStream_t)c->stream;
    const int splits = c->plan->splits;
    float *partials = (float *)ksa_gpu_ws(c, KSA_GPU_WS_PARTIALS);
    float *scores2 = with_scores ? (float *)ksa_gpu_ws(c, KSA_GPU_WS_SCORES) : NULL;
    const int in_cluster = c->plan->decode_cluster && splits > 1;
    float *lse2_out = with_scores && (splits == 1 || in_cluster) ? (float *)ksa_gpu_ws(c, KSA_GPU_WS_LSE) : NULL;
    const int64_t scores_ld = c->plan->lk_ld;
    if (c->kernel)
        snprintf(c->kernel, (size_t)c->kernel_len, "mma_decode_split%d%s_%s_d%d_st%d_c%d", splits, in_cluster ? "_cluster" : "",
                 sparse ? "sparse" : "dense", a->head_dim, a->dec_stages >= 3 ? 3 : 2, a->dec_chunk == 16 ? 16 : 32);
    KG_DISPATCH(a, kc_md_launch_t, a, sparse, window, splits, in_cluster, partials, scores2, scores_ld, lse2_out, st);
}
