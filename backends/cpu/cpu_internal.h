/* cpu_internal.h: what the CPU backend's files share. The kernel table each ISA level fills (packing
 * of query/key/value rows into a compute format, the QK^T and PV block products, the online-softmax
 * update and the pooled-score accumulation), the thread pool, and the level registry. The driver
 * (cpu_attention.c) is level-independent and calls a table per call. */
#ifndef KSA_CPU_INTERNAL_H
#define KSA_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ksa_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Compute formats of the packed blocks.
 * CPU_FMT_F32:  Q f32 [Mp][D]; K block transposed f32 [D][nkp]; V f32 [nkp][D]; P f32 [Mp][ldp].
 * CPU_FMT_BF16: Q bf16 [Mp][D]; K block in pairs of dims bf16 [D/2][nkp][2]; V in pairs of keys
 *               bf16 [nkp/2][D][2]; P bf16 [Mp][ldp] (the AVX512-BF16 level). The AMX level packs
 *               the same pairs tile-blocked, each 16 x 64-byte B tile contiguous: K
 *               [nkp/16][D/2][16][2], V [D/16][nkp/2][16][2] (kernels_amx.c says why).
 * CPU_FMT_BF16X3: f16 storage at the AMX level. Every f16 value x is exactly hi + lo with hi, lo
 *               bf16 (11 significant bits: hi is x rounded to 8, lo the rest; fin = hi where x is
 *               finite, else 0), and the probabilities are split alike to 16 bits; each product is
 *               then three bf16 products with float32 sums, laid out so one AMX-BF16 product of
 *               three times the depth computes them: Q [Mp][3D] rows [hi | lo | fin]; K the
 *               AMX level's tile-blocked BF16 layout of [hi | fin | lo] dims ([nkp/16][3D/2][16][2]);
 *               V that of keys [hi ; fin ; lo] ([D/16][3 nkp/2][16][2]); P [Mp][3 ldp] rows
 *               [hi | lo | hi] of nkp each.
 *               Q K^T = Qh Kh + Ql Kf + Qf Kl and P V likewise (the lo x lo term, at most 2^-16 of
 *               the product, is left out; an infinity enters only hi x hi, as in one bf16 product). */
typedef enum cpu_fmt { CPU_FMT_F32 = 0, CPU_FMT_BF16 = 1, CPU_FMT_BF16X3 = 2 } cpu_fmt;

/* Bytes one element of D (or of a key block) takes in a packed Q, K, V or P row of the format. */
static inline size_t cpu_fmt_bytes(cpu_fmt f) { return f == CPU_FMT_F32 ? 4 : f == CPU_FMT_BF16 ? 2 : 6; }

/* One kernel set. M = real rows, Mp = rows rounded up to row_align (rows M..Mp-1 of Q are zero and
 * their P rows are written as zero); n = real keys of the block, nkp = n rounded up to key_align
 * (padded K/V rows are zero). Scores are raw q.k; `c` = scale * log2(e) turns them into base-2
 * logits. ldS/ldP are row strides in elements. */
typedef struct cpu_kernels {
    const char *name; /* "avx512.f32", "amx.bf16", ... */
    cpu_fmt fmt;
    int32_t row_align;
    int32_t key_align;
    /* one query row of D storage elements into the compute format */
    void (*load_row)(void *dst, const void *src, ksa_dtype dtype, int32_t D);
    /* n key (value) rows given by pointers into kbuf (vbuf), zero-padded to nkp keys */
    void (*pack_k)(void *kbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype, int32_t D);
    void (*pack_v)(void *vbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype, int32_t D);
    /* S[m][x] = q_m . k_x for m < Mp, x < nkp */
    void (*qk)(float *S, int32_t ldS, const void *Q, const void *kbuf, int32_t Mp, int32_t nkp, int32_t D);
    /* online softmax: row m sees keys x < lim[m]; mx (base-2 running max) and l (running sum) are
     * updated, corr[m] = 2^(old max - new max), P[m][x] = 2^(c S - new max) (0 where not visible,
     * for x < nkp; rows M..Mp-1 all zero) */
    void (*softmax)(const float *S, int32_t ldS, void *P, int32_t ldP, const int32_t *lim, int32_t M, int32_t Mp,
                    int32_t nkp, float c, float *mx, float *l, float *corr);
    /* O[m] = O[m] * corr[m] + sum_x P[m][x] V[x] for m < M (O is [Mp][D]) */
    void (*pv)(float *O, const void *P, int32_t ldP, const void *vbuf, const float *corr, int32_t M, int32_t Mp,
               int32_t nkp, int32_t D);
    /* pooled[x] += sum over m < M (in order) of 2^(c S[m][x] - lse2[m]), x < n (every key visible) */
    void (*pool)(float *pooled, const float *S, int32_t ldS, const float *lse2, int32_t M, int32_t n, float c);
    /* one output row: dst[d] = src[d] * scale, converted to the storage type */
    void (*store_row)(void *dst, const float *src, float scale, ksa_dtype dtype, int32_t D);
} cpu_kernels;

/* Kernel tables of each level (NULL where the level is not compiled in). */
const cpu_kernels *ksa_cpu_kernels_portable(void);
const cpu_kernels *ksa_cpu_kernels_avx512_f32(void);
const cpu_kernels *ksa_cpu_kernels_avx512_bf16(void); /* AVX512-BF16 dot products */
const cpu_kernels *ksa_cpu_kernels_amx_bf16(void);
const cpu_kernels *ksa_cpu_kernels_amx_f16(void);  /* f16 storage as exact bf16 pairs (CPU_FMT_BF16X3) */

/* The portable scalar helpers the other levels reuse for odd shapes. */
void ksa_cpu_portable_load_row_f32(void *dst, const void *src, ksa_dtype dtype, int32_t D);
void ksa_cpu_portable_store_row(void *dst, const float *src, float scale, ksa_dtype dtype, int32_t D);

/* ---------------------------------------------------------------- thread pool */
typedef void (*cpu_task_fn)(void *ctx, int64_t task, int32_t thread);

/* Threads the pool runs (created lazily, once): KSA_NUM_THREADS, else physical cores from hwloc. */
int32_t ksa_cpu_pool_size(void);
/* How the pool was built, for logs and ksa-info ("16 threads pinned to 16 cores (hwloc)"). */
const char *ksa_cpu_pool_description(void);
/* Run fn(ctx, task, thread) for task 0..ntasks-1 on `nthreads` threads (thread ids 0..nthreads-1,
 * the caller is thread 0). Tasks are taken dynamically; results must not depend on which thread
 * runs a task. Calls from several application threads are serialised. */
void ksa_cpu_pool_run(int32_t nthreads, int64_t ntasks, cpu_task_fn fn, void *ctx);
/* The same for a job whose tasks belong to KV heads: task t's head is (t / per_head) % num_kv_heads
 * and ntasks is a multiple of num_kv_heads * per_head. With more than one NUMA node and
 * KSA_CPU_NUMA=first-touch, each node has a queue of the tasks of its KV heads (cpu_numa.h): a worker
 * runs its own node's tasks first, then steals; what a task first touches lands on its head's node.
 * Otherwise (one node, no hwloc, other policies, other task counts) exactly ksa_cpu_pool_run. */
void ksa_cpu_pool_run_placed(int32_t nthreads, int64_t ntasks, int32_t num_kv_heads, int64_t per_head, cpu_task_fn fn,
                             void *ctx);
/* NUMA nodes the pool's plan spreads the workers over (1: one node, no hwloc or KSA_CPU_NUMA=off). */
int32_t ksa_cpu_pool_numa_nodes(void);
/* KSA_CPU_NUMA=interleave on more than one node: bind the whole pages of a call's workspace
 * interleaved over the nodes (once per distinct range); otherwise nothing. */
void ksa_cpu_pool_place_workspace(void *base, size_t bytes);
/* For tests: placed jobs use `plan`'s worker -> node map and per-node queues (when it has more than
 * one node) whatever the machine has; pinning is not changed. NULL restores the pool's own plan. */
struct cpu_numa_plan;
void ksa_cpu_pool_use_plan(const struct cpu_numa_plan *plan);
/* Tests: how long the pool's waiting sides spin before they sleep, in microseconds (0: never);
 * a negative value restores KSA_CPU_SPIN_US's (default 0). */
void ksa_cpu_pool_set_spin_us(int64_t us);

/* ---------------------------------------------------------------- the driver */
/* The resolved configuration of one call. */
typedef struct cpu_config {
    int32_t block_q;      /* dense prefill: queries per task */
    int32_t block_k;      /* keys per block */
    int32_t threads;
    int32_t decode_chunk; /* decode: keys per split */
    int32_t sub_rows;     /* prefill: rows per QK/softmax/PV step inside a block (16, 32 or 64) */
    int32_t keep_scores;  /* anchor prefill: the lse pass keeps its raw candidate scores per group of
                           * sub_rows rows and the pooled pass reads them (no second Q K^T) */
} cpu_config;

/* Tunable space (names and values) for a problem, and the configuration a call uses. */
void ksa_cpu_tunable_space(const ksa_problem *p, const cpu_kernels *k, ksa_tunable_space *out);
void ksa_cpu_resolve_config(const ksa_problem *p, const cpu_kernels *k, cpu_config *cfg);

/* The kernel table a problem runs with at the current level (may fall back to a lower one). */
const cpu_kernels *ksa_cpu_pick_kernels(const ksa_problem *p, const char **why_lower);

size_t ksa_cpu_workspace_bytes(const ksa_problem *p, const cpu_config *cfg, const cpu_kernels *k);
ksa_status ksa_cpu_attention_run(const ksa_problem *p, const cpu_config *cfg, const cpu_kernels *k);
/* The number of the attention call now running (from 1, a new one at each call's start). The AMX
 * level loads its tile configuration once per thread per call number instead of at every block
 * product (kernels_amx.c). */
uint64_t ksa_cpu_call_number(void);
/* KSA_CPU_PROFILE=1: print (and reset) the ticks spent per phase since the last report, as JSON */
void ksa_cpu_profile_report(FILE *f);

#ifdef __cplusplus
}
#endif
#endif /* KSA_CPU_INTERNAL_H */
