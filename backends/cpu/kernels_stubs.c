/* kernels_stubs.c: NULL kernel tables for the levels this build could not compile (a compiler
 * without the ISA flags, or a non-x86-64 target); the backend then stays at a lower level. */
#include <stddef.h>

#include "backends/cpu/cpu_internal.h"

#if !defined(KSA_CPU_BUILD_AVX512) || !KSA_CPU_BUILD_AVX512
const cpu_kernels *ksa_cpu_kernels_avx512_f32(void) { return NULL; }
#endif
#if !defined(KSA_CPU_BUILD_AVX512BF16) || !KSA_CPU_BUILD_AVX512BF16
const cpu_kernels *ksa_cpu_kernels_avx512_bf16(void) { return NULL; }
#endif
#if !defined(KSA_CPU_BUILD_AMX) || !KSA_CPU_BUILD_AMX
const cpu_kernels *ksa_cpu_kernels_amx_bf16(void) { return NULL; }
const cpu_kernels *ksa_cpu_kernels_amx_f16(void) { return NULL; }
#endif
