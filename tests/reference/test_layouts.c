/* test_layouts.c: the same logical problem in every layout gives bit-identical results from the
 * reference: contiguous K/V with per-sequence lengths, ragged K/V, paged K/V with shuffled pages
 * (page sizes 1, 7, 16 and larger than any sequence), ragged q/o/lse, and strided views whose
 * padding holds NaN (so reading any padding would show). Every mode, both phases, every dtype. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ref_test_problem.h"

typedef struct layout {
    const char *name;
    int32_t q_ragged;
    rt_kv kv;
    int32_t page_size;
    int32_t strided;
} layout;

static const layout layouts[] = {
    {"ragged q", 1, RT_KV_CONTIGUOUS, 0, 0},
    {"ragged kv", 0, RT_KV_RAGGED, 0, 0},
    {"paged 1", 0, RT_KV_PAGED, 1, 0},
    {"paged 7", 0, RT_KV_PAGED, 7, 0},
    {"paged 16", 1, RT_KV_PAGED, 16, 0},
    {"paged 128", 0, RT_KV_PAGED, 128, 0},
    {"strided", 0, RT_KV_CONTIGUOUS, 0, 1},
    {"strided ragged", 1, RT_KV_RAGGED, 0, 1},
    {"strided paged 5", 1, RT_KV_PAGED, 5, 1},
};

static void compare_layouts(ksa_mode mode, int dense_out, ksa_phase phase, ksa_dtype dtype)
{
    rt_config c = rt_config_default();
    c.mode = mode;
    c.anchor_dense_output = dense_out;
    c.phase = phase;
    c.dtype = dtype;
    c.batch = 3;
    c.hq = 4;
    c.hkv = 2;
    c.head_dim = 24;
    c.lq[0] = 37;
    c.lk[0] = 37;
    c.lq[1] = 1;
    c.lk[1] = 50;
    c.lq[2] = 20;
    c.lk[2] = 64;
    c.topk.tile_size = 8;
    c.topk.fraction = 0.3;
    c.topk.min_k = 10;
    c.topk.round_multiple = 2;
    c.topk.rolling = 1;
    c.topk.local_window = phase == KSA_PHASE_DECODE ? 4 : 0;
    c.with_lse = 1;
    static const int32_t map[2] = {1, 1};
    c.head_map = map;
    rt_data *d = rt_data_random(&c, (uint64_t)(mode * 10 + phase * 3 + dtype), 2.0);
    rt_problem *base = rt_problem_create(&c, d);
    if (mode == KSA_MODE_REUSE) rt_fill_random_sets(base, 7);
    assert_int_equal(rt_run(base), KSA_STATUS_SUCCESS);
    char msg[256];
    if (rt_check_written(base, msg, sizeof msg)) fail_msg("contiguous: %s", msg);
    for (size_t li = 0; li < sizeof layouts / sizeof layouts[0]; li++) {
        rt_config lc = c;
        lc.q_ragged = layouts[li].q_ragged;
        lc.kv = layouts[li].kv;
        lc.page_size = layouts[li].page_size;
        lc.strided = layouts[li].strided;
        lc.layout_seed = li + 3;
        rt_problem *r = rt_problem_create(&lc, d);
        if (mode == KSA_MODE_REUSE) rt_copy_sets(r, base);
        rt_problem_poison(r);
        assert_int_equal(rt_run(r), KSA_STATUS_SUCCESS);
        if (rt_check_written(r, msg, sizeof msg)) fail_msg("%s: %s", layouts[li].name, msg);
        double diff = rt_max_diff(base, r);
        if (diff != 0.0)
            fail_msg("mode %d%s %s %s: layout '%s' differs from contiguous by %g", (int)mode, dense_out ? " (dense out)" : "",
                     phase == KSA_PHASE_DECODE ? "decode" : "prefill", ksa_dtype_name(dtype), layouts[li].name, diff);
        rt_problem_free(r);
    }
    rt_problem_free(base);
    rt_data_free(d);
}

static void all_dtypes(ksa_mode mode, int dense_out, ksa_phase phase)
{
    compare_layouts(mode, dense_out, phase, KSA_DTYPE_F32);
    compare_layouts(mode, dense_out, phase, KSA_DTYPE_F16);
    compare_layouts(mode, dense_out, phase, KSA_DTYPE_BF16);
}

static void test_layouts_dense(void **state)
{
    all_dtypes(KSA_MODE_DENSE, 0, KSA_PHASE_PREFILL);
    all_dtypes(KSA_MODE_DENSE, 0, KSA_PHASE_DECODE);
}
static void test_layouts_anchor(void **state)
{
    all_dtypes(KSA_MODE_ANCHOR, 0, KSA_PHASE_PREFILL);
    all_dtypes(KSA_MODE_ANCHOR, 0, KSA_PHASE_DECODE);
    all_dtypes(KSA_MODE_ANCHOR, 1, KSA_PHASE_PREFILL);
}
static void test_layouts_reuse(void **state)
{
    all_dtypes(KSA_MODE_REUSE, 0, KSA_PHASE_PREFILL);
    all_dtypes(KSA_MODE_REUSE, 0, KSA_PHASE_DECODE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layouts_dense),
        cmocka_unit_test(test_layouts_anchor),
        cmocka_unit_test(test_layouts_reuse),
    };
    return cmocka_run_group_tests_name("reference_layouts", tests, NULL, NULL);
}
