/* ksa_cpu_backend.h: entry point of the built-in CPU backend (device "cpu"): host memory, kernels at
 * three levels (portable C, AVX-512, AMX-BF16) chosen once at run time, run on a hwloc-pinned pool
 * of worker threads. The dispatch registry calls ksa_cpu_backend() when the backend is compiled in. */
#ifndef KSA_CPU_BACKEND_H
#define KSA_CPU_BACKEND_H

#include "ksa_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The vtable of device "cpu" (one device). */
ksa_backend *ksa_cpu_backend(void);

#ifdef __cplusplus
}
#endif
#endif /* KSA_CPU_BACKEND_H */
