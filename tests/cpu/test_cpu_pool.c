/* test_cpu_pool.c: the CPU pool's job hand-off (backends/cpu/cpu_pool.c): the caller publishes a job
 * as one atomic word and joins on an atomic count, each side spinning for KSA_CPU_SPIN_US before it
 * sleeps. Thousands of back-to-back jobs with random thread and task counts, with pauses longer than
 * the spin between some of them, under no spin (the default: every wait sleeps), 100 us and 5 ms:
 * every task runs exactly once, what the tasks wrote (plain stores) is what the caller reads after
 * the job, and a worker no job needed takes part in the next one that does. A job whose last task
 * outlasts the spin makes the caller sleep in its join and be woken. Labelled threads: CI runs it
 * under ThreadSanitizer, which sees the hand-off's ordering. Nothing here is timed. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "backends/cpu/cpu_internal.h"
#include "test_util.h"

#define POOL_THREADS 4 /* KSA_NUM_THREADS for this program */
#define MAX_TASKS 96

typedef struct handoff_job {
    atomic_int runs[MAX_TASKS];
    int64_t written[MAX_TASKS]; /* plain stores by the tasks, read by the caller after the job */
    int64_t stamp;              /* the job's number, written by the caller before the job */
    atomic_int bad_thread;
    int32_t nthreads;
    int64_t slow_task; /* this task sleeps slow_ns first (-1: none) */
    long slow_ns;
} handoff_job;

static void sleep_ns(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

static void handoff_task(void *ctx, int64_t task, int32_t thread)
{
    handoff_job *job = ctx;
    if (thread < 0 || thread >= job->nthreads) atomic_store(&job->bad_thread, 1);
    if (task == job->slow_task) sleep_ns(job->slow_ns);
    atomic_fetch_add(&job->runs[task], 1);
    job->written[task] = job->stamp * 1000 + task;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* `jobs` jobs back to back under a spin of spin_us; every pause_every-th job follows a pause of
 * pause_ns (longer than the spin: the workers and the caller's join go to sleep). */
static void run_handoff_jobs(int64_t spin_us, int jobs, int pause_every, long pause_ns, uint64_t seed)
{
    static handoff_job job;
    const int32_t size = ksa_cpu_pool_size();
    ksa_cpu_pool_set_spin_us(spin_us);
    uint64_t rng = seed;
    for (int j = 0; j < jobs; j++) {
        const int32_t nt = 2 + (int32_t)(rng_next(&rng) % (uint64_t)(size - 1)); /* 2 .. size */
        const int64_t ntasks = 1 + (int64_t)(rng_next(&rng) % MAX_TASKS);
        for (int64_t t = 0; t < ntasks; t++) {
            atomic_store(&job.runs[t], 0);
            job.written[t] = -1;
        }
        job.stamp = j + 1;
        job.nthreads = nt;
        job.slow_task = -1;
        atomic_store(&job.bad_thread, 0);
        if (pause_every && j % pause_every == 0) sleep_ns(pause_ns);
        ksa_cpu_pool_run(nt, ntasks, handoff_task, &job);
        for (int64_t t = 0; t < ntasks; t++) {
            if (atomic_load(&job.runs[t]) != 1)
                fail_msg("spin %lld us, job %d (%d threads, %lld tasks): task %lld ran %d times", (long long)spin_us, j,
                         nt, (long long)ntasks, (long long)t, atomic_load(&job.runs[t]));
            if (job.written[t] != job.stamp * 1000 + t)
                fail_msg("spin %lld us, job %d: task %lld's store not seen after the job (%lld)", (long long)spin_us, j,
                         (long long)t, (long long)job.written[t]);
        }
        assert_int_equal(atomic_load(&job.bad_thread), 0);
    }
    ksa_cpu_pool_set_spin_us(-1);
}

/* false (and the case skipped) when the pool has no worker besides the caller */
static int pool_has_workers(void)
{
    if (ksa_cpu_pool_size() >= 2) return 1;
    ktest_skip("the pool has %d thread (KSA_NUM_THREADS?): no hand-off to test", ksa_cpu_pool_size());
    return 0;
}

static void test_handoff_never_spinning(void **state)
{
    (void)state;
    if (!pool_has_workers()) return;
    run_handoff_jobs(0, 1500, 100, 200000, 0x9e3779b97f4a7c15ull);
}

static void test_handoff_short_spin(void **state)
{
    (void)state;
    if (!pool_has_workers()) return;
    /* a 100 us spin and pauses of 1 ms: both sleeping paths, and spinning between the rest */
    run_handoff_jobs(100, 1500, 25, 1000000, 0x2545f4914f6cdd1dull);
}

static void test_handoff_long_spin(void **state)
{
    (void)state;
    if (!pool_has_workers()) return;
    run_handoff_jobs(5000, 300, 0, 0, 0x5851f42d4c957f2dull);
}

/* The caller runs its share and then waits on a worker whose task outlasts the spin several times
 * over: the join must go to sleep and be woken by that worker, with its store visible. */
static void test_join_sleeps_and_wakes(void **state)
{
    (void)state;
    if (!pool_has_workers()) return;
    static handoff_job job;
    ksa_cpu_pool_set_spin_us(50);
    for (int rep = 0; rep < 20; rep++) {
        const int64_t ntasks = 2 + rep % 6;
        for (int64_t t = 0; t < ntasks; t++) {
            atomic_store(&job.runs[t], 0);
            job.written[t] = -1;
        }
        job.stamp = 100 + rep;
        job.nthreads = 2;
        job.slow_task = ntasks - 1 - rep % 2;
        job.slow_ns = 2000000; /* 2 ms, 40 spins' worth */
        atomic_store(&job.bad_thread, 0);
        ksa_cpu_pool_run(2, ntasks, handoff_task, &job);
        for (int64_t t = 0; t < ntasks; t++) {
            assert_int_equal(atomic_load(&job.runs[t]), 1);
            assert_true(job.written[t] == job.stamp * 1000 + t);
        }
        assert_int_equal(atomic_load(&job.bad_thread), 0);
    }
    ksa_cpu_pool_set_spin_us(-1);
}

/* the description that ksa-info prints names the spin */
static void test_description_names_spin(void **state)
{
    (void)state;
    const char *d = ksa_cpu_pool_description();
    if (!strstr(d, "spin 0 us before sleeping")) fail_msg("pool description without the default spin (0): %s", d);
}

static int restore_spin(void **state)
{
    (void)state;
    ksa_cpu_pool_set_spin_us(-1);
    return 0;
}

int main(void)
{
    char n[16];
    snprintf(n, sizeof n, "%d", POOL_THREADS);
    setenv("KSA_NUM_THREADS", n, 0);
    unsetenv("KSA_CPU_SPIN_US");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_description_names_spin),
        cmocka_unit_test_teardown(test_handoff_never_spinning, restore_spin),
        cmocka_unit_test_teardown(test_handoff_short_spin, restore_spin),
        cmocka_unit_test_teardown(test_handoff_long_spin, restore_spin),
        cmocka_unit_test_teardown(test_join_sleeps_and_wakes, restore_spin),
    };
    return ktest_run_group(tests, NULL, NULL);
}
