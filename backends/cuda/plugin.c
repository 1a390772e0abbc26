/* plugin.c: host side of the CUDA backend (libksa_cuda.so). Fills the ksa_backend vtable: device
 * discovery through the statically linked CUDA runtime (absent with a reason when there is no
 * driver or no device), memory and streams on the caller's cudaStream_t, the workspace layout, the
 * tunable space, and the per-mode pass sequences of an attention call:
 *   dense prefill   : flash pass (dense)
 *   anchor prefill  : flash pass (dense, internal lse) -> pooled scores per tile group -> Top-k ->
 *                     flash pass (sparse) unless the anchor's output is dense
 *   reuse prefill   : flash pass (sparse, through the head map)
 *   dense decode    : split-KV -> combine
 *   anchor decode   : split-KV with scores -> combine (lse) -> pool -> Top-k -> sparse split-KV -> combine
 *   reuse decode    : split-KV over the index set (+ local window) -> combine
 * Nothing is allocated during a call: every scratch array is carved from the caller's workspace. */
#include <stdio.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "ksa_backend.h"
#include "ksa_cuda_launch.h"

#define KC_MAX_DEVICES 64
#define KC_ALIGN 256
/* prefill CTA: 8 warps x 16 MMA rows (4 x 32 is the tunable alternative at head_dim <= 128) */
#define KC_DEFAULT_WARPS 8

typedef struct kc_state {
    const ksa_host_api *host;
    int ndev;
    struct cudaDeviceProp props[KC_MAX_DEVICES];
    int driver_version, runtime_version;
} kc_state;

static kc_state g_state;

static ksa_status kc_fail(ksa_backend *self, cudaError_t e, const char *what)
{
    kc_state *s = (kc_state *)self->state;
    return s->host->set_error(e == cudaErrorMemoryAllocation ? KSA_STATUS_OUT_OF_MEMORY : KSA_STATUS_DEVICE_ERROR,
                              "cuda: %s failed: %s (%s)", what, cudaGetErrorName(e), cudaGetErrorString(e));
}
#define KC_TRY(self, expr, what)                                                                      \
    do {                                                                                              \
        cudaError_t kc_e_ = (expr);                                                                   \
        if (kc_e_ != cudaSuccess) return kc_fail((self), kc_e_, (what));                              \
    } while (0)

/* ------------------------------------------------------------------ devices */
static ksa_status kc_init(ksa_backend *self, const ksa_host_api *host, char *why, size_t why_len)
{
    memset(&g_state, 0, sizeof g_state);
    g_state.host = host;
    self->state = &g_state;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(why, why_len, "no CUDA driver (cudaGetDeviceCount: %s)", cudaGetErrorString(e));
        return KSA_STATUS_NOT_FOUND;
    }
    if (n <= 0) {
        snprintf(why, why_len, "no CUDA device (cudaGetDeviceCount found 0)");
        return KSA_STATUS_NOT_FOUND;
    }
    if (n > KC_MAX_DEVICES) n = KC_MAX_DEVICES;
    int usable = 0;
    for (int i = 0; i < n; i++) {
        if (cudaGetDeviceProperties(&g_state.props[usable], i) != cudaSuccess) continue;
        if (g_state.props[usable].major < 8) continue; /* kernels are built for sm_80 and sm_90a */
        usable++;
    }
    if (usable == 0) {
        snprintf(why, why_len, "no CUDA device of compute capability 8.0 or newer (found %d older)", n);
        return KSA_STATUS_NOT_FOUND;
    }
    g_state.ndev = usable;
    cudaDriverGetVersion(&g_state.driver_version);
    cudaRuntimeGetVersion(&g_state.runtime_version);
    return KSA_STATUS_SUCCESS;
}

static void kc_shutdown(ksa_backend *self) { (void)self; }

static int kc_device_count(ksa_backend *self) { return ((kc_state *)self->state)->ndev; }

static ksa_status kc_device_info(ksa_backend *self, int device, ksa_device_info *out)
{
    kc_state *s = (kc_state *)self->state;
    const struct cudaDeviceProp *p = &s->props[device];
    memset(out, 0, sizeof *out);
    out->kind = KSA_DEVICE_CUDA;
    snprintf(out->name, sizeof out->name, "cuda:%d", device);
    snprintf(out->backend, sizeof out->backend, "cuda");
    snprintf(out->description, sizeof out->description, "%s", p->name);
    snprintf(out->isa, sizeof out->isa, "sm_%d%d", p->major, p->minor);
    out->compute_units = p->multiProcessorCount;
    out->host_memory = 0;
    out->memory_bytes = (uint64_t)p->totalGlobalMem;
    snprintf(out->driver_version, sizeof out->driver_version, "driver %d runtime %d", s->driver_version,
             s->runtime_version);
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ memory and streams */
static ksa_status kc_mem_alloc(ksa_backend *self, int device, size_t bytes, ksa_mem *out)
{
    KC_TRY(self, cudaSetDevice(device), "cudaSetDevice");
    void *p = NULL;
    KC_TRY(self, cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc");
    out->ptr = p;
    out->native = p;
    out->offset = 0;
    return KSA_STATUS_SUCCESS;
}

static void kc_mem_free(ksa_backend *self, int device, ksa_mem mem)
{
    (void)self;
    if (cudaSetDevice(device) == cudaSuccess && mem.native) cudaFree(mem.native);
}

static ksa_status kc_mem_wrap(ksa_backend *self, int device, void *native, size_t bytes, ksa_mem *out)
{
    (void)self;
    (void)device;
    (void)bytes;
    out->ptr = native;
    out->native = NULL; /* not owned */
    out->offset = 0;
    return KSA_STATUS_SUCCESS;
}

static ksa_status kc_mem_write(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, const void *src,
                               size_t bytes)
{
    KC_TRY(self, cudaSetDevice(device), "cudaSetDevice");
    KC_TRY(self, cudaMemcpyAsync((char *)ksa_mem_addr(dst) + offset, src, bytes, cudaMemcpyHostToDevice, (cudaStream_t)stream),
           "cudaMemcpyAsync (host to device)");
    KC_TRY(self, cudaStreamSynchronize((cudaStream_t)stream), "cudaStreamSynchronize");
    return KSA_STATUS_SUCCESS;
}

static ksa_status kc_mem_read(ksa_backend *self, int device, void *stream, void *dst, ksa_mem src, size_t offset,
                              size_t bytes)
{
    KC_TRY(self, cudaSetDevice(device), "cudaSetDevice");
    KC_TRY(self, cudaMemcpyAsync(dst, (const char *)ksa_mem_addr(src) + offset, bytes, cudaMemcpyDeviceToHost,
                                 (cudaStream_t)stream),
           "cudaMemcpyAsync (device to host)");
    KC_TRY(self, cudaStreamSynchronize((cudaStream_t)stream), "cudaStreamSynchronize");
    return KSA_STATUS_SUCCESS;
}

static ksa_status kc_mem_fill(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, size_t bytes,
                              uint8_t value)
{
    KC_TRY(self, cudaSetDevice(device), "cudaSetDevice");
    KC_TRY(self, cudaMemsetAsync((char *)ksa_mem_addr(dst) + offset, value, bytes, (cudaStream_t)stream), "cudaMemsetAsync");
    KC_TRY(self, cudaStreamSynchronize((cudaStream_t)stream), "cudaStreamSynchronize");
    return KSA_STATUS_SUCCESS;
}

static ksa_status kc_stream_create(ksa_backend *self, int device, void **native)
{
    KC_TRY(self, cudaSetDevice(device), "cudaSetDevice");
    cudaStream_t st;
    KC_TRY(self, cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate");
    *native = st;
    return KSA_STATUS_SUCCESS;
}

static void kc_stream_destroy(ksa_backend *self, int device, void *native)
{
    (void)self;
    if (native && cudaSetDevice(device) == cudaSuccess) cudaStreamDestroy((cudaStream_t)native);
}

static ksa_status kc_stream_sync(ksa_backend *self, int device, void *native)
{
    KC_TRY(self, cudaSetDevice(device), "cudaSetDevice");
    KC_TRY(self, cudaStreamSynchronize((cudaStream_t)native), "cudaStreamSynchronize");
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ tunables */
static const int32_t kc_v_block_q[] = {KC_PREFILL_ROWS};
static const int32_t kc_v_block_k[] = {64};
static const int32_t kc_v_warps[] = {4, 8};
static const int32_t kc_v_warps256[] = {8};
static const int32_t kc_v_dstages[] = {0, 1, 2};
static const int32_t kc_v_stages[] = {2};
static const int32_t kc_v_splits[] = {0, 1, 2, 4, 8, 16, 32, 64};
static const int32_t kc_v_group_tiles[] = {0, 16, 64, 256, 1024};

enum { KC_T_BLOCK_Q, KC_T_BLOCK_K, KC_T_WARPS, KC_T_STAGES, KC_T_PREFILL_COUNT };
enum { KC_T_SPLITS, KC_T_DSTAGES, KC_T_DECODE_COUNT };

static ksa_status kc_tunables(ksa_backend *self, int device, const ksa_problem *p, ksa_tunable_space *out)
{
    (void)self;
    (void)device;
    memset(out, 0, sizeof *out);
    if (p->phase == KSA_PHASE_DECODE) {
        out->num_params = KC_T_DECODE_COUNT;
        out->params[KC_T_SPLITS] = (ksa_tunable_param){"decode_splits", 8, kc_v_splits, 0};
        out->params[KC_T_DSTAGES] = (ksa_tunable_param){"decode_stages", 3, kc_v_dstages, 0};
        return KSA_STATUS_SUCCESS;
    }
    out->params[KC_T_BLOCK_Q] = (ksa_tunable_param){"block_q", 1, kc_v_block_q, KC_PREFILL_ROWS};
    out->params[KC_T_BLOCK_K] = (ksa_tunable_param){"block_k", 1, kc_v_block_k, 64};
    if (p->head_dim <= 128)
        out->params[KC_T_WARPS] = (ksa_tunable_param){"warps", 2, kc_v_warps, KC_DEFAULT_WARPS};
    else
        out->params[KC_T_WARPS] = (ksa_tunable_param){"warps", 1, kc_v_warps256, 8};
    out->params[KC_T_STAGES] = (ksa_tunable_param){"stages", 1, kc_v_stages, 2};
    out->num_params = KC_T_PREFILL_COUNT;
    if (p->mode == KSA_MODE_ANCHOR) {
        out->params[KC_T_PREFILL_COUNT] = (ksa_tunable_param){"anchor_tile_group", 5, kc_v_group_tiles, 0};
        out->num_params = KC_T_PREFILL_COUNT + 1;
    }
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ workspace plan */
typedef struct kc_plan {
    int splits;          /* decode */
    int dec_stages;      /* decode: K/V chunk buffers */
    int warps;           /* prefill: warps per CTA */
    int tile_group;      /* anchor prefill: tiles per pooled-score group */
    int64_t lk_ld;       /* leading dimension of per-key arrays */
    size_t off_meta, off_partials, off_scores, off_lse2, off_pooled, total;
} kc_plan;

static size_t kc_align(size_t x) { return (x + KC_ALIGN - 1) / KC_ALIGN * KC_ALIGN; }

static int kc_config(const ksa_problem *p, int i, int fallback)
{
    if (p->config && i < p->config_count) return p->config[i];
    return fallback;
}

static void kc_make_plan(const kc_state *s, int device, const ksa_problem *p, kc_plan *pl)
{
    memset(pl, 0, sizeof *pl);
    const int64_t B = p->batch, Hq = p->num_q_heads, Hkv = p->num_kv_heads, D = p->head_dim;
    pl->lk_ld = (p->max_seqlen_k + 3) / 4 * 4;
    size_t off = 0;
    pl->off_meta = off;
    off = kc_align(off + sizeof(int32_t) * 4 * (size_t)B);
    if (p->phase == KSA_PHASE_DECODE) {
        int64_t nlist = p->max_seqlen_k;
        if (p->mode == KSA_MODE_REUSE) {
            nlist = p->k_slots + (p->topk.local_window > 0 ? p->topk.local_window : 0);
            if (nlist > p->max_seqlen_k + p->k_slots) nlist = p->max_seqlen_k + p->k_slots;
        }
        int stages = kc_config(p, KC_T_DSTAGES, 0);
        /* measured on H100: double buffering pays when a chunk's compute is small (G < 4) */
        if (stages <= 0) stages = p->group_size >= 4 ? 1 : 2;
        if (stages == 2 && kc_decode_smem(p->head_dim, p->group_size, 2) > 200 * 1024) stages = 1;
        pl->dec_stages = stages;
        int splits = kc_config(p, KC_T_SPLITS, 0);
        if (splits <= 0) {
            /* about 8 waves of resident CTAs, so the last partial wave costs little; at least 256
             * keys per split */
            int sms = s->props[device].multiProcessorCount;
            int per_sm = kc_decode_blocks_per_sm(p->head_dim, p->dtype == KSA_DTYPE_F16 ? KC_DT_F16 : KC_DT_BF16,
                                                 p->group_size, stages);
            int64_t slots = (int64_t)sms * per_sm;
            int64_t want = (8 * slots + B * Hkv - 1) / (B * Hkv);
            int64_t maxs = (nlist + 255) / 256;
            if (want > maxs) want = maxs;
            if (want > 64) want = 64;
            if (want < 1) want = 1;
            splits = (int)want;
        }
        pl->splits = splits;
        pl->off_partials = off;
        off = kc_align(off + sizeof(float) * (size_t)(B * Hq * splits * (D + 2)));
        if (p->mode == KSA_MODE_ANCHOR) {
            pl->off_scores = off;
            off = kc_align(off + sizeof(float) * (size_t)(B * Hq * pl->lk_ld));
            pl->off_lse2 = off;
            off = kc_align(off + sizeof(float) * (size_t)(B * Hq));
            pl->off_pooled = off;
            off = kc_align(off + sizeof(float) * (size_t)(B * Hkv * pl->lk_ld));
        }
    } else {
        int w = kc_config(p, KC_T_WARPS, KC_DEFAULT_WARPS);
        pl->warps = (p->head_dim <= 128 && w == 4) ? 4 : 8;
    }
    if (p->phase == KSA_PHASE_PREFILL && p->mode == KSA_MODE_ANCHOR) {
        pl->off_lse2 = off;
        off = kc_align(off + sizeof(float) * (size_t)(B * Hq * p->max_seqlen_q));
        int group = kc_config(p, KC_T_PREFILL_COUNT, 0);
        int64_t per_tile = (int64_t)sizeof(float) * B * Hkv * pl->lk_ld;
        if (group <= 0) {
            int64_t cap = (int64_t)256 << 20; /* pooled scores: at most 256 MiB */
            int64_t g = cap / (per_tile > 0 ? per_tile : 1);
            group = (int)(g < 1 ? 1 : (g > 1 << 20 ? 1 << 20 : g));
        }
        if (group > p->n_tiles) group = (int)(p->n_tiles > 0 ? p->n_tiles : 1);
        pl->tile_group = group;
        pl->off_pooled = off;
        off = kc_align(off + (size_t)per_tile * (size_t)group);
    }
    pl->total = off;
}

static ksa_status kc_check_supported(ksa_backend *self, int device, const ksa_problem *p)
{
    kc_state *s = (kc_state *)self->state;
    if (p->dtype != KSA_DTYPE_F16 && p->dtype != KSA_DTYPE_BF16)
        return s->host->set_error(KSA_STATUS_UNSUPPORTED,
                                  "cuda: dtype %s is not supported by the CUDA backend (f16 and bf16 only; its tensor-core "
                                  "kernels would not meet the f32 tolerance)",
                                  p->dtype == KSA_DTYPE_F32 ? "f32" : "other");
    if (p->head_dim != 64 && p->head_dim != 128 && p->head_dim != 256)
        return s->host->set_error(KSA_STATUS_UNSUPPORTED, "cuda: head_dim %d is not supported (64, 128 or 256)", p->head_dim);
    if (p->num_kv_heads > KC_MAX_KV_HEADS)
        return s->host->set_error(KSA_STATUS_UNSUPPORTED, "cuda: %d KV heads exceed the backend's %d", p->num_kv_heads,
                                  KC_MAX_KV_HEADS);
    if (p->phase == KSA_PHASE_PREFILL) {
        /* the prefill CTA holds 128 query rows and two K/V tile pairs of 64 rows in shared memory */
        size_t need = (size_t)(KC_PREFILL_ROWS + 4 * 64) * (size_t)(p->head_dim + 8) * 2 + 1024;
        if (need > s->props[device].sharedMemPerBlockOptin)
            return s->host->set_error(KSA_STATUS_UNSUPPORTED,
                                      "cuda: prefill at head_dim %d needs %zu bytes of shared memory per block; %s offers %zu",
                                      p->head_dim, need, s->props[device].name, (size_t)s->props[device].sharedMemPerBlockOptin);
    }
    if (p->phase == KSA_PHASE_DECODE && kc_decode_smem(p->head_dim, p->group_size, 1) > 200 * 1024)
        return s->host->set_error(KSA_STATUS_UNSUPPORTED,
                                  "cuda: decode with %d query heads per KV head at head_dim %d needs more shared memory than a "
                                  "block has",
                                  p->group_size, p->head_dim);
    return KSA_STATUS_SUCCESS;
}

static ksa_status kc_attention_workspace(ksa_backend *self, int device, const ksa_problem *p, size_t *bytes)
{
    ksa_status st = kc_check_supported(self, device, p);
    if (st) return st;
    kc_plan pl;
    kc_make_plan((kc_state *)self->state, device, p, &pl);
    *bytes = pl.total;
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ attention */
static void kc_fill_strides(kc_strides *d, const ksa_token_strides *s)
{
    d->batch = s->batch;
    d->token = s->token;
    d->head = s->head;
    d->page = s->page;
}

static int kc_aligned16(const void *ptr, const ksa_token_strides *s, int paged)
{
    if (((uintptr_t)ptr) % 16) return 0;
    if (s->batch % 8 || s->token % 8 || s->head % 8) return 0;
    if (paged && s->page % 8) return 0;
    return 1;
}

static ksa_status kc_attention(ksa_backend *self, int device, void *stream, const ksa_problem *p, ksa_call_info *info)
{
    kc_state *s = (kc_state *)self->state;
    ksa_status st = kc_check_supported(self, device, p);
    if (st) return st;
    kc_plan pl;
    kc_make_plan(s, device, p, &pl);
    if (p->workspace_size < pl.total)
        return s->host->set_error(KSA_STATUS_WORKSPACE_TOO_SMALL, "cuda: workspace of %zu bytes, the call needs %zu",
                                  p->workspace_size, pl.total);
    KC_TRY(self, cudaSetDevice(device), "cudaSetDevice");
    char *ws = (char *)ksa_mem_addr(p->workspace);

    kc_args a;
    memset(&a, 0, sizeof a);
    a.q = ksa_mem_addr(p->q.mem);
    a.k = ksa_mem_addr(p->k.mem);
    a.v = ksa_mem_addr(p->v.mem);
    a.o = ksa_mem_addr(p->o.mem);
    a.lse = p->lse.present ? (float *)ksa_mem_addr(p->lse.mem) : NULL;
    a.meta = (const int *)(ws + pl.off_meta);
    a.page_table = p->kv_layout == KSA_KV_PAGED ? (const int *)ksa_mem_addr(p->page_table.mem) : NULL;
    a.indices = p->indices.present ? (int *)ksa_mem_addr(p->indices.mem) : NULL;
    a.counts = p->counts.present ? (int *)ksa_mem_addr(p->counts.mem) : NULL;
    kc_fill_strides(&a.q_s, &p->q_strides);
    kc_fill_strides(&a.k_s, &p->k_strides);
    kc_fill_strides(&a.v_s, &p->v_strides);
    kc_fill_strides(&a.o_s, &p->o_strides);
    a.lse_sb = p->lse_stride_b;
    a.lse_sh = p->lse_stride_h;
    a.lse_si = p->lse_stride_i;
    if (a.page_table) {
        a.pt_s0 = p->page_table.stride[0];
        a.pt_s1 = p->page_table.stride[1];
    }
    a.is0 = p->index_stride[0];
    a.is1 = p->index_stride[1];
    a.is2 = p->index_stride[2];
    a.is3 = p->index_stride[3];
    a.cs0 = p->count_stride[0];
    a.cs1 = p->count_stride[1];
    a.cs2 = p->count_stride[2];
    a.kv_layout = p->kv_layout == KSA_KV_PAGED ? KC_KV_PAGED : (p->kv_layout == KSA_KV_RAGGED ? KC_KV_RAGGED : KC_KV_CONTIGUOUS);
    a.page_size = p->page_size;
    a.batch = p->batch;
    a.hq = p->num_q_heads;
    a.hkv = p->num_kv_heads;
    a.group = p->group_size;
    a.head_dim = p->head_dim;
    a.max_lq = (int32_t)p->max_seqlen_q;
    a.max_lk = (int32_t)p->max_seqlen_k;
    a.dtype = p->dtype == KSA_DTYPE_F16 ? KC_DT_F16 : KC_DT_BF16;
    int paged = p->kv_layout == KSA_KV_PAGED;
    a.vec16 = kc_aligned16(a.q, &p->q_strides, 0) && kc_aligned16(a.k, &p->k_strides, paged) &&
              kc_aligned16(a.v, &p->v_strides, paged);
    a.scale_log2 = p->scale * 1.4426950408889634f;
    a.fraction = p->topk.fraction;
    a.top_k = p->topk.top_k;
    a.min_k = p->topk.min_k;
    a.round_multiple = p->topk.round_multiple;
    a.tile_size = p->topk.tile_size;
    a.rolling = p->topk.rolling;
    a.local_window = p->topk.local_window;
    a.n_tiles = (int32_t)p->n_tiles;
    a.k_slots = (int32_t)p->k_slots;
    for (int g = 0; g < p->num_kv_heads; g++) a.head_map[g] = p->head_map ? p->head_map[g] : g;
    a.warp_rows = pl.warps == 4 ? 32 : 16;
    a.dec_stages = pl.dec_stages;

    /* per-sequence metadata from the device length tensors */
    const int *cu_q = p->q_ragged ? (const int *)ksa_mem_addr(p->cu_seqlens_q.mem) : NULL;
    const int *cu_k = p->kv_layout == KSA_KV_RAGGED ? (const int *)ksa_mem_addr(p->cu_seqlens_k.mem) : NULL;
    const int *sk = p->seq_lens_k.present ? (const int *)ksa_mem_addr(p->seq_lens_k.mem) : NULL;
    int32_t lq_u = p->phase == KSA_PHASE_DECODE ? 1 : (int32_t)(p->q_ragged ? 0 : p->q.shape[1]);
    int32_t lk_u = (int32_t)(p->kv_layout == KSA_KV_CONTIGUOUS ? p->k.shape[1] : 0);
    int rc = kc_launch_meta(&a, (int *)(ws + pl.off_meta), cu_q, cu_q ? p->cu_seqlens_q.stride[0] : 0, cu_k,
                            cu_k ? p->cu_seqlens_k.stride[0] : 0, sk, sk ? p->seq_lens_k.stride[0] : 0, lq_u, lk_u, stream);
    if (rc) return kc_fail(self, (cudaError_t)rc, "metadata kernel launch");

    char kname[96] = "";
    if (p->phase == KSA_PHASE_PREFILL) {
        int T = p->topk.tile_size;
        a.rows_per_cta_chunks = (T * p->group_size + KC_PREFILL_ROWS - 1) / KC_PREFILL_ROWS;
        if (p->mode == KSA_MODE_DENSE) {
            a.sparse = 0;
            rc = kc_launch_flash_prefill(&a, stream, kname, sizeof kname);
            if (rc) return kc_fail(self, (cudaError_t)rc, "dense prefill launch");
        } else if (p->mode == KSA_MODE_REUSE) {
            a.sparse = 1;
            rc = kc_launch_flash_prefill(&a, stream, kname, sizeof kname);
            if (rc) return kc_fail(self, (cudaError_t)rc, "reuse prefill launch");
        } else {
            kc_args d = a;
            d.sparse = 0;
            d.lse2_ws = (float *)(ws + pl.off_lse2);
            if (!p->anchor_dense_output) {
                d.o = NULL;
                d.lse = NULL;
                d.lse_only = 1;
            }
            rc = kc_launch_flash_prefill(&d, stream, kname, sizeof kname);
            if (rc) return kc_fail(self, (cudaError_t)rc, "anchor dense pass launch");
            a.lse2_ws = d.lse2_ws;
            float *pooled = (float *)(ws + pl.off_pooled);
            for (int t0 = 0; t0 < p->n_tiles; t0 += pl.tile_group) {
                int nt = (int)(p->n_tiles - t0 < pl.tile_group ? p->n_tiles - t0 : pl.tile_group);
                rc = kc_launch_pooled_prefill(&a, t0, nt, pooled, pl.lk_ld, stream);
                if (rc) return kc_fail(self, (cudaError_t)rc, "pooled-score launch");
                rc = kc_launch_topk(&a, 0, t0, nt, pooled, pl.lk_ld, stream);
                if (rc) return kc_fail(self, (cudaError_t)rc, "Top-k launch");
            }
            if (!p->anchor_dense_output) {
                a.sparse = 1;
                a.lse2_ws = NULL;
                rc = kc_launch_flash_prefill(&a, stream, kname, sizeof kname);
                if (rc) return kc_fail(self, (cudaError_t)rc, "anchor sparse pass launch");
            }
            snprintf(kname + strlen(kname), sizeof kname - strlen(kname), "+pool+radix_topk");
        }
        if (info) {
            snprintf(info->kernel, sizeof info->kernel, "%s", kname);
            snprintf(info->config, sizeof info->config, "block_q=128,block_k=64,warps=%d,stages=2%s", pl.warps,
                     p->mode == KSA_MODE_ANCHOR ? ",anchor_tile_group" : "");
            if (p->mode == KSA_MODE_ANCHOR)
                snprintf(info->config + strlen(info->config), sizeof info->config - strlen(info->config), "=%d",
                         pl.tile_group);
        }
    } else {
        float *partials = (float *)(ws + pl.off_partials);
        if (p->mode == KSA_MODE_DENSE || p->mode == KSA_MODE_REUSE) {
            int sparse = p->mode == KSA_MODE_REUSE;
            rc = kc_launch_decode(&a, sparse, sparse ? p->topk.local_window : 0, pl.splits, partials, NULL, 0, stream, kname,
                                  sizeof kname);
            if (rc) return kc_fail(self, (cudaError_t)rc, "decode launch");
            rc = kc_launch_decode_combine(&a, pl.splits, partials, NULL, stream);
            if (rc) return kc_fail(self, (cudaError_t)rc, "decode combine launch");
        } else {
            float *scores = (float *)(ws + pl.off_scores), *lse2 = (float *)(ws + pl.off_lse2);
            float *pooled = (float *)(ws + pl.off_pooled);
            kc_args d = a;
            if (!p->anchor_dense_output) {
                d.o = NULL;
                d.lse = NULL;
            }
            rc = kc_launch_decode(&d, 0, 0, pl.splits, partials, scores, pl.lk_ld, stream, kname, sizeof kname);
            if (rc) return kc_fail(self, (cudaError_t)rc, "anchor decode dense launch");
            rc = kc_launch_decode_combine(&d, pl.splits, partials, lse2, stream);
            if (rc) return kc_fail(self, (cudaError_t)rc, "anchor decode combine launch");
            rc = kc_launch_decode_pool(&a, scores, pl.lk_ld, lse2, pooled, stream);
            if (rc) return kc_fail(self, (cudaError_t)rc, "anchor decode pool launch");
            rc = kc_launch_topk(&a, 1, 0, 0, pooled, pl.lk_ld, stream);
            if (rc) return kc_fail(self, (cudaError_t)rc, "anchor decode Top-k launch");
            if (!p->anchor_dense_output) {
                rc = kc_launch_decode(&a, 1, 0, pl.splits, partials, NULL, 0, stream, NULL, 0);
                if (rc) return kc_fail(self, (cudaError_t)rc, "anchor decode sparse launch");
                rc = kc_launch_decode_combine(&a, pl.splits, partials, NULL, stream);
                if (rc) return kc_fail(self, (cudaError_t)rc, "anchor decode sparse combine launch");
            }
            snprintf(kname + strlen(kname), sizeof kname - strlen(kname), "+pool+radix_topk");
        }
        if (info) {
            snprintf(info->kernel, sizeof info->kernel, "%s", kname);
            snprintf(info->config, sizeof info->config, "decode_splits=%d,decode_stages=%d", pl.splits, a.dec_stages);
        }
    }
    return KSA_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------ entry point */
static ksa_backend g_backend = {
    KSA_BACKEND_ABI_VERSION,
    "cuda",
    KSA_DEVICE_CUDA,
    0,
    NULL,
    kc_init,
    kc_shutdown,
    kc_device_count,
    kc_device_info,
    kc_mem_alloc,
    kc_mem_free,
    kc_mem_wrap,
    kc_mem_write,
    kc_mem_read,
    kc_mem_fill,
    kc_stream_create,
    kc_stream_destroy,
    kc_stream_sync,
    kc_attention_workspace,
    kc_attention,
    kc_tunables,
};

__attribute__((visibility("default"))) ksa_backend *ksa_plugin_backend(uint32_t abi_version)
{
    if (abi_version != KSA_BACKEND_ABI_VERSION) return NULL;
    return &g_backend;
}
