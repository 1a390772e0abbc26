/* cpu_avx512_shared.h: the AVX-512 pieces (kernels_avx512.c) that the AVX512-BF16 and AMX levels
 * reuse: bf16 packers of K (pairs of dims) and V (pairs of keys), the packers of f16 as exact bf16
 * pairs (the AMX level's f16 kernels), the output-row store and the pooled-score accumulation. Only
 * call them on CPUs with AVX-512F/BW. */
#ifndef KSA_CPU_AVX512_SHARED_H
#define KSA_CPU_AVX512_SHARED_H

#include <stdint.h>

#include "ksa/ksa.h"

void ksa_cpu_avx512_load_row_bf16(void *dst, const void *src, ksa_dtype dtype, int32_t D);
void ksa_cpu_avx512_pack_k_bf16(void *kbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype, int32_t D);
void ksa_cpu_avx512_pack_v_bf16(void *vbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype, int32_t D);
/* the AMX level's tile-blocked forms of the two (each tile one contiguous kilobyte) */
void ksa_cpu_avx512_pack_k_bf16_tiles(void *kbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype,
                                      int32_t D);
void ksa_cpu_avx512_pack_v_bf16_tiles(void *vbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype,
                                      int32_t D);
/* f16 storage as exact bf16 pairs, the layouts of CPU_FMT_BF16X3 (cpu_internal.h), tile-blocked as
 * the bf16 _tiles packers over the 3 D dims and 3 nkp keys; D % 32 == 0 */
void ksa_cpu_avx512_load_row_f16x3(void *dst, const void *src, ksa_dtype dtype, int32_t D);
void ksa_cpu_avx512_pack_k_f16x3_tiles(void *kbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype,
                                       int32_t D);
void ksa_cpu_avx512_pack_v_f16x3_tiles(void *vbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype,
                                       int32_t D);
void ksa_cpu_avx512_store_row(void *dst, const float *src, float scale, ksa_dtype dtype, int32_t D);
void ksa_cpu_avx512_pool(float *pooled, const float *S, int32_t ldS, const float *lse2, int32_t M, int32_t n, float c);
/* the same with the degree-3 exp (bf16 levels) */
void ksa_cpu_avx512_pool_bf16(float *pooled, const float *S, int32_t ldS, const float *lse2, int32_t M, int32_t n, float c);

#endif /* KSA_CPU_AVX512_SHARED_H */
