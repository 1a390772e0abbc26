/* cpu_numa.h: the NUMA placement plan of the CPU backend's thread pool. A plan says, for a machine's
 * NUMA nodes (the nodes that have cores) and a pool of W workers, which node each worker belongs to
 * and which core it is pinned to; a split of one call (its active thread count T and its number of
 * KV heads) says which node is the home of each KV head. The functions are pure (no globals; the
 * only allocation is the hwloc reader's one scratch block) so tests can feed them synthetic
 * topologies; cpu_pool.c builds the plan once, when the pool is created, and runs "placed" jobs
 * with one task queue per node (see ksa_cpu_pool_run_placed in cpu_internal.h).
 *
 * Workers are spread over the nodes in proportion to their cores and interleaved: worker w goes to
 * the node with the fewest workers per core so far (ties: the lower node), so any prefix 0..T-1 of
 * the workers (a call with fewer threads than the pool) is spread over the nodes as evenly as the
 * cores allow. The k-th worker of a node is pinned to the node's k-th core (in hwloc's logical
 * order, wrapping when there are more workers than cores). KV heads are split into contiguous
 * ranges, one per node, proportional to the node's active workers (boundaries rounded to the
 * nearest head, halves to the earlier node); a node without active workers gets no heads. */
#ifndef KSA_CPU_NUMA_H
#define KSA_CPU_NUMA_H

#include <stdint.h>

#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
#include <hwloc.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define CPU_NUMA_MAX_NODES 64
#define CPU_NUMA_MAX_WORKERS 512 /* the pool's thread limit */
#define CPU_NUMA_MAX_CORES 4096  /* cores the plan records (more are ignored) */

/* The NUMA nodes that have cores, and their cores (hwloc logical core indices), node by node. */
typedef struct cpu_numa_nodes {
    int32_t count;
    int32_t os_index[CPU_NUMA_MAX_NODES];   /* the node's OS number (hwloc os_index), for memory binding */
    int32_t core_begin[CPU_NUMA_MAX_NODES]; /* cores of node n: core_ids[core_begin[n] .. + core_count[n]) */
    int32_t core_count[CPU_NUMA_MAX_NODES];
    int32_t core_ids[CPU_NUMA_MAX_CORES];
} cpu_numa_nodes;

/* Worker -> node and core, and each node's workers (ascending ids). */
typedef struct cpu_numa_plan {
    cpu_numa_nodes nodes;
    int32_t workers;
    int32_t worker_node[CPU_NUMA_MAX_WORKERS];
    int32_t worker_core[CPU_NUMA_MAX_WORKERS]; /* hwloc logical core index the worker is pinned to */
    /* node n's workers: node_workers[node_worker_begin[n] .. + node_worker_count[n]) */
    int32_t node_worker_begin[CPU_NUMA_MAX_NODES];
    int32_t node_worker_count[CPU_NUMA_MAX_NODES];
    int32_t node_workers[CPU_NUMA_MAX_WORKERS];
} cpu_numa_plan;

/* One call's split: workers 0..threads-1 take part; KV head g has home node n when
 * head_begin[n] <= g < head_begin[n] + head_count[n]. */
typedef struct cpu_numa_split {
    int32_t nodes;
    int32_t threads;
    int32_t num_kv_heads;
    int32_t active_workers[CPU_NUMA_MAX_NODES]; /* workers among 0..threads-1 on each node */
    int32_t head_begin[CPU_NUMA_MAX_NODES];
    int32_t head_count[CPU_NUMA_MAX_NODES];
} cpu_numa_split;

/* The single-node description of a machine with `cores` cores (logical indices 0..cores-1). */
void ksa_cpu_numa_nodes_single(int32_t cores, cpu_numa_nodes *out);

/* The plan of `workers` workers over `nodes` (count >= 1, every node with >= 1 core). Returns 0, or
 * -1 (and a one-node plan over node 0 of whatever was given, or one core 0) when the input is not
 * usable: no nodes, a node without cores, workers outside 1..CPU_NUMA_MAX_WORKERS. */
int ksa_cpu_numa_plan_build(const cpu_numa_nodes *nodes, int32_t workers, cpu_numa_plan *out);

#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
/* The NUMA nodes of a loaded hwloc topology that have cores; each core belongs to the first node
 * (logical order) whose cpuset holds it. A topology without NUMA nodes or cores gives one node with
 * every core (at least core 0). */
void ksa_cpu_numa_nodes_from_hwloc(hwloc_topology_t topo, cpu_numa_nodes *out);
/* ksa_cpu_numa_nodes_from_hwloc then ksa_cpu_numa_plan_build. */
int ksa_cpu_numa_plan_from_hwloc(hwloc_topology_t topo, int32_t workers, cpu_numa_plan *out);
#endif

/* The split of a call that uses workers 0..threads-1 (clamped to 1..plan->workers) and has
 * num_kv_heads KV heads (>= 0). */
void ksa_cpu_numa_split_heads(const cpu_numa_plan *plan, int32_t threads, int32_t num_kv_heads, cpu_numa_split *out);

/* The home node of KV head g (0 <= g < num_kv_heads) in a split. */
int32_t ksa_cpu_numa_home_of_head(const cpu_numa_split *split, int32_t g);

/* Placed jobs number their tasks task = (outer * num_kv_heads + g) * per_head + inner, with
 * 0 <= inner < per_head: KV head g of the task is (task / per_head) % num_kv_heads, and ntasks is a
 * multiple of num_kv_heads * per_head. Node n's tasks are those whose head is in its range; the
 * i-th of them (ascending task order) is ksa_cpu_numa_node_task(). */
static inline int64_t ksa_cpu_numa_node_task_count(const cpu_numa_split *split, int32_t node, int64_t ntasks,
                                                   int64_t per_head)
{
    int64_t outer = ntasks / ((int64_t)split->num_kv_heads * per_head);
    return outer * split->head_count[node] * per_head;
}

static inline int64_t ksa_cpu_numa_node_task(const cpu_numa_split *split, int32_t node, int64_t per_head, int64_t i)
{
    int64_t run = (int64_t)split->head_count[node] * per_head; /* tasks of the node per outer index */
    int64_t outer = i / run, rest = i % run;
    return (outer * split->num_kv_heads + split->head_begin[node]) * per_head + rest;
}

#ifdef __cplusplus
}
#endif
#endif /* KSA_CPU_NUMA_H */
