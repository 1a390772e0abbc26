/* validate.c: argument validation for every attention call, done once here for every backend.
 * Turns the public (params, tensors) pair into a resolved ksa_problem in named steps (parameters,
 * shapes, K/V layout, lengths, index geometry, head map, index entries; each declared in
 * ksa_internal.h and tested on its own): checks dtypes, shapes, strides, devices, overflow,
 * lengths, head maps, page tables and (in validation mode) index entries, and gathers
 * per-sequence lengths on the host. Every failure names the argument. Also the one check of an
 * index set (distinct candidates) that validation and the cross-check share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksa_internal.h"

#define FAIL(...) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, __VA_ARGS__)

void ksa_problem_storage_release(ksa_problem_storage *st)
{
    if (!st) return;
    free(st->seqlen_q);
    free(st->seqlen_k);
    free(st->q_row0);
    free(st->k_row0);
    free(st->mark);
    free(st->readback);
    memset(st, 0, sizeof *st);
}

static ksa_status storage_reserve(ksa_problem_storage *st, int32_t batch)
{
    if (st->capacity >= batch) return KSA_STATUS_SUCCESS;
    int32_t *a = realloc(st->seqlen_q, sizeof(int32_t) * (size_t)batch);
    if (a) st->seqlen_q = a;
    int32_t *b = realloc(st->seqlen_k, sizeof(int32_t) * (size_t)batch);
    if (b) st->seqlen_k = b;
    int32_t *c = realloc(st->q_row0, sizeof(int32_t) * (size_t)batch);
    if (c) st->q_row0 = c;
    int32_t *d = realloc(st->k_row0, sizeof(int32_t) * (size_t)batch);
    if (d) st->k_row0 = d;
    if (!a || !b || !c || !d) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "out of host memory for %d sequence lengths", batch);
    st->capacity = batch;
    return KSA_STATUS_SUCCESS;
}

/* Validate one tensor descriptor into a view. dtype: the required dtype (KSA_DTYPE_INVALID = any of
 * f32/f16/bf16). ndim_a/ndim_b: the accepted ranks (ndim_b = 0: only ndim_a). host_ok: memory
 * without a device is host memory and accepted (head maps). inner_unit: the innermost (head_dim)
 * stride must be 1 (q, k, v, o). */
static ksa_status check_view(ksa_device dev, const ksa_tensor *t, const char *name, ksa_dtype dtype, int ndim_a,
                             int ndim_b, int is_output, int host_ok, int inner_unit, ksa_view *v)
{
    memset(v, 0, sizeof *v);
    if (dtype == KSA_DTYPE_INVALID) {
        if (t->dtype != KSA_DTYPE_F32 && t->dtype != KSA_DTYPE_F16 && t->dtype != KSA_DTYPE_BF16)
            FAIL("%s: dtype %s is not a floating-point storage type (f32, f16 or bf16)", name, ksa_dtype_name(t->dtype));
    } else if (t->dtype != dtype) {
        FAIL("%s: dtype is %s, expected %s", name, ksa_dtype_name(t->dtype), ksa_dtype_name(dtype));
    }
    if (t->ndim != ndim_a && (ndim_b == 0 || t->ndim != ndim_b)) {
        if (ndim_b) FAIL("%s: has %d dimensions, expected %d or %d", name, t->ndim, ndim_a, ndim_b);
        FAIL("%s: has %d dimensions, expected %d", name, t->ndim, ndim_a);
    }
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] <= 0) FAIL("%s: shape[%d] is %lld; every dimension must be positive", name, i, (long long)t->shape[i]);
        if (t->stride[i] < 0) FAIL("%s: stride[%d] is %lld; strides must be non-negative", name, i, (long long)t->stride[i]);
    }
    if (inner_unit && t->stride[t->ndim - 1] != 1)
        FAIL("%s: the head_dim stride must be 1 (it is %lld)", name, (long long)t->stride[t->ndim - 1]);
    int64_t numel = 1;
    for (int i = 0; i < t->ndim; i++)
        if (__builtin_mul_overflow(numel, t->shape[i], &numel)) FAIL("%s: the product of its sizes overflows", name);
    int64_t span = ksa_view_span(t->ndim, t->shape, t->stride);
    int64_t bytes;
    if (span < 0 || __builtin_mul_overflow(span, (int64_t)ksa_dtype_size(t->dtype), &bytes))
        FAIL("%s: the extent its shape and strides cover overflows", name);
    ksa_device owner;
    ksa_status st = ksa_tensor_memory(t, name, &v->mem, &owner);
    if (st != KSA_STATUS_SUCCESS) return st;
    if (!t->data && !t->buffer) FAIL("%s: no data pointer or buffer", name);
    if (!owner) {
        if (!host_ok) FAIL("%s: device is NULL; set the device the data lives on (or use a buffer)", name);
    } else if (!ksa_devices_share_memory(owner, dev)) {
        FAIL("%s: lives on device %s but the call runs on device %s", name, owner->info.name, dev->info.name);
    }
    if (t->buffer && (uint64_t)bytes > t->buffer->size - t->offset)
        FAIL("%s: shape and strides reach %lld bytes past offset %zu, beyond its %zu-byte buffer", name, (long long)bytes,
             t->offset, t->buffer->size);
    if (is_output) {
        /* no element written twice: with dimensions sorted by stride, each stride must exceed the
         * extent of the smaller ones */
        int order[KSA_MAX_DIMS];
        for (int i = 0; i < t->ndim; i++) order[i] = i;
        for (int i = 0; i < t->ndim; i++)
            for (int j = i + 1; j < t->ndim; j++)
                if (t->stride[order[j]] < t->stride[order[i]]) {
                    int tmp = order[i];
                    order[i] = order[j];
                    order[j] = tmp;
                }
        int64_t extent = 0;
        for (int i = 0; i < t->ndim; i++) {
            int d = order[i];
            if (t->shape[d] == 1) continue;
            if (t->stride[d] <= extent) FAIL("%s: is an output whose strides make elements overlap (dimension %d)", name, d);
            extent += (t->shape[d] - 1) * t->stride[d];
        }
    }
    v->present = 1;
    v->dtype = t->dtype;
    v->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        v->shape[i] = t->shape[i];
        v->stride[i] = t->stride[i];
    }
    return KSA_STATUS_SUCCESS;
}

/* Copy of an int32 view's covered span on the host (direct pointer for host memory, else read
 * back with a synchronising copy). With `reuse` (the thread's storage) the copy goes into its
 * read-back buffer, grown only when a larger span than any before arrives, so the length tensors
 * and head map read back on every call of a device cost no allocation; the result is valid until
 * the next host_i32 with the same storage. Else *owned is set and the caller frees the result. */
static ksa_status host_i32(ksa_device dev, void *stream, const ksa_view *v, const int32_t **out, int32_t **owned,
                           const char *name, ksa_problem_storage *reuse)
{
    *owned = NULL;
    int64_t span = ksa_view_span(v->ndim, v->shape, v->stride);
    if (dev->backend->host_memory) {
        *out = (const int32_t *)ksa_mem_addr(v->mem);
        return KSA_STATUS_SUCCESS;
    }
    int32_t *buf;
    if (reuse) {
        if (reuse->readback_capacity < span) {
            int32_t *grown = realloc(reuse->readback, sizeof(int32_t) * (size_t)span);
            if (!grown) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: out of host memory reading it back", name);
            reuse->readback = grown;
            reuse->readback_capacity = span;
        }
        buf = reuse->readback;
    } else {
        buf = malloc(sizeof(int32_t) * (size_t)span);
        if (!buf) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: out of host memory reading it back", name);
    }
    ksa_status st = dev->backend->mem_read(dev->backend, dev->index, stream, buf, v->mem, 0, sizeof(int32_t) * (size_t)span);
    if (st != KSA_STATUS_SUCCESS) {
        if (!reuse) free(buf);
        char why[512];
        snprintf(why, sizeof why, "%s", ksa_last_error());
        return ksa_error(st, "%s: reading it back to the host failed: %s", name, why);
    }
    *out = buf;
    if (!reuse) *owned = buf;
    return KSA_STATUS_SUCCESS;
}

/* a length tensor could not be read back: say how a call avoids reading it */
static ksa_status length_readback_failed(ksa_status st)
{
    char why[600];
    snprintf(why, sizeof why, "%s", ksa_last_error());
    return ksa_error(st, "%s (with params.max_seqlen_q / max_seqlen_k, the CUDA, HIP and OpenCL backends read the lengths "
                         "on the device)",
                     why);
}

static int host_accessible(ksa_device dev, const ksa_tensor *t)
{
    if (dev->backend->host_memory) return 1;
    return t->buffer == NULL && t->device == NULL; /* host memory given without a device */
}

static ksa_status read_lengths_cu(ksa_device dev, void *stream, const ksa_view *v, int32_t batch, int64_t rows,
                                  int32_t *len, int32_t *row0, const char *name, const char *rows_name,
                                  ksa_problem_storage *storage)
{
    const int32_t *h;
    int32_t *owned;
    ksa_status st = host_i32(dev, stream, v, &h, &owned, name, storage);
    if (st != KSA_STATUS_SUCCESS) return length_readback_failed(st);
    st = KSA_STATUS_SUCCESS;
    int64_t s = v->stride[0];
    if (h[0] != 0) {
        st = ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s[0] is %d; cumulative offsets start at 0", name, h[0]);
    } else {
        for (int32_t b = 0; b < batch; b++) {
            int32_t a = h[b * s], e = h[(b + 1) * s];
            if (e < a) {
                st = ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s decreases at %d (%d -> %d)", name, b + 1, a, e);
                break;
            }
            if (e > rows) {
                st = ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s[%d] = %d exceeds the %lld rows of %s", name, b + 1, e,
                               (long long)rows, rows_name);
                break;
            }
            len[b] = e - a;
            row0[b] = a;
        }
    }
    free(owned);
    return st;
}

/* ---------------------------------------------------------------- step 1: parameters */
ksa_status ksa_resolve_params(const ksa_attention_params *params, ksa_problem *p)
{
    if (!params) FAIL("params is NULL");
    if (params->mode != KSA_MODE_DENSE && params->mode != KSA_MODE_ANCHOR && params->mode != KSA_MODE_REUSE)
        FAIL("params.mode is %d, not a ksa_mode", (int)params->mode);
    if (params->phase != KSA_PHASE_PREFILL && params->phase != KSA_PHASE_DECODE)
        FAIL("params.phase is %d, not a ksa_phase", (int)params->phase);
    if (!(params->scale >= 0.0f) || !isfinite(params->scale))
        FAIL("params.scale is %g; give a positive finite scale or 0 for 1/sqrt(head_dim)", (double)params->scale);
    const ksa_topk_params *k = &params->topk;
    if (params->mode != KSA_MODE_DENSE) {
        if (k->top_k < 0) FAIL("params.topk.top_k is %d; use 0 for the fraction rule or a positive k", k->top_k);
        if (k->top_k == 0 && !(k->fraction > 0.0 && k->fraction <= 1.0))
            FAIL("params.topk.fraction is %g; it must be in (0, 1] (k = 0 would select nothing)", k->fraction);
        if (k->min_k < 1) FAIL("params.topk.min_k is %d; it must be at least 1 (k = 0 would select nothing)", k->min_k);
        if (k->round_multiple < 1) FAIL("params.topk.round_multiple is %d; it must be at least 1", k->round_multiple);
        if (k->tile_size < 1 || k->tile_size > 1024) FAIL("params.topk.tile_size is %d; it must be in 1..1024", k->tile_size);
        if (k->local_window < 0) FAIL("params.topk.local_window is %d; it must be >= 0", k->local_window);
    }
    p->mode = params->mode;
    p->phase = params->phase;
    p->scale = params->scale; /* 0: 1/sqrt(head_dim), set with the shapes */
    p->anchor_dense_output = params->anchor_dense_output ? 1 : 0;
    p->validate_indices = params->validate_indices ? 1 : 0;
    if (params->max_seqlen_q < 0)
        FAIL("params.max_seqlen_q is %d; give 0 (no bound) or the most queries any sequence has", params->max_seqlen_q);
    if (params->max_seqlen_k < 0)
        FAIL("params.max_seqlen_k is %d; give 0 (no bound) or the most keys any sequence has", params->max_seqlen_k);
    p->topk = *k;
    if (p->mode == KSA_MODE_DENSE && p->topk.tile_size < 1) p->topk.tile_size = 32;
    p->seqlen_bound_q = params->max_seqlen_q;
    p->seqlen_bound_k = params->max_seqlen_k;
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- step 2: shapes of q, o, k, v, lse */
ksa_status ksa_resolve_shapes(ksa_device dev, const ksa_attention_tensors *t, ksa_problem *p)
{
    ksa_status s;
    if (!ksa_tensor_present(&t->q)) FAIL("tensors.q is absent (no data pointer or buffer)");
    int q_ragged = ksa_tensor_present(&t->cu_seqlens_q);
    s = check_view(dev, &t->q, "tensors.q", KSA_DTYPE_INVALID, q_ragged ? 3 : 4, 0, 0, 0, 1, &p->q);
    if (s) return s;
    p->dtype = t->q.dtype;
    int qd = q_ragged ? 1 : 2; /* index of the head dimension in q */
    int32_t batch;
    if (q_ragged) {
        s = check_view(dev, &t->cu_seqlens_q, "tensors.cu_seqlens_q", KSA_DTYPE_I32, 1, 0, 0, 0, 0, &p->cu_seqlens_q);
        if (s) return s;
        if (p->cu_seqlens_q.shape[0] < 2) FAIL("tensors.cu_seqlens_q has %lld entries; it needs batch + 1 >= 2",
                                               (long long)p->cu_seqlens_q.shape[0]);
        if (p->cu_seqlens_q.shape[0] - 1 > INT32_MAX) FAIL("tensors.cu_seqlens_q: batch too large");
        batch = (int32_t)(p->cu_seqlens_q.shape[0] - 1);
    } else {
        if (t->q.shape[0] > INT32_MAX) FAIL("tensors.q: batch %lld too large", (long long)t->q.shape[0]);
        batch = (int32_t)t->q.shape[0];
        if (p->q.shape[1] > INT32_MAX) FAIL("tensors.q: %lld queries per sequence is too many", (long long)p->q.shape[1]);
    }
    int64_t hq = p->q.shape[qd], dim = p->q.shape[qd + 1];
    if (dim > 512) FAIL("tensors.q: head_dim %lld exceeds 512", (long long)dim);
    if (hq > 65536) FAIL("tensors.q: %lld query heads exceed 65536", (long long)hq);

    if (!ksa_tensor_present(&t->o)) FAIL("tensors.o is absent (no data pointer or buffer)");
    s = check_view(dev, &t->o, "tensors.o", p->dtype, q_ragged ? 3 : 4, 0, 1, 0, 1, &p->o);
    if (s) return s;
    for (int i = 0; i < p->q.ndim; i++)
        if (p->o.shape[i] != p->q.shape[i])
            FAIL("tensors.o: shape[%d] is %lld but q's is %lld", i, (long long)p->o.shape[i], (long long)p->q.shape[i]);

    if (!ksa_tensor_present(&t->k)) FAIL("tensors.k is absent (no data pointer or buffer)");
    if (!ksa_tensor_present(&t->v)) FAIL("tensors.v is absent (no data pointer or buffer)");
    int paged = ksa_tensor_present(&t->page_table);
    int k_ragged = ksa_tensor_present(&t->cu_seqlens_k);
    if (paged && k_ragged) FAIL("tensors.page_table and tensors.cu_seqlens_k are both set; choose paged or ragged K/V");
    p->kv_layout = paged ? KSA_KV_PAGED : (k_ragged ? KSA_KV_RAGGED : KSA_KV_CONTIGUOUS);
    int kndim = k_ragged ? 3 : 4;
    s = check_view(dev, &t->k, "tensors.k", p->dtype, kndim, 0, 0, 0, 1, &p->k);
    if (s) return s;
    s = check_view(dev, &t->v, "tensors.v", p->dtype, kndim, 0, 0, 0, 1, &p->v);
    if (s) return s;
    for (int i = 0; i < kndim; i++)
        if (p->v.shape[i] != p->k.shape[i])
            FAIL("tensors.v: shape[%d] is %lld but k's is %lld", i, (long long)p->v.shape[i], (long long)p->k.shape[i]);
    int64_t hkv = p->k.shape[kndim - 2];
    if (p->k.shape[kndim - 1] != dim)
        FAIL("tensors.k: head_dim %lld differs from q's %lld", (long long)p->k.shape[kndim - 1], (long long)dim);
    if (hkv > KSA_MAX_KV_HEADS) FAIL("tensors.k: %lld KV heads exceed the supported %d", (long long)hkv, KSA_MAX_KV_HEADS);
    if (hq % hkv != 0) FAIL("tensors.q: %lld query heads are not a multiple of k's %lld KV heads", (long long)hq, (long long)hkv);
    p->batch = batch;
    p->num_q_heads = (int32_t)hq;
    p->num_kv_heads = (int32_t)hkv;
    p->group_size = (int32_t)(hq / hkv);
    p->head_dim = (int32_t)dim;
    p->q_ragged = q_ragged;
    if (p->scale == 0.0f) p->scale = (float)(1.0 / sqrt((double)dim));
    if (q_ragged) {
        p->q_strides = (ksa_token_strides){0, p->q.stride[0], p->q.stride[1], 0};
        p->o_strides = (ksa_token_strides){0, p->o.stride[0], p->o.stride[1], 0};
    } else {
        p->q_strides = (ksa_token_strides){p->q.stride[0], p->q.stride[1], p->q.stride[2], 0};
        p->o_strides = (ksa_token_strides){p->o.stride[0], p->o.stride[1], p->o.stride[2], 0};
    }

    if (ksa_tensor_present(&t->lse)) {
        s = check_view(dev, &t->lse, "tensors.lse", KSA_DTYPE_F32, q_ragged ? 2 : 3, 0, 1, 0, 0, &p->lse);
        if (s) return s;
        if (q_ragged) {
            if (p->lse.shape[0] != hq || p->lse.shape[1] != p->q.shape[0])
                FAIL("tensors.lse: shape is [%lld, %lld], expected [Hq, total_q] = [%lld, %lld]", (long long)p->lse.shape[0],
                     (long long)p->lse.shape[1], (long long)hq, (long long)p->q.shape[0]);
            p->lse_stride_b = 0;
            p->lse_stride_h = p->lse.stride[0];
            p->lse_stride_i = p->lse.stride[1];
        } else {
            if (p->lse.shape[0] != batch || p->lse.shape[1] != hq || p->lse.shape[2] != p->q.shape[1])
                FAIL("tensors.lse: shape is [%lld, %lld, %lld], expected [B, Hq, Lq] = [%d, %lld, %lld]",
                     (long long)p->lse.shape[0], (long long)p->lse.shape[1], (long long)p->lse.shape[2], batch,
                     (long long)hq, (long long)p->q.shape[1]);
            p->lse_stride_b = p->lse.stride[0];
            p->lse_stride_h = p->lse.stride[1];
            p->lse_stride_i = p->lse.stride[2];
        }
    }
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- step 3: K/V layout */
/* Keys one sequence can hold in the K/V layout (contiguous: Lk; ragged: all rows; paged: pages per
 * sequence times page size); set by ksa_resolve_kv_layout. */
static int64_t key_capacity_of(const ksa_problem *p)
{
    if (p->kv_layout == KSA_KV_PAGED) return p->max_pages_per_seq * p->page_size;
    if (p->kv_layout == KSA_KV_RAGGED) return p->k.shape[0];
    return p->k.shape[1];
}

ksa_status ksa_resolve_kv_layout(ksa_device dev, const ksa_attention_tensors *t, ksa_problem *p)
{
    ksa_status s;
    int has_seqlens = ksa_tensor_present(&t->seq_lens_k);
    if (p->kv_layout == KSA_KV_PAGED) {
        if (!has_seqlens) FAIL("tensors.seq_lens_k is required with a paged K/V cache (tensors.page_table)");
        s = check_view(dev, &t->page_table, "tensors.page_table", KSA_DTYPE_I32, 2, 0, 0, 0, 0, &p->page_table);
        if (s) return s;
        if (p->page_table.shape[0] != p->batch)
            FAIL("tensors.page_table: has %lld rows but the batch has %d sequences", (long long)p->page_table.shape[0],
                 p->batch);
        if (p->k.shape[1] > INT32_MAX) FAIL("tensors.k: page size too large");
        p->page_size = (int32_t)p->k.shape[1];
        p->num_pages = p->k.shape[0];
        p->max_pages_per_seq = p->page_table.shape[1];
        int64_t capacity;
        if (__builtin_mul_overflow(p->max_pages_per_seq, (int64_t)p->page_size, &capacity))
            FAIL("tensors.page_table: pages per sequence times page size overflows");
        p->k_strides = (ksa_token_strides){0, p->k.stride[1], p->k.stride[2], p->k.stride[0]};
        p->v_strides = (ksa_token_strides){0, p->v.stride[1], p->v.stride[2], p->v.stride[0]};
    } else if (p->kv_layout == KSA_KV_RAGGED) {
        if (has_seqlens) FAIL("tensors.seq_lens_k cannot be combined with tensors.cu_seqlens_k");
        s = check_view(dev, &t->cu_seqlens_k, "tensors.cu_seqlens_k", KSA_DTYPE_I32, 1, 0, 0, 0, 0, &p->cu_seqlens_k);
        if (s) return s;
        if (p->cu_seqlens_k.shape[0] != (int64_t)p->batch + 1)
            FAIL("tensors.cu_seqlens_k: has %lld entries, expected batch + 1 = %d", (long long)p->cu_seqlens_k.shape[0],
                 p->batch + 1);
        p->k_strides = (ksa_token_strides){0, p->k.stride[0], p->k.stride[1], 0};
        p->v_strides = (ksa_token_strides){0, p->v.stride[0], p->v.stride[1], 0};
    } else {
        if (p->k.shape[0] != p->batch) FAIL("tensors.k: batch is %lld but q's is %d", (long long)p->k.shape[0], p->batch);
        p->k_strides = (ksa_token_strides){p->k.stride[0], p->k.stride[1], p->k.stride[2], 0};
        p->v_strides = (ksa_token_strides){p->v.stride[0], p->v.stride[1], p->v.stride[2], 0};
    }
    if (has_seqlens) {
        s = check_view(dev, &t->seq_lens_k, "tensors.seq_lens_k", KSA_DTYPE_I32, 1, 0, 0, 0, 0, &p->seq_lens_k);
        if (s) return s;
        if (p->seq_lens_k.shape[0] != p->batch)
            FAIL("tensors.seq_lens_k: has %lld entries but the batch has %d sequences", (long long)p->seq_lens_k.shape[0],
                 p->batch);
    }
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- step 4: lengths */
/* The caller's bounds against the tensors' capacities (params.max_seqlen_q / _k). Lengths that come
 * from a tensor (ragged q; ragged, paged or padded K/V) may be bounded below the capacity; a length
 * that is a tensor dimension (q's Lq, K/V's Lk without seq_lens_k) is the bound's floor. */
static ksa_status check_bounds(const ksa_problem *p, int q_tensor, int k_tensor, int64_t key_capacity)
{
    const int32_t bq = p->seqlen_bound_q, bk = p->seqlen_bound_k;
    if (bq > 0) {
        if (q_tensor && bq > p->q.shape[0])
            FAIL("params.max_seqlen_q is %d but tensors.q holds %lld query rows", bq, (long long)p->q.shape[0]);
        if (!q_tensor && bq < p->q.shape[1])
            FAIL("params.max_seqlen_q is %d but every sequence has %lld queries (tensors.q)", bq, (long long)p->q.shape[1]);
        if (p->phase == KSA_PHASE_DECODE && q_tensor && bq != 1)
            FAIL("params.max_seqlen_q is %d; decode takes exactly one query per sequence, so the bound is 1", bq);
    }
    if (bk > 0) {
        if (k_tensor && bk > key_capacity)
            FAIL("params.max_seqlen_k is %d but the K/V %s holds %lld keys per sequence", bk,
                 p->kv_layout == KSA_KV_PAGED ? "page table" : "tensor", (long long)key_capacity);
        if (!k_tensor && bk < key_capacity)
            FAIL("params.max_seqlen_k is %d but every sequence has %lld keys (tensors.k)", bk, (long long)key_capacity);
    }
    return KSA_STATUS_SUCCESS;
}

/* Lengths left on the device (lengths_on_device): the backend reads them from the tensors inside
 * the call, so only the shape-level rules can be checked here. */
static ksa_status lengths_from_bounds(ksa_problem *p, int q_tensor, int k_tensor, int64_t key_capacity)
{
    p->lengths_on_device = 1;
    p->seqlen_q = p->seqlen_k = p->q_row0 = p->k_row0 = NULL;
    if (!q_tensor && p->phase == KSA_PHASE_DECODE && p->q.shape[1] != 1)
        FAIL("params.phase is DECODE but tensors.q has %lld queries per sequence (decode takes exactly one)",
             (long long)p->q.shape[1]);
    if (!k_tensor && key_capacity > INT32_MAX) FAIL("tensors.k: %lld keys per sequence is too many", (long long)key_capacity);
    p->max_seqlen_q = q_tensor ? p->seqlen_bound_q : p->q.shape[1];
    p->max_seqlen_k = k_tensor ? p->seqlen_bound_k : key_capacity;
    if (p->max_seqlen_q > p->max_seqlen_k)
        FAIL("%s allows %lld queries per sequence but %s only %lld keys; queries must not outnumber keys (pos = Lk - Lq + i)",
             q_tensor ? "params.max_seqlen_q" : "tensors.q", (long long)p->max_seqlen_q,
             k_tensor ? "params.max_seqlen_k" : "tensors.k", (long long)p->max_seqlen_k);
    p->total_q = q_tensor ? p->q.shape[0] : (int64_t)p->batch * p->q.shape[1];
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_resolve_lengths(ksa_device dev, void *stream, const ksa_attention_tensors *t, ksa_problem *p,
                               ksa_problem_storage *st)
{
    int32_t batch = p->batch;
    /* which lengths come from a tensor (else from a dimension of q or k) */
    const int q_tensor = p->q_ragged, k_tensor = p->kv_layout == KSA_KV_RAGGED || p->seq_lens_k.present;
    const int64_t key_capacity = key_capacity_of(p);
    ksa_status s = check_bounds(p, q_tensor, k_tensor, key_capacity);
    if (s) return s;
    /* every length tensor bounded, on a backend that reads lengths on the device: nothing to read back */
    if ((q_tensor || k_tensor) && dev->backend->device_lengths && !dev->backend->host_memory && !p->validate_indices &&
        (!q_tensor || p->seqlen_bound_q > 0) && (!k_tensor || p->seqlen_bound_k > 0))
        return lengths_from_bounds(p, q_tensor, k_tensor, key_capacity);
    s = storage_reserve(st, batch);
    if (s) return s;
    p->seqlen_q = st->seqlen_q;
    p->seqlen_k = st->seqlen_k;
    p->q_row0 = st->q_row0;
    p->k_row0 = st->k_row0;
    /* queries */
    if (p->q_ragged) {
        s = read_lengths_cu(dev, stream, &p->cu_seqlens_q, batch, p->q.shape[0], st->seqlen_q, st->q_row0,
                            "tensors.cu_seqlens_q", "tensors.q", st);
        if (s) return s;
    } else {
        for (int32_t b = 0; b < batch; b++) {
            st->seqlen_q[b] = (int32_t)p->q.shape[1];
            st->q_row0[b] = 0;
        }
    }
    /* keys */
    if (p->kv_layout == KSA_KV_RAGGED) {
        s = read_lengths_cu(dev, stream, &p->cu_seqlens_k, batch, p->k.shape[0], st->seqlen_k, st->k_row0,
                            "tensors.cu_seqlens_k", "tensors.k", st);
        if (s) return s;
    } else {
        for (int32_t b = 0; b < batch; b++) st->k_row0[b] = 0;
        if (p->seq_lens_k.present) {
            const int32_t *h;
            int32_t *owned;
            s = host_i32(dev, stream, &p->seq_lens_k, &h, &owned, "tensors.seq_lens_k", st);
            if (s) return length_readback_failed(s);
            for (int32_t b = 0; b < batch; b++) {
                int32_t L = h[b * p->seq_lens_k.stride[0]];
                if (L > key_capacity) {
                    free(owned);
                    FAIL("tensors.seq_lens_k[%d] = %d exceeds the %lld keys the K/V %s holds", b, L, (long long)key_capacity,
                         p->kv_layout == KSA_KV_PAGED ? "page table" : "tensor");
                }
                st->seqlen_k[b] = L;
            }
            free(owned);
        } else {
            if (key_capacity > INT32_MAX) FAIL("tensors.k: %lld keys per sequence is too many", (long long)key_capacity);
            for (int32_t b = 0; b < batch; b++) st->seqlen_k[b] = (int32_t)key_capacity;
        }
    }
    /* per-sequence rules */
    int64_t max_lq = 0, max_lk = 0, total_q = 0;
    for (int32_t b = 0; b < batch; b++) {
        int32_t lq = st->seqlen_q[b], lk = st->seqlen_k[b];
        if (lk < 1) FAIL("sequence %d has %d keys; every sequence needs at least one key", b, lk);
        if (lq < 1) FAIL("sequence %d has %d queries; every sequence needs at least one query", b, lq);
        if (lq > lk) FAIL("sequence %d has %d queries but only %d keys; queries must not outnumber keys (pos = Lk - Lq + i)", b, lq, lk);
        if (p->phase == KSA_PHASE_DECODE && lq != 1)
            FAIL("params.phase is DECODE but sequence %d has %d queries (decode takes exactly one)", b, lq);
        if (q_tensor && p->seqlen_bound_q > 0 && lq > p->seqlen_bound_q)
            FAIL("tensors.cu_seqlens_q: sequence %d has %d queries, more than params.max_seqlen_q = %d", b, lq,
                 p->seqlen_bound_q);
        if (k_tensor && p->seqlen_bound_k > 0 && lk > p->seqlen_bound_k)
            FAIL("%s: sequence %d has %d keys, more than params.max_seqlen_k = %d",
                 p->kv_layout == KSA_KV_RAGGED ? "tensors.cu_seqlens_k" : "tensors.seq_lens_k", b, lk, p->seqlen_bound_k);
        if (lq > max_lq) max_lq = lq;
        if (lk > max_lk) max_lk = lk;
        total_q += lq;
    }
    /* given bounds shape the call on every backend alike (workspace, index sets, tuning class) */
    p->max_seqlen_q = q_tensor && p->seqlen_bound_q > 0 ? p->seqlen_bound_q : max_lq;
    p->max_seqlen_k = k_tensor && p->seqlen_bound_k > 0 ? p->seqlen_bound_k : max_lk;
    p->total_q = total_q;

    /* page table entries: always when host-readable, on devices in validation mode */
    if (p->kv_layout == KSA_KV_PAGED && (host_accessible(dev, &t->page_table) || p->validate_indices)) {
        const int32_t *h;
        int32_t *owned;
        s = host_i32(dev, stream, &p->page_table, &h, &owned, "tensors.page_table", NULL);
        if (s) return s;
        for (int32_t b = 0; b < batch; b++) {
            int64_t used = (st->seqlen_k[b] + p->page_size - 1) / p->page_size;
            for (int64_t i = 0; i < used; i++) {
                int32_t pg = h[b * p->page_table.stride[0] + i * p->page_table.stride[1]];
                if (pg < 0 || pg >= p->num_pages) {
                    free(owned);
                    FAIL("tensors.page_table[%d][%lld] = %d is outside the %lld pages of k/v", b, (long long)i, pg,
                         (long long)p->num_pages);
                }
            }
        }
        free(owned);
    }
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- step 5: index geometry */
ksa_status ksa_resolve_index_geometry(ksa_device dev, const ksa_attention_tensors *t, ksa_problem *p)
{
    ksa_status s;
    int decode = p->phase == KSA_PHASE_DECODE;
    int64_t need_tiles = 1;
    if (!decode) {
        need_tiles = 0;
        if (p->lengths_on_device)
            need_tiles = (p->max_seqlen_q + p->topk.tile_size - 1) / p->topk.tile_size;
        else
            for (int32_t b = 0; b < p->batch; b++) {
                int64_t nt = ksa_problem_tiles(p, b);
                if (nt > need_tiles) need_tiles = nt;
            }
    }
    if (p->mode == KSA_MODE_DENSE) {
        p->n_tiles = need_tiles;
        p->k_slots = 0;
        return KSA_STATUS_SUCCESS;
    }
    const ksa_topk_params *k = &p->topk;
    int64_t hkv = p->num_kv_heads;
    if (p->mode == KSA_MODE_ANCHOR && k->top_k > 0 && k->top_k > p->max_seqlen_k)
        FAIL("params.topk.top_k is %d, larger than the longest key sequence (%lld keys)", k->top_k,
             (long long)p->max_seqlen_k);
    int is_out = p->mode == KSA_MODE_ANCHOR;
    if (!ksa_tensor_present(&t->indices))
        FAIL("tensors.indices is absent; %s mode needs the index tensor", is_out ? "ANCHOR" : "REUSE");
    if (!ksa_tensor_present(&t->counts))
        FAIL("tensors.counts is absent; %s mode needs the per-set counts", is_out ? "ANCHOR" : "REUSE");
    s = check_view(dev, &t->indices, "tensors.indices", KSA_DTYPE_I32, decode ? 3 : 4, 0, is_out, 0, 0, &p->indices);
    if (s) return s;
    s = check_view(dev, &t->counts, "tensors.counts", KSA_DTYPE_I32, decode ? 2 : 3, 0, is_out, 0, 0, &p->counts);
    if (s) return s;
    if (p->indices.shape[0] != p->batch || p->indices.shape[1] != hkv)
        FAIL("tensors.indices: leading dimensions are [%lld, %lld], expected [B, Hkv] = [%d, %lld]",
             (long long)p->indices.shape[0], (long long)p->indices.shape[1], p->batch, (long long)hkv);
    if (p->counts.shape[0] != p->batch || p->counts.shape[1] != hkv)
        FAIL("tensors.counts: leading dimensions are [%lld, %lld], expected [B, Hkv] = [%d, %lld]",
             (long long)p->counts.shape[0], (long long)p->counts.shape[1], p->batch, (long long)hkv);
    int64_t tiles = decode ? 1 : p->indices.shape[2];
    int64_t slots = p->indices.shape[decode ? 2 : 3];
    if (!decode) {
        if (tiles < need_tiles)
            FAIL("tensors.indices: has %lld tiles, this call has %lld query tiles of %d", (long long)tiles,
                 (long long)need_tiles, p->topk.tile_size);
        if (p->counts.shape[2] != tiles)
            FAIL("tensors.counts: has %lld tiles, tensors.indices has %lld", (long long)p->counts.shape[2], (long long)tiles);
    }
    /* ANCHOR writes up to this many entries per set and REUSE reads sets an ANCHOR call of the
     * same shapes wrote: a shorter index tensor is refused whatever validate_indices says */
    int64_t need_slots = ksa_index_slots(&p->topk, p->phase, p->max_seqlen_k);
    if (need_slots < 1) need_slots = 1;
    if (slots < need_slots)
        FAIL("tensors.indices: last dimension is %lld but this call selects up to %lld keys per set "
             "(ksa_attention_index_shape gives the sizes)",
             (long long)slots, (long long)need_slots);
    p->n_tiles = tiles;
    p->k_slots = slots;
    p->index_stride[0] = p->indices.stride[0];
    p->index_stride[1] = p->indices.stride[1];
    p->index_stride[2] = decode ? 0 : p->indices.stride[2];
    p->index_stride[3] = p->indices.stride[decode ? 2 : 3];
    p->count_stride[0] = p->counts.stride[0];
    p->count_stride[1] = p->counts.stride[1];
    p->count_stride[2] = decode ? 0 : p->counts.stride[2];
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- step 6: head map */
ksa_status ksa_resolve_head_map(ksa_device dev, void *stream, const ksa_attention_tensors *t, ksa_problem *p,
                                ksa_problem_storage *st)
{
    int64_t hkv = p->num_kv_heads;
    for (int g = 0; g < hkv; g++) st->head_map[g] = g;
    p->head_map = st->head_map;
    if (p->mode != KSA_MODE_REUSE || !ksa_tensor_present(&t->head_map)) return KSA_STATUS_SUCCESS;
    ksa_view hv;
    ksa_status s = check_view(dev, &t->head_map, "tensors.head_map", KSA_DTYPE_I32, 1, 0, 0, 1, 0, &hv);
    if (s) return s;
    if (hv.shape[0] != hkv)
        FAIL("tensors.head_map: has %lld entries, expected one per KV head (%lld)", (long long)hv.shape[0], (long long)hkv);
    const int32_t *h;
    int32_t *owned = NULL;
    if (host_accessible(dev, &t->head_map)) {
        h = (const int32_t *)ksa_mem_addr(hv.mem);
    } else {
        s = host_i32(dev, stream, &hv, &h, &owned, "tensors.head_map", st);
        if (s) return s;
    }
    for (int g = 0; g < hkv; g++) {
        int32_t m = h[g * hv.stride[0]];
        if (m < 0 || m >= hkv) {
            free(owned);
            FAIL("tensors.head_map[%d] = %d is outside 0..%lld", g, m, (long long)hkv - 1);
        }
        st->head_map[g] = m;
    }
    free(owned);
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- step 7: index entries (validate_indices) */
int64_t ksa_index_set_check(const int32_t *set, int64_t stride, int64_t count, int64_t ncand, unsigned char *mark,
                            int keep_marks, int *repeat)
{
    int64_t bad = -1, x = 0;
    *repeat = 0;
    for (; x < count; x++) {
        int32_t j = set[x * stride];
        if (j < 0 || j >= ncand || (mark[j] & 1)) {
            *repeat = j >= 0 && j < ncand;
            bad = x;
            break;
        }
        mark[j] |= 1;
    }
    if (!keep_marks)
        for (int64_t y = 0; y < x; y++) mark[set[y * stride]] &= (unsigned char)~1u;
    return bad;
}

static ksa_status mark_reserve(ksa_problem_storage *st, int64_t n)
{
    if (st->mark_capacity >= n) return KSA_STATUS_SUCCESS;
    unsigned char *m = realloc(st->mark, (size_t)n);
    if (!m) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "out of host memory for %lld index marks", (long long)n);
    memset(m + st->mark_capacity, 0, (size_t)(n - st->mark_capacity));
    st->mark = m;
    st->mark_capacity = n;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_validate_index_entries(ksa_device dev, void *stream, ksa_problem *p, ksa_problem_storage *st)
{
    if (p->mode != KSA_MODE_REUSE || !p->validate_indices) return KSA_STATUS_SUCCESS;
    const int32_t *hi, *hc;
    int32_t *oi, *oc;
    ksa_status s = mark_reserve(st, p->max_seqlen_k);
    if (s) return s;
    s = host_i32(dev, stream, &p->indices, &hi, &oi, "tensors.indices", NULL);
    if (s) return s;
    s = host_i32(dev, stream, &p->counts, &hc, &oc, "tensors.counts", NULL);
    if (s) {
        free(oi);
        return s;
    }
    ksa_status bad = KSA_STATUS_SUCCESS;
    int64_t slots = p->k_slots;
    for (int32_t b = 0; b < p->batch && !bad; b++) {
        int64_t ntb = ksa_problem_tiles(p, b);
        for (int64_t g = 0; g < p->num_kv_heads && !bad; g++)
            for (int64_t tt = 0; tt < ntb && !bad; tt++) {
                int64_t ncand = ksa_problem_candidates(p, b, tt);
                int32_t c = hc[b * p->count_stride[0] + g * p->count_stride[1] + tt * p->count_stride[2]];
                if (c < 0 || c > slots || c > ncand) {
                    bad = ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                                    "tensors.counts[%d][%lld][%lld] = %d is outside 0..%lld (slots %lld, candidates %lld)", b,
                                    (long long)g, (long long)tt, c, (long long)(slots < ncand ? slots : ncand),
                                    (long long)slots, (long long)ncand);
                    break;
                }
                const int32_t *set = hi + b * p->index_stride[0] + g * p->index_stride[1] + tt * p->index_stride[2];
                int repeat;
                int64_t x = ksa_index_set_check(set, p->index_stride[3], c, ncand, st->mark, 0, &repeat);
                if (x < 0) continue;
                int32_t j = set[x * p->index_stride[3]];
                if (repeat)
                    bad = ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                                    "tensors.indices[%d][%lld][%lld][%lld] = %d repeats a key already in that set (b %d, KV "
                                    "head %lld, tile %lld, slot %lld); REUSE sets must hold distinct keys",
                                    b, (long long)g, (long long)tt, (long long)x, j, b, (long long)g, (long long)tt,
                                    (long long)x);
                else
                    bad = ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                                    "tensors.indices[%d][%lld][%lld][%lld] = %d is not a candidate key (0..%lld)", b,
                                    (long long)g, (long long)tt, (long long)x, j, (long long)ncand - 1);
            }
    }
    free(oi);
    free(oc);
    return bad;
}

/* ---------------------------------------------------------------- all steps */
ksa_status ksa_resolve_problem(ksa_device dev, void *stream, const ksa_attention_params *params,
                               const ksa_attention_tensors *t, ksa_problem *p, ksa_problem_storage *st)
{
    ksa_status s;
    memset(p, 0, sizeof *p);
    if (!dev) FAIL("dev is NULL");
    if (!params) FAIL("params is NULL");
    if (!t) FAIL("tensors is NULL");
    if ((s = ksa_resolve_params(params, p))) return s;
    if ((s = ksa_resolve_shapes(dev, t, p))) return s;
    if ((s = ksa_resolve_kv_layout(dev, t, p))) return s;
    if ((s = ksa_resolve_lengths(dev, stream, t, p, st))) return s;
    if ((s = ksa_resolve_index_geometry(dev, t, p))) return s;
    if ((s = ksa_resolve_head_map(dev, stream, t, p, st))) return s;
    return ksa_validate_index_entries(dev, stream, p, st);
}
