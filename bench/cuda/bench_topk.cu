/* bench_topk.cu: ksa-topk-bench, the anchor decode's Top-k timed on its own and against CUB (issue
 * 18: "Top-k over 32K candidates per (b, KV head) must not dominate: measure it separately"; use
 * CUB's primitives where they are as fast). One list of n pooled scores per (sequence, KV head),
 * B x 8 lists, k from the default budget rule (f 0.10, min 128, multiple of 128); the result is the
 * k largest keys written in ascending key order, ties to the smaller key (the reference's rule).
 * Methods (each timed with CUDA events, median of repeats after warm-up, on the same scores):
 *  - ksa: the CUDA plugin's own Top-k launcher (kc_launch_topk: an 8-CTA cluster per list when
 *    lists x 8 <= SMs, else kg_topk, one 1024-thread CTA per list), compiled into this program from
 *    the plugin's sources and given a hand-made argument block and workspace plan;
 *  - cub-radix-sort: the toolkit's CUB, DeviceSegmentedRadixSort::SortPairsDescending of (score,
 *    key) per list (a stable sort, so the same selection as ksa), the first k keys of each list
 *    copied out and put in ascending order with DeviceSegmentedRadixSort::SortKeys;
 *  - cub-merge-sort: the same with DeviceSegmentedSort::StableSortPairsDescending;
 *  - cub-batched-topk (only when built against CCCL >= 3.5, which has it: the nvidia-cuda-cccl
 *    package, see bench/cuda/CMakeLists.txt): DeviceBatchedTopK::MaxPairs, one block per list,
 *    unordered output with ties unspecified (the only mode that release implements), then the same
 *    ascending sort. Its selection can differ from ksa's only at a tie at the k-th score.
 * Every method's indices are compared with ksa's; a mismatch is reported in the line ("agree").
 * Scores: 4 heads' probabilities summed per key, exp(sigma * z) with z about N(0, 1): sigma 0.33 is
 * what ksa-bench's uniform random q, k give at head_dim 128 (flat: the radix passes must go deep),
 * sigma 2.5 a peaked list (most keys drop out after the first pass).
 *   ksa-topk-bench [--quick] [--reps N]   (one JSON object per line on stdout) */
#include <algorithm>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include <cub/device/device_segmented_radix_sort.cuh>
#include <cub/device/device_segmented_sort.cuh>
#include <cuda_runtime.h>
#if __has_include(<cub/device/device_batched_topk.cuh>)
#include <cub/device/device_batched_topk.cuh>
#include <cuda/iterator>
#define KSA_BENCH_BATCHED_TOPK 1
#endif

#include "bench_timing.cuh"
#include "ksa_gpu_launch.h"
#include "../../dispatch/ksa_budget_rules.h"

extern "C" int kc_launch_topk(const ksa_gpu_args *a, const ksa_gpu_call *c, int decode, int tile0, int ntiles);

#define HKV 8
#define GROUP 4

static cudaStream_t g_cs;

/* pooled score of key j of list l: sum over GROUP heads of exp(sigma * z), z a hashed approximate
 * standard normal (sum of 4 uniforms, centred and scaled) */
__global__ void fill_pooled(float *p, int lists, int n, float sigma, uint32_t seed)
{
    const size_t total = (size_t)lists * n;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        float s = 0.f;
        for (int h = 0; h < GROUP; h++) {
            float z = 0.f;
            for (int u = 0; u < 4; u++) {
                uint32_t x = (uint32_t)(i * 16 + h * 4 + u) * 2654435761u ^ seed;
                x ^= x >> 15;
                x *= 2246822519u;
                x ^= x >> 13;
                z += (x & 0xffffff) / 16777216.0f;
            }
            z = (z - 2.f) * 1.7320508f; /* variance of a sum of 4 uniforms is 1/3 */
            s += __expf(sigma * z);
        }
        p[i] = s;
    }
}

__global__ void fill_iota(int *v, int lists, int n)
{
    const size_t total = (size_t)lists * n;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        v[i] = (int)(i % n);
}

/* the first k keys of each sorted list */
__global__ void take_first(const int *sorted_keys, int n, int k, int *out)
{
    const int l = blockIdx.y;
    for (int s = blockIdx.x * blockDim.x + threadIdx.x; s < k; s += gridDim.x * blockDim.x)
        out[(size_t)l * k + s] = sorted_keys[(size_t)l * n + s];
}

__global__ void offsets(int *begin, int *end, int lists, int stride, int len)
{
    const int l = blockIdx.x * blockDim.x + threadIdx.x;
    if (l < lists) {
        begin[l] = l * stride;
        end[l] = l * stride + len;
    }
}

template <typename F> static double time_ms(F fn, int reps) { return bench_median_ms(g_cs, fn, reps, 3); }

/* lists whose k indices differ from the reference's */
static int lists_differing(const std::vector<int> &ref, const int *d_out, int lists, int k)
{
    std::vector<int> h((size_t)lists * k);
    CHECK_CUDA(cudaMemcpy(h.data(), d_out, h.size() * sizeof(int), cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int l = 0; l < lists; l++)
        if (memcmp(&h[(size_t)l * k], &ref[(size_t)l * k], (size_t)k * sizeof(int)) != 0) bad++;
    return bad;
}

static void emit(const char *method, int B, int n, int k, const char *dist, double ms, int agree_lists, int lists,
                 const char *note)
{
    printf("{\"bench\":\"topk\",\"method\":\"%s\",\"batch\":%d,\"kv_heads\":%d,\"lists\":%d,\"n\":%d,\"k\":%d,"
           "\"scores\":\"%s\",\"ms\":%.5f,\"us\":%.2f,\"lists_agreeing_with_ksa\":%d%s%s%s}\n",
           method, B, HKV, lists, n, k, dist, ms, ms * 1e3, agree_lists, note ? ",\"note\":\"" : "", note ? note : "",
           note ? "\"" : "");
    fflush(stdout);
}

#ifdef KSA_BENCH_BATCHED_TOPK
struct SegPtr {
    const float *base;
    int ld;
    __host__ __device__ const float *operator()(int l) const { return base + (size_t)l * ld; }
};
struct SegOut {
    float *base;
    int k;
    __host__ __device__ float *operator()(int l) const { return base + (size_t)l * k; }
};
struct SegOutI {
    int *base;
    int k;
    __host__ __device__ int *operator()(int l) const { return base + (size_t)l * k; }
};
struct SegIota {
    __host__ __device__ cuda::counting_iterator<int> operator()(int) const { return cuda::counting_iterator<int>(0); }
};

/* DeviceBatchedTopK needs the list length as a compile-time bound */
template <int N>
static cudaError_t batched_topk(void *tmp, size_t &bytes, const float *pooled, float *kout, int *vout, int lists, int k)
{
    auto keys_in = cuda::make_transform_iterator(cuda::counting_iterator<int>(0), SegPtr{pooled, N});
    auto keys_out = cuda::make_transform_iterator(cuda::counting_iterator<int>(0), SegOut{kout, k});
    auto vals_in = cuda::make_transform_iterator(cuda::counting_iterator<int>(0), SegIota{});
    auto vals_out = cuda::make_transform_iterator(cuda::counting_iterator<int>(0), SegOutI{vout, k});
    auto env = cuda::std::execution::env{cuda::stream_ref{g_cs},
                                         cuda::execution::require(cuda::execution::determinism::not_guaranteed,
                                                                  cuda::execution::tie_break::unspecified,
                                                                  cuda::execution::output_ordering::unsorted)};
    return cub::DeviceBatchedTopK::MaxPairs(tmp, bytes, keys_in, keys_out, vals_in, vals_out, cuda::args::constant<N>{},
                                            cuda::args::immediate{k}, lists, env);
}
#endif

static void run_point(int B, int n, float sigma, const char *dist, int reps, int sms)
{
    const int lists = B * HKV;
    ksa_budget_rule rule;
    memset(&rule, 0, sizeof rule);
    rule.fraction = 0.10;
    rule.min_k = 128;
    rule.round_multiple = 128;
    rule.tile_size = 32;
    const int k = (int)ksa_rule_budget(&rule, n);

    float *pooled, *keys_sorted, *keys_k;
    int *iota, *vals_sorted, *ksa_idx, *ksa_cnt, *first_k, *ordered, *seg_b, *seg_e, *segk_b, *segk_e;
    CHECK_CUDA(cudaMalloc(&pooled, (size_t)lists * n * sizeof(float)));
    CHECK_CUDA(cudaMalloc(&keys_sorted, (size_t)lists * n * sizeof(float)));
    CHECK_CUDA(cudaMalloc(&keys_k, (size_t)lists * k * sizeof(float)));
    CHECK_CUDA(cudaMalloc(&iota, (size_t)lists * n * sizeof(int)));
    CHECK_CUDA(cudaMalloc(&vals_sorted, (size_t)lists * n * sizeof(int)));
    CHECK_CUDA(cudaMalloc(&ksa_idx, (size_t)lists * k * sizeof(int)));
    CHECK_CUDA(cudaMalloc(&ksa_cnt, (size_t)lists * sizeof(int)));
    CHECK_CUDA(cudaMalloc(&first_k, (size_t)lists * k * sizeof(int)));
    CHECK_CUDA(cudaMalloc(&ordered, (size_t)lists * k * sizeof(int)));
    CHECK_CUDA(cudaMalloc(&seg_b, lists * sizeof(int)));
    CHECK_CUDA(cudaMalloc(&seg_e, lists * sizeof(int)));
    CHECK_CUDA(cudaMalloc(&segk_b, lists * sizeof(int)));
    CHECK_CUDA(cudaMalloc(&segk_e, lists * sizeof(int)));
    fill_pooled<<<1024, 256, 0, g_cs>>>(pooled, lists, n, sigma, 0x5eed1u + (uint32_t)n + (uint32_t)B);
    fill_iota<<<1024, 256, 0, g_cs>>>(iota, lists, n);
    offsets<<<(lists + 255) / 256, 256, 0, g_cs>>>(seg_b, seg_e, lists, n, n);
    offsets<<<(lists + 255) / 256, 256, 0, g_cs>>>(segk_b, segk_e, lists, k, k);
    CHECK_CUDA(cudaGetLastError());

    /* ksa: the plugin's launcher on a pooled list, as anchor decode calls it (uniform lengths) */
    ksa_gpu_args a;
    memset(&a, 0, sizeof a);
    a.batch = B;
    a.hq = HKV * GROUP;
    a.hkv = HKV;
    a.group = GROUP;
    a.head_dim = 128;
    a.max_lq = 1;
    a.max_lk = n;
    a.dtype = KSA_GPU_DT_BF16;
    a.fraction = rule.fraction;
    a.min_k = rule.min_k;
    a.round_multiple = rule.round_multiple;
    a.tile_size = rule.tile_size;
    a.n_tiles = 1;
    a.k_slots = k;
    a.indices = ksa_idx;
    a.counts = ksa_cnt;
    a.is0 = (int64_t)HKV * k;
    a.is1 = k;
    a.is3 = 1;
    a.cs0 = HKV;
    a.cs1 = 1;
    a.decode = 1;
    a.uniform_lengths = 1;
    a.tma_ok = 1;
    ksa_gpu_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.split_decode = 1;
    plan.sms = sms;
    plan.lk_ld = n;
    plan.bytes[KSA_GPU_WS_POOLED] = (size_t)lists * n * sizeof(float);
    plan.total = plan.bytes[KSA_GPU_WS_POOLED]; /* only the POOLED region, at offset 0: the Top-k reads no other */
    ksa_gpu_call call;
    memset(&call, 0, sizeof call);
    call.stream = g_cs;
    call.plan = &plan;
    call.ws = (char *)pooled;
    auto ksa = [&] {
        int e = kc_launch_topk(&a, &call, 1, 0, 1);
        if (e) {
            fprintf(stderr, "kc_launch_topk: %s\n", cudaGetErrorString((cudaError_t)e));
            exit(1);
        }
    };
    ksa();
    CHECK_CUDA(cudaStreamSynchronize(g_cs));
    std::vector<int> ref((size_t)lists * k), cnt(lists);
    CHECK_CUDA(cudaMemcpy(ref.data(), ksa_idx, ref.size() * sizeof(int), cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(cnt.data(), ksa_cnt, cnt.size() * sizeof(int), cudaMemcpyDeviceToHost));
    for (int l = 0; l < lists; l++)
        if (cnt[l] != k) {
            fprintf(stderr, "ksa wrote count %d for list %d, want %d\n", cnt[l], l, k);
            exit(1);
        }
    CHECK_CUDA(cudaMemset(ksa_idx, 0xff, ref.size() * sizeof(int))); /* poisoned: the timed runs must rewrite it */
    const double t_ksa = time_ms(ksa, reps);
    emit("ksa", B, n, k, dist, t_ksa, lists - lists_differing(ref, ksa_idx, lists, k), lists,
         lists * 8 <= sms && n <= 8 * 8192 ? "cluster of 8 CTAs per list" : "kg_topk, one CTA per list");

    /* the ascending order of the k selected keys, shared by the CUB routes */
    size_t order_bytes = 0;
    CHECK_CUDA(cub::DeviceSegmentedRadixSort::SortKeys(nullptr, order_bytes, first_k, ordered, lists * k, lists, segk_b,
                                                       segk_e, 0, 32, g_cs));
    /* CUB radix sort (stable) */
    size_t sort_bytes = 0, merge_bytes = 0;
    CHECK_CUDA(cub::DeviceSegmentedRadixSort::SortPairsDescending(nullptr, sort_bytes, pooled, keys_sorted, iota,
                                                                  vals_sorted, lists * n, lists, seg_b, seg_e, 0, 32,
                                                                  g_cs));
    CHECK_CUDA(cub::DeviceSegmentedSort::StableSortPairsDescending(nullptr, merge_bytes, pooled, keys_sorted, iota,
                                                                   vals_sorted, lists * n, lists, seg_b, seg_e, g_cs));
    size_t tmp_bytes = std::max(order_bytes, std::max(sort_bytes, merge_bytes));
    void *tmp;
    CHECK_CUDA(cudaMalloc(&tmp, tmp_bytes));
    dim3 tk_grid((unsigned)((k + 255) / 256), (unsigned)lists);
    auto order = [&] {
        size_t b = order_bytes;
        CHECK_CUDA(cub::DeviceSegmentedRadixSort::SortKeys(tmp, b, first_k, ordered, lists * k, lists, segk_b, segk_e,
                                                           0, 32, g_cs));
    };
    auto radix = [&] {
        size_t b = sort_bytes;
        CHECK_CUDA(cub::DeviceSegmentedRadixSort::SortPairsDescending(tmp, b, pooled, keys_sorted, iota, vals_sorted,
                                                                      lists * n, lists, seg_b, seg_e, 0, 32, g_cs));
        take_first<<<tk_grid, 256, 0, g_cs>>>(vals_sorted, n, k, first_k);
    };
    auto merge = [&] {
        size_t b = merge_bytes;
        CHECK_CUDA(cub::DeviceSegmentedSort::StableSortPairsDescending(tmp, b, pooled, keys_sorted, iota, vals_sorted,
                                                                       lists * n, lists, seg_b, seg_e, g_cs));
        take_first<<<tk_grid, 256, 0, g_cs>>>(vals_sorted, n, k, first_k);
    };
    const double t_order = time_ms(order, reps);
    CHECK_CUDA(cudaMemset(ordered, 0xff, (size_t)lists * k * sizeof(int)));
    const double t_radix = time_ms([&] { radix(); order(); }, reps);
    emit("cub-radix-sort", B, n, k, dist, t_radix, lists - lists_differing(ref, ordered, lists, k), lists,
         "select + ascending order");
    CHECK_CUDA(cudaMemset(ordered, 0xff, (size_t)lists * k * sizeof(int)));
    const double t_merge = time_ms([&] { merge(); order(); }, reps);
    emit("cub-merge-sort", B, n, k, dist, t_merge, lists - lists_differing(ref, ordered, lists, k), lists,
         "select + ascending order");
    emit("cub-order-only", B, n, k, dist, t_order, 0, lists, "the ascending sort of the k keys alone");
#ifdef KSA_BENCH_BATCHED_TOPK
    /* CCCL 3.5 rejects at compile time (static_assert) a bound of 16384 or more: a list must fit one
     * block's shared memory */
    if (n != 8192) {
        emit("cub-batched-topk", B, n, k, dist, 0.0, 0, lists,
             "not available: CCCL 3.5 takes lists of at most one block's shared memory (8192 builds, 16384 does not)");
    } else {
        size_t tb = 0;
        const cudaError_t e = batched_topk<8192>(nullptr, tb, pooled, keys_k, first_k, lists, k);
        if (e != cudaSuccess) {
            emit("cub-batched-topk", B, n, k, dist, 0.0, 0, lists, cudaGetErrorString(e));
            (void)cudaGetLastError();
        } else {
            void *tmp2;
            CHECK_CUDA(cudaMalloc(&tmp2, tb ? tb : 1));
            auto batched = [&] {
                size_t b = tb;
                CHECK_CUDA(batched_topk<8192>(tmp2, b, pooled, keys_k, first_k, lists, k));
            };
            CHECK_CUDA(cudaMemset(ordered, 0xff, (size_t)lists * k * sizeof(int)));
            const double t_sel = time_ms(batched, reps);
            const double t_b = time_ms([&] { batched(); order(); }, reps);
            char note[96];
            snprintf(note, sizeof note, "select %.2f us (unordered, ties unspecified) + ascending order", t_sel * 1e3);
            emit("cub-batched-topk", B, n, k, dist, t_b, lists - lists_differing(ref, ordered, lists, k), lists, note);
            CHECK_CUDA(cudaFree(tmp2));
        }
    }
#else
    emit("cub-batched-topk", B, n, k, dist, 0.0, 0, lists, "not built: this CCCL has no DeviceBatchedTopK (3.5 and later)");
#endif
    CHECK_CUDA(cudaFree(tmp));
    for (void *p : {(void *)pooled, (void *)keys_sorted, (void *)keys_k, (void *)iota, (void *)vals_sorted,
                    (void *)ksa_idx, (void *)ksa_cnt, (void *)first_k, (void *)ordered, (void *)seg_b, (void *)seg_e,
                    (void *)segk_b, (void *)segk_e})
        CHECK_CUDA(cudaFree(p));
}

int main(int argc, char **argv)
{
    int quick = 0, reps = 30;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--reps N]\n", argv[0]);
            return 2;
        }
    }
    int dev = 0, sms = 0, major = 0;
    CHECK_CUDA(cudaGetDevice(&dev));
    CHECK_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    CHECK_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    if (major < 8) {
        fprintf(stderr, "ksa-topk-bench: needs compute capability 8.0 or later\n");
        return 1;
    }
    CHECK_CUDA(cudaStreamCreate(&g_cs));
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, dev));
    fprintf(stderr, "ksa-topk-bench: %s, %d SMs, CCCL %d.%d.%d\n", prop.name, sms, CCCL_MAJOR_VERSION,
            CCCL_MINOR_VERSION, CCCL_PATCH_VERSION);
    const int batches[] = {1, 16, 64};
    const int lens[] = {8192, 32768};
    for (int dist = 0; dist < 2; dist++)
        for (int B : batches)
            for (int n : lens) {
                if (quick && (B != 1 || n != 8192)) continue;
                run_point(B, n, dist ? 2.5f : 0.33f, dist ? "peaked" : "flat", reps, sms);
            }
    return 0;
}
