/* test_calib_collector.c: the statistics collector. Coverage against an independent float64
 * computation written here (pooled post-softmax scores per tile, Top-k, local mass, minimum over
 * tiles, mean over prompts) for prefill, chunked prefill with tile sampling, and decode; importance
 * against its definition; a synthetic model with planted layer groups that share their top keys
 * (layers of a group copy the q/k of the group's first layer through a head map) recovered exactly
 * from q/k and from the index sets of ANCHOR calls; and misuse of the collector. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ksa/ksa_calib.h"
#include "ksa_backend.h" /* the budget rule (ksa_prefill_tile_count, ksa_decode_count) */
#include "test_util.h"

typedef struct layer_data {
    int32_t batch, lq, lk, hq, hkv, d;
    float *q, *k, *v, *o; /* [B, L, H, D] contiguous f32 */
} layer_data;

static void layer_alloc(layer_data *L, int32_t batch, int32_t lq, int32_t lk, int32_t hq, int32_t hkv, int32_t d)
{
    L->batch = batch;
    L->lq = lq;
    L->lk = lk;
    L->hq = hq;
    L->hkv = hkv;
    L->d = d;
    L->q = malloc(sizeof(float) * (size_t)batch * lq * hq * d);
    L->o = malloc(sizeof(float) * (size_t)batch * lq * hq * d);
    L->k = malloc(sizeof(float) * (size_t)batch * lk * hkv * d);
    L->v = malloc(sizeof(float) * (size_t)batch * lk * hkv * d);
    assert_true(L->q && L->o && L->k && L->v);
}

static void layer_free(layer_data *L)
{
    free(L->q);
    free(L->k);
    free(L->v);
    free(L->o);
}

static void layer_random(layer_data *L, uint64_t *rng, double amp)
{
    for (size_t i = 0; i < (size_t)L->batch * L->lq * L->hq * L->d; i++) {
        L->q[i] = (float)ktest_rand_uniform(rng, -amp, amp);
        L->o[i] = NAN;
    }
    for (size_t i = 0; i < (size_t)L->batch * L->lk * L->hkv * L->d; i++) {
        L->k[i] = (float)ktest_rand_uniform(rng, -amp, amp);
        L->v[i] = (float)ktest_rand_uniform(rng, -1, 1);
    }
}

static ksa_attention_tensors layer_tensors(ksa_device dev, layer_data *L)
{
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    int64_t qs[4] = {L->batch, L->lq, L->hq, L->d}, ks[4] = {L->batch, L->lk, L->hkv, L->d};
    t.q = ksa_tensor_make(dev, L->q, KSA_DTYPE_F32, 4, qs);
    t.o = ksa_tensor_make(dev, L->o, KSA_DTYPE_F32, 4, qs);
    t.k = ksa_tensor_make(dev, L->k, KSA_DTYPE_F32, 4, ks);
    t.v = ksa_tensor_make(dev, L->v, KSA_DTYPE_F32, 4, ks);
    return t;
}

/* ---------------------------------------------------------------- independent coverage */
typedef struct naive_tile {
    int64_t ncand;
    double *P;      /* [ncand] pooled scores */
    double local;
    int32_t *set;   /* [ksel] */
    int64_t ksel;
} naive_tile;

/* Pooled scores of (sequence b, KV head g, tile t), straight from the definition in float64. */
static void naive_pool(const layer_data *L, ksa_phase phase, const ksa_topk_params *tk, int32_t b, int32_t g, int64_t t,
                       naive_tile *out)
{
    int64_t T = tk->tile_size, G = L->hq / L->hkv;
    int64_t i0 = phase == KSA_PHASE_DECODE ? 0 : t * T;
    int64_t i1 = phase == KSA_PHASE_DECODE ? 1 : (i0 + T < L->lq ? i0 + T : L->lq);
    int64_t start = phase == KSA_PHASE_DECODE ? L->lk : L->lk - L->lq + i0;
    out->ncand = start;
    out->P = calloc((size_t)(start > 0 ? start : 1), sizeof(double));
    out->local = 0.0;
    double scale = (double)(float)(1.0 / sqrt((double)L->d)); /* the API carries the scale as a float */
    double *s = malloc(sizeof(double) * (size_t)L->lk);
    for (int64_t h = g * G; h < (g + 1) * G; h++)
        for (int64_t i = i0; i < i1; i++) {
            int64_t pos = L->lk - L->lq + i;
            double mx = -INFINITY, sum = 0.0;
            for (int64_t j = 0; j <= pos; j++) {
                double dot = 0.0;
                for (int64_t d = 0; d < L->d; d++)
                    dot += (double)L->q[(((size_t)b * L->lq + i) * L->hq + h) * L->d + d] *
                           (double)L->k[(((size_t)b * L->lk + j) * L->hkv + g) * L->d + d];
                s[j] = scale * dot;
                if (s[j] > mx) mx = s[j];
            }
            for (int64_t j = 0; j <= pos; j++) sum += exp(s[j] - mx);
            for (int64_t j = 0; j <= pos; j++) {
                double p = exp(s[j] - mx) / sum;
                if (j < start) out->P[j] += p;
                else out->local += p;
            }
        }
    free(s);
    int64_t ksel = phase == KSA_PHASE_DECODE ? ksa_decode_count(tk, L->lk) : ksa_prefill_tile_count(tk, L->lq, L->lk, t);
    if (ksel > start) ksel = start;
    out->ksel = ksel;
    out->set = malloc(sizeof(int32_t) * (size_t)(ksel > 0 ? ksel : 1));
    /* selection sort by (score desc, index asc) */
    char *taken = calloc((size_t)(start > 0 ? start : 1), 1);
    for (int64_t r = 0; r < ksel; r++) {
        int64_t best = -1;
        for (int64_t j = 0; j < start; j++)
            if (!taken[j] && (best < 0 || out->P[j] > out->P[best])) best = j;
        taken[best] = 1;
        out->set[r] = (int32_t)best;
    }
    free(taken);
}

/* Expected coverage M[a][b][hb][ha] for layers given as layer_data (all fed in one step per call of
 * this function: the batch's sequences are the prompts). */
static void naive_coverage(layer_data *const *layers, int n, ksa_phase phase, const ksa_topk_params *tk, int stride, double *M)
{
    int h = layers[0]->hkv, B = layers[0]->batch;
    int64_t nt = phase == KSA_PHASE_DECODE ? 1 : (layers[0]->lq + tk->tile_size - 1) / tk->tile_size;
    for (size_t i = 0; i < (size_t)n * n * h * h; i++) M[i] = 0.0;
    int64_t *cnt = calloc((size_t)n * n, sizeof(int64_t));
    for (int b = 0; b < B; b++) {
        for (int la = 0; la < n; la++)
            for (int lb = la; lb < n; lb++) {
                double mins[64];
                int seen = 0;
                for (int i = 0; i < h * h; i++) mins[i] = INFINITY;
                for (int64_t t = 0; t < nt; t += stride)
                    for (int hb = 0; hb < h; hb++) {
                        naive_tile tb;
                        naive_pool(layers[lb], phase, tk, b, hb, t, &tb);
                        if (tb.ncand > 0) {
                            double top = 0.0;
                            for (int64_t r = 0; r < tb.ksel; r++) top += tb.P[tb.set[r]];
                            for (int ha = 0; ha < h; ha++) {
                                naive_tile ta;
                                naive_pool(layers[la], phase, tk, b, ha, t, &ta);
                                double num = tb.local;
                                for (int64_t r = 0; r < ta.ksel; r++) num += tb.P[ta.set[r]];
                                double c = num / (top + tb.local);
                                if (c < mins[hb * h + ha]) mins[hb * h + ha] = c;
                                seen = 1;
                                free(ta.P);
                                free(ta.set);
                            }
                        }
                        free(tb.P);
                        free(tb.set);
                    }
                if (!seen) continue;
                for (int i = 0; i < h * h; i++) M[((size_t)la * n + lb) * h * h + i] += mins[i];
                cnt[la * n + lb]++;
            }
    }
    for (int la = 0; la < n; la++)
        for (int lb = 0; lb < n; lb++)
            for (int i = 0; i < h * h; i++) {
                size_t at = ((size_t)la * n + lb) * h * h + i;
                M[at] = lb < la ? 0.0 : cnt[la * n + lb] ? M[at] / (double)cnt[la * n + lb] : NAN;
            }
    free(cnt);
}

static void check_against_naive(ksa_phase phase, int32_t lq, int32_t lk, int stride, int32_t top_k)
{
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    enum { N = 3, B = 2, HQ = 4, HKV = 2, D = 8 };
    uint64_t rng = 1000 + (uint64_t)lq * 7 + (uint64_t)stride;
    layer_data L[N];
    layer_data *lp[N];
    for (int l = 0; l < N; l++) {
        layer_alloc(&L[l], B, lq, lk, HQ, HKV, D);
        layer_random(&L[l], &rng, 1.5);
        lp[l] = &L[l];
    }
    ksa_attention_params params = ksa_attention_params_default(KSA_MODE_ANCHOR, phase);
    params.topk.top_k = top_k;
    params.topk.tile_size = 8;
    ksa_calib_options opt = ksa_calib_options_default();
    opt.tile_stride = stride;
    ksa_calib_collector c;
    assert_int_equal(ksa_calib_collector_create(N, HKV, &opt, &c), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_collector_begin_step(c), KSA_STATUS_SUCCESS);
    for (int l = 0; l < N; l++) {
        ksa_attention_tensors t = layer_tensors(dev, &L[l]);
        ksa_status st = ksa_calib_collector_add_attention(c, l, dev, &params, &t);
        if (st) print_error("%s\n", ksa_last_error());
        assert_int_equal(st, KSA_STATUS_SUCCESS);
    }
    assert_int_equal(ksa_calib_collector_end_step(c), KSA_STATUS_SUCCESS);
    static double got[N * N * HKV * HKV], want[N * N * HKV * HKV];
    int64_t samples[N * N];
    assert_int_equal(ksa_calib_collector_coverage(c, got, samples), KSA_STATUS_SUCCESS);
    naive_coverage(lp, N, phase, &params.topk, stride, want);
    double maxerr = 0.0;
    int below_one = 0;
    for (int a = 0; a < N; a++)
        for (int b = 0; b < N; b++) {
            assert_int_equal(samples[a * N + b], b >= a ? B : 0);
            for (int i = 0; i < HKV * HKV; i++) {
                size_t at = ((size_t)a * N + b) * HKV * HKV + i;
                double e = fabs(got[at] - want[at]);
                if (e > maxerr) maxerr = e;
                if (b >= a) {
                    assert_true(got[at] > 0.0 && got[at] <= 1.0 + 1e-12);
                    below_one += got[at] < 0.999;
                }
            }
            if (b >= a) /* a layer covers itself head by head */
                for (int g = 0; g < HKV; g++) assert_true(fabs(got[((size_t)a * N + a) * HKV * HKV + g * HKV + g] - 1.0) < 1e-12);
        }
    print_message("coverage %s Lq %d Lk %d stride %d: max |collector - naive| = %.3g\n",
                  phase == KSA_PHASE_DECODE ? "decode" : "prefill", lq, lk, stride, maxerr);
    assert_true(maxerr < 1e-12);
    assert_true(below_one > 0); /* the statistics are not trivially 1 */
    ksa_calib_collector_destroy(c);
    for (int l = 0; l < N; l++) layer_free(&L[l]);
}

static void test_coverage_prefill(void **state)
{
    (void)state;
    check_against_naive(KSA_PHASE_PREFILL, 48, 48, 1, 20);
}

static void test_coverage_chunked_sampled(void **state)
{
    (void)state;
    check_against_naive(KSA_PHASE_PREFILL, 37, 90, 2, 24); /* ragged last tile, keys before the chunk */
}

static void test_coverage_decode(void **state)
{
    (void)state;
    check_against_naive(KSA_PHASE_DECODE, 1, 70, 1, 9);
}

static void test_importance(void **state)
{
    (void)state;
    ksa_calib_collector c;
    assert_int_equal(ksa_calib_collector_create(3, 2, NULL, &c), KSA_STATUS_SUCCESS);
    uint64_t rng = 3;
    enum { T = 9, HID = 12, STRIDE = 16 };
    float x[T * STRIDE], o[T * STRIDE];
    double expect[3] = {0, 0, 0};
    int64_t count[3] = {0, 0, 0};
    for (int rep = 0; rep < 2; rep++)
        for (int l = 0; l < 3; l++) {
            for (int i = 0; i < T * STRIDE; i++) {
                x[i] = (float)ktest_rand_uniform(&rng, -1, 1);
                o[i] = (float)ktest_rand_uniform(&rng, -0.5 * (l + 1), 0.5 * (l + 1));
            }
            for (int t = 0; t < T; t++) {
                double xx = 0, yy = 0, xy = 0;
                for (int d = 0; d < HID; d++) {
                    double a = x[t * STRIDE + d], b = (double)x[t * STRIDE + d] + o[t * STRIDE + d];
                    xx += a * a;
                    yy += b * b;
                    xy += a * b;
                }
                expect[l] += 1.0 - xy / sqrt(xx * yy);
            }
            count[l] += T;
            assert_int_equal(ksa_calib_collector_add_importance(c, l, T, HID, STRIDE, x, o), KSA_STATUS_SUCCESS);
        }
    double w[3];
    assert_int_equal(ksa_calib_collector_importance(c, w), KSA_STATUS_SUCCESS);
    for (int l = 0; l < 3; l++) assert_true(fabs(w[l] - expect[l] / count[l]) < 1e-9);
    assert_true(w[2] > w[0]); /* a larger attention output moves the residual stream more */
    assert_int_equal(ksa_calib_collector_add_importance(c, 3, T, HID, 0, x, o), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_collector_add_importance(c, 0, T, HID, 4, x, o), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "row_stride"));
    x[5] = INFINITY;
    assert_int_equal(ksa_calib_collector_add_importance(c, 0, T, HID, STRIDE, x, o), KSA_STATUS_INVALID_ARGUMENT);
    ksa_calib_collector_destroy(c);
    /* a layer without samples */
    assert_int_equal(ksa_calib_collector_create(2, 2, NULL, &c), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_collector_add_importance(c, 0, T, HID, STRIDE, o, o), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_collector_importance(c, w), KSA_STATUS_NOT_FOUND);
    assert_non_null(strstr(ksa_last_error(), "layer 1"));
    assert_true(isnan(w[1]));
    ksa_calib_collector_destroy(c);
}

/* ---------------------------------------------------------------- planted groups */
enum { PN = 8, PB = 2, PHQ = 8, PHKV = 4, PD = 16, PL = 160 };
static const int32_t planted_anchors[3] = {0, 3, 5}; /* groups [0,3) [3,5) [5,8) */

typedef struct planted {
    layer_data L[PN];
    int32_t maps[PN * PHKV]; /* the planted head maps (identity at group starts) */
} planted;

/* Layer l of the group starting at a: KV head g copies the q/k of the group's base KV head
 * maps[l][g]. The maps come from map_seed, the data (the prompts) from data_seed. */
static void planted_build(planted *P, uint64_t map_seed, uint64_t data_seed)
{
    uint64_t mrng = map_seed, rng = data_seed;
    layer_data base;
    int G = PHQ / PHKV;
    for (int l = 0; l < PN; l++) {
        int is_start = l == 0 || l == 3 || l == 5;
        for (int g = 0; g < PHKV; g++) P->maps[l * PHKV + g] = is_start ? g : (int32_t)(ktest_rand_u64(&mrng) % PHKV);
    }
    layer_alloc(&base, PB, PL, PL, PHQ, PHKV, PD);
    for (int l = 0; l < PN; l++) {
        if (l == 0 || l == 3 || l == 5) layer_random(&base, &rng, 2.0);
        layer_alloc(&P->L[l], PB, PL, PL, PHQ, PHKV, PD);
        layer_random(&P->L[l], &rng, 1.0); /* v, o (and q/k, overwritten below) */
        for (int b = 0; b < PB; b++)
            for (int i = 0; i < PL; i++)
                for (int g = 0; g < PHKV; g++) {
                    int src = P->maps[l * PHKV + g];
                    for (int d = 0; d < PD; d++)
                        P->L[l].k[(((size_t)b * PL + i) * PHKV + g) * PD + d] = base.k[(((size_t)b * PL + i) * PHKV + src) * PD + d];
                    for (int r = 0; r < G; r++)
                        for (int d = 0; d < PD; d++)
                            P->L[l].q[(((size_t)b * PL + i) * PHQ + g * G + r) * PD + d] =
                                base.q[(((size_t)b * PL + i) * PHQ + src * G + r) * PD + d];
                }
    }
    layer_free(&base);
}

static void planted_free(planted *P)
{
    for (int l = 0; l < PN; l++) layer_free(&P->L[l]);
}

static ksa_attention_params planted_params(void)
{
    ksa_attention_params params = ksa_attention_params_default(KSA_MODE_ANCHOR, KSA_PHASE_PREFILL);
    params.topk.top_k = 48; /* k_sel = 48 - 16 = 32 of up to 144 candidates */
    params.topk.tile_size = 16;
    return params;
}

static void planted_check(ksa_calib_collector c, const planted *P, int with_importance)
{
    static double cov[PN * PN * PHKV * PHKV];
    double w[PN];
    assert_int_equal(ksa_calib_collector_coverage(c, cov, NULL), KSA_STATUS_SUCCESS);
    if (with_importance) assert_int_equal(ksa_calib_collector_importance(c, w), KSA_STATUS_SUCCESS);
    /* planted pairs cover exactly, others do not */
    for (int l = 1; l < PN; l++) {
        int a = l < 3 ? 0 : l < 5 ? 3 : 5;
        for (int g = 0; g < PHKV; g++) {
            double m = cov[(((size_t)a * PN + l) * PHKV + g) * PHKV + P->maps[l * PHKV + g]];
            assert_true(fabs(m - 1.0) < 1e-12);
        }
    }
    ksa_calib_plan plan;
    double score, seg[3];
    ksa_status st = ksa_calib_solve(cov, with_importance ? w : NULL, PN, PHKV, 3, &plan, &score, seg);
    if (st) print_error("%s\n", ksa_last_error());
    assert_int_equal(st, KSA_STATUS_SUCCESS);
    assert_memory_equal(plan.anchors, planted_anchors, sizeof planted_anchors);
    assert_memory_equal(plan.head_maps, P->maps, sizeof P->maps);
    double total = 0.0;
    for (int l = 0; l < PN; l++) total += with_importance ? w[l] : 1.0;
    assert_true(fabs(score - total) < 1e-9); /* every layer fully covered */
    /* one anchor fewer cannot reach it; the range table agrees */
    double sim[PN * PN], scores[4];
    int32_t table[16];
    assert_int_equal(ksa_calib_similarity(cov, with_importance ? w : NULL, PN, PHKV, sim), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_select_anchors_range(sim, PN, 4, scores, table), KSA_STATUS_SUCCESS);
    assert_true(scores[1] < total - 1e-6);
    assert_true(fabs(scores[2] - total) < 1e-9);
    assert_memory_equal(table + 2 * 4, planted_anchors, sizeof planted_anchors);
    ksa_calib_plan_free(&plan);
}

static void test_planted_from_qk(void **state)
{
    (void)state;
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    planted *P = malloc(sizeof *P);
    planted_build(P, 7, 2024);
    ksa_attention_params params = planted_params();
    ksa_calib_collector c;
    assert_int_equal(ksa_calib_collector_create(PN, PHKV, NULL, &c), KSA_STATUS_SUCCESS);
    /* two steps (4 prompts); importance from random attention inputs/outputs */
    uint64_t rng = 17;
    float *x = malloc(sizeof(float) * 64 * 32), *o = malloc(sizeof(float) * 64 * 32);
    for (int step = 0; step < 2; step++) {
        if (step == 1) {
            planted_free(P);
            planted_build(P, 7, 2025); /* other prompts, the same planted structure */
        }
        assert_int_equal(ksa_calib_collector_begin_step(c), KSA_STATUS_SUCCESS);
        for (int l = 0; l < PN; l++) {
            ksa_attention_tensors t = layer_tensors(dev, &P->L[l]);
            ksa_status st = ksa_calib_collector_add_attention(c, l, dev, &params, &t);
            if (st) print_error("%s\n", ksa_last_error());
            assert_int_equal(st, KSA_STATUS_SUCCESS);
            for (int i = 0; i < 64 * 32; i++) {
                x[i] = (float)ktest_rand_uniform(&rng, -1, 1);
                o[i] = (float)ktest_rand_uniform(&rng, -0.3, 0.3);
            }
            assert_int_equal(ksa_calib_collector_add_importance(c, l, 64, 32, 0, x, o), KSA_STATUS_SUCCESS);
        }
        assert_int_equal(ksa_calib_collector_end_step(c), KSA_STATUS_SUCCESS);
    }
    free(x);
    free(o);
    planted_check(c, P, 1);
    planted_check(c, P, 0);
    /* statistics files for ksa-calibrate round-trip */
    char cov_path[] = "/tmp/ksa_calib_cov_XXXXXX";
    int fd = mkstemp(cov_path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ksa_calib_collector_save(c, cov_path, NULL), KSA_STATUS_SUCCESS);
    ksa_npy_array a;
    assert_int_equal(ksa_npy_read(cov_path, &a), KSA_STATUS_SUCCESS);
    assert_int_equal(a.dtype, KSA_NPY_F64);
    assert_int_equal(a.ndim, 4);
    assert_int_equal(a.shape[0], PN);
    assert_int_equal(a.shape[3], PHKV);
    static double cov[PN * PN * PHKV * PHKV];
    assert_int_equal(ksa_calib_collector_coverage(c, cov, NULL), KSA_STATUS_SUCCESS);
    assert_memory_equal(a.data, cov, sizeof cov);
    ksa_npy_free(&a);
    remove(cov_path);
    ksa_calib_collector_destroy(c);
    planted_free(P);
    free(P);
}

/* ANCHOR calls on device "reference" write the index sets; they are fed as host arrays
 * (add_indices) or read from ksa_buffers by the collector itself (add_anchor_result). */
static void planted_from_anchor(int via_buffers)
{
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    planted *P = malloc(sizeof *P);
    planted_build(P, 8, 99);
    ksa_attention_params params = planted_params();
    ksa_calib_options opt = ksa_calib_options_default();
    opt.tile_stride = 2;
    ksa_calib_collector c;
    assert_int_equal(ksa_calib_collector_create(PN, PHKV, &opt, &c), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_collector_begin_step(c), KSA_STATUS_SUCCESS);
    int32_t *indices = NULL, *counts = NULL;
    int64_t n_tiles = 0, k_slots = 0;
    for (int l = 0; l < PN; l++) {
        ksa_attention_tensors t = layer_tensors(dev, &P->L[l]);
        assert_int_equal(ksa_attention_index_shape(dev, &params, &t, &n_tiles, &k_slots), KSA_STATUS_SUCCESS);
        size_t ni = (size_t)PB * PHKV * n_tiles * k_slots, nc = (size_t)PB * PHKV * n_tiles;
        indices = realloc(indices, sizeof(int32_t) * ni);
        counts = realloc(counts, sizeof(int32_t) * nc);
        for (size_t i = 0; i < ni; i++) indices[i] = -77;
        for (size_t i = 0; i < nc; i++) counts[i] = -77;
        int64_t is[4] = {PB, PHKV, n_tiles, k_slots}, cs[3] = {PB, PHKV, n_tiles};
        ksa_buffer bi = NULL, bc = NULL;
        if (via_buffers) {
            assert_int_equal(ksa_buffer_alloc(dev, sizeof(int32_t) * ni, &bi), KSA_STATUS_SUCCESS);
            assert_int_equal(ksa_buffer_alloc(dev, sizeof(int32_t) * nc, &bc), KSA_STATUS_SUCCESS);
            assert_int_equal(ksa_buffer_fill(bi, 0, sizeof(int32_t) * ni, 0xab, NULL), KSA_STATUS_SUCCESS);
            assert_int_equal(ksa_buffer_fill(bc, 0, sizeof(int32_t) * nc, 0xab, NULL), KSA_STATUS_SUCCESS);
            t.indices = ksa_tensor_from_buffer(bi, 0, KSA_DTYPE_I32, 4, is);
            t.counts = ksa_tensor_from_buffer(bc, 0, KSA_DTYPE_I32, 3, cs);
        } else {
            t.indices = ksa_tensor_make(dev, indices, KSA_DTYPE_I32, 4, is);
            t.counts = ksa_tensor_make(dev, counts, KSA_DTYPE_I32, 3, cs);
        }
        size_t ws = 0;
        assert_int_equal(ksa_attention_workspace_size(dev, &params, &t, &ws), KSA_STATUS_SUCCESS);
        void *wmem = malloc(ws ? ws : 1);
        ksa_workspace w = {wmem, NULL, 0, ws};
        ksa_status st = ksa_attention(dev, NULL, &params, &t, &w);
        if (st) print_error("%s\n", ksa_last_error());
        assert_int_equal(st, KSA_STATUS_SUCCESS);
        free(wmem);
        if (via_buffers) {
            st = ksa_calib_collector_add_anchor_result(c, l, dev, NULL, &t);
            assert_int_equal(ksa_buffer_read(indices, bi, 0, sizeof(int32_t) * ni, NULL), KSA_STATUS_SUCCESS);
            assert_int_equal(ksa_buffer_read(counts, bc, 0, sizeof(int32_t) * nc, NULL), KSA_STATUS_SUCCESS);
            ksa_buffer_free(bi);
            ksa_buffer_free(bc);
        } else {
            st = ksa_calib_collector_add_indices(c, l, PB, n_tiles, k_slots, indices, counts);
        }
        if (st) print_error("%s\n", ksa_last_error());
        assert_int_equal(st, KSA_STATUS_SUCCESS);
    }
    assert_int_equal(ksa_calib_collector_end_step(c), KSA_STATUS_SUCCESS);
    planted_check(c, P, 0);
    /* bad index tensors are refused before anything is fed */
    assert_int_equal(ksa_calib_collector_begin_step(c), KSA_STATUS_SUCCESS);
    counts[0] = 1 << 20;
    assert_int_equal(ksa_calib_collector_add_indices(c, 0, PB, n_tiles, k_slots, indices, counts), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "counts[0][0][0]"));
    counts[0] = 1;
    indices[0] = -4;
    assert_int_equal(ksa_calib_collector_add_indices(c, 0, PB, n_tiles, k_slots, indices, counts), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "negative"));
    indices[0] = 0;
    /* a set repeating a key is refused, naming the slot */
    counts[0] = 2;
    indices[1] = 0;
    assert_int_equal(ksa_calib_collector_add_indices(c, 0, PB, n_tiles, k_slots, indices, counts), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "indices[0][0][0][1] = 0 repeats"));
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    int64_t is3[3] = {PB, PHKV + 1, k_slots}, cs2[2] = {PB, PHKV + 1};
    t.indices = ksa_tensor_make(dev, indices, KSA_DTYPE_I32, 3, is3);
    t.counts = ksa_tensor_make(dev, counts, KSA_DTYPE_I32, 2, cs2);
    assert_int_equal(ksa_calib_collector_add_anchor_result(c, 0, dev, NULL, &t), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "KV heads"));
    t.counts.ndim = 3;
    assert_int_equal(ksa_calib_collector_add_anchor_result(c, 0, dev, NULL, &t), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "dimensions"));
    free(indices);
    free(counts);
    ksa_calib_collector_destroy(c);
    planted_free(P);
    free(P);
}

static void test_planted_from_anchor_indices(void **state)
{
    (void)state;
    planted_from_anchor(0);
}

static void test_planted_from_anchor_buffers(void **state)
{
    (void)state;
    planted_from_anchor(1);
}

/* Coverage of layer 1's set {0, 1, 2, 3} by layer 0's: 0.25 when layer 0 holds {0, 5, 6, 7}; a
 * layer-0 set {0, 0, 0, 0} (which would have counted 1.0) is refused. One sequence, one KV
 * head, one tile of four slots. */
static void test_collector_duplicates(void **state)
{
    (void)state;
    ksa_calib_collector c;
    assert_int_equal(ksa_calib_collector_create(2, 1, NULL, &c), KSA_STATUS_SUCCESS);
    int32_t counts[1] = {4};
    int32_t dup[4] = {0, 0, 0, 0}, anchor[4] = {0, 5, 6, 7}, reuse[4] = {0, 1, 2, 3};
    assert_int_equal(ksa_calib_collector_begin_step(c), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_collector_add_indices(c, 0, 1, 1, 4, dup, counts), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "indices[0][0][0][1] = 0 repeats a key"));
    assert_int_equal(ksa_calib_collector_add_indices(c, 0, 1, 1, 4, anchor, counts), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_collector_add_indices(c, 1, 1, 1, 4, reuse, counts), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_collector_end_step(c), KSA_STATUS_SUCCESS);
    double cov[2 * 2 * 1 * 1];
    assert_int_equal(ksa_calib_collector_coverage(c, cov, NULL), KSA_STATUS_SUCCESS);
    assert_true(fabs(cov[0 * 2 + 1] - 0.25) < 1e-12); /* M[a = 0][b = 1] */
    ksa_calib_collector_destroy(c);
}

static void test_collector_misuse(void **state)
{
    (void)state;
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    ksa_calib_collector c;
    ksa_calib_options opt = ksa_calib_options_default();
    opt.tile_stride = 0;
    assert_int_equal(ksa_calib_collector_create(4, 2, &opt, &c), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "tile_stride"));
    assert_int_equal(ksa_calib_collector_create(0, 2, NULL, &c), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_collector_create(4, 2, NULL, &c), KSA_STATUS_SUCCESS);
    uint64_t rng = 5;
    layer_data L, L3, Lb;
    layer_alloc(&L, 1, 32, 32, 4, 2, 8);
    layer_alloc(&L3, 1, 32, 32, 6, 3, 8);
    layer_alloc(&Lb, 2, 32, 32, 4, 2, 8);
    layer_random(&L, &rng, 1);
    layer_random(&L3, &rng, 1);
    layer_random(&Lb, &rng, 1);
    ksa_attention_params params = ksa_attention_params_default(KSA_MODE_ANCHOR, KSA_PHASE_PREFILL);
    params.topk.top_k = 16;
    params.topk.tile_size = 8;
    ksa_attention_tensors t = layer_tensors(dev, &L), t3 = layer_tensors(dev, &L3), tb = layer_tensors(dev, &Lb);
    assert_int_equal(ksa_calib_collector_add_attention(c, 0, dev, &params, &t), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "no step is open"));
    assert_int_equal(ksa_calib_collector_begin_step(c), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_collector_add_attention(c, 0, dev, &params, &t3), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "KV heads"));
    assert_int_equal(ksa_calib_collector_add_attention(c, 4, dev, &params, &t), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_collector_add_attention(c, 1, dev, &params, &t), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_collector_add_attention(c, 1, dev, &params, &t), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "increasing order"));
    assert_int_equal(ksa_calib_collector_add_attention(c, 2, dev, &params, &tb), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "same prompts"));
    ksa_attention_params bad = params;
    bad.topk.top_k = 0;
    bad.topk.fraction = 0.0;
    assert_int_equal(ksa_calib_collector_add_attention(c, 2, dev, &bad, &t), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "fraction"));
    ksa_attention_tensors nok = t;
    memset(&nok.k, 0, sizeof nok.k);
    assert_int_equal(ksa_calib_collector_add_attention(c, 2, dev, &params, &nok), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_collector_add_attention(c, 2, dev, &params, &t), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_collector_end_step(c), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_collector_end_step(c), KSA_STATUS_INVALID_ARGUMENT);
    /* pairs never fed together are NaN, so solving refuses them with a sentence */
    static double cov[4 * 4 * 2 * 2];
    int64_t samples[16];
    assert_int_equal(ksa_calib_collector_coverage(c, cov, samples), KSA_STATUS_SUCCESS);
    assert_int_equal(samples[1 * 4 + 2], 1);
    assert_int_equal(samples[0 * 4 + 2], 0);
    assert_true(isnan(cov[((0 * 4 + 2) * 2 + 0) * 2 + 0]));
    ksa_calib_plan plan;
    assert_int_equal(ksa_calib_solve(cov, NULL, 4, 2, 2, &plan, NULL, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "no statistics"));
    ksa_calib_collector_destroy(c);
    layer_free(&L);
    layer_free(&L3);
    layer_free(&Lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coverage_prefill),     cmocka_unit_test(test_coverage_chunked_sampled),
        cmocka_unit_test(test_coverage_decode),      cmocka_unit_test(test_importance),
        cmocka_unit_test(test_planted_from_qk),      cmocka_unit_test(test_planted_from_anchor_indices),
        cmocka_unit_test(test_planted_from_anchor_buffers), cmocka_unit_test(test_collector_misuse),
        cmocka_unit_test(test_collector_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
