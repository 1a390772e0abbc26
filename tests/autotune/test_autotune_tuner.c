/* test_autotune_tuner.c: the measuring driver on a fake backend whose calls advance a simulated
 * clock (fake_simulate_time), so every timing is exact and independent of the machine's load. A
 * planted configuration that is the fastest but wrong must be rejected by the reference check;
 * the honest fastest wins, is stored, and dispatch then hands it to the backend ("cache:exact");
 * when the built-in is fastest, or the winner loses at the bottom of its length bucket, nothing is
 * recorded; the dry-run list starts with the defaults;
 * overrides through the public API reach the backend and bad ones are refused.
 * P9 (issue 15): the confirmation rounds and their noise band (ksa_tune_rounds): a 2% gain in +-5%
 * noise is not stored, a 20% gain is, a winner that is slower in the confirmation is not; the
 * comparison reports the band and a verdict (same within noise for identical configurations,
 * slower for a slower tuned entry). Noise comes from seeded sequences: fixed seeds, fixed results.
 * On a queued (GPU-like) backend short calls are timed back to back, so a synchronisation's latency
 * does not hide a kernel's gain. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
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

/* ---------------------------------------------------------------- P9: rounds, band, verdict */
static ksa_tune_rounds rounds_of_times(int n, const double *builtin_ms, const double *other_ms)
{
    ksa_tune_rounds r;
    memset(&r, 0, sizeof r);
    r.rounds = n;
    for (int i = 0; i < n; i++) {
        r.builtin_ms[i] = builtin_ms[i];
        r.other_ms[i] = other_ms[i];
    }
    return r;
}

static void test_rounds_band_and_rule(void **state)
{
    char why[256];
    /* five rounds: ratios 1.111, 1.25, 0.952, 1.053, 1.176; band = [min, max] at R = 5 */
    double b5[5] = {10, 10, 10, 10, 10}, o5[5] = {9, 8, 10.5, 9.5, 8.5};
    ksa_tune_rounds r = rounds_of_times(5, b5, o5);
    assert_int_equal(ksa_tune_rounds_summarize(&r, 0.03), KSA_STATUS_SUCCESS);
    assert_int_equal(r.band_rank, 1);
    assert_true(fabs(r.ratio - 10.0 / 9.0) < 1e-12);
    assert_true(fabs(r.ratio_low - 10.0 / 10.5) < 1e-12);
    assert_true(fabs(r.ratio_high - 10.0 / 8.0) < 1e-12);
    assert_int_equal(r.verdict, KSA_TUNE_SAME);
    assert_string_equal(ksa_tune_verdict_name(r.verdict), "same within noise");
    assert_int_equal(r.rounds_gaining, 4);
    assert_true(r.other_median_ms == 9.0 && r.builtin_median_ms == 10.0);
    /* median 10% faster and 4 of 5 rounds gaining, but one round slower: the band reaches below 1 */
    assert_int_equal(ksa_tune_rounds_accept(&r, 0.03, why, sizeof why), 0);
    assert_non_null(strstr(why, "band"));
    /* every round faster, but only 3 of 5 by the 3% gain */
    double o5b[5] = {9, 8, 9.9, 9.8, 8.5};
    r = rounds_of_times(5, b5, o5b);
    assert_int_equal(ksa_tune_rounds_summarize(&r, 0.03), KSA_STATUS_SUCCESS);
    assert_int_equal(r.verdict, KSA_TUNE_FASTER);
    assert_int_equal(r.rounds_gaining, 3);
    assert_int_equal(ksa_tune_rounds_accept(&r, 0.03, why, sizeof why), 0);
    assert_non_null(strstr(why, "3 of 5 rounds"));
    /* a gain in every round: accepted; the built-in's run-to-run band is its spread over its median */
    double b5c[5] = {9, 10, 11, 10, 10}, o5c[5] = {8, 8.5, 9.5, 8.8, 9};
    r = rounds_of_times(5, b5c, o5c);
    assert_int_equal(ksa_tune_rounds_summarize(&r, 0.03), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_tune_rounds_accept(&r, 0.03, why, sizeof why), 1);
    assert_string_equal(why, "");
    assert_true(fabs(r.builtin_low - 0.9) < 1e-12 && fabs(r.builtin_high - 1.1) < 1e-12);
    /* the median of the round medians must show the gain too */
    double o5d[5] = {9.8, 9.8, 9.8, 9.8, 9.8};
    r = rounds_of_times(5, b5, o5d);
    assert_int_equal(ksa_tune_rounds_summarize(&r, 0.03), KSA_STATUS_SUCCESS);
    assert_int_equal(r.verdict, KSA_TUNE_FASTER);
    assert_int_equal(ksa_tune_rounds_accept(&r, 0.03, why, sizeof why), 0);
    assert_non_null(strstr(why, "not 3.0% faster"));
    /* all rounds slower: verdict slower */
    double o5e[5] = {10.2, 10.4, 10.1, 10.9, 10.3};
    r = rounds_of_times(5, b5, o5e);
    assert_int_equal(ksa_tune_rounds_summarize(&r, 0.03), KSA_STATUS_SUCCESS);
    assert_int_equal(r.verdict, KSA_TUNE_SLOWER);
    assert_string_equal(ksa_tune_verdict_name(r.verdict), "slower");
    /* nine rounds: the band drops one round at each end (96% order-statistic interval) */
    double b9[9] = {10, 10, 10, 10, 10, 10, 10, 10, 10}, o9[9] = {5, 9, 9.1, 9.2, 9.3, 9.4, 9.5, 9.6, 20};
    r = rounds_of_times(9, b9, o9);
    assert_int_equal(ksa_tune_rounds_summarize(&r, 0.03), KSA_STATUS_SUCCESS);
    assert_int_equal(r.band_rank, 2);
    assert_true(fabs(r.ratio_low - 10.0 / 9.6) < 1e-12);
    assert_true(fabs(r.ratio_high - 10.0 / 9.0) < 1e-12);
    assert_int_equal(r.verdict, KSA_TUNE_FASTER);
    /* bad input: a sentence naming what is wrong */
    r = rounds_of_times(5, b5, o5);
    r.rounds = 0;
    assert_int_equal(ksa_tune_rounds_summarize(&r, 0.03), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "rounds 0"));
    r.rounds = KSA_TUNE_MAX_ROUNDS + 1;
    assert_int_equal(ksa_tune_rounds_summarize(&r, 0.03), KSA_STATUS_INVALID_ARGUMENT);
    r.rounds = 5;
    assert_int_equal(ksa_tune_rounds_summarize(&r, 1.0), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "min_gain"));
    r.other_ms[3] = 0;
    assert_int_equal(ksa_tune_rounds_summarize(&r, 0.03), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "round 3"));
    assert_int_equal(ksa_tune_rounds_summarize(NULL, 0.03), KSA_STATUS_INVALID_ARGUMENT);
}

/* The timings of the P9 scenarios: built-in 10 ms, block=16 (the candidate) `block16_ms`,
 * block=32 10.3 ms, unroll=2 +1 ms, block=64 fast and wrong; `noise`: +-fraction per call. */
static void set_times(double block16_ms, double noise, uint64_t seed)
{
    fake_timing_reset();
    fake_builtin_fastest = 0;
    fake_times.builtin_ms = 10.0;
    fake_times.block_ms[0] = block16_ms;
    fake_times.block_ms[1] = 10.3;
    fake_times.noise = noise;
    fake_times.noise_seed = seed;
}

/* A progress callback that changes block=16's time when the confirmation starts: the candidate
 * the search measured is not the one the confirmation meets. */
typedef struct confirm_switch {
    double block16_ms; /* from the confirmation on */
    double noise;
    int confirmations;
} confirm_switch;

static void switch_at_confirmation(void *user, double fraction, const char *what)
{
    confirm_switch *sw = user;
    if (what && !strncmp(what, "confirming ", 11)) {
        fake_times.block_ms[0] = sw->block16_ms;
        fake_times.noise = sw->noise;
        sw->confirmations++;
    }
}

static ksa_tune_options p9_options(void)
{
    ksa_tune_options o = quick_options();
    o.min_gain = 0.03;
    o.repeats = 9;
    return o;
}

static void test_small_gain_in_noise_not_stored(void **state)
{
    /* (a) block=16 is 2% faster than the built-in (min_gain 3%), each call +-5%. The noise comes
     * from fixed seeds, so each result below is the same on every run. */
    ksa_tune_shape s = small_shape();
    ksa_tune_options o = p9_options();
    /* the whole pipeline, as the search finds it: never stored for these 16 seeds (over 400 seeds
     * the search took it to the confirmation 142 times and the rounds stored it twice) */
    int confirmed = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        set_times(9.8, 0.05, seed);
        ksa_tune_result r;
        assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &o, &r), KSA_STATUS_SUCCESS);
        assert_int_equal(r.improved, 0);
        assert_int_equal(r.builtin_marker, 1);
        confirmed += r.confirmed_run;
    }
    printf("2%% candidate, +-5%%: the search took it to the confirmation for %d of 16 seeds; stored for none\n", confirmed);
    assert_true(confirmed >= 1); /* the rounds rule, not only the search, turned it down */
    /* every time at the confirmation: the search sees it 20% faster without noise, the rounds meet
     * the 2% gain in +-5% noise. Five rounds of nine calls cannot tell 2% from 4% every time: the
     * rule admits it in about 2% of confirmations (Monte Carlo in autotune/NOTES-autotune.md; one
     * interleaved median, the rule before, admitted about 32%); such a winner is still faster than
     * the built-in. */
    int stored = 0;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        set_times(8.0, 0.0, seed);
        confirm_switch sw = {9.8, 0.05, 0};
        ksa_tune_options oc = o;
        oc.progress = switch_at_confirmation;
        oc.progress_user = &sw;
        ksa_tune_result r;
        assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &oc, &r), KSA_STATUS_SUCCESS);
        assert_int_equal(sw.confirmations, 1);
        assert_int_equal(r.confirmed_run, 1);
        assert_int_equal(r.confirm.rounds, 5);
        assert_int_equal(r.confirm.calls_per_round, 9);
        if (r.improved) {
            stored++;
            assert_true(r.confirm.ratio_low > 1.0 && r.confirm.rounds_gaining >= 4);
            printf("seed %d: stored (speedup %.3f, band [%.3f, %.3f])\n", (int)seed, r.confirm.ratio, r.confirm.ratio_low,
                   r.confirm.ratio_high);
        } else {
            assert_true(strlen(r.confirm_note) > 0);
            assert_int_equal(r.builtin_marker, 1);
        }
    }
    printf("2%% candidate, +-5%%, at the confirmation: stored for %d of 100 seeds\n", stored);
    assert_true(stored <= 5);
    fake_timing_reset();
}

static void test_clear_gain_stored(void **state)
{
    /* (b) block=16 is 20% faster; small noise (+-1%), and also +-5%: stored every time */
    ksa_tune_shape s = small_shape();
    ksa_tune_options o = p9_options();
    for (uint64_t seed = 1; seed <= 6; seed++) {
        double noise = seed <= 3 ? 0.01 : 0.05;
        set_times(8.0, noise, seed);
        ksa_tune_result r;
        assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &o, &r), KSA_STATUS_SUCCESS);
        assert_int_equal(r.improved, 1);
        assert_string_equal(r.best_config, "block=16,unroll=1");
        assert_int_equal(r.confirm.rounds, 5);
        assert_true(r.confirm.ratio_low > 1.0);
        assert_true(r.confirm.rounds_gaining >= 4);
        assert_int_equal(r.confirm.verdict, KSA_TUNE_FASTER);
        assert_string_equal(r.confirm_note, "");
        /* the entry holds the medians of the confirmation's round medians */
        assert_true(fabs(r.entry.tuned_us - 8000.0) < 8000.0 * noise);
        assert_true(fabs(r.entry.builtin_us - 10000.0) < 10000.0 * noise);
        assert_true(r.entry.tuned_us == r.confirm.other_median_ms * 1e3);
        assert_true(fabs(r.confirm.ratio - 1.25) < 1.25 * 2 * noise);
    }
    fake_timing_reset();
}

static void test_faster_in_search_slower_in_confirmation(void **state)
{
    /* (c) the search sees block=16 at 2 ms against the built-in's 8; from the confirmation on it
     * takes 11 ms: not stored, the class gets a "built-in" marker */
    fake_timing_reset();
    fake_builtin_fastest = 0;
    ksa_tune_shape s = small_shape();
    ksa_tune_options o = p9_options();
    confirm_switch sw = {11.0, 0.0, 0};
    o.progress = switch_at_confirmation;
    o.progress_user = &sw;
    ksa_tune_result r;
    assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &o, &r), KSA_STATUS_SUCCESS);
    assert_int_equal(sw.confirmations, 1);
    assert_string_equal(r.best_config, "block=16,unroll=1");
    assert_true(r.best_ms < r.builtin_ms);
    assert_int_equal(r.confirmed_run, 1);
    assert_int_equal(r.improved, 0);
    assert_int_equal(r.builtin_marker, 1);
    assert_int_equal(r.entry.num_params, 0);
    assert_int_equal(r.confirm.verdict, KSA_TUNE_SLOWER);
    assert_true(r.confirm.ratio_high < 1.0);
    assert_true(fabs(r.confirm_best_ms - 11.0) < 1e-9 && fabs(r.confirm_builtin_ms - 8.0) < 1e-9);
    assert_non_null(strstr(r.confirm_note, "not 3.0% faster"));
    assert_int_equal(r.probe.rounds, 0); /* no lower-edge probe for a refused winner */

    /* the same with noise: candidates as fast as the built-in (10 ms, +-5%) that the search may
     * find "faster" by luck are never stored */
    for (uint64_t seed = 11; seed <= 18; seed++) {
        set_times(10.0, 0.05, seed);
        fake_times.block_ms[1] = 10.0;
        ksa_tune_options on = p9_options();
        on.progress = NULL;
        assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &on, &r), KSA_STATUS_SUCCESS);
        assert_int_equal(r.improved, 0);
    }
    fake_timing_reset();
}

/* Store `values` (num_params 0: a "built-in" marker) as the cache entry for shape `s`'s class. */
static void store_entry_for(const ksa_tune_shape *s, int32_t num_params, int32_t block, int32_t unroll, const char *path)
{
    fake_timing_reset();
    ksa_tune_options o = quick_options();
    ksa_tune_result r;
    assert_int_equal(ksa_tune_shape_run(fake_device(), s, &o, &r), KSA_STATUS_SUCCESS);
    assert_int_equal(r.improved, 1);
    ksa_tune_entry e = r.entry;
    e.num_params = num_params;
    e.values[0] = block;
    e.values[1] = unroll;
    remove(path);
    assert_int_equal(ksa_tune_cache_store(path, &e, 1), KSA_STATUS_SUCCESS);
    setenv("KSA_TUNE_CACHE", path, 1);
    ksa_autotune_reload();
}

static void test_compare_band_and_verdict(void **state)
{
    /* (d) compare: built-in vs the tuned lookup in rounds, with the band and a verdict */
    ksa_tune_shape s = small_shape();
    ksa_tune_options o = quick_options();
    char path[512];
    snprintf(path, sizeof path, "%s/compare.txt", tmpdir);
    ksa_tune_comparison c;

    /* identical configurations: the tuned entry holds the built-in's values (both 8 ms) */
    store_entry_for(&s, 2, 32, 1, path);
    fake_timing_reset();
    assert_int_equal(ksa_tune_compare_rounds(fake_device(), &s, &o, &c), KSA_STATUS_SUCCESS);
    assert_string_equal(c.source, "cache:exact");
    assert_string_equal(c.config, "block=32,unroll=1");
    assert_int_equal(c.same_code, 0);
    assert_int_equal(c.rounds.rounds, 5);
    assert_true(fabs(c.rounds.ratio - 1.0) < 1e-9);
    assert_true(c.rounds.ratio_low <= 1.0 && c.rounds.ratio_high >= 1.0 && c.rounds.ratio_high - c.rounds.ratio_low < 1e-9);
    assert_int_equal(c.rounds.verdict, KSA_TUNE_SAME);
    /* and with +-5% noise per call: the band still holds 1 */
    fake_times.noise = 0.05;
    fake_times.noise_seed = 5;
    assert_int_equal(ksa_tune_compare_rounds(fake_device(), &s, &o, &c), KSA_STATUS_SUCCESS);
    printf("identical, +-5%%: speedup %.3f band [%.3f, %.3f], built-in run-to-run [%.3f, %.3f]\n", c.rounds.ratio,
           c.rounds.ratio_low, c.rounds.ratio_high, c.rounds.builtin_low, c.rounds.builtin_high);
    assert_true(c.rounds.ratio_low <= 1.0 && c.rounds.ratio_high >= 1.0);
    assert_true(c.rounds.ratio_low < c.rounds.ratio_high);
    assert_true(c.rounds.builtin_low <= 1.0 && c.rounds.builtin_high >= 1.0);
    assert_int_equal(c.rounds.verdict, KSA_TUNE_SAME);
    assert_string_equal(ksa_tune_verdict_name(c.rounds.verdict), "same within noise");
    /* the interface before the rounds gives the medians of the round medians */
    double b = 0, t = 0;
    char cfg[KSA_TUNE_CONFIG_MAX];
    const char *src = NULL;
    fake_times.noise = 0;
    assert_int_equal(ksa_tune_compare(fake_device(), &s, &o, &b, &t, cfg, sizeof cfg, &src), KSA_STATUS_SUCCESS);
    assert_true(fabs(b - 8.0) < 1e-9 && fabs(t - 8.0) < 1e-9);
    assert_string_equal(cfg, "block=32,unroll=1");

    /* a deliberately slower tuned entry: block=32,unroll=2 takes 9 ms, +-2% per call */
    store_entry_for(&s, 2, 32, 2, path);
    fake_times.noise = 0.02;
    fake_times.noise_seed = 7;
    assert_int_equal(ksa_tune_compare_rounds(fake_device(), &s, &o, &c), KSA_STATUS_SUCCESS);
    assert_string_equal(c.config, "block=32,unroll=2");
    assert_int_equal(c.rounds.verdict, KSA_TUNE_SLOWER);
    assert_true(c.rounds.ratio_high < 1.0);
    assert_true(fabs(c.rounds.ratio - 8.0 / 9.0) < 0.03);
    assert_string_equal(ksa_tune_verdict_name(c.rounds.verdict), "slower");

    /* a faster one: block=16,unroll=1 at 2 ms */
    store_entry_for(&s, 2, 16, 1, path);
    assert_int_equal(ksa_tune_compare_rounds(fake_device(), &s, &o, &c), KSA_STATUS_SUCCESS);
    assert_int_equal(c.rounds.verdict, KSA_TUNE_FASTER);
    assert_true(c.rounds.ratio_low > 1.0);

    /* a "built-in" marker: both sides run the same code */
    store_entry_for(&s, 0, 0, 0, path);
    assert_int_equal(ksa_tune_compare_rounds(fake_device(), &s, &o, &c), KSA_STATUS_SUCCESS);
    assert_string_equal(c.source, "cache:exact:builtin");
    assert_int_equal(c.same_code, 1);
    assert_string_equal(c.config, "");

    /* bad input: a sentence naming the argument */
    o.confirm_rounds = 2;
    assert_int_equal(ksa_tune_compare_rounds(fake_device(), &s, &o, &c), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "confirm_rounds 2"));
    ksa_tune_result r;
    o.confirm_rounds = KSA_TUNE_MAX_ROUNDS + 1;
    assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &o, &r), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "confirm_rounds"));
    o.confirm_rounds = 0; /* 0 = the default, 5 */
    assert_int_equal(ksa_tune_compare_rounds(fake_device(), &s, &o, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "out"));
    unsetenv("KSA_TUNE_CACHE");
    setenv("KSA_TUNE_CACHE", "off", 1);
    ksa_autotune_reload();
    fake_timing_reset();
}

/* ksa_tune_compare_rounds on the fake backend posing as a queued (GPU-like) one */
static ksa_status compare_queued(const ksa_tune_shape *s, const ksa_tune_options *o, ksa_tune_comparison *c)
{
    fake_set_queued(1);
    ksa_status st = ksa_tune_compare_rounds(fake_device(), s, o, c);
    fake_set_queued(0);
    return st;
}

static void test_queued_calls_sampled_with_flush(void **state)
{
    /* (e) a queued backend (a GPU's): a 0.1 ms call and 0.1 ms of synchronisation latency.
     * block=16 is 5% faster per call. Timed one call per synchronisation the gain reads 2.5% (0.195
     * vs 0.2 ms), under the 3% bar; timed in samples of 5 calls, each after a 0.04 ms L2 flush whose
     * own sample is subtracted, it reads 5% (0.1 vs 0.095 ms) and is stored. On host memory
     * (reference, cpu) calls stay one per sample, without flushes. */
    ksa_tune_shape s = small_shape();
    ksa_tune_options o = quick_options();
    o.min_gain = 0.03;
    fake_timing_reset();
    fake_builtin_fastest = 0;
    fake_times.builtin_ms = 0.1;
    fake_times.block_ms[0] = 0.095;
    fake_times.block_ms[1] = 0.1;
    fake_times.unroll2_extra_ms = 0.05;
    fake_sync_ms = 0.1;
    fake_fill_ms = 0.04;
    ksa_tune_result r;

    assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &o, &r), KSA_STATUS_SUCCESS);
    printf("host memory: built-in %.4f ms, best %s %.4f ms, improved %d\n", r.builtin_ms, r.best_config, r.best_ms,
           r.improved);
    assert_true(fabs(r.builtin_ms - 0.2) < 1e-9);
    assert_int_equal(r.improved, 0);
    assert_int_equal(r.confirm.calls_per_sample, r.confirmed_run ? 1 : 0);

    fake_set_queued(1);
    int64_t calls_before = fake_calls;
    ksa_status st = ksa_tune_shape_run(fake_device(), &s, &o, &r);
    fake_set_queued(0);
    assert_int_equal(st, KSA_STATUS_SUCCESS);
    printf("queued: built-in %.4f ms, best %s %.4f ms, improved %d, %lld calls\n", r.builtin_ms, r.best_config, r.best_ms,
           r.improved, (long long)(fake_calls - calls_before));
    assert_true(fabs(r.builtin_ms - 0.1) < 1e-9); /* (5 x (0.04 + 0.1) + 0.1 - (5 x 0.04 + 0.1)) / 5 */
    assert_int_equal(r.improved, 1);
    assert_string_equal(r.best_config, "block=16,unroll=1");
    assert_true(fabs(r.confirm_best_ms - 0.095) < 1e-9 && fabs(r.confirm_builtin_ms - 0.1) < 1e-9);
    assert_int_equal(r.confirm.calls_per_sample, 5);
    /* the comparison times the same way: a stored block=16 reads faster, not within noise */
    char path[512];
    snprintf(path, sizeof path, "%s/queued.txt", tmpdir);
    remove(path);
    assert_int_equal(ksa_tune_cache_store(path, &r.entry, 1), KSA_STATUS_SUCCESS);
    setenv("KSA_TUNE_CACHE", path, 1);
    ksa_autotune_reload();
    ksa_tune_comparison c;
    assert_int_equal(compare_queued(&s, &o, &c), KSA_STATUS_SUCCESS);
    assert_true(fabs(c.builtin_ms - 0.1) < 1e-9);
    assert_int_equal(c.rounds.calls_per_sample, 5);
    assert_int_equal(c.rounds.verdict, KSA_TUNE_FASTER);
    /* one call per sample on request (the timing before 2026-12-02): the latency is back */
    o.sample_calls = 1;
    assert_int_equal(compare_queued(&s, &o, &c), KSA_STATUS_SUCCESS);
    assert_true(fabs(c.builtin_ms - 0.2) < 1e-9);
    assert_int_equal(c.rounds.calls_per_sample, 1);
    /* out of range: a sentence naming the option */
    o.sample_calls = 65;
    assert_int_equal(ksa_tune_compare_rounds(fake_device(), &s, &o, &c), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "sample_calls 65"));
    o.sample_calls = -1;
    assert_int_equal(ksa_tune_shape_run(fake_device(), &s, &o, &r), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "sample_calls"));
    unsetenv("KSA_TUNE_CACHE");
    setenv("KSA_TUNE_CACHE", "off", 1);
    ksa_autotune_reload();
    fake_sync_ms = 0;
    fake_fill_ms = 0;
    fake_timing_reset();
}

static int setup(void **state)
{
    if (atest_make_tmpdir(tmpdir, sizeof tmpdir, "ksa-tuner-test")) return -1;
    fake_simulate_time(1);
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
        cmocka_unit_test(test_rounds_band_and_rule),
        cmocka_unit_test(test_small_gain_in_noise_not_stored),
        cmocka_unit_test(test_clear_gain_stored),
        cmocka_unit_test(test_faster_in_search_slower_in_confirmation),
        cmocka_unit_test(test_compare_band_and_verdict),
        cmocka_unit_test(test_queued_calls_sampled_with_flush),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
