/* ksa_gpu_vendor.h: the device-side vendor header of the GPU layer: it lets the shared kernels of
 * backends/gpu/ compile for NVIDIA (nvcc) and AMD (hipcc, -DKSA_GPU_HIP). Kernels use only these
 * names for the warp/wavefront size, shuffles, ballots, population counts, fast math and storage
 * types; nothing in a shared kernel assumes a warp of 32 lanes. HIP's NVIDIA platform (nvcc with
 * __HIP_PLATFORM_NVIDIA__) takes the CUDA branch. Host code has its own shim, ksa_gpu_runtime.h.
 * NVIDIA-only code (mma.sync, wgmma, TMA: backends/cuda/) includes this header for the types only. */
#ifndef KSA_GPU_VENDOR_H
#define KSA_GPU_VENDOR_H

#include <stdint.h>

#if defined(KSA_GPU_HIP) || defined(__HIP_PLATFORM_AMD__)
/* ------------------------------------------------------------------ HIP (AMD) branch
 * Owned by the HIP backend. The wavefront size is a per-target constant: 64 on CDNA (gfx90a,
 * gfx94x), 32 on RDNA (gfx10xx/gfx11xx, where HIP refuses wave64). KSA_WARP_SIZE is therefore only
 * meaningful in device code; host code must size launches without it (use whole blocks, or query
 * hipDeviceProp_t.warpSize). KSA_WARP_SIZE_MAX bounds per-wave shared arrays (blockDim / 32 waves).
 * Lane masks are 64-bit on every target (a wave32 ballot leaves the upper half zero). */
#include <hip/hip_runtime.h>
#include <hip/hip_fp16.h>
#if defined(__has_include)
#if __has_include(<hip/hip_bf16.h>)
#define KSA_HIP_HAVE_BF16_H 1
#endif
#endif
#if defined(KSA_HIP_HAVE_BF16_H)
#include <hip/hip_bf16.h>
typedef __hip_bfloat16 ksa_bf16;
#else
/* ROCm < 5.7 (Debian 12's 5.2): only the struct type hip_bfloat16; give it the CUDA spellings */
#include <hip/hip_bfloat16.h>
typedef hip_bfloat16 ksa_bf16;
static __device__ __forceinline__ float __bfloat162float(hip_bfloat16 x) { return (float)x; }
static __device__ __forceinline__ hip_bfloat16 __float2bfloat16_rn(float x) { return hip_bfloat16(x); }
#endif
#define KSA_GPU_HIP_BRANCH 1
#if defined(__AMDGCN_WAVEFRONT_SIZE)
#define KSA_WARP_SIZE __AMDGCN_WAVEFRONT_SIZE
#else
#define KSA_WARP_SIZE 64
#endif
#define KSA_WARP_SIZE_MIN 32
#define KSA_WARP_SIZE_MAX 64
typedef uint64_t ksa_lane_mask;
typedef __half ksa_f16;
#define KSA_FULL_MASK (~0ull)
static __device__ __forceinline__ float ksa_shfl_xor(float v, int m) { return __shfl_xor(v, m, KSA_WARP_SIZE); }
static __device__ __forceinline__ int ksa_shfl_xor_i(int v, int m) { return __shfl_xor(v, m, KSA_WARP_SIZE); }
static __device__ __forceinline__ int ksa_shfl_up_i(int v, int d) { return __shfl_up(v, d, KSA_WARP_SIZE); }
static __device__ __forceinline__ float ksa_shfl(float v, int src) { return __shfl(v, src, KSA_WARP_SIZE); }
static __device__ __forceinline__ ksa_lane_mask ksa_ballot(int pred) { return (ksa_lane_mask)__ballot(pred); }
static __device__ __forceinline__ int ksa_popc_mask(ksa_lane_mask m) { return __popcll(m); }
static __device__ __forceinline__ float ksa_exp2(float x) { return exp2f(x); }
static __device__ __forceinline__ float ksa_log2(float x) { return log2f(x); }
static __device__ __forceinline__ void ksa_warp_sync(void) { __builtin_amdgcn_wave_barrier(); }
#define ksa_gpu_stream_t hipStream_t
/* the CUDA runtime names the portable kernels' launchers use, spelled for HIP */
#define __grid_constant__
#define cudaError_t hipError_t
#define cudaSuccess hipSuccess
#define cudaErrorInvalidValue hipErrorInvalidValue
#define cudaGetLastError hipGetLastError
#define cudaGetErrorString hipGetErrorString
#define cudaStream_t hipStream_t
/* (no shared-memory opt-in on AMD: kg_allow_smem does nothing there) */
#define cudaOccupancyMaxActiveBlocksPerMultiprocessor hipOccupancyMaxActiveBlocksPerMultiprocessor
#else
/* ------------------------------------------------------------------ CUDA (NVIDIA) branch */
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#define KSA_WARP_SIZE 32
typedef uint32_t ksa_lane_mask;
typedef __half ksa_f16;
typedef __nv_bfloat16 ksa_bf16;
#define KSA_FULL_MASK 0xffffffffu
static __device__ __forceinline__ float ksa_shfl_xor(float v, int m) { return __shfl_xor_sync(KSA_FULL_MASK, v, m); }
static __device__ __forceinline__ int ksa_shfl_xor_i(int v, int m) { return __shfl_xor_sync(KSA_FULL_MASK, v, m); }
static __device__ __forceinline__ int ksa_shfl_up_i(int v, int d) { return __shfl_up_sync(KSA_FULL_MASK, v, d); }
static __device__ __forceinline__ float ksa_shfl(float v, int src) { return __shfl_sync(KSA_FULL_MASK, v, src); }
static __device__ __forceinline__ ksa_lane_mask ksa_ballot(int pred) { return __ballot_sync(KSA_FULL_MASK, pred); }
static __device__ __forceinline__ int ksa_popc_mask(ksa_lane_mask m) { return __popc(m); }
static __device__ __forceinline__ float ksa_exp2(float x) { return exp2f(x); }
static __device__ __forceinline__ float ksa_log2(float x) { return log2f(x); }
static __device__ __forceinline__ void ksa_warp_sync(void) { __syncwarp(); }
#define ksa_gpu_stream_t cudaStream_t
#endif

/* lanes strictly below this one, as a mask (for ordered compaction with ballots) */
static __device__ __forceinline__ ksa_lane_mask ksa_lanes_below(int lane)
{
    return lane == 0 ? (ksa_lane_mask)0 : (((ksa_lane_mask)~(ksa_lane_mask)0) >> (8 * (int)sizeof(ksa_lane_mask) - lane));
}

/* conversions between storage types and float */
static __device__ __forceinline__ float ksa_to_float(ksa_f16 x) { return __half2float(x); }
static __device__ __forceinline__ float ksa_to_float(ksa_bf16 x) { return __bfloat162float(x); }
static __device__ __forceinline__ float ksa_to_float(float x) { return x; }
template <typename T> static __device__ __forceinline__ T ksa_from_float(float x);
template <> __device__ __forceinline__ ksa_f16 ksa_from_float<ksa_f16>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ ksa_bf16 ksa_from_float<ksa_bf16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ float ksa_from_float<float>(float x) { return x; }

#endif /* KSA_GPU_VENDOR_H */
