/* ocl_attention.c: the attention op of the OpenCL backend: configuration (tunable space, built-in
 * heuristic, resource checks), workspace layout and size, and the kernel sequence of each mode:
 *   DENSE          ksa_attend (causal range) [+ ksa_combine when the key set is split]
 *   REUSE          ksa_attend (index list of the head-mapped anchor head + the tile's own keys, or
 *                  the decode window)
 *   ANCHOR         ksa_attend scores only -> lse in the workspace (writes o too for the dense
 *                  output of layer 0), then per chunk of (sequence, tile) items ksa_pool +
 *                  ksa_topk (writes indices / counts), then ksa_attend over the new sets.
 * No device memory is allocated here: scratch lives in the caller's workspace. The per-call meta
 * block (sequence lengths and offsets, head map, Top-k budgets) is copied into the workspace from
 * a small host staging ring with a non-blocking write on the call's (in-order) queue; with the
 * lengths left on the device (bounded length tensors), ksa_meta then fills its per-sequence part
 * from the length tensors (run_meta). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

/* flags shared with kernels/ksa_attention.cl */
#define KF_LIST 1
#define KF_RANGE_NONE 0
#define KF_RANGE_CAUSAL 2
#define KF_RANGE_TILE 4
#define KF_RANGE_WINDOW 6
#define KF_WRITE_O 8
#define KF_WRITE_LSE 16
#define KF_WRITE_LSE_WS 32
#define KF_NO_PV 64

#define KSA_OCL_MAX_HEAD_DIM 256
#define POOL_BUDGET_FLOATS ((int64_t)32 << 20) /* 128 MiB of pooled scores per chunk at most */

enum { CFG_ROWS = 0, CFG_TPR, CFG_BLOCK_K, CFG_SPLITS, CFG_COUNT };
static const int32_t v_rows[] = {1, 2, 4, 8, 16, 32, 64};
static const int32_t v_tpr[] = {4, 8, 16, 32};
static const int32_t v_block_k[] = {16, 32, 64, 128};
static const int32_t v_splits[] = {0, 1, 2, 4, 8, 16, 32, 64};

typedef struct ocl_cfg {
    int32_t rows, tpr, block_k, splits; /* splits 0 = automatic */
} ocl_cfg;

typedef struct ocl_plan {
    ocl_cfg cfg;
    int splits_dense, splits_sparse, splits_max;
    int topk_wg;
    /* workspace layout, in 4-byte elements from the workspace start */
    int64_t meta_off, meta_count, lse_ws_off, part_off, pool_off, total;
    int64_t items, items_per_chunk;
} ocl_plan;

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static size_t local_bytes(const ocl_cfg *c, int64_t D)
{
    int64_t pad = D % 4 == 0 ? 4 : 1; /* the kernels pad local rows (HDP) */
    size_t f = (size_t)(c->rows * (D + pad) + c->block_k * (D + pad) + c->rows * c->block_k + c->rows);
    return f * 4 + (size_t)c->block_k * 20 + 64;
}

/* 1 when a work-item of ksa_attend keeps exactly two accumulator vectors of its row (head_dim in
 * vectors of 4, or of 1 when head_dim is not a multiple of 4, is twice tpr): the shape PoCL 4+
 * miscompiles with its default work-group method (ocl_driver_quirks.h), avoided where
 * ksa_ocl_device.avoid_two_vector_rows says so. */
static int two_vector_rows(int64_t head_dim, int32_t tpr)
{
    int64_t vectors = head_dim % 4 == 0 ? head_dim / 4 : head_dim;
    return vectors % tpr == 0 && vectors / tpr == 2;
}

static void default_cfg(const ksa_ocl_device *dev, const ksa_problem *p, ocl_cfg *c)
{
    int64_t D = p->head_dim;
    int decode = p->phase == KSA_PHASE_DECODE;
    c->tpr = D <= 32 ? 4 : D <= 128 ? 8 : 16;
    if (decode) {
        int r = 1;
        while (r < p->group_size && r < 16) r *= 2;
        c->rows = r;
        /* keep 64..128 work-items per group when the group is small */
        while (c->rows * c->tpr < 64 && c->tpr < 32) c->tpr *= 2;
    } else {
        c->rows = D <= 64 ? 32 : D <= 128 ? 16 : 8;
    }
    /* decode is bandwidth-bound: smaller key blocks keep local memory low and occupancy high */
    c->block_k = (D <= 128 && !decode) ? 64 : 32;
    c->splits = 0;
    size_t lim = dev->local_mem ? (size_t)dev->local_mem : 32768;
    while (local_bytes(c, D) > lim && c->block_k > 16) c->block_k /= 2;
    while (local_bytes(c, D) > lim && c->rows > 1) c->rows /= 2;
    while ((size_t)(c->rows * c->tpr) > dev->max_wg && c->tpr > 4) c->tpr /= 2;
    while ((size_t)(c->rows * c->tpr) > dev->max_wg && c->rows > 1) c->rows /= 2;
    /* four vectors per work-item instead of two (one when tpr is already 4): smaller groups */
    if (dev->avoid_two_vector_rows && two_vector_rows(D, c->tpr)) c->tpr = c->tpr > 4 ? c->tpr / 2 : c->tpr * 2;
    while ((size_t)(c->rows * c->tpr) > dev->max_wg && c->rows > 1) c->rows /= 2;
}

/* Automatic split count of a pass of `wgs` work-groups over up to `nkeys` keys: about four
 * work-groups per compute unit (latency hiding; decode, short chunked prefill), at least two key
 * blocks per split, and split partials within PART_BUDGET_FLOATS of workspace. */
#define PART_BUDGET_FLOATS ((int64_t)64 << 20)
static int auto_splits(const ksa_ocl_device *dev, const ksa_problem *p, const ocl_cfg *c, int64_t wgs, int64_t nkeys)
{
    int64_t target = 4 * (int64_t)(dev->compute_units ? dev->compute_units : 1);
    int64_t by_keys = nkeys / (2 * c->block_k);
    int64_t rows_total = (int64_t)p->batch * p->max_seqlen_q * p->num_q_heads;
    int s = 1;
    while (s < 64 && wgs * s < target && s * 2 <= by_keys && 2 * s * rows_total * (p->head_dim + 2) <= PART_BUDGET_FLOATS)
        s *= 2;
    return s;
}

static ksa_status make_plan(ksa_backend *self, const ksa_ocl_device *dev, const ksa_problem *p, ocl_plan *pl)
{
    const ksa_host_api *host = ksa_ocl_state_of(self)->host;
    memset(pl, 0, sizeof *pl);
    if (p->head_dim > KSA_OCL_MAX_HEAD_DIM)
        return host->set_error(KSA_STATUS_UNSUPPORTED, "opencl: head_dim %d is above the %d this backend supports",
                               p->head_dim, KSA_OCL_MAX_HEAD_DIM);
    default_cfg(dev, p, &pl->cfg);
    if (p->config && p->config_count == CFG_COUNT) {
        pl->cfg.rows = p->config[CFG_ROWS];
        pl->cfg.tpr = p->config[CFG_TPR];
        pl->cfg.block_k = p->config[CFG_BLOCK_K];
        pl->cfg.splits = p->config[CFG_SPLITS];
    }
    const ocl_cfg *c = &pl->cfg;
    if ((size_t)(c->rows * c->tpr) > dev->max_wg)
        return host->set_error(KSA_STATUS_UNSUPPORTED,
                               "opencl: configuration rows=%d,tpr=%d needs work-groups of %d, device %s allows %zu", c->rows,
                               c->tpr, c->rows * c->tpr, dev->name, dev->max_wg);
    if (local_bytes(c, p->head_dim) > dev->local_mem)
        return host->set_error(KSA_STATUS_UNSUPPORTED,
                               "opencl: configuration rows=%d,block_k=%d needs %zu bytes of local memory at head_dim %d, "
                               "device %s has %llu",
                               c->rows, c->block_k, local_bytes(c, p->head_dim), p->head_dim, dev->name,
                               (unsigned long long)dev->local_mem);
    if (dev->avoid_two_vector_rows && two_vector_rows(p->head_dim, c->tpr))
        return host->set_error(KSA_STATUS_UNSUPPORTED,
                               "opencl: configuration tpr=%d at head_dim %d keeps two accumulator vectors per work-item, "
                               "which the driver of %s (%s) compiles wrongly, or KSA_OPENCL_QUIRKS=two-vector-rows rules "
                               "out; choose another tpr or set POCL_WORK_GROUP_METHOD=cbs",
                               c->tpr, p->head_dim, dev->name, dev->driver);
    int decode = p->phase == KSA_PHASE_DECODE;
    pl->topk_wg = dev->max_wg >= 256 ? 256 : (int)dev->max_wg;
    {
        int w = 1;
        while (w * 2 <= pl->topk_wg) w *= 2;
        pl->topk_wg = w;
    }
    /* splits: dense passes run over Lk keys, sparse passes over k (+ the tile or the window) */
    int64_t sparse_keys = p->k_slots + (decode ? p->topk.local_window : p->topk.tile_size);
    int64_t heads = (int64_t)p->batch * p->num_kv_heads;
    int64_t wgs_dense = heads * ceil_div((decode ? 1 : p->max_seqlen_q) * p->group_size, c->rows);
    int64_t wgs_sparse = decode ? wgs_dense : heads * p->n_tiles * ceil_div((int64_t)p->topk.tile_size * p->group_size, c->rows);
    if (c->splits > 0) {
        pl->splits_dense = pl->splits_sparse = c->splits;
    } else {
        pl->splits_dense = auto_splits(dev, p, c, wgs_dense, p->max_seqlen_k);
        pl->splits_sparse = auto_splits(dev, p, c, wgs_sparse, sparse_keys);
    }
    pl->splits_max = pl->splits_dense > pl->splits_sparse ? pl->splits_dense : pl->splits_sparse;

    /* workspace layout */
    int anchor = p->mode == KSA_MODE_ANCHOR;
    int64_t rows_total = (int64_t)p->batch * p->max_seqlen_q * p->num_q_heads;
    pl->items = anchor ? (int64_t)p->batch * (decode ? 1 : p->n_tiles) : 0;
    pl->meta_off = 0;
    pl->meta_count = 4 * (int64_t)p->batch + p->num_kv_heads + pl->items;
    int64_t off = round_up(pl->meta_count, 64);
    pl->lse_ws_off = off;
    if (anchor) off += round_up(rows_total, 64);
    pl->part_off = off;
    if (pl->splits_max > 1) off += round_up((int64_t)pl->splits_max * rows_total * (p->head_dim + 2), 64);
    pl->pool_off = off;
    if (anchor) {
        int64_t per_item = (int64_t)p->num_kv_heads * (p->max_seqlen_k > 0 ? p->max_seqlen_k : 1);
        int64_t per_chunk = POOL_BUDGET_FLOATS / per_item;
        if (per_chunk < 1) per_chunk = 1;
        if (per_chunk > pl->items) per_chunk = pl->items;
        if (per_chunk > 65535) per_chunk = 65535;
        pl->items_per_chunk = per_chunk;
        off += round_up(per_chunk * per_item, 64);
    }
    pl->total = off;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_ocl_attention_workspace(ksa_backend *self, int device, const ksa_problem *p, size_t *bytes)
{
    ksa_ocl_device *dev = &ksa_ocl_state_of(self)->devices[device];
    ocl_plan pl;
    ksa_status st = make_plan(self, dev, p, &pl);
    if (st) return st;
    *bytes = (size_t)pl.total * 4;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_ocl_tunables(ksa_backend *self, int device, const ksa_problem *p, ksa_tunable_space *out)
{
    ksa_ocl_device *dev = &ksa_ocl_state_of(self)->devices[device];
    ocl_cfg c;
    default_cfg(dev, p, &c);
    memset(out, 0, sizeof *out);
    out->num_params = CFG_COUNT;
    out->params[CFG_ROWS] = (ksa_tunable_param){"rows", (int32_t)(sizeof v_rows / sizeof v_rows[0]), v_rows, c.rows};
    out->params[CFG_TPR] = (ksa_tunable_param){"tpr", (int32_t)(sizeof v_tpr / sizeof v_tpr[0]), v_tpr, c.tpr};
    out->params[CFG_BLOCK_K] =
        (ksa_tunable_param){"block_k", (int32_t)(sizeof v_block_k / sizeof v_block_k[0]), v_block_k, c.block_k};
    out->params[CFG_SPLITS] = (ksa_tunable_param){"splits", (int32_t)(sizeof v_splits / sizeof v_splits[0]), v_splits, 0};
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- launching */

typedef struct ocl_call {
    ksa_backend *self;
    ksa_ocl_device *dev;
    cl_command_queue queue;
    ksa_ocl_program *prog;
    const ksa_problem *p;
    ocl_plan pl;
    ksa_cl_geom geom;
    cl_mem q, k, v, o, lse, pt, idx, cnt, ws;
    ksa_ocl_staging *staging; /* the slot write_meta used */
} ocl_call;

static ksa_status cl_fail(ocl_call *c, cl_int err, const char *what)
{
    return ksa_ocl_state_of(c->self)->host->set_error(KSA_STATUS_DEVICE_ERROR, "opencl: %s on %s failed: %s (%d)", what,
                                                      c->dev->name, ksa_ocl_error_name(err), (int)err);
}

#define SET_ARG(kern, i, sz, ptr)                                          \
    do {                                                                   \
        cl_int e_ = clSetKernelArg((kern), (i), (sz), (ptr));              \
        if (e_ != CL_SUCCESS) return cl_fail(c, e_, "clSetKernelArg(" #i ")"); \
    } while (0)
#define SET_MEM(kern, i, m) SET_ARG(kern, i, sizeof(cl_mem), (m) ? (const void *)&(m) : NULL)

static ksa_status enqueue(ocl_call *c, cl_kernel kern, const char *name, size_t g0, size_t g1, size_t g2, size_t l0)
{
    size_t gws[3] = {g0, g1, g2}, lws[3] = {l0, 1, 1};
    if (g0 == 0 || g1 == 0 || g2 == 0) return KSA_STATUS_SUCCESS;
    cl_int err = clEnqueueNDRangeKernel(c->queue, kern, 3, NULL, gws, l0 ? lws : NULL, 0, NULL, NULL);
    if (err != CL_SUCCESS) return cl_fail(c, err, name);
    return KSA_STATUS_SUCCESS;
}

/* One ksa_attend pass (+ ksa_combine when split). */
static ksa_status run_attend(ocl_call *c, int flags, int splits, int64_t group_rows, int64_t n_groups)
{
    const ksa_problem *p = c->p;
    float scale = p->scale;
    c->geom.splits = splits;
    c->geom.group_rows = group_rows;
    c->geom.blocks_per_group = ceil_div(group_rows * p->group_size, c->pl.cfg.rows);
    cl_kernel ka = c->prog->kernels[KSA_OCL_K_ATTEND];
    SET_ARG(ka, 0, sizeof c->geom, &c->geom);
    SET_ARG(ka, 1, sizeof scale, &scale);
    SET_ARG(ka, 2, sizeof flags, &flags);
    SET_MEM(ka, 3, c->q);
    SET_MEM(ka, 4, c->k);
    SET_MEM(ka, 5, c->v);
    SET_MEM(ka, 6, c->o);
    SET_MEM(ka, 7, c->lse);
    SET_MEM(ka, 8, c->pt);
    SET_MEM(ka, 9, c->idx);
    SET_MEM(ka, 10, c->cnt);
    SET_MEM(ka, 11, c->ws);
    size_t wg = (size_t)(c->pl.cfg.rows * c->pl.cfg.tpr);
    ksa_status st = enqueue(c, ka, "clEnqueueNDRangeKernel(ksa_attend)", wg * (size_t)(n_groups * c->geom.blocks_per_group),
                            (size_t)p->num_kv_heads, (size_t)p->batch * (size_t)splits, wg);
    if (st || splits <= 1) return st;
    cl_kernel kc = c->prog->kernels[KSA_OCL_K_COMBINE];
    SET_ARG(kc, 0, sizeof c->geom, &c->geom);
    SET_ARG(kc, 1, sizeof flags, &flags);
    SET_MEM(kc, 2, c->o);
    SET_MEM(kc, 3, c->lse);
    SET_MEM(kc, 4, c->ws);
    size_t rows = (size_t)p->batch * (size_t)p->max_seqlen_q * (size_t)p->num_q_heads;
    return enqueue(c, kc, "clEnqueueNDRangeKernel(ksa_combine)", (size_t)round_up(p->head_dim, 32), rows, 1, 0);
}

/* Pool + Top-k over every (sequence, tile) item, in chunks that fit the workspace. */
static ksa_status run_select(ocl_call *c)
{
    const ksa_problem *p = c->p;
    float scale = p->scale;
    cl_kernel kp = c->prog->kernels[KSA_OCL_K_POOL], kt = c->prog->kernels[KSA_OCL_K_TOPK];
    size_t wg = (size_t)(c->pl.cfg.rows * c->pl.cfg.tpr);
    size_t key_blocks = (size_t)ceil_div(p->max_seqlen_k, c->pl.cfg.block_k);
    for (int64_t item0 = 0; item0 < c->pl.items; item0 += c->pl.items_per_chunk) {
        int64_t n = c->pl.items - item0 < c->pl.items_per_chunk ? c->pl.items - item0 : c->pl.items_per_chunk;
        c->geom.item0 = item0;
        SET_ARG(kp, 0, sizeof c->geom, &c->geom);
        SET_ARG(kp, 1, sizeof scale, &scale);
        SET_MEM(kp, 2, c->q);
        SET_MEM(kp, 3, c->k);
        SET_MEM(kp, 4, c->pt);
        SET_MEM(kp, 5, c->ws);
        ksa_status st = enqueue(c, kp, "clEnqueueNDRangeKernel(ksa_pool)", wg * key_blocks, (size_t)p->num_kv_heads,
                                (size_t)n, wg);
        if (st) return st;
        SET_ARG(kt, 0, sizeof c->geom, &c->geom);
        SET_MEM(kt, 1, c->idx);
        SET_MEM(kt, 2, c->cnt);
        SET_MEM(kt, 3, c->ws);
        st = enqueue(c, kt, "clEnqueueNDRangeKernel(ksa_topk)", (size_t)c->pl.topk_wg, (size_t)p->num_kv_heads, (size_t)n,
                     (size_t)c->pl.topk_wg);
        if (st) return st;
    }
    return KSA_STATUS_SUCCESS;
}

static ksa_status elem_offset(ocl_call *c, const char *name, const ksa_view *v, size_t esize, cl_long *off, cl_mem *mem)
{
    *mem = NULL;
    *off = 0;
    if (!v->present) return KSA_STATUS_SUCCESS;
    if (!v->mem.native)
        return ksa_ocl_state_of(c->self)->host->set_error(KSA_STATUS_INVALID_ARGUMENT,
                                                          "tensors.%s: OpenCL tensors must be ksa_buffers (a cl_mem), not data pointers",
                                                          name);
    if (v->mem.offset % esize)
        return ksa_ocl_state_of(c->self)->host->set_error(
            KSA_STATUS_UNSUPPORTED, "opencl: tensors.%s starts at byte offset %zu, not a multiple of its %zu-byte elements",
            name, v->mem.offset, esize);
    *mem = (cl_mem)v->mem.native;
    *off = (cl_long)(v->mem.offset / esize);
    return KSA_STATUS_SUCCESS;
}

/* ANCHOR: the Top-k counts of sequence b (lq queries, lk keys) into the meta block's counts */
static void anchor_counts(const ksa_problem *p, int32_t lq, int32_t lk, int32_t *counts, int32_t b)
{
    if (p->phase == KSA_PHASE_DECODE) {
        counts[b] = (int32_t)ksa_decode_count(&p->topk, lk);
        return;
    }
    for (int64_t t = 0; t < p->n_tiles; t++)
        counts[b * p->n_tiles + t] =
            t * p->topk.tile_size < lq ? (int32_t)ksa_prefill_tile_count(&p->topk, lq, lk, t) : -1;
}

static ksa_status write_meta(ocl_call *c, size_t ws_byte_off)
{
    const ksa_problem *p = c->p;
    ksa_ocl_device *dev = c->dev;
    ksa_ocl_staging *s = &dev->staging[dev->staging_next];
    dev->staging_next = (dev->staging_next + 1) % KSA_OCL_STAGING_SLOTS;
    if (s->done) {
        clWaitForEvents(1, &s->done);
        clReleaseEvent(s->done);
        s->done = NULL;
    }
    size_t n = (size_t)c->pl.meta_count;
    /* lengths on the device, ANCHOR: room after the block for its per-sequence part read back (run_meta) */
    const size_t readback = p->lengths_on_device && p->mode == KSA_MODE_ANCHOR ? 4 * (size_t)p->batch : 0;
    if (s->capacity < n + readback) {
        /* grows only when a call has a larger batch than any before: not on the steady-state path */
        int32_t *h = realloc(s->host, (n + readback) * sizeof *h);
        if (!h)
            return ksa_ocl_state_of(c->self)->host->set_error(KSA_STATUS_OUT_OF_MEMORY,
                                                              "opencl: out of host memory for %zu bytes of call metadata",
                                                              (n + readback) * sizeof *h);
        s->host = h;
        s->capacity = n + readback;
    }
    int32_t *m = s->host;
    c->staging = s;
    if (p->lengths_on_device) /* ksa_meta writes the per-sequence part after this copy (run_meta) */
        memset(m, 0, 4 * sizeof *m * (size_t)p->batch);
    else
        for (int32_t b = 0; b < p->batch; b++) {
            m[4 * b + 0] = p->seqlen_q[b];
            m[4 * b + 1] = p->seqlen_k[b];
            m[4 * b + 2] = p->q_row0[b];
            m[4 * b + 3] = p->k_row0[b];
        }
    for (int32_t g = 0; g < p->num_kv_heads; g++) m[4 * p->batch + g] = p->head_map ? p->head_map[g] : g;
    int32_t *counts = m + 4 * p->batch + p->num_kv_heads;
    if (p->mode == KSA_MODE_ANCHOR && !p->lengths_on_device) {
        for (int32_t b = 0; b < p->batch; b++) anchor_counts(p, p->seqlen_q[b], p->seqlen_k[b], counts, b);
    }
    cl_int err = clEnqueueWriteBuffer(c->queue, c->ws, CL_FALSE, ws_byte_off + (size_t)c->pl.meta_off * 4, n * 4, m, 0, NULL,
                                      &s->done);
    if (err != CL_SUCCESS) {
        s->done = NULL;
        return cl_fail(c, err, "clEnqueueWriteBuffer (call metadata)");
    }
    return KSA_STATUS_SUCCESS;
}

/* Lengths on the device (the caller bounded every length tensor; dispatch read nothing back): the
 * per-sequence metadata comes from ksa_meta, on the queue after write_meta's copy. ANCHOR also needs
 * each sequence's Top-k counts, whose rule (a double product) the kernels do not carry: this path
 * reads the per-sequence metadata back, blocking, and writes the counts from it. */
static ksa_status run_meta(ocl_call *c, size_t ws_byte_off)
{
    const ksa_problem *p = c->p;
    cl_kernel km = c->prog->kernels[KSA_OCL_K_META];
    cl_mem cuq = NULL, cuk = NULL, sk = NULL;
    cl_long cuq_off = 0, cuk_off = 0, sk_off = 0;
    ksa_status st;
    if (p->q_ragged && (st = elem_offset(c, "cu_seqlens_q", &p->cu_seqlens_q, 4, &cuq_off, &cuq))) return st;
    if (p->kv_layout == KSA_KV_RAGGED && (st = elem_offset(c, "cu_seqlens_k", &p->cu_seqlens_k, 4, &cuk_off, &cuk)))
        return st;
    if (p->seq_lens_k.present && (st = elem_offset(c, "seq_lens_k", &p->seq_lens_k, 4, &sk_off, &sk))) return st;
    cl_int has_q = cuq != NULL, has_k = cuk != NULL, has_s = sk != NULL;
    cl_long cuq_s = has_q ? p->cu_seqlens_q.stride[0] : 0, cuk_s = has_k ? p->cu_seqlens_k.stride[0] : 0;
    cl_long sk_s = has_s ? p->seq_lens_k.stride[0] : 0;
    cl_long q_rows = p->q.shape[0], k_rows = p->k.shape[0];
    SET_ARG(km, 0, sizeof c->geom, &c->geom);
    SET_MEM(km, 1, cuq);
    SET_ARG(km, 2, sizeof cuq_off, &cuq_off);
    SET_ARG(km, 3, sizeof cuq_s, &cuq_s);
    SET_ARG(km, 4, sizeof has_q, &has_q);
    SET_MEM(km, 5, cuk);
    SET_ARG(km, 6, sizeof cuk_off, &cuk_off);
    SET_ARG(km, 7, sizeof cuk_s, &cuk_s);
    SET_ARG(km, 8, sizeof has_k, &has_k);
    SET_MEM(km, 9, sk);
    SET_ARG(km, 10, sizeof sk_off, &sk_off);
    SET_ARG(km, 11, sizeof sk_s, &sk_s);
    SET_ARG(km, 12, sizeof has_s, &has_s);
    SET_ARG(km, 13, sizeof q_rows, &q_rows);
    SET_ARG(km, 14, sizeof k_rows, &k_rows);
    SET_MEM(km, 15, c->ws);
    if ((st = enqueue(c, km, "clEnqueueNDRangeKernel(ksa_meta)", (size_t)round_up(p->batch, 64), 1, 1, 0))) return st;
    if (p->mode != KSA_MODE_ANCHOR) return KSA_STATUS_SUCCESS;
    /* the staging slot holds meta_count entries, then room for the read-back (write_meta); a blocking
     * read on the in-order queue also completes write_meta's copy, so the slot is free afterwards */
    int32_t *m = c->staging->host, *seq = m + c->pl.meta_count;
    const size_t meta_byte = ws_byte_off + (size_t)c->pl.meta_off * 4;
    cl_int err = clEnqueueReadBuffer(c->queue, c->ws, CL_TRUE, meta_byte, 16 * (size_t)p->batch, seq, 0, NULL, NULL);
    if (err != CL_SUCCESS) return cl_fail(c, err, "clEnqueueReadBuffer (sequence lengths)");
    const size_t counts_at = 4 * (size_t)p->batch + (size_t)p->num_kv_heads;
    int32_t *counts = m + counts_at;
    for (int32_t b = 0; b < p->batch; b++) anchor_counts(p, seq[4 * b], seq[4 * b + 1], counts, b);
    const size_t n_counts = (size_t)(c->pl.meta_count - (int64_t)counts_at);
    if (!n_counts) return KSA_STATUS_SUCCESS;
    err = clEnqueueWriteBuffer(c->queue, c->ws, CL_TRUE, meta_byte + counts_at * 4, n_counts * 4, counts, 0, NULL, NULL);
    if (err != CL_SUCCESS) return cl_fail(c, err, "clEnqueueWriteBuffer (Top-k counts)");
    return KSA_STATUS_SUCCESS;
}

static ksa_status run_call(ocl_call *c, ksa_call_info *info)
{
    const ksa_problem *p = c->p;
    const ksa_host_api *host = ksa_ocl_state_of(c->self)->host;
    size_t es = p->dtype == KSA_DTYPE_F32 ? 4 : 2;
    ksa_cl_geom *g = &c->geom;
    memset(g, 0, sizeof *g);
    ksa_status st;
    if ((st = elem_offset(c, "q", &p->q, es, &g->q_off, &c->q))) return st;
    if ((st = elem_offset(c, "k", &p->k, es, &g->k_off, &c->k))) return st;
    if ((st = elem_offset(c, "v", &p->v, es, &g->v_off, &c->v))) return st;
    if ((st = elem_offset(c, "o", &p->o, es, &g->o_off, &c->o))) return st;
    if ((st = elem_offset(c, "lse", &p->lse, 4, &g->lse_off, &c->lse))) return st;
    if ((st = elem_offset(c, "page_table", &p->page_table, 4, &g->pt_off, &c->pt))) return st;
    if ((st = elem_offset(c, "indices", &p->indices, 4, &g->idx_off, &c->idx))) return st;
    if ((st = elem_offset(c, "counts", &p->counts, 4, &g->cnt_off, &c->cnt))) return st;
    if (!p->workspace.native)
        return host->set_error(KSA_STATUS_INVALID_ARGUMENT,
                               "workspace: the OpenCL backend needs a workspace ksa_buffer of %lld bytes (ksa_attention_workspace_size)",
                               (long long)c->pl.total * 4);
    if (p->workspace.offset % 4)
        return host->set_error(KSA_STATUS_UNSUPPORTED, "opencl: workspace offset %zu is not a multiple of 4 bytes",
                               p->workspace.offset);
    c->ws = (cl_mem)p->workspace.native;
    cl_long ws0 = (cl_long)(p->workspace.offset / 4);

    int decode = p->phase == KSA_PHASE_DECODE;
    g->batch = p->batch;
    g->hq = p->num_q_heads;
    g->hkv = p->num_kv_heads;
    g->group = p->group_size;
    g->max_lq = p->max_seqlen_q;
    g->max_lk = p->max_seqlen_k;
    g->kv_layout = p->kv_layout;
    g->page_size = p->page_size > 0 ? p->page_size : 1;
    g->pt_sb = p->page_table.present ? p->page_table.stride[0] : 0;
    g->q_b = p->q_strides.batch, g->q_t = p->q_strides.token, g->q_h = p->q_strides.head;
    g->k_b = p->k_strides.batch, g->k_t = p->k_strides.token, g->k_h = p->k_strides.head, g->k_p = p->k_strides.page;
    g->v_b = p->v_strides.batch, g->v_t = p->v_strides.token, g->v_h = p->v_strides.head, g->v_p = p->v_strides.page;
    g->o_b = p->o_strides.batch, g->o_t = p->o_strides.token, g->o_h = p->o_strides.head;
    g->lse_b = p->lse_stride_b, g->lse_h = p->lse_stride_h, g->lse_i = p->lse_stride_i;
    for (int i = 0; i < 4; i++) (&g->idx_s0)[i] = p->index_stride[i];
    for (int i = 0; i < 3; i++) (&g->cnt_s0)[i] = p->count_stride[i];
    g->k_slots = p->k_slots;
    g->n_tiles = decode ? 1 : (p->n_tiles > 0 ? p->n_tiles : 1);
    g->tile_q = decode ? 1 : p->topk.tile_size;
    g->window = p->topk.local_window;
    g->decode = decode;
    g->meta_off = ws0 + c->pl.meta_off;
    g->lse_ws_off = ws0 + c->pl.lse_ws_off;
    g->part_off = ws0 + c->pl.part_off;
    g->pool_off = ws0 + c->pl.pool_off;
    g->pool_stride = p->max_seqlen_k > 0 ? p->max_seqlen_k : 1;

    if ((st = write_meta(c, p->workspace.offset))) return st;
    if (p->lengths_on_device && (st = run_meta(c, p->workspace.offset))) return st;

    int lse_flag = p->lse.present ? KF_WRITE_LSE : 0;
    int64_t dense_rows = decode ? 1 : p->max_seqlen_q;
    int64_t tile_rows = decode ? 1 : p->topk.tile_size;
    int64_t tile_groups = decode ? 1 : g->n_tiles;
    const char *mode = p->mode == KSA_MODE_DENSE ? "dense" : p->mode == KSA_MODE_ANCHOR ? "anchor" : "reuse";
    snprintf(info->kernel, sizeof info->kernel, "opencl.%s_%s", mode, decode ? "decode" : "prefill");
    snprintf(info->config, sizeof info->config, "rows=%d,tpr=%d,block_k=%d,splits=%d", c->pl.cfg.rows, c->pl.cfg.tpr,
             c->pl.cfg.block_k, p->mode == KSA_MODE_REUSE ? c->pl.splits_sparse : c->pl.splits_dense);
    switch (p->mode) {
    case KSA_MODE_DENSE:
        return run_attend(c, KF_RANGE_CAUSAL | KF_WRITE_O | lse_flag, c->pl.splits_dense, dense_rows, 1);
    case KSA_MODE_REUSE: {
        int range = decode ? (p->topk.local_window > 0 ? KF_RANGE_WINDOW : KF_RANGE_NONE) : KF_RANGE_TILE;
        return run_attend(c, KF_LIST | range | KF_WRITE_O | lse_flag, c->pl.splits_sparse, tile_rows, tile_groups);
    }
    case KSA_MODE_ANCHOR: {
        int dense_out = p->anchor_dense_output;
        int f1 = KF_RANGE_CAUSAL | KF_WRITE_LSE_WS | (dense_out ? (KF_WRITE_O | lse_flag) : KF_NO_PV);
        if ((st = run_attend(c, f1, c->pl.splits_dense, dense_rows, 1))) return st;
        if ((st = run_select(c))) return st;
        if (dense_out) return KSA_STATUS_SUCCESS;
        int range = decode ? KF_RANGE_NONE : KF_RANGE_TILE;
        return run_attend(c, KF_LIST | range | KF_WRITE_O | lse_flag, c->pl.splits_sparse, tile_rows, tile_groups);
    }
    }
    return host->set_error(KSA_STATUS_UNSUPPORTED, "opencl: mode %d is not supported", (int)p->mode);
}

ksa_status ksa_ocl_attention(ksa_backend *self, int device, void *stream, const ksa_problem *p, ksa_call_info *info)
{
    ksa_ocl_device *dev = &ksa_ocl_state_of(self)->devices[device];
    const ksa_host_api *host = ksa_ocl_state_of(self)->host;
    ocl_call c;
    memset(&c, 0, sizeof c);
    c.self = self;
    c.dev = dev;
    c.p = p;
    ksa_status st = make_plan(self, dev, p, &c.pl);
    if (st) return st;
    if (p->dtype != KSA_DTYPE_F32 && p->dtype != KSA_DTYPE_F16 && p->dtype != KSA_DTYPE_BF16)
        return host->set_error(KSA_STATUS_UNSUPPORTED, "opencl: dtype %d is not supported (f32, f16, bf16 only)", (int)p->dtype);
    char options[256];
    int dt = p->dtype == KSA_DTYPE_F32 ? 1 : p->dtype == KSA_DTYPE_F16 ? 2 : 3;
    pthread_mutex_lock(&dev->lock);
    /* f16 through cl_khr_fp16 where the device has it; KSA_OPENCL_FP16=off forces the core
     * vload_half path, =force tries cl_khr_fp16 even where it is not advertised (tests). Should
     * the driver refuse that build, fall back to vload_half for good. */
    const char *fp16env = getenv("KSA_OPENCL_FP16");
    int fp16_off = fp16env && strcmp(fp16env, "off") == 0, fp16_force = fp16env && strcmp(fp16env, "force") == 0;
    int use_fp16 = dt == 2 && (dev->has_fp16 || fp16_force) && !dev->fp16_refused && !fp16_off;
    ksa_ocl_ctx *x = NULL;
    st = ksa_ocl_ctx_for_queue(self, dev, (cl_command_queue)stream, &x, &c.queue);
    for (int attempt = 0; !st && attempt < 2; attempt++) {
        snprintf(options, sizeof options,
                 "-cl-std=CL1.2 -DKSA_DTYPE=%d -DKSA_HEAD_DIM=%d -DKSA_ROWS=%d -DKSA_TPR=%d -DKSA_BLOCK_K=%d -DKSA_TOPK_WG=%d%s",
                 dt, p->head_dim, c.pl.cfg.rows, c.pl.cfg.tpr, c.pl.cfg.block_k, c.pl.topk_wg,
                 use_fp16 ? " -DKSA_HAS_FP16" : "");
        st = ksa_ocl_get_program(self, dev, x, options, &c.prog);
        if (st == KSA_STATUS_DEVICE_ERROR && use_fp16) {
            host->log("opencl: %s refused the cl_khr_fp16 build; using the vload_half conversions", dev->name);
            dev->fp16_refused = 1;
            use_fp16 = 0;
            st = KSA_STATUS_SUCCESS;
            continue;
        }
        break;
    }
    if (!st) {
        size_t kwg = 0;
        clGetKernelWorkGroupInfo(c.prog->kernels[KSA_OCL_K_ATTEND], dev->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg,
                                 NULL);
        if (kwg && kwg < (size_t)(c.pl.cfg.rows * c.pl.cfg.tpr))
            st = host->set_error(KSA_STATUS_UNSUPPORTED,
                                 "opencl: configuration rows=%d,tpr=%d needs %d work-items per group but the compiled kernel "
                                 "allows %zu on %s",
                                 c.pl.cfg.rows, c.pl.cfg.tpr, c.pl.cfg.rows * c.pl.cfg.tpr, kwg, dev->name);
    }
    if (!st) st = run_call(&c, info);
    if (!st) clFlush(c.queue);
    pthread_mutex_unlock(&dev->lock);
    return st;
}
