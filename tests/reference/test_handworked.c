/* test_handworked.c: cases small enough to work out on paper (D = 2, one to three keys, scale 1),
 * with the expected numbers written down: dense rows, an equal-score split, Top-k with ties (the
 * smaller key wins), a prefill anchor with T = 1, the decode local window, and the same numbers
 * stored as f16 and bf16. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref_test_problem.h"

/* Keys and values shared by the cases: k0 = (1, 1), k1 = (-1, 2), k2 = (2, 0.5);
 * v0 = (1, 2), v1 = (3, -1), v2 = (-2, 1). */
static const double K[3][2] = {{1, 1}, {-1, 2}, {2, 0.5}};
static const double V[3][2] = {{1, 2}, {3, -1}, {-2, 1}};

static rt_config tiny_config(ksa_mode mode, ksa_phase phase, int32_t lq, int32_t lk, int32_t hq)
{
    rt_config c = rt_config_default();
    c.mode = mode;
    c.phase = phase;
    c.batch = 1;
    c.hq = hq;
    c.hkv = 1;
    c.head_dim = 2;
    c.lq[0] = lq;
    c.lk[0] = lk;
    c.scale = 1.0f;
    c.with_lse = 1;
    c.topk.tile_size = 1;
    c.topk.min_k = 1;
    c.topk.round_multiple = 1;
    return c;
}

/* Data with the keys/values above and the given queries q[h][i] = (x, y). */
static rt_data *tiny_data(const rt_config *c, const double (*q)[2])
{
    rt_data *d = rt_data_random(c, 1, 1.0);
    int32_t lq = c->phase == KSA_PHASE_DECODE ? 1 : c->lq[0];
    for (int32_t h = 0; h < c->hq; h++)
        for (int32_t i = 0; i < lq; i++)
            for (int x = 0; x < 2; x++) rt_q(d, 0, i, h)[x] = q[h * lq + i][x];
    for (int32_t j = 0; j < c->lk[0]; j++)
        for (int x = 0; x < 2; x++) {
            rt_k(d, 0, j, 0)[x] = K[j][x];
            rt_v(d, 0, j, 0)[x] = V[j][x];
        }
    return d;
}

static rt_problem *run(const rt_config *c, const rt_data *d)
{
    rt_problem *r = rt_problem_create(c, d);
    rt_problem_poison(r);
    assert_int_equal(rt_run(r), KSA_STATUS_SUCCESS);
    return r;
}

#define EXPECT_NEAR(got, want) assert_true(fabs((got) - (want)) <= 2e-7 * (1 + fabs(want)))

static void test_dense_two_keys(void **state)
{
    /* q0 = (1, 0.5) sees k0 only: o = v0, lse = s00 = 1.5.
     * q1 = (1, 1): s10 = 2, s11 = 1 -> p = (e/(e+1), 1/(e+1)), lse = 2 + ln(1 + 1/e). */
    static const double q[2][2] = {{1, 0.5}, {1, 1}};
    rt_config c = tiny_config(KSA_MODE_DENSE, KSA_PHASE_PREFILL, 2, 2, 1);
    rt_data *d = tiny_data(&c, q);
    rt_problem *r = run(&c, d);
    EXPECT_NEAR(rt_o(r, 0, 0, 0, 0), 1.0);
    EXPECT_NEAR(rt_o(r, 0, 0, 0, 1), 2.0);
    EXPECT_NEAR(rt_lse(r, 0, 0, 0), 1.5);
    EXPECT_NEAR(rt_o(r, 0, 1, 0, 0), 1.5378828427399902);
    EXPECT_NEAR(rt_o(r, 0, 1, 0, 1), 1.1931757358900148);
    EXPECT_NEAR(rt_lse(r, 0, 0, 1), 2.313261687518223);
    rt_problem_free(r);
    rt_data_free(d);
}

static void test_dense_equal_scores(void **state)
{
    /* q1 = (0.5, 1): s10 = s11 = 1.5 -> o = (v0 + v1) / 2 = (2, 0.5), lse = 1.5 + ln 2 */
    static const double q[2][2] = {{1, 0.5}, {0.5, 1}};
    rt_config c = tiny_config(KSA_MODE_DENSE, KSA_PHASE_PREFILL, 2, 2, 1);
    rt_data *d = tiny_data(&c, q);
    rt_problem *r = run(&c, d);
    EXPECT_NEAR(rt_o(r, 0, 1, 0, 0), 2.0);
    EXPECT_NEAR(rt_o(r, 0, 1, 0, 1), 0.5);
    EXPECT_NEAR(rt_lse(r, 0, 0, 1), 2.1931471805599454);
    rt_problem_free(r);
    rt_data_free(d);
}

static void test_decode_anchor_top1(void **state)
{
    /* decode q = (1, 1) over k0, k1: s = (2, 1); Top-1 = {0}; sparse output = v0, lse = 2 */
    static const double q[1][2] = {{1, 1}};
    rt_config c = tiny_config(KSA_MODE_ANCHOR, KSA_PHASE_DECODE, 1, 2, 1);
    c.topk.top_k = 1;
    rt_data *d = tiny_data(&c, q);
    rt_problem *r = run(&c, d);
    assert_int_equal(r->p.k_slots, 1);
    assert_int_equal(rt_count(r, 0, 0, 0), 1);
    assert_int_equal(rt_index(r, 0, 0, 0, 0), 0);
    EXPECT_NEAR(rt_o(r, 0, 0, 0, 0), 1.0);
    EXPECT_NEAR(rt_o(r, 0, 0, 0, 1), 2.0);
    EXPECT_NEAR(rt_lse(r, 0, 0, 0), 2.0);
    rt_problem_free(r);
    rt_data_free(d);
}

static void test_topk_ties_smaller_index_wins(void **state)
{
    /* k2 := k1, so s1 = s2. Two query heads pool: h0 q = (0.25, 1): s = (1.25, 1.75, 1.75);
     * h1 q = (0.5, 1): s = (1.5, 1.5, 1.5) (all equal). Pooled S1 = S2 > S0, so Top-1 = {1} (the
     * smaller of the tied keys) and Top-2 = {1, 2}; Top-1 output = v1 for both heads. */
    static const double q[2][2] = {{0.25, 1}, {0.5, 1}};
    for (int k = 1; k <= 2; k++) {
        rt_config c = tiny_config(KSA_MODE_ANCHOR, KSA_PHASE_DECODE, 1, 3, 2);
        c.topk.top_k = k;
        rt_data *d = tiny_data(&c, q);
        for (int x = 0; x < 2; x++) {
            rt_k(d, 0, 2, 0)[x] = K[1][x];
        }
        rt_problem *r = run(&c, d);
        assert_int_equal(rt_count(r, 0, 0, 0), k);
        assert_int_equal(rt_index(r, 0, 0, 0, 0), 1);
        if (k == 2) assert_int_equal(rt_index(r, 0, 0, 0, 1), 2);
        if (k == 1) {
            for (int h = 0; h < 2; h++) {
                EXPECT_NEAR(rt_o(r, 0, 0, h, 0), 3.0);
                EXPECT_NEAR(rt_o(r, 0, 0, h, 1), -1.0);
            }
            EXPECT_NEAR(rt_lse(r, 0, 0, 0), 1.75);
            EXPECT_NEAR(rt_lse(r, 0, 1, 0), 1.5);
        }
        rt_problem_free(r);
        rt_data_free(d);
    }
    /* all three keys tie (k0 = k1 = k2): Top-2 = {0, 1} */
    static const double q1[1][2] = {{0.5, 1}};
    rt_config c = tiny_config(KSA_MODE_ANCHOR, KSA_PHASE_DECODE, 1, 3, 1);
    c.topk.top_k = 2;
    rt_data *d = tiny_data(&c, q1);
    for (int j = 0; j < 3; j++)
        for (int x = 0; x < 2; x++) rt_k(d, 0, j, 0)[x] = K[2][x];
    rt_problem *r = run(&c, d);
    assert_int_equal(rt_count(r, 0, 0, 0), 2);
    assert_int_equal(rt_index(r, 0, 0, 0, 0), 0);
    assert_int_equal(rt_index(r, 0, 0, 0, 1), 1);
    rt_problem_free(r);
    rt_data_free(d);
}

static void test_prefill_anchor_tile1(void **state)
{
    /* T = 1, Lq = Lk = 3, top_k 2 -> k = 2, selection k - T = 1 per tile.
     * tile 0 (q0, pos 0): no candidates, count 0, attends {0}: o = v0, lse = 1.5.
     * tile 1 (q1 = (0.5, 1), pos 1): candidates {0}, takes it; attends {0, 1}: o = (2, 0.5).
     * tile 2 (q2 = (1, 0.5), pos 2): s = (1.5, 0, 2.25); candidate 0 beats 1; attends {0, 2}:
     *   p0 = 1 / (1 + e^0.75); o = p0 v0 + (1 - p0) v2, lse = 2.25 + ln(1 + e^-0.75). */
    static const double q[3][2] = {{1, 0.5}, {0.5, 1}, {1, 0.5}};
    rt_config c = tiny_config(KSA_MODE_ANCHOR, KSA_PHASE_PREFILL, 3, 3, 1);
    c.topk.top_k = 2;
    rt_data *d = tiny_data(&c, q);
    rt_problem *r = run(&c, d);
    assert_int_equal(r->p.n_tiles, 3);
    assert_int_equal(r->p.k_slots, 1);
    assert_int_equal(rt_count(r, 0, 0, 0), 0);
    assert_int_equal(rt_index(r, 0, 0, 0, 0), -1);
    assert_int_equal(rt_count(r, 0, 0, 1), 1);
    assert_int_equal(rt_index(r, 0, 0, 1, 0), 0);
    assert_int_equal(rt_count(r, 0, 0, 2), 1);
    assert_int_equal(rt_index(r, 0, 0, 2, 0), 0);
    EXPECT_NEAR(rt_o(r, 0, 0, 0, 0), 1.0);
    EXPECT_NEAR(rt_o(r, 0, 0, 0, 1), 2.0);
    EXPECT_NEAR(rt_lse(r, 0, 0, 0), 1.5);
    EXPECT_NEAR(rt_o(r, 0, 1, 0, 0), 2.0);
    EXPECT_NEAR(rt_o(r, 0, 1, 0, 1), 0.5);
    EXPECT_NEAR(rt_lse(r, 0, 0, 1), 2.1931471805599454);
    EXPECT_NEAR(rt_o(r, 0, 2, 0, 0), -1.037536097526179);
    EXPECT_NEAR(rt_o(r, 0, 2, 0, 1), 1.320821300824607);
    EXPECT_NEAR(rt_lse(r, 0, 0, 2), 2.6368710061149);
    rt_problem_free(r);
    rt_data_free(d);
}

static void test_decode_reuse_window(void **state)
{
    /* REUSE decode over Lk = 3 with the set {0} and window W = 1: keys {0, 2}.
     * q = (1, 0.5): s0 = 1.5, s2 = 2.25 -> the same numbers as tile 2 above. */
    static const double q[1][2] = {{1, 0.5}};
    rt_config c = tiny_config(KSA_MODE_REUSE, KSA_PHASE_DECODE, 1, 3, 1);
    c.topk.top_k = 2;
    c.topk.local_window = 1;
    rt_data *d = tiny_data(&c, q);
    rt_problem *r = rt_problem_create(&c, d);
    rt_set_count(r, 0, 0, 0, 1);
    rt_set_index(r, 0, 0, 0, 0, 0);
    rt_set_index(r, 0, 0, 0, 1, 1); /* beyond the count: ignored */
    rt_problem_poison(r);
    assert_int_equal(rt_run(r), KSA_STATUS_SUCCESS);
    EXPECT_NEAR(rt_o(r, 0, 0, 0, 0), -1.037536097526179);
    EXPECT_NEAR(rt_o(r, 0, 0, 0, 1), 1.320821300824607);
    EXPECT_NEAR(rt_lse(r, 0, 0, 0), 2.6368710061149);
    rt_problem_free(r);
    rt_data_free(d);
}

static void test_half_storage(void **state)
{
    /* the dense numbers again, stored as f16 and bf16: o is the exact value rounded once */
    static const double q[2][2] = {{1, 0.5}, {1, 1}};
    static const ksa_dtype dts[2] = {KSA_DTYPE_F16, KSA_DTYPE_BF16};
    for (int i = 0; i < 2; i++) {
        rt_config c = tiny_config(KSA_MODE_DENSE, KSA_PHASE_PREFILL, 2, 2, 1);
        c.dtype = dts[i];
        rt_data *d = tiny_data(&c, q); /* every input is exact in both formats */
        rt_problem *r = run(&c, d);
        assert_true(rt_o(r, 0, 1, 0, 0) == rt_round(dts[i], 1.5378828427399902));
        assert_true(rt_o(r, 0, 1, 0, 1) == rt_round(dts[i], 1.1931757358900148));
        assert_true(rt_o(r, 0, 1, 0, 0) != 1.5378828427399902); /* it was rounded */
        EXPECT_NEAR(rt_lse(r, 0, 0, 1), 2.313261687518223);      /* lse stays f32 */
        rt_problem_free(r);
        rt_data_free(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_two_keys),
        cmocka_unit_test(test_dense_equal_scores),
        cmocka_unit_test(test_decode_anchor_top1),
        cmocka_unit_test(test_topk_ties_smaller_index_wins),
        cmocka_unit_test(test_prefill_anchor_tile1),
        cmocka_unit_test(test_decode_reuse_window),
        cmocka_unit_test(test_half_storage),
    };
    return cmocka_run_group_tests_name("reference_handworked", tests, NULL, NULL);
}
