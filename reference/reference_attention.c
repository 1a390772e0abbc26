/* reference_attention.c: the attention op family of the reference backend (DENSE, ANCHOR, REUSE
 * for prefill, chunked prefill and decode), scalar C with float64 accumulation, exactly as
 * docs/SEMANTICS.md states it. Per (sequence, KV head) the keys and values are loaded once as
 * float64; every query then runs one routine, a softmax over an explicit ascending key list. Dense
 * rows use all visible keys, sparse rows the selected set plus the tile's own visible keys. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksa_half.h"
#include "ksa_internal.h"
#include "reference/ksa_reference.h"

/* A candidate key and its pooled score, for the Top-k order. */
typedef struct ref_scored_key {
    double score;
    int64_t key;
} ref_scored_key;

/* Scratch carved from the workspace (sizes in elements; L = max Lk, D = head dim). */
typedef struct ref_scratch {
    double *kbuf;          /* [D, L] keys of the current (sequence, KV head), transposed */
    int64_t kstride;       /* L: distance between dims d and d + 1 in kbuf */
    double *vbuf;          /* [L, D] values */
    double *qrow;          /* [D] current query */
    double *acc;           /* [D] current output row */
    double *prob;          /* [L] scores, then probabilities, aligned with the key list */
    double *pooled;        /* [L] pooled probabilities of one tile */
    ref_scored_key *order; /* [L] candidates ranked for Top-k */
    int32_t *keys;         /* [L] key list of one query */
    int32_t *set;          /* [L] selected (ANCHOR) or given (REUSE) keys, ascending */
    unsigned char *mark;   /* [L] membership flags */
} ref_scratch;

#define REF_ALIGN 64

static size_t carve(size_t *offset, size_t bytes)
{
    size_t at = (*offset + REF_ALIGN - 1) / REF_ALIGN * REF_ALIGN;
    *offset = at + bytes;
    return at;
}

/* One layout function for both the size query and the carving, so they cannot disagree. */
static size_t layout_scratch(const ksa_problem *p, char *base, ref_scratch *s)
{
    size_t L = (size_t)(p->max_seqlen_k > 0 ? p->max_seqlen_k : 1);
    size_t D = (size_t)(p->head_dim > 0 ? p->head_dim : 1);
    size_t off = 0;
    size_t o_k = carve(&off, L * D * sizeof(double));
    size_t o_v = carve(&off, L * D * sizeof(double));
    size_t o_q = carve(&off, D * sizeof(double));
    size_t o_acc = carve(&off, D * sizeof(double));
    size_t o_prob = carve(&off, L * sizeof(double));
    size_t o_pool = carve(&off, L * sizeof(double));
    size_t o_order = carve(&off, L * sizeof(ref_scored_key));
    size_t o_keys = carve(&off, L * sizeof(int32_t));
    size_t o_set = carve(&off, L * sizeof(int32_t));
    size_t o_mark = carve(&off, L);
    size_t total = carve(&off, 0) + REF_ALIGN; /* slack for aligning the base pointer */
    if (base && s) {
        base = (char *)(((uintptr_t)base + REF_ALIGN - 1) / REF_ALIGN * REF_ALIGN);
        s->kbuf = (double *)(void *)(base + o_k);
        s->kstride = (int64_t)L;
        s->vbuf = (double *)(void *)(base + o_v);
        s->qrow = (double *)(void *)(base + o_q);
        s->acc = (double *)(void *)(base + o_acc);
        s->prob = (double *)(void *)(base + o_prob);
        s->pooled = (double *)(void *)(base + o_pool);
        s->order = (ref_scored_key *)(void *)(base + o_order);
        s->keys = (int32_t *)(void *)(base + o_keys);
        s->set = (int32_t *)(void *)(base + o_set);
        s->mark = (unsigned char *)(base + o_mark);
    }
    return total;
}

size_t ksa_reference_workspace_bytes(const ksa_problem *p) { return layout_scratch(p, NULL, NULL); }

/* ---------------------------------------------------------------- element access */
static double load_elem(const void *base, ksa_dtype dt, int64_t idx)
{
    switch (dt) {
    case KSA_DTYPE_F16: return (double)ksa_f16_to_f32(((const uint16_t *)base)[idx]);
    case KSA_DTYPE_BF16: return (double)ksa_bf16_to_f32(((const uint16_t *)base)[idx]);
    default: return (double)((const float *)base)[idx];
    }
}

static void store_elem(void *base, ksa_dtype dt, int64_t idx, double x)
{
    float f = (float)x;
    switch (dt) {
    case KSA_DTYPE_F16: ((uint16_t *)base)[idx] = ksa_f32_to_f16(f); break;
    case KSA_DTYPE_BF16: ((uint16_t *)base)[idx] = ksa_f32_to_bf16(f); break;
    default: ((float *)base)[idx] = f; break;
    }
}

/* Element offset of (b, query row i, head h, d = 0) in q or o. */
static int64_t q_offset(const ksa_problem *p, const ksa_token_strides *st, int32_t b, int64_t i, int32_t h)
{
    return (int64_t)b * st->batch + ((int64_t)p->q_row0[b] + i) * st->token + (int64_t)h * st->head;
}

/* Element offset of (b, key j, KV head g, d = 0) in k or v, for every layout. */
static int64_t kv_offset(const ksa_problem *p, const ksa_token_strides *st, int32_t b, int64_t j, int32_t g)
{
    if (p->kv_layout == KSA_KV_PAGED) {
        const int32_t *table = (const int32_t *)ksa_mem_addr(p->page_table.mem);
        int64_t page = table[(int64_t)b * p->page_table.stride[0] + (j / p->page_size) * p->page_table.stride[1]];
        return page * st->page + (j % p->page_size) * st->token + (int64_t)g * st->head;
    }
    return (int64_t)b * st->batch + ((int64_t)p->k_row0[b] + j) * st->token + (int64_t)g * st->head;
}

static int64_t index_offset(const ksa_problem *p, int32_t b, int32_t g, int64_t t, int64_t slot)
{
    return (int64_t)b * p->index_stride[0] + (int64_t)g * p->index_stride[1] + t * p->index_stride[2] +
           slot * p->index_stride[3];
}

static int64_t count_offset(const ksa_problem *p, int32_t b, int32_t g, int64_t t)
{
    return (int64_t)b * p->count_stride[0] + (int64_t)g * p->count_stride[1] + t * p->count_stride[2];
}

/* Keys and values 0..lk-1 of (b, g) into s->kbuf (transposed) / s->vbuf as float64. */
static void load_kv(const ksa_problem *p, ref_scratch *s, int32_t b, int32_t g, int64_t lk)
{
    const void *k = ksa_mem_addr(p->k.mem), *v = ksa_mem_addr(p->v.mem);
    int32_t D = p->head_dim;
    for (int64_t j = 0; j < lk; j++) {
        int64_t ko = kv_offset(p, &p->k_strides, b, j, g), vo = kv_offset(p, &p->v_strides, b, j, g);
        for (int32_t d = 0; d < D; d++) {
            s->kbuf[d * s->kstride + j] = load_elem(k, p->dtype, ko + d);
            s->vbuf[j * D + d] = load_elem(v, p->dtype, vo + d);
        }
    }
}

static void load_q(const ksa_problem *p, ref_scratch *s, int32_t b, int64_t i, int32_t h)
{
    const void *q = ksa_mem_addr(p->q.mem);
    int64_t off = q_offset(p, &p->q_strides, b, i, h);
    for (int32_t d = 0; d < p->head_dim; d++) s->qrow[d] = load_elem(q, p->dtype, off + d);
}

/* Write s->acc to o(b, i, h) and `lse` to lse(b, h, i) when lse is requested. */
static void store_row(const ksa_problem *p, const ref_scratch *s, int32_t b, int64_t i, int32_t h, double lse)
{
    void *o = ksa_mem_addr(p->o.mem);
    int64_t off = q_offset(p, &p->o_strides, b, i, h);
    for (int32_t d = 0; d < p->head_dim; d++) store_elem(o, p->dtype, off + d, s->acc[d]);
    if (p->lse.present) {
        float *l = (float *)ksa_mem_addr(p->lse.mem);
        int64_t row = (int64_t)p->q_row0[b] + i; /* q_row0 is 0 unless q is ragged */
        l[(int64_t)b * p->lse_stride_b + (int64_t)h * p->lse_stride_h + row * p->lse_stride_i] = (float)lse;
    }
}

/* ---------------------------------------------------------------- the one softmax routine */
/* Softmax attention of s->qrow over keys[0..n) of the loaded (sequence, KV head). Leaves the
 * probabilities in s->prob[0..n) and the output row in s->acc; returns the log-sum-exp of the
 * scaled scores (-inf, with a zero output, when n == 0). Non-finite inputs follow IEEE arithmetic
 * as written (docs/SEMANTICS.md): a NaN score, a +inf score, or only -inf scores make the whole row
 * and its lse NaN; a -inf score among finite ones gets probability 0. */
static double attend(const ksa_problem *p, ref_scratch *s, double scale, const int32_t *keys, int64_t n)
{
    int32_t D = p->head_dim;
    for (int32_t d = 0; d < D; d++) s->acc[d] = 0.0;
    if (n == 0) return -INFINITY;
    /* scores: q . k_j summed over d in order, for all listed keys at once (K is transposed, so
     * the inner loop runs over keys; a contiguous key range reads K rows directly) */
    for (int64_t x = 0; x < n; x++) s->prob[x] = 0.0;
    int contiguous = keys[n - 1] - keys[0] == n - 1; /* keys are ascending and distinct */
    int32_t d = 0;
    /* four dims per pass over the row, added one after another exactly as in the loop below */
    for (; d + 4 <= D; d += 4) {
        const double q0 = s->qrow[d], q1 = s->qrow[d + 1], q2 = s->qrow[d + 2], q3 = s->qrow[d + 3];
        const double *k0 = s->kbuf + d * s->kstride, *k1 = k0 + s->kstride, *k2 = k1 + s->kstride, *k3 = k2 + s->kstride;
        if (contiguous) {
            int64_t j0 = keys[0];
            for (int64_t x = 0; x < n; x++) {
                double a = s->prob[x];
                a += q0 * k0[j0 + x];
                a += q1 * k1[j0 + x];
                a += q2 * k2[j0 + x];
                a += q3 * k3[j0 + x];
                s->prob[x] = a;
            }
        } else {
            for (int64_t x = 0; x < n; x++) {
                int64_t j = keys[x];
                double a = s->prob[x];
                a += q0 * k0[j];
                a += q1 * k1[j];
                a += q2 * k2[j];
                a += q3 * k3[j];
                s->prob[x] = a;
            }
        }
    }
    for (; d < D; d++) {
        double qd = s->qrow[d];
        const double *kd = s->kbuf + d * s->kstride;
        for (int64_t x = 0; x < n; x++) s->prob[x] += qd * kd[keys[x]];
    }
    double mx = -INFINITY;
    for (int64_t x = 0; x < n; x++) {
        s->prob[x] *= scale;
        if (s->prob[x] > mx) mx = s->prob[x];
    }
    double sum = 0.0;
    for (int64_t x = 0; x < n; x++) {
        s->prob[x] = exp(s->prob[x] - mx);
        sum += s->prob[x];
    }
    /* o = sum over the list of w_x v_keys[x], keys added in list order (four per pass over o) */
    int64_t x = 0;
    for (; x + 4 <= n; x += 4) {
        const double w0 = s->prob[x], w1 = s->prob[x + 1], w2 = s->prob[x + 2], w3 = s->prob[x + 3];
        const double *v0 = s->vbuf + (int64_t)keys[x] * D, *v1 = s->vbuf + (int64_t)keys[x + 1] * D,
                     *v2 = s->vbuf + (int64_t)keys[x + 2] * D, *v3 = s->vbuf + (int64_t)keys[x + 3] * D;
        for (int32_t e = 0; e < D; e++) {
            double a = s->acc[e];
            a += w0 * v0[e];
            a += w1 * v1[e];
            a += w2 * v2[e];
            a += w3 * v3[e];
            s->acc[e] = a;
        }
    }
    for (; x < n; x++) {
        const double w = s->prob[x], *vr = s->vbuf + (int64_t)keys[x] * D;
        for (int32_t e = 0; e < D; e++) s->acc[e] += w * vr[e];
    }
    for (int32_t e = 0; e < D; e++) s->acc[e] /= sum;
    for (int64_t y = 0; y < n; y++) s->prob[y] /= sum;
    return mx + log(sum);
}

/* ---------------------------------------------------------------- Top-k */
/* a ranks before b: larger pooled score first, the smaller key on equal scores; a NaN score ranks
 * above every number (as torch.topk orders it) and NaNs tie among themselves (docs/SEMANTICS.md). */
static int ranks_before(const ref_scored_key *a, const ref_scored_key *b)
{
    int a_nan = isnan(a->score), b_nan = isnan(b->score);
    if (a_nan != b_nan) return a_nan;
    if (!a_nan && a->score != b->score) return a->score > b->score;
    return a->key < b->key;
}

static void sift_down(ref_scored_key *a, int64_t root, int64_t n)
{
    for (;;) {
        int64_t child = 2 * root + 1;
        if (child >= n) return;
        /* heap on "ranks after": the root is the worst-ranked element */
        if (child + 1 < n && ranks_before(&a[child], &a[child + 1])) child++;
        if (!ranks_before(&a[root], &a[child])) return;
        ref_scored_key tmp = a[root];
        a[root] = a[child];
        a[child] = tmp;
        root = child;
    }
}

/* Heapsort of a[0..n) into rank order (best first); in place, no allocation. */
static void rank_sort(ref_scored_key *a, int64_t n)
{
    for (int64_t i = n / 2 - 1; i >= 0; i--) sift_down(a, i, n);
    for (int64_t end = n - 1; end > 0; end--) {
        ref_scored_key tmp = a[0];
        a[0] = a[end];
        a[end] = tmp;
        sift_down(a, 0, end);
    }
}

/* The `count` best candidates 0..ncand-1 by s->pooled into s->set in ascending key order. */
static void select_top(ref_scratch *s, int64_t ncand, int64_t count)
{
    for (int64_t j = 0; j < ncand; j++) {
        s->order[j].score = s->pooled[j];
        s->order[j].key = j;
    }
    rank_sort(s->order, ncand);
    for (int64_t j = 0; j < ncand; j++) s->mark[j] = 0;
    for (int64_t x = 0; x < count; x++) s->mark[s->order[x].key] = 1;
    int64_t n = 0;
    for (int64_t j = 0; j < ncand; j++)
        if (s->mark[j]) s->set[n++] = (int32_t)j;
}

/* ---------------------------------------------------------------- per (sequence, KV head) */
typedef struct ref_seq {
    int32_t b, g;
    int64_t lq, lk; /* decode: lq = 1 */
    int decode;
    double scale;
} ref_seq;

static int64_t tiles_of(const ksa_problem *p, const ref_seq *q)
{
    if (q->decode) return 1;
    int64_t T = p->topk.tile_size;
    return (q->lq + T - 1) / T;
}

/* Queries [*i0, *i1) of tile t and its candidate bound: keys j < start are candidates, keys
 * start..pos(i) the tile's own (decode: start = Lk, no own keys). */
static void tile_bounds(const ksa_problem *p, const ref_seq *q, int64_t t, int64_t *i0, int64_t *i1, int64_t *start)
{
    if (q->decode) {
        *i0 = 0;
        *i1 = 1;
        *start = q->lk;
        return;
    }
    int64_t T = p->topk.tile_size;
    *i0 = t * T;
    *i1 = *i0 + T < q->lq ? *i0 + T : q->lq;
    *start = q->lk - q->lq + *i0;
}

static int64_t pos_of(const ref_seq *q, int64_t i) { return q->lk - q->lq + i; }

/* Dense row of query i of head h (keys 0..pos(i)); s->keys must hold the identity list. */
static double dense_row(const ksa_problem *p, ref_scratch *s, const ref_seq *q, int32_t h, int64_t i)
{
    load_q(p, s, q->b, i, h);
    return attend(p, s, q->scale, s->keys, pos_of(q, i) + 1);
}

/* Sparse row: s->set[0..nset) plus the own keys start..pos(i). Uses s->keys as the list. */
static double sparse_row(const ksa_problem *p, ref_scratch *s, const ref_seq *q, int32_t h, int64_t i, int64_t nset,
                         int64_t start)
{
    int64_t n = 0;
    for (int64_t x = 0; x < nset; x++) s->keys[n++] = s->set[x];
    for (int64_t j = start; j <= pos_of(q, i); j++) s->keys[n++] = (int32_t)j;
    load_q(p, s, q->b, i, h);
    return attend(p, s, q->scale, s->keys, n);
}

static void fill_identity(ref_scratch *s, int64_t lk)
{
    for (int64_t j = 0; j < lk; j++) s->keys[j] = (int32_t)j;
}

/* Pooled probabilities S[j], j < start, of tile t over the G heads of group g and the tile's
 * queries, into s->pooled. With `write_dense` the dense rows are also written to o / lse. */
static void pool_tile(const ksa_problem *p, ref_scratch *s, const ref_seq *q, int64_t t, int write_dense)
{
    int64_t i0, i1, start;
    tile_bounds(p, q, t, &i0, &i1, &start);
    for (int64_t j = 0; j < start; j++) s->pooled[j] = 0.0;
    for (int32_t h = q->g * p->group_size; h < (q->g + 1) * p->group_size; h++)
        for (int64_t i = i0; i < i1; i++) {
            fill_identity(s, q->lk);
            double lse = dense_row(p, s, q, h, i);
            for (int64_t j = 0; j < start && j <= pos_of(q, i); j++) s->pooled[j] += s->prob[j];
            if (write_dense) store_row(p, s, q->b, i, h, lse);
        }
}

static void run_dense(const ksa_problem *p, ref_scratch *s, const ref_seq *q)
{
    for (int32_t h = q->g * p->group_size; h < (q->g + 1) * p->group_size; h++)
        for (int64_t i = 0; i < q->lq; i++) {
            fill_identity(s, q->lk);
            store_row(p, s, q->b, i, h, dense_row(p, s, q, h, i));
        }
}

static ksa_status run_anchor(const ksa_problem *p, ref_scratch *s, const ref_seq *q)
{
    int32_t *idx = (int32_t *)ksa_mem_addr(p->indices.mem);
    int32_t *cnt = (int32_t *)ksa_mem_addr(p->counts.mem);
    int64_t ntiles = tiles_of(p, q);
    int64_t all_tiles = q->decode ? 1 : p->n_tiles;
    for (int64_t t = 0; t < all_tiles; t++) {
        int64_t count = 0;
        if (t < ntiles) {
            int64_t i0, i1, start;
            tile_bounds(p, q, t, &i0, &i1, &start);
            count = q->decode ? ksa_decode_count(&p->topk, q->lk) : ksa_prefill_tile_count(&p->topk, q->lq, q->lk, t);
            if (count > p->k_slots)
                return ksa_error(KSA_STATUS_INTERNAL,
                                 "reference: tile %lld of sequence %d selects %lld keys but the index tensor has %lld slots",
                                 (long long)t, q->b, (long long)count, (long long)p->k_slots);
            pool_tile(p, s, q, t, p->anchor_dense_output);
            select_top(s, start, count);
            if (!p->anchor_dense_output)
                for (int32_t h = q->g * p->group_size; h < (q->g + 1) * p->group_size; h++)
                    for (int64_t i = i0; i < i1; i++) store_row(p, s, q->b, i, h, sparse_row(p, s, q, h, i, count, start));
        }
        cnt[count_offset(p, q->b, q->g, t)] = (int32_t)count;
        for (int64_t x = 0; x < p->k_slots; x++) idx[index_offset(p, q->b, q->g, t, x)] = x < count ? s->set[x] : -1;
    }
    return KSA_STATUS_SUCCESS;
}

static void run_reuse(const ksa_problem *p, ref_scratch *s, const ref_seq *q)
{
    const int32_t *idx = (const int32_t *)ksa_mem_addr(p->indices.mem);
    const int32_t *cnt = (const int32_t *)ksa_mem_addr(p->counts.mem);
    int32_t src = p->head_map ? p->head_map[q->g] : q->g;
    int64_t ntiles = tiles_of(p, q);
    for (int64_t t = 0; t < ntiles; t++) {
        int64_t i0, i1, start;
        tile_bounds(p, q, t, &i0, &i1, &start);
        int64_t given = cnt[count_offset(p, q->b, src, t)];
        if (given < 0) given = 0;
        if (given > p->k_slots) given = p->k_slots;
        /* the set is a union: out-of-range or repeated entries never reach the softmax */
        for (int64_t j = 0; j < q->lk; j++) s->mark[j] = 0;
        for (int64_t x = 0; x < given; x++) {
            int32_t j = idx[index_offset(p, q->b, src, t, x)];
            if (j >= 0 && j < start) s->mark[j] = 1;
        }
        if (q->decode && p->topk.local_window > 0)
            for (int64_t j = q->lk - p->topk.local_window < 0 ? 0 : q->lk - p->topk.local_window; j < q->lk; j++)
                s->mark[j] = 1;
        int64_t nset = 0;
        for (int64_t j = 0; j < start; j++)
            if (s->mark[j]) s->set[nset++] = (int32_t)j;
        for (int32_t h = q->g * p->group_size; h < (q->g + 1) * p->group_size; h++)
            for (int64_t i = i0; i < i1; i++) store_row(p, s, q->b, i, h, sparse_row(p, s, q, h, i, nset, start));
    }
}

static void seq_init(const ksa_problem *p, int32_t b, int32_t g, ref_seq *q)
{
    q->b = b;
    q->g = g;
    q->decode = p->phase == KSA_PHASE_DECODE;
    q->lk = p->seqlen_k[b];
    q->lq = q->decode ? 1 : p->seqlen_q[b];
    q->scale = p->scale != 0.0f ? (double)p->scale : 1.0 / sqrt((double)p->head_dim);
}

static ksa_status check_supported(const ksa_problem *p)
{
    if (p->dtype != KSA_DTYPE_F32 && p->dtype != KSA_DTYPE_F16 && p->dtype != KSA_DTYPE_BF16)
        return ksa_error(KSA_STATUS_UNSUPPORTED, "reference: dtype %s is not an attention storage type",
                         ksa_dtype_name(p->dtype));
    if (p->mode != KSA_MODE_DENSE && p->phase == KSA_PHASE_PREFILL && p->topk.tile_size <= 0)
        return ksa_error(KSA_STATUS_INTERNAL, "reference: tile size %d", p->topk.tile_size);
    return KSA_STATUS_SUCCESS;
}

static ksa_status run_all(const ksa_problem *p, ref_scratch *s)
{
    ksa_status st = check_supported(p);
    for (int32_t b = 0; b < p->batch && !st; b++)
        for (int32_t g = 0; g < p->num_kv_heads && !st; g++) {
            ref_seq q;
            seq_init(p, b, g, &q);
            load_kv(p, s, b, g, q.lk);
            if (p->mode == KSA_MODE_DENSE) run_dense(p, s, &q);
            else if (p->mode == KSA_MODE_ANCHOR) st = run_anchor(p, s, &q);
            else run_reuse(p, s, &q);
        }
    return st;
}

ksa_status ksa_reference_attention_in_workspace(const ksa_problem *p, ksa_call_info *info)
{
    size_t need = ksa_reference_workspace_bytes(p);
    char *base = (char *)ksa_mem_addr(p->workspace);
    if (!base || p->workspace_size < need)
        return ksa_error(KSA_STATUS_WORKSPACE_TOO_SMALL, "workspace: %zu bytes given, the reference needs %zu",
                         base ? p->workspace_size : (size_t)0, need);
    if (info) {
        static const char *const mode[] = {"dense", "anchor", "reuse"};
        int m = p->mode >= KSA_MODE_DENSE && p->mode <= KSA_MODE_REUSE ? (int)p->mode : 0;
        snprintf(info->kernel, sizeof info->kernel, "reference.%s_%s", mode[m],
                 p->phase == KSA_PHASE_DECODE ? "decode" : "prefill");
        info->config[0] = '\0';
    }
    ref_scratch s;
    layout_scratch(p, base, &s);
    return run_all(p, &s);
}

ksa_status ksa_reference_attention(const ksa_problem *p)
{
    size_t need = ksa_reference_workspace_bytes(p);
    char *base = (char *)ksa_mem_addr(p->workspace);
    void *own = NULL;
    if (!base || p->workspace_size < need) {
        own = malloc(need);
        if (!own) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "reference: cannot allocate %zu bytes of scratch", need);
        base = own;
    }
    ref_scratch s;
    layout_scratch(p, base, &s);
    ksa_status st = run_all(p, &s);
    free(own);
    return st;
}

ksa_status ksa_reference_pooled_scores(const ksa_problem *p, int32_t b, int32_t g, int64_t tile, double *scores,
                                       int64_t *num_candidates)
{
    *num_candidates = 0;
    if (b < 0 || b >= p->batch || g < 0 || g >= p->num_kv_heads)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "reference: pooled scores of sequence %d, KV head %d out of range", b, g);
    ref_seq q;
    seq_init(p, b, g, &q);
    if (tile < 0 || tile >= tiles_of(p, &q)) return KSA_STATUS_SUCCESS;
    size_t need = ksa_reference_workspace_bytes(p);
    char *base = malloc(need);
    if (!base) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "reference: cannot allocate %zu bytes of scratch", need);
    ref_scratch s;
    layout_scratch(p, base, &s);
    load_kv(p, &s, b, g, q.lk);
    int64_t i0, i1, start;
    tile_bounds(p, &q, tile, &i0, &i1, &start);
    pool_tile(p, &s, &q, tile, 0);
    memcpy(scores, s.pooled, (size_t)start * sizeof(double));
    *num_candidates = start;
    free(base);
    return KSA_STATUS_SUCCESS;
}
