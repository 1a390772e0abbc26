/* test_threads.c: ksa called from several application threads at once, on the cpu backend (its own
 * pool under each call) and the reference. Each thread builds its own problems, sizes workspaces,
 * runs DENSE / ANCHOR / REUSE calls in prefill and decode (the configuration lookup, validation
 * storage and error sentences are per thread) and checks every result against the reference; the
 * threads then exit, which must free their per-thread storage. Meant for ThreadSanitizer and
 * LeakSanitizer runs (.ci/run), and passes without them too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"

enum { THREADS = 3, ROUNDS = 2 };

typedef struct worker {
    ksa_device dev;
    int id;
    int failures;
    int runs;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int round = 0; round < ROUNDS; round++)
        for (int m = 0; m < 3; m++)
            for (int ph = 0; ph < 2; ph++) {
                ktest_config c = ktest_config_default();
                c.mode = (ksa_mode)m;
                c.phase = (ksa_phase)ph;
                c.batch = 2;
                c.hq = 4;
                c.hkv = 2;
                c.head_dim = 32;
                c.lq = 40 + 8 * w->id;
                c.lk = 90 + 8 * w->id;
                c.dtype = w->id % 2 ? KSA_DTYPE_BF16 : KSA_DTYPE_F32;
                c.with_lse = 1;
                c.topk_set = 1;
                c.topk = ksa_topk_default();
                c.topk.min_k = 8;
                c.topk.round_multiple = 8;
                c.topk.tile_size = 16;
                c.use_head_map = m == KSA_MODE_REUSE;
                c.seed = (uint64_t)(w->id * 1000 + round * 10 + m * 2 + ph + 1);
                if (ktest_run_and_check(w->dev, &c) != KSA_STATUS_SUCCESS) w->failures++;
                w->runs++;
            }
    /* a bad call on this thread names its own argument, whatever the other threads do */
    ksa_attention_params prm = ksa_attention_params_default(KSA_MODE_DENSE, KSA_PHASE_PREFILL);
    prm.scale = -1.0f;
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    if (ksa_attention(w->dev, NULL, &prm, &t, NULL) != KSA_STATUS_INVALID_ARGUMENT || !strstr(ksa_last_error(), "params.scale"))
        w->failures++;
    return NULL;
}

static void run_threads(const char *device)
{
    ksa_device dev = ktest_open_device(device);
    assert_non_null(dev);
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){dev, i, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    int failures = 0, runs = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        failures += w[i].failures;
        runs += w[i].runs;
    }
    printf("%s: %d threads, %d calls checked against the reference, %d failed\n", device, THREADS, runs, failures);
    assert_int_equal(runs, THREADS * ROUNDS * 6);
    assert_int_equal(failures, 0);
}

static void cpu_from_several_threads(void **state)
{
    (void)state;
    run_threads("cpu");
}

static void reference_from_several_threads(void **state)
{
    (void)state;
    run_threads("reference");
}

int main(void)
{
    if (!ktest_context()) return 1; /* created once, before any thread */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cpu_from_several_threads),
        cmocka_unit_test(reference_from_several_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
