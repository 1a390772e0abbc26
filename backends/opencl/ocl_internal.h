/* ocl_internal.h: shared declarations of the OpenCL backend plugin (libksa_opencl.so): per-device
 * state, per-cl_context state (queues, compiled programs), the kernel geometry struct mirrored by
 * kernels/ksa_attention.cl, and the functions split across opencl_backend.c (plugin, devices, memory,
 * streams), ocl_program.c (run-time compilation and the on-disk program cache) and
 * ocl_attention.c (workspace, tunables, kernel launches). */
#ifndef KSA_OCL_INTERNAL_H
#define KSA_OCL_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ksa_backend.h"

#define KSA_OCL_MAX_PROGRAMS 48
#define KSA_OCL_MAX_CONTEXTS 4
#define KSA_OCL_STAGING_SLOTS 8

/* Kernels of one program (one configuration: dtype, head_dim, rows, tpr, block_k). */
enum { KSA_OCL_K_ATTEND = 0, KSA_OCL_K_COMBINE, KSA_OCL_K_POOL, KSA_OCL_K_TOPK, KSA_OCL_K_META, KSA_OCL_NUM_KERNELS };

typedef struct ksa_ocl_program {
    char options[256];
    cl_program program;
    cl_kernel kernels[KSA_OCL_NUM_KERNELS];
} ksa_ocl_program;

/* Everything bound to one cl_context: ours, or a caller's (a wrapped queue or cl_mem). */
typedef struct ksa_ocl_ctx {
    cl_context context;
    cl_command_queue queue; /* default in-order queue (created lazily for callers' contexts) */
    int owned;              /* our own context (released at shutdown) */
    int num_programs;
    ksa_ocl_program programs[KSA_OCL_MAX_PROGRAMS];
} ksa_ocl_ctx;

/* Host staging for the per-call meta block (sequence lengths, head map, Top-k counts): written to
 * the workspace with a non-blocking copy, so the slot is reused only once its event completed. */
typedef struct ksa_ocl_staging {
    int32_t *host;
    size_t capacity; /* int32 elements */
    cl_event done;
} ksa_ocl_staging;

typedef struct ksa_ocl_device {
    int platform_index, device_index;
    cl_platform_id platform;
    cl_device_id device;
    char name[32];         /* "opencl:P.D" */
    char description[128];
    char version[64];      /* CL_DEVICE_VERSION */
    char driver[64];       /* CL_DRIVER_VERSION */
    char platform_version[128];
    cl_uint compute_units;
    cl_ulong global_mem;
    cl_ulong local_mem;
    size_t max_wg;
    cl_uint base_addr_align_bits;
    int has_fp16;         /* cl_khr_fp16 advertised */
    int fp16_refused;     /* a -DKSA_HAS_FP16 build failed once: use the core conversions */
    int avoid_two_vector_rows; /* ksa_attend must not keep two accumulator vectors per work-item:
                                  ksa_ocl_avoid_two_vector_rows (ocl_driver_quirks.h), used with
                                  two_vector_rows (ocl_attention.c) */
    pthread_mutex_t lock; /* kernel arguments and lazy compilation are not thread-safe */
    int num_ctx;
    ksa_ocl_ctx ctx[KSA_OCL_MAX_CONTEXTS];
    int staging_next;
    ksa_ocl_staging staging[KSA_OCL_STAGING_SLOTS];
} ksa_ocl_device;

typedef struct ksa_ocl_state {
    const ksa_host_api *host;
    int num_devices;
    ksa_ocl_device *devices;
} ksa_ocl_state;

/* Mirrors `ksa_geom` in kernels/ksa_attention.cl: all fields cl_long, same order. */
typedef struct ksa_cl_geom {
    cl_long batch, hq, hkv, group, max_lq, max_lk;
    cl_long kv_layout, page_size, pt_off, pt_sb;
    cl_long q_off, q_b, q_t, q_h;
    cl_long k_off, k_b, k_t, k_h, k_p;
    cl_long v_off, v_b, v_t, v_h, v_p;
    cl_long o_off, o_b, o_t, o_h;
    cl_long lse_off, lse_b, lse_h, lse_i;
    cl_long idx_off, idx_s0, idx_s1, idx_s2, idx_s3, k_slots;
    cl_long cnt_off, cnt_s0, cnt_s1, cnt_s2;
    cl_long n_tiles, tile_q, group_rows, blocks_per_group, window, decode;
    cl_long splits;
    cl_long meta_off, lse_ws_off, part_off, pool_off, pool_stride, item0;
} ksa_cl_geom;

/* opencl_backend.c */
ksa_ocl_state *ksa_ocl_state_of(ksa_backend *self);
/* The device's driver is PoCL (platform or device version says so). */
int ksa_ocl_is_pocl(const ksa_ocl_device *d);
const char *ksa_ocl_error_name(cl_int err);
/* The context state for `queue` (NULL: our default context); created on first use. */
ksa_status ksa_ocl_ctx_for_queue(ksa_backend *self, ksa_ocl_device *dev, cl_command_queue queue, ksa_ocl_ctx **out,
                                 cl_command_queue *use_queue);

/* ocl_program.c */
/* The program compiled with `options` for this context (built, loaded from the disk cache, or
 * rebuilt when the cache entry is stale or corrupt). Called with dev->lock held. */
ksa_status ksa_ocl_get_program(ksa_backend *self, ksa_ocl_device *dev, ksa_ocl_ctx *c, const char *options,
                               ksa_ocl_program **out);
void ksa_ocl_release_programs(ksa_ocl_ctx *c);
/* The program cache folder for `dev` in buf (returns 1), or 0 when there is none: $KSA_OPENCL_CACHE
 * when it names a folder (off/0: none); unset, none on PoCL with its own kernel cache on (see
 * ocl_program.c), else $XDG_CACHE_HOME/ksa/opencl, else ~/.cache/ksa/opencl. */
int ksa_ocl_cache_dir(const ksa_ocl_device *dev, char *buf, size_t len);

/* ocl_attention.c */
ksa_status ksa_ocl_attention_workspace(ksa_backend *self, int device, const ksa_problem *p, size_t *bytes);
ksa_status ksa_ocl_attention(ksa_backend *self, int device, void *stream, const ksa_problem *p, ksa_call_info *info);
ksa_status ksa_ocl_tunables(ksa_backend *self, int device, const ksa_problem *p, ksa_tunable_space *out);

#endif /* KSA_OCL_INTERNAL_H */
