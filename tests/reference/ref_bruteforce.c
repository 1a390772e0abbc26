/* ref_bruteforce.c: the brute-force formulation the reference is tested against (see
 * ref_bruteforce.h). Written from docs/SEMANTICS.md without reusing the reference's code: whole
 * probability matrices, masks, arg-max selection, renormalised restrictions. */
#include "ref_bruteforce.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double bf_tolerance(ksa_dtype dtype, double expected)
{
    /* relative: half an ulp of the storage type plus slack; absolute: f16 subnormal spacing */
    double rel = dtype == KSA_DTYPE_F32 ? 1.2e-7 : dtype == KSA_DTYPE_F16 ? 9.8e-4 : 7.9e-3;
    double abs_tol = dtype == KSA_DTYPE_F16 ? 6e-8 : 1e-12;
    return abs_tol + rel * fabs(expected);
}

/* Probability matrices of the G heads of group g of sequence b: P[(hh * lq + i) * lk + j] and the
 * dense log-sum-exp L[hh * lq + i]. Masked entries are exactly 0. */
static void bf_matrices(const rt_problem *r, const rt_data *d, int32_t b, int32_t g, double *P, double *L)
{
    const ksa_problem *p = &r->p;
    int64_t lq = r->seqlen_q[b], lk = r->seqlen_k[b];
    int32_t G = p->group_size;
    double scale = (double)p->scale;
    for (int32_t hh = 0; hh < G; hh++) {
        int32_t h = g * G + hh;
        for (int64_t i = 0; i < lq; i++) {
            double *row = P + ((size_t)hh * lq + i) * lk;
            int64_t last = lk - lq + i; /* the query's position */
            double mx = -INFINITY;
            for (int64_t j = 0; j < lk; j++) {
                if (j > last) {
                    row[j] = -INFINITY;
                    continue;
                }
                double sdot = 0;
                for (int32_t x = 0; x < p->head_dim; x++) sdot += rt_q(d, b, i, h)[x] * rt_k(d, b, j, g)[x];
                row[j] = scale * sdot;
                if (row[j] > mx) mx = row[j];
            }
            double z = 0;
            for (int64_t j = 0; j < lk; j++) z += (j > last) ? 0.0 : exp(row[j] - mx);
            for (int64_t j = 0; j < lk; j++) row[j] = (j > last) ? 0.0 : exp(row[j] - mx) / z;
            L[hh * lq + i] = mx + log(z);
        }
    }
}

/* Expected o row and lse over `in` (membership flags over keys, NULL = all visible keys). */
static void bf_row(const rt_problem *r, const rt_data *d, int32_t b, int32_t g, const double *prow, double lse_dense,
                   const unsigned char *in, int64_t lk, double *o, double *lse)
{
    int32_t D = r->p.head_dim;
    double mass = 0;
    for (int32_t x = 0; x < D; x++) o[x] = 0;
    for (int64_t j = 0; j < lk; j++) {
        if (in && !in[j]) continue;
        mass += prow[j];
        for (int32_t x = 0; x < D; x++) o[x] += prow[j] * rt_v(d, b, j, g)[x];
    }
    if (in) {
        int any = 0;
        for (int64_t j = 0; j < lk; j++) any |= in[j];
        if (!any) {
            *lse = -INFINITY;
            return;
        }
    }
    for (int32_t x = 0; x < D; x++) o[x] /= mass;
    *lse = lse_dense + log(mass);
}

static int bf_check_row(const rt_problem *r, int32_t b, int64_t i, int32_t h, const double *o, double lse, char *msg,
                        size_t len)
{
    for (int32_t x = 0; x < r->p.head_dim; x++) {
        double got = rt_o(r, b, i, h, x);
        if (!(fabs(got - o[x]) <= bf_tolerance(r->p.dtype, o[x]))) {
            snprintf(msg, len, "o[b=%d, i=%lld, h=%d, d=%d] = %.9g, brute force %.9g", b, (long long)i, h, x, got, o[x]);
            return 1;
        }
    }
    if (r->p.lse.present) {
        double got = rt_lse(r, b, h, i);
        int ok = isinf(lse) ? (got == lse) : fabs(got - lse) <= 1e-6 + 1e-7 * fabs(lse);
        if (!ok) {
            snprintf(msg, len, "lse[b=%d, h=%d, i=%lld] = %.9g, brute force %.9g", b, h, (long long)i, got, lse);
            return 1;
        }
    }
    return 0;
}

/* Pooled S[j] over the candidates of tile `tile` from the group's matrices P; returns their number. */
static int64_t pool_from_matrix(const rt_problem *r, int32_t b, const double *P, int64_t tile, double *S)
{
    const ksa_problem *p = &r->p;
    int64_t lq = r->seqlen_q[b], lk = r->seqlen_k[b];
    int decode = p->phase == KSA_PHASE_DECODE;
    int64_t T = p->topk.tile_size;
    if (!decode && tile * T >= lq) return 0;
    int64_t first = decode ? 0 : tile * T, end = decode ? 1 : (first + T < lq ? first + T : lq);
    int64_t ncand = decode ? lk : lk - lq + first;
    for (int64_t j = 0; j < ncand; j++) {
        S[j] = 0;
        for (int32_t hh = 0; hh < p->group_size; hh++)
            for (int64_t i = first; i < end; i++) S[j] += P[((size_t)hh * lq + i) * lk + j];
    }
    return ncand;
}

int64_t bf_pooled(const rt_problem *r, const rt_data *d, int32_t b, int32_t g, int64_t tile, double *S)
{
    int64_t lq = r->seqlen_q[b], lk = r->seqlen_k[b];
    int32_t G = r->p.group_size;
    double *P = malloc(sizeof(double) * (size_t)(G * lq * lk)), *L = malloc(sizeof(double) * (size_t)(G * lq));
    bf_matrices(r, d, b, g, P, L);
    int64_t n = pool_from_matrix(r, b, P, tile, S);
    free(P);
    free(L);
    return n;
}

int bf_compare(const rt_problem *r, const rt_data *d, char *msg, size_t len)
{
    const ksa_problem *p = &r->p;
    int decode = p->phase == KSA_PHASE_DECODE;
    int32_t G = p->group_size, D = p->head_dim;
    int64_t T = p->topk.tile_size;
    int fail = 0;
    double *o = malloc(sizeof(double) * (size_t)D);
    for (int32_t b = 0; b < p->batch && !fail; b++) {
        int64_t lq = r->seqlen_q[b], lk = r->seqlen_k[b];
        double *P = malloc(sizeof(double) * (size_t)(G * lq * lk)), *L = malloc(sizeof(double) * (size_t)(G * lq));
        double *S = malloc(sizeof(double) * (size_t)lk);
        unsigned char *in = malloc((size_t)lk), *chosen = malloc((size_t)lk);
        for (int32_t g = 0; g < p->num_kv_heads && !fail; g++) {
            bf_matrices(r, d, b, g, P, L);
            int dense_out = p->mode == KSA_MODE_DENSE || (p->mode == KSA_MODE_ANCHOR && p->anchor_dense_output);
            if (dense_out)
                for (int32_t hh = 0; hh < G && !fail; hh++)
                    for (int64_t i = 0; i < lq && !fail; i++) {
                        double lse;
                        bf_row(r, d, b, g, P + ((size_t)hh * lq + i) * lk, L[hh * lq + i], NULL, lk, o, &lse);
                        fail = bf_check_row(r, b, i, g * G + hh, o, lse, msg, len);
                    }
            if (p->mode == KSA_MODE_DENSE || fail) continue;
            int64_t tiles = decode ? 1 : (lq + T - 1) / T;
            for (int64_t t = 0; t < p->n_tiles && !fail; t++) {
                if (t >= tiles) {
                    if (p->mode != KSA_MODE_ANCHOR) continue;
                    if (rt_count(r, b, g, t) != 0) {
                        snprintf(msg, len, "counts[b=%d, g=%d, t=%lld] = %d past the last tile, want 0", b, g, (long long)t,
                                 rt_count(r, b, g, t));
                        fail = 1;
                    }
                    for (int64_t s = 0; s < p->k_slots && !fail; s++)
                        if (rt_index(r, b, g, t, s) != -1) {
                            snprintf(msg, len, "indices[b=%d, g=%d, t=%lld, %lld] = %d past the last tile, want -1", b, g,
                                     (long long)t, (long long)s, rt_index(r, b, g, t, s));
                            fail = 1;
                        }
                    continue;
                }
                int64_t first = decode ? 0 : t * T, end = decode ? 1 : (first + T < lq ? first + T : lq);
                int64_t ncand = decode ? lk : lk - lq + first;
                memset(chosen, 0, (size_t)lk);
                if (p->mode == KSA_MODE_ANCHOR) {
                    int64_t want = decode ? rt_k_of(&p->topk, lk) : rt_tile_count(&p->topk, lq, lk, t);
                    pool_from_matrix(r, b, P, t, S);
                    for (int64_t n = 0; n < want; n++) { /* repeated arg-max; the first maximum wins */
                        int64_t best = -1;
                        for (int64_t j = 0; j < ncand; j++)
                            if (!chosen[j] && (best < 0 || S[j] > S[best])) best = j;
                        if (best < 0) break;
                        chosen[best] = 1;
                    }
                    if (rt_count(r, b, g, t) != want) {
                        snprintf(msg, len, "counts[b=%d, g=%d, t=%lld] = %d, want %lld", b, g, (long long)t,
                                 rt_count(r, b, g, t), (long long)want);
                        fail = 1;
                        break;
                    }
                    int64_t s = 0;
                    for (int64_t j = 0; j < ncand && !fail; j++)
                        if (chosen[j] && rt_index(r, b, g, t, s++) != j) {
                            snprintf(msg, len, "indices[b=%d, g=%d, t=%lld, slot %lld] = %d, want key %lld", b, g, (long long)t,
                                     (long long)(s - 1), rt_index(r, b, g, t, s - 1), (long long)j);
                            fail = 1;
                        }
                    for (; s < p->k_slots && !fail; s++)
                        if (rt_index(r, b, g, t, s) != -1) {
                            snprintf(msg, len, "indices[b=%d, g=%d, t=%lld, slot %lld] = %d, want -1", b, g, (long long)t,
                                     (long long)s, rt_index(r, b, g, t, s));
                            fail = 1;
                        }
                    if (p->anchor_dense_output || fail) continue;
                } else { /* REUSE: the given set of the mapped head */
                    int32_t src = p->head_map[g];
                    for (int32_t s = 0; s < rt_count(r, b, src, t); s++) chosen[rt_index(r, b, src, t, s)] = 1;
                    if (decode && p->topk.local_window > 0)
                        for (int64_t j = lk - p->topk.local_window; j < lk; j++)
                            if (j >= 0) chosen[j] = 1;
                }
                for (int32_t hh = 0; hh < G && !fail; hh++)
                    for (int64_t i = first; i < end && !fail; i++) {
                        for (int64_t j = 0; j < lk; j++) in[j] = chosen[j] || (j >= ncand && j <= lk - lq + i);
                        double lse;
                        bf_row(r, d, b, g, P + ((size_t)hh * lq + i) * lk, L[hh * lq + i], in, lk, o, &lse);
                        fail = bf_check_row(r, b, i, g * G + hh, o, lse, msg, len);
                    }
            }
        }
        free(P);
        free(L);
        free(S);
        free(in);
        free(chosen);
    }
    free(o);
    return fail;
}
