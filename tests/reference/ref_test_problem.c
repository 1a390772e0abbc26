/* ref_test_problem.c: builds hand-resolved ksa_problems for the reference tests in every layout
 * (see ref_test_problem.h), poisons and reads back outputs, and restates the budget rules. */
#include "ref_test_problem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksa_half.h"
#include "reference/ksa_reference.h"


#define RT_POISON_INT 0x7e7e7e7e

rt_config rt_config_default(void)
{
    rt_config c;
    memset(&c, 0, sizeof c);
    c.mode = KSA_MODE_DENSE;
    c.phase = KSA_PHASE_PREFILL;
    c.dtype = KSA_DTYPE_F32;
    c.batch = 1;
    c.hq = 2;
    c.hkv = 1;
    c.head_dim = 16;
    for (int b = 0; b < RT_MAX_BATCH; b++) c.lq[b] = c.lk[b] = 40;
    c.topk.fraction = 0.10;
    c.topk.top_k = 0;
    c.topk.min_k = 16;
    c.topk.round_multiple = 1;
    c.topk.tile_size = 16;
    c.topk.rolling = 0;
    c.topk.local_window = 0;
    c.page_size = 16;
    c.layout_seed = 1;
    return c;
}

double rt_round(ksa_dtype dt, double x)
{
    float f = (float)x;
    if (dt == KSA_DTYPE_F16) return ksa_f16_to_f32(ksa_f32_to_f16(f));
    if (dt == KSA_DTYPE_BF16) return ksa_bf16_to_f32(ksa_f32_to_bf16(f));
    return f;
}

static int32_t lq_of(const rt_config *c, int b) { return c->phase == KSA_PHASE_DECODE ? 1 : c->lq[b]; }

rt_data *rt_data_random(const rt_config *c, uint64_t seed, double spread)
{
    rt_data *d = calloc(1, sizeof *d);
    d->batch = c->batch;
    d->hq = c->hq;
    d->hkv = c->hkv;
    d->d = c->head_dim;
    for (int b = 0; b < c->batch; b++) {
        if (lq_of(c, b) > d->max_lq) d->max_lq = lq_of(c, b);
        if (c->lk[b] > d->max_lk) d->max_lk = c->lk[b];
    }
    size_t nq = (size_t)c->batch * d->max_lq * c->hq * c->head_dim;
    size_t nk = (size_t)c->batch * d->max_lk * c->hkv * c->head_dim;
    d->q = malloc(nq * sizeof(double));
    d->k = malloc(nk * sizeof(double));
    d->v = malloc(nk * sizeof(double));
    uint64_t st = seed * 7919 + 17;
    for (size_t x = 0; x < nq; x++) {
        double m = ktest_rand_uniform(&st, 0.05, 1.0) * spread;
        d->q[x] = rt_round(c->dtype, (ktest_rand_u64(&st) & 1) ? m : -m);
    }
    for (size_t x = 0; x < nk; x++) {
        double m = ktest_rand_uniform(&st, 0.05, 1.0);
        d->k[x] = rt_round(c->dtype, (ktest_rand_u64(&st) & 1) ? m : -m);
        m = ktest_rand_uniform(&st, 0.05, 1.0);
        d->v[x] = rt_round(c->dtype, (ktest_rand_u64(&st) & 1) ? m : -m);
    }
    return d;
}

void rt_data_free(rt_data *d)
{
    if (!d) return;
    free(d->q);
    free(d->k);
    free(d->v);
    free(d);
}

double *rt_q(const rt_data *d, int32_t b, int64_t i, int32_t h)
{
    return d->q + (((size_t)b * d->max_lq + i) * d->hq + h) * d->d;
}
double *rt_k(const rt_data *d, int32_t b, int64_t j, int32_t g)
{
    return d->k + (((size_t)b * d->max_lk + j) * d->hkv + g) * d->d;
}
double *rt_v(const rt_data *d, int32_t b, int64_t j, int32_t g)
{
    return d->v + (((size_t)b * d->max_lk + j) * d->hkv + g) * d->d;
}

/* ---------------------------------------------------------------- storage */
static size_t dsize(ksa_dtype dt) { return dt == KSA_DTYPE_F32 || dt == KSA_DTYPE_I32 ? 4 : 2; }

static void store(void *base, ksa_dtype dt, int64_t idx, double x)
{
    if (dt == KSA_DTYPE_F16) ((uint16_t *)base)[idx] = ksa_f32_to_f16((float)x);
    else if (dt == KSA_DTYPE_BF16) ((uint16_t *)base)[idx] = ksa_f32_to_bf16((float)x);
    else ((float *)base)[idx] = (float)x;
}

static double load(const void *base, ksa_dtype dt, int64_t idx)
{
    if (dt == KSA_DTYPE_F16) return ksa_f16_to_f32(((const uint16_t *)base)[idx]);
    if (dt == KSA_DTYPE_BF16) return ksa_bf16_to_f32(((const uint16_t *)base)[idx]);
    return ((const float *)base)[idx];
}

/* Allocate n elements of dtype, every byte 0xff (NaN for all float types). */
static void *alloc_nan(rt_problem *r, int slot, int64_t n, ksa_dtype dt)
{
    size_t bytes = (size_t)(n > 0 ? n : 1) * dsize(dt);
    r->buf[slot] = malloc(bytes);
    r->bytes[slot] = bytes;
    memset(r->buf[slot], 0xff, bytes);
    return r->buf[slot];
}

static void set_view(ksa_view *v, void *ptr, ksa_dtype dt, int ndim, const int64_t *shape, const int64_t *stride)
{
    memset(v, 0, sizeof *v);
    v->present = 1;
    v->dtype = dt;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        v->shape[i] = shape[i];
        v->stride[i] = stride[i];
    }
    v->mem.ptr = ptr;
}

static int64_t kv_elem(const rt_problem *r, const ksa_token_strides *s, int32_t b, int64_t j, int32_t g)
{
    const ksa_problem *p = &r->p;
    if (p->kv_layout == KSA_KV_PAGED) {
        const int32_t *pt = r->buf[RT_BUF_PT];
        int64_t page = pt[b * p->page_table.stride[0] + (j / p->page_size) * p->page_table.stride[1]];
        return page * s->page + (j % p->page_size) * s->token + g * s->head;
    }
    return b * s->batch + (r->k_row0[b] + j) * s->token + g * s->head;
}

static int64_t q_elem(const rt_problem *r, const ksa_token_strides *s, int32_t b, int64_t i, int32_t h)
{
    return b * s->batch + (r->q_row0[b] + i) * s->token + h * s->head;
}

rt_problem *rt_problem_create(const rt_config *c, const rt_data *d)
{
    rt_problem *r = calloc(1, sizeof *r);
    r->cfg = *c;
    ksa_problem *p = &r->p;
    int decode = c->phase == KSA_PHASE_DECODE;
    int32_t B = c->batch, Hq = c->hq, Hkv = c->hkv, D = c->head_dim;
    int pad = c->strided ? 1 : 0;
    p->mode = c->mode;
    p->phase = c->phase;
    p->dtype = c->dtype;
    p->scale = c->scale != 0.0f ? c->scale : (float)(1.0 / sqrt((double)D));
    p->anchor_dense_output = c->anchor_dense_output;
    p->topk = c->topk;
    p->batch = B;
    p->num_q_heads = Hq;
    p->num_kv_heads = Hkv;
    p->group_size = Hq / Hkv;
    p->head_dim = D;
    p->q_ragged = c->q_ragged;
    p->kv_layout = c->kv == RT_KV_PAGED ? KSA_KV_PAGED : c->kv == RT_KV_RAGGED ? KSA_KV_RAGGED : KSA_KV_CONTIGUOUS;

    int64_t total_q = 0, total_k = 0, max_lq = 0, max_lk = 0;
    for (int b = 0; b < B; b++) {
        r->seqlen_q[b] = lq_of(c, b);
        r->seqlen_k[b] = c->lk[b];
        r->q_row0[b] = c->q_ragged ? (int32_t)total_q : 0;
        r->k_row0[b] = c->kv == RT_KV_RAGGED ? (int32_t)total_k : 0;
        total_q += r->seqlen_q[b];
        total_k += r->seqlen_k[b];
        if (r->seqlen_q[b] > max_lq) max_lq = r->seqlen_q[b];
        if (r->seqlen_k[b] > max_lk) max_lk = r->seqlen_k[b];
    }
    p->seqlen_q = r->seqlen_q;
    p->seqlen_k = r->seqlen_k;
    p->q_row0 = r->q_row0;
    p->k_row0 = r->k_row0;
    p->max_seqlen_q = max_lq;
    p->max_seqlen_k = max_lk;
    p->total_q = total_q;

    /* q and o: [B, Lq, Hq, D] or [total_q, Hq, D], with padding when strided */
    ksa_token_strides qs;
    qs.head = D + 3 * pad;
    qs.token = Hq * qs.head + 5 * pad;
    qs.batch = c->q_ragged ? 0 : max_lq * qs.token + 7 * pad;
    qs.page = 0;
    int64_t q_elems = c->q_ragged ? total_q * qs.token : B * qs.batch;
    p->q_strides = p->o_strides = qs;
    void *q = alloc_nan(r, RT_BUF_Q, q_elems, c->dtype);
    alloc_nan(r, RT_BUF_O, q_elems, c->dtype);
    {
        int64_t shape4[4] = {B, max_lq, Hq, D}, stride4[4] = {qs.batch, qs.token, qs.head, 1};
        int64_t shape3[3] = {total_q, Hq, D}, stride3[3] = {qs.token, qs.head, 1};
        if (c->q_ragged) {
            set_view(&p->q, q, c->dtype, 3, shape3, stride3);
            set_view(&p->o, r->buf[RT_BUF_O], c->dtype, 3, shape3, stride3);
        } else {
            set_view(&p->q, q, c->dtype, 4, shape4, stride4);
            set_view(&p->o, r->buf[RT_BUF_O], c->dtype, 4, shape4, stride4);
        }
    }
    for (int b = 0; b < B; b++)
        for (int64_t i = 0; i < r->seqlen_q[b]; i++)
            for (int h = 0; h < Hq; h++)
                for (int x = 0; x < D; x++) store(q, c->dtype, q_elem(r, &qs, b, i, h) + x, rt_q(d, b, i, h)[x]);
    if (c->q_ragged) {
        int32_t *cu = alloc_nan(r, RT_BUF_CUQ, B + 1, KSA_DTYPE_I32);
        for (int b = 0; b < B; b++) cu[b] = r->q_row0[b];
        cu[B] = (int32_t)total_q;
        int64_t sh[1] = {B + 1}, st[1] = {1};
        set_view(&p->cu_seqlens_q, cu, KSA_DTYPE_I32, 1, sh, st);
    }

    /* k and v */
    ksa_token_strides ks;
    memset(&ks, 0, sizeof ks);
    ks.head = D + 2 * pad;
    ks.token = Hkv * ks.head + 3 * pad;
    int64_t kv_elems;
    uint64_t lseed = c->layout_seed * 31 + 5;
    if (c->kv == RT_KV_PAGED) {
        int32_t ps = c->page_size > 0 ? c->page_size : 16;
        int64_t max_pages = (max_lk + ps - 1) / ps;
        int64_t used = 0;
        for (int b = 0; b < B; b++) used += (r->seqlen_k[b] + ps - 1) / ps;
        int64_t npages = used + 3; /* a few pages nobody uses */
        ks.page = ps * ks.token + 11 * pad;
        kv_elems = npages * ks.page;
        /* a random permutation of the pages */
        int32_t *perm = malloc(sizeof(int32_t) * (size_t)npages);
        for (int64_t x = 0; x < npages; x++) perm[x] = (int32_t)x;
        for (int64_t x = npages - 1; x > 0; x--) {
            int64_t y = (int64_t)(ktest_rand_u64(&lseed) % (uint64_t)(x + 1));
            int32_t t = perm[x];
            perm[x] = perm[y];
            perm[y] = t;
        }
        /* row-major, or column-major with a padded column stride when strided */
        int64_t pt_stride0 = pad ? 1 : max_pages, pt_stride1 = pad ? B + 1 : 1;
        int64_t pt_elems = B * max_pages + (pad ? max_pages : 0);
        int32_t *pt = alloc_nan(r, RT_BUF_PT, pt_elems, KSA_DTYPE_I32);
        for (int64_t x = 0; x < pt_elems; x++) pt[x] = perm[npages - 1]; /* valid, never used */
        int64_t next = 0;
        for (int b = 0; b < B; b++)
            for (int64_t x = 0; x < (r->seqlen_k[b] + ps - 1) / ps; x++) pt[b * pt_stride0 + x * pt_stride1] = perm[next++];
        free(perm);
        int64_t sh[2] = {B, max_pages}, st[2] = {pt_stride0, pt_stride1};
        set_view(&p->page_table, pt, KSA_DTYPE_I32, 2, sh, st);
        p->page_size = ps;
        p->num_pages = npages;
        p->max_pages_per_seq = max_pages;
    } else if (c->kv == RT_KV_RAGGED) {
        kv_elems = total_k * ks.token;
        int32_t *cu = alloc_nan(r, RT_BUF_CUK, B + 1, KSA_DTYPE_I32);
        for (int b = 0; b < B; b++) cu[b] = r->k_row0[b];
        cu[B] = (int32_t)total_k;
        int64_t sh[1] = {B + 1}, st[1] = {1};
        set_view(&p->cu_seqlens_k, cu, KSA_DTYPE_I32, 1, sh, st);
    } else {
        ks.batch = max_lk * ks.token + 13 * pad;
        kv_elems = B * ks.batch;
    }
    if (c->kv != RT_KV_RAGGED) {
        int32_t *sl = alloc_nan(r, RT_BUF_SLK, B, KSA_DTYPE_I32);
        for (int b = 0; b < B; b++) sl[b] = r->seqlen_k[b];
        int64_t sh[1] = {B}, st[1] = {1};
        set_view(&p->seq_lens_k, sl, KSA_DTYPE_I32, 1, sh, st);
    }
    p->k_strides = p->v_strides = ks;
    void *k = alloc_nan(r, RT_BUF_K, kv_elems, c->dtype), *v = alloc_nan(r, RT_BUF_V, kv_elems, c->dtype);
    for (int b = 0; b < B; b++)
        for (int64_t j = 0; j < r->seqlen_k[b]; j++)
            for (int g = 0; g < Hkv; g++) {
                int64_t e = kv_elem(r, &ks, b, j, g);
                for (int x = 0; x < D; x++) {
                    store(k, c->dtype, e + x, rt_k(d, b, j, g)[x]);
                    store(v, c->dtype, e + x, rt_v(d, b, j, g)[x]);
                }
            }
    {
        int64_t sh[4] = {kv_elems, 1, 1, 1}, st[4] = {1, 1, 1, 1};
        set_view(&p->k, k, c->dtype, 1, sh, st);
        set_view(&p->v, v, c->dtype, 1, sh, st);
    }

    /* lse: [B, Hq, Lq] or ragged [Hq, total_q] */
    if (c->with_lse) {
        p->lse_stride_i = 1 + pad;
        if (c->q_ragged) {
            p->lse_stride_b = 0;
            p->lse_stride_h = total_q * p->lse_stride_i + 3 * pad;
            alloc_nan(r, RT_BUF_LSE, Hq * p->lse_stride_h, KSA_DTYPE_F32);
            int64_t sh[2] = {Hq, total_q}, st[2] = {p->lse_stride_h, p->lse_stride_i};
            set_view(&p->lse, r->buf[RT_BUF_LSE], KSA_DTYPE_F32, 2, sh, st);
        } else {
            p->lse_stride_h = max_lq * p->lse_stride_i + 3 * pad;
            p->lse_stride_b = Hq * p->lse_stride_h + 5 * pad;
            alloc_nan(r, RT_BUF_LSE, B * p->lse_stride_b, KSA_DTYPE_F32);
            int64_t sh[3] = {B, Hq, max_lq}, st[3] = {p->lse_stride_b, p->lse_stride_h, p->lse_stride_i};
            set_view(&p->lse, r->buf[RT_BUF_LSE], KSA_DTYPE_F32, 3, sh, st);
        }
    }

    /* indices and counts */
    if (c->mode != KSA_MODE_DENSE) {
        int64_t T = c->topk.tile_size;
        p->n_tiles = decode ? 1 : (max_lq + T - 1) / T;
        p->k_slots = ksa_index_slots(&c->topk, c->phase, max_lk);
        p->index_stride[3] = 1 + pad;
        p->index_stride[2] = p->k_slots * p->index_stride[3] + pad;
        p->index_stride[1] = p->n_tiles * p->index_stride[2] + 2 * pad;
        p->index_stride[0] = Hkv * p->index_stride[1] + 3 * pad;
        p->count_stride[2] = 1 + pad;
        p->count_stride[1] = p->n_tiles * p->count_stride[2] + pad;
        p->count_stride[0] = Hkv * p->count_stride[1] + 2 * pad;
        int32_t *ix = alloc_nan(r, RT_BUF_IDX, B * p->index_stride[0], KSA_DTYPE_I32);
        int32_t *ct = alloc_nan(r, RT_BUF_CNT, B * p->count_stride[0], KSA_DTYPE_I32);
        int64_t sh[4] = {B, Hkv, p->n_tiles, p->k_slots};
        set_view(&p->indices, ix, KSA_DTYPE_I32, 4, sh, p->index_stride);
        set_view(&p->counts, ct, KSA_DTYPE_I32, 3, sh, p->count_stride);
        for (int64_t x = 0; x < B * p->index_stride[0]; x++) ix[x] = RT_POISON_INT;
        for (int64_t x = 0; x < B * p->count_stride[0]; x++) ct[x] = RT_POISON_INT;
    }
    for (int g = 0; g < Hkv; g++) r->head_map[g] = (c->mode == KSA_MODE_REUSE && c->head_map) ? c->head_map[g] : g;
    p->head_map = r->head_map;
    return r;
}

void rt_problem_free(rt_problem *r)
{
    if (!r) return;
    for (int i = 0; i < RT_BUF_COUNT; i++) free(r->buf[i]);
    free(r);
}

void rt_problem_poison(rt_problem *r)
{
    memset(r->buf[RT_BUF_O], 0xff, r->bytes[RT_BUF_O]);
    if (r->buf[RT_BUF_LSE]) memset(r->buf[RT_BUF_LSE], 0xff, r->bytes[RT_BUF_LSE]);
    if (r->cfg.mode == KSA_MODE_ANCHOR) {
        int32_t *ix = r->buf[RT_BUF_IDX], *ct = r->buf[RT_BUF_CNT];
        for (size_t x = 0; x < r->bytes[RT_BUF_IDX] / 4; x++) ix[x] = RT_POISON_INT;
        for (size_t x = 0; x < r->bytes[RT_BUF_CNT] / 4; x++) ct[x] = RT_POISON_INT;
    }
}

ksa_status rt_run(rt_problem *r) { return ksa_reference_attention(&r->p); }

int64_t rt_lq(const rt_problem *r, int32_t b) { return r->seqlen_q[b]; }

double rt_o(const rt_problem *r, int32_t b, int64_t i, int32_t h, int32_t d)
{
    return load(r->buf[RT_BUF_O], r->cfg.dtype, q_elem(r, &r->p.o_strides, b, i, h) + d);
}

double rt_lse(const rt_problem *r, int32_t b, int32_t h, int64_t i)
{
    const float *l = r->buf[RT_BUF_LSE];
    return l[b * r->p.lse_stride_b + h * r->p.lse_stride_h + (r->q_row0[b] + i) * r->p.lse_stride_i];
}

static int64_t cnt_at(const rt_problem *r, int32_t b, int32_t g, int64_t t)
{
    return b * r->p.count_stride[0] + g * r->p.count_stride[1] + t * r->p.count_stride[2];
}
static int64_t idx_at(const rt_problem *r, int32_t b, int32_t g, int64_t t, int64_t s)
{
    return b * r->p.index_stride[0] + g * r->p.index_stride[1] + t * r->p.index_stride[2] + s * r->p.index_stride[3];
}
int32_t rt_count(const rt_problem *r, int32_t b, int32_t g, int64_t t) { return ((int32_t *)r->buf[RT_BUF_CNT])[cnt_at(r, b, g, t)]; }
int32_t rt_index(const rt_problem *r, int32_t b, int32_t g, int64_t t, int64_t s)
{
    return ((int32_t *)r->buf[RT_BUF_IDX])[idx_at(r, b, g, t, s)];
}
void rt_set_count(rt_problem *r, int32_t b, int32_t g, int64_t t, int32_t v) { ((int32_t *)r->buf[RT_BUF_CNT])[cnt_at(r, b, g, t)] = v; }
void rt_set_index(rt_problem *r, int32_t b, int32_t g, int64_t t, int64_t s, int32_t v)
{
    ((int32_t *)r->buf[RT_BUF_IDX])[idx_at(r, b, g, t, s)] = v;
}

void rt_copy_sets(rt_problem *dst, const rt_problem *src)
{
    for (int32_t b = 0; b < src->p.batch; b++)
        for (int32_t g = 0; g < src->p.num_kv_heads; g++)
            for (int64_t t = 0; t < src->p.n_tiles; t++) {
                rt_set_count(dst, b, g, t, rt_count(src, b, g, t));
                for (int64_t s = 0; s < src->p.k_slots; s++) rt_set_index(dst, b, g, t, s, rt_index(src, b, g, t, s));
            }
}

void rt_fill_random_sets(rt_problem *r, uint64_t seed)
{
    const ksa_problem *p = &r->p;
    uint64_t st = seed * 104729 + 3;
    int32_t *pool = malloc(sizeof(int32_t) * (size_t)(p->max_seqlen_k > 0 ? p->max_seqlen_k : 1));
    for (int32_t b = 0; b < p->batch; b++)
        for (int32_t g = 0; g < p->num_kv_heads; g++)
            for (int64_t t = 0; t < p->n_tiles; t++) {
                int64_t lq = r->seqlen_q[b], lk = r->seqlen_k[b], T = p->topk.tile_size;
                int decode = p->phase == KSA_PHASE_DECODE;
                int64_t tiles = decode ? 1 : (lq + T - 1) / T;
                int64_t ncand = t >= tiles ? 0 : decode ? lk : lk - lq + t * T;
                int64_t most = ncand < p->k_slots ? ncand : p->k_slots;
                int64_t n = most > 0 ? (int64_t)(ktest_rand_u64(&st) % (uint64_t)(most + 1)) : 0;
                for (int64_t j = 0; j < ncand; j++) pool[j] = (int32_t)j;
                for (int64_t x = 0; x < n; x++) { /* partial Fisher-Yates: random order, distinct */
                    int64_t y = x + (int64_t)(ktest_rand_u64(&st) % (uint64_t)(ncand - x));
                    int32_t tmp = pool[x];
                    pool[x] = pool[y];
                    pool[y] = tmp;
                }
                rt_set_count(r, b, g, t, (int32_t)n);
                for (int64_t s = 0; s < p->k_slots; s++) rt_set_index(r, b, g, t, s, s < n ? pool[s] : -1);
            }
    free(pool);
}

int rt_check_written(const rt_problem *r, char *msg, size_t len)
{
    const ksa_problem *p = &r->p;
    for (int32_t b = 0; b < p->batch; b++)
        for (int64_t i = 0; i < r->seqlen_q[b]; i++)
            for (int32_t h = 0; h < p->num_q_heads; h++) {
                for (int32_t d = 0; d < p->head_dim; d++)
                    if (!isfinite(rt_o(r, b, i, h, d))) {
                        snprintf(msg, len, "o[b=%d, i=%lld, h=%d, d=%d] not written (%g)", b, (long long)i, h, d,
                                 rt_o(r, b, i, h, d));
                        return 1;
                    }
                /* lse may be -inf only for an empty decode REUSE set; NaN means unwritten */
                if (p->lse.present && isnan(rt_lse(r, b, h, i))) {
                    snprintf(msg, len, "lse[b=%d, h=%d, i=%lld] not written", b, h, (long long)i);
                    return 1;
                }
            }
    if (p->mode == KSA_MODE_ANCHOR)
        for (int32_t b = 0; b < p->batch; b++)
            for (int32_t g = 0; g < p->num_kv_heads; g++)
                for (int64_t t = 0; t < p->n_tiles; t++) {
                    if (rt_count(r, b, g, t) == RT_POISON_INT) {
                        snprintf(msg, len, "counts[b=%d, g=%d, t=%lld] not written", b, g, (long long)t);
                        return 1;
                    }
                    for (int64_t s = 0; s < p->k_slots; s++)
                        if (rt_index(r, b, g, t, s) == RT_POISON_INT) {
                            snprintf(msg, len, "indices[b=%d, g=%d, t=%lld, s=%lld] not written", b, g, (long long)t,
                                     (long long)s);
                            return 1;
                        }
                }
    return 0;
}

double rt_max_diff(const rt_problem *a, const rt_problem *b)
{
    double worst = 0;
    const ksa_problem *p = &a->p;
    for (int32_t s = 0; s < p->batch; s++)
        for (int64_t i = 0; i < a->seqlen_q[s]; i++)
            for (int32_t h = 0; h < p->num_q_heads; h++) {
                for (int32_t d = 0; d < p->head_dim; d++) {
                    double x = fabs(rt_o(a, s, i, h, d) - rt_o(b, s, i, h, d));
                    if (!(x <= worst)) worst = x; /* NaN propagates */
                }
                if (p->lse.present && b->p.lse.present) {
                    double la = rt_lse(a, s, h, i), lb = rt_lse(b, s, h, i);
                    double x = (la == lb) ? 0.0 : fabs(la - lb);
                    if (!(x <= worst)) worst = x;
                }
            }
    if (p->mode == KSA_MODE_ANCHOR && b->p.mode == KSA_MODE_ANCHOR)
        for (int32_t s = 0; s < p->batch; s++)
            for (int32_t g = 0; g < p->num_kv_heads; g++)
                for (int64_t t = 0; t < p->n_tiles; t++) {
                    if (rt_count(a, s, g, t) != rt_count(b, s, g, t)) return INFINITY;
                    for (int64_t x = 0; x < p->k_slots; x++)
                        if (rt_index(a, s, g, t, x) != rt_index(b, s, g, t, x)) return INFINITY;
                }
    return worst;
}

/* ---------------------------------------------------------------- budget, restated */
int64_t rt_k_of(const ksa_topk_params *t, int64_t L)
{
    int64_t k;
    if (t->top_k > 0) {
        k = t->top_k;
    } else {
        k = (int64_t)floor(t->fraction * (double)L);
        if (k < t->min_k) k = t->min_k;
        int64_t m = t->round_multiple < 1 ? 1 : t->round_multiple;
        if (k % m) k += m - k % m;
    }
    return k > L ? L : k;
}

int64_t rt_tile_count(const ksa_topk_params *t, int64_t lq, int64_t lk, int64_t tile)
{
    int64_t candidates = lk - lq + tile * t->tile_size;
    int64_t sel = rt_k_of(t, lk) - t->tile_size; /* the tile counts toward k */
    if (t->rolling && t->top_k <= 0) {
        /* the rolling budget caps the selection itself */
        int64_t r = (int64_t)floor(t->fraction * (double)candidates);
        if (r < t->min_k) r = t->min_k;
        int64_t m = t->round_multiple < 1 ? 1 : t->round_multiple;
        if (r % m) r += m - r % m;
        if (r < sel) sel = r;
    }
    if (sel < 0) sel = 0;
    if (sel > candidates) sel = candidates;
    return sel;
}
