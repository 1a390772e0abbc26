/* ksa_cuda.h: what the CUDA vendor file (cuda_vendor.c) needs of the NVIDIA-only kernels of this
 * folder: the prefill CTA geometry and the tensor-core launchers, in the signatures of the GPU
 * layer's launcher table (backends/gpu/ksa_gpu_launch.h). */
#ifndef KSA_CUDA_H
#define KSA_CUDA_H

#include "ksa_gpu_launch.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KC_PREFILL_ROWS 128 /* MMA rows per prefill CTA (8 warps x 16, or 4 x 32) */

/* prefill flash pass (mma.sync m16n8k16, sm_80 and sm_90a): dense causal or sparse (a->sparse) */
int kc_launch_flash_prefill(const ksa_gpu_args *a, const ksa_gpu_call *c);
/* anchor prefill: pooled probabilities of tiles [tile0, tile0 + ntiles) into the POOLED region */
int kc_launch_pooled_prefill(const ksa_gpu_args *a, const ksa_gpu_call *c, int tile0, int ntiles);

#ifdef __cplusplus
}
#endif
#endif /* KSA_CUDA_H */
