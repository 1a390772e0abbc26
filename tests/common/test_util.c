#define _POSIX_C_SOURCE 200809L /* fnmatch */
/* test_util.c: implementation of the shared test helpers (random problems on any device through
 * the public API, poisoning, comparison with the reference, the standard grid). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/ksa_half.h"
#include "dispatch/ksa_internal.h"

uint64_t ktest_rand_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ktest_random_permutation(int32_t *a, int64_t n, uint64_t *state)
{
    for (int64_t i = 0; i < n; i++) a[i] = (int32_t)i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(ktest_rand_u64(state) % (uint64_t)(i + 1));
        int32_t tmp = a[i];
        a[i] = a[j];
        a[j] = tmp;
    }
}

double ktest_rand_uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(ktest_rand_u64(s) >> 11) * (1.0 / 9007199254740992.0));
}

/* ---------------------------------------------------------------- skips ctest can see */
static int skipped_cases;

void ktest_note_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    skipped_cases++;
}

void ktest_apply_filter(void)
{
    const char *filter = getenv("KSA_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
}

int ktest_group_result(int failed, const struct CMUnitTest *tests, size_t num_tests)
{
    if (failed) return failed;
    const char *filter = getenv("KSA_TEST_FILTER");
    size_t selected = 0;
    for (size_t i = 0; i < num_tests; i++)
        if (!filter || !*filter || fnmatch(filter, tests[i].name, 0) == 0) selected++;
    if (selected > 0 && (size_t)skipped_cases >= selected) {
        printf("SKIP: all %zu test case(s) of this program skipped (reasons above); exit status %d tells ctest\n",
               selected, KTEST_SKIP_CODE);
        return KTEST_SKIP_CODE;
    }
    return 0;
}

static ksa_context shared_ctx;
static void destroy_shared_ctx(void) { ksa_context_destroy(shared_ctx); }

ksa_context ktest_context(void)
{
    if (!shared_ctx) {
        if (ksa_context_create(&shared_ctx) != KSA_STATUS_SUCCESS) {
            fprintf(stderr, "ktest: ksa_context_create failed: %s\n", ksa_last_error());
            return NULL;
        }
        atexit(destroy_shared_ctx);
    }
    return shared_ctx;
}

int ktest_quick(void) { return ksa_env_flag("KSA_TEST_QUICK"); }

ksa_device ktest_open_device(const char *name)
{
    ksa_context ctx = ktest_context();
    if (!ctx) return NULL;
    ksa_device dev = NULL;
    if (ksa_device_open(ctx, name, &dev) != KSA_STATUS_SUCCESS) {
        printf("ktest: device %s not available: %s\n", name, ksa_last_error());
        return NULL;
    }
    return dev;
}

ktest_config ktest_config_default(void)
{
    ktest_config c;
    memset(&c, 0, sizeof c);
    c.mode = KSA_MODE_DENSE;
    c.phase = KSA_PHASE_PREFILL;
    c.dtype = KSA_DTYPE_F32;
    c.batch = 2;
    c.hq = 4;
    c.hkv = 2;
    c.head_dim = 64;
    c.lq = 80;
    c.lk = 80;
    c.page_size = 16;
    c.seed = 1;
    return c;
}

const char *ktest_config_string(const ktest_config *c, char *buf, size_t len)
{
    static const char *const modes[] = {"dense", "anchor", "reuse"};
    static const char *const kvs[] = {"contiguous", "ragged", "paged"};
    static const char *const nonfinite[] = {"", " nan_q", " nan_k", " inf_k", " nan_v"};
    ksa_topk_params k = c->topk_set ? c->topk : ksa_topk_default();
    snprintf(buf, len,
             "%s %s %s B%d Hq%d/Hkv%d D%d Lq%d Lk%d kv=%s%s%s%s%s%s%s%s topk(f=%.2f k=%d min=%d mult=%d T=%d roll=%d win=%d) seed=%llu",
             modes[c->mode % 3], c->phase == KSA_PHASE_DECODE ? "decode" : "prefill", ksa_dtype_name(c->dtype), c->batch, c->hq,
             c->hkv, c->head_dim, c->lq, c->lk, kvs[c->kv % 3], c->ragged_q ? " ragged_q" : "", c->vary_lengths ? " vary" : "",
             c->with_lse ? " lse" : "", c->strided ? " strided" : "", c->use_head_map ? " head_map" : "",
             c->anchor_dense_output ? " dense_out" : "", nonfinite[(unsigned)c->nonfinite % 5], k.fraction, k.top_k, k.min_k,
             k.round_multiple, k.tile_size, k.rolling, k.local_window, (unsigned long long)c->seed);
    if (c->repeat_keys > 0) {
        size_t used = strlen(buf);
        if (used < len) snprintf(buf + used, len - used, " repeat_keys=%d", c->repeat_keys);
    }
    if (c->length_bounds) {
        size_t used = strlen(buf);
        if (used < len) snprintf(buf + used, len - used, " length_bounds");
    }
    if (c->boost_key > 0.f) {
        size_t used = strlen(buf);
        if (used < len) snprintf(buf + used, len - used, " boost_key=%g", (double)c->boost_key);
    }
    return buf;
}

/* allocate a device buffer for a (possibly strided) tensor and fill it from host bytes */
static ksa_status make_tensor(ktest_problem *p, ksa_dtype dt, int ndim, const int64_t *shape, const int64_t *stride,
                              const void *host, ksa_tensor *out)
{
    if (p->num_buffers >= KTEST_MAX_BUFFERS) return ksa_error(KSA_STATUS_INTERNAL, "ktest: too many buffers");
    int64_t span = ksa_view_span(ndim, shape, stride);
    size_t bytes = (size_t)span * ksa_dtype_size(dt);
    ksa_buffer buf;
    ksa_status st = ksa_buffer_alloc(p->dev, bytes, &buf);
    if (st) return st;
    p->buffers[p->num_buffers++] = buf;
    if (host) {
        st = ksa_buffer_write(buf, 0, host, bytes, NULL);
        if (st) return st;
    }
    *out = ksa_tensor_from_buffer(buf, 0, dt, ndim, shape);
    for (int i = 0; i < ndim; i++) out->stride[i] = stride[i];
    return KSA_STATUS_SUCCESS;
}

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride, int pad)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i];
        if (pad && i == ndim - 1) s += 8;      /* pad each head row */
        if (pad && i == ndim - 2) s += 24;     /* pad each token */
    }
}

void *ktest_random_floats(ksa_dtype dt, int64_t n, uint64_t *rng, double lo, double hi)
{
    size_t es = ksa_dtype_size(dt);
    void *h = malloc((size_t)n * es + 1);
    if (!h) return NULL;
    for (int64_t i = 0; i < n; i++) {
        double x = ktest_rand_uniform(rng, lo, hi);
        if (fabs(x) < 1e-3) x = 1e-3; /* never zero */
        if (dt == KSA_DTYPE_F32) ((float *)h)[i] = (float)x;
        else if (dt == KSA_DTYPE_F16) ((uint16_t *)h)[i] = ksa_f32_to_f16((float)x);
        else ((uint16_t *)h)[i] = ksa_f32_to_bf16((float)x);
    }
    return h;
}

static ksa_status make_random(ktest_problem *p, ksa_dtype dt, int ndim, const int64_t *shape, int pad, uint64_t *rng,
                              double lo, double hi, ksa_tensor *out)
{
    int64_t stride[KSA_MAX_DIMS];
    contiguous_strides(ndim, shape, stride, pad);
    int64_t span = ksa_view_span(ndim, shape, stride);
    void *h = ktest_random_floats(dt, span, rng, lo, hi);
    if (!h) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ktest: out of host memory");
    ksa_status st = make_tensor(p, dt, ndim, shape, stride, h, out);
    free(h);
    return st;
}

/* a random [B, L, G, D] key or value tensor; period > 0: token j's rows are token j % period's */
static ksa_status make_random_rows(ktest_problem *p, ksa_dtype dt, const int64_t *shape, int pad, uint64_t *rng, double lo,
                                   double hi, int32_t period, ksa_tensor *out)
{
    if (period <= 0) return make_random(p, dt, 4, shape, pad, rng, lo, hi, out);
    int64_t stride[KSA_MAX_DIMS];
    contiguous_strides(4, shape, stride, pad);
    int64_t span = ksa_view_span(4, shape, stride);
    unsigned char *h = ktest_random_floats(dt, span, rng, lo, hi);
    if (!h) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ktest: out of host memory");
    const size_t es = ksa_dtype_size(dt);
    for (int64_t b = 0; b < shape[0]; b++)
        for (int64_t j = period; j < shape[1]; j++)
            memcpy(h + (size_t)(b * stride[0] + j * stride[1]) * es, h + (size_t)(b * stride[0] + (j % period) * stride[1]) * es,
                   (size_t)stride[1] * es);
    ksa_status st = make_tensor(p, dt, 4, shape, stride, h, out);
    free(h);
    return st;
}

/* The bytes of one element of a 16/32-bit float dtype (ksa_dtype_size(dt) of them) holding NaN, or
 * +inf when `inf`. */
static void nonfinite_elem(ksa_dtype dt, int inf, unsigned char *out)
{
    const uint32_t f32 = inf ? 0x7f800000u : 0x7fc00000u;
    const uint16_t h = dt == KSA_DTYPE_F16 ? (uint16_t)(inf ? 0x7c00u : 0x7e00u) : (uint16_t)(inf ? 0x7f80u : 0x7fc0u);
    if (ksa_dtype_size(dt) == 4) memcpy(out, &f32, 4);
    else memcpy(out, &h, 2);
}

/* a random paged pool [pages, page_size, G, D] whose rows no sequence owns are NaN: the rows of
 * each sequence's last page past its length, and every page no table entry of a sequence's keys
 * names. A kernel that reads whole pages (a TMA box, a vector load) must keep them out of its
 * results, which the comparison with the reference then checks. */
static ksa_status make_random_paged(ktest_problem *p, ksa_dtype dt, const int64_t *shape, int pad, uint64_t *rng, double lo,
                                    double hi, const int32_t *lk, int32_t batch, const int32_t *page_table, int64_t max_pages,
                                    ksa_tensor *out)
{
    int64_t stride[KSA_MAX_DIMS];
    contiguous_strides(4, shape, stride, pad);
    int64_t span = ksa_view_span(4, shape, stride);
    unsigned char *h = ktest_random_floats(dt, span, rng, lo, hi);
    unsigned char *owned = calloc((size_t)(shape[0] * shape[1]), 1); /* [page][row]: a sequence's key */
    if (!h || !owned) {
        free(h);
        free(owned);
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ktest: out of host memory");
    }
    const int64_t ps = shape[1];
    for (int32_t b = 0; b < batch; b++)
        for (int64_t j = 0; j < lk[b]; j++) owned[page_table[b * max_pages + j / ps] * ps + j % ps] = 1;
    const size_t es = ksa_dtype_size(dt);
    unsigned char nan[4];
    nonfinite_elem(dt, 0, nan);
    for (int64_t pg = 0; pg < shape[0]; pg++)
        for (int64_t r = 0; r < ps; r++) {
            if (owned[pg * ps + r]) continue;
            for (int64_t g = 0; g < shape[2]; g++)
                for (int64_t d = 0; d < shape[3]; d++) memcpy(h + (size_t)(pg * stride[0] + r * stride[1] + g * stride[2] + d) * es, nan, es);
        }
    free(owned);
    ksa_status st = make_tensor(p, dt, 4, shape, stride, h, out);
    free(h);
    return st;
}

static ksa_status make_i32(ktest_problem *p, int ndim, const int64_t *shape, const int32_t *host, ksa_tensor *out)
{
    int64_t stride[KSA_MAX_DIMS];
    contiguous_strides(ndim, shape, stride, 0);
    return make_tensor(p, KSA_DTYPE_I32, ndim, shape, stride, host, out);
}

/* Write one element of a 16/32-bit float tensor: NaN, or +inf when `inf`. */
static ksa_status write_nonfinite(const ksa_tensor *t, int64_t elem, int inf)
{
    size_t es = ksa_dtype_size(t->dtype);
    unsigned char v[4];
    nonfinite_elem(t->dtype, inf, v);
    return ksa_buffer_write(t->buffer, t->offset + (size_t)elem * es, v, es, NULL);
}

/* Element offset of (key j of sequence 0, KV head 0, dim d) in k or v, for every layout. */
static int64_t seq0_key_elem(const ktest_config *c, const ksa_tensor *t, const int32_t *page_table, int64_t j, int64_t d)
{
    if (c->kv == KTEST_KV_RAGGED) return j * t->stride[0] + d; /* sequence 0 starts at row 0 */
    if (c->kv == KTEST_KV_PAGED) return page_table[j / c->page_size] * t->stride[0] + (j % c->page_size) * t->stride[1] + d;
    return j * t->stride[1] + d;
}

/* The one non-finite element of c->nonfinite (see ktest_nonfinite). */
static ksa_status inject_nonfinite(const ktest_config *c, const ksa_attention_tensors *t, const int32_t *page_table)
{
    if (c->nonfinite == KTEST_FINITE) return KSA_STATUS_SUCCESS;
    if (c->head_dim < 4) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ktest: non-finite inputs need head_dim >= 4");
    int64_t i = c->phase == KSA_PHASE_DECODE ? 0 : c->lq / 2, j = c->lk / 3;
    switch (c->nonfinite) {
    case KTEST_NAN_Q: return write_nonfinite(&t->q, i * t->q.stride[c->ragged_q ? 0 : 1], 0);
    case KTEST_NAN_K: return write_nonfinite(&t->k, seq0_key_elem(c, &t->k, page_table, j, 1), 0);
    case KTEST_INF_K: return write_nonfinite(&t->k, seq0_key_elem(c, &t->k, page_table, j, 2), 1);
    case KTEST_NAN_V: return write_nonfinite(&t->v, seq0_key_elem(c, &t->v, page_table, 0, 3), 0);
    default: return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ktest: nonfinite %d is not a ktest_nonfinite", (int)c->nonfinite);
    }
}

/* c->boost_key: key Lk*2/3 of sequence 0, KV head 0 rewritten as random signs times magnitudes in
 * [boost_key / 2, boost_key] (the sign is the top bit in every float dtype) */
static ksa_status inject_boosted_key(const ktest_config *c, const ksa_tensor *k, const int32_t *page_table, uint64_t *rng)
{
    if (!(c->boost_key > 0.f)) return KSA_STATUS_SUCCESS;
    const size_t es = ksa_dtype_size(k->dtype);
    unsigned char *row = ktest_random_floats(k->dtype, c->head_dim, rng, 0.5 * c->boost_key, c->boost_key);
    if (!row) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ktest: out of host memory");
    for (int32_t d = 0; d < c->head_dim; d++)
        if (ktest_rand_u64(rng) & 1) row[(size_t)d * es + es - 1] ^= 0x80u; /* little-endian: the sign bit */
    const int64_t j = (int64_t)c->lk * 2 / 3;
    ksa_status st = ksa_buffer_write(k->buffer, k->offset + (size_t)seq0_key_elem(c, k, page_table, j, 0) * es, row,
                                     (size_t)c->head_dim * es, NULL);
    free(row);
    return st;
}

ksa_status ktest_problem_create(ksa_device dev, const ktest_config *cfg_in, ktest_problem *p)
{
    memset(p, 0, sizeof *p);
    p->dev = dev;
    p->cfg = *cfg_in;
    ktest_config *c = &p->cfg;
    if (c->phase == KSA_PHASE_DECODE) c->lq = 1;
    if (c->page_size <= 0) c->page_size = 16;
    if (c->lq > c->lk) c->lk = c->lq;
    uint64_t rng = c->seed * 7919u + 17u;
    ksa_status st = KSA_STATUS_SUCCESS;
    int32_t B = c->batch;
    int32_t *lq = calloc((size_t)B, sizeof *lq), *lk = calloc((size_t)B, sizeof *lk);
    int32_t *cuq = calloc((size_t)B + 1, sizeof *cuq), *cuk = calloc((size_t)B + 1, sizeof *cuk);
    int32_t *page_table = NULL, *index_host = NULL, *count_host = NULL;
    if (!lq || !lk || !cuq || !cuk) {
        st = ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ktest: out of host memory");
        goto done;
    }
    for (int32_t b = 0; b < B; b++) {
        int32_t q = c->lq, k = c->lk;
        if (c->vary_lengths) {
            k = c->lk - (int32_t)(ktest_rand_u64(&rng) % (uint64_t)(c->lk / 2 + 1));
            if (c->ragged_q && c->phase == KSA_PHASE_PREFILL)
                q = c->lq - (int32_t)(ktest_rand_u64(&rng) % (uint64_t)(c->lq / 2 + 1));
            if (q < 1) q = 1;
            if (k < q) k = q;
            if (b == 0) k = c->lk; /* the longest sequence fixes the shapes */
        }
        lq[b] = q;
        lk[b] = k;
        cuq[b + 1] = cuq[b] + q;
        cuk[b + 1] = cuk[b] + k;
    }
    p->params = ksa_attention_params_default(c->mode, c->phase);
    if (c->topk_set) p->params.topk = c->topk;
    p->params.anchor_dense_output = c->anchor_dense_output;
    ksa_attention_tensors *t = &p->tensors;
    int32_t H = c->hq, G = c->hkv, D = c->head_dim;
    /* q and o */
    if (c->ragged_q) {
        int64_t shape[3] = {cuq[B], H, D};
        st = make_random(p, c->dtype, 3, shape, c->strided, &rng, -2, 2, &t->q);
        if (!st) st = make_random(p, c->dtype, 3, shape, c->strided, &rng, -1, 1, &t->o);
        int64_t cs[1] = {B + 1};
        if (!st) st = make_i32(p, 1, cs, cuq, &t->cu_seqlens_q);
    } else {
        int64_t shape[4] = {B, c->lq, H, D};
        st = make_random(p, c->dtype, 4, shape, c->strided, &rng, -2, 2, &t->q);
        if (!st) st = make_random(p, c->dtype, 4, shape, c->strided, &rng, -1, 1, &t->o);
    }
    if (st) goto done;
    /* k and v */
    if (c->kv == KTEST_KV_RAGGED) {
        int64_t shape[3] = {cuk[B], G, D};
        st = make_random(p, c->dtype, 3, shape, c->strided, &rng, -2, 2, &t->k);
        if (!st) st = make_random(p, c->dtype, 3, shape, c->strided, &rng, -1, 1, &t->v);
        int64_t cs[1] = {B + 1};
        if (!st) st = make_i32(p, 1, cs, cuk, &t->cu_seqlens_k);
    } else if (c->kv == KTEST_KV_PAGED) {
        int32_t ps = c->page_size;
        int64_t max_pages = (c->lk + ps - 1) / ps;
        int64_t used = 0;
        for (int32_t b = 0; b < B; b++) used += (lk[b] + ps - 1) / ps;
        int64_t num_pages = used + 3;
        int32_t *perm = malloc(sizeof(int32_t) * (size_t)num_pages);
        page_table = malloc(sizeof(int32_t) * (size_t)(B * max_pages));
        if (!perm || !page_table) {
            free(perm);
            st = ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ktest: out of host memory");
            goto done;
        }
        ktest_random_permutation(perm, num_pages, &rng);
        int64_t next = 0;
        for (int32_t b = 0; b < B; b++)
            for (int64_t i = 0; i < max_pages; i++)
                page_table[b * max_pages + i] = i < (lk[b] + ps - 1) / ps ? perm[next++] : perm[num_pages - 1];
        free(perm);
        int64_t shape[4] = {num_pages, ps, G, D};
        st = make_random_paged(p, c->dtype, shape, c->strided, &rng, -2, 2, lk, B, page_table, max_pages, &t->k);
        if (!st) st = make_random_paged(p, c->dtype, shape, c->strided, &rng, -1, 1, lk, B, page_table, max_pages, &t->v);
        int64_t pts[2] = {B, max_pages};
        if (!st) st = make_i32(p, 2, pts, page_table, &t->page_table);
        int64_t ls[1] = {B};
        if (!st) st = make_i32(p, 1, ls, lk, &t->seq_lens_k);
    } else {
        int64_t shape[4] = {B, c->lk, G, D};
        st = make_random_rows(p, c->dtype, shape, c->strided, &rng, -2, 2, c->repeat_keys, &t->k);
        if (!st) st = make_random_rows(p, c->dtype, shape, c->strided, &rng, -1, 1, c->repeat_keys, &t->v);
        if (!st && c->vary_lengths) {
            int64_t ls[1] = {B};
            st = make_i32(p, 1, ls, lk, &t->seq_lens_k);
        }
    }
    if (st) goto done;
    if (c->length_bounds) {
        /* bounds at the capacities, above most sequences' own lengths */
        if (c->ragged_q) p->params.max_seqlen_q = c->phase == KSA_PHASE_DECODE ? 1 : cuq[B];
        p->params.max_seqlen_k = c->kv == KTEST_KV_RAGGED  ? cuk[B]
                                 : c->kv == KTEST_KV_PAGED ? (c->lk + c->page_size - 1) / c->page_size * c->page_size
                                                           : c->lk;
    }
    st = inject_nonfinite(c, t, page_table);
    if (!st) st = inject_boosted_key(c, &t->k, page_table, &rng);
    if (st) goto done;
    if (c->with_lse) {
        if (c->ragged_q) {
            int64_t shape[2] = {H, cuq[B]};
            st = make_random(p, KSA_DTYPE_F32, 2, shape, 0, &rng, -1, 1, &t->lse);
        } else {
            int64_t shape[3] = {B, H, c->lq};
            st = make_random(p, KSA_DTYPE_F32, 3, shape, 0, &rng, -1, 1, &t->lse);
        }
        if (st) goto done;
    }
    if (c->mode != KSA_MODE_DENSE) {
        int64_t n_tiles, k_slots;
        st = ksa_attention_index_shape(dev, &p->params, t, &n_tiles, &k_slots);
        if (st) goto done;
        int decode = c->phase == KSA_PHASE_DECODE;
        int64_t ishape[4] = {B, G, n_tiles, k_slots};
        int64_t dshape[3] = {B, G, k_slots};
        int64_t nidx = (int64_t)B * G * n_tiles * k_slots;
        index_host = malloc(sizeof(int32_t) * (size_t)nidx);
        count_host = malloc(sizeof(int32_t) * (size_t)(B * G * n_tiles));
        if (!index_host || !count_host) {
            st = ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ktest: out of host memory");
            goto done;
        }
        for (int64_t i = 0; i < nidx; i++) index_host[i] = -1;
        if (c->mode == KSA_MODE_REUSE) {
            /* random valid sets: distinct candidates, counts near full */
            int32_t T = p->params.topk.tile_size;
            int32_t *pool = malloc(sizeof(int32_t) * (size_t)(c->lk + 1));
            if (!pool) {
                st = ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ktest: out of host memory");
                goto done;
            }
            for (int32_t b = 0; b < B; b++)
                for (int32_t g = 0; g < G; g++)
                    for (int64_t tt = 0; tt < n_tiles; tt++) {
                        int64_t ntb = decode ? 1 : (lq[b] + T - 1) / T;
                        if (tt >= ntb) { /* past this sequence's last tile: an empty set */
                            count_host[(int64_t)(b * G + g) * n_tiles + tt] = 0;
                            continue;
                        }
                        int64_t ncand = decode ? lk[b] : (int64_t)lk[b] - lq[b] + tt * T;
                        int64_t cmax = ncand < k_slots ? ncand : k_slots;
                        int64_t cnt = cmax - (int64_t)(ktest_rand_u64(&rng) % 3);
                        if (cnt < 0) cnt = 0;
                        if (decode && cnt == 0 && cmax > 0) cnt = 1;
                        for (int64_t j = 0; j < ncand; j++) pool[j] = (int32_t)j;
                        for (int64_t s = 0; s < cnt; s++) {
                            int64_t r = s + (int64_t)(ktest_rand_u64(&rng) % (uint64_t)(ncand - s));
                            int32_t tmp = pool[s];
                            pool[s] = pool[r];
                            pool[r] = tmp;
                            index_host[((int64_t)(b * G + g) * n_tiles + tt) * k_slots + s] = pool[s];
                        }
                        count_host[(int64_t)(b * G + g) * n_tiles + tt] = (int32_t)cnt;
                    }
            free(pool);
            if (c->use_head_map) {
                for (int32_t g = 0; g < G; g++) p->head_map_host[g] = (int32_t)(ktest_rand_u64(&rng) % (uint64_t)G);
                int64_t hs[1] = {G};
                t->head_map = ksa_tensor_make(NULL, p->head_map_host, KSA_DTYPE_I32, 1, hs);
            }
        } else {
            for (int64_t i = 0; i < (int64_t)B * G * n_tiles; i++) count_host[i] = -5;
        }
        int64_t cshape[3] = {B, G, n_tiles};
        int64_t dcshape[2] = {B, G};
        st = make_i32(p, decode ? 3 : 4, decode ? dshape : ishape, index_host, &t->indices);
        if (!st) st = make_i32(p, decode ? 2 : 3, decode ? dcshape : cshape, count_host, &t->counts);
        if (st) goto done;
    }
    size_t ws = 0;
    st = ksa_attention_workspace_size(dev, &p->params, t, &ws);
    if (st) goto done;
    if (ws) {
        st = ksa_buffer_alloc(dev, ws, &p->workspace_buffer);
        if (st) goto done;
        p->workspace.buffer = p->workspace_buffer;
        p->workspace.size = ws;
    }
done:
    free(lq);
    free(lk);
    free(cuq);
    free(cuk);
    free(page_table);
    free(index_host);
    free(count_host);
    if (st) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", ksa_last_error());
        ktest_problem_destroy(p);
        ksa_error(st, "%s", saved);
    }
    return st;
}

static ksa_status poison(const ksa_tensor *t, uint8_t value)
{
    if (!ksa_tensor_present(t) || !t->buffer) return KSA_STATUS_SUCCESS;
    return ksa_buffer_fill(t->buffer, 0, ksa_buffer_size(t->buffer), value, NULL);
}

ksa_status ktest_problem_run(ktest_problem *p)
{
    ksa_status st = poison(&p->tensors.o, 0xff);
    if (!st) st = poison(&p->tensors.lse, 0xff);
    if (!st && p->cfg.mode == KSA_MODE_ANCHOR) {
        st = poison(&p->tensors.indices, 0xee);
        if (!st) st = poison(&p->tensors.counts, 0xee);
    }
    if (st) return st;
    st = ksa_attention(p->dev, NULL, &p->params, &p->tensors, &p->workspace);
    if (st) return st;
    return ksa_stream_synchronize(p->dev, NULL);
}

void ktest_problem_run_bytes(ktest_problem *p, const char *override, unsigned char *o, size_t obytes, unsigned char *idx,
                             size_t ibytes)
{
    assert_int_equal(ksa_set_config_override(override), KSA_STATUS_SUCCESS);
    ksa_status st = ktest_problem_run(p);
    /* the message before the override is cleared (a successful call resets the last error) */
    if (st) printf("run with \"%s\" failed: %s\n", override ? override : "", ksa_last_error());
    assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
    assert_int_equal(st, KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_read(o, p->tensors.o.buffer, 0, obytes, NULL), KSA_STATUS_SUCCESS);
    if (ibytes) assert_int_equal(ksa_buffer_read(idx, p->tensors.indices.buffer, 0, ibytes, NULL), KSA_STATUS_SUCCESS);
}

ksa_status ktest_problem_check(ktest_problem *p, char *report, size_t report_len)
{
    return ksa_check_against_reference(p->dev, NULL, &p->params, &p->tensors, report, report_len);
}

void ktest_problem_destroy(ktest_problem *p)
{
    for (int i = 0; i < p->num_buffers; i++) ksa_buffer_free(p->buffers[i]);
    ksa_buffer_free(p->workspace_buffer);
    p->num_buffers = 0;
    p->workspace_buffer = NULL;
}

void ktest_lengths_clamped_on_device(ksa_device dev, int head_dim, uint64_t seed)
{
    for (int m = 0; m < 2; m++) {
        ktest_config c = ktest_config_default();
        c.mode = m ? KSA_MODE_ANCHOR : KSA_MODE_DENSE;
        c.phase = KSA_PHASE_DECODE;
        c.dtype = KSA_DTYPE_BF16;
        c.hq = 8;
        c.hkv = 2;
        c.head_dim = head_dim;
        c.batch = 3;
        c.lk = 704; /* a whole number of pages: sequence 0's true length is the capacity */
        c.kv = KTEST_KV_PAGED;
        c.page_size = 16;
        c.vary_lengths = 1;
        c.length_bounds = 1;
        c.with_lse = 1;
        c.seed = seed + (uint64_t)m;
        ktest_problem p;
        assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
        assert_int_equal(p.params.max_seqlen_k, 704);
        assert_int_equal(p.tensors.seq_lens_k.stride[0], 1);
        const int32_t bad[3] = {704 + 5000, -7, 0}, clamped[3] = {704, 1, 1};
        size_t obytes = ksa_buffer_size(p.tensors.o.buffer), ibytes = m ? ksa_buffer_size(p.tensors.indices.buffer) : 0;
        unsigned char *o1 = malloc(obytes), *o2 = malloc(obytes), *i1 = malloc(ibytes + 1), *i2 = malloc(ibytes + 1);
        assert_true(o1 && o2 && i1 && i2);
        /* the clamped lengths: a valid call, checked against the reference */
        assert_int_equal(ksa_buffer_write(p.tensors.seq_lens_k.buffer, p.tensors.seq_lens_k.offset, clamped, sizeof clamped, NULL),
                         KSA_STATUS_SUCCESS);
        ktest_problem_run_bytes(&p, NULL, o1, obytes, i1, ibytes);
        char report[1024] = "", desc[512];
        ksa_status st = ktest_problem_check(&p, report, sizeof report);
        if (st) printf("clamped lengths: %s: %s\n", ktest_config_string(&c, desc, sizeof desc), report);
        assert_int_equal(st, KSA_STATUS_SUCCESS);
        /* the out-of-contract ones: no fault, the same bits */
        assert_int_equal(ksa_buffer_write(p.tensors.seq_lens_k.buffer, p.tensors.seq_lens_k.offset, bad, sizeof bad, NULL),
                         KSA_STATUS_SUCCESS);
        ktest_problem_run_bytes(&p, NULL, o2, obytes, i2, ibytes);
        const int same = memcmp(o1, o2, obytes) == 0 && (!ibytes || memcmp(i1, i2, ibytes) == 0);
        if (!same) printf("out-of-contract lengths differ from their clamped values: %s\n", ktest_config_string(&c, desc, sizeof desc));
        assert_true(same);
        free(o1);
        free(o2);
        free(i1);
        free(i2);
        ktest_problem_destroy(&p);
    }
}

ksa_status ktest_run_and_check(ksa_device dev, const ktest_config *cfg)
{
    char desc[512], report[1024] = "";
    ktest_problem p;
    ksa_status st = ktest_problem_create(dev, cfg, &p);
    if (st) {
        printf("FAIL [%s] create: %s: %s\n", ktest_config_string(cfg, desc, sizeof desc), ksa_status_string(st), ksa_last_error());
        return st;
    }
    st = ktest_problem_run(&p);
    if (st) {
        printf("FAIL [%s] run: %s: %s\n", ktest_config_string(cfg, desc, sizeof desc), ksa_status_string(st), ksa_last_error());
    } else {
        st = ktest_problem_check(&p, report, sizeof report);
        if (st)
            printf("FAIL [%s] check: %s: %s\n", ktest_config_string(cfg, desc, sizeof desc), ksa_status_string(st),
                   report[0] ? report : ksa_last_error());
    }
    ktest_problem_destroy(&p);
    return st;
}

int ktest_run_standard_grid(ksa_device dev, int quick, const ksa_dtype *dtypes, int num_dtypes, const int32_t *head_dims,
                            int num_head_dims)
{
    int failures = 0, runs = 0, unsupported = 0;
    ksa_topk_params small = ksa_topk_default();
    small.min_k = 16;
    small.round_multiple = 8;
    small.fraction = 0.2;
    small.tile_size = 16;
    int scale = quick ? 1 : 3;
    for (int di = 0; di < num_dtypes; di++)
        for (int hi = 0; hi < num_head_dims; hi++) {
            ktest_config base = ktest_config_default();
            base.dtype = dtypes[di];
            base.head_dim = head_dims[hi];
            base.seed = (uint64_t)(di * 131 + hi * 17 + 3);
            ktest_config cases[24];
            int n = 0;
            ktest_config c;
            /* 1 dense prefill, contiguous, lse */
            c = base; c.hq = 8; c.hkv = 2; c.lq = c.lk = 70 * scale; c.with_lse = 1; cases[n++] = c;
            /* 2 dense chunked prefill, ragged q + ragged kv, varying lengths */
            c = base; c.batch = 3; c.lq = 40; c.lk = 120 * scale; c.ragged_q = 1; c.kv = KTEST_KV_RAGGED; c.vary_lengths = 1;
            cases[n++] = c;
            /* 3 dense decode, paged, varying lengths, lse */
            c = base; c.phase = KSA_PHASE_DECODE; c.batch = 3; c.lk = 150 * scale; c.kv = KTEST_KV_PAGED; c.vary_lengths = 1;
            c.with_lse = 1; cases[n++] = c;
            /* 4 anchor prefill, small budget, lse */
            c = base; c.mode = KSA_MODE_ANCHOR; c.batch = 1; c.hq = 8; c.hkv = 2; c.lq = c.lk = 150 * scale; c.topk_set = 1;
            c.topk = small; c.with_lse = 1; cases[n++] = c;
            /* 5 anchor chunked prefill, paged, dense output (layer 0), default budget */
            c = base; c.mode = KSA_MODE_ANCHOR; c.lq = 50; c.lk = 200 * scale; c.kv = KTEST_KV_PAGED; c.anchor_dense_output = 1;
            cases[n++] = c;
            /* 6 anchor decode, varying lengths, fixed k */
            c = base; c.mode = KSA_MODE_ANCHOR; c.phase = KSA_PHASE_DECODE; c.batch = 3; c.lk = 200 * scale; c.vary_lengths = 1;
            c.topk_set = 1; c.topk = ksa_topk_default(); c.topk.top_k = 24; cases[n++] = c;
            /* 7 reuse prefill, ragged, head map, lse */
            c = base; c.mode = KSA_MODE_REUSE; c.batch = 2; c.hq = 8; c.hkv = 4; c.lq = 60; c.lk = 150 * scale; c.ragged_q = 1;
            c.kv = KTEST_KV_RAGGED; c.vary_lengths = 1; c.use_head_map = 1; c.with_lse = 1; c.topk_set = 1; c.topk = small;
            cases[n++] = c;
            /* 8 reuse decode, paged, head map, local window */
            c = base; c.mode = KSA_MODE_REUSE; c.phase = KSA_PHASE_DECODE; c.batch = 2; c.hq = 8; c.hkv = 4; c.lk = 180 * scale;
            c.kv = KTEST_KV_PAGED; c.use_head_map = 1; c.topk_set = 1; c.topk = small; c.topk.local_window = 8; cases[n++] = c;
            /* 9 GQA 1, anchor prefill non-rolling, strided views */
            c = base; c.mode = KSA_MODE_ANCHOR; c.hq = c.hkv = 3; c.lq = c.lk = 90 * scale; c.strided = 1; c.topk_set = 1;
            c.topk = small; c.topk.rolling = 0; cases[n++] = c;
            /* 10 GQA 8, reuse prefill contiguous */
            c = base; c.mode = KSA_MODE_REUSE; c.hq = 8; c.hkv = 1; c.lq = 64; c.lk = 128 * scale; c.topk_set = 1; c.topk = small;
            cases[n++] = c;
            /* non-finite inputs (docs/SEMANTICS.md): NaN in, NaN out for the rows it reaches */
            /* 11 NaN in q, dense prefill, lse */
            c = base; c.hq = 8; c.hkv = 2; c.lq = c.lk = 70; c.with_lse = 1; c.nonfinite = KTEST_NAN_Q; cases[n++] = c;
            /* 12 NaN in k, anchor prefill: NaN pooled scores select the first count_t candidates */
            c = base; c.mode = KSA_MODE_ANCHOR; c.batch = 1; c.hq = 8; c.hkv = 2; c.lq = c.lk = 150; c.topk_set = 1;
            c.topk = small; c.with_lse = 1; c.nonfinite = KTEST_NAN_K; cases[n++] = c;
            /* 13 +inf in k, dense chunked prefill, ragged: +inf scores give NaN rows, -inf ones weight 0 */
            c = base; c.lq = 40; c.lk = 120; c.ragged_q = 1; c.kv = KTEST_KV_RAGGED; c.with_lse = 1; c.nonfinite = KTEST_INF_K;
            cases[n++] = c;
            /* 14 NaN in v (key 0), reuse prefill with a head map: only that dim of the rows attending key 0 */
            c = base; c.mode = KSA_MODE_REUSE; c.hq = 8; c.hkv = 4; c.lq = 60; c.lk = 150; c.use_head_map = 1; c.with_lse = 1;
            c.topk_set = 1; c.topk = small; c.nonfinite = KTEST_NAN_V; cases[n++] = c;
            /* 15 +inf in k, anchor decode, paged, lse */
            c = base; c.mode = KSA_MODE_ANCHOR; c.phase = KSA_PHASE_DECODE; c.batch = 2; c.lk = 200; c.kv = KTEST_KV_PAGED;
            c.with_lse = 1; c.topk_set = 1; c.topk = small; c.nonfinite = KTEST_INF_K; cases[n++] = c;
            /* 16 NaN in k, dense decode (split over keys, then combined), lse */
            c = base; c.phase = KSA_PHASE_DECODE; c.batch = 2; c.lk = 150 * scale; c.with_lse = 1; c.nonfinite = KTEST_NAN_K;
            cases[n++] = c;
            /* 17 NaN in q, reuse decode with a local window */
            c = base; c.mode = KSA_MODE_REUSE; c.phase = KSA_PHASE_DECODE; c.hq = 8; c.hkv = 4; c.lk = 180; c.topk_set = 1;
            c.topk = small; c.topk.local_window = 8; c.with_lse = 1; c.nonfinite = KTEST_NAN_Q; cases[n++] = c;
            /* host bounds of the device lengths (params.max_seqlen_q / _k above the longest sequence):
             * on CUDA / HIP the lengths stay on the device and the call is shaped by the bounds */
            /* 18 dense chunked prefill, ragged q + ragged kv, varying lengths, lse */
            c = base; c.batch = 3; c.lq = 40; c.lk = 120 * scale; c.ragged_q = 1; c.kv = KTEST_KV_RAGGED; c.vary_lengths = 1;
            c.with_lse = 1; c.length_bounds = 1; cases[n++] = c;
            /* 19 anchor chunked prefill, ragged q, paged kv, varying lengths */
            c = base; c.mode = KSA_MODE_ANCHOR; c.batch = 3; c.lq = 50; c.lk = 200 * scale; c.ragged_q = 1; c.kv = KTEST_KV_PAGED;
            c.vary_lengths = 1; c.topk_set = 1; c.topk = small; c.length_bounds = 1; cases[n++] = c;
            /* 20 anchor decode, paged, varying lengths, lse */
            c = base; c.mode = KSA_MODE_ANCHOR; c.phase = KSA_PHASE_DECODE; c.batch = 3; c.lk = 200 * scale; c.kv = KTEST_KV_PAGED;
            c.vary_lengths = 1; c.with_lse = 1; c.length_bounds = 1; cases[n++] = c;
            /* 21 reuse decode, paged, head map, local window, varying lengths */
            c = base; c.mode = KSA_MODE_REUSE; c.phase = KSA_PHASE_DECODE; c.batch = 3; c.hq = 8; c.hkv = 4; c.lk = 180 * scale;
            c.kv = KTEST_KV_PAGED; c.vary_lengths = 1; c.use_head_map = 1; c.topk_set = 1; c.topk = small; c.topk.local_window = 8;
            c.length_bounds = 1; cases[n++] = c;
            /* 22 dense decode, contiguous with seq_lens_k, varying lengths, lse */
            c = base; c.phase = KSA_PHASE_DECODE; c.batch = 3; c.lk = 150 * scale; c.vary_lengths = 1; c.with_lse = 1;
            c.length_bounds = 1; cases[n++] = c;
            /* one key (Lk*2/3) whose scores lie tens of nats above the keys before it for many rows
             * (boost_key 64: a standard deviation of ~56 nats): every backend's online softmax
             * rescales (test_cuda's score-jump case, at Lk 1100, also reaches the sm_90a lse pass's
             * fallback from its running base) */
            /* 23 dense prefill, lse */
            c = base; c.batch = 1; c.hq = 8; c.hkv = 2; c.lq = c.lk = 260; c.with_lse = 1; c.boost_key = 64.f; cases[n++] = c;
            /* 24 anchor prefill, lse */
            c = base; c.mode = KSA_MODE_ANCHOR; c.batch = 1; c.hq = 8; c.hkv = 2; c.lq = c.lk = 260; c.topk_set = 1;
            c.topk = small; c.with_lse = 1; c.boost_key = 64.f; cases[n++] = c;
            for (int i = 0; i < n; i++) {
                cases[i].seed += (uint64_t)i * 1000u;
                ksa_status st = ktest_run_and_check(dev, &cases[i]);
                runs++;
                if (st == KSA_STATUS_UNSUPPORTED) unsupported++;
                else if (st) failures++;
            }
        }
    int count_failures = ktest_check_counts_on_device(dev);
    printf("ktest grid on %s: %d runs, %d failed, %d unsupported; selection-size table: %d mismatches\n",
           dev ? dev->info.name : "?", runs, failures, unsupported, count_failures);
    return failures + count_failures;
}

/* stop the schedule-step comparison at the first failing call, naming it */
#define STEP_CHECK(cond, ...)                                                        \
    do {                                                                             \
        if (!(cond)) {                                                               \
            printf("schedule step (layer %d): ", layer_no);                          \
            printf(__VA_ARGS__);                                                     \
            printf("\n");                                                            \
            if (st == KSA_STATUS_SUCCESS) st = KSA_STATUS_CHECK_FAILED;              \
            goto done;                                                               \
        }                                                                            \
    } while (0)

ksa_status ktest_schedule_step_matches_direct(ksa_device dev, ksa_phase phase, uint64_t seed, size_t *workspace_bytes)
{
    enum { L = 6, HKV = 2, B = 2 };
    ksa_status st = KSA_STATUS_SUCCESS;
    int layer_no = -1, made = 0;
    ksa_schedule s = NULL;
    ksa_buffer wsb = NULL, bi = NULL, bc = NULL;
    unsigned char *sched_o = NULL, *direct_o = NULL;
    ktest_problem layer[L];
    ksa_topk_params topk = ksa_topk_default();
    topk.min_k = 16;
    topk.round_multiple = 8;
    topk.tile_size = 16;
    STEP_CHECK((st = ksa_schedule_create(dev, L, HKV, &topk, &s)) == KSA_STATUS_SUCCESS, "create: %s", ksa_last_error());
    int32_t anchors[2] = {0, 3};
    int32_t maps[L * HKV] = {0, 1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0};
    STEP_CHECK((st = ksa_schedule_set_kascade(s, anchors, 2, maps)) == KSA_STATUS_SUCCESS, "set_kascade: %s", ksa_last_error());
    for (; made < L; made++) {
        ktest_config c = ktest_config_default();
        c.phase = phase;
        c.batch = B;
        c.hq = 4;
        c.hkv = HKV;
        c.lq = phase == KSA_PHASE_DECODE ? 1 : 60;
        c.lk = 150;
        c.seed = seed + (uint64_t)made;
        c.with_lse = 1;
        STEP_CHECK((st = ktest_problem_create(dev, &c, &layer[made])) == KSA_STATUS_SUCCESS, "create: %s", ksa_last_error());
    }
    size_t ws_bytes = 0;
    STEP_CHECK((st = ksa_schedule_plan(s, phase, &layer[0].tensors, &ws_bytes)) == KSA_STATUS_SUCCESS, "plan: %s",
               ksa_last_error());
    if (workspace_bytes) *workspace_bytes = ws_bytes;
    ksa_workspace ws;
    memset(&ws, 0, sizeof ws);
    if (ws_bytes) {
        STEP_CHECK((st = ksa_buffer_alloc(dev, ws_bytes, &wsb)) == KSA_STATUS_SUCCESS, "workspace: %s", ksa_last_error());
        ws.buffer = wsb;
        ws.size = ws_bytes;
    }
    /* the direct path's own index tensors */
    int64_t n_tiles, k_slots;
    ksa_attention_params ap = ksa_attention_params_default(KSA_MODE_ANCHOR, phase);
    ap.topk = topk;
    STEP_CHECK((st = ksa_attention_index_shape(dev, &ap, &layer[0].tensors, &n_tiles, &k_slots)) == KSA_STATUS_SUCCESS,
               "index shape: %s", ksa_last_error());
    int decode = phase == KSA_PHASE_DECODE;
    size_t nidx = (size_t)(B * HKV) * (size_t)n_tiles * (size_t)k_slots, ncnt = (size_t)(B * HKV) * (size_t)n_tiles;
    STEP_CHECK((st = ksa_buffer_alloc(dev, nidx * 4, &bi)) == KSA_STATUS_SUCCESS, "indices: %s", ksa_last_error());
    STEP_CHECK((st = ksa_buffer_alloc(dev, ncnt * 4, &bc)) == KSA_STATUS_SUCCESS, "counts: %s", ksa_last_error());
    int64_t ishape[4] = {B, HKV, n_tiles, k_slots}, cshape[3] = {B, HKV, n_tiles};
    int64_t dishape[3] = {B, HKV, k_slots}, dcshape[2] = {B, HKV};
    ksa_tensor ti = decode ? ksa_tensor_from_buffer(bi, 0, KSA_DTYPE_I32, 3, dishape)
                           : ksa_tensor_from_buffer(bi, 0, KSA_DTYPE_I32, 4, ishape);
    ksa_tensor tc = decode ? ksa_tensor_from_buffer(bc, 0, KSA_DTYPE_I32, 2, dcshape)
                           : ksa_tensor_from_buffer(bc, 0, KSA_DTYPE_I32, 3, cshape);
    for (layer_no = 0; layer_no < L; layer_no++) {
        ksa_buffer ob = layer[layer_no].tensors.o.buffer;
        size_t obytes = ksa_buffer_size(ob);
        free(sched_o);
        free(direct_o);
        sched_o = malloc(obytes);
        direct_o = malloc(obytes);
        STEP_CHECK(sched_o && direct_o, "out of host memory");
        /* schedule path */
        STEP_CHECK((st = ksa_buffer_fill(ob, 0, obytes, 0xff, NULL)) == KSA_STATUS_SUCCESS, "poison: %s", ksa_last_error());
        STEP_CHECK((st = ksa_schedule_run_layer(s, NULL, layer_no, &layer[layer_no].tensors, &ws)) == KSA_STATUS_SUCCESS,
                   "run_layer: %s", ksa_last_error());
        STEP_CHECK((st = ksa_buffer_read(sched_o, ob, 0, obytes, NULL)) == KSA_STATUS_SUCCESS, "read: %s", ksa_last_error());
        /* direct path */
        ksa_layer_kind kind;
        int32_t anchor, map[HKV];
        STEP_CHECK((st = ksa_schedule_get_layer(s, layer_no, &kind, &anchor, map)) == KSA_STATUS_SUCCESS, "get_layer: %s",
                   ksa_last_error());
        ksa_attention_params prm =
            ksa_attention_params_default(kind == KSA_LAYER_ANCHOR ? KSA_MODE_ANCHOR : KSA_MODE_REUSE, phase);
        prm.topk = topk;
        prm.anchor_dense_output = layer_no == 0;
        ksa_attention_tensors t = layer[layer_no].tensors;
        t.indices = ti;
        t.counts = tc;
        int64_t hs[1] = {HKV};
        if (kind == KSA_LAYER_REUSE) t.head_map = ksa_tensor_make(NULL, map, KSA_DTYPE_I32, 1, hs);
        STEP_CHECK((st = ksa_buffer_fill(ob, 0, obytes, 0xff, NULL)) == KSA_STATUS_SUCCESS, "poison: %s", ksa_last_error());
        size_t need = 0;
        STEP_CHECK((st = ksa_attention_workspace_size(dev, &prm, &t, &need)) == KSA_STATUS_SUCCESS, "workspace size: %s",
                   ksa_last_error());
        STEP_CHECK(need <= ws_bytes, "direct call needs %zu workspace bytes, the schedule planned %zu", need, ws_bytes);
        STEP_CHECK((st = ksa_attention(dev, NULL, &prm, &t, &ws)) == KSA_STATUS_SUCCESS, "attention: %s", ksa_last_error());
        STEP_CHECK((st = ksa_buffer_read(direct_o, ob, 0, obytes, NULL)) == KSA_STATUS_SUCCESS, "read: %s", ksa_last_error());
        STEP_CHECK(memcmp(sched_o, direct_o, obytes) == 0, "schedule output differs from the direct call");
        char report[512] = "";
        STEP_CHECK((st = ksa_check_against_reference(dev, NULL, &prm, &t, report, sizeof report)) == KSA_STATUS_SUCCESS,
                   "direct call vs reference: %s", report);
    }
done:
    free(sched_o);
    free(direct_o);
    ksa_buffer_free(bi);
    ksa_buffer_free(bc);
    ksa_buffer_free(wsb);
    for (int l = 0; l < made; l++) ktest_problem_destroy(&layer[l]);
    ksa_schedule_destroy(s);
    return st;
}
