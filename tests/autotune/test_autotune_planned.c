/* test_autotune_planned.c: a tuned configuration never breaks a planned call. A writer process
 * keeps storing tuning winners for the reader's shapes into the cache, alternating a configuration
 * that needs much more workspace than the built-in one with one that needs less; the reader (this
 * process, cpu backend) sized its workspaces once (ksa_attention_workspace_size, ksa_schedule_plan)
 * and keeps calling with them while its cache reloads underneath. Every call must succeed and agree
 * with the reference, and the cache must really have offered the larger configuration meanwhile. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "autotune/ksa_autotune.h"
#include "dispatch/ksa_internal.h"
#include "fake_backend.h"
#include "test_util.h"

enum { LAYERS = 4 };
static const ksa_mode class_modes[3] = {KSA_MODE_DENSE, KSA_MODE_ANCHOR, KSA_MODE_REUSE};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Workspace bytes of `prm` on `dev` with the configuration string `config`. */
static size_t workspace_with(ksa_device dev, const ksa_attention_params *prm, const ksa_attention_tensors *t,
                             const char *config)
{
    size_t bytes = 0;
    assert_int_equal(ksa_set_config_override(config), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_attention_workspace_size(dev, prm, t, &bytes), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
    return bytes;
}

/* The configurations of the backend's space for `prm` needing the least and the most workspace
 * (as cache entries for this device and the call's shape class). */
static void extreme_entries(ksa_device dev, const ksa_attention_params *prm, const ksa_attention_tensors *t,
                            ksa_tune_entry *small, ksa_tune_entry *big, size_t *small_bytes, size_t *big_bytes)
{
    ksa_problem p;
    ksa_problem_storage st;
    memset(&st, 0, sizeof st);
    assert_int_equal(ksa_resolve_problem(dev, NULL, prm, t, &p, &st), KSA_STATUS_SUCCESS);
    ksa_tunable_space space;
    assert_int_equal(dev->backend->tunables(dev->backend, dev->index, &p, &space), KSA_STATUS_SUCCESS);
    assert_true(space.num_params > 0);
    ksa_tune_entry e;
    memset(&e, 0, sizeof e);
    ksa_tune_signature_of(&dev->info, &e.sig);
    ksa_tune_class_of(&p, dev->backend->name, &e.cls);
    e.num_params = space.num_params;
    e.tuned_us = 1;
    e.builtin_us = 2;
    e.timestamp = 1790000000;
    int32_t idx[KSA_MAX_TUNABLES] = {0};
    *small_bytes = (size_t)-1;
    *big_bytes = 0;
    for (;;) { /* every combination, odometer order */
        char config[KSA_TUNE_CONFIG_MAX] = "";
        size_t len = 0;
        for (int i = 0; i < space.num_params; i++) {
            snprintf(e.names[i], sizeof e.names[i], "%s", space.params[i].name);
            e.values[i] = space.params[i].values[idx[i]];
            len += (size_t)snprintf(config + len, sizeof config - len, "%s%s=%d", i ? "," : "", space.params[i].name,
                                    e.values[i]);
        }
        size_t bytes = workspace_with(dev, prm, t, config);
        if (bytes < *small_bytes) {
            *small_bytes = bytes;
            *small = e;
        }
        if (bytes > *big_bytes) {
            *big_bytes = bytes;
            *big = e;
        }
        int i = 0;
        while (i < space.num_params && ++idx[i] == space.params[i].num_values) idx[i++] = 0;
        if (i == space.num_params) break;
    }
    ksa_problem_storage_release(&st);
}

/* The writer: store the big entries, then the small ones, over and over, until the reader creates
 * `stop_path` (exit 0); a reader that never does makes it give up after `seconds` (exit 3). */
static void writer(const char *path, const char *stop_path, const ksa_tune_entry *big, const ksa_tune_entry *small, int n,
                   double seconds)
{
    double end = now_s() + seconds;
    int round = 0;
    while (access(stop_path, F_OK) != 0) {
        if (now_s() >= end) _exit(3);
        const ksa_tune_entry *e = round++ % 2 ? small : big;
        if (ksa_tune_cache_store(path, e, n) != KSA_STATUS_SUCCESS) _exit(2);
        struct timespec ts = {0, 30 * 1000000L};
        nanosleep(&ts, NULL);
    }
    _exit(0);
}

static void tuned_config_never_breaks_a_planned_call(void **state)
{
    (void)state;
    ksa_device dev = ktest_open_device("cpu");
    assert_non_null(dev);
    char dir[256], path[512];
    assert_int_equal(atest_make_tmpdir(dir, sizeof dir, "ksa-planned"), 0);
    snprintf(path, sizeof path, "%s/tune-cache.txt", dir);
    setenv("KSA_TUNE_CACHE", path, 1);
    ksa_autotune_set_shipped_text(""); /* only the writer's entries apply */

    /* one prefill layer's tensors; the direct call is DENSE, the schedule runs every mode */
    ktest_config c = ktest_config_default();
    c.batch = 1;
    c.hq = 4;
    c.hkv = 2;
    c.head_dim = 64;
    c.lq = c.lk = 200;
    c.with_lse = 1;
    ktest_problem layer;
    assert_int_equal(ktest_problem_create(dev, &c, &layer), KSA_STATUS_SUCCESS);
    ksa_topk_params topk = ksa_topk_default();
    topk.min_k = 16;
    topk.round_multiple = 8;
    topk.tile_size = 16;

    /* the entries the writer stores: for the DENSE, ANCHOR and REUSE classes of this shape */
    ksa_tune_entry big[3], small[3];
    size_t small_bytes[3], big_bytes[3];
    ksa_schedule sched;
    assert_int_equal(ksa_schedule_create(dev, LAYERS, c.hkv, &topk, &sched), KSA_STATUS_SUCCESS);
    int32_t anchors[2] = {0, 2}, maps[LAYERS * 2] = {0, 1, 1, 0, 0, 1, 0, 0};
    assert_int_equal(ksa_schedule_set_kascade(sched, anchors, 2, maps), KSA_STATUS_SUCCESS);
    for (int m = 0; m < 3; m++) {
        ksa_attention_params prm = ksa_attention_params_default(class_modes[m], KSA_PHASE_PREFILL);
        prm.topk = topk;
        ksa_attention_tensors t = layer.tensors;
        ksa_buffer bi = NULL, bc = NULL;
        if (class_modes[m] != KSA_MODE_DENSE) {
            /* index tensors of the right shape (their contents do not matter for sizes) */
            int64_t n_tiles, k_slots, heads = (int64_t)c.batch * c.hkv;
            assert_int_equal(ksa_attention_index_shape(dev, &prm, &layer.tensors, &n_tiles, &k_slots), KSA_STATUS_SUCCESS);
            assert_int_equal(ksa_buffer_alloc(dev, (size_t)(heads * n_tiles * k_slots) * 4, &bi), KSA_STATUS_SUCCESS);
            assert_int_equal(ksa_buffer_alloc(dev, (size_t)(heads * n_tiles) * 4, &bc), KSA_STATUS_SUCCESS);
            memset(ksa_buffer_data(bi), 0xff, (size_t)(heads * n_tiles * k_slots) * 4);
            memset(ksa_buffer_data(bc), 0, (size_t)(heads * n_tiles) * 4);
            int64_t is[4] = {c.batch, c.hkv, n_tiles, k_slots}, cs[3] = {c.batch, c.hkv, n_tiles};
            t.indices = ksa_tensor_from_buffer(bi, 0, KSA_DTYPE_I32, 4, is);
            t.counts = ksa_tensor_from_buffer(bc, 0, KSA_DTYPE_I32, 3, cs);
        }
        extreme_entries(dev, &prm, &t, &small[m], &big[m], &small_bytes[m], &big_bytes[m]);
        if (bi) ksa_buffer_free(bi);
        if (bc) ksa_buffer_free(bc);
        printf("class %d: workspace %zu .. %zu bytes over the space\n", m, small_bytes[m], big_bytes[m]);
        assert_true(big_bytes[m] > small_bytes[m]);
    }

    /* plan with the small winners in the cache (what a running process may have seen) */
    assert_int_equal(ksa_tune_cache_store(path, small, 3), KSA_STATUS_SUCCESS);
    ksa_autotune_reload();
    size_t direct_bytes = 0, plan_bytes = 0;
    assert_int_equal(ksa_attention_workspace_size(dev, &layer.params, &layer.tensors, &direct_bytes), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_plan(sched, KSA_PHASE_PREFILL, &layer.tensors, &plan_bytes), KSA_STATUS_SUCCESS);
    /* the big configuration could not run in either planned workspace */
    assert_true(big_bytes[0] > direct_bytes);
    printf("planned: direct %zu bytes, schedule %zu bytes\n", direct_bytes, plan_bytes);
    void *direct_ws = malloc(direct_bytes), *sched_ws = malloc(plan_bytes);
    assert_non_null(direct_ws);
    assert_non_null(sched_ws);
    ksa_workspace dws = {.data = direct_ws, .size = direct_bytes}, sws = {.data = sched_ws, .size = plan_bytes};

    pid_t pid = fork();
    assert_true(pid >= 0);
    char stop_path[600];
    snprintf(stop_path, sizeof stop_path, "%s/stop", dir);
    if (pid == 0) writer(path, stop_path, big, small, 3, 60.0);

    int calls = 0, failed = 0, checked = 0, layer_checks = 0, saw_big = 0;
    /* 2.5 s of calls, and longer (up to 30 s) until the larger configuration has been offered: under
     * ThreadSanitizer the first round's reference checks took most of 2.5 s, which left two rounds,
     * and both could reload while the small entries were in the cache */
    const double start = now_s(), end = start + 2.5, give_up = start + 30.0;
    while (now_s() < end || (!saw_big && now_s() < give_up)) {
        /* reload every round, besides the lookup's own once-a-second check: the writer swaps the
         * entries every 30 ms, and reloading every 8 rounds (40 calls) could fall into step with it
         * and never see the larger configuration */
        ksa_autotune_reload();
        /* every 16th call (and that round's layers) is compared with the reference */
        int check_round = calls % 16 == 0;
        ksa_status st = ksa_attention(dev, NULL, &layer.params, &layer.tensors, &dws);
        calls++;
        if (st) {
            failed++;
            if (failed == 1) printf("direct call failed: %s\n", ksa_last_error());
        } else if (check_round) {
            char report[512] = "";
            st = ktest_problem_check(&layer, report, sizeof report);
            if (st) printf("direct call vs reference: %s\n", report);
            assert_int_equal(st, KSA_STATUS_SUCCESS);
            checked++;
        }
        /* KSA_CHECK makes each layer's ksa_attention compare itself with the reference (central
         * per-dtype tolerances): a mismatch fails the call */
        if (check_round) setenv("KSA_CHECK", "1", 1);
        for (int l = 0; l < LAYERS; l++) {
            st = ksa_schedule_run_layer(sched, NULL, l, &layer.tensors, &sws);
            calls++;
            if (st) {
                failed++;
                if (failed == 1) printf("layer %d failed: %s\n", l, ksa_last_error());
            }
            layer_checks += check_round;
        }
        if (check_round) unsetenv("KSA_CHECK");
        /* what a new plan would ask for now: the big winner was visible at times */
        size_t now_bytes = 0;
        assert_int_equal(ksa_attention_workspace_size(dev, &layer.params, &layer.tensors, &now_bytes), KSA_STATUS_SUCCESS);
        if (now_bytes >= big_bytes[0]) saw_big++;
    }
    FILE *stop = fopen(stop_path, "w");
    assert_non_null(stop);
    fclose(stop);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("%d calls with planned workspaces while the cache changed: %d failed; %d direct calls and %d schedule layers "
           "checked against the reference; the larger configuration was offered %d times\n",
           calls, failed, checked, layer_checks, saw_big);
    assert_int_equal(failed, 0);
    assert_true(checked > 0);
    assert_true(layer_checks > 0);
    assert_true(saw_big > 0);

    free(direct_ws);
    free(sched_ws);
    ksa_schedule_destroy(sched);
    ktest_problem_destroy(&layer);
    unsetenv("KSA_TUNE_CACHE");
    ksa_autotune_set_shipped_text(NULL);
    atest_remove_tmpdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tuned_config_never_breaks_a_planned_call),
    };
    return ktest_run_group(tests, NULL, NULL);
}
