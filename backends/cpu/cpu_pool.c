/* cpu_pool.c: the CPU backend's thread pool. Created once, lazily, on first use: one thread per
 * physical core (hwloc; sysconf without it), each worker pinned to its own core (the caller, which
 * acts as thread 0, is left where the application put it). KSA_NUM_THREADS overrides the size.
 * A job is a task count and a function; threads take task numbers from a shared counter, so which
 * thread runs a task never affects its result.
 * Hand-off: the caller publishes a job as one atomic word (its number and how many threads take
 * part) and joins on an atomic count of the workers done. Both sides may first spin on those words
 * for up to KSA_CPU_SPIN_US microseconds before they sleep on a condition variable, so that jobs
 * close together start without waking sleeping threads. The default is 0 (sleep at once): on the
 * lent VM spinning removed most of a small call's wake-up cost in some runs and added outliers of
 * milliseconds in others (bench/NOTES.md, thirtieth session, calls 3-5).
 * NUMA (cpu_numa.h): with more than one node the workers are spread over the nodes by the placement
 * plan, and a placed job (ksa_cpu_pool_run_placed) has one task queue per node: a worker takes the
 * tasks whose KV head lives on its node first, then steals from the other nodes' queues. KSA_CPU_NUMA
 * picks the policy: first-touch (default), interleave (shared queue; the workspace's pages are bound
 * interleaved over the nodes) or off (today's single queue and compact pinning). One node, or no
 * hwloc: the single shared counter, always. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
#include <hwloc.h>
#endif

#include "backends/cpu/cpu_internal.h"
#include "backends/cpu/cpu_numa.h"
#include "ksa_cpu_features.h"
#include "ksa_internal.h"

#define CPU_POOL_MAX CPU_NUMA_MAX_WORKERS
#define CPU_POOL_SPIN_US_DEFAULT 0
#define CPU_POOL_SPIN_US_MAX 100000
/* the published job word: the job's number above these bits, the threads taking part below */
#define CPU_JOB_ACTIVE_BITS 16
#define CPU_JOB_ACTIVE_MASK ((1u << CPU_JOB_ACTIVE_BITS) - 1u)
_Static_assert(CPU_POOL_MAX <= (1 << CPU_JOB_ACTIVE_BITS) - 1, "the job word's thread count field must hold the pool's size");

typedef enum cpu_numa_policy { CPU_NUMA_OFF = 0, CPU_NUMA_FIRST_TOUCH = 1, CPU_NUMA_INTERLEAVE = 2 } cpu_numa_policy;

/* One node's task queue of a placed job (own cache line: the nodes' workers do not share it). */
typedef struct cpu_node_queue {
    _Alignas(64) atomic_llong next;
    int64_t ntasks;
} cpu_node_queue;

typedef struct cpu_pool {
    int32_t size;
    char description[400];
    pthread_t workers[CPU_POOL_MAX];
    pthread_mutex_t run_lock; /* one job at a time */
    pthread_mutex_t lock;     /* only for sleeping and waking: the hand-off itself is atomic */
    pthread_cond_t wake, done;
    uint64_t generation; /* the caller's count of jobs (under run_lock) */
    atomic_llong spin_ns; /* how long a waiting side spins before it sleeps (KSA_CPU_SPIN_US; tests set it) */
    int64_t env_spin_ns;  /* KSA_CPU_SPIN_US's value (or the default), which a test's setting is undone to */
    /* (generation << CPU_JOB_ACTIVE_BITS) | threads taking part (including the caller): stored with
     * release by the caller after the job's fields below, loaded with acquire by the workers, so a
     * worker that does not take part never reads them while the next job is being written */
    _Alignas(64) atomic_uint_least64_t job;
    /* workers done with the current job (their tasks' writes released to the caller) */
    _Alignas(64) atomic_int finished;
    /* the current job (written by the caller only while no worker takes part in a job) */
    _Alignas(64) cpu_task_fn fn;
    void *ctx;
    int64_t ntasks;
    atomic_llong next;
    /* a placed job: per-node queues over the KV-head split of the active threads */
    int32_t placed;
    int64_t per_head;
    cpu_numa_split split;
    cpu_node_queue queue[CPU_NUMA_MAX_NODES];
    /* NUMA: the plan built at creation, the policy, and the plan placed jobs use now (the own
     * plan, or a test's; changed only under run_lock) */
    cpu_numa_plan plan;
    cpu_numa_policy policy;
    const cpu_numa_plan *job_plan;
    int32_t node_queues; /* placed jobs use per-node queues (first-touch and > 1 node) */
#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
    hwloc_topology_t topo;
    int32_t have_topo;
    int32_t ncores;
    hwloc_bitmap_t nodeset; /* the nodes with cores (interleave) */
    pthread_mutex_t bind_lock;
    const void *bound_base; /* last workspace range bound interleaved */
    size_t bound_bytes;
    int32_t bind_warned;
#endif
} cpu_pool;

static cpu_pool pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

typedef struct worker_arg {
    int32_t id;
} worker_arg;
static worker_arg worker_args[CPU_POOL_MAX];

static void run_tasks(int32_t id)
{
    if (!pool.placed) {
        for (;;) {
            long long t = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed);
            if (t >= pool.ntasks) break;
            pool.fn(pool.ctx, (int64_t)t, id);
        }
        return;
    }
    /* own node's queue first, then the others' in turn (stealing keeps the load balanced) */
    int32_t nodes = pool.split.nodes, home = pool.job_plan->worker_node[id];
    for (int32_t k = 0; k < nodes; k++) {
        int32_t n = (home + k) % nodes;
        cpu_node_queue *q = &pool.queue[n];
        if (atomic_load_explicit(&q->next, memory_order_relaxed) >= q->ntasks) continue;
        for (;;) {
            long long i = atomic_fetch_add_explicit(&q->next, 1, memory_order_relaxed);
            if (i >= q->ntasks) break;
            pool.fn(pool.ctx, ksa_cpu_numa_node_task(&pool.split, n, pool.per_head, (int64_t)i), id);
        }
    }
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One step of a spin: a pause, and every 32nd step a sched_yield, so that a thread sharing the core
 * (the caller is not pinned and may land on a worker's core) runs within microseconds instead of
 * waiting out the scheduler's time slice while both spin. */
static inline void spin_step(uint32_t i)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
    if ((i & 31u) == 0) sched_yield();
}

/* the two things the pool waits for: a job word other than `seen`, and `need` workers done */
typedef int (*pool_ready_fn)(uint64_t arg);

static int job_published(uint64_t seen) { return atomic_load_explicit(&pool.job, memory_order_acquire) != seen; }

static int workers_done(uint64_t need)
{
    return (uint64_t)atomic_load_explicit(&pool.finished, memory_order_acquire) >= need;
}

/* Until ready(arg): spin for up to pool.spin_ns, then sleep on `cond` under pool.lock (whoever makes
 * it ready signals `cond` holding that lock, after the change). */
static void pool_wait(pool_ready_fn ready, uint64_t arg, pthread_cond_t *cond)
{
    if (ready(arg)) return;
    const int64_t spin_ns = atomic_load_explicit(&pool.spin_ns, memory_order_relaxed);
    if (spin_ns > 0) {
        const int64_t t0 = now_ns();
        for (uint32_t i = 1;; i++) {
            spin_step(i);
            if (ready(arg)) return;
            if ((i & 63u) == 0 && now_ns() - t0 > spin_ns) break;
        }
    }
    pthread_mutex_lock(&pool.lock);
    while (!ready(arg)) pthread_cond_wait(cond, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

static void *worker_main(void *arg)
{
    int32_t id = ((worker_arg *)arg)->id;
#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
    if (pool.have_topo && pool.ncores > 0) {
        /* the plan's core (on one node: core id % cores, in hwloc's logical order) */
        hwloc_obj_t core = hwloc_get_obj_by_type(pool.topo, HWLOC_OBJ_CORE, (unsigned)pool.plan.worker_core[id]);
        if (core && core->cpuset) {
            hwloc_bitmap_t set = hwloc_bitmap_dup(core->cpuset);
            hwloc_bitmap_singlify(set); /* one hardware thread of the core */
            hwloc_set_cpubind(pool.topo, set, HWLOC_CPUBIND_THREAD);
            hwloc_bitmap_free(set);
        }
    }
#endif
    /* 0 is the word before the first job, whether or not that job was published before we got here.
     * After a wait the worker takes the newest word: a job that needs it cannot be skipped, since
     * the caller publishes no other job until every worker it needs is done */
    uint64_t seen = 0;
    for (;;) {
        pool_wait(job_published, seen, &pool.wake);
        seen = atomic_load_explicit(&pool.job, memory_order_acquire);
        const int32_t active = (int32_t)(seen & CPU_JOB_ACTIVE_MASK);
        if (id >= active) continue; /* not needed for this job: touch none of it */
        run_tasks(id);
        if (atomic_fetch_add_explicit(&pool.finished, 1, memory_order_acq_rel) + 1 == active - 1) {
            /* the last one: wake the caller if it went to sleep (it checks the count under the lock) */
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    return NULL;
}

/* KSA_CPU_SPIN_US: microseconds a waiting side spins before it sleeps (0..100000; default 0). */
static int64_t spin_us_from_env(char *note, size_t note_len)
{
    return ksa_env_whole_number("KSA_CPU_SPIN_US", CPU_POOL_SPIN_US_DEFAULT, 0, CPU_POOL_SPIN_US_MAX, "spinning", "us", "",
                                note, note_len);
}

/* KSA_CPU_NUMA: first-touch (default), interleave or off; anything else is warned about. */
static cpu_numa_policy numa_policy_from_env(char *note, size_t note_len)
{
    const char *env = getenv("KSA_CPU_NUMA");
    note[0] = '\0';
    if (!env || !*env || !strcmp(env, "first-touch")) return CPU_NUMA_FIRST_TOUCH;
    if (!strcmp(env, "interleave")) return CPU_NUMA_INTERLEAVE;
    if (!strcmp(env, "off")) return CPU_NUMA_OFF;
    snprintf(note, note_len, "KSA_CPU_NUMA=%s ignored: not first-touch, interleave or off; using first-touch", env);
    ksa_warn("%s", note);
    return CPU_NUMA_FIRST_TOUCH;
}

static void pool_create(void)
{
    int32_t n = 0;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    char how[96] = "sysconf, not pinned";
    static cpu_numa_nodes nodes; /* 16 KiB, used once */
    ksa_cpu_numa_nodes_single(online > 0 ? (int32_t)online : 1, &nodes);
    char numa_env_note[160];
    int numa_off_nodes = 0; /* NUMA nodes ignored because KSA_CPU_NUMA=off */
    pool.policy = numa_policy_from_env(numa_env_note, sizeof numa_env_note);
    char spin_note[120];
    const int64_t spin_us = spin_us_from_env(spin_note, sizeof spin_note);
    pool.env_spin_ns = spin_us * 1000;
    atomic_store_explicit(&pool.spin_ns, pool.env_spin_ns, memory_order_relaxed);
#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
    pthread_mutex_init(&pool.bind_lock, NULL);
    if (hwloc_topology_init(&pool.topo) == 0 && hwloc_topology_load(pool.topo) == 0) {
        pool.have_topo = 1;
        pool.ncores = hwloc_get_nbobjs_by_type(pool.topo, HWLOC_OBJ_CORE);
        int nnuma = hwloc_get_nbobjs_by_type(pool.topo, HWLOC_OBJ_NUMANODE);
        if (pool.ncores > 0) n = pool.ncores;
        snprintf(how, sizeof how, "pinned one per core, %d cores in %d NUMA node%s (hwloc)", pool.ncores, nnuma,
                 nnuma == 1 ? "" : "s");
        /* off: all cores as one node, i.e. worker w on core w % cores (compact), as before NUMA */
        if (pool.policy == CPU_NUMA_OFF) ksa_cpu_numa_nodes_single(pool.ncores, &nodes);
        else ksa_cpu_numa_nodes_from_hwloc(pool.topo, &nodes);
        numa_off_nodes = pool.policy == CPU_NUMA_OFF && nnuma > 1 ? nnuma : 0;
    }
#endif
    if (n <= 0) n = online > 0 ? (int32_t)online : 1;
    if (n > CPU_POOL_MAX) n = CPU_POOL_MAX;
    char env_note[200]; /* KSA_NUM_THREADS checked (a value it cannot use as given is warned about) */
    n = ksa_env_num_threads(n, CPU_POOL_MAX, env_note, sizeof env_note);
    ksa_cpu_numa_plan_build(&nodes, n, &pool.plan);
    pool.job_plan = &pool.plan;
    pool.node_queues = pool.policy == CPU_NUMA_FIRST_TOUCH && pool.plan.nodes.count > 1;
    char numa_note[160] = "";
    if (numa_off_nodes)
        snprintf(numa_note, sizeof numa_note, "; NUMA off (KSA_CPU_NUMA=off): one shared queue over %d nodes",
                 numa_off_nodes);
    if (pool.plan.nodes.count > 1) {
        char counts[64] = "";
        for (int32_t x = 0, at = 0; x < pool.plan.nodes.count && at < (int)sizeof counts - 12; x++)
            at += snprintf(counts + at, sizeof counts - (size_t)at, "%s%d", x ? "+" : "", pool.plan.node_worker_count[x]);
        snprintf(numa_note, sizeof numa_note, "; NUMA %s over %d nodes (workers %s)",
                 pool.policy == CPU_NUMA_INTERLEAVE ? "interleave" : "first-touch, KV heads split",
                 pool.plan.nodes.count, counts);
    }
#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
    if (pool.policy == CPU_NUMA_INTERLEAVE && pool.plan.nodes.count > 1 && (pool.nodeset = hwloc_bitmap_alloc()))
        for (int32_t x = 0; x < pool.plan.nodes.count; x++)
            hwloc_bitmap_set(pool.nodeset, (unsigned)pool.plan.nodes.os_index[x]);
#endif
    pthread_mutex_init(&pool.run_lock, NULL);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    int32_t started = 1;
    for (int32_t i = 1; i < n; i++) {
        worker_args[i].id = i;
        if (pthread_create(&pool.workers[i], NULL, worker_main, &worker_args[i]) != 0) break;
        pthread_detach(pool.workers[i]);
        started++;
    }
    pool.size = started;
    snprintf(pool.description, sizeof pool.description, "%d thread%s, %s%s%s%s%s%s; spin %lld us before sleeping%s%s",
             started, started == 1 ? "" : "s", how, numa_note, env_note[0] ? "; " : "", env_note,
             numa_env_note[0] ? "; " : "", numa_env_note, (long long)spin_us, spin_note[0] ? "; " : "", spin_note);
}

int32_t ksa_cpu_pool_size(void)
{
    pthread_once(&pool_once, pool_create);
    return pool.size;
}

const char *ksa_cpu_pool_description(void)
{
    pthread_once(&pool_once, pool_create);
    return pool.description;
}

/* One job on `nthreads` threads; per-node queues when asked (num_kv_heads > 0) and the pool uses
 * them, else the shared counter. */
static void run_job(int32_t nthreads, int64_t ntasks, int32_t num_kv_heads, int64_t per_head, cpu_task_fn fn, void *ctx)
{
    pthread_once(&pool_once, pool_create);
    if (ntasks <= 0) return;
    if (nthreads > pool.size) nthreads = pool.size;
    if ((int64_t)nthreads > ntasks) nthreads = (int32_t)ntasks;
    if (nthreads <= 1) {
        for (int64_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&pool.run_lock);
    int placed = num_kv_heads > 0 && per_head > 0 && pool.node_queues &&
                 ntasks % ((int64_t)num_kv_heads * per_head) == 0;
    if (placed && nthreads > pool.job_plan->workers) nthreads = pool.job_plan->workers;
    if (placed) {
        /* the split and the queues are set before the wake-up below publishes them */
        ksa_cpu_numa_split_heads(pool.job_plan, nthreads, num_kv_heads, &pool.split);
        for (int32_t n = 0; n < pool.split.nodes; n++) {
            atomic_store_explicit(&pool.queue[n].next, 0, memory_order_relaxed);
            pool.queue[n].ntasks = ksa_cpu_numa_node_task_count(&pool.split, n, ntasks, per_head);
        }
        pool.per_head = per_head;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.ntasks = ntasks;
    pool.placed = placed;
    atomic_store_explicit(&pool.next, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.finished, 0, memory_order_relaxed);
    pool.generation++;
    /* publish (release: the fields above first), then wake whoever sleeps; spinning workers have
     * already seen the word */
    atomic_store_explicit(&pool.job, (pool.generation << CPU_JOB_ACTIVE_BITS) | (uint64_t)nthreads, memory_order_release);
    pthread_mutex_lock(&pool.lock);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    run_tasks(0);
    pool_wait(workers_done, (uint64_t)(nthreads - 1), &pool.done);
    pthread_mutex_unlock(&pool.run_lock);
}

void ksa_cpu_pool_run(int32_t nthreads, int64_t ntasks, cpu_task_fn fn, void *ctx)
{
    run_job(nthreads, ntasks, 0, 0, fn, ctx);
}

void ksa_cpu_pool_run_placed(int32_t nthreads, int64_t ntasks, int32_t num_kv_heads, int64_t per_head, cpu_task_fn fn,
                             void *ctx)
{
    run_job(nthreads, ntasks, num_kv_heads, per_head, fn, ctx);
}

int32_t ksa_cpu_pool_numa_nodes(void)
{
    pthread_once(&pool_once, pool_create);
    return pool.plan.nodes.count;
}

void ksa_cpu_pool_use_plan(const cpu_numa_plan *plan)
{
    pthread_once(&pool_once, pool_create);
    pthread_mutex_lock(&pool.run_lock);
    pool.job_plan = plan ? plan : &pool.plan;
    pool.node_queues = plan ? plan->nodes.count > 1
                            : pool.policy == CPU_NUMA_FIRST_TOUCH && pool.plan.nodes.count > 1;
    pthread_mutex_unlock(&pool.run_lock);
}

void ksa_cpu_pool_set_spin_us(int64_t us)
{
    pthread_once(&pool_once, pool_create);
    pthread_mutex_lock(&pool.run_lock);
    atomic_store_explicit(&pool.spin_ns, us < 0 ? pool.env_spin_ns : us * 1000, memory_order_relaxed);
    pthread_mutex_unlock(&pool.run_lock);
}

void ksa_cpu_pool_place_workspace(void *base, size_t bytes)
{
#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
    pthread_once(&pool_once, pool_create);
    if (!pool.nodeset || !base || !bytes) return;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) return;
    /* whole pages inside the workspace only: the pages around it belong to the caller */
    uintptr_t lo = ((uintptr_t)base + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    uintptr_t hi = ((uintptr_t)base + bytes) / (uintptr_t)page * (uintptr_t)page;
    if (hi <= lo) return;
    pthread_mutex_lock(&pool.bind_lock);
    if (pool.bound_base != base || pool.bound_bytes != bytes) {
        int rc = hwloc_set_area_membind(pool.topo, (const void *)lo, (size_t)(hi - lo), pool.nodeset,
                                        HWLOC_MEMBIND_INTERLEAVE, HWLOC_MEMBIND_BYNODESET);
        if (rc == 0) {
            pool.bound_base = base;
            pool.bound_bytes = bytes;
        } else if (!pool.bind_warned) {
            pool.bind_warned = 1;
            ksa_warn("KSA_CPU_NUMA=interleave: binding the workspace interleaved failed (%s); pages stay first-touch",
                     strerror(errno));
        }
    }
    pthread_mutex_unlock(&pool.bind_lock);
#else
    (void)base;
    (void)bytes;
#endif
}
