// cluster_cost.cu (nineteenth session, call 7): what a thread-block cluster costs by itself on the H200,
// for the few-list Top-k (topk_cluster.cu: 64 CTAs of 512 threads in clusters of 8). Kernels with no
// work but the barriers, timed by Nsight Compute's gpu__time_duration and by events over 200 launches.
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>
__device__ __forceinline__ void csync() { asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory"); }
__global__ void empty_k(int *o) { if (o && threadIdx.x == 1023) o[0] = 1; }
__global__ void cl_sync_k(int n, int *o) { for (int i = 0; i < n; i++) csync(); if (o && threadIdx.x == 1023) o[0] = 1; }
__global__ void bar_k(int n, int *o) { for (int i = 0; i < n; i++) __syncthreads(); if (o && threadIdx.x == 1023) o[0] = 1; }
static float run(const char *name, void (*launch)(cudaStream_t), cudaStream_t s) {
  cudaEvent_t a, b; cudaEventCreate(&a); cudaEventCreate(&b);
  for (int i = 0; i < 20; i++) launch(s);
  cudaEventRecord(a, s);
  for (int i = 0; i < 200; i++) launch(s);
  cudaEventRecord(b, s); cudaEventSynchronize(b);
  float ms; cudaEventElapsedTime(&ms, a, b);
  printf("%-40s %.2f us per launch (events, 200 back to back) err=%s\n", name, ms * 1000 / 200, cudaGetErrorString(cudaGetLastError()));
  return ms;
}
static void launch_cluster(void *k, void **args, cudaStream_t s, unsigned cx) {
  cudaLaunchConfig_t cfg = {}; cudaLaunchAttribute at[1];
  cfg.gridDim = dim3(8, 8); cfg.blockDim = dim3(512); cfg.dynamicSmemBytes = 28 * 1024; cfg.stream = s;
  at[0].id = cudaLaunchAttributeClusterDimension; at[0].val.clusterDim.x = cx; at[0].val.clusterDim.y = 1; at[0].val.clusterDim.z = 1;
  cfg.attrs = at; cfg.numAttrs = cx > 1 ? 1 : 0;
  cudaLaunchKernelExC(&cfg, k, args);
}
static int n6 = 6, n24 = 24; static int *nul = nullptr;
int main(int argc, char **argv) {
  const int only = argc > 1 ? atoi(argv[1]) : -1; /* one variant (for ncu), or all */
  cudaStream_t s; cudaStreamCreate(&s);
  cudaFuncSetAttribute(empty_k, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024);
  cudaFuncSetAttribute(cl_sync_k, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024);
  cudaFuncSetAttribute(bar_k, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024);
  if (only < 0 || only == 0) run("empty, 64 CTAs, no cluster", [](cudaStream_t st) { void *a[] = {&nul}; launch_cluster((void *)empty_k, a, st, 1); }, s);
  if (only < 0 || only == 1) run("empty, 64 CTAs, clusters of 8", [](cudaStream_t st) { void *a[] = {&nul}; launch_cluster((void *)empty_k, a, st, 8); }, s);
  if (only < 0 || only == 2) run("6 cluster barriers, clusters of 8", [](cudaStream_t st) { void *a[] = {&n6, &nul}; launch_cluster((void *)cl_sync_k, a, st, 8); }, s);
  if (only < 0 || only == 3) run("24 cluster barriers, clusters of 8", [](cudaStream_t st) { void *a[] = {&n24, &nul}; launch_cluster((void *)cl_sync_k, a, st, 8); }, s);
  if (only < 0 || only == 4) run("24 block barriers, no cluster", [](cudaStream_t st) { void *a[] = {&n24, &nul}; launch_cluster((void *)bar_k, a, st, 1); }, s);
  cudaDeviceSynchronize();
  printf("done: %s\n", cudaGetErrorString(cudaGetLastError()));
  return 0;
}
