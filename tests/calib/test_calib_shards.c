/* test_calib_shards.c: calibration for tensor parallelism. The shard-constrained plan
 * (ksa_calib_solve_sharded: similarity, DP anchors, head maps) against brute-force enumeration of
 * every anchor set and every head map that stays inside its shard, on random coverage tensors
 * (N <= 6 layers, H = 2 or 4 KV heads, 1..H shards); the unconstrained score it reports against
 * the same enumeration without the constraint; bad shard counts; the schedule file's num_shards
 * line (round trip, old files read as 1 shard, maps leaving their shard refused); and plans
 * applied to schedules that run one shard of KV heads (ksa_schedule_set_head_range). */
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
#include "test_util.h"

enum { MAX_N = 6, MAX_H = 4 };

static double cov_get(const double *cov, int n, int h, int a, int b, int hb, int ha)
{
    return cov[(((size_t)a * n + b) * h + hb) * h + ha];
}

/* Best value of w_j * mean_hb M[a][j][hb][map[hb]] over every map in {0..h-1}^h whose entries
 * stay in their head's shard (blocks of h / shards), by enumeration. */
static double brute_layer(const double *cov, const double *w, int n, int h, int shards, int a, int j)
{
    int size = h / shards;
    int total = 1;
    for (int i = 0; i < h; i++) total *= h;
    double best = -INFINITY;
    for (int code = 0; code < total; code++) {
        int c = code, ok = 1;
        double sum = 0.0;
        for (int hb = 0; hb < h; hb++, c /= h) {
            int ha = c % h;
            if (ha / size != hb / size) ok = 0;
            sum += cov_get(cov, n, h, a, j, hb, ha);
        }
        if (!ok) continue;
        double v = (w ? w[j] : 1.0) * sum / h;
        if (v > best) best = v;
    }
    return best;
}

/* Best plan score over every anchor set {0} + (k-1) of 1..n-1 and every shard-respecting map. */
static double brute_plan(const double *cov, const double *w, int n, int h, int k, int shards)
{
    double best = -INFINITY;
    for (unsigned mask = 0; mask < (1u << (n - 1)); mask++) {
        if (__builtin_popcount(mask) != k - 1) continue;
        double total = 0.0;
        int a = 0;
        for (int j = 0; j < n; j++) {
            if (j > 0 && (mask & (1u << (j - 1)))) a = j;
            total += brute_layer(cov, w, n, h, shards, a, j);
        }
        if (total > best) best = total;
    }
    return best;
}

static void random_coverage(double *cov, int n, int h, uint64_t *rng)
{
    for (size_t i = 0; i < (size_t)n * n * h * h; i++) cov[i] = ktest_rand_uniform(rng, 0.0, 1.0);
}

static void test_sharded_plan_matches_brute_force(void **state)
{
    (void)state;
    static double cov[MAX_N * MAX_N * MAX_H * MAX_H];
    double w[MAX_N];
    uint64_t rng = 0x7a5eedu;
    int cases = 0, costly = 0;
    for (int n = 1; n <= MAX_N; n++)
        for (int h = 2; h <= MAX_H; h += 2)
            for (int shards = 1; shards <= h; shards *= 2)
                for (int k = 1; k <= 3 && k <= n; k++)
                    for (int rep = 0; rep < 3; rep++) {
                        random_coverage(cov, n, h, &rng);
                        for (int l = 0; l < n; l++) w[l] = ktest_rand_uniform(&rng, 0.05, 1.0);
                        const double *wp = rep == 0 ? NULL : w;
                        ksa_calib_plan plan;
                        double score = NAN, free_score = NAN, seg[3];
                        assert_int_equal(ksa_calib_solve_sharded(cov, wp, n, h, k, shards, &plan, &score, seg, &free_score),
                                         KSA_STATUS_SUCCESS);
                        assert_int_equal(plan.num_shards, shards);
                        assert_int_equal(ksa_calib_plan_validate(&plan), KSA_STATUS_SUCCESS);
                        /* the DP's score is the best over every anchor set and every sharded map */
                        double bf = brute_plan(cov, wp, n, h, k, shards);
                        assert_true(fabs(score - bf) <= 1e-9);
                        /* the unconstrained score is the same enumeration without the constraint */
                        double bf_free = shards == 1 ? bf : brute_plan(cov, wp, n, h, k, 1);
                        assert_true(fabs(free_score - bf_free) <= 1e-9);
                        assert_true(free_score >= score - 1e-12);
                        if (shards == 1) assert_true(fabs(free_score - score) <= 1e-12);
                        if (free_score > score + 1e-9) costly++;
                        /* every reuse row stays in its shard and reaches that layer's best value */
                        int size = h / shards;
                        double seg_total = 0.0;
                        for (int i = 0; i < k; i++) seg_total += seg[i];
                        assert_true(fabs(seg_total - score) <= 1e-9);
                        for (int i = 0; i < k; i++) {
                            int a = plan.anchors[i], e = i + 1 < k ? plan.anchors[i + 1] : n;
                            for (int j = a + 1; j < e; j++) {
                                double v = 0.0;
                                for (int hb = 0; hb < h; hb++) {
                                    int ha = plan.head_maps[j * h + hb];
                                    assert_int_equal(ha / size, hb / size);
                                    v += cov_get(cov, n, h, a, j, hb, ha);
                                }
                                v = (wp ? wp[j] : 1.0) * v / h;
                                assert_true(fabs(v - brute_layer(cov, wp, n, h, shards, a, j)) <= 1e-12);
                            }
                        }
                        /* one head per shard: every map is the identity */
                        if (shards == h)
                            for (int i = 0; i < n * h; i++) assert_int_equal(plan.head_maps[i], i % h);
                        ksa_calib_plan_free(&plan);
                        cases++;
                    }
    print_message("sharded plans vs brute force: %d cases, %d where sharding cost coverage\n", cases, costly);
    assert_true(cases > 150);
    assert_true(costly > 20); /* the constraint binds on random statistics */
}

static void test_sharded_similarity_and_maps(void **state)
{
    (void)state;
    enum { N = 5, H = 8 };
    static double cov[N * N * H * H];
    uint64_t rng = 4242;
    random_coverage(cov, N, H, &rng);
    double sim1[N * N], simu[N * N], sim4[N * N];
    assert_int_equal(ksa_calib_similarity_sharded(cov, NULL, N, H, 1, sim1), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_similarity(cov, NULL, N, H, simu), KSA_STATUS_SUCCESS);
    assert_memory_equal(sim1, simu, sizeof sim1);
    assert_int_equal(ksa_calib_similarity_sharded(cov, NULL, N, H, 4, sim4), KSA_STATUS_SUCCESS);
    for (int a = 0; a < N; a++)
        for (int b = a; b < N; b++) {
            double expect = 0.0;
            for (int hb = 0; hb < H; hb++) {
                int first = hb - hb % 2;
                double m0 = cov_get(cov, N, H, a, b, hb, first), m1 = cov_get(cov, N, H, a, b, hb, first + 1);
                expect += (m0 > m1 ? m0 : m1) / H;
            }
            assert_true(fabs(sim4[a * N + b] - expect) <= 1e-12);
            assert_true(sim4[a * N + b] <= sim1[a * N + b] + 1e-15);
        }
    /* head maps: argmax inside the shard, first maximum on ties */
    const int32_t anchors[2] = {0, 3};
    int32_t maps[N * H];
    assert_int_equal(ksa_calib_head_maps_sharded(cov, N, H, 4, anchors, 2, maps), KSA_STATUS_SUCCESS);
    for (int j = 0; j < N; j++)
        for (int hb = 0; hb < H; hb++) {
            int a = j >= 3 ? 3 : 0, first = hb - hb % 2, expect = hb;
            if (j != a) expect = cov_get(cov, N, H, a, j, hb, first + 1) > cov_get(cov, N, H, a, j, hb, first) ? first + 1 : first;
            assert_int_equal(maps[j * H + hb], expect);
        }
    /* coverage outside the shards is not read: NaN there is fine, inside it is refused */
    cov[(((size_t)1 * N + 2) * H + 0) * H + 5] = NAN;
    assert_int_equal(ksa_calib_similarity_sharded(cov, NULL, N, H, 4, sim4), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_similarity_sharded(cov, NULL, N, H, 1, sim1), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "coverage[1][2][0][5]"));
    cov[(((size_t)1 * N + 2) * H + 0) * H + 1] = NAN;
    assert_int_equal(ksa_calib_similarity_sharded(cov, NULL, N, H, 4, sim4), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "coverage[1][2][0][1]"));
}

static void test_bad_shard_counts(void **state)
{
    (void)state;
    enum { N = 3, H = 6 };
    static double cov[N * N * H * H];
    uint64_t rng = 9;
    random_coverage(cov, N, H, &rng);
    double sim[N * N];
    int32_t maps[N * H];
    const int32_t anchors[1] = {0};
    ksa_calib_plan plan;
    assert_int_equal(ksa_calib_similarity_sharded(cov, NULL, N, H, 4, sim), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "num_kv_heads 6 is not divisible by num_shards 4"));
    assert_int_equal(ksa_calib_similarity_sharded(cov, NULL, N, H, 0, sim), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "num_shards is 0"));
    assert_int_equal(ksa_calib_similarity_sharded(cov, NULL, N, H, 12, sim), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_head_maps_sharded(cov, N, H, 5, anchors, 1, maps), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "not divisible"));
    assert_int_equal(ksa_calib_solve_sharded(cov, NULL, N, H, 1, 4, &plan, NULL, NULL, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_null(plan.head_maps);
    assert_int_equal(ksa_calib_solve_sharded(cov, NULL, N, H, 2, 3, &plan, NULL, NULL, NULL), KSA_STATUS_SUCCESS);
    assert_int_equal(plan.num_shards, 3);
    /* a plan whose map leaves its shard, or whose shard count does not divide the heads, is refused */
    int reuse = plan.anchors[1] == 1 ? 2 : 1; /* the one REUSE layer of 3 layers with 2 anchors */
    int32_t keep = plan.head_maps[reuse * H + 1];
    plan.head_maps[reuse * H + 1] = 2; /* KV head 1 is in shard {0, 1} */
    assert_int_equal(ksa_calib_plan_validate(&plan), KSA_STATUS_INVALID_ARGUMENT);
    char expect[128];
    snprintf(expect, sizeof expect, "layer %d, KV head 1 is 2, outside its shard (KV heads 0..1 of 3 shards)", reuse);
    assert_non_null(strstr(ksa_last_error(), expect));
    plan.head_maps[reuse * H + 1] = keep;
    assert_int_equal(ksa_calib_plan_validate(&plan), KSA_STATUS_SUCCESS);
    plan.num_shards = 4;
    assert_int_equal(ksa_calib_plan_validate(&plan), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "not divisible"));
    plan.num_shards = 0; /* a plan zeroed by hand: unsharded */
    assert_int_equal(ksa_calib_plan_validate(&plan), KSA_STATUS_SUCCESS);
    ksa_calib_plan_free(&plan);
}

/* ---------------------------------------------------------------- schedule file */
static const char *sharded_text = "ksa-schedule 1\n"
                                  "num_layers 3\n"
                                  "num_kv_heads 4\n"
                                  "num_shards 2\n"
                                  "anchors 0 2\n"
                                  "map 0 0 1 2 3\n"
                                  "map 1 1 1 3 2\n"
                                  "map 2 0 1 2 3\n"
                                  "end\n";

static ksa_status parse_edit(const char *from, const char *to, ksa_calib_plan *plan)
{
    char out[1024];
    const char *at = strstr(sharded_text, from);
    assert_non_null(at);
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - sharded_text), sharded_text, to, at + strlen(from));
    return ksa_calib_plan_parse(out, strlen(out), plan);
}

static void test_schedule_file_shards(void **state)
{
    (void)state;
    ksa_calib_plan plan;
    assert_int_equal(ksa_calib_plan_parse(sharded_text, strlen(sharded_text), &plan), KSA_STATUS_SUCCESS);
    assert_int_equal(plan.num_shards, 2);
    /* round trip through a file keeps the shard count */
    char path[] = "/tmp/ksa_shards_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ksa_calib_plan_save(&plan, path), KSA_STATUS_SUCCESS);
    ksa_calib_plan back;
    assert_int_equal(ksa_calib_plan_load(path, &back), KSA_STATUS_SUCCESS);
    assert_int_equal(back.num_shards, 2);
    assert_memory_equal(back.head_maps, plan.head_maps, sizeof(int32_t) * 12);
    ksa_calib_plan_free(&back);
    FILE *f = fopen(path, "r");
    char text[2048];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    assert_non_null(strstr(text, "\nnum_shards 2\n"));
    remove(path);
    ksa_calib_plan_free(&plan);
    /* an old file without the line reads as one shard; a 1-shard plan may cross the halves */
    assert_int_equal(parse_edit("num_shards 2\n", "", &plan), KSA_STATUS_SUCCESS);
    assert_int_equal(plan.num_shards, 1);
    ksa_calib_plan_free(&plan);
    assert_int_equal(parse_edit("map 1 1 1 3 2", "map 1 3 1 3 2", &plan), KSA_STATUS_INVALID_FILE);
    assert_non_null(strstr(ksa_last_error(), "layer 1, KV head 0 is 3, outside its shard (KV heads 0..1 of 2 shards)"));
    assert_null(plan.head_maps);
    assert_int_equal(parse_edit("num_shards 2\n", "", &plan), KSA_STATUS_SUCCESS);
    ksa_calib_plan_free(&plan);
    struct {
        const char *from, *to, *needle;
    } edits[] = {
        {"num_shards 2", "num_shards 3", "not divisible by num_shards 3"},
        {"num_shards 2", "num_shards 0", "num_shards must be one number"},
        {"num_shards 2", "num_shards 2 2", "num_shards must be one number"},
        {"num_shards 2\n", "num_shards 2\nnum_shards 2\n", "twice"},
        {"num_shards 2", "num_shards 4", "layer 1, KV head 0 is 1, outside its shard"}, /* shards of one head */
        {"num_shards 2\nanchors 0 2\nmap 0 0 1 2 3\n", "anchors 0 2\nmap 0 0 1 2 3\nnum_shards 2\n", "before the maps"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        ksa_status st = parse_edit(edits[i].from, edits[i].to, &plan);
        if (st != KSA_STATUS_INVALID_FILE || !strstr(ksa_last_error(), edits[i].needle))
            print_error("edit %zu: status %d, sentence '%s'\n", i, (int)st, ksa_last_error());
        assert_int_equal(st, KSA_STATUS_INVALID_FILE);
        assert_non_null(strstr(ksa_last_error(), edits[i].needle));
        assert_null(plan.head_maps);
    }
}

/* ---------------------------------------------------------------- plans applied to ranks */
static void test_apply_to_ranks(void **state)
{
    (void)state;
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    ksa_calib_plan plan;
    assert_int_equal(ksa_calib_plan_parse(sharded_text, strlen(sharded_text), &plan), KSA_STATUS_SUCCESS);
    ksa_schedule s;
    assert_int_equal(ksa_schedule_create(dev, 3, 4, NULL, &s), KSA_STATUS_SUCCESS);
    /* all heads = 1 shard: a 2-shard plan is refused with both counts named */
    assert_int_equal(ksa_calib_plan_apply(&plan, s), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "made for 2 shards of 2 KV heads, but the schedule runs all 4 KV heads (1 shard)"));
    ksa_layer_kind kind;
    assert_int_equal(ksa_schedule_get_layer(s, 1, &kind, NULL, NULL), KSA_STATUS_SUCCESS);
    assert_int_equal(kind, KSA_LAYER_DENSE); /* nothing changed */
    for (int32_t rank = 0; rank < 2; rank++) {
        assert_int_equal(ksa_schedule_set_head_range(s, 2 * rank, 2), KSA_STATUS_SUCCESS);
        assert_int_equal(ksa_calib_plan_apply(&plan, s), KSA_STATUS_SUCCESS);
        int32_t map[4], anchor;
        assert_int_equal(ksa_schedule_get_layer(s, 1, &kind, &anchor, map), KSA_STATUS_SUCCESS);
        assert_int_equal(kind, KSA_LAYER_REUSE);
        assert_memory_equal(map, plan.head_maps + 4, sizeof map); /* kept in the model's numbering */
    }
    /* a range that is not one of the plan's shards */
    assert_int_equal(ksa_schedule_set_head_range(s, 1, 2), KSA_STATUS_INVALID_ARGUMENT); /* layer 1 maps head 1 -> 1 ok, 2 -> 3 */
    assert_non_null(strstr(ksa_last_error(), "REUSE layer 1 maps KV head 2 to anchor KV head 3, outside the KV heads 1..2"));
    ksa_schedule_destroy(s);
    assert_int_equal(ksa_schedule_create(dev, 3, 4, NULL, &s), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_set_head_range(s, 1, 2), KSA_STATUS_SUCCESS); /* no REUSE layer yet */
    assert_int_equal(ksa_calib_plan_apply(&plan, s), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "KV heads 1..2 of 4 (not one of equal shards)"));
    assert_int_equal(ksa_schedule_set_head_range(s, 0, 1), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_plan_apply(&plan, s), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "made for 2 shards of 2 KV heads, but the schedule runs KV heads 0..0 of 4 (one of 4 shards)"));
    /* a 1-shard plan on a rank's schedule is refused too */
    plan.num_shards = 1;
    assert_int_equal(ksa_schedule_set_head_range(s, 2, 2), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_plan_apply(&plan, s), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "made for 1 shard of 4 KV heads"));
    assert_int_equal(ksa_schedule_set_head_range(s, 0, 4), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_plan_apply(&plan, s), KSA_STATUS_SUCCESS);
    ksa_schedule_destroy(s);
    ksa_calib_plan_free(&plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sharded_plan_matches_brute_force),
        cmocka_unit_test(test_sharded_similarity_and_maps),
        cmocka_unit_test(test_bad_shard_counts),
        cmocka_unit_test(test_schedule_file_shards),
        cmocka_unit_test(test_apply_to_ranks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
