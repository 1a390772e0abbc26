/* kh_bf16.hip: the HIP backend's kernels instantiated for bf16 storage (see kh_kernels.h); one file per
 * storage type so the device code of the three types compiles in parallel. */
#include "kh_kernels.h"

KH_DEFINE_LAUNCHERS(bf16, ksa_bf16)
