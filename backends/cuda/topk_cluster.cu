/* topk_cluster.cu: the decode Top-k of a few long lists on compute capability 9.0, one thread-block
 * cluster of KC_TKC_CTAS CTAs per (sequence, KV head) list. The shared kg_topk (backends/gpu/
 * decode_topk.cu) gives a list one CTA, so with fewer lists than SMs most of the GPU idles while
 * each CTA walks its 32K scores (anchor decode B1 Lk32K: the Top-k was about half of the call).
 * Here each CTA of the cluster keeps a contiguous part of the pooled list in shared memory; every
 * radix pass counts a histogram per CTA, the CTAs add all the cluster's histograms through
 * distributed shared memory and pick the same bin (ksa_radix_pick_bin); the ordered compaction
 * writes each part's selected keys after the counts of the parts before it (ties to the smaller
 * key, as the reference). Same result as kg_topk, index for index. */
#include "ksa_cuda.h"
#include "ksa_gpu_common.cuh"
#include "ksa_gpu_topk.cuh"
#include "ksa_cuda_ptx.cuh"

#define KC_TKC_CTAS 8      /* CTAs per list (a portable cluster size) */
#define KC_TKC_THREADS 512
#define KC_TKC_BATCH 8     /* scores per thread whose loads are issued together */
#define KC_TKC_MAX_PART 8192 /* scores per CTA: lists of up to 64K keys */

/* grid: x = rank in the cluster (the list's part), y = b * Hkv + g; pooled: the POOLED region */
__global__ void __launch_bounds__(KC_TKC_THREADS) kc_topk_cluster(const __grid_constant__ ksa_gpu_args a, const float *pooled, int64_t ld)
{
    extern __shared__ float sPartScores[];
    __shared__ unsigned sHist[256], sTot[256];
    __shared__ int sCounts[2 * KC_TKC_THREADS / KSA_WARP_SIZE];
    __shared__ int sPart[2]; /* this part's scores above / equal to the threshold */
    __shared__ unsigned sPrefix;
    __shared__ int sRemain;
    const int rank = blockIdx.x, list = blockIdx.y, b = list / a.hkv, g = list % a.hkv, tid = threadIdx.x;
    const int n = kg_lk(a, b), k = (int)kg_budget(a, n);
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
    const float *sc = pooled + (int64_t)list * ld + key0;

    /* load the part, counting the first pass's histogram */
    for (int i = tid; i < 256; i += KC_TKC_THREADS) sHist[i] = 0;
    __syncthreads();
    for (int j0 = 0; j0 < np; j0 += KC_TKC_BATCH * KC_TKC_THREADS) { /* uniform trip count for ksa_hist_add */
        float v[KC_TKC_BATCH];
#pragma unroll
        for (int u = 0; u < KC_TKC_BATCH; u++) {
            const int j = j0 + u * KC_TKC_THREADS + tid;
            v[u] = j < np ? sc[j] : 0.f;
        }
#pragma unroll
        for (int u = 0; u < KC_TKC_BATCH; u++) {
            const int j = j0 + u * KC_TKC_THREADS + tid;
            int bin = -1;
            if (j < np) {
                sPartScores[j] = v[u];
                bin = ksa_radix_bin0(v[u]);
            }
            ksa_hist_add(sHist, bin);
        }
    }

    unsigned prefix = 0, mask = 0;
    int remain = k;
    const uint32_t hist_addr = kc_smem_u32(sHist);
    for (int pass = 0; pass < 4; pass++) {
        const int shift = 24 - 8 * pass;
        if (pass > 0) ksa_radix_count(sPartScores, np, mask, prefix, shift, sHist);
        else __syncthreads(); /* the first pass's histogram, counted while loading */
        kc_cluster_sync(); /* every part's histogram of this pass is complete */
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
        kc_cluster_sync(); /* every CTA has read the histograms before the next pass clears them */
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
    int gt0 = 0, eq0 = 0;
    const uint32_t part_addr = kc_smem_u32(sPart);
    for (int r = 0; r < rank; r++) {
        gt0 += (int)__float_as_uint(kc_cluster_ld_f32(part_addr, r));
        eq0 += (int)__float_as_uint(kc_cluster_ld_f32(part_addr + 4u, r));
    }
    ksa_topk_write_segmented(sPartScores, np, prefix, remain, out, a.is3, sCounts, key0, gt0, eq0);
    /* no CTA leaves while another still reads its shared memory; this CTA's loads above were
     * consumed (gt0, eq0), so a relaxed arrival will do, as at the end of mma_decode.cu */
    kc_cluster_exit_sync();
}

/* Built in for split decode on 9.0 when every list's cluster fits in one wave of the SMs (few lists,
 * where the one-CTA Top-k leaves most of the GPU idle) and a part fits its CTA; else the shared
 * kg_topk. The decode's pooling kernel has then run (it is only folded into kg_topk with at least
 * as many lists as SMs). */
static int kc_topk_cluster_fits(const ksa_gpu_args *a, const ksa_gpu_call *c)
{
    if (!c->plan->split_decode || a->max_lk > KC_TKC_CTAS * KC_TKC_MAX_PART) return 0;
    return (int64_t)a->batch * a->hkv * KC_TKC_CTAS <= c->plan->sms;
}

extern "C" int kc_launch_topk(const ksa_gpu_args *a, const ksa_gpu_call *c, int decode, int tile0, int ntiles)
{
    if (!decode || !kc_topk_cluster_fits(a, c)) return ksa_gpu_launch_topk(a, c, decode, tile0, ntiles);
    const int part = (a->max_lk + KC_TKC_CTAS - 1) / KC_TKC_CTAS;
    const float *pooled = (const float *)ksa_gpu_ws(c, KSA_GPU_WS_POOLED);
    return (int)kg_launch_ex(0, KC_TKC_CTAS, kc_topk_cluster, dim3(KC_TKC_CTAS, (unsigned)(a->batch * a->hkv)), dim3(KC_TKC_THREADS),
                             (size_t)part * sizeof(float), (cudaStream_t)c->stream, *a, pooled, c->plan->lk_ld);
}
