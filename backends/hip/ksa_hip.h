/* ksa_hip.h: what the HIP vendor file (hip_vendor.c) needs of the HIP-only kernels of this folder
 * (kh_kernels.h): their block geometry, the head-dim bounds they are instantiated for, and their
 * launchers, one pair per storage type (kh_f32.hip, kh_f16.hip, kh_bf16.hip), in the signatures of
 * the GPU layer's launcher table (backends/gpu/ksa_gpu_launch.h). */
#ifndef KSA_HIP_H
#define KSA_HIP_H

#include "ksa_gpu_launch.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KH_MAX_HEAD_DIM 512
#define KH_THREADS 256 /* threads per block of every HIP kernel: 4 waves of 64 or 8 waves of 32 */

/* the head-dim bound a kernel is instantiated for (64, 128, 256 or 512), 0 above the maximum */
static inline int kh_max_head_dim(int d)
{
    return d <= 64 ? 64 : d <= 128 ? 128 : d <= 256 ? 256 : d <= KH_MAX_HEAD_DIM ? KH_MAX_HEAD_DIM : 0;
}

/* Prefill-style attention rows: grid (max_lq, Hq, B), one block per (query row, head, sequence). */
int kh_launch_attend_f32(const ksa_gpu_args *a, const ksa_gpu_call *c);
int kh_launch_attend_f16(const ksa_gpu_args *a, const ksa_gpu_call *c);
int kh_launch_attend_bf16(const ksa_gpu_args *a, const ksa_gpu_call *c);
/* Anchor: pooled scores + Top-k of tiles [tile0, tile0 + ntiles) (decode: 0, 1), grid (ntiles, Hkv, B);
 * the POOLED region holds one row of lk_ld floats per (sequence, KV head, tile of the group). */
int kh_launch_pool_topk_f32(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles);
int kh_launch_pool_topk_f16(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles);
int kh_launch_pool_topk_bf16(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles);

#ifdef __cplusplus
}
#endif
#endif /* KSA_HIP_H */
