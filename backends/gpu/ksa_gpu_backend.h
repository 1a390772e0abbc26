/* ksa_gpu_backend.h: the interface between the GPU layer's host glue (gpu_backend.c, compiled once
 * per vendor) and a vendor file (backends/cuda/cuda_vendor.c, backends/hip/hip_vendor.c). The glue
 * owns the ksa_backend vtable, device discovery, memory and streams, the argument block, the
 * workspace layout and the pass sequence of every mode; the vendor says what only it knows: how its
 * devices are named and which it can use, what it supports, its tunables, and per call which
 * launcher table runs with which choices (ksa_gpu_plan). */
#ifndef KSA_GPU_BACKEND_H
#define KSA_GPU_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "ksa_backend.h"
#include "ksa_gpu_launch.h"
#include "ksa_gpu_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KSA_GPU_MAX_DEVICES 64

/* one usable device */
typedef struct ksa_gpu_device {
    int ordinal;                /* the runtime's device number */
    gpuDeviceProp_t prop;
    char isa[64];               /* "sm_90", "gfx90a" */
    int arch_built;             /* the plugin carries code for this device */
    size_t decode_smem_limit;   /* shared memory per block the split decode may plan with */
} ksa_gpu_device;

typedef struct ksa_gpu_vendor {
    const char *name;      /* backend name and kernel-name prefix: "cuda", "hip" */
    ksa_device_kind kind;
    /* why there is no usable device: err is the runtime's answer to the device count (0 = success),
     * found the number of devices it reported (none of them usable when err is 0) */
    void (*why_absent)(int err, int found, char *why, size_t len);
    /* fill isa, arch_built and decode_smem_limit from d->prop; 0: the device is not usable */
    int (*device)(ksa_gpu_device *d);
    /* driver/runtime versions (part of the tuning-cache signature: keep the format stable) */
    void (*driver_version)(char *out, size_t len);
    /* UNSUPPORTED with a sentence (host->set_error) for what this vendor cannot run */
    ksa_status (*check)(const ksa_host_api *host, const ksa_gpu_device *d, int index, const ksa_problem *p);
    /* choose the launcher table and the vendor's parameters of this call (reading p->config in the
     * order of its tunables); may size KSA_GPU_WS_VENDOR* regions. The glue fills what is left 0.
     * Must be a function of the device and of the problem's own fields and configuration values
     * only (no host array the problem points to, no environment): the glue keeps a thread's last
     * plan keyed by exactly those (gpu_plan_of in gpu_backend.c). */
    void (*plan)(const ksa_gpu_device *d, const ksa_problem *p, ksa_gpu_plan *pl);
    /* vendor fields of the argument block (may be NULL) */
    void (*args)(const ksa_gpu_plan *pl, const ksa_problem *p, ksa_gpu_args *a);
    /* the configuration string of a call that is not a split decode, for KSA_LOG */
    void (*config)(const ksa_gpu_plan *pl, const ksa_problem *p, char *out, size_t len);
    /* the tunable space (NULL: this vendor tunes nothing) */
    ksa_status (*tunables)(const ksa_gpu_device *d, const ksa_problem *p, ksa_tunable_space *out);
} ksa_gpu_vendor;

extern const ksa_gpu_vendor ksa_gpu_vendor_ops; /* defined by the vendor file */

/* the configuration value i of the call (dispatch's choice), or fallback */
static inline int ksa_gpu_config(const ksa_problem *p, int i, int fallback)
{
    if (p->config && i < p->config_count) return p->config[i];
    return fallback;
}

/* a view whose rows the kernels may move in 16-byte pieces: a 16-byte aligned base and strides
 * (batch, token, head, and page when paged) that are multiples of 8 elements */
static inline int ksa_gpu_view_aligned16(const void *ptr, const ksa_token_strides *s, int paged)
{
    if (((uintptr_t)ptr) % 16) return 0;
    if (s->batch % 8 || s->token % 8 || s->head % 8) return 0;
    if (paged && s->page % 8) return 0;
    return 1;
}
/* q, k and v of the call all allow 16-byte pieces */
static inline int ksa_gpu_qkv_aligned16(const ksa_problem *p)
{
    const int paged = p->kv_layout == KSA_KV_PAGED;
    return ksa_gpu_view_aligned16(ksa_mem_addr(p->q.mem), &p->q_strides, 0) &&
           ksa_gpu_view_aligned16(ksa_mem_addr(p->k.mem), &p->k_strides, paged) &&
           ksa_gpu_view_aligned16(ksa_mem_addr(p->v.mem), &p->v_strides, paged);
}

/* the keys a split decode walks per sequence (at most): every key, or for REUSE the index set plus
 * the local window, capped at Lk + k_slots */
static inline int64_t ksa_gpu_decode_list_len(const ksa_problem *p)
{
    int64_t nlist = p->max_seqlen_k;
    if (p->mode == KSA_MODE_REUSE) {
        nlist = p->k_slots + (p->topk.local_window > 0 ? p->topk.local_window : 0);
        if (nlist > p->max_seqlen_k + p->k_slots) nlist = p->max_seqlen_k + p->k_slots;
    }
    return nlist;
}
/* the most splits a decode of nlist keys may use: at least 256 keys each, 1 to 64 */
static inline int64_t ksa_gpu_max_splits(int64_t nlist)
{
    const int64_t m = (nlist + 255) / 256;
    return m > 64 ? 64 : m < 1 ? 1 : m;
}

#ifdef __cplusplus
}
#endif
#endif /* KSA_GPU_BACKEND_H */
