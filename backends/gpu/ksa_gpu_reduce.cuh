/* ksa_gpu_reduce.cuh: warp/wavefront and block reductions shared by the CUDA (backends/cuda/) and
 * HIP (backends/hip/) kernels. Written only against ksa_gpu_vendor.h: the wave width is the
 * compile-time KSA_WARP_SIZE of the target (32 on NVIDIA and RDNA, 64 on CDNA), never a literal 32.
 * The butterfly order (offsets W/2, W/4, ..., 1) is fixed, so results are reproducible run to run. */
#ifndef KSA_GPU_REDUCE_CUH
#define KSA_GPU_REDUCE_CUH

#include "ksa_gpu_vendor.h"

/* sum of v over the lanes of one wave; every lane gets the result */
static __device__ __forceinline__ float ksa_wave_sum(float v)
{
#pragma unroll
    for (int off = KSA_WARP_SIZE / 2; off > 0; off >>= 1) v += ksa_shfl_xor(v, off);
    return v;
}

/* maximum of v over the lanes of one wave; every lane gets the result */
static __device__ __forceinline__ float ksa_wave_max(float v)
{
#pragma unroll
    for (int off = KSA_WARP_SIZE / 2; off > 0; off >>= 1) v = fmaxf(v, ksa_shfl_xor(v, off));
    return v;
}

/* Block-wide exclusive prefix count of a 0/1 flag in thread order: returns the number of threads
 * below this one with flag set; *total gets the block's sum. wave_counts: shared int[nwaves],
 * nwaves = blockDim.x / KSA_WARP_SIZE. Every thread of the block must call it. */
static __device__ __forceinline__ int ksa_block_rank(int flag, int *wave_counts, int nwaves, int *total)
{
    const int lane = threadIdx.x % KSA_WARP_SIZE, wave = threadIdx.x / KSA_WARP_SIZE;
    ksa_lane_mask m = ksa_ballot(flag);
    int rank = ksa_popc_mask(m & ksa_lanes_below(lane));
    if (lane == 0) wave_counts[wave] = ksa_popc_mask(m);
    __syncthreads();
    int before = 0, sum = 0;
    for (int w = 0; w < nwaves; w++) {
        int c = wave_counts[w];
        if (w < wave) before += c;
        sum += c;
    }
    __syncthreads();
    *total = sum;
    return before + rank;
}

#endif /* KSA_GPU_REDUCE_CUH */
