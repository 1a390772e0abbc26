/* topk_cluster.cu: the decode Top-k of a few long lists on compute capability 9.0, one thread-block
 * cluster of KC_TKC_CTAS CTAs per (sequence, KV head) list. The shared kg_topk (backends/gpu/
 * decode_topk.cu) gives a list one CTA, so with fewer lists than SMs most of the GPU idles while
 * each CTA walks its 32K scores (anchor decode B1 Lk32K: the Top-k was about half of the call).
 * Here each CTA of the cluster keeps a contiguous part of the list in shared memory; every radix pass
 * counts a histogram per CTA, the CTAs add all the cluster's histograms through distributed shared
 * memory and pick the same bin (ksa_radix_pick_bin); the ordered compaction writes each part's
 * selected keys after the counts of the parts before it (ties to the smaller key, as the reference).
 * Same result as kg_topk, index for index.
 * The kernel pools the dense pass's scores itself as it loads its part (the sum over the group's heads
 * of exp2(score - lse), as kg_decode_pool, in the same order), so no pooling kernel runs; where no
 * combine ran before it (ksa_gpu_plan.decode_topk_pools 2: several splits, sparse output) it also
 * merges each head's splits' (m, l) into its lse, as the combine would, bit for bit. */
#include "ksa_cuda.h"
#include "ksa_gpu_common.cuh"
#include "ksa_gpu_topk.cuh"
#include "ksa_cuda_ptx.cuh"

#define KC_TKC_CTAS 8      /* CTAs per list (a portable cluster size) */
#define KC_TKC_THREADS 512
#define KC_TKC_BATCH 8     /* scores per thread whose loads are issued together */
#define KC_TKC_MAX_PART 8192 /* scores per CTA: lists of up to KC_TKC_CTAS x 8192 = 64K keys */
#define KC_TKC_MAX_GROUP 16  /* query heads per KV head (the tensor-core decode's bound) */
#define KC_TKC_MERGE_MAX 1024 /* (head, split) pairs merged per list: 16 heads x 64 splits */

/* grid: x = rank in the cluster (the list's part), y = b * Hkv + g. scores2: the SCORES region (log2
 * domain, row b * Hq + h); lse2: the LSE region, or NULL when partials (the PARTIALS region of
 * `splits` splits) are to be merged here. */
__global__ void __launch_bounds__(KC_TKC_THREADS) kc_topk_cluster(const __grid_constant__ ksa_gpu_args a, const float *scores2,
                                                                  const float *lse2, const float *partials, int splits, int64_t ld)
{
    extern __shared__ float sPartScores[];
    /* two histograms, used by alternate passes: a CTA clears one only after the next pass's cluster
     * barrier, by which every CTA has read it, so a pass needs one cluster barrier instead of two */
    __shared__ unsigned sHist[2][256], sTot[256];
    __shared__ int sCounts[2 * KC_TKC_THREADS / KSA_WARP_SIZE];
    __shared__ int sPart[2];   /* this part's scores above / equal to the threshold */
    __shared__ int sBefore[2]; /* ... and those of the parts before it */
    __shared__ unsigned sPrefix;
    __shared__ int sRemain;
    __shared__ float sLse[KC_TKC_MAX_GROUP];
    __shared__ float sM[KC_TKC_MERGE_MAX], sL[KC_TKC_MERGE_MAX];
    kg_grid_wait(); /* a.pdl: the dense pass's scores and partials (or lse) are complete */
    const int rank = blockIdx.x, list = blockIdx.y, b = list / a.hkv, g = list % a.hkv, tid = threadIdx.x;
    const int n = kg_lk(a, b), k = (int)kg_budget(a, n), G = a.group;
    int32_t *out = a.indices + (int64_t)b * a.is0 + (int64_t)g * a.is1;
    if (rank == 0 && tid == 0) a.counts[(int64_t)b * a.cs0 + (int64_t)g * a.cs1] = k;
    for (int s = k + rank * KC_TKC_THREADS + tid; s < a.k_slots; s += KC_TKC_CTAS * KC_TKC_THREADS) out[(int64_t)s * a.is3] = -1;
    /* n and k are the same in every CTA of the cluster: these returns leave no barrier half-met */
    if (k <= 0) return;
    if (k >= n) {
        for (int s = rank * KC_TKC_THREADS + tid; s < n; s += KC_TKC_CTAS * KC_TKC_THREADS) out[(int64_t)s * a.is3] = s;
        return;
    }
    const int part = (n + KC_TKC_CTAS - 1) / KC_TKC_CTAS, key0 = rank * part;
    const int np = n - key0 < part ? (n - key0 > 0 ? n - key0 : 0) : part;

    /* each head's lse (log2): merged here from the splits' (m, l) as kg_decode_combine merges them
     * (the maximum, the weights exp2(m - max), the weighted sum in split order), or read */
    const int h0 = g * G;
    if (partials) {
        const int D = a.head_dim;
        const float *pp = partials + ((int64_t)b * a.hq + h0) * splits * (D + 2);
        for (int i = tid; i < G * splits; i += KC_TKC_THREADS) {
            sM[i] = pp[(int64_t)i * (D + 2) + D];
            sL[i] = pp[(int64_t)i * (D + 2) + D + 1];
        }
        __syncthreads();
        if (tid < G) {
            const float *m = sM + tid * splits, *l = sL + tid * splits;
            float mt = KG_NEG_INF;
            for (int s = 0; s < splits; s++) mt = fmaxf(mt, m[s]);
            const float base = mt == KG_NEG_INF ? 0.f : mt;
            float lt = 0.f;
            for (int s = 0; s < splits; s++) lt += l[s] * ksa_exp2(m[s] - base);
            sLse[tid] = kg_lse2_of(mt, lt);
        }
    } else if (tid < G) {
        sLse[tid] = lse2[(int64_t)b * a.hq + h0 + tid];
    }
    for (int i = tid; i < 256; i += KC_TKC_THREADS) sHist[0][i] = 0;
    __syncthreads();

    /* load the part, pooling each key over the group's heads (kg_pool_key's order) and counting the
     * first pass's histogram */
    const float *sc = scores2 + ((int64_t)b * a.hq + h0) * ld + key0;
    for (int j0 = 0; j0 < np; j0 += KC_TKC_BATCH * KC_TKC_THREADS) { /* uniform trip count for ksa_hist_add */
        float v[KC_TKC_BATCH];
#pragma unroll
        for (int u = 0; u < KC_TKC_BATCH; u++) v[u] = 0.f;
#pragma unroll 4
        for (int hl = 0; hl < G; hl++) {
            const float lse = sLse[hl];
            if (lse == KG_NEG_INF) continue; /* a head without keys adds nothing */
            const float *row = sc + (int64_t)hl * ld;
#pragma unroll
            for (int u = 0; u < KC_TKC_BATCH; u++) {
                const int j = j0 + u * KC_TKC_THREADS + tid;
                if (j < np) v[u] += ksa_exp2(row[j] - lse);
            }
        }
#pragma unroll
        for (int u = 0; u < KC_TKC_BATCH; u++) {
            const int j = j0 + u * KC_TKC_THREADS + tid;
            int bin = -1;
            if (j < np) {
                sPartScores[j] = v[u];
                bin = ksa_radix_bin0(v[u]);
            }
            ksa_hist_add(sHist[0], bin);
        }
    }

    unsigned prefix = 0, mask = 0;
    int remain = k;
    for (int pass = 0; pass < 4; pass++) {
        const int shift = 24 - 8 * pass;
        unsigned *hist = sHist[pass & 1];
        if (pass > 0) ksa_radix_count(sPartScores, np, mask, prefix, shift, hist);
        else __syncthreads(); /* the first pass's histogram, counted while loading */
        kc_cluster_sync(); /* every part's histogram of this pass is complete */
        const uint32_t hist_addr = kc_smem_u32(hist);
        for (int i = tid; i < 256; i += KC_TKC_THREADS) {
            unsigned t = 0;
#pragma unroll
            for (int r = 0; r < KC_TKC_CTAS; r++) t += __float_as_uint(kc_cluster_ld_f32(hist_addr + 4u * (uint32_t)i, r));
            sTot[i] = t;
        }
        __syncthreads();
        if (tid < KSA_WARP_SIZE) ksa_radix_pick_bin(sTot, prefix, shift, remain, &sPrefix, &sRemain);
        __syncthreads();
        prefix = sPrefix;
        remain = sRemain;
        mask |= 255u << shift;
        /* the bin is taken whole (the same sums, so the same decision, in every CTA): the scores whose
         * high bits are at or above the prefix are the Top-k, and the compaction below takes them with
         * the prefix (low bits zero) as the threshold and every score equal to it */
        if (sTot[(prefix >> shift) & 255u] == (unsigned)remain) break;
    }

    /* ordered compaction: this part's keys after those of the parts before it */
    ksa_topk_count_segmented(sPartScores, np, prefix, sCounts);
    if (tid == 0) {
        int gt = 0, eq = 0;
        for (int w = 0; w < KC_TKC_THREADS / KSA_WARP_SIZE; w++) {
            gt += sCounts[w];
            eq += sCounts[KC_TKC_THREADS / KSA_WARP_SIZE + w];
        }
        sPart[0] = gt;
        sPart[1] = eq;
    }
    kc_cluster_sync();
    /* the counts of the parts before this one: one lane per part, all loads in flight at once */
    if (tid < KSA_WARP_SIZE) {
        const uint32_t part_addr = kc_smem_u32(sPart);
        int gt = 0, eq = 0;
        if (tid < rank) {
            gt = (int)__float_as_uint(kc_cluster_ld_f32(part_addr, tid));
            eq = (int)__float_as_uint(kc_cluster_ld_f32(part_addr + 4u, tid));
        }
#pragma unroll
        for (int off = KSA_WARP_SIZE / 2; off > 0; off >>= 1) {
            gt += __shfl_xor_sync(KSA_FULL_MASK, gt, off);
            eq += __shfl_xor_sync(KSA_FULL_MASK, eq, off);
        }
        if (tid == 0) {
            sBefore[0] = gt;
            sBefore[1] = eq;
        }
    }
    __syncthreads();
    const int gt0 = sBefore[0], eq0 = sBefore[1];
    ksa_topk_write_segmented(sPartScores, np, prefix, remain, out, a.is3, sCounts, key0, gt0, eq0);
    /* no CTA leaves while another still reads its shared memory; this CTA's loads above were
     * consumed (gt0, eq0), so a relaxed arrival will do, as at the end of mma_decode.cu */
    kc_cluster_exit_sync();
}

/* Built in for split decode on 9.0 when every list's cluster fits in one wave of the SMs (few lists,
 * where the one-CTA Top-k leaves most of the GPU idle) and a part fits its CTA; else the shared
 * kg_topk. cuda_plan (cuda_vendor.c) asks this for an anchor decode's plan and sets
 * ksa_gpu_plan.decode_topk_pools, which the launcher follows. */
extern "C" int kc_topk_cluster_plans(int64_t lists, int64_t max_lk, int group, int splits, int sms)
{
    return max_lk <= (int64_t)KC_TKC_CTAS * KC_TKC_MAX_PART && lists * KC_TKC_CTAS <= sms && group <= KC_TKC_MAX_GROUP &&
           (int64_t)group * splits <= KC_TKC_MERGE_MAX;
}

extern "C" int kc_launch_topk(const ksa_gpu_args *a, const ksa_gpu_call *c, int decode, int tile0, int ntiles)
{
    const ksa_gpu_plan *pl = c->plan;
    if (!decode || !pl->decode_topk_pools) return ksa_gpu_launch_topk(a, c, decode, tile0, ntiles);
    if (a->group > KC_TKC_MAX_GROUP || (int64_t)a->group * pl->splits > KC_TKC_MERGE_MAX) return (int)cudaErrorInvalidValue; /* never planned */
    const int part = (a->max_lk + KC_TKC_CTAS - 1) / KC_TKC_CTAS;
    const float *scores2 = (const float *)ksa_gpu_ws(c, KSA_GPU_WS_SCORES);
    const float *lse2 = pl->decode_topk_pools == 2 ? NULL : (const float *)ksa_gpu_ws(c, KSA_GPU_WS_LSE);
    const float *partials = pl->decode_topk_pools == 2 ? (const float *)ksa_gpu_ws(c, KSA_GPU_WS_PARTIALS) : NULL;
    return (int)kg_launch_ex(a->pdl, KC_TKC_CTAS, kc_topk_cluster, dim3(KC_TKC_CTAS, (unsigned)(a->batch * a->hkv)),
                             dim3(KC_TKC_THREADS), (size_t)part * sizeof(float), (cudaStream_t)c->stream, *a, scores2, lse2,
                             partials, (int)pl->splits, pl->lk_ld);
}
