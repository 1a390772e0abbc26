/* cpu_numa.c: the NUMA placement plan (cpu_numa.h): NUMA nodes and their cores read from an hwloc
 * topology, workers spread over the nodes and pinned to the nodes' cores, and the per-call split of
 * KV heads into contiguous per-node ranges. Pure functions of their inputs (the hwloc reader
 * allocates one scratch block per plan; nothing else allocates). */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_numa.h"

void ksa_cpu_numa_nodes_single(int32_t cores, cpu_numa_nodes *out)
{
    memset(out, 0, sizeof *out);
    if (cores < 1) cores = 1;
    if (cores > CPU_NUMA_MAX_CORES) cores = CPU_NUMA_MAX_CORES;
    out->count = 1;
    out->core_count[0] = cores;
    for (int32_t c = 0; c < cores; c++) out->core_ids[c] = c;
}

int ksa_cpu_numa_plan_build(const cpu_numa_nodes *nodes, int32_t workers, cpu_numa_plan *out)
{
    memset(out, 0, sizeof *out);
    int usable = nodes && nodes->count >= 1 && nodes->count <= CPU_NUMA_MAX_NODES && workers >= 1 &&
                 workers <= CPU_NUMA_MAX_WORKERS;
    for (int32_t n = 0; usable && n < nodes->count; n++)
        if (nodes->core_count[n] < 1 || nodes->core_begin[n] < 0 ||
            nodes->core_begin[n] + nodes->core_count[n] > CPU_NUMA_MAX_CORES)
            usable = 0;
    if (usable) {
        out->nodes = *nodes;
    } else {
        /* one node: node 0's cores when it has any, else core 0 */
        int32_t cores = nodes && nodes->count >= 1 && nodes->core_count[0] >= 1 && nodes->core_begin[0] == 0 &&
                                nodes->core_count[0] <= CPU_NUMA_MAX_CORES
                            ? nodes->core_count[0]
                            : 1;
        if (cores > 1) out->nodes = *nodes;
        else ksa_cpu_numa_nodes_single(1, &out->nodes);
        out->nodes.count = 1;
        out->nodes.core_count[0] = cores;
        out->nodes.core_begin[0] = 0;
        if (workers < 1) workers = 1;
        if (workers > CPU_NUMA_MAX_WORKERS) workers = CPU_NUMA_MAX_WORKERS;
    }
    const cpu_numa_nodes *nd = &out->nodes;
    out->workers = workers;
    /* worker w -> the node with the fewest workers per core so far: assigned[a] / cores[a] smallest,
     * compared without division; ties go to the lower node */
    int32_t assigned[CPU_NUMA_MAX_NODES] = {0};
    for (int32_t w = 0; w < workers; w++) {
        int32_t best = 0;
        for (int32_t n = 1; n < nd->count; n++)
            if ((int64_t)assigned[n] * nd->core_count[best] < (int64_t)assigned[best] * nd->core_count[n]) best = n;
        int32_t k = assigned[best]++;
        out->worker_node[w] = best;
        out->worker_core[w] = nd->core_ids[nd->core_begin[best] + k % nd->core_count[best]];
    }
    /* each node's workers, ascending */
    int32_t at = 0;
    for (int32_t n = 0; n < nd->count; n++) {
        out->node_worker_begin[n] = at;
        for (int32_t w = 0; w < workers; w++)
            if (out->worker_node[w] == n) out->node_workers[at++] = w;
        out->node_worker_count[n] = at - out->node_worker_begin[n];
    }
    return usable ? 0 : -1;
}

#if defined(KSA_HAVE_HWLOC) && KSA_HAVE_HWLOC
void ksa_cpu_numa_nodes_from_hwloc(hwloc_topology_t topo, cpu_numa_nodes *out)
{
    memset(out, 0, sizeof *out);
    int ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    int nnuma = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    if (ncores <= 0 || nnuma <= 1) {
        ksa_cpu_numa_nodes_single(ncores, out);
        if (nnuma == 1) {
            hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, 0);
            if (node) out->os_index[0] = (int32_t)node->os_index;
        }
        return;
    }
    if (ncores > CPU_NUMA_MAX_CORES) ncores = CPU_NUMA_MAX_CORES;
    if (nnuma > CPU_NUMA_MAX_NODES) nnuma = CPU_NUMA_MAX_NODES;
    hwloc_bitmap_t given = hwloc_bitmap_alloc(); /* logical indices of cores already given to a node */
    int32_t at = 0;
    for (int i = 0; i < nnuma && given; i++) {
        hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
        if (!node || !node->cpuset) continue;
        int32_t begin = at;
        for (int c = 0; c < ncores; c++) {
            hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)c);
            if (!core || !core->cpuset || !hwloc_bitmap_isincluded(core->cpuset, node->cpuset)) continue;
            if (hwloc_bitmap_isset(given, (unsigned)c)) continue; /* nodes sharing cores, e.g. HBM + DDR */
            hwloc_bitmap_set(given, (unsigned)c);
            out->core_ids[at++] = c;
        }
        if (at == begin) continue; /* a node without cores (memory only) */
        int32_t n = out->count++;
        out->os_index[n] = (int32_t)node->os_index;
        out->core_begin[n] = begin;
        out->core_count[n] = at - begin;
    }
    hwloc_bitmap_free(given);
    if (out->count == 0) ksa_cpu_numa_nodes_single(ncores, out);
}

int ksa_cpu_numa_plan_from_hwloc(hwloc_topology_t topo, int32_t workers, cpu_numa_plan *out)
{
    cpu_numa_nodes *nodes = malloc(sizeof *nodes); /* 16 KiB, once per plan: off the caller's stack */
    if (!nodes) return ksa_cpu_numa_plan_build(NULL, workers, out);
    ksa_cpu_numa_nodes_from_hwloc(topo, nodes);
    int rc = ksa_cpu_numa_plan_build(nodes, workers, out);
    free(nodes);
    return rc;
}
#endif

void ksa_cpu_numa_split_heads(const cpu_numa_plan *plan, int32_t threads, int32_t num_kv_heads, cpu_numa_split *out)
{
    memset(out, 0, sizeof *out);
    if (threads > plan->workers) threads = plan->workers;
    if (threads < 1) threads = 1;
    if (num_kv_heads < 0) num_kv_heads = 0;
    out->nodes = plan->nodes.count;
    out->threads = threads;
    out->num_kv_heads = num_kv_heads;
    for (int32_t w = 0; w < threads; w++) out->active_workers[plan->worker_node[w]]++;
    /* boundary after nodes 0..n-1 holding `before` of the threads: round(H * before / T), halves up */
    int64_t before = 0, H = num_kv_heads, T = threads;
    for (int32_t n = 0; n < out->nodes; n++) {
        int64_t lo = (2 * H * before + T) / (2 * T);
        before += out->active_workers[n];
        int64_t hi = (2 * H * before + T) / (2 * T);
        out->head_begin[n] = (int32_t)lo;
        out->head_count[n] = (int32_t)(hi - lo);
    }
}

int32_t ksa_cpu_numa_home_of_head(const cpu_numa_split *split, int32_t g)
{
    for (int32_t n = 0; n < split->nodes; n++)
        if (g >= split->head_begin[n] && g < split->head_begin[n] + split->head_count[n]) return n;
    return 0;
}
