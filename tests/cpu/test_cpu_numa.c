/* test_cpu_numa.c: the CPU backend's NUMA placement (backends/cpu/cpu_numa.h) on synthetic hwloc
 * topologies, since the machines tests run on have one node: a two-node topology splits the workers
 * (8, 5, 3 of them) and the KV heads (8, 3, 1) as documented, a one-node topology gives the
 * single-node plan, per-node task lists cover every task of a B > 1 job once; then the pool's
 * per-node queues with stealing on the real pool under a fake two-node plan (every task exactly
 * once for several thread counts, a job that only finishes when a worker steals from another
 * node's queue, one that only finishes when workers start on their own node's queue) and attention
 * calls through the placed driver (same bits as one thread, result right). The synthetic-topology
 * cases skip when ksa is built without hwloc. */
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
#include "backends/cpu/cpu_numa.h"
#include "ksa/ksa.h"
#include "test_util.h"

#define POOL_THREADS 4 /* KSA_NUM_THREADS for this program: the real pool on any CI machine */

static cpu_numa_plan plan; /* large: static, one case at a time */
static cpu_numa_split split;

#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
/* plan of `workers` workers on a synthetic hwloc topology; fails the case when hwloc refuses it */
static void plan_on_synthetic(const char *description, int32_t workers)
{
    hwloc_topology_t topo;
    assert_int_equal(hwloc_topology_init(&topo), 0);
    assert_int_equal(hwloc_topology_set_synthetic(topo, description), 0);
    assert_int_equal(hwloc_topology_load(topo), 0);
    assert_int_equal(ksa_cpu_numa_plan_from_hwloc(topo, workers, &plan), 0);
    hwloc_topology_destroy(topo);
}
#define NEED_HWLOC()
#else
#define NEED_HWLOC()                                                                                                   \
    do {                                                                                                               \
        ktest_skip("ksa built without hwloc (KSA_HAVE_HWLOC 0): no synthetic topologies");                           \
        return;                                                                                                        \
    } while (0)
#endif

/* every worker on its node's list exactly once, lists ascending, pinned to a core of its node */
static void check_plan_consistent(void)
{
    int32_t listed = 0;
    for (int32_t n = 0; n < plan.nodes.count; n++) {
        for (int32_t k = 0; k < plan.node_worker_count[n]; k++) {
            int32_t w = plan.node_workers[plan.node_worker_begin[n] + k];
            assert_int_equal(plan.worker_node[w], n);
            if (k > 0) assert_true(w > plan.node_workers[plan.node_worker_begin[n] + k - 1]);
            int on_node = 0;
            for (int32_t c = 0; c < plan.nodes.core_count[n]; c++)
                on_node |= plan.nodes.core_ids[plan.nodes.core_begin[n] + c] == plan.worker_core[w];
            assert_true(on_node);
        }
        listed += plan.node_worker_count[n];
    }
    assert_int_equal(listed, plan.workers);
}

static void check_heads(int32_t threads, int32_t heads, int32_t count0, int32_t count1)
{
    ksa_cpu_numa_split_heads(&plan, threads, heads, &split);
    assert_int_equal(split.nodes, 2);
    assert_int_equal(split.head_begin[0], 0);
    assert_int_equal(split.head_count[0], count0);
    assert_int_equal(split.head_begin[1], count0);
    assert_int_equal(split.head_count[1], count1);
    for (int32_t g = 0; g < heads; g++) assert_int_equal(ksa_cpu_numa_home_of_head(&split, g), g < count0 ? 0 : 1);
}

/* "pack:2 numa:1 core:4 pu:2": two packages, a NUMA node each, cores 0-3 on node 0 and 4-7 on node 1 */
static void test_two_nodes_eight_workers(void **state)
{
    NEED_HWLOC();
#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
    plan_on_synthetic("pack:2 numa:1 core:4 pu:2", 8);
    assert_int_equal(plan.nodes.count, 2);
    assert_int_equal(plan.nodes.core_count[0], 4);
    assert_int_equal(plan.nodes.core_count[1], 4);
    assert_int_equal(plan.nodes.os_index[0], 0);
    assert_int_equal(plan.nodes.os_index[1], 1);
    for (int32_t c = 0; c < 4; c++) {
        assert_int_equal(plan.nodes.core_ids[plan.nodes.core_begin[0] + c], c);
        assert_int_equal(plan.nodes.core_ids[plan.nodes.core_begin[1] + c], 4 + c);
    }
    /* interleaved: even workers on node 0 (cores 0, 1, 2, 3), odd on node 1 (cores 4, 5, 6, 7) */
    static const int32_t node[8] = {0, 1, 0, 1, 0, 1, 0, 1}, core[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    for (int32_t w = 0; w < 8; w++) {
        assert_int_equal(plan.worker_node[w], node[w]);
        assert_int_equal(plan.worker_core[w], core[w]);
    }
    assert_int_equal(plan.node_worker_count[0], 4);
    assert_int_equal(plan.node_worker_count[1], 4);
    check_plan_consistent();
    check_heads(8, 8, 4, 4);
    check_heads(8, 3, 2, 1);  /* 1.5 heads per node: the half goes to node 0 */
    check_heads(8, 1, 1, 0);  /* one head: node 0; node 1's workers only steal */
    check_heads(8, 16, 8, 8);
    check_heads(1, 8, 8, 0);  /* a one-thread call: only worker 0 (node 0) is active */
    check_heads(2, 8, 4, 4);
    ksa_cpu_numa_split_heads(&plan, 8, 8, &split);
    assert_int_equal(split.active_workers[0], 4);
    assert_int_equal(split.active_workers[1], 4);
#endif
}

static void test_two_nodes_odd_workers(void **state)
{
    NEED_HWLOC();
#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
    plan_on_synthetic("pack:2 numa:1 core:4 pu:2", 5);
    assert_int_equal(plan.node_worker_count[0], 3);
    assert_int_equal(plan.node_worker_count[1], 2);
    assert_int_equal(plan.worker_node[4], 0);
    assert_int_equal(plan.worker_core[4], 2);
    check_plan_consistent();
    check_heads(5, 8, 5, 3); /* 8 * 3/5 = 4.8 -> 5 */
    check_heads(5, 3, 2, 1); /* 1.8 -> 2 */
    check_heads(5, 1, 1, 0);
    check_heads(4, 8, 4, 4); /* a 4-thread call on the 5-worker pool: workers 0-3, two per node */

    plan_on_synthetic("pack:2 numa:1 core:4 pu:2", 3);
    assert_int_equal(plan.node_worker_count[0], 2);
    assert_int_equal(plan.node_worker_count[1], 1);
    check_plan_consistent();
    check_heads(3, 8, 5, 3); /* 5.33 -> 5 */
    check_heads(3, 3, 2, 1);
    check_heads(3, 1, 1, 0); /* 0.67 -> 1 */

    /* more workers than cores (KSA_NUM_THREADS above the core count): wrap around each node's cores */
    plan_on_synthetic("pack:2 numa:1 core:4 pu:2", 10);
    assert_int_equal(plan.node_worker_count[0], 5);
    assert_int_equal(plan.node_worker_count[1], 5);
    assert_int_equal(plan.worker_core[8], 0); /* node 0's fifth worker: back on core 0 */
    assert_int_equal(plan.worker_core[9], 4);
    check_plan_consistent();
#endif
}

/* nodes of different sizes (no synthetic topology needed): workers follow the cores */
static void test_unequal_nodes(void **state)
{
    static cpu_numa_nodes nodes;
    memset(&nodes, 0, sizeof nodes);
    nodes.count = 2;
    nodes.core_begin[0] = 0;
    nodes.core_count[0] = 4;
    nodes.core_begin[1] = 4;
    nodes.core_count[1] = 2;
    for (int32_t c = 0; c < 6; c++) nodes.core_ids[c] = c;
    assert_int_equal(ksa_cpu_numa_plan_build(&nodes, 6, &plan), 0);
    assert_int_equal(plan.node_worker_count[0], 4);
    assert_int_equal(plan.node_worker_count[1], 2);
    check_plan_consistent();
    check_heads(6, 6, 4, 2);
    check_heads(6, 8, 5, 3); /* 5.33 -> 5 */
    /* unusable input: a node without cores -> a one-node plan and -1 */
    nodes.core_count[1] = 0;
    assert_int_equal(ksa_cpu_numa_plan_build(&nodes, 6, &plan), -1);
    assert_int_equal(plan.nodes.count, 1);
    assert_int_equal(plan.workers, 6);
    for (int32_t w = 0; w < 6; w++) assert_int_equal(plan.worker_node[w], 0);
}

/* one NUMA node: every worker on node 0, pinned to core w % cores, every head home on node 0 */
static void test_one_node(void **state)
{
    NEED_HWLOC();
#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
    static const char *const topologies[] = {"pack:1 core:4 pu:2", "numa:1 core:6 pu:1"};
    for (size_t i = 0; i < sizeof topologies / sizeof topologies[0]; i++) {
        int32_t cores = i == 0 ? 4 : 6;
        plan_on_synthetic(topologies[i], 9);
        assert_int_equal(plan.nodes.count, 1);
        assert_int_equal(plan.nodes.core_count[0], cores);
        assert_int_equal(plan.node_worker_count[0], 9);
        for (int32_t w = 0; w < 9; w++) {
            assert_int_equal(plan.worker_node[w], 0);
            assert_int_equal(plan.worker_core[w], w % cores);
        }
        check_plan_consistent();
        ksa_cpu_numa_split_heads(&plan, 9, 8, &split);
        assert_int_equal(split.nodes, 1);
        assert_int_equal(split.head_begin[0], 0);
        assert_int_equal(split.head_count[0], 8);
    }
#endif
}

/* B > 1: the per-node task lists of a job cover each task once, with the node's heads, ascending */
static void test_node_task_lists(void **state)
{
    static cpu_numa_nodes nodes;
    memset(&nodes, 0, sizeof nodes);
    nodes.count = 2;
    nodes.core_count[0] = nodes.core_count[1] = 4;
    nodes.core_begin[1] = 4;
    for (int32_t c = 0; c < 8; c++) nodes.core_ids[c] = c;
    assert_int_equal(ksa_cpu_numa_plan_build(&nodes, 8, &plan), 0);
    static const struct {
        int32_t batch, heads, per_head, count0;
    } jobs[] = {{2, 8, 3, 4}, {3, 3, 1, 2}, {2, 1, 5, 1}, {4, 8, 1, 4}};
    for (size_t j = 0; j < sizeof jobs / sizeof jobs[0]; j++) {
        int32_t B = jobs[j].batch, H = jobs[j].heads, per_head = jobs[j].per_head;
        int64_t ntasks = (int64_t)B * H * per_head * 2; /* 2 outer indices per (b): like query blocks */
        ksa_cpu_numa_split_heads(&plan, 8, H, &split);
        assert_int_equal(split.head_count[0], jobs[j].count0);
        int32_t seen[512] = {0};
        assert_true(ntasks <= 512);
        int64_t total = 0;
        for (int32_t n = 0; n < 2; n++) {
            int64_t count = ksa_cpu_numa_node_task_count(&split, n, ntasks, per_head);
            assert_int_equal(count, ntasks / H * split.head_count[n]);
            int64_t prev = -1;
            for (int64_t i = 0; i < count; i++) {
                int64_t t = ksa_cpu_numa_node_task(&split, n, per_head, i);
                assert_true(t > prev && t < ntasks);
                prev = t;
                int32_t g = (int32_t)((t / per_head) % H);
                assert_int_equal(ksa_cpu_numa_home_of_head(&split, g), n);
                seen[t]++;
            }
            total += count;
        }
        assert_int_equal(total, ntasks);
        for (int64_t t = 0; t < ntasks; t++) assert_int_equal(seen[t], 1);
    }
}

/* ---- the real pool with a fake two-node plan */
#define MAX_TASKS 4096
typedef struct count_job {
    atomic_int runs[MAX_TASKS];
    atomic_int bad_thread;
    int32_t nthreads;
} count_job;

static void count_task(void *ctx, int64_t task, int32_t thread)
{
    count_job *job = ctx;
    if (thread < 0 || thread >= job->nthreads) atomic_store(&job->bad_thread, 1);
    atomic_fetch_add(&job->runs[task], 1);
}

static void fake_two_node_plan(void)
{
    static cpu_numa_nodes nodes;
    memset(&nodes, 0, sizeof nodes);
    nodes.count = 2;
    nodes.core_count[0] = nodes.core_count[1] = POOL_THREADS;
    nodes.core_begin[1] = POOL_THREADS;
    for (int32_t c = 0; c < 2 * POOL_THREADS; c++) nodes.core_ids[c] = c;
    assert_int_equal(ksa_cpu_numa_plan_build(&nodes, POOL_THREADS, &plan), 0);
    assert_int_equal(plan.node_worker_count[0], POOL_THREADS / 2);
    assert_int_equal(plan.node_worker_count[1], POOL_THREADS / 2);
}

static void test_pool_every_task_once(void **state)
{
    int32_t size = ksa_cpu_pool_size();
    if (size < 2) {
        ktest_skip("the pool has %d thread (KSA_NUM_THREADS?): no second node's worker to run", size);
        return;
    }
    fake_two_node_plan();
    ksa_cpu_pool_use_plan(&plan);
    static count_job job;
    static const struct {
        int32_t batch, heads, per_head, outer;
    } shapes[] = {{1, 8, 1, 16}, {2, 8, 7, 3}, {3, 1, 4, 5}, {2, 3, 1, 40}, {1, 2, 1, 1}, {4, 8, 16, 2}};
    for (int32_t nt = 1; nt <= size; nt++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t ntasks = (int64_t)shapes[s].outer * shapes[s].batch * shapes[s].heads * shapes[s].per_head;
            assert_true(ntasks <= MAX_TASKS);
            for (int rep = 0; rep < 5; rep++) {
                for (int64_t t = 0; t < ntasks; t++) atomic_store(&job.runs[t], 0);
                atomic_store(&job.bad_thread, 0);
                job.nthreads = nt;
                ksa_cpu_pool_run_placed(nt, ntasks, shapes[s].heads, shapes[s].per_head, count_task, &job);
                for (int64_t t = 0; t < ntasks; t++)
                    if (atomic_load(&job.runs[t]) != 1)
                        fail_msg("threads %d, shape %zu: task %lld ran %d times", nt, s, (long long)t,
                                 atomic_load(&job.runs[t]));
                assert_int_equal(atomic_load(&job.bad_thread), 0);
            }
        }
        /* a task count that is not a whole number of head runs: the shared counter, still once each */
        int64_t odd = 37;
        for (int64_t t = 0; t < odd; t++) atomic_store(&job.runs[t], 0);
        job.nthreads = nt;
        ksa_cpu_pool_run_placed(nt, odd, 8, 1, count_task, &job);
        for (int64_t t = 0; t < odd; t++) assert_int_equal(atomic_load(&job.runs[t]), 1);
    }
    ksa_cpu_pool_use_plan(NULL);
}

/* Two threads, worker 0 on node 0 and worker 1 on node 1; heads 0 and 1, two tasks each: tasks 0, 1
 * on node 0's queue, 2, 3 on node 1's. Stealing: task 2 waits for task 3. Whoever takes task 2
 * blocks; task 3 can then only be run by the other thread, and if that thread started on the other
 * node's queue it reaches task 3 only by stealing. Without stealing, worker 1 takes task 2 and
 * nobody takes task 3: the wait times out and the case fails. Own queue first: tasks 0 and 1 wait
 * until a task of node 1 has started; one shared counter would hand 0 and 1 to the two threads
 * first and time out, per-node queues start worker 1 on task 2. */
typedef struct steal_job {
    int home_first;       /* the other job: tasks 0 and 1 wait until a task of node 1 has started */
    atomic_int done3;
    atomic_int started_node1;
    atomic_int timed_out;
    atomic_int ran_by[4];
} steal_job;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void steal_task(void *ctx, int64_t task, int32_t thread)
{
    steal_job *job = ctx;
    atomic_store(&job->ran_by[task], thread);
    if (task >= 2) atomic_store(&job->started_node1, 1);
    atomic_int *wait_for = job->home_first ? (task < 2 ? &job->started_node1 : NULL) : (task == 2 ? &job->done3 : NULL);
    if (wait_for) {
        double t0 = now_s();
        while (!atomic_load(wait_for))
            if (now_s() - t0 > 10.0) {
                atomic_store(&job->timed_out, 1);
                return;
            }
    }
    if (task == 3) atomic_store(&job->done3, 1);
}

static void test_pool_steals_across_nodes(void **state)
{
    if (ksa_cpu_pool_size() < 2) {
        ktest_skip("the pool has one thread: no second node's worker to run");
        return;
    }
    fake_two_node_plan();
    assert_int_equal(plan.worker_node[0], 0);
    assert_int_equal(plan.worker_node[1], 1);
    ksa_cpu_pool_use_plan(&plan);
    for (int rep = 0; rep < 40; rep++) {
        static steal_job job;
        job.home_first = rep % 2;
        atomic_store(&job.started_node1, 0);
        atomic_store(&job.done3, 0);
        atomic_store(&job.timed_out, 0);
        for (int t = 0; t < 4; t++) atomic_store(&job.ran_by[t], -1);
        ksa_cpu_pool_run_placed(2, 4, 2, 2, steal_task, &job);
        assert_int_equal(atomic_load(&job.timed_out), 0);
        assert_int_equal(atomic_load(&job.done3), 1);
        for (int t = 0; t < 4; t++) assert_in_range(atomic_load(&job.ran_by[t]), 0, 1);
        if (!job.home_first) assert_int_not_equal(atomic_load(&job.ran_by[2]), atomic_load(&job.ran_by[3]));
    }
    ksa_cpu_pool_use_plan(NULL);
}

/* Attention calls through the placed driver on the fake two-node plan: the same bits as one thread
 * (which never uses the queues) for every mode and phase, with KV heads split unevenly (3 heads over
 * 2 nodes) and B = 2, and the result right. */
static void test_attention_same_bits_on_two_nodes(void **state)
{
    if (ksa_cpu_pool_size() < 2) {
        ktest_skip("the pool has one thread: no second node's worker to run");
        return;
    }
    ksa_device dev = ktest_open_device("cpu");
    assert_non_null(dev);
    fake_two_node_plan();
    char many[32];
    snprintf(many, sizeof many, "threads=%d", ksa_cpu_pool_size());
    for (int mode = 0; mode < 3; mode++)
        for (int phase = 0; phase < 2; phase++) {
            ktest_config c = ktest_config_default();
            c.mode = (ksa_mode)mode;
            c.phase = (ksa_phase)phase;
            c.dtype = KSA_DTYPE_BF16;
            c.head_dim = 64;
            c.batch = 2;
            c.hq = 6;
            c.hkv = 3;
            c.lq = 80;
            c.lk = phase ? 1200 : 144;
            c.with_lse = 1;
            c.topk_set = 1;
            c.topk = ksa_topk_default();
            c.topk.min_k = 16;
            c.topk.round_multiple = 8;
            c.topk.tile_size = 16;
            c.seed = 900 + (uint64_t)(mode * 2 + phase);
            ktest_problem p;
            assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
            size_t obytes = ksa_buffer_size(p.tensors.o.buffer);
            size_t ibytes = c.mode == KSA_MODE_ANCHOR ? ksa_buffer_size(p.tensors.indices.buffer) : 0;
            unsigned char *o1 = malloc(obytes), *oN = malloc(obytes), *i1 = malloc(ibytes + 1), *iN = malloc(ibytes + 1);
            assert_true(o1 && oN && i1 && iN);
            ksa_cpu_pool_use_plan(NULL);
            ktest_problem_run_bytes(&p, "threads=1", o1, obytes, i1, ibytes);
            ksa_cpu_pool_use_plan(&plan);
            ktest_problem_run_bytes(&p, many, oN, obytes, iN, ibytes);
            ksa_cpu_pool_use_plan(NULL);
            if (memcmp(o1, oN, obytes) || (ibytes && memcmp(i1, iN, ibytes)))
                fail_msg("mode %d phase %d: different bits for 1 thread and %s on two fake nodes", mode, phase, many);
            char report[1024] = "";
            ksa_status st = ktest_problem_check(&p, report, sizeof report);
            if (st) printf("mode %d phase %d: %s\n", mode, phase, report);
            assert_int_equal(st, KSA_STATUS_SUCCESS);
            free(o1);
            free(oN);
            free(i1);
            free(iN);
            ktest_problem_destroy(&p);
        }
}

/* the machine's own plan: the pool reports its nodes; with one node nothing about the pool changes */
static void test_pool_own_plan(void **state)
{
    int32_t nodes = ksa_cpu_pool_numa_nodes();
    assert_true(nodes >= 1);
    const char *desc = ksa_cpu_pool_description();
    if (nodes == 1) assert_null(strstr(desc, "KV heads split"));
    else assert_non_null(strstr(desc, "NUMA"));
    /* the shared-counter path of a placed job on the machine's own plan: every task once */
    static count_job job;
    int64_t ntasks = 96;
    for (int64_t t = 0; t < ntasks; t++) atomic_store(&job.runs[t], 0);
    job.nthreads = ksa_cpu_pool_size();
    ksa_cpu_pool_run_placed(job.nthreads, ntasks, 8, 3, count_task, &job);
    for (int64_t t = 0; t < ntasks; t++) assert_int_equal(atomic_load(&job.runs[t]), 1);
}

/* a failed pool case must not leave its fake plan installed for the next */
static int restore_plan(void **state)
{
    ksa_cpu_pool_use_plan(NULL);
    return 0;
}

int main(void)
{
    char n[16];
    snprintf(n, sizeof n, "%d", POOL_THREADS);
    setenv("KSA_NUM_THREADS", n, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_nodes_eight_workers),
        cmocka_unit_test(test_two_nodes_odd_workers),
        cmocka_unit_test(test_unequal_nodes),
        cmocka_unit_test(test_one_node),
        cmocka_unit_test(test_node_task_lists),
        cmocka_unit_test_teardown(test_pool_every_task_once, restore_plan),
        cmocka_unit_test_teardown(test_pool_steals_across_nodes, restore_plan),
        cmocka_unit_test_teardown(test_attention_same_bits_on_two_nodes, restore_plan),
        cmocka_unit_test(test_pool_own_plan),
    };
    return ktest_run_group(tests, NULL, NULL);
}
