// launch_floor.cu: host cost per launch of an empty kernel, by launch style and parameter size (dev probe)
#include <cstdio>
#include <chrono>
#include <cuda_runtime.h>
struct Big { int v[360]; };   // ~1.4 KB, like ksa_gpu_args
struct Small { int v[4]; };
__global__ void kbig(const __grid_constant__ Big b) { if (b.v[0] == 12345) printf("x"); }
__global__ void ksmall(Small s) { if (s.v[0] == 12345) printf("x"); }
__global__ void __cluster_dims__(1,1,1) kdummy() {}
template <typename K, typename A>
static double run(const char *name, K k, A arg, int grid, int pdl, int cluster) {
    cudaStream_t st; cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    cudaLaunchAttribute at[2]; unsigned n = 0;
    if (pdl) { at[n].id = cudaLaunchAttributeProgrammaticStreamSerialization; at[n++].val.programmaticStreamSerializationAllowed = 1; }
    if (cluster > 1) { at[n].id = cudaLaunchAttributeClusterDimension; at[n].val.clusterDim.x = cluster; at[n].val.clusterDim.y = 1; at[n++].val.clusterDim.z = 1; }
    cudaLaunchConfig_t cfg = {}; cfg.gridDim = dim3(grid); cfg.blockDim = dim3(128); cfg.stream = st; cfg.attrs = at; cfg.numAttrs = n;
    double best = 1e9, hostsum = 0; int hostn = 0;
    cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
    float devbest = 1e9;
    for (int rep = 0; rep < 12; rep++) {
        cudaStreamSynchronize(st);
        cudaEventRecord(e0, st);
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < 200; i++) {
            if (n == 0) k<<<grid, 128, 0, st>>>(arg); else cudaLaunchKernelEx(&cfg, k, arg);
        }
        auto t1 = std::chrono::steady_clock::now();
        cudaEventRecord(e1, st);
        cudaStreamSynchronize(st);
        float ms; cudaEventElapsedTime(&ms, e0, e1);
        double us = std::chrono::duration<double, std::micro>(t1 - t0).count() / 200;
        if (rep >= 2) { hostsum += us; hostn++; if (us < best) best = us; if (ms * 1000 / 200 < devbest) devbest = ms * 1000 / 200; }
    }
    cudaError_t e = cudaGetLastError();
    printf("%-34s host %.2f us/launch (best %.2f), device %.2f us/launch back to back %s\n", name, hostsum / hostn, best, devbest, e ? cudaGetErrorString(e) : "");
    cudaStreamDestroy(st);
    return best;
}
int main() {
    Big b = {}; Small s = {};
    cudaFree(0);
    run("small <<<>>> grid 64", ksmall, s, 64, 0, 1);
    run("big(1.4KB) <<<>>> grid 64", kbig, b, 64, 0, 1);
    run("small Ex pdl grid 64", ksmall, s, 64, 1, 1);
    run("big Ex pdl grid 64", kbig, b, 64, 1, 1);
    run("big Ex cluster8 grid 64", kbig, b, 64, 0, 8);
    run("big Ex pdl+cluster8 grid 64", kbig, b, 64, 1, 8);
    cudaFuncSetAttribute(kbig, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
    run("big Ex pdl+cluster16 grid 128", kbig, b, 128, 1, 16);
    return 0;
}
