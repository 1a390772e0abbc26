/* check.c: the correctness model in code. Per-dtype tolerances (the one place they are stated),
 * the comparison of a backend's outputs with the reference's (outputs element-wise, index sets
 * with tie tolerance, ANCHOR outputs against the reference over the backend's own sets), and the
 * KSA_CHECK cross-check that copies a call's tensors back from the device and runs the reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksa_half.h"
#include "ksa_internal.h"
#include "reference/ksa_reference.h"

ksa_tolerance ksa_tolerance_for(ksa_dtype dtype)
{
    ksa_tolerance t;
    switch (dtype) {
    case KSA_DTYPE_F32:
        t.atol = 2e-5; t.rtol = 2e-5; t.lse_atol = 1e-5; t.score_atol = 1e-5; t.score_rtol = 1e-4;
        break;
    case KSA_DTYPE_F16:
        t.atol = 2e-3; t.rtol = 2e-3; t.lse_atol = 1e-3; t.score_atol = 1e-4; t.score_rtol = 5e-3;
        break;
    case KSA_DTYPE_BF16:
    default:
        t.atol = 1.6e-2; t.rtol = 1.6e-2; t.lse_atol = 1e-3; t.score_atol = 1e-4; t.score_rtol = 5e-3;
        break;
    }
    return t;
}

static double load_elem(const void *base, ksa_dtype dt, int64_t off)
{
    switch (dt) {
    case KSA_DTYPE_F32: return ((const float *)base)[off];
    case KSA_DTYPE_F16: return ksa_f16_to_f32(((const uint16_t *)base)[off]);
    case KSA_DTYPE_BF16: return ksa_bf16_to_f32(((const uint16_t *)base)[off]);
    case KSA_DTYPE_I32: return ((const int32_t *)base)[off];
    default: return NAN;
    }
}

/* One output element against the reference's: a NaN reference needs a NaN, an infinite one the
 * same infinity, a finite one a finite value within atol + rtol * |ref| (docs/SEMANTICS.md). */
static int element_agrees(double x, double ref, double atol, double rtol)
{
    if (isnan(ref)) return isnan(x);
    if (isinf(ref)) return x == ref;
    return fabs(x - ref) <= atol + rtol * fabs(ref);
}

#define REPORT(...)                                                                 \
    do {                                                                            \
        if (report && report_len) snprintf(report, report_len, __VA_ARGS__);        \
    } while (0)

static ksa_status compare_outputs(const ksa_problem *c, const ksa_problem *r, char *report, size_t report_len)
{
    ksa_tolerance tol = ksa_tolerance_for(c->dtype);
    const void *co = ksa_mem_addr(c->o.mem), *ro = ksa_mem_addr(r->o.mem);
    double worst = 0;
    for (int32_t b = 0; b < c->batch; b++)
        for (int32_t i = 0; i < c->seqlen_q[b]; i++)
            for (int32_t h = 0; h < c->num_q_heads; h++) {
                for (int32_t d = 0; d < c->head_dim; d++) {
                    int64_t oc = b * c->o_strides.batch + (int64_t)(c->q_row0[b] + i) * c->o_strides.token +
                                 h * c->o_strides.head + d;
                    int64_t orf = b * r->o_strides.batch + (int64_t)(r->q_row0[b] + i) * r->o_strides.token +
                                  h * r->o_strides.head + d;
                    double x = load_elem(co, c->dtype, oc), y = load_elem(ro, r->dtype, orf);
                    double err = fabs(x - y);
                    if (!element_agrees(x, y, tol.atol, tol.rtol)) {
                        REPORT("o[b=%d, i=%d, h=%d, d=%d] = %.6g but the reference gives %.6g (|diff| %.3g > atol %.1e + rtol %.1e * |ref|, dtype %s)",
                               b, i, h, d, x, y, err, tol.atol, tol.rtol, ksa_dtype_name(c->dtype));
                        return ksa_error(KSA_STATUS_CHECK_FAILED,
                                         "cross-check: o[b=%d, i=%d, h=%d, d=%d] = %.6g, reference %.6g (dtype %s, mode %d, phase %d)",
                                         b, i, h, d, x, y, ksa_dtype_name(c->dtype), (int)c->mode, (int)c->phase);
                    }
                    if (isfinite(y) && err > worst) worst = err;
                }
                if (c->lse.present) {
                    int64_t ic = c->q_ragged ? c->q_row0[b] + i : i;
                    int64_t lc = b * c->lse_stride_b + h * c->lse_stride_h + ic * c->lse_stride_i;
                    int64_t lr = b * r->lse_stride_b + h * r->lse_stride_h + ic * r->lse_stride_i;
                    double x = ((const float *)ksa_mem_addr(c->lse.mem))[lc];
                    double y = ((const float *)ksa_mem_addr(r->lse.mem))[lr];
                    if (!element_agrees(x, y, tol.lse_atol, tol.lse_atol)) {
                        REPORT("lse[b=%d, h=%d, i=%d] = %.8g but the reference gives %.8g", b, h, i, x, y);
                        return ksa_error(KSA_STATUS_CHECK_FAILED, "cross-check: lse[b=%d, h=%d, i=%d] = %.8g, reference %.8g", b,
                                         h, i, x, y);
                    }
                }
            }
    REPORT("outputs agree (max |diff| %.3g)", worst);
    return KSA_STATUS_SUCCESS;
}

/* Index sets of an ANCHOR call: counts equal, entries distinct candidates, unused slots -1, and
 * every swapped-in key a near-tie of the reference's weakest selected key. */
static ksa_status compare_index_sets(const ksa_problem *c, const ksa_problem *r, char *report, size_t report_len)
{
    ksa_tolerance tol = ksa_tolerance_for(c->dtype);
    const int32_t *ci = ksa_mem_addr(c->indices.mem), *cc = ksa_mem_addr(c->counts.mem);
    const int32_t *ri = ksa_mem_addr(r->indices.mem), *rc = ksa_mem_addr(r->counts.mem);
    int64_t max_cand = r->max_seqlen_k;
    double *scores = malloc(sizeof(double) * (size_t)(max_cand > 0 ? max_cand : 1));
    unsigned char *mark = malloc((size_t)(max_cand > 0 ? max_cand : 1));
    if (!scores || !mark) {
        free(scores);
        free(mark);
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "cross-check: out of host memory");
    }
    ksa_status st = KSA_STATUS_SUCCESS;
    for (int32_t b = 0; b < c->batch && !st; b++)
        for (int32_t g = 0; g < c->num_kv_heads && !st; g++)
            for (int64_t t = 0; t < c->n_tiles && !st; t++) {
                int64_t cbase = b * c->count_stride[0] + g * c->count_stride[1] + t * c->count_stride[2];
                int64_t rbase = b * r->count_stride[0] + g * r->count_stride[1] + t * r->count_stride[2];
                int32_t nc = cc[cbase], nr = rc[rbase];
                if (nc != nr) {
                    REPORT("counts[b=%d, g=%d, t=%lld] = %d but the reference gives %d", b, g, (long long)t, nc, nr);
                    st = ksa_error(KSA_STATUS_CHECK_FAILED, "cross-check: counts[b=%d, g=%d, t=%lld] = %d, reference %d", b, g,
                                   (long long)t, nc, nr);
                    break;
                }
                int64_t ib = b * c->index_stride[0] + g * c->index_stride[1] + t * c->index_stride[2];
                int64_t rb = b * r->index_stride[0] + g * r->index_stride[1] + t * r->index_stride[2];
                for (int64_t s = nc; s < c->k_slots; s++)
                    if (ci[ib + s * c->index_stride[3]] != -1) {
                        REPORT("indices[b=%d, g=%d, t=%lld, slot %lld] = %d past the count %d; unused slots must be -1", b, g,
                               (long long)t, (long long)s, ci[ib + s * c->index_stride[3]], nc);
                        st = ksa_error(KSA_STATUS_CHECK_FAILED, "cross-check: unused index slot not -1 at b=%d g=%d t=%lld", b, g,
                                       (long long)t);
                        break;
                    }
                if (st || nc == 0) continue;
                if (t >= ksa_problem_tiles(c, b)) continue;
                int64_t ncand = ksa_problem_candidates(c, b, t);
                memset(mark, 0, (size_t)ncand);
                for (int32_t s = 0; s < nr; s++) {
                    int32_t j = ri[rb + s * r->index_stride[3]];
                    if (j >= 0 && j < ncand) mark[j] |= 2;
                }
                int repeat;
                int64_t bad = ksa_index_set_check(ci + ib, c->index_stride[3], nc, ncand, mark, 1, &repeat);
                if (bad >= 0) {
                    int32_t j = ci[ib + bad * c->index_stride[3]];
                    REPORT("indices[b=%d, g=%d, t=%lld, slot %lld] holds %d, which is %s", b, g, (long long)t, (long long)bad,
                           j, repeat ? "a duplicate" : "not a candidate key");
                    st = ksa_error(KSA_STATUS_CHECK_FAILED, "cross-check: the backend wrote bad index %d at b=%d g=%d t=%lld slot %lld",
                                   j, b, g, (long long)t, (long long)bad);
                    break;
                }
                int differ = 0;
                for (int32_t s = 0; s < nc; s++)
                    if (!(mark[ci[ib + s * c->index_stride[3]]] & 2)) differ = 1;
                if (!differ) continue;
                int64_t n = 0;
                st = ksa_reference_pooled_scores(r, b, g, t, scores, &n);
                if (st) break;
                /* NaN pooled scores have no near-ties: NaN ranks first and NaNs tie, so the set is
                 * exactly the reference's */
                int nan_scores = 0;
                for (int64_t j = 0; j < n; j++) nan_scores |= isnan(scores[j]) != 0;
                if (nan_scores) {
                    REPORT("indices[b=%d, g=%d, t=%lld] differ from the reference's set, whose pooled scores include NaN "
                           "(NaN ranks first, ties go to the smaller key)",
                           b, g, (long long)t);
                    st = ksa_error(KSA_STATUS_CHECK_FAILED, "cross-check: b=%d g=%d t=%lld: set differs where pooled scores are NaN",
                                   b, g, (long long)t);
                    break;
                }
                double thr = INFINITY;
                for (int64_t j = 0; j < n; j++)
                    if ((mark[j] & 2) && scores[j] < thr) thr = scores[j];
                double slack = tol.score_atol + tol.score_rtol * fabs(thr);
                for (int64_t j = 0; j < n; j++)
                    if ((mark[j] & 1) && !(mark[j] & 2) && scores[j] < thr - slack) {
                        REPORT("indices[b=%d, g=%d, t=%lld] selects key %lld with pooled score %.6g, below the reference's "
                               "weakest selected score %.6g by more than %.2g",
                               b, g, (long long)t, (long long)j, scores[j], thr, slack);
                        st = ksa_error(KSA_STATUS_CHECK_FAILED,
                                       "cross-check: b=%d g=%d t=%lld selects key %lld (score %.6g < %.6g) that is no near-tie", b,
                                       g, (long long)t, (long long)j, scores[j], thr);
                        break;
                    }
            }
    free(scores);
    free(mark);
    return st;
}

/* Allocate a host copy of a view's span (poisoned, or copied from `src` when given). */
static void *alloc_like(const ksa_view *v, const void *src, unsigned char poison)
{
    int64_t span = ksa_view_span(v->ndim, v->shape, v->stride);
    size_t bytes = (size_t)span * ksa_dtype_size(v->dtype);
    void *m = malloc(bytes ? bytes : 1);
    if (!m) return NULL;
    if (src) memcpy(m, src, bytes);
    else memset(m, poison, bytes);
    return m;
}

static void set_host(ksa_view *v, void *ptr)
{
    v->mem.ptr = ptr;
    v->mem.native = NULL;
    v->mem.offset = 0;
}

ksa_status ksa_compare_problems(const ksa_problem *c, const ksa_problem *r, char *report, size_t report_len)
{
    if (c->mode == KSA_MODE_ANCHOR) {
        ksa_status st = compare_index_sets(c, r, report, report_len);
        if (st) return st;
        if (!c->anchor_dense_output) {
            /* reference output over the candidate's own sets */
            ksa_problem r2 = *r;
            void *o2 = alloc_like(&r->o, NULL, 0xff);
            void *l2 = r->lse.present ? alloc_like(&r->lse, NULL, 0xff) : NULL;
            if (!o2 || (r->lse.present && !l2)) {
                free(o2);
                free(l2);
                return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "cross-check: out of host memory");
            }
            set_host(&r2.o, o2);
            if (l2) set_host(&r2.lse, l2);
            r2.mode = KSA_MODE_REUSE;
            r2.indices = c->indices;
            r2.counts = c->counts;
            memcpy(r2.index_stride, c->index_stride, sizeof r2.index_stride);
            memcpy(r2.count_stride, c->count_stride, sizeof r2.count_stride);
            r2.k_slots = c->k_slots;
            r2.n_tiles = c->n_tiles;
            r2.topk.local_window = 0;
            int32_t map[KSA_MAX_KV_HEADS];
            for (int g = 0; g < r->num_kv_heads; g++) map[g] = g;
            r2.head_map = map;
            r2.workspace.ptr = NULL;
            r2.workspace_size = 0;
            st = ksa_reference_attention(&r2);
            if (!st) st = compare_outputs(c, &r2, report, report_len);
            free(o2);
            free(l2);
            return st;
        }
    }
    return compare_outputs(c, r, report, report_len);
}

ksa_status ksa_check_resolve(ksa_device dev, void *native_stream, const ksa_attention_params *params,
                             const ksa_attention_tensors *tensors, ksa_problem *p, ksa_problem_storage *st)
{
    if (!params) return ksa_resolve_problem(dev, native_stream, params, tensors, p, st);
    /* validation mode also reads the length tensors back whatever bounds the caller gave: the
     * comparison walks the sequences on the host */
    ksa_attention_params validated = *params;
    validated.validate_indices = 1;
    ksa_status s = ksa_resolve_problem(dev, native_stream, &validated, tensors, p, st);
    if (s == KSA_STATUS_INVALID_ARGUMENT) {
        char why[900];
        snprintf(why, sizeof why, "%s", ksa_last_error());
        return ksa_error(s, "cross-check: the caller's input is invalid (an input error, not a backend fault): %s", why);
    }
    p->validate_indices = params->validate_indices ? 1 : 0; /* the backend sees the call as the caller made it */
    return s;
}

ksa_status ksa_check_against_reference(ksa_device dev, ksa_stream stream, const ksa_attention_params *params,
                                       const ksa_attention_tensors *tensors, char *report, size_t report_len)
{
    if (report && report_len) report[0] = '\0';
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "dev is NULL");
    void *native = stream ? stream->native : NULL;
    ksa_backend *be = dev->backend;
    ksa_status st;
    if (be->stream_sync) {
        st = be->stream_sync(be, dev->index, native);
        if (st) return st;
    }
    ksa_problem_storage storage;
    memset(&storage, 0, sizeof storage);
    ksa_problem p;
    st = ksa_check_resolve(dev, native, params, tensors, &p, &storage);
    if (st) {
        ksa_problem_storage_release(&storage);
        return st;
    }
    ksa_view *views[] = {&p.q, &p.k, &p.v, &p.o, &p.lse, &p.cu_seqlens_q, &p.cu_seqlens_k, &p.page_table, &p.seq_lens_k,
                         &p.indices, &p.counts};
    enum { NV = sizeof views / sizeof views[0] };
    void *host[NV];
    memset(host, 0, sizeof host);
    st = KSA_STATUS_SUCCESS;
    for (int i = 0; i < NV && !st; i++) {
        ksa_view *v = views[i];
        if (!v->present) continue;
        int64_t span = ksa_view_span(v->ndim, v->shape, v->stride);
        size_t bytes = (size_t)span * ksa_dtype_size(v->dtype);
        host[i] = malloc(bytes ? bytes : 1);
        if (!host[i]) {
            st = ksa_error(KSA_STATUS_OUT_OF_MEMORY, "cross-check: out of host memory");
            break;
        }
        if (be->host_memory) memcpy(host[i], ksa_mem_addr(v->mem), bytes);
        else st = be->mem_read(be, dev->index, native, host[i], v->mem, 0, bytes);
    }
    void *ref_out[4] = {NULL, NULL, NULL, NULL};
    if (!st) {
        ksa_problem cand = p;
        ksa_view *cv[] = {&cand.q, &cand.k, &cand.v, &cand.o, &cand.lse, &cand.cu_seqlens_q, &cand.cu_seqlens_k,
                          &cand.page_table, &cand.seq_lens_k, &cand.indices, &cand.counts};
        for (int i = 0; i < NV; i++)
            if (cv[i]->present) set_host(cv[i], host[i]);
        cand.workspace.ptr = NULL;
        cand.workspace.native = NULL;
        cand.workspace_size = 0;
        ksa_problem ref = cand;
        ref_out[0] = alloc_like(&ref.o, NULL, 0xff);
        if (ref.lse.present) ref_out[1] = alloc_like(&ref.lse, NULL, 0xff);
        if (ref.mode == KSA_MODE_ANCHOR) {
            ref_out[2] = alloc_like(&ref.indices, NULL, 0xee);
            ref_out[3] = alloc_like(&ref.counts, NULL, 0xee);
        }
        if (!ref_out[0] || (ref.lse.present && !ref_out[1]) ||
            (ref.mode == KSA_MODE_ANCHOR && (!ref_out[2] || !ref_out[3]))) {
            st = ksa_error(KSA_STATUS_OUT_OF_MEMORY, "cross-check: out of host memory");
        } else {
            set_host(&ref.o, ref_out[0]);
            if (ref_out[1]) set_host(&ref.lse, ref_out[1]);
            if (ref.mode == KSA_MODE_ANCHOR) {
                set_host(&ref.indices, ref_out[2]);
                set_host(&ref.counts, ref_out[3]);
            }
            st = ksa_reference_attention(&ref);
            if (!st) st = ksa_compare_problems(&cand, &ref, report, report_len);
        }
    }
    for (int i = 0; i < NV; i++) free(host[i]);
    for (int i = 0; i < 4; i++) free(ref_out[i]);
    ksa_problem_storage_release(&storage);
    return st;
}
