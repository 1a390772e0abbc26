/* ksa_hip_plugin.c: host glue of the HIP backend plugin (libksa_hip.so): the ksa_backend vtable over
 * the HIP runtime: device enumeration (absent with a reason when there is no AMD GPU or driver),
 * memory, copies and streams (callers' hipStream_t through ksa_stream_wrap), the workspace query,
 * and the attention passes, launched per chunk of at most KH_MAX_SEQ sequences:
 *   DENSE   one attention pass over the causal keys;
 *   ANCHOR  a dense pass (writing the internal lse, and o/lse for layer 0), the pooled-score Top-k
 *           pass writing indices/counts, then (unless anchor_dense_output) a sparse pass;
 *   REUSE   one sparse pass over the given index set through the head map.
 * Written in C11 that also compiles as C++, so the same file builds for HIP's NVIDIA platform. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <hip/hip_runtime_api.h>

#include "ksa_backend.h"
#include "ksa_hip_launch.h"

#ifndef KSA_HIP_ARCHS
#define KSA_HIP_ARCHS "gfx90a,gfx940,gfx1030" /* set by CMake from KSA_HIP_ARCHS */
#endif
#define KH_MAX_DEVICES 64
#define KH_POOLED_CAP ((size_t)64 << 20) /* bytes of pooled-score rows per Top-k launch */
#define KH_ALIGN 256

typedef struct kh_device {
    char description[KSA_NAME_MAX];
    char isa[64];
    int32_t compute_units;
    uint64_t memory_bytes;
    int32_t warp_size;
    int32_t arch_built; /* the plugin carries code for this device's architecture */
} kh_device;

typedef struct kh_state {
    const ksa_host_api *host;
    int num_devices;
    char driver_version[64];
    kh_device dev[KH_MAX_DEVICES];
} kh_state;

static kh_state kh_global;

static ksa_status kh_err(ksa_status st, const char *what, hipError_t e)
{
    return kh_global.host->set_error(st, "hip: %s failed: %s (%s)", what, hipGetErrorName(e), hipGetErrorString(e));
}

#if !defined(__HIP_PLATFORM_NVIDIA__)
/* Is `arch` (e.g. "gfx90a", without ":sramecc+..." features) in the comma-separated built list? */
static int kh_arch_listed(const char *arch)
{
    size_t n = strlen(arch);
    const char *s = KSA_HIP_ARCHS;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && strncmp(s, arch, n) == 0) return 1;
        if (!e) break;
        s = e + 1;
    }
    return 0;
}
#endif

#if defined(__HIP_PLATFORM_NVIDIA__)
#define KH_NO_DEVICE "no NVIDIA GPU for HIP's NVIDIA platform"
#else
#define KH_NO_DEVICE "no AMD GPU"
#endif

/* ------------------------------------------------------------------ devices */
static ksa_status kh_init(ksa_backend *self, const ksa_host_api *host, char *why, size_t why_len)
{
    kh_global.host = host;
    kh_global.num_devices = 0;
    int n = 0;
    hipError_t e = hipGetDeviceCount(&n);
    if (e != hipSuccess || n <= 0) {
        const char *name = hipGetErrorName(e), *text = e == hipSuccess ? "0 devices" : hipGetErrorString(e);
        if (strcmp(name, text) == 0)
            snprintf(why, why_len, KH_NO_DEVICE ": hipGetDeviceCount returned %s", name);
        else
            snprintf(why, why_len, KH_NO_DEVICE ": hipGetDeviceCount returned %s (%s)", name, text);
        return KSA_STATUS_NOT_FOUND;
    }
    if (n > KH_MAX_DEVICES) n = KH_MAX_DEVICES;
    int runtime = 0, driver = 0;
    (void)hipRuntimeGetVersion(&runtime);
    (void)hipDriverGetVersion(&driver);
    snprintf(kh_global.driver_version, sizeof kh_global.driver_version, "hip runtime %d, driver %d", runtime, driver);
    for (int i = 0; i < n; i++) {
        hipDeviceProp_t prop;
        memset(&prop, 0, sizeof prop);
        e = hipGetDeviceProperties(&prop, i);
        if (e != hipSuccess) {
            snprintf(why, why_len, "hipGetDeviceProperties(%d) returned %s (%s)", i, hipGetErrorName(e), hipGetErrorString(e));
            return KSA_STATUS_NOT_FOUND;
        }
        kh_device *d = &kh_global.dev[i];
        memset(d, 0, sizeof *d);
        snprintf(d->description, sizeof d->description, "%.127s", prop.name);
#if defined(__HIP_PLATFORM_NVIDIA__)
        snprintf(d->isa, sizeof d->isa, "sm_%d%d", prop.major, prop.minor);
        d->arch_built = 1; /* nvcc compiled for the build machine's chosen architectures */
#else
        snprintf(d->isa, sizeof d->isa, "%s", prop.gcnArchName);
        char *colon = strchr(d->isa, ':'); /* "gfx90a:sramecc+:xnack-" -> "gfx90a" */
        if (colon) *colon = '\0';
        d->arch_built = kh_arch_listed(d->isa);
#endif
        d->compute_units = prop.multiProcessorCount;
        d->memory_bytes = (uint64_t)prop.totalGlobalMem;
        d->warp_size = prop.warpSize;
    }
    kh_global.num_devices = n;
    self->state = &kh_global;
    return KSA_STATUS_SUCCESS;
}

static void kh_shutdown(ksa_backend *self) { self->state = NULL; }
static int kh_device_count(ksa_backend *self) { return kh_global.num_devices; }

static ksa_status kh_device_info(ksa_backend *self, int device, ksa_device_info *out)
{
    const kh_device *d = &kh_global.dev[device];
    memset(out, 0, sizeof *out);
    out->kind = KSA_DEVICE_HIP;
    snprintf(out->name, sizeof out->name, "hip:%d", device);
    snprintf(out->backend, sizeof out->backend, "hip");
    snprintf(out->description, sizeof out->description, "%s", d->description);
    snprintf(out->isa, sizeof out->isa, "%s", d->isa);
    out->compute_units = d->compute_units;
    out->host_memory = 0;
    out->memory_bytes = d->memory_bytes;
    snprintf(out->driver_version, sizeof out->driver_version, "%s", kh_global.driver_version);
    return KSA_STATUS_SUCCESS;
}

static ksa_status kh_set_device(int device)
{
    hipError_t e = hipSetDevice(device);
    return e == hipSuccess ? KSA_STATUS_SUCCESS : kh_err(KSA_STATUS_DEVICE_ERROR, "hipSetDevice", e);
}

/* ------------------------------------------------------------------ memory and streams */
static ksa_status kh_mem_alloc(ksa_backend *self, int device, size_t bytes, ksa_mem *out)
{
    memset(out, 0, sizeof *out);
    ksa_status st = kh_set_device(device);
    if (st) return st;
    void *p = NULL;
    hipError_t e = hipMalloc(&p, bytes ? bytes : 1);
    if (e != hipSuccess)
        return kh_global.host->set_error(e == hipErrorOutOfMemory ? KSA_STATUS_OUT_OF_MEMORY : KSA_STATUS_DEVICE_ERROR,
                                         "hip: hipMalloc of %zu bytes on hip:%d failed: %s", bytes, device,
                                         hipGetErrorString(e));
    out->ptr = p;
    out->native = p;
    return KSA_STATUS_SUCCESS;
}

static void kh_mem_free(ksa_backend *self, int device, ksa_mem mem)
{
    if (mem.native && kh_set_device(device) == KSA_STATUS_SUCCESS) (void)hipFree(mem.native);
}

static ksa_status kh_mem_wrap(ksa_backend *self, int device, void *native, size_t bytes, ksa_mem *out)
{
    memset(out, 0, sizeof *out);
    out->ptr = native; /* the caller keeps owning it: native stays NULL so nothing frees it */
    return KSA_STATUS_SUCCESS;
}

static ksa_status kh_sync(void *stream, const char *what)
{
    hipError_t e = hipStreamSynchronize((hipStream_t)stream);
    return e == hipSuccess ? KSA_STATUS_SUCCESS : kh_err(KSA_STATUS_DEVICE_ERROR, what, e);
}

static ksa_status kh_mem_write(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, const void *src,
                               size_t bytes)
{
    ksa_status st = kh_set_device(device);
    if (st) return st;
    hipError_t e = hipMemcpyAsync((char *)ksa_mem_addr(dst) + offset, src, bytes, hipMemcpyHostToDevice, (hipStream_t)stream);
    if (e != hipSuccess) return kh_err(KSA_STATUS_DEVICE_ERROR, "hipMemcpyAsync (host to device)", e);
    return kh_sync(stream, "hipStreamSynchronize after a write");
}

static ksa_status kh_mem_read(ksa_backend *self, int device, void *stream, void *dst, ksa_mem src, size_t offset,
                              size_t bytes)
{
    ksa_status st = kh_set_device(device);
    if (st) return st;
    hipError_t e = hipMemcpyAsync(dst, (char *)ksa_mem_addr(src) + offset, bytes, hipMemcpyDeviceToHost, (hipStream_t)stream);
    if (e != hipSuccess) return kh_err(KSA_STATUS_DEVICE_ERROR, "hipMemcpyAsync (device to host)", e);
    return kh_sync(stream, "hipStreamSynchronize after a read");
}

static ksa_status kh_mem_fill(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, size_t bytes,
                              uint8_t value)
{
    ksa_status st = kh_set_device(device);
    if (st) return st;
    hipError_t e = hipMemsetAsync((char *)ksa_mem_addr(dst) + offset, value, bytes, (hipStream_t)stream);
    if (e != hipSuccess) return kh_err(KSA_STATUS_DEVICE_ERROR, "hipMemsetAsync", e);
    return kh_sync(stream, "hipStreamSynchronize after a fill");
}

static ksa_status kh_stream_create(ksa_backend *self, int device, void **native)
{
    ksa_status st = kh_set_device(device);
    if (st) return st;
    hipStream_t s = NULL;
    hipError_t e = hipStreamCreateWithFlags(&s, hipStreamNonBlocking);
    if (e != hipSuccess) return kh_err(KSA_STATUS_DEVICE_ERROR, "hipStreamCreateWithFlags", e);
    *native = (void *)s;
    return KSA_STATUS_SUCCESS;
}

static void kh_stream_destroy(ksa_backend *self, int device, void *native)
{
    if (native && kh_set_device(device) == KSA_STATUS_SUCCESS) (void)hipStreamDestroy((hipStream_t)native);
}

static ksa_status kh_stream_sync(ksa_backend *self, int device, void *native)
{
    ksa_status st = kh_set_device(device);
    if (st) return st;
    return kh_sync(native, "hipStreamSynchronize");
}

/* ------------------------------------------------------------------ attention */
/* Workspace layout: [internal lse: B * Hq * max_lq floats][pooled rows: rows_per_launch * ld floats],
 * both only for ANCHOR. */
typedef struct kh_layout {
    size_t lse_bytes, pooled_offset, pooled_bytes, total;
    int64_t pooled_ld;
    int64_t rows_per_launch;
} kh_layout;

static size_t kh_round(size_t x) { return (x + KH_ALIGN - 1) / KH_ALIGN * KH_ALIGN; }

static kh_layout kh_workspace_layout(const ksa_problem *p)
{
    kh_layout l;
    memset(&l, 0, sizeof l);
    if (p->mode != KSA_MODE_ANCHOR) return l;
    l.lse_bytes = kh_round((size_t)p->batch * (size_t)p->num_q_heads * (size_t)p->max_seqlen_q * sizeof(float));
    l.pooled_ld = (p->max_seqlen_k + 63) / 64 * 64;
    int64_t tiles = p->phase == KSA_PHASE_DECODE ? 1 : p->n_tiles;
    int64_t chunk_seqs = p->batch < KH_MAX_SEQ ? p->batch : KH_MAX_SEQ;
    int64_t rows = chunk_seqs * p->num_kv_heads * tiles; /* Top-k rows of one chunk of sequences */
    int64_t cap = (int64_t)(KH_POOLED_CAP / ((size_t)l.pooled_ld * sizeof(float)));
    if (cap < 1) cap = 1;
    l.rows_per_launch = rows < cap ? rows : cap;
    l.pooled_offset = l.lse_bytes;
    l.pooled_bytes = kh_round((size_t)l.rows_per_launch * (size_t)l.pooled_ld * sizeof(float));
    l.total = l.pooled_offset + l.pooled_bytes;
    return l;
}

static int kh_max_head_dim(int32_t d)
{
    return d <= 64 ? 64 : d <= 128 ? 128 : d <= 256 ? 256 : d <= KH_MAX_HEAD_DIM ? KH_MAX_HEAD_DIM : 0;
}

static ksa_status kh_check_supported(int device, const ksa_problem *p)
{
    const kh_device *d = &kh_global.dev[device];
    if (!d->arch_built)
        return kh_global.host->set_error(KSA_STATUS_UNSUPPORTED,
                                         "hip: hip:%d is a %s but this plugin carries code only for %s; rebuild with "
                                         "-DKSA_HIP_ARCHS=\"%s\" (with a ROCm that knows that target)",
                                         device, d->isa, KSA_HIP_ARCHS, d->isa);
    if (p->dtype != KSA_DTYPE_F32 && p->dtype != KSA_DTYPE_F16 && p->dtype != KSA_DTYPE_BF16)
        return kh_global.host->set_error(KSA_STATUS_UNSUPPORTED,
                                         "hip: storage type %d is not supported (f32, f16, bf16 are)", (int)p->dtype);
    if (!kh_max_head_dim(p->head_dim))
        return kh_global.host->set_error(KSA_STATUS_UNSUPPORTED, "hip: head_dim %d is above the %d this backend supports",
                                         p->head_dim, KH_MAX_HEAD_DIM);
    if (p->num_kv_heads > KH_MAX_KV_HEADS)
        return kh_global.host->set_error(KSA_STATUS_UNSUPPORTED, "hip: %d KV heads is above %d", p->num_kv_heads,
                                         KH_MAX_KV_HEADS);
    return KSA_STATUS_SUCCESS;
}

static ksa_status kh_attention_workspace(ksa_backend *self, int device, const ksa_problem *p, size_t *bytes)
{
    *bytes = kh_workspace_layout(p).total;
    return KSA_STATUS_SUCCESS;
}

static kh_strides kh_strides_of(const ksa_token_strides *s)
{
    kh_strides r;
    r.batch = s->batch;
    r.token = s->token;
    r.head = s->head;
    r.page = s->page;
    return r;
}

typedef int (*kh_attend_fn)(const kh_args *, int, int, void *);
typedef int (*kh_topk_fn)(const kh_args *, int, int, int, void *);

static ksa_status kh_launched(int e, const char *what)
{
    if (e == 0) return KSA_STATUS_SUCCESS;
    return kh_global.host->set_error(KSA_STATUS_DEVICE_ERROR, "hip: launching the %s kernel failed: %s", what,
                                     hipGetErrorString((hipError_t)e));
}

static ksa_status kh_attention(ksa_backend *self, int device, void *stream, const ksa_problem *p, ksa_call_info *info)
{
    ksa_status st = kh_check_supported(device, p);
    if (st) return st;
    st = kh_set_device(device);
    if (st) return st;
    const int maxd = kh_max_head_dim(p->head_dim);
    const int decode = p->phase == KSA_PHASE_DECODE;
    kh_attend_fn attend = p->dtype == KSA_DTYPE_F32 ? kh_launch_attend_f32
                          : p->dtype == KSA_DTYPE_F16 ? kh_launch_attend_f16
                                                      : kh_launch_attend_bf16;
    kh_topk_fn topk = p->dtype == KSA_DTYPE_F32 ? kh_launch_pool_topk_f32
                      : p->dtype == KSA_DTYPE_F16 ? kh_launch_pool_topk_f16
                                                  : kh_launch_pool_topk_bf16;
    kh_layout lay = kh_workspace_layout(p);
    char *ws = (char *)ksa_mem_addr(p->workspace);

    kh_args a; /* 2.5 KB, passed by value: every launch copies it, so chunks can reuse it at once */
    static const char *const mode_name[] = {"dense", "anchor", "reuse"};
    memset(&a, 0, sizeof a);
    a.q = ksa_mem_addr(p->q.mem);
    a.k = ksa_mem_addr(p->k.mem);
    a.v = ksa_mem_addr(p->v.mem);
    a.page_table = p->kv_layout == KSA_KV_PAGED ? (const int32_t *)ksa_mem_addr(p->page_table.mem) : NULL;
    a.indices = p->indices.present ? (int32_t *)ksa_mem_addr(p->indices.mem) : NULL;
    a.counts = p->counts.present ? (int32_t *)ksa_mem_addr(p->counts.mem) : NULL;
    a.q_s = kh_strides_of(&p->q_strides);
    a.k_s = kh_strides_of(&p->k_strides);
    a.v_s = kh_strides_of(&p->v_strides);
    a.o_s = kh_strides_of(&p->o_strides);
    a.lse_sb = p->lse_stride_b;
    a.lse_sh = p->lse_stride_h;
    a.lse_si = p->lse_stride_i;
    if (a.page_table) {
        a.pt_s0 = p->page_table.stride[0];
        a.pt_s1 = p->page_table.stride[1];
    }
    a.is0 = p->index_stride[0];
    a.is1 = p->index_stride[1];
    a.is2 = decode ? 0 : p->index_stride[2];
    a.is3 = p->index_stride[3];
    a.cs0 = p->count_stride[0];
    a.cs1 = p->count_stride[1];
    a.cs2 = decode ? 0 : p->count_stride[2];
    a.kv_layout = p->kv_layout == KSA_KV_PAGED ? KH_KV_PAGED : p->kv_layout == KSA_KV_RAGGED ? KH_KV_RAGGED : KH_KV_CONTIGUOUS;
    a.page_size = p->page_size;
    a.hq = p->num_q_heads;
    a.hkv = p->num_kv_heads;
    a.group = p->group_size;
    a.head_dim = p->head_dim;
    a.max_lq = (int32_t)p->max_seqlen_q;
    a.n_tiles = decode ? 1 : (int32_t)p->n_tiles;
    a.k_slots = (int32_t)p->k_slots;
    a.scale = p->scale;
    a.decode = decode;
    a.fraction = p->topk.fraction;
    a.top_k = p->topk.top_k;
    a.min_k = p->topk.min_k;
    a.round_multiple = p->topk.round_multiple;
    a.tile_size = p->topk.tile_size;
    a.rolling = p->topk.rolling;
    a.pooled_ld = lay.pooled_ld;
    a.pooled = lay.pooled_bytes ? (float *)(void *)(ws + lay.pooled_offset) : NULL;
    float *lse_ws = lay.lse_bytes ? (float *)(void *)ws : NULL;
    void *o = ksa_mem_addr(p->o.mem);
    float *lse = p->lse.present ? (float *)ksa_mem_addr(p->lse.mem) : NULL;

    for (int32_t b0 = 0; b0 < p->batch; b0 += KH_MAX_SEQ) {
        a.b0 = b0;
        a.nseq = p->batch - b0 < KH_MAX_SEQ ? p->batch - b0 : KH_MAX_SEQ;
        int rows = 0;
        for (int s = 0; s < a.nseq; s++) {
            a.lq[s] = decode ? 1 : p->seqlen_q[b0 + s];
            a.lk[s] = p->seqlen_k[b0 + s];
            a.q_row0[s] = p->q_row0[b0 + s];
            a.k_row0[s] = p->k_row0[b0 + s];
            if (a.lq[s] > rows) rows = a.lq[s];
        }
        for (int g = 0; g < p->num_kv_heads; g++) a.head_map[g] = g;
        if (p->mode == KSA_MODE_DENSE) {
            a.sparse = 0;
            a.o = o;
            a.lse = lse;
            a.lse_ws = NULL;
            st = kh_launched(attend(&a, rows, maxd, stream), "dense attention");
        } else if (p->mode == KSA_MODE_ANCHOR) {
            a.sparse = 0;
            a.o = p->anchor_dense_output ? o : NULL;
            a.lse = p->anchor_dense_output ? lse : NULL;
            a.lse_ws = lse_ws;
            st = kh_launched(attend(&a, rows, maxd, stream), "anchor dense pass");
            int chunk_rows = a.nseq * a.hkv * a.n_tiles;
            for (int r0 = 0; r0 < chunk_rows && !st; r0 += (int)lay.rows_per_launch) {
                int n = chunk_rows - r0 < (int)lay.rows_per_launch ? chunk_rows - r0 : (int)lay.rows_per_launch;
                st = kh_launched(topk(&a, r0, n, maxd, stream), "pooled-score Top-k");
            }
            if (!st && !p->anchor_dense_output) {
                a.sparse = 1;
                a.window = 0;
                a.o = o;
                a.lse = lse;
                a.lse_ws = NULL;
                st = kh_launched(attend(&a, rows, maxd, stream), "anchor sparse pass");
            }
        } else {
            for (int g = 0; g < p->num_kv_heads; g++) a.head_map[g] = p->head_map ? p->head_map[g] : g;
            a.sparse = 1;
            a.window = decode ? p->topk.local_window : 0;
            a.o = o;
            a.lse = lse;
            a.lse_ws = NULL;
            st = kh_launched(attend(&a, rows, maxd, stream), "reuse sparse pass");
        }
        if (st) return st;
    }
    if (info) {
        int m = p->mode >= KSA_MODE_DENSE && p->mode <= KSA_MODE_REUSE ? (int)p->mode : 0;
        snprintf(info->kernel, sizeof info->kernel, "hip.%s_%s", mode_name[m], decode ? "decode" : "prefill");
        snprintf(info->config, sizeof info->config, "threads=%d,max_head_dim=%d", KH_THREADS, maxd);
    }
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ the vtable */
static ksa_backend kh_backend = {
    KSA_BACKEND_ABI_VERSION,
    "hip",
    KSA_DEVICE_HIP,
    0,
    NULL,
    kh_init,
    kh_shutdown,
    kh_device_count,
    kh_device_info,
    kh_mem_alloc,
    kh_mem_free,
    kh_mem_wrap,
    kh_mem_write,
    kh_mem_read,
    kh_mem_fill,
    kh_stream_create,
    kh_stream_destroy,
    kh_stream_sync,
    kh_attention_workspace,
    kh_attention,
    NULL,
};

#ifdef __cplusplus
extern "C"
#endif
    __attribute__((visibility("default"))) ksa_backend *
    ksa_plugin_backend(uint32_t abi_version)
{
    return abi_version == KSA_BACKEND_ABI_VERSION ? &kh_backend : NULL;
}
