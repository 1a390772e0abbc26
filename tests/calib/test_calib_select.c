/* test_calib_select.c: anchor selection and head maps. The O(K N^2) dynamic program against
 * brute-force enumeration of every anchor set on random similarity matrices (N up to 12, K up to 5),
 * the range entry point against single-K calls, the similarity definition (importance-weighted
 * mean over h_b of max over h_a), head maps against the argmax definition, and bad arguments. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ksa/ksa_calib.h"
#include "test_util.h"

/* Score of an anchor set by the definition: sum over segments of sum_{j in segment} sim(a_i, j). */
static double score_of(const double *sim, int n, const int32_t *anchors, int k)
{
    double total = 0.0;
    for (int i = 0; i < k; i++) {
        int e = i + 1 < k ? anchors[i + 1] : n;
        for (int j = anchors[i]; j < e; j++) total += sim[(size_t)anchors[i] * n + j];
    }
    return total;
}

/* Best over every set {0} + (k-1) of 1..n-1, by enumerating bit masks. */
static double brute_best(const double *sim, int n, int k, int32_t *best_set, int *num_best)
{
    double best = -INFINITY;
    *num_best = 0;
    int32_t set[16];
    for (uint32_t mask = 0; mask < (1u << (n - 1)); mask++) {
        if (__builtin_popcount(mask) != k - 1) continue;
        int m = 0;
        set[m++] = 0;
        for (int l = 1; l < n; l++)
            if (mask & (1u << (l - 1))) set[m++] = l;
        double s = score_of(sim, n, set, k);
        if (s > best + 1e-12) {
            best = s;
            memcpy(best_set, set, sizeof(int32_t) * (size_t)k);
            *num_best = 1;
        } else if (fabs(s - best) <= 1e-12) {
            (*num_best)++;
        }
    }
    return best;
}

static void random_sim(double *sim, int n, uint64_t *rng)
{
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) sim[(size_t)a * n + b] = b < a ? 0.0 : ktest_rand_uniform(rng, 0.05, 1.0);
}

static void test_dp_matches_brute_force(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed1234u;
    double sim[12 * 12];
    int cases = 0;
    for (int n = 1; n <= 12; n++)
        for (int k = 1; k <= 5 && k <= n; k++)
            for (int rep = 0; rep < 6; rep++) {
                random_sim(sim, n, &rng);
                int32_t dp[5], bf[5];
                for (int i = 0; i < 5; i++) dp[i] = bf[i] = -99;
                double dp_score = -1.0, seg[5];
                assert_int_equal(ksa_calib_select_anchors(sim, n, k, dp, &dp_score, seg), KSA_STATUS_SUCCESS);
                int num_best;
                double bf_score = brute_best(sim, n, k, bf, &num_best);
                assert_true(fabs(dp_score - bf_score) <= 1e-9);
                /* the reported score is the score of the reported set, and the segments add up */
                assert_true(fabs(score_of(sim, n, dp, k) - dp_score) <= 1e-9);
                double seg_total = 0.0;
                for (int i = 0; i < k; i++) seg_total += seg[i];
                assert_true(fabs(seg_total - dp_score) <= 1e-9);
                assert_int_equal(dp[0], 0);
                for (int i = 1; i < k; i++) assert_true(dp[i] > dp[i - 1] && dp[i] < n);
                if (num_best == 1) assert_memory_equal(dp, bf, sizeof(int32_t) * (size_t)k);
                cases++;
            }
    assert_true(cases > 200);
}

static void test_range_matches_single(void **state)
{
    (void)state;
    uint64_t rng = 77;
    enum { N = 12, KMAX = 6 };
    double sim[N * N], scores[KMAX];
    int32_t table[KMAX * KMAX];
    for (int rep = 0; rep < 10; rep++) {
        random_sim(sim, N, &rng);
        for (int i = 0; i < KMAX; i++) scores[i] = NAN;
        assert_int_equal(ksa_calib_select_anchors_range(sim, N, KMAX, scores, table), KSA_STATUS_SUCCESS);
        for (int k = 1; k <= KMAX; k++) {
            int32_t one[KMAX];
            double s;
            assert_int_equal(ksa_calib_select_anchors(sim, N, k, one, &s, NULL), KSA_STATUS_SUCCESS);
            assert_true(fabs(s - scores[k - 1]) <= 1e-12);
            assert_memory_equal(one, table + (k - 1) * KMAX, sizeof(int32_t) * (size_t)k);
            for (int i = k; i < KMAX; i++) assert_int_equal(table[(k - 1) * KMAX + i], -1);
        }
        /* with K = N every layer is its own anchor */
        int32_t all[N];
        double s_all;
        assert_int_equal(ksa_calib_select_anchors(sim, N, N, all, &s_all, NULL), KSA_STATUS_SUCCESS);
        for (int i = 0; i < N; i++) assert_int_equal(all[i], i);
    }
}

static void test_planted_similarity(void **state)
{
    (void)state;
    /* blocks [0,3) [3,7) [7,10): sim 1 inside a block from its first layer, small elsewhere */
    enum { N = 10 };
    double sim[N * N];
    uint64_t rng = 5;
    int start[N];
    for (int l = 0; l < N; l++) start[l] = l < 3 ? 0 : l < 7 ? 3 : 7;
    for (int a = 0; a < N; a++)
        for (int b = 0; b < N; b++)
            sim[a * N + b] = b < a ? 0.0 : (start[a] == start[b] && a == start[a]) ? 1.0 : ktest_rand_uniform(&rng, 0.1, 0.6);
    int32_t anchors[3];
    double score;
    assert_int_equal(ksa_calib_select_anchors(sim, N, 3, anchors, &score, NULL), KSA_STATUS_SUCCESS);
    assert_int_equal(anchors[0], 0);
    assert_int_equal(anchors[1], 3);
    assert_int_equal(anchors[2], 7);
    assert_true(fabs(score - N) < 1e-12);
}

static void random_coverage(double *cov, int n, int h, uint64_t *rng)
{
    for (size_t i = 0; i < (size_t)n * n * h * h; i++) cov[i] = ktest_rand_uniform(rng, 0.0, 1.0);
}

static void test_similarity_definition(void **state)
{
    (void)state;
    enum { N = 7, H = 4 };
    static double cov[N * N * H * H];
    double sim[N * N], simw[N * N], w[N];
    uint64_t rng = 99;
    random_coverage(cov, N, H, &rng);
    for (int l = 0; l < N; l++) w[l] = ktest_rand_uniform(&rng, 0.01, 0.5);
    for (int i = 0; i < N * N; i++) sim[i] = simw[i] = NAN;
    assert_int_equal(ksa_calib_similarity(cov, NULL, N, H, sim), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_similarity(cov, w, N, H, simw), KSA_STATUS_SUCCESS);
    for (int a = 0; a < N; a++)
        for (int b = 0; b < N; b++) {
            double expect = 0.0;
            if (b >= a) {
                for (int hb = 0; hb < H; hb++) {
                    double mx = -1.0;
                    for (int ha = 0; ha < H; ha++) {
                        double m = cov[(((size_t)a * N + b) * H + hb) * H + ha];
                        if (m > mx) mx = m;
                    }
                    expect += mx / H;
                }
            }
            assert_true(fabs(sim[a * N + b] - expect) <= 1e-12);
            assert_true(fabs(simw[a * N + b] - w[b] * expect) <= 1e-12);
        }
    /* a missing statistic (NaN) for a needed pair is refused with a sentence */
    cov[(((size_t)1 * N + 3) * H + 2) * H + 1] = NAN;
    assert_int_equal(ksa_calib_similarity(cov, NULL, N, H, sim), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "coverage[1][3][2][1]"));
    /* but a NaN below the diagonal (a > b) is ignored */
    cov[(((size_t)1 * N + 3) * H + 2) * H + 1] = 0.5;
    cov[(((size_t)4 * N + 2) * H + 0) * H + 0] = NAN;
    assert_int_equal(ksa_calib_similarity(cov, NULL, N, H, sim), KSA_STATUS_SUCCESS);
    w[3] = -1.0;
    assert_int_equal(ksa_calib_similarity(cov, w, N, H, sim), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "importance[3]"));
}

static void test_head_maps_argmax(void **state)
{
    (void)state;
    enum { N = 11, H = 8 };
    static double cov[N * N * H * H];
    uint64_t rng = 1234;
    int32_t maps[N * H];
    const int32_t anchors[4] = {0, 2, 5, 9};
    for (int rep = 0; rep < 5; rep++) {
        random_coverage(cov, N, H, &rng);
        for (int i = 0; i < N * H; i++) maps[i] = -5;
        assert_int_equal(ksa_calib_head_maps(cov, N, H, anchors, 4, maps), KSA_STATUS_SUCCESS);
        for (int j = 0; j < N; j++) {
            int a = 0;
            for (int i = 0; i < 4; i++)
                if (anchors[i] <= j) a = anchors[i];
            for (int hb = 0; hb < H; hb++) {
                int expect = hb;
                if (a != j) {
                    double best = -1.0;
                    for (int ha = 0; ha < H; ha++) {
                        double m = cov[(((size_t)a * N + j) * H + hb) * H + ha];
                        if (m > best) {
                            best = m;
                            expect = ha;
                        }
                    }
                }
                assert_int_equal(maps[j * H + hb], expect);
            }
        }
    }
    /* ties go to the first maximum */
    for (size_t i = 0; i < sizeof cov / sizeof cov[0]; i++) cov[i] = 0.5;
    assert_int_equal(ksa_calib_head_maps(cov, N, H, anchors, 4, maps), KSA_STATUS_SUCCESS);
    assert_int_equal(maps[1 * H + 5], 0);
    /* solve = similarity + DP + head maps, and its plan validates */
    random_coverage(cov, N, H, &rng);
    ksa_calib_plan plan;
    double score, seg[4];
    assert_int_equal(ksa_calib_solve(cov, NULL, N, H, 4, &plan, &score, seg), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_plan_validate(&plan), KSA_STATUS_SUCCESS);
    int32_t maps2[N * H];
    assert_int_equal(ksa_calib_head_maps(cov, N, H, plan.anchors, 4, maps2), KSA_STATUS_SUCCESS);
    assert_memory_equal(maps2, plan.head_maps, sizeof maps2);
    ksa_calib_plan_free(&plan);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    double sim[16] = {1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1};
    int32_t anchors[5];
    double score;
    assert_int_equal(ksa_calib_select_anchors(sim, 4, 0, anchors, &score, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "anchors"));
    assert_int_equal(ksa_calib_select_anchors(sim, 4, 5, anchors, &score, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_select_anchors(NULL, 4, 2, anchors, &score, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_select_anchors(sim, 0, 1, anchors, &score, NULL), KSA_STATUS_INVALID_ARGUMENT);
    sim[6] = INFINITY;
    assert_int_equal(ksa_calib_select_anchors(sim, 4, 2, anchors, &score, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "sim[1][2]"));
    double cov[4 * 4 * 2 * 2];
    for (int i = 0; i < 64; i++) cov[i] = 0.5;
    int32_t maps[8];
    const int32_t bad1[2] = {1, 2}, bad2[2] = {0, 0}, bad3[2] = {0, 4};
    assert_int_equal(ksa_calib_head_maps(cov, 4, 2, bad1, 2, maps), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "layer 0"));
    assert_int_equal(ksa_calib_head_maps(cov, 4, 2, bad2, 2, maps), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_head_maps(cov, 4, 2, bad3, 2, maps), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_head_maps(cov, 4, 0, bad3, 2, maps), KSA_STATUS_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dp_matches_brute_force), cmocka_unit_test(test_range_matches_single),
        cmocka_unit_test(test_planted_similarity),     cmocka_unit_test(test_similarity_definition),
        cmocka_unit_test(test_head_maps_argmax),       cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
