/* cpu_pool.c: the CPU backend's thread pool. Created once, lazily, on first use: one thread per
 * physical core (hwloc; sysconf without it), each worker pinned to its own core (the caller, which
 * acts as thread 0, is left where the application put it). KSA_NUM_THREADS overrides the size.
 * A job is a task count and a function; threads take task numbers from a shared counter, so which
 * thread runs a task never affects its result. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
#include <hwloc.h>
#endif

#include "backends/cpu/cpu_internal.h"
#include "ksa_cpu_features.h"
#include "ksa_internal.h"

#define CPU_POOL_MAX 512

typedef struct cpu_pool {
    int32_t size;
    char description[320];
    pthread_t workers[CPU_POOL_MAX];
    pthread_mutex_t run_lock; /* one job at a time */
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    uint64_t generation;
    /* the current job */
    cpu_task_fn fn;
    void *ctx;
    int64_t ntasks;
    int32_t active; /* threads taking part (including the caller) */
    atomic_llong next;
    int32_t finished; /* workers done with this generation */
#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
    hwloc_topology_t topo;
    int32_t have_topo;
    int32_t ncores;
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
    for (;;) {
        long long t = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed);
        if (t >= pool.ntasks) break;
        pool.fn(pool.ctx, (int64_t)t, id);
    }
}

static void *worker_main(void *arg)
{
    int32_t id = ((worker_arg *)arg)->id;
#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
    if (pool.have_topo && pool.ncores > 0) {
        hwloc_obj_t core = hwloc_get_obj_by_type(pool.topo, HWLOC_OBJ_CORE, (unsigned)(id % pool.ncores));
        if (core && core->cpuset) {
            hwloc_bitmap_t set = hwloc_bitmap_dup(core->cpuset);
            hwloc_bitmap_singlify(set); /* one hardware thread of the core */
            hwloc_set_cpubind(pool.topo, set, HWLOC_CPUBIND_THREAD);
            hwloc_bitmap_free(set);
        }
    }
#endif
    uint64_t seen = 0;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.generation == seen) pthread_cond_wait(&pool.wake, &pool.lock);
        seen = pool.generation;
        int take_part = id < pool.active;
        pthread_mutex_unlock(&pool.lock);
        if (take_part) run_tasks(id);
        pthread_mutex_lock(&pool.lock);
        if (take_part && ++pool.finished == pool.active - 1) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

static void pool_create(void)
{
    int32_t n = 0;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    char how[96] = "sysconf, not pinned";
#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
    if (hwloc_topology_init(&pool.topo) == 0 && hwloc_topology_load(pool.topo) == 0) {
        pool.have_topo = 1;
        pool.ncores = hwloc_get_nbobjs_by_type(pool.topo, HWLOC_OBJ_CORE);
        int nnuma = hwloc_get_nbobjs_by_type(pool.topo, HWLOC_OBJ_NUMANODE);
        if (pool.ncores > 0) n = pool.ncores;
        snprintf(how, sizeof how, "pinned one per core, %d cores in %d NUMA node%s (hwloc)", pool.ncores, nnuma,
                 nnuma == 1 ? "" : "s");
    }
#endif
    if (n <= 0) n = online > 0 ? (int32_t)online : 1;
    if (n > CPU_POOL_MAX) n = CPU_POOL_MAX;
    char env_note[200]; /* KSA_NUM_THREADS checked (a value it cannot use as given is warned about) */
    n = ksa_env_num_threads(n, CPU_POOL_MAX, env_note, sizeof env_note);
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
    snprintf(pool.description, sizeof pool.description, "%d thread%s, %s%s%s", started, started == 1 ? "" : "s", how,
             env_note[0] ? "; " : "", env_note);
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

void ksa_cpu_pool_run(int32_t nthreads, int64_t ntasks, cpu_task_fn fn, void *ctx)
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
    pthread_mutex_lock(&pool.lock);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.ntasks = ntasks;
    pool.active = nthreads;
    pool.finished = 0;
    atomic_store_explicit(&pool.next, 0, memory_order_relaxed);
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    run_tasks(0);
    pthread_mutex_lock(&pool.lock);
    while (pool.finished < nthreads - 1) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.run_lock);
}
