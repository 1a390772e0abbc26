/* test_autotune_tuner.c: the measuring driver on a fake backend whose timing is set by sleeps. A
 * planted configuration that is the fastest but wrong must be rejected by the reference check;
 * the honest fastest wins, is stored, and dispatch then hands it to the backend ("cache:exact");
 * when the built-in is fastest, or the winner loses at the bottom of its length bucket, nothing is
 * recorded; the dry-run list starts with the defaults;
 * overrides through the public API reach the backend and bad ones are refused. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autotune/ksa_autotune.h"
#include "fake_backend.h"
#include "test_util.h"

static char tmpdir[256];

static ksa_tune_shape small_shape(void)
{
    ksa_tune_shape s;
    memset(&s, 0, sizeof s);
    s.mode = KSA_MODE_DENSE;
    s.phase = KSA_PHASE_PREFILL;
    s.dtype = KSA_DTYPE_F32;
    s.batch = 1;
    s.hq = 4;
    s.hkv = 2;
    s.head_dim = 32;
    s.lq = 48;
    s.lk = 80;
    return s;
}

static ksa_tune_options quick_options(void)
{
    ksa_tune_options o = ksa_tune_options_default();
    o.budget_s = 60;
    o.warmup = 1;
    o.repeats = 5;
    o.min_gain = 0.10;
    return o;
}

static void test_dry_run_list(void **state)
{
    ksa_tune_shape s = small_shape();
    ksa_tune_options o = quick_options();
    ksa_tunable_space sp;
    char configs[16][KSA_TUNE_CONFIG_MAX];
    int32_t n = 0, exhaustive = 0;
    assert_int_equal(ksa_tune_list_candidates(fake_device(), &s, &o, &sp, configs, 16, &n, &exhaustive), KSA_STATUS_SUCCESS);
    assert_int_equal(sp.num_params, 2);
    assert_int_equal(n, 6);
    assert_int_equal(exhaustive, 1);
    assert_string_equal(configs[0], "block=32,unroll=1");
    for (int i = 1; i < n; i++) assert_string_not_equal(configs[i], configs[0]);
    /* a small candidate cap switches to coordinate descent: default + 2 blocks + 1 unroll */
    o.max_candidates = 4;
    assert_int_equal(ksa_tune_list_candidates(fake_device(), &s, &o, &sp, configs, 16, &n, &exhaustive), KSA_STATUS_SUCCESS);
    assert_int_equal(exhaustive, 0);
    assert_int_equal(n, 4);
    /* a frozen parameter keeps its default: 3 blocks x 1 unroll */
    o.max_candidates = 48;
    o.frozen = "unroll";
    assert_int_equal(ksa_tune_list_candidates(fake_device(), &s, &o, &sp, configs, 16, &n, &exhaustive), KSA_STATUS_SUCCESS);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) assert_non_null(strstr(configs[i], "unroll=1"));
    o.frozen = NULL;
    /* bad shapes are refused with a sentence */
    s.hq = 5;
    assert_int_equal(ksa_tune_list_candidates(fake_device(), &s, &o, &sp, configs, 16, &n, &exhaustive),
                     KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "Hkv"));
}

static void test_wrong_fast_candidate_rejected(void **state)
{
    fake_builtin_fastest = 0;
    ksa_tune_shape s = small_shape();
    ksa_tune_options o = quick_options();
    ksa_tune_result r;
    assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &o, &r), KSA_STATUS_SUCCESS);
    assert_int_equal(r.num_candidates, 6);
    /* block=64 (with unroll 1 and 2) is the fastest and wrong: both rejected */
    assert_int_equal(r.rejected, 2);
    assert_non_null(strstr(r.first_rejected, "block=64"));
    assert_true(strlen(r.reject_reason) > 0);
    assert_int_equal(r.measured, 4);
    assert_int_equal(r.improved, 1);
    assert_string_equal(r.best_config, "block=16,unroll=1");
    assert_true(r.best_ms < r.builtin_ms);
    assert_int_equal(r.entry.num_params, 2);
    assert_string_equal(r.entry.names[0], "block");
    assert_int_equal(r.entry.values[0], 16);
    assert_int_equal(r.entry.values[1], 1);
    assert_int_equal(r.entry.cls.lk_bucket, 128);
    assert_int_equal(r.entry.cls.group, 2);
    assert_string_equal(r.entry.sig.backend, "fake");

    /* store it; dispatch's lookup now hands block=16 to the backend for this class */
    char path[512];
    snprintf(path, sizeof path, "%s/cache.txt", tmpdir);
    assert_int_equal(ksa_tune_cache_store(path, &r.entry, 1), KSA_STATUS_SUCCESS);
    setenv("KSA_TUNE_CACHE", path, 1);
    ksa_autotune_reload();
    ktest_config c = ktest_config_default();
    c.batch = 1;
    c.hq = 4;
    c.hkv = 2;
    c.head_dim = 32;
    c.lq = 40;
    c.lk = 100; /* bucket 128, like the tuned shape */
    ktest_problem p;
    assert_int_equal(ktest_problem_create(fake_device(), &c, &p), KSA_STATUS_SUCCESS);
    assert_int_equal(ktest_problem_run(&p), KSA_STATUS_SUCCESS);
    assert_int_equal(fake_last_config_count, 2);
    assert_int_equal(fake_last_config[0], 16);
    assert_int_equal(fake_last_config[1], 1);
    char report[512];
    assert_int_equal(ktest_problem_check(&p, report, sizeof report), KSA_STATUS_SUCCESS);
    /* an explicit override wins over the cache */
    assert_int_equal(ksa_set_config_override("block=32,unroll=2"), KSA_STATUS_SUCCESS);
    assert_int_equal(ktest_problem_run(&p), KSA_STATUS_SUCCESS);
    assert_int_equal(fake_last_config[0], 32);
    assert_int_equal(fake_last_config[1], 2);
    /* a value outside the space is refused with a sentence naming it */
    assert_int_equal(ksa_set_config_override("block=48"), KSA_STATUS_SUCCESS);
    assert_int_equal(ktest_problem_run(&p), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "block"));
    assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
    /* with the lookup disabled on this thread, the backend gets the built-in (no config) */
    ksa_autotune_set_enabled(0);
    assert_int_equal(ktest_problem_run(&p), KSA_STATUS_SUCCESS);
    assert_int_equal(fake_last_config_count, 0);
    ksa_autotune_set_enabled(1);
    /* a different head_dim has no entry and no neighbour: built-in */
    ktest_problem_destroy(&p);
    c.head_dim = 64;
    assert_int_equal(ktest_problem_create(fake_device(), &c, &p), KSA_STATUS_SUCCESS);
    assert_int_equal(ktest_problem_run(&p), KSA_STATUS_SUCCESS);
    assert_int_equal(fake_last_config_count, 0);
    ktest_problem_destroy(&p);

    /* compare mode sees the stored entry */
    double b = 0, t = 0;
    char cfg[KSA_TUNE_CONFIG_MAX];
    const char *src = NULL;
    o.repeats = 3;
    assert_int_equal(ksa_tune_compare(fake_device(), &s, &o, &b, &t, cfg, sizeof cfg, &src), KSA_STATUS_SUCCESS);
    assert_string_equal(src, "cache:exact");
    assert_string_equal(cfg, "block=16,unroll=1");
    assert_true(b > 0 && t > 0);
    unsetenv("KSA_TUNE_CACHE");
    ksa_autotune_reload();
}

static void test_refused_combination(void **state)
{
    /* a combination the backend refuses is counted apart from wrong results and never wins */
    fake_builtin_fastest = 0;
    fake_refuse_combo = 1;
    ksa_tune_shape s = small_shape();
    ksa_tune_options o = quick_options();
    ksa_tune_result r;
    ksa_status st = ksa_tune_shape_run(fake_device(), &s, &o, &r);
    fake_refuse_combo = 0;
    assert_int_equal(st, KSA_STATUS_SUCCESS);
    assert_int_equal(r.refused, 1);
    assert_non_null(strstr(r.first_refused, "block=16,unroll=2"));
    assert_non_null(strstr(r.first_refused, "cannot be combined"));
    assert_int_equal(r.rejected, 2);
    assert_int_equal(r.measured, 3);
    assert_int_equal(r.improved, 1);
    assert_string_equal(r.best_config, "block=16,unroll=1");
}

static void test_builtin_fastest_records_nothing(void **state)
{
    fake_builtin_fastest = 1;
    ksa_tune_shape s = small_shape();
    s.mode = KSA_MODE_ANCHOR; /* and the index outputs are checked too */
    ksa_tune_options o = quick_options();
    ksa_tune_result r;
    assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &o, &r), KSA_STATUS_SUCCESS);
    assert_int_equal(r.rejected, 2);
    assert_int_equal(r.improved, 0);
    assert_true(r.best_ms >= r.builtin_ms * 0.9);
    /* the result is a "built-in is best" marker for the class */
    assert_int_equal(r.builtin_marker, 1);
    assert_int_equal(r.entry.num_params, 0);
    assert_int_equal(r.entry.cls.mode, KSA_MODE_ANCHOR);
    fake_builtin_fastest = 0;
}

static void test_lower_edge_probe(void **state)
{
    /* block=16 wins at Lk 80 but is slower than the built-in at Lk 65 (same 128 bucket): the
     * tuner must not record it */
    fake_builtin_fastest = 0;
    fake_small_penalty = 1;
    ksa_tune_shape s = small_shape();
    ksa_tune_options o = quick_options();
    ksa_tune_result r;
    assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &o, &r), KSA_STATUS_SUCCESS);
    fake_small_penalty = 0;
    assert_string_equal(r.best_config, "block=16,unroll=1");
    assert_int_equal(r.confirmed_run, 1);
    assert_int_equal(r.improved, 0);
    assert_non_null(strstr(r.probe_note, "Lk65"));
    assert_true(r.probe_best_ms > r.probe_builtin_ms);
}

static void test_reuse_shape_runs(void **state)
{
    /* REUSE builds its index sets with the backend's own ANCHOR first */
    fake_builtin_fastest = 0;
    ksa_tune_shape s = small_shape();
    s.mode = KSA_MODE_REUSE;
    s.phase = KSA_PHASE_DECODE;
    s.dtype = KSA_DTYPE_BF16;
    s.batch = 2;
    s.lk = 300;
    s.paged = 1;
    ksa_tune_options o = quick_options();
    ksa_tune_result r;
    assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &o, &r), KSA_STATUS_SUCCESS);
    assert_int_equal(r.rejected, 2);
    assert_int_equal(r.improved, 1);
    assert_int_equal(r.entry.values[0], 16);
    assert_int_equal(r.entry.cls.layout, KSA_KV_PAGED);
    assert_int_equal(r.entry.cls.phase, KSA_PHASE_DECODE);
    assert_int_equal(r.entry.cls.batch_bucket, 2);
}

static int setup(void **state)
{
    if (atest_make_tmpdir(tmpdir, sizeof tmpdir, "ksa-tuner-test")) return -1;
    setenv("KSA_TUNE_CACHE", "off", 1);
    ksa_autotune_reload();
    return 0;
}

static int teardown(void **state) { return atest_remove_tmpdir(tmpdir); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dry_run_list),
        cmocka_unit_test(test_wrong_fast_candidate_rejected),
        cmocka_unit_test(test_refused_combination),
        cmocka_unit_test(test_builtin_fastest_records_nothing),
        cmocka_unit_test(test_lower_edge_probe),
        cmocka_unit_test(test_reuse_shape_runs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
