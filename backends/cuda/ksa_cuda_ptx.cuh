/* ksa_cuda_ptx.cuh: the NVIDIA-only PTX wrappers the kernels of this folder share: ldmatrix (plain
 * and transposed), mma.sync m16n8k16 with f32 accumulators for f16 and bf16 and the matching
 * 16-bit pair packing (flash_prefill.cu, mma_decode.cu), the shared-memory address of a pointer
 * and the mbarrier phase wait of the sm_90 pipelines (sm90_prefill.cu, mma_decode.cu). Not static
 * (__forceinline__ makes them inline): a file that uses part of the header gets no warning. */
#ifndef KSA_CUDA_PTX_CUH
#define KSA_CUDA_PTX_CUH

#include <stdint.h>

#include "ksa_gpu_vendor.h"

__device__ __forceinline__ void kc_ldmatrix_x4(uint32_t r[4], const void *smem)
{
    unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}
__device__ __forceinline__ void kc_ldmatrix_x4_trans(uint32_t r[4], const void *smem)
{
    unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

/* c[16 x 8] += a[16 x 16] b[16 x 8] (fragments in the mma.sync layout); pack: two floats rounded to
 * the storage type, low half first (the A-fragment layout of a probability pair) */
template <typename T> struct kc_mma;
template <> struct kc_mma<ksa_f16> {
    static __device__ __forceinline__ void run(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
    {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ uint32_t pack(float x, float y)
    {
        __half2 h = __floats2half2_rn(x, y);
        return *(uint32_t *)&h;
    }
};
template <> struct kc_mma<ksa_bf16> {
    static __device__ __forceinline__ void run(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
    {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ uint32_t pack(float x, float y)
    {
        __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
        return *(uint32_t *)&h;
    }
};

__device__ __forceinline__ uint32_t kc_smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
/* spin until the mbarrier's phase of the given parity has completed (sm_90; nothing below) */
__device__ __forceinline__ void kc_bar_wait(uint64_t *bar, int parity)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    uint32_t done = 0;
    const uint32_t a = kc_smem_u32(bar);
    do {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(a), "r"(parity)
                     : "memory");
    } while (!done);
#endif
}

#endif /* KSA_CUDA_PTX_CUH */
