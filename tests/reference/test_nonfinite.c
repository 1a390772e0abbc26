/* test_nonfinite.c: the reference's answer for non-finite inputs is the rule of docs/SEMANTICS.md
 * ("Non-finite inputs"), row by row: NaN in q, k or v reaches exactly the rows (and for v the dim)
 * that attend it; +inf in k makes NaN the rows whose score becomes +inf and leaves the others
 * finite; ANCHOR tiles whose pooled scores are NaN select their first count_t candidates. The other
 * backends are compared with the reference on the same cases by the shared grid (tests/common). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ksa_internal.h"
#include "test_util.h"

static ksa_device ref(void)
{
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    return dev;
}

static ktest_config base(ktest_nonfinite what)
{
    ktest_config c = ktest_config_default(); /* f32, B 2, Hq 4, Hkv 2, D 64, Lq = Lk = 80 */
    c.with_lse = 1;
    c.nonfinite = what;
    return c;
}

static const float *o_row(const ktest_problem *p, int32_t b, int64_t i, int32_t h)
{
    const ksa_tensor *o = &p->tensors.o;
    return (const float *)ksa_buffer_data(o->buffer) + b * o->stride[0] + i * o->stride[1] + h * o->stride[2];
}

static float lse_at(const ktest_problem *p, int32_t b, int32_t h, int64_t i)
{
    const ksa_tensor *l = &p->tensors.lse;
    return ((const float *)ksa_buffer_data(l->buffer))[b * l->stride[0] + h * l->stride[1] + i * l->stride[2]];
}

static int all_nan(const float *x, int n)
{
    for (int d = 0; d < n; d++)
        if (!isnan(x[d])) return 0;
    return 1;
}

static int all_finite(const float *x, int n)
{
    for (int d = 0; d < n; d++)
        if (!isfinite(x[d])) return 0;
    return 1;
}

static void run(ktest_problem *p, const ktest_config *c)
{
    assert_int_equal(ktest_problem_create(ref(), c, p), KSA_STATUS_SUCCESS);
    assert_int_equal(ktest_problem_run(p), KSA_STATUS_SUCCESS);
}

/* NaN in q of (b 0, query 40, head 0): that row only */
static void nan_in_q(void **state)
{
    (void)state;
    ktest_config c = base(KTEST_NAN_Q);
    ktest_problem p;
    run(&p, &c);
    for (int32_t b = 0; b < 2; b++)
        for (int64_t i = 0; i < 80; i++)
            for (int32_t h = 0; h < 4; h++) {
                int hit = b == 0 && i == 40 && h == 0;
                assert_true(hit ? all_nan(o_row(&p, b, i, h), 64) : all_finite(o_row(&p, b, i, h), 64));
                assert_true(hit ? isnan(lse_at(&p, b, h, i)) : isfinite(lse_at(&p, b, h, i)));
            }
    ktest_problem_destroy(&p);
}

/* NaN in k of (b 0, key 26, KV head 0): the rows of heads 0 and 1 that see key 26 */
static void nan_in_k(void **state)
{
    (void)state;
    ktest_config c = base(KTEST_NAN_K);
    ktest_problem p;
    run(&p, &c);
    for (int32_t b = 0; b < 2; b++)
        for (int64_t i = 0; i < 80; i++)
            for (int32_t h = 0; h < 4; h++) {
                int hit = b == 0 && h < 2 && i >= 26;
                assert_true(hit ? all_nan(o_row(&p, b, i, h), 64) : all_finite(o_row(&p, b, i, h), 64));
                assert_true(hit ? isnan(lse_at(&p, b, h, i)) : isfinite(lse_at(&p, b, h, i)));
            }
    ktest_problem_destroy(&p);
}

/* +inf in k of (b 0, key 26, KV head 0, dim 2): a row of head 0 or 1 that sees key 26 gets score
 * +inf (NaN row) when its q[2] > 0, -inf (key 26 weighs 0, row finite) when q[2] < 0 */
static void inf_in_k(void **state)
{
    (void)state;
    ktest_config c = base(KTEST_INF_K);
    ktest_problem p;
    run(&p, &c);
    const ksa_tensor *q = &p.tensors.q;
    const float *qb = ksa_buffer_data(q->buffer);
    int nan_rows = 0, finite_rows_seeing_it = 0;
    for (int64_t i = 0; i < 80; i++)
        for (int32_t h = 0; h < 4; h++) {
            float q2 = qb[i * q->stride[1] + h * q->stride[2] + 2];
            int nan_row = h < 2 && i >= 26 && q2 > 0.0f;
            assert_true(nan_row ? all_nan(o_row(&p, 0, i, h), 64) : all_finite(o_row(&p, 0, i, h), 64));
            assert_true(nan_row ? isnan(lse_at(&p, 0, h, i)) : isfinite(lse_at(&p, 0, h, i)));
            nan_rows += nan_row;
            finite_rows_seeing_it += h < 2 && i >= 26 && q2 < 0.0f;
        }
    /* both signs occurred, so both halves of the rule were checked */
    assert_true(nan_rows > 0);
    assert_true(finite_rows_seeing_it > 0);
    ktest_problem_destroy(&p);
}

/* NaN in v of (b 0, key 0, KV head 0, dim 3): dim 3 of every row of heads 0 and 1 (all attend key
 * 0); the other dims and lse stay finite */
static void nan_in_v(void **state)
{
    (void)state;
    ktest_config c = base(KTEST_NAN_V);
    ktest_problem p;
    run(&p, &c);
    for (int64_t i = 0; i < 80; i++)
        for (int32_t h = 0; h < 4; h++) {
            const float *o = o_row(&p, 0, i, h);
            for (int d = 0; d < 64; d++) assert_true(h < 2 && d == 3 ? isnan(o[d]) : isfinite(o[d]));
            assert_true(isfinite(lse_at(&p, 0, h, i)));
        }
    ktest_problem_destroy(&p);
}

/* ANCHOR with NaN in k of key 26: every tile of KV head 0 with a row that sees key 26 has NaN
 * pooled scores and selects its first count_t candidates; the other tiles select by score */
static void anchor_nan_pooled_scores(void **state)
{
    (void)state;
    ktest_config c = base(KTEST_NAN_K);
    c.mode = KSA_MODE_ANCHOR;
    c.batch = 1;
    c.lq = c.lk = 160;
    c.topk_set = 1;
    c.topk = ksa_topk_default();
    c.topk.fraction = 0.2;
    c.topk.min_k = 8;
    c.topk.round_multiple = 1;
    c.topk.tile_size = 16; /* k(160) = 32, count_t = min(16, r_t) */
    ktest_problem p;
    run(&p, &c);
    const int32_t *idx = ksa_buffer_data(p.tensors.indices.buffer);
    const int32_t *cnt = ksa_buffer_data(p.tensors.counts.buffer);
    int64_t tiles = p.tensors.indices.shape[2], slots = p.tensors.indices.shape[3];
    int first_n_tiles = 0, scored_tiles = 0;
    for (int64_t t = 1; t < tiles; t++) { /* tile 0 has no candidates */
        int sees_key = t * 16 + 15 >= 160 / 3;
        int32_t n = cnt[t];
        assert_int_equal(n, ksa_prefill_tile_count(&c.topk, 160, 160, t));
        int first_n = 1;
        for (int32_t s = 0; s < n; s++) first_n &= idx[t * slots + s] == s;
        if (sees_key) assert_true(first_n);
        first_n_tiles += sees_key;
        scored_tiles += !sees_key && !first_n;
        /* head group 1 (KV head 1) never sees the NaN: its output rows are finite */
        for (int64_t i = t * 16; i < t * 16 + 16; i++) assert_true(all_finite(o_row(&p, 0, i, 2), 64));
    }
    assert_true(first_n_tiles > 0);
    assert_true(scored_tiles > 0); /* the rule is not just "first keys" everywhere */
    ktest_problem_destroy(&p);
}

/* A row whose only visible key scores -inf is NaN (softmax of only -inf): query 0 of a plain
 * prefill sees key 0 alone; +inf in k of key 0 gives it -inf when q[2] < 0 */
static void only_minus_inf_is_nan(void **state)
{
    (void)state;
    ktest_config c = base(KTEST_FINITE);
    c.batch = 1;
    ktest_problem p;
    assert_int_equal(ktest_problem_create(ref(), &c, &p), KSA_STATUS_SUCCESS);
    const ksa_tensor *q = &p.tensors.q, *k = &p.tensors.k;
    float *qb = ksa_buffer_data(q->buffer), *kb = ksa_buffer_data(k->buffer);
    qb[0 * q->stride[1] + 0 * q->stride[2] + 2] = -1.0f; /* query 0, head 0 */
    qb[0 * q->stride[1] + 1 * q->stride[2] + 2] = 1.0f;  /* query 0, head 1 */
    kb[0 * k->stride[1] + 0 * k->stride[2] + 2] = INFINITY;
    assert_int_equal(ktest_problem_run(&p), KSA_STATUS_SUCCESS);
    assert_true(all_nan(o_row(&p, 0, 0, 0), 64)); /* -inf alone */
    assert_true(all_nan(o_row(&p, 0, 0, 1), 64)); /* +inf */
    assert_true(isnan(lse_at(&p, 0, 0, 0)));
    /* query 1, head 0 (q[2] random): key 0 is +-inf, key 1 finite */
    float q12 = qb[1 * q->stride[1] + 2];
    assert_true(q12 > 0.0f ? all_nan(o_row(&p, 0, 1, 0), 64) : all_finite(o_row(&p, 0, 1, 0), 64));
    ktest_problem_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nan_in_q),
        cmocka_unit_test(nan_in_k),
        cmocka_unit_test(inf_in_k),
        cmocka_unit_test(nan_in_v),
        cmocka_unit_test(anchor_nan_pooled_scores),
        cmocka_unit_test(only_minus_inf_is_nan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
