/* bench_timing.cuh: what the CUDA benches of this folder (ksa-cuda-bench, ksa-topk-bench) share: the
 * CUDA error check that ends the program, and the median time of a callable over repeats measured
 * with CUDA events around each call on one stream, after warm-up calls. */
#ifndef KSA_BENCH_TIMING_CUH
#define KSA_BENCH_TIMING_CUH
#include <algorithm>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

#include <cuda_runtime.h>

#define CHECK_CUDA(x)                                                                                 \
    do {                                                                                              \
        cudaError_t e_ = (x);                                                                         \
        if (e_ != cudaSuccess) {                                                                      \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));       \
            exit(1);                                                                                  \
        }                                                                                             \
    } while (0)

/* median milliseconds of fn() (which enqueues on stream) over reps, after `warmup` calls */
template <typename F> static double bench_median_ms(cudaStream_t stream, F fn, int reps, int warmup)
{
    cudaEvent_t a, b;
    CHECK_CUDA(cudaEventCreate(&a));
    CHECK_CUDA(cudaEventCreate(&b));
    for (int w = 0; w < warmup; w++) fn();
    CHECK_CUDA(cudaStreamSynchronize(stream));
    std::vector<float> v;
    for (int r = 0; r < reps; r++) {
        CHECK_CUDA(cudaEventRecord(a, stream));
        fn();
        CHECK_CUDA(cudaEventRecord(b, stream));
        CHECK_CUDA(cudaEventSynchronize(b));
        float ms;
        CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
        v.push_back(ms);
    }
    std::sort(v.begin(), v.end());
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return v[v.size() / 2];
}
#endif /* KSA_BENCH_TIMING_CUH */
