/* ref_test_problem.h: helpers of the reference tests. They build a resolved ksa_problem by hand
 * (no dispatch involved) from logical inputs (float64 arrays already representable in the storage
 * dtype), in any layout: contiguous with per-sequence lengths, ragged, paged with shuffled pages,
 * and strided views whose padding holds NaN. Outputs can be poisoned, read back logically and
 * checked for unwritten elements. Also an independent statement of the Top-k budget rules. */
#ifndef REF_TEST_PROBLEM_H
#define REF_TEST_PROBLEM_H

#include <stddef.h>
#include <stdint.h>

#include "ksa_backend.h"
#include "test_util.h" /* ktest_rand_u64, ktest_rand_uniform */

#define RT_MAX_BATCH 8

typedef enum rt_kv { RT_KV_CONTIGUOUS = 0, RT_KV_RAGGED = 1, RT_KV_PAGED = 2 } rt_kv;

typedef struct rt_config {
    ksa_mode mode;
    ksa_phase phase;
    ksa_dtype dtype;
    int32_t batch, hq, hkv, head_dim;
    int32_t lq[RT_MAX_BATCH], lk[RT_MAX_BATCH]; /* decode: lq is 1 whatever is given */
    ksa_topk_params topk;
    int32_t anchor_dense_output;
    float scale; /* 0: 1/sqrt(D) */
    int32_t with_lse;
    const int32_t *head_map; /* REUSE; NULL: identity */
    /* layout */
    int32_t q_ragged;
    rt_kv kv;
    int32_t page_size; /* paged; 0: 16 */
    int32_t strided;   /* padded token/head/batch strides for q, k, v, o, lse, indices, counts */
    uint64_t layout_seed;
} rt_config;

/* Defaults: prefill DENSE f32, B 1, Hq 2, Hkv 1, D 16, Lq = Lk = 40, T 16, min_k 16, multiple 1. */
rt_config rt_config_default(void);

/* Logical inputs: q[b][i][h][d] with i < max_lq, k and v [b][j][g][d] with j < max_lk. */
typedef struct rt_data {
    int32_t batch, hq, hkv, d, max_lq, max_lk;
    double *q, *k, *v;
} rt_data;

/* Random inputs in +-[0.05, 1] (never zero), rounded to the dtype; `spread` scales q (sharper
 * softmax). */
rt_data *rt_data_random(const rt_config *c, uint64_t seed, double spread);
void rt_data_free(rt_data *d);
double *rt_q(const rt_data *d, int32_t b, int64_t i, int32_t h);
double *rt_k(const rt_data *d, int32_t b, int64_t j, int32_t g);
double *rt_v(const rt_data *d, int32_t b, int64_t j, int32_t g);
/* Round x to the storage dtype (through float). */
double rt_round(ksa_dtype dt, double x);

/* The buffers of an rt_problem (row-major over the logical shape unless the config is strided). */
enum rt_buffer_id { RT_BUF_Q, RT_BUF_K, RT_BUF_V, RT_BUF_O, RT_BUF_LSE, RT_BUF_IDX, RT_BUF_CNT, RT_BUF_PT, RT_BUF_CUQ,
                    RT_BUF_CUK, RT_BUF_SLK, RT_BUF_COUNT };

typedef struct rt_problem {
    ksa_problem p;
    rt_config cfg;
    int32_t seqlen_q[RT_MAX_BATCH], seqlen_k[RT_MAX_BATCH], q_row0[RT_MAX_BATCH], k_row0[RT_MAX_BATCH];
    int32_t head_map[KSA_MAX_KV_HEADS];
    void *buf[RT_BUF_COUNT];
    size_t bytes[RT_BUF_COUNT];
} rt_problem;

/* Build the problem over the data `d` in the layout of `c` (outputs poisoned). */
rt_problem *rt_problem_create(const rt_config *c, const rt_data *d);
void rt_problem_free(rt_problem *r);
/* Fill o and lse with NaN and indices/counts (ANCHOR) with 0x7e7e7e7e. */
void rt_problem_poison(rt_problem *r);
/* Run the reference (with no workspace: it allocates). */
ksa_status rt_run(rt_problem *r);

double rt_o(const rt_problem *r, int32_t b, int64_t i, int32_t h, int32_t d);
double rt_lse(const rt_problem *r, int32_t b, int32_t h, int64_t i);
int32_t rt_count(const rt_problem *r, int32_t b, int32_t g, int64_t t);
int32_t rt_index(const rt_problem *r, int32_t b, int32_t g, int64_t t, int64_t s);
void rt_set_count(rt_problem *r, int32_t b, int32_t g, int64_t t, int32_t v);
void rt_set_index(rt_problem *r, int32_t b, int32_t g, int64_t t, int64_t s, int32_t v);
/* Copy the index sets (counts and entries, logically) from src to dst (same n_tiles/k_slots). */
void rt_copy_sets(rt_problem *dst, const rt_problem *src);
int64_t rt_lq(const rt_problem *r, int32_t b); /* 1 in decode */
/* REUSE inputs: random distinct candidate sets of random sizes (0..k_slots) in random order,
 * unused slots -1, tiles past a sequence's end count 0. */
void rt_fill_random_sets(rt_problem *r, uint64_t seed);

/* 0 when every output element was written (o and lse finite, every index slot and count written);
 * else 1 with a sentence in msg. */
int rt_check_written(const rt_problem *r, char *msg, size_t len);

/* Largest |difference| of o (and lse when both have it) between two problems of the same logical
 * shape; index sets must match exactly (returns INFINITY when they do not). */
double rt_max_diff(const rt_problem *a, const rt_problem *b);

/* The budget rules of docs/SEMANTICS.md, restated independently of ksa_backend.h. */
int64_t rt_k_of(const ksa_topk_params *t, int64_t L);
int64_t rt_tile_count(const ksa_topk_params *t, int64_t lq, int64_t lk, int64_t tile);


#endif /* REF_TEST_PROBLEM_H */
