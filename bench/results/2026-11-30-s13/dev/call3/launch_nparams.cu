// launch_nparams.cu: host time per cudaLaunchKernelEx (PDL + cluster of 8) for the decode kernel's
// parameter list (a 1.5 KB block, two 128-byte tensor maps, 10 scalars and pointers) against the
// same bytes in one struct and against smaller blocks; interleaved rounds, medians (dev probe)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>
#include <cuda.h>
#include <cuda_runtime.h>
struct Args { int v[384]; };            // 1536 B (ksa_gpu_args)
struct ArgsSmall { int v[192]; };       // 768 B (head map in bytes)
struct alignas(64) Map { char b[128]; };
struct All { Args a; Map m1, m2; int s0, s1, s2, s3; float *p0, *p1; long l; float *p2; };
__global__ void k13(const __grid_constant__ Args a, const __grid_constant__ Map m1, const __grid_constant__ Map m2, int s0, int s1, int s2, int s3, float *p0, float *p1, long l, float *p2) { if (a.v[0] == 12345) p0[0] = 1; }
__global__ void k1(const __grid_constant__ All a) { if (a.a.v[0] == 12345) a.p0[0] = 1; }
__global__ void k11s(const __grid_constant__ ArgsSmall a, int s0, int s1, int s2, int s3, float *p0, float *p1, long l, float *p2) { if (a.v[0] == 12345) p0[0] = 1; }
__global__ void k11(const __grid_constant__ Args a, int s0, int s1, int s2, int s3, float *p0, float *p1, long l, float *p2) { if (a.v[0] == 12345) p0[0] = 1; }
static cudaLaunchAttribute at[2];
static cudaLaunchConfig_t cfg;
template <typename F> static double timed(cudaStream_t st, F launch) {
    cudaStreamSynchronize(st);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 200; i++) launch();
    auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::micro>(t1 - t0).count() / 200;
}
int main() {
    cudaStream_t st; cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization; at[0].val.programmaticStreamSerializationAllowed = 1;
    at[1].id = cudaLaunchAttributeClusterDimension; at[1].val.clusterDim.x = 8; at[1].val.clusterDim.y = 1; at[1].val.clusterDim.z = 1;
    cfg.gridDim = dim3(64); cfg.blockDim = dim3(128); cfg.stream = st; cfg.attrs = at; cfg.numAttrs = 2;
    Args a = {}; ArgsSmall as = {}; Map m = {}; All all = {}; float *p = nullptr;
    const char *names[] = {"13 params (1.5 KB + 2 maps + 10)", "1 struct of the same bytes", "11 params (1.5 KB + 10, no maps)", "11 params (768 B + 10, no maps)"};
    std::vector<double> r[4];
    auto L0 = [&] { cudaLaunchKernelEx(&cfg, k13, a, m, m, 1, 2, 3, 4, p, p, 5L, p); };
    auto L1 = [&] { cudaLaunchKernelEx(&cfg, k1, all); };
    auto L2 = [&] { cudaLaunchKernelEx(&cfg, k11, a, 1, 2, 3, 4, p, p, 5L, p); };
    auto L3 = [&] { cudaLaunchKernelEx(&cfg, k11s, as, 1, 2, 3, 4, p, p, 5L, p); };
    for (int w = 0; w < 2; w++) { timed(st, L0); timed(st, L1); timed(st, L2); timed(st, L3); }
    for (int round = 0; round < 15; round++) { r[0].push_back(timed(st, L0)); r[1].push_back(timed(st, L1)); r[2].push_back(timed(st, L2)); r[3].push_back(timed(st, L3)); }
    for (int i = 0; i < 4; i++) { auto v = r[i]; std::sort(v.begin(), v.end()); printf("%-36s host %.2f us/launch (median of 15; min %.2f max %.2f)\n", names[i], v[7], v[0], v[14]); }
    printf("%s\n", cudaGetErrorString(cudaGetLastError()));
}
