/* ksa_gpu_topk.cuh: the exact block-level Top-k of the Kascade selection, shared by the CUDA
 * (decode_topk.cu: kg_topk) and HIP (kh_kernels.h: kh_pool_topk) kernels:
 *  - ksa_radix_select: 4 passes of 8 bits over the float bits of non-negative scores (whose bit
 *    patterns order like unsigned integers) find the bit pattern of the k-th largest score and how
 *    many scores equal to it are still to be taken;
 *  - ksa_topk_compact: ordered compaction of the selected keys (all above the threshold, then the
 *    first `remain` equal to it, so ties go to the smaller key, as in the reference), ascending;
 *    ksa_topk_compact_segmented: the same with one barrier, for scores in shared memory, in two
 *    halves (ksa_topk_count_segmented, ksa_topk_write_segmented) that the CUDA cluster Top-k
 *    (backends/cuda/topk_cluster.cu) runs on each part of a list, with ksa_radix_pick_bin, the
 *    bin search of one radix pass;
 *  - ksa_topk_sampled: for long lists in shared memory, a sampled pivot that leaves ~15% of the list
 *    to the two above (CUDA's kg_topk<true>).
 * Both must be called by every thread of the block with block-uniform n and k, and 0 < k < n.
 * Thread tid reads scores tid, tid + blockDim.x, ... (the HIP pooling pass relies on that mapping:
 * each score is read back by the thread that wrote it). */
#ifndef KSA_GPU_TOPK_CUH
#define KSA_GPU_TOPK_CUH

#include <stdint.h>

#include "ksa_gpu_vendor.h"
#include "ksa_gpu_reduce.cuh"

/* adds one to s_hist[bin] for each lane of the wave with bin >= 0; every lane of the wave must call
 * it. A wave without a counted lane (most of them after the first radix pass) does nothing. */
static __device__ __forceinline__ void ksa_hist_add(unsigned *s_hist, int bin)
{
    if (!ksa_ballot(bin >= 0)) return; /* wave-uniform */
#if defined(KSA_GPU_HIP_BRANCH) || (defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 700)
    if (bin >= 0) atomicAdd(&s_hist[bin], 1u);
#else
    /* pooled scores share their high bits: aggregate equal bins within the warp first */
    const unsigned peers = __match_any_sync(KSA_FULL_MASK, bin);
    if (bin >= 0 && (int)(threadIdx.x % KSA_WARP_SIZE) == __ffs(peers) - 1) atomicAdd(&s_hist[bin], (unsigned)__popc(peers));
#endif
}

/* the first radix pass's bin of a score: its top 8 bits */
static __device__ __forceinline__ int ksa_radix_bin0(float score) { return (int)(__float_as_uint(score) >> 24); }

/* The bin of the radix pass at `shift` that holds the remain-th largest score, for the first wave
 * (lanes 0 .. KSA_WARP_SIZE - 1; every lane of it must call): lane l sums bins 255 - l * BPL down to
 * 255 - l * BPL - BPL + 1, a prefix sum over the lanes (highest bins first) finds the lane where the
 * count reaches remain, and that lane walks its BPL bins and writes the extended prefix and what
 * remains to take inside the bin (one thread walking all 256 bins serially cost several
 * microseconds per pass). */
static __device__ __forceinline__ void ksa_radix_pick_bin(const unsigned *hist, unsigned prefix, int shift, int remain,
                                                          unsigned *s_prefix, int *s_remain)
{
    const int lane = threadIdx.x % KSA_WARP_SIZE;
    constexpr int BPL = 256 / KSA_WARP_SIZE;
    int c[BPL], tot = 0;
#pragma unroll
    for (int i = 0; i < BPL; i++) {
        c[i] = (int)hist[255 - lane * BPL - i];
        tot += c[i];
    }
    int incl = tot;
#pragma unroll
    for (int off = 1; off < KSA_WARP_SIZE; off <<= 1) {
        const int v = ksa_shfl_up_i(incl, off);
        if (lane >= off) incl += v;
    }
    int cum = incl - tot;
    if (cum < remain && remain <= incl) {
#pragma unroll
        for (int i = 0; i < BPL; i++) {
            if (cum + c[i] >= remain) {
                *s_prefix = prefix | ((unsigned)(255 - lane * BPL - i) << shift);
                *s_remain = remain - cum;
                break;
            }
            cum += c[i];
        }
    }
}

/* s_hist = the histogram, at the radix pass's `shift`, of the scores sc[0..n) whose bits under `mask`
 * equal `prefix`; every thread of the block calls it, after the last reads of s_hist; clears s_hist,
 * and ends with a block barrier */
static __device__ __forceinline__ void ksa_radix_count(const float *sc, int n, unsigned mask, unsigned prefix, int shift,
                                                       unsigned *s_hist)
{
    for (int i = threadIdx.x; i < 256; i += blockDim.x) s_hist[i] = 0;
    __syncthreads();
    for (int j0 = 0; j0 < n; j0 += blockDim.x) { /* uniform trip count: every lane reaches the match */
        const int j = j0 + threadIdx.x;
        int bin = -1;
        if (j < n) {
            const unsigned u = __float_as_uint(sc[j]);
            if ((u & mask) == prefix) bin = (int)((u >> shift) & 255u);
        }
        ksa_hist_add(s_hist, bin);
    }
    __syncthreads();
}

/* s_hist: shared unsigned[256]; s_prefix, s_remain: shared scalars. On return *threshold is the bit
 * pattern of the k-th largest score and *remain how many scores equal to it belong to the Top-k.
 * hist0_ready: the caller has already filled s_hist with the first pass's histogram (ksa_hist_add of
 * ksa_radix_bin0 of every score, followed by a block barrier), for example while it loaded the scores.
 * s_cand (shared float[cand_cap], or NULL) and s_ncand (shared int): once the bin that holds the
 * threshold has at most cand_cap scores, those scores (the only ones the later passes look at) are
 * copied there, in any order, and the remaining passes read them instead of all n scores. */
static __device__ __forceinline__ void ksa_radix_select(const float *sc, int n, int k, unsigned *s_hist,
                                                        unsigned *s_prefix, int *s_remain, unsigned *threshold,
                                                        int *remain_out, int hist0_ready, float *s_cand = nullptr,
                                                        int cand_cap = 0, int *s_ncand = nullptr)
{
    const int tid = threadIdx.x;
    unsigned prefix = 0, mask = 0;
    int remain = k;
    bool collected = false;
    for (int pass = 0; pass < 4; pass++) {
        const int shift = 24 - 8 * pass;
        if (pass > 0 || !hist0_ready) ksa_radix_count(sc, n, mask, prefix, shift, s_hist);
        if (tid < KSA_WARP_SIZE) ksa_radix_pick_bin(s_hist, prefix, shift, remain, s_prefix, s_remain);
        __syncthreads();
        prefix = *s_prefix;
        remain = *s_remain;
        mask |= 255u << shift;
        const int in_bin = (int)s_hist[(prefix >> shift) & 255u]; /* block-uniform */
        if (tid == 0 && s_ncand) *s_ncand = 0;
        __syncthreads();
        if (pass < 3 && s_cand && !collected && in_bin <= cand_cap && in_bin < n) {
            /* wave-aggregated appends: one shared atomic per wave and loop step */
            const int lane = tid % KSA_WARP_SIZE;
            for (int j0 = 0; j0 < n; j0 += blockDim.x) {
                const int j = j0 + tid;
                const float v = j < n ? sc[j] : 0.f;
                const int take = j < n && (__float_as_uint(v) & mask) == prefix;
                const ksa_lane_mask w = ksa_ballot(take);
                if (!w) continue; /* wave-uniform */
                int base = 0;
                if (lane == 0) base = atomicAdd(s_ncand, ksa_popc_mask(w));
                base = __float_as_int(ksa_shfl(__int_as_float(base), 0));
                if (take) s_cand[base + ksa_popc_mask(w & ksa_lanes_below(lane))] = v;
            }
            __syncthreads();
            sc = s_cand;
            n = in_bin;
            collected = true;
        }
    }
    *threshold = prefix;
    *remain_out = remain;
}

/* writes the k selected keys of sc[0..n) to out[0], out[stride], ... in ascending key order.
 * s_waves: shared int[blockDim.x / KSA_WARP_SIZE]. */
static __device__ __forceinline__ void ksa_topk_compact(const float *sc, int n, int k, unsigned threshold, int remain,
                                                        int32_t *out, int64_t stride, int *s_waves)
{
    const int nwaves = blockDim.x / KSA_WARP_SIZE;
    int eq_taken = 0, written = 0;
    for (int j0 = 0; j0 < n; j0 += blockDim.x) {
        int j = j0 + threadIdx.x;
        unsigned u = j < n ? __float_as_uint(sc[j]) : 0u;
        int gt = j < n && u > threshold, eq = j < n && u == threshold;
        int eq_total;
        int eq_rank = ksa_block_rank(eq, s_waves, nwaves, &eq_total);
        int sel = gt || (eq && eq_taken + eq_rank < remain);
        int sel_total;
        int sel_rank = ksa_block_rank(sel, s_waves, nwaves, &sel_total);
        if (sel) out[(int64_t)(written + sel_rank) * stride] = j;
        eq_taken += eq_total;
        written += sel_total;
        if (written >= k) break; /* block-uniform */
    }
}

/* the scores [j0, j1) of sc[0..n) that warp `wave` takes in the segmented compaction: contiguous
 * runs of whole waves' widths, in key order */
static __device__ __forceinline__ void ksa_topk_warp_segment(int n, int wave, int nwaves, int *j0, int *j1)
{
    const int seg = (n + nwaves * KSA_WARP_SIZE - 1) / (nwaves * KSA_WARP_SIZE) * KSA_WARP_SIZE;
    *j0 = wave * seg;
    *j1 = *j0 + seg < n ? *j0 + seg : n;
}

/* first half of ksa_topk_compact_segmented: each warp counts the scores of its segment above and
 * equal to the threshold into s_counts[wave] and s_counts[nwaves + wave]; ends with a block barrier */
static __device__ __forceinline__ void ksa_topk_count_segmented(const float *sc, int n, unsigned threshold, int *s_counts)
{
    const int nwaves = blockDim.x / KSA_WARP_SIZE, wave = threadIdx.x / KSA_WARP_SIZE, lane = threadIdx.x % KSA_WARP_SIZE;
    int j0, j1;
    ksa_topk_warp_segment(n, wave, nwaves, &j0, &j1);
    int gt = 0, eq = 0;
    for (int j = j0 + lane; j - lane < j1; j += KSA_WARP_SIZE) { /* warp-uniform trip count */
        const unsigned u = j < j1 ? __float_as_uint(sc[j]) : 0u;
        gt += ksa_popc_mask(ksa_ballot(j < j1 && u > threshold));
        eq += ksa_popc_mask(ksa_ballot(j < j1 && u == threshold));
    }
    if (lane == 0) {
        s_counts[wave] = gt;
        s_counts[nwaves + wave] = eq;
    }
    __syncthreads();
}

/* second half: writes the selected keys key0 + j of sc[0..n) in key order after gt0 scores above
 * the threshold and eq0 equal to it that come before sc[0] (other blocks' parts of one list); with
 * `keys` (ascending), score j belongs to key keys[j] instead of key0 + j */
static __device__ __forceinline__ void ksa_topk_write_segmented(const float *sc, int n, unsigned threshold, int remain, int32_t *out,
                                                                int64_t stride, const int *s_counts, int key0, int gt0, int eq0,
                                                                const int *keys = nullptr)
{
    const int nwaves = blockDim.x / KSA_WARP_SIZE, wave = threadIdx.x / KSA_WARP_SIZE, lane = threadIdx.x % KSA_WARP_SIZE;
    int j0, j1;
    ksa_topk_warp_segment(n, wave, nwaves, &j0, &j1);
    int gt_before = gt0, eq_before = eq0;
    for (int w = 0; w < wave; w++) {
        gt_before += s_counts[w];
        eq_before += s_counts[nwaves + w];
    }
    /* ties go to the smaller key: the first `remain` equal scores in key order */
    int written = gt_before + (eq_before < remain ? eq_before : remain), eq_taken = eq_before;
    const ksa_lane_mask below = ksa_lanes_below(lane);
    for (int j = j0 + lane; j - lane < j1; j += KSA_WARP_SIZE) {
        const unsigned u = j < j1 ? __float_as_uint(sc[j]) : 0u;
        const int is_eq = j < j1 && u == threshold;
        const ksa_lane_mask eqm = ksa_ballot(is_eq);
        const int sel = (j < j1 && u > threshold) || (is_eq && eq_taken + ksa_popc_mask(eqm & below) < remain);
        const ksa_lane_mask selm = ksa_ballot(sel);
        if (sel) out[(int64_t)(written + ksa_popc_mask(selm & below)) * stride] = keys ? keys[j] : key0 + j;
        written += ksa_popc_mask(selm);
        eq_taken += ksa_popc_mask(eqm);
    }
}

/* the same selection as ksa_topk_compact with one block barrier instead of two per blockDim.x
 * scores: each warp takes a contiguous segment of the scores, counts its scores above and equal to
 * the threshold, and after one exchange of the counts writes its selected keys from the offset the
 * warps before it leave. Meant for scores in shared memory (every score is read twice).
 * s_counts: shared int[2 * blockDim.x / KSA_WARP_SIZE]. */
static __device__ __forceinline__ void ksa_topk_compact_segmented(const float *sc, int n, unsigned threshold, int remain,
                                                                  int32_t *out, int64_t stride, int *s_counts,
                                                                  const int *keys = nullptr)
{
    ksa_topk_count_segmented(sc, n, threshold, s_counts);
    ksa_topk_write_segmented(sc, n, threshold, remain, out, stride, s_counts, 0, 0, 0, keys);
}

/* the sample rank of ksa_topk_sampled's pivot for a list of n scores, k selected, s samples (host
 * and device: the CUDA launcher plans the streamed Top-k by it) */
static __host__ __device__ __forceinline__ int ksa_topk_pivot_rank(int n, int k, int s)
{
    const int ks = (int)(((int64_t)k * s + n - 1) / n);
    return ks + 4 * (int)ceilf(sqrtf((float)ks)) + 4;
}
/* the fewest scores per thread of a list that ksa_topk_sampled takes: the pivot's fixed cost (two
 * block-wide radix selects) outweighed what it saves on lists of 8 per thread (anchor decode B64
 * Lk8K was 1.8% slower on the H200). The CUDA launcher picks kg_topk<true> by the same bound. */
#define KSA_TOPK_SAMPLED_MIN_PER_THREAD 12
/* whether ksa_topk_sampled tries its pivot (block-uniform): lists of at least
 * KSA_TOPK_SAMPLED_MIN_PER_THREAD x blockDim.x scores whose expected candidates fill at most 7/8 of
 * cand_cap (else the two passes would likely be wasted) */
static __device__ __forceinline__ int ksa_topk_sampled_fits(int n, int k, int cand_cap)
{
    const int s = blockDim.x, klo = ksa_topk_pivot_rank(n, k, s);
    return n >= KSA_TOPK_SAMPLED_MIN_PER_THREAD * s && cand_cap >= s && klo < s &&
           (int64_t)klo * n * 8 <= (int64_t)cand_cap * s * 7;
}
/* Sample-guided Top-k of a list held in shared memory, sc[0..n) (0 < k < n), for lists whose scores
 * share their high bits (near-uniform pooled probabilities): there every radix pass over the whole
 * list spreads over many bins, and the bin that holds the threshold after the first pass holds most
 * of the list, so the radix select needs two full-list histogram passes (their warp matches and
 * shared atomics were half of the anchor prefill's Top-k time on the H200). Here:
 *  1. the k_lo-th largest of blockDim.x evenly spaced samples is a pivot `lo` (k_lo: the sample rank
 *     of k plus a margin of about four standard deviations, so that at least k scores are >= lo
 *     unless the sample is unlucky);
 *  2. one ballot pass counts the scores >= lo per warp segment and, if there are at least k of them
 *     and they fit in `cand` (int[cand_cap]), a second writes their keys there in ascending order;
 *  3. their scores are gathered to sc[0..c) (the list is not needed any more), the exact radix select
 *     runs on those c scores and the ordered compaction writes keys cand[j].
 * Every score >= the k-th largest is >= lo, so the index set (ties to the smaller key included) is
 * the full-list selection's. Returns 0, block-uniformly, with sc untouched when the pivot does not
 * qualify (too few or too many candidates): the caller then selects over the whole list.
 * s_counts: shared int[2 * nwaves]. */
static __device__ __forceinline__ int ksa_topk_sampled(float *sc, int n, int k, int *cand, int cand_cap, unsigned *s_hist,
                                                       unsigned *s_prefix, int *s_remain, int *s_ncand, int *s_counts,
                                                       int32_t *out, int64_t stride)
{
    const int tid = threadIdx.x, S = blockDim.x, nwaves = S / KSA_WARP_SIZE;
    const int wave = tid / KSA_WARP_SIZE, lane = tid % KSA_WARP_SIZE;
    if (!ksa_topk_sampled_fits(n, k, cand_cap)) return 0;
    const int klo = ksa_topk_pivot_rank(n, k, S);
    float *sample = (float *)cand;
    sample[tid] = sc[(int64_t)tid * n / S];
    __syncthreads();
    unsigned lo;
    int unused;
    ksa_radix_select(sample, S, klo, s_hist, s_prefix, s_remain, &lo, &unused, 0);
    int j0, j1;
    ksa_topk_warp_segment(n, wave, nwaves, &j0, &j1);
    int cnt = 0;
    for (int j = j0 + lane; j - lane < j1; j += KSA_WARP_SIZE) /* warp-uniform trip count */
        cnt += ksa_popc_mask(ksa_ballot(j < j1 && __float_as_uint(sc[j]) >= lo));
    if (lane == 0) s_counts[wave] = cnt;
    __syncthreads(); /* also: every read of the sample is done before cand is written */
    int c = 0, base = 0;
    for (int w = 0; w < nwaves; w++) {
        const int cw = s_counts[w];
        if (w < wave) base += cw;
        c += cw;
    }
    if (c < k || c > cand_cap) return 0; /* block-uniform */
    const ksa_lane_mask below = ksa_lanes_below(lane);
    for (int j = j0 + lane; j - lane < j1; j += KSA_WARP_SIZE) {
        const int take = j < j1 && __float_as_uint(sc[j]) >= lo;
        const ksa_lane_mask m = ksa_ballot(take);
        if (take) cand[base + ksa_popc_mask(m & below)] = j;
        base += ksa_popc_mask(m);
    }
    __syncthreads();
    if (c == k) { /* every candidate is selected */
        for (int i = tid; i < c; i += S) out[(int64_t)i * stride] = cand[i];
        return 1;
    }
    /* gather in place: cand is ascending, so cand[i] >= i and a chunk of positions reads only at or
     * beyond its own start, which no earlier chunk has written */
    for (int i0 = 0; i0 < c; i0 += S) {
        const int i = i0 + tid;
        const float v = i < c ? sc[cand[i]] : 0.f;
        __syncthreads();
        if (i < c) sc[i] = v;
    }
    __syncthreads();
    unsigned threshold;
    int remain;
    ksa_radix_select(sc, c, k, s_hist, s_prefix, s_remain, &threshold, &remain, 0, sc + c, n - c, s_ncand);
    ksa_topk_compact_segmented(sc, c, threshold, remain, out, stride, s_counts, cand);
    return 1;
}

#endif /* KSA_GPU_TOPK_CUH */
