/* test_bruteforce.c: the reference against the independent brute force of ref_bruteforce.c over a
 * grid of modes (DENSE, ANCHOR sparse and dense-output, REUSE with random sets and head maps),
 * phases, dtypes, GQA ratios 1..8, head dims 1..512, ragged batches, chunked prefill, lengths that
 * are no multiple of T, fraction and fixed Top-k rules, rolling on and off, and every layout.
 * Outputs are poisoned first and must all be written. Also the pooled-score query. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ref_bruteforce.h"
#include "ref_test_problem.h"
#include "reference/ksa_reference.h"

typedef struct shape {
    int32_t hq, hkv, d, batch;
    int32_t lq[3], lk[3];
} shape;

static const shape shapes[] = {
    {1, 1, 64, 1, {70}, {70}},                /* MHA, L no multiple of T */
    {4, 2, 128, 2, {33, 50}, {90, 50}},       /* chunked prefill next to a full one */
    {8, 1, 32, 1, {40}, {40}},                /* GQA 8 */
    {6, 2, 17, 3, {1, 20, 9}, {5, 41, 9}},    /* GQA 3, odd D, a one-query sequence */
    {5, 5, 3, 1, {25}, {60}},                 /* tiny D */
    {2, 1, 256, 1, {24}, {48}},               /* D 256 */
    {7, 1, 1, 2, {12, 3}, {12, 30}},          /* GQA 7, D 1 */
    {10, 2, 8, 1, {17}, {33}},                /* GQA 5 */
    {6, 1, 5, 2, {9, 30}, {9, 31}},           /* GQA 6 */
    {2, 2, 512, 1, {10}, {21}},               /* the largest head dim */
};

static ksa_topk_params topk_variant(int v, int32_t max_lk)
{
    ksa_topk_params t;
    memset(&t, 0, sizeof t);
    switch (v % 4) {
    case 0: t.fraction = 0.25; t.min_k = 8; t.round_multiple = 1; t.tile_size = 8; t.rolling = 0; break;
    case 1: t.fraction = 0.3; t.min_k = 4; t.round_multiple = 4; t.tile_size = 8; t.rolling = 1; break;
    case 2: t.fraction = 0.1; t.top_k = max_lk < 13 ? max_lk : 13; t.min_k = 128; t.round_multiple = 128; t.tile_size = 4; break;
    default: t.fraction = 0.1; t.min_k = 128; t.round_multiple = 128; t.tile_size = 32; t.rolling = 1; break;
    }
    return t;
}

static const char *mode_name(int m)
{
    static const char *const n[] = {"dense", "anchor", "anchor(dense out)", "reuse"};
    return n[m];
}

/* mode index: 0 DENSE, 1 ANCHOR, 2 ANCHOR with dense output, 3 REUSE */
static void run_case(const shape *sh, int mode, ksa_phase phase, ksa_dtype dtype, int variant)
{
    rt_config c = rt_config_default();
    c.mode = mode == 0 ? KSA_MODE_DENSE : mode == 3 ? KSA_MODE_REUSE : KSA_MODE_ANCHOR;
    c.anchor_dense_output = mode == 2;
    c.phase = phase;
    c.dtype = dtype;
    c.batch = sh->batch;
    c.hq = sh->hq;
    c.hkv = sh->hkv;
    c.head_dim = sh->d;
    int32_t max_lk = 0;
    for (int b = 0; b < sh->batch; b++) {
        c.lq[b] = sh->lq[b];
        c.lk[b] = sh->lk[b];
        if (c.lk[b] > max_lk) max_lk = c.lk[b];
    }
    c.topk = topk_variant(variant, max_lk);
    c.topk.local_window = (phase == KSA_PHASE_DECODE && variant % 2) ? 3 : 0;
    c.with_lse = 1;
    c.kv = (rt_kv)(variant % 3);
    c.q_ragged = variant % 2;
    c.strided = (variant / 2) % 2;
    c.page_size = 1 + variant % 7;
    c.layout_seed = (uint64_t)variant;
    int32_t map[8];
    uint64_t st = (uint64_t)variant * 977 + 1;
    for (int g = 0; g < sh->hkv; g++) map[g] = (int32_t)(ktest_rand_u64(&st) % (uint64_t)sh->hkv);
    c.head_map = map;

    rt_data *d = rt_data_random(&c, (uint64_t)(variant * 131 + mode * 7 + phase), 2.0);
    rt_problem *r = rt_problem_create(&c, d);
    if (c.mode == KSA_MODE_REUSE) rt_fill_random_sets(r, (uint64_t)variant + 99);
    rt_problem_poison(r);
    char msg[256] = "";
    ksa_status s = rt_run(r);
    int bad = s != KSA_STATUS_SUCCESS || rt_check_written(r, msg, sizeof msg) || bf_compare(r, d, msg, sizeof msg);
    if (bad)
        print_error("case %s %s %s Hq%d/%d D%d B%d variant %d: status %d: %s\n", mode_name(mode),
                    phase == KSA_PHASE_DECODE ? "decode" : "prefill", ksa_dtype_name(dtype), sh->hq, sh->hkv, sh->d,
                    sh->batch, variant, (int)s, msg);
    rt_problem_free(r);
    rt_data_free(d);
    assert_false(bad);
}

static void grid(ksa_phase phase)
{
    static const ksa_dtype dtypes[] = {KSA_DTYPE_F32, KSA_DTYPE_F16, KSA_DTYPE_BF16};
    int variant = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int mode = 0; mode < 4; mode++)
            for (int di = 0; di < 3; di++) run_case(&shapes[si], mode, phase, dtypes[di], variant++);
}

static void test_bruteforce_prefill(void **state) { grid(KSA_PHASE_PREFILL); }
static void test_bruteforce_decode(void **state) { grid(KSA_PHASE_DECODE); }

/* Longer sequences with the paper's default budget rules (min_k 128, multiple 128, T 32). */
static void test_bruteforce_default_budget(void **state)
{
    for (int phase = 0; phase < 2; phase++) {
        rt_config c = rt_config_default();
        c.mode = KSA_MODE_ANCHOR;
        c.phase = (ksa_phase)phase;
        c.batch = 1;
        c.hq = 4;
        c.hkv = 2;
        c.head_dim = 16;
        c.lq[0] = phase ? 1 : 700;
        c.lk[0] = 1500;
        c.topk.fraction = 0.10;
        c.topk.min_k = 128;
        c.topk.round_multiple = 128;
        c.topk.tile_size = 32;
        c.topk.rolling = 1;
        c.with_lse = 1;
        rt_data *d = rt_data_random(&c, 5 + (uint64_t)phase, 3.0);
        rt_problem *r = rt_problem_create(&c, d);
        char msg[256] = "";
        assert_int_equal(rt_run(r), KSA_STATUS_SUCCESS);
        int bad = rt_check_written(r, msg, sizeof msg) || bf_compare(r, d, msg, sizeof msg);
        if (bad) print_error("default budget %s: %s\n", phase ? "decode" : "prefill", msg);
        assert_false(bad);
        /* the budget rules picked what the paper says: k(1500) = 256 (150 rounded up to 128s) */
        if (phase) assert_int_equal(rt_count(r, 0, 0, 0), 256);
        else assert_int_equal(rt_count(r, 0, 0, 21), 256 - 32); /* pos(21*32) = 1472: 147 -> 256 > k - T = 224 */
        if (!phase) assert_int_equal(rt_count(r, 0, 0, 0), 128);  /* pos 800: 80 -> 128 < 224 */
        rt_problem_free(r);
        rt_data_free(d);
    }
}

static void test_pooled_scores(void **state)
{
    for (int phase = 0; phase < 2; phase++) {
        rt_config c = rt_config_default();
        c.mode = KSA_MODE_ANCHOR;
        c.phase = (ksa_phase)phase;
        c.batch = 2;
        c.hq = 6;
        c.hkv = 3;
        c.head_dim = 24;
        c.lq[0] = 30;
        c.lk[0] = 64;
        c.lq[1] = 50;
        c.lk[1] = 50;
        c.kv = RT_KV_PAGED;
        c.page_size = 5;
        rt_data *d = rt_data_random(&c, 42 + (uint64_t)phase, 1.5);
        rt_problem *r = rt_problem_create(&c, d);
        double got[64], want[64];
        for (int32_t b = 0; b < 2; b++)
            for (int32_t g = 0; g < 3; g++)
                for (int64_t t = 0; t < r->p.n_tiles + 1; t++) {
                    int64_t n = -1;
                    assert_int_equal(ksa_reference_pooled_scores(&r->p, b, g, t, got, &n), KSA_STATUS_SUCCESS);
                    int64_t m = (t < r->p.n_tiles) ? bf_pooled(r, d, b, g, t, want) : 0;
                    assert_int_equal(n, m);
                    double total = 0;
                    for (int64_t j = 0; j < n; j++) {
                        assert_true(fabs(got[j] - want[j]) <= 1e-12 + 1e-12 * want[j]);
                        total += got[j];
                    }
                    /* probabilities: the pooled mass over candidates is at most G * (queries in the tile) */
                    assert_true(total <= (double)c.hq / c.hkv * c.topk.tile_size + 1e-9);
                    if (n > 0) assert_true(total > 0);
                }
        rt_problem_free(r);
        rt_data_free(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bruteforce_prefill),
        cmocka_unit_test(test_bruteforce_decode),
        cmocka_unit_test(test_bruteforce_default_budget),
        cmocka_unit_test(test_pooled_scores),
    };
    return cmocka_run_group_tests_name("reference_bruteforce", tests, NULL, NULL);
}
