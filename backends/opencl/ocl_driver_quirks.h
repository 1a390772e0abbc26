/* ocl_driver_quirks.h: which OpenCL drivers the backend leaves out or works around, as pure
 * functions of the strings the driver reports and two environment values, so that tests can feed
 * them any driver (tests/opencl/test_opencl.c) and opencl_backend.c decides from the real ones.
 *
 * PoCL 4 and later, with their default work-group method, compile ksa_attend wrongly when a
 * work-item keeps two accumulator vectors of a row (PoCL 5.0 on the lent H200 machine's Xeon,
 * 2026-11-28, deterministic): that shape is avoided there. PoCL 5.0 also gave wrong answers now and
 * then in other shapes with that one avoided (anchor prefill f16 and reuse prefill bf16 at head_dim
 * 32, in three of the lent machine's full runs), where PoCL 6.0 passed the same test 14 of 14 times
 * and the "cbs" method, PoCL 3.1 and NVIDIA's OpenCL were right (backends/opencl/NOTES-opencl.md).
 * So PoCL 4 and 5 are left out at initialisation unless POCL_WORK_GROUP_METHOD=cbs, and PoCL 6 and
 * later get the two-vector workaround unless that method is set. KSA_OPENCL_QUIRKS=none turns every
 * driver rule off (at the caller's risk); KSA_OPENCL_QUIRKS=two-vector-rows forces the workaround
 * on any driver (the tests run it on CI's PoCL 3.1). */
#ifndef KSA_OCL_DRIVER_QUIRKS_H
#define KSA_OCL_DRIVER_QUIRKS_H

#include <stdlib.h>
#include <string.h>

/* 1 for a PoCL platform or device (PoCL names itself in the version strings) */
static inline int ksa_ocl_names_pocl(const char *platform_version, const char *device_version)
{
    return (platform_version && strstr(platform_version, "PoCL")) || (device_version && strstr(device_version, "PoCL"));
}

/* PoCL's major version from its driver string ("5.0+debian" -> 5), 0 for another driver */
static inline int ksa_ocl_pocl_major(const char *platform_version, const char *device_version, const char *driver)
{
    if (!ksa_ocl_names_pocl(platform_version, device_version) || !driver) return 0;
    return atoi(driver);
}

/* NULL when the device may be used, else why it is left out (a sentence for KSA_LOG and for the
 * backend's absence reason). pocl_method: POCL_WORK_GROUP_METHOD; quirks: KSA_OPENCL_QUIRKS
 * (either may be NULL). */
static inline const char *ksa_ocl_driver_refusal(const char *platform_version, const char *device_version,
                                                 const char *driver, const char *pocl_method, const char *quirks)
{
    if (quirks && strcmp(quirks, "none") == 0) return NULL;
    if (pocl_method && strcmp(pocl_method, "cbs") == 0) return NULL;
    const int major = ksa_ocl_pocl_major(platform_version, device_version, driver);
    if (major != 4 && major != 5) return NULL;
    return "PoCL 4 and 5 compute wrong results for ksa's kernels with their default work-group method "
           "(set POCL_WORK_GROUP_METHOD=cbs to use this device, or use PoCL 6)";
}

/* 1 when ksa_attend must not keep two accumulator vectors per work-item on this device */
static inline int ksa_ocl_avoid_two_vector_rows(const char *platform_version, const char *device_version,
                                                const char *driver, const char *pocl_method, const char *quirks)
{
    if (quirks && strstr(quirks, "two-vector-rows")) return 1;
    if (quirks && strcmp(quirks, "none") == 0) return 0;
    if (pocl_method && strcmp(pocl_method, "cbs") == 0) return 0;
    return ksa_ocl_pocl_major(platform_version, device_version, driver) >= 4;
}

#endif /* KSA_OCL_DRIVER_QUIRKS_H */
