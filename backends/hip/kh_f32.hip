/* kh_f32.hip: the HIP backend's kernels instantiated for f32 storage (see kh_kernels.h); one file per
 * storage type so the device code of the three types compiles in parallel. */
#include "kh_kernels.h"

KH_DEFINE_LAUNCHERS(f32, float)
