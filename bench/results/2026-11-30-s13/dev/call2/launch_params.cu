// launch_params.cu: host time per cudaLaunchKernelEx (PDL + cluster of 8, the decode's launch) by
// parameter-block size; variants interleaved over rounds, median per variant (dev probe)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>
#include <cuda_runtime.h>
template <int N> struct P { int v[N / 4]; };
template <int N> __global__ void kp(const __grid_constant__ P<N> p) { if (p.v[0] == 12345) printf("x"); }
template <int N> static double once(cudaStream_t st, int cluster) {
    P<N> p = {};
    cudaLaunchAttribute at[2]; unsigned n = 0;
    at[n].id = cudaLaunchAttributeProgrammaticStreamSerialization; at[n++].val.programmaticStreamSerializationAllowed = 1;
    if (cluster > 1) { at[n].id = cudaLaunchAttributeClusterDimension; at[n].val.clusterDim.x = cluster; at[n].val.clusterDim.y = 1; at[n++].val.clusterDim.z = 1; }
    cudaLaunchConfig_t cfg = {}; cfg.gridDim = dim3(64); cfg.blockDim = dim3(128); cfg.stream = st; cfg.attrs = at; cfg.numAttrs = n;
    cudaStreamSynchronize(st);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 200; i++) cudaLaunchKernelEx(&cfg, kp<N>, p);
    auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::micro>(t1 - t0).count() / 200;
}
int main() {
    cudaStream_t st; cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    const char *names[] = {"16 B", "512 B", "1024 B", "1536 B", "1856 B", "2048 B"};
    std::vector<double> r[2][6];
    for (int w = 0; w < 2; w++) { once<16>(st, 8); once<2048>(st, 1); }
    for (int round = 0; round < 15; round++)
        for (int c = 0; c < 2; c++) {
            int cl = c ? 8 : 1;
            r[c][0].push_back(once<16>(st, cl)); r[c][1].push_back(once<512>(st, cl)); r[c][2].push_back(once<1024>(st, cl));
            r[c][3].push_back(once<1536>(st, cl)); r[c][4].push_back(once<1856>(st, cl)); r[c][5].push_back(once<2048>(st, cl));
        }
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 6; i++) {
            auto v = r[c][i]; std::sort(v.begin(), v.end());
            printf("Ex pdl%s params %-7s host %.2f us/launch (median of 15 rounds; min %.2f, max %.2f)\n", c ? "+cluster8" : "         ", names[i], v[7], v[0], v[14]);
        }
    printf("%s\n", cudaGetErrorString(cudaGetLastError()));
    return 0;
}
