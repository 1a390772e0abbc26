/* gpu_backend.c: the host glue of the GPU layer, one source compiled once per vendor (the CUDA plugin
 * libksa_cuda.so against the CUDA runtime, the HIP plugin libksa_hip.so with KSA_GPU_RUNTIME_HIP)
 * through ksa_gpu_runtime.h. Fills the ksa_backend vtable: device discovery (absent with the
 * vendor's reason when there is no driver or device), memory and streams on the caller's
 * cudaStream_t / hipStream_t, the workspace plan, the argument block, and the per-mode pass sequence
 * of an attention call, whose steps come from the vendor's launcher table (ksa_gpu_launch.h):
 *   prefill-style (prefill, and decode where the vendor has no split decode for the call):
 *     dense  : prefill pass (dense causal keys)
 *     anchor : prefill pass (dense, internal lse; o and lse too for a dense-output anchor) ->
 *              pooled scores per tile group -> Top-k -> prefill pass (sparse) unless dense output
 *     reuse  : prefill pass (sparse, through the head map; decode: plus the local window)
 *   split decode:
 *     dense / reuse : split-KV over all keys / the index set (+ local window) -> combine
 *     anchor        : split-KV with scores -> combine (lse) -> pool -> Top-k -> sparse split-KV -> combine
 * Nothing is allocated during a call: every scratch array is a region of the caller's workspace.
 * Written in C11 that also compiles as C++ (nvcc builds the HIP plugin so for HIP's NVIDIA platform). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ksa_gpu_backend.h"

#define V ksa_gpu_vendor_ops

typedef struct gpu_state {
    const ksa_host_api *host;
    int ndev;
    char driver_version[64];
    ksa_gpu_device dev[KSA_GPU_MAX_DEVICES];
} gpu_state;

static gpu_state g_state;

static ksa_status gpu_fail(gpuError_t e, const char *what)
{
    return g_state.host->set_error(e == gpuErrorOutOfMemory ? KSA_STATUS_OUT_OF_MEMORY : KSA_STATUS_DEVICE_ERROR,
                                   "%s: %s failed: %s (%s)", V.name, what, gpuGetErrorName(e), gpuGetErrorString(e));
}
#define GPU_TRY(expr, what)                                                                           \
    do {                                                                                              \
        gpuError_t gpu_e_ = (expr);                                                                   \
        if (gpu_e_ != gpuSuccess) return gpu_fail(gpu_e_, (what));                                    \
    } while (0)
/* a launcher's answer (the runtime's error code as int) */
#define GPU_STEP(expr, what)                                                                          \
    do {                                                                                              \
        int gpu_rc_ = (expr);                                                                         \
        if (gpu_rc_) return gpu_fail((gpuError_t)gpu_rc_, (what));                                    \
    } while (0)
#define GPU_SET_DEVICE(device) GPU_TRY(gpu_use_device(g_state.dev[device].ordinal), KSA_GPU_RT "SetDevice")

/* make `ordinal` the calling thread's current device; asking first is cheaper than setting the
 * device that is already current (measured on the H200 host: ~0.2 us per set, twice per call) */
static gpuError_t gpu_use_device(int ordinal)
{
    int cur = -1;
    if (gpuGetDevice(&cur) == gpuSuccess && cur == ordinal) return gpuSuccess;
    return gpuSetDevice(ordinal);
}

/* ------------------------------------------------------------------ devices */
static ksa_status gpu_init(ksa_backend *self, const ksa_host_api *host, char *why, size_t why_len)
{
    memset(&g_state, 0, sizeof g_state);
    g_state.host = host;
    self->state = &g_state;
    int n = 0;
    gpuError_t e = gpuGetDeviceCount(&n);
    if (e != gpuSuccess || n <= 0) {
        V.why_absent((int)e, e == gpuSuccess ? n : 0, why, why_len);
        return KSA_STATUS_NOT_FOUND;
    }
    if (n > KSA_GPU_MAX_DEVICES) n = KSA_GPU_MAX_DEVICES;
    int usable = 0;
    for (int i = 0; i < n; i++) {
        ksa_gpu_device *d = &g_state.dev[usable];
        memset(d, 0, sizeof *d);
        d->ordinal = i;
        if (gpuGetDeviceProperties(&d->prop, i) != gpuSuccess) continue;
        if (V.device(d)) usable++;
    }
    if (usable == 0) {
        V.why_absent(0, n, why, why_len);
        return KSA_STATUS_NOT_FOUND;
    }
    g_state.ndev = usable;
    V.driver_version(g_state.driver_version, sizeof g_state.driver_version);
    return KSA_STATUS_SUCCESS;
}

static void gpu_shutdown(ksa_backend *self) { (void)self; }

static int gpu_device_count(ksa_backend *self)
{
    (void)self;
    return g_state.ndev;
}

static ksa_status gpu_device_info(ksa_backend *self, int device, ksa_device_info *out)
{
    (void)self;
    const ksa_gpu_device *d = &g_state.dev[device];
    memset(out, 0, sizeof *out);
    out->kind = V.kind;
    snprintf(out->name, sizeof out->name, "%s:%d", V.name, device);
    snprintf(out->backend, sizeof out->backend, "%s", V.name);
    snprintf(out->description, sizeof out->description, "%.127s", d->prop.name);
    snprintf(out->isa, sizeof out->isa, "%s", d->isa);
    out->compute_units = d->prop.multiProcessorCount;
    out->host_memory = 0;
    out->memory_bytes = (uint64_t)d->prop.totalGlobalMem;
    snprintf(out->driver_version, sizeof out->driver_version, "%s", g_state.driver_version);
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ memory and streams */
static ksa_status gpu_mem_alloc(ksa_backend *self, int device, size_t bytes, ksa_mem *out)
{
    (void)self;
    memset(out, 0, sizeof *out);
    GPU_SET_DEVICE(device);
    void *p = NULL;
    gpuError_t e = gpuMalloc(&p, bytes ? bytes : 1);
    if (e != gpuSuccess)
        return g_state.host->set_error(e == gpuErrorOutOfMemory ? KSA_STATUS_OUT_OF_MEMORY : KSA_STATUS_DEVICE_ERROR,
                                       "%s: " KSA_GPU_RT "Malloc of %zu bytes on %s:%d failed: %s (%s)", V.name, bytes,
                                       V.name, device, gpuGetErrorName(e), gpuGetErrorString(e));
    out->ptr = p;
    out->native = p;
    return KSA_STATUS_SUCCESS;
}

static void gpu_mem_free(ksa_backend *self, int device, ksa_mem mem)
{
    (void)self;
    if (mem.native && gpuSetDevice(g_state.dev[device].ordinal) == gpuSuccess) (void)gpuFree(mem.native);
}

static ksa_status gpu_mem_wrap(ksa_backend *self, int device, void *native, size_t bytes, ksa_mem *out)
{
    (void)self;
    (void)device;
    (void)bytes;
    memset(out, 0, sizeof *out);
    out->ptr = native; /* the caller keeps owning it: native stays NULL so nothing frees it */
    return KSA_STATUS_SUCCESS;
}

static ksa_status gpu_mem_write(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, const void *src,
                                size_t bytes)
{
    (void)self;
    GPU_SET_DEVICE(device);
    GPU_TRY(gpuMemcpyAsync((char *)ksa_mem_addr(dst) + offset, src, bytes, gpuMemcpyHostToDevice, (gpuStream_t)stream),
            KSA_GPU_RT "MemcpyAsync (host to device)");
    GPU_TRY(gpuStreamSynchronize((gpuStream_t)stream), KSA_GPU_RT "StreamSynchronize");
    return KSA_STATUS_SUCCESS;
}

static ksa_status gpu_mem_read(ksa_backend *self, int device, void *stream, void *dst, ksa_mem src, size_t offset,
                               size_t bytes)
{
    (void)self;
    GPU_SET_DEVICE(device);
    /* a stream being captured into a graph cannot be synchronised: refuse before touching it, so
     * the caller's capture stays valid (the runtime would invalidate it) */
    gpuStreamCaptureStatus capturing = gpuStreamCaptureStatusNone;
    if (gpuStreamIsCapturing((gpuStream_t)stream, &capturing) != gpuSuccess) (void)gpuGetLastError();
    if (capturing != gpuStreamCaptureStatusNone)
        return g_state.host->set_error(KSA_STATUS_UNSUPPORTED,
                                       "%s: reading device memory back to the host needs a synchronisation, which a "
                                       "stream being captured into a graph cannot do",
                                       V.name);
    GPU_TRY(gpuMemcpyAsync(dst, (const char *)ksa_mem_addr(src) + offset, bytes, gpuMemcpyDeviceToHost, (gpuStream_t)stream),
            KSA_GPU_RT "MemcpyAsync (device to host)");
    GPU_TRY(gpuStreamSynchronize((gpuStream_t)stream), KSA_GPU_RT "StreamSynchronize");
    return KSA_STATUS_SUCCESS;
}

static ksa_status gpu_mem_fill(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, size_t bytes,
                               uint8_t value)
{
    (void)self;
    GPU_SET_DEVICE(device);
    GPU_TRY(gpuMemsetAsync((char *)ksa_mem_addr(dst) + offset, value, bytes, (gpuStream_t)stream), KSA_GPU_RT "MemsetAsync");
    GPU_TRY(gpuStreamSynchronize((gpuStream_t)stream), KSA_GPU_RT "StreamSynchronize");
    return KSA_STATUS_SUCCESS;
}

static ksa_status gpu_stream_create(ksa_backend *self, int device, void **native)
{
    (void)self;
    GPU_SET_DEVICE(device);
    gpuStream_t st = NULL;
    GPU_TRY(gpuStreamCreateWithFlags(&st, gpuStreamNonBlocking), KSA_GPU_RT "StreamCreateWithFlags");
    *native = (void *)st;
    return KSA_STATUS_SUCCESS;
}

static void gpu_stream_destroy(ksa_backend *self, int device, void *native)
{
    (void)self;
    if (native && gpuSetDevice(g_state.dev[device].ordinal) == gpuSuccess) (void)gpuStreamDestroy((gpuStream_t)native);
}

static ksa_status gpu_stream_sync(ksa_backend *self, int device, void *native)
{
    (void)self;
    GPU_SET_DEVICE(device);
    GPU_TRY(gpuStreamSynchronize((gpuStream_t)native), KSA_GPU_RT "StreamSynchronize");
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ tunables, support, workspace plan */
static ksa_status gpu_tunables(ksa_backend *self, int device, const ksa_problem *p, ksa_tunable_space *out)
{
    (void)self;
    memset(out, 0, sizeof *out);
    return V.tunables(&g_state.dev[device], p, out);
}

static ksa_status gpu_check(int device, const ksa_problem *p)
{
    if (p->num_kv_heads > KSA_GPU_MAX_KV_HEADS)
        return g_state.host->set_error(KSA_STATUS_UNSUPPORTED, "%s: %d KV heads exceed the backend's %d", V.name,
                                       p->num_kv_heads, KSA_GPU_MAX_KV_HEADS);
    return V.check(g_state.host, &g_state.dev[device], device, p);
}

static size_t gpu_align(size_t x) { return (x + KSA_GPU_WS_ALIGN - 1) / KSA_GPU_WS_ALIGN * KSA_GPU_WS_ALIGN; }

/* the split decode's buffering and split count where the vendor left them 0 */
static void gpu_plan_split_decode(const ksa_gpu_device *d, const ksa_problem *p, ksa_gpu_plan *pl)
{
    const int64_t B = p->batch, Hkv = p->num_kv_heads;
    int stages = pl->dec_stages;
    /* measured on H100: double buffering pays when a chunk's compute is small (G < 4) */
    if (stages <= 0) stages = p->group_size >= 4 ? 1 : 2;
    if (stages == 2 && ksa_gpu_decode_smem(p->head_dim, p->group_size, 2) > d->decode_smem_limit) stages = 1;
    pl->dec_stages = stages;
    if (pl->splits <= 0) {
        /* about 8 waves of resident blocks, so the last partial wave costs little; at least 256 keys
         * per split */
        int sms = d->prop.multiProcessorCount;
        int per_sm = ksa_gpu_decode_blocks_per_sm(p->head_dim, (int)p->dtype, p->group_size, stages);
        int64_t slots = (int64_t)sms * per_sm;
        int64_t want = (8 * slots + B * Hkv - 1) / (B * Hkv);
        const int64_t maxs = ksa_gpu_max_splits(ksa_gpu_decode_list_len(p));
        if (want > maxs) want = maxs;
        if (want < 1) want = 1;
        pl->splits = (int32_t)want;
    }
}

/* The plan of a call: the vendor's choices, then the shared sizes and the region layout. */
static void gpu_make_plan(int device, const ksa_problem *p, ksa_gpu_plan *pl)
{
    const ksa_gpu_device *d = &g_state.dev[device];
    memset(pl, 0, sizeof *pl);
    pl->sms = d->prop.multiProcessorCount;
    const size_t B = (size_t)p->batch, Hq = (size_t)p->num_q_heads, Hkv = (size_t)p->num_kv_heads;
    const size_t D = (size_t)p->head_dim;
    const int decode = p->phase == KSA_PHASE_DECODE;
    pl->lk_ld = (p->max_seqlen_k + 3) / 4 * 4;
    pl->pooled_cap = (size_t)256 << 20; /* pooled scores: at most 256 MiB unless the vendor says otherwise */
    V.plan(d, p, pl);
    const size_t ld = (size_t)pl->lk_ld;
    pl->bytes[KSA_GPU_WS_ZERO_SRC] = 256;
    if (decode && pl->split_decode) {
        gpu_plan_split_decode(d, p, pl);
        size_t part_splits = pl->decode_direct && pl->decode_cluster ? 0 : (size_t)pl->splits;
        if (pl->sparse_splits > 0 && !(pl->decode_direct && pl->sparse_cluster) && (size_t)pl->sparse_splits > part_splits)
            part_splits = (size_t)pl->sparse_splits; /* the anchor's sparse pass, planned apart */
        if (part_splits) pl->bytes[KSA_GPU_WS_PARTIALS] = sizeof(float) * B * Hq * part_splits * (D + 2);
        if (p->mode == KSA_MODE_ANCHOR) {
            pl->bytes[KSA_GPU_WS_SCORES] = sizeof(float) * B * Hq * ld;
            pl->bytes[KSA_GPU_WS_LSE] = sizeof(float) * B * Hq;
            if (!pl->decode_topk_pools) pl->bytes[KSA_GPU_WS_POOLED] = sizeof(float) * B * Hkv * ld;
        }
    } else if (p->mode == KSA_MODE_ANCHOR) {
        const int64_t tiles = decode ? 1 : p->n_tiles;
        pl->bytes[KSA_GPU_WS_LSE] = sizeof(float) * B * Hq * (size_t)p->max_seqlen_q;
        const size_t per_tile = sizeof(float) * B * Hkv * ld;
        int64_t group = pl->tile_group;
        if (group <= 0) {
            int64_t g = (int64_t)(pl->pooled_cap / (per_tile > 0 ? per_tile : 1));
            group = g < 1 ? 1 : (g > 1 << 20 ? 1 << 20 : g);
        }
        if (group > tiles) group = tiles > 0 ? tiles : 1;
        pl->tile_group = (int32_t)group;
        pl->bytes[KSA_GPU_WS_POOLED] = per_tile * (size_t)group;
    }
    size_t off = 0;
    for (int r = 0; r < KSA_GPU_WS_COUNT; r++) {
        if (!pl->bytes[r]) continue;
        pl->offset[r] = off;
        off = gpu_align(off + pl->bytes[r]);
    }
    pl->total = off;
}

/* The plan of the call a thread made last, so that the workspace query the dispatch layer makes
 * before each call and the call itself plan once (~0.3 us of host time each). The plan is a function
 * of the problem's fields (none it points to is read, except the configuration values, compared
 * here too) and the device; the workspace, which the dispatch layer fills in between the two, is
 * left out of the comparison. */
typedef struct gpu_plan_memo {
    int valid, device, config_count;
    int32_t config[KSA_MAX_TUNABLES];
    ksa_problem key; /* the problem with its workspace fields cleared */
    ksa_gpu_plan plan;
} gpu_plan_memo;
static _Thread_local gpu_plan_memo tls_plan_memo;

static void gpu_plan_of(int device, const ksa_problem *p, ksa_gpu_plan *pl)
{
    gpu_plan_memo *m = &tls_plan_memo;
    ksa_problem key = *p;
    memset(&key.workspace, 0, sizeof key.workspace);
    key.workspace_size = 0;
    const int nc = p->config ? p->config_count : 0;
    if (m->valid && m->device == device && m->config_count == nc && nc <= KSA_MAX_TUNABLES &&
        (nc == 0 || !memcmp(m->config, p->config, (size_t)nc * sizeof m->config[0])) && !memcmp(&m->key, &key, sizeof key)) {
        *pl = m->plan;
        return;
    }
    gpu_make_plan(device, p, pl);
    if (nc > KSA_MAX_TUNABLES) {
        m->valid = 0;
        return;
    }
    m->valid = 1;
    m->device = device;
    m->config_count = nc;
    if (nc) memcpy(m->config, p->config, (size_t)nc * sizeof m->config[0]);
    m->key = key;
    m->plan = *pl;
}

static ksa_status gpu_attention_workspace(ksa_backend *self, int device, const ksa_problem *p, size_t *bytes)
{
    (void)self;
    ksa_status st = gpu_check(device, p);
    if (st) return st;
    GPU_SET_DEVICE(device); /* the plan's occupancy queries answer for the current device */
    ksa_gpu_plan pl;
    gpu_plan_of(device, p, &pl);
    *bytes = pl.total;
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ attention */
static void gpu_strides(ksa_gpu_strides *d, const ksa_token_strides *s)
{
    d->batch = s->batch;
    d->token = s->token;
    d->head = s->head;
    d->page = s->page;
}

/* the argument block of a call (pass selection fields 0: gpu_passes sets them per pass) */
static void gpu_fill_args(const ksa_problem *p, const ksa_gpu_plan *pl, char *ws, ksa_gpu_args *a)
{
    const int decode = p->phase == KSA_PHASE_DECODE, paged = p->kv_layout == KSA_KV_PAGED;
    memset(a, 0, sizeof *a);
    a->q = ksa_mem_addr(p->q.mem);
    a->k = ksa_mem_addr(p->k.mem);
    a->v = ksa_mem_addr(p->v.mem);
    a->o = ksa_mem_addr(p->o.mem);
    a->lse = p->lse.present ? (float *)ksa_mem_addr(p->lse.mem) : NULL;
    a->zero_src = ws + pl->offset[KSA_GPU_WS_ZERO_SRC];
    a->page_table = paged ? (const int *)ksa_mem_addr(p->page_table.mem) : NULL;
    a->indices = p->indices.present ? (int *)ksa_mem_addr(p->indices.mem) : NULL;
    a->counts = p->counts.present ? (int *)ksa_mem_addr(p->counts.mem) : NULL;
    gpu_strides(&a->q_s, &p->q_strides);
    gpu_strides(&a->k_s, &p->k_strides);
    gpu_strides(&a->v_s, &p->v_strides);
    gpu_strides(&a->o_s, &p->o_strides);
    a->lse_sb = p->lse_stride_b;
    a->lse_sh = p->lse_stride_h;
    a->lse_si = p->lse_stride_i;
    if (a->page_table) {
        a->pt_s0 = p->page_table.stride[0];
        a->pt_s1 = p->page_table.stride[1];
    }
    a->is0 = p->index_stride[0];
    a->is1 = p->index_stride[1];
    a->is2 = decode ? 0 : p->index_stride[2];
    a->is3 = p->index_stride[3];
    a->cs0 = p->count_stride[0];
    a->cs1 = p->count_stride[1];
    a->cs2 = decode ? 0 : p->count_stride[2];
    a->kv_layout = paged ? KSA_GPU_KV_PAGED : (p->kv_layout == KSA_KV_RAGGED ? KSA_GPU_KV_RAGGED : KSA_GPU_KV_CONTIGUOUS);
    a->page_size = p->page_size;
    if (paged) a->kv_pages = (int32_t)(p->k.shape[0] < p->v.shape[0] ? p->k.shape[0] : p->v.shape[0]);
    a->batch = p->batch;
    a->hq = p->num_q_heads;
    a->hkv = p->num_kv_heads;
    a->group = p->group_size;
    a->head_dim = p->head_dim;
    a->max_lq = (int32_t)p->max_seqlen_q;
    a->max_lk = (int32_t)p->max_seqlen_k;
    a->dtype = (int32_t)p->dtype;
    a->vec16 = ksa_gpu_qkv_aligned16(p);
    a->scale = p->scale;
    a->scale_log2 = p->scale * 1.4426950408889634f;
    a->fraction = p->topk.fraction;
    a->top_k = p->topk.top_k;
    a->min_k = p->topk.min_k;
    a->round_multiple = p->topk.round_multiple;
    a->tile_size = p->topk.tile_size;
    a->rolling = p->topk.rolling;
    a->local_window = p->topk.local_window;
    a->n_tiles = decode ? 1 : (int32_t)p->n_tiles;
    a->k_slots = (int32_t)p->k_slots;
    a->decode = decode;
    a->dec_stages = pl->dec_stages;
    /* per-sequence lengths: the kernels read the device length tensors themselves (kg_lq ...) */
    ksa_gpu_lengths *len = &a->len;
    len->cu_q = p->q_ragged ? (const int *)ksa_mem_addr(p->cu_seqlens_q.mem) : NULL;
    len->cu_k = p->kv_layout == KSA_KV_RAGGED ? (const int *)ksa_mem_addr(p->cu_seqlens_k.mem) : NULL;
    len->seq_k = p->seq_lens_k.present ? (const int *)ksa_mem_addr(p->seq_lens_k.mem) : NULL;
    len->cu_q_s = len->cu_q ? p->cu_seqlens_q.stride[0] : 0;
    len->cu_k_s = len->cu_k ? p->cu_seqlens_k.stride[0] : 0;
    len->seq_k_s = len->seq_k ? p->seq_lens_k.stride[0] : 0;
    len->q_rows = p->q.shape[0];
    len->k_rows = p->k.shape[0];
    a->uniform_lengths = !len->cu_q && !len->cu_k && !len->seq_k;
    for (int g = 0; g < p->num_kv_heads; g++) a->head_map[g] = p->head_map ? p->head_map[g] : g;
    if (V.args) V.args(pl, p, a);
}

/* the argument block of an anchor's dense pass: the call's, or when the output is sparse one that
 * writes no o / lse but the scores' lse only (a vendor may then skip V) */
static ksa_gpu_args gpu_anchor_dense_args(const ksa_gpu_args *a, int dense_out)
{
    ksa_gpu_args d = *a;
    if (!dense_out) {
        d.o = NULL;
        d.lse = NULL;
        d.lse_only = 1;
    }
    return d;
}

/* the pass sequence of the call's mode (see the top of this file) */
static ksa_status gpu_passes(const ksa_problem *p, const ksa_gpu_plan *pl, ksa_gpu_args *a, const ksa_gpu_call *c)
{
    const ksa_gpu_kernels *k = pl->kernels;
    const int decode = p->phase == KSA_PHASE_DECODE, dense_out = p->anchor_dense_output;
    /* one split, or splits merged in the decode step, of a decode that writes its own output: no
     * combine step */
    const int direct = ksa_gpu_decode_writes_output(pl);
    if (decode && pl->split_decode) {
        if (p->mode != KSA_MODE_ANCHOR) {
            const int sparse = p->mode == KSA_MODE_REUSE;
            GPU_STEP(k->decode(a, c, sparse, sparse ? p->topk.local_window : 0, 0), "decode launch");
            if (!direct) GPU_STEP(k->combine(a, c, 0), "decode combine launch");
            return KSA_STATUS_SUCCESS;
        }
        ksa_gpu_args d = gpu_anchor_dense_args(a, dense_out);
        GPU_STEP(k->decode(&d, c, 0, 0, 1), "anchor decode dense launch");
        /* the lse-only combine of a sparse-output anchor is left to a Top-k that merges the splits */
        if (!direct && pl->decode_topk_pools != 2) GPU_STEP(k->combine(&d, c, 1), "anchor decode combine launch");
        GPU_STEP(k->decode_pool(a, c), "anchor decode pool launch");
        GPU_STEP(k->topk(a, c, 1, 0, 0), "anchor decode Top-k launch");
        if (!dense_out) {
            /* the sparse pass reads a list of about k keys, not Lk: the vendor may plan its own splits */
            ksa_gpu_plan sp = *pl;
            if (pl->sparse_splits > 0) {
                sp.splits = pl->sparse_splits;
                sp.decode_cluster = pl->sparse_cluster;
            }
            ksa_gpu_call quiet = *c; /* the call is named after its dense pass */
            quiet.kernel = NULL;
            quiet.plan = &sp;
            GPU_STEP(k->decode(a, &quiet, 1, 0, 0), "anchor decode sparse launch");
            if (!ksa_gpu_decode_writes_output(&sp))
                GPU_STEP(k->combine(a, &quiet, 0), "anchor decode sparse combine launch");
        }
        return KSA_STATUS_SUCCESS;
    }
    if (p->mode == KSA_MODE_DENSE) {
        GPU_STEP(k->prefill(a, c), "dense pass launch");
    } else if (p->mode == KSA_MODE_REUSE) {
        a->sparse = 1;
        a->window = decode ? p->topk.local_window : 0;
        GPU_STEP(k->prefill(a, c), "reuse pass launch");
    } else {
        ksa_gpu_args d = gpu_anchor_dense_args(a, dense_out);
        d.lse_ws = (float *)ksa_gpu_ws(c, KSA_GPU_WS_LSE);
        GPU_STEP(k->prefill(&d, c), "anchor dense pass launch");
        a->lse_ws = d.lse_ws;
        const int64_t tiles = a->n_tiles;
        for (int64_t t0 = 0; t0 < tiles; t0 += pl->tile_group) {
            const int nt = (int)(tiles - t0 < pl->tile_group ? tiles - t0 : pl->tile_group);
            GPU_STEP(k->pooled(a, c, (int)t0, nt), "pooled-score launch");
            if (k->topk) GPU_STEP(k->topk(a, c, decode, (int)t0, nt), "Top-k launch");
        }
        if (!dense_out) {
            a->sparse = 1;
            a->lse_ws = NULL;
            GPU_STEP(k->prefill(a, c), "anchor sparse pass launch");
        }
    }
    return KSA_STATUS_SUCCESS;
}

static ksa_status gpu_attention(ksa_backend *self, int device, void *stream, const ksa_problem *p, ksa_call_info *info)
{
    (void)self;
    ksa_status st = gpu_check(device, p);
    if (st) return st;
    GPU_SET_DEVICE(device); /* before the plan: its occupancy queries answer for the current device */
    ksa_gpu_plan pl;
    gpu_plan_of(device, p, &pl);
    if (p->workspace_size < pl.total)
        return g_state.host->set_error(KSA_STATUS_WORKSPACE_TOO_SMALL, "%s: workspace of %zu bytes, the call needs %zu",
                                       V.name, p->workspace_size, pl.total);
    char *ws = (char *)ksa_mem_addr(p->workspace);
    ksa_gpu_args a;
    gpu_fill_args(p, &pl, ws, &a);
    /* the kernel and configuration names are for KSA_LOG only: formatting them costs ~0.5-1 us of
     * host time per call, which a small decode call (~7 us of host time) does not pay otherwise */
    const int named = info && g_state.host->log_enabled && g_state.host->log_enabled();
    char kname[96] = "";
    ksa_gpu_call c;
    c.stream = stream;
    c.plan = &pl;
    c.ws = ws;
    c.kernel = named ? kname : NULL;
    c.kernel_len = (int)sizeof kname;

    st = gpu_passes(p, &pl, &a, &c);
    if (st) return st;
    if (named) {
        snprintf(info->kernel, sizeof info->kernel, "%s.%s%s", V.name, kname,
                 p->mode == KSA_MODE_ANCHOR ? "+pool+radix_topk" : "");
        V.config(&pl, p, info->config, sizeof info->config);
    }
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ entry point */
static ksa_backend g_backend = {
    KSA_BACKEND_ABI_VERSION,
    NULL, /* name and kind: the vendor's, set by the entry point */
    KSA_DEVICE_CUDA,
    0,
    NULL,
    gpu_init,
    gpu_shutdown,
    gpu_device_count,
    gpu_device_info,
    gpu_mem_alloc,
    gpu_mem_free,
    gpu_mem_wrap,
    gpu_mem_write,
    gpu_mem_read,
    gpu_mem_fill,
    gpu_stream_create,
    gpu_stream_destroy,
    gpu_stream_sync,
    gpu_attention_workspace,
    gpu_attention,
    gpu_tunables,
    1, /* device_lengths: the kernels read the length tensors on the device (kg_lq ...) */
};

#ifdef __cplusplus
extern "C"
#endif
    __attribute__((visibility("default"))) ksa_backend *
    ksa_plugin_backend(uint32_t abi_version)
{
    if (abi_version != KSA_BACKEND_ABI_VERSION) return NULL;
    g_backend.name = V.name;
    g_backend.kind = V.kind;
    if (!V.tunables) g_backend.tunables = NULL;
    return &g_backend;
}
