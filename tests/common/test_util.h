/* test_util.h: shared test helpers. A ktest_config describes one random attention problem (mode,
 * phase, dtype, heads, lengths, layout, Top-k parameters); ktest_problem_create builds its tensors
 * on any device through the public API with random (never zero) data; ktest_problem_run poisons
 * the outputs and runs ksa_attention; ktest_problem_check compares with the reference using the
 * library's one set of tolerances (dispatch/check.c). Used by every backend's tests. */
#ifndef KSA_TEST_UTIL_H
#define KSA_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ksa/ksa.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ktest_kv_layout { KTEST_KV_CONTIGUOUS = 0, KTEST_KV_RAGGED = 1, KTEST_KV_PAGED = 2 } ktest_kv_layout;

/* One non-finite input element (docs/SEMANTICS.md, "Non-finite inputs"), always in sequence 0 and
 * KV head 0 / query head 0: q of query Lq/2 (decode: 0) dim 0 = NaN; k of key Lk/3 dim 1 = NaN;
 * k of key Lk/3 dim 2 = +inf; v of key 0 dim 3 = NaN. */
typedef enum ktest_nonfinite {
    KTEST_FINITE = 0,
    KTEST_NAN_Q = 1,
    KTEST_NAN_K = 2,
    KTEST_INF_K = 3,
    KTEST_NAN_V = 4
} ktest_nonfinite;

typedef struct ktest_config {
    ksa_mode mode;
    ksa_phase phase;
    ksa_dtype dtype;
    int32_t batch, hq, hkv, head_dim;
    int32_t lq, lk;          /* per sequence (decode: lq is forced to 1); maxima when vary_lengths */
    int32_t vary_lengths;    /* sequences get different lengths (deterministic from seed) */
    int32_t ragged_q;        /* q/o as [total_q, Hq, D] + cu_seqlens_q */
    ktest_kv_layout kv;      /* contiguous (with seq_lens_k when vary_lengths), ragged or paged */
    int32_t page_size;       /* paged: default 16; pages are shuffled */
    int32_t with_lse;
    int32_t strided;         /* q/k/v/o with padded head and token strides (non-contiguous views) */
    int32_t use_head_map;    /* REUSE: a random head map instead of the identity */
    int32_t anchor_dense_output;
    int32_t topk_set;        /* 0: ksa_topk_default(); 1: use .topk */
    ksa_topk_params topk;
    ktest_nonfinite nonfinite; /* one NaN / inf input element (head_dim >= 4) */
    int32_t repeat_keys;     /* contiguous K/V: > 0 repeats the first repeat_keys key rows of each sequence
                              * (key j's rows are key j % repeat_keys's), so scores tie exactly across
                              * the whole list (Top-k tie handling) */
    int32_t length_bounds;   /* params.max_seqlen_q / _k at the capacities (q's rows for a ragged q, the K/V's
                              * keys per sequence), above the lengths: CUDA / HIP then read no lengths back */
    float boost_key;         /* > 0: key Lk*2/3 of sequence 0, KV head 0 becomes random signs times values in
                              * [boost_key / 2, boost_key], so that the scores of many rows jump far above
                              * their running maxima there (the kernels' online-softmax rescale paths) */
    uint64_t seed;
} ktest_config;

/* A sensible small default: prefill DENSE f32, B 2, Hq 4, Hkv 2, D 64, Lq = Lk = 80. */
ktest_config ktest_config_default(void);
/* Short description for messages ("anchor prefill bf16 B2 Hq8/2 D128 Lq80 Lk200 paged ..."). */
const char *ktest_config_string(const ktest_config *c, char *buf, size_t len);

#define KTEST_MAX_BUFFERS 16
typedef struct ktest_problem {
    ksa_device dev;
    ktest_config cfg;
    ksa_attention_params params;
    ksa_attention_tensors tensors;
    ksa_buffer buffers[KTEST_MAX_BUFFERS];
    int32_t num_buffers;
    int32_t head_map_host[256];
    ksa_buffer workspace_buffer;
    ksa_workspace workspace;
} ktest_problem;

/* Build the problem on `dev` (inputs random; REUSE index sets random valid candidates). */
ksa_status ktest_problem_create(ksa_device dev, const ktest_config *cfg, ktest_problem *out);
/* Poison o, lse (and indices/counts for ANCHOR) with NaN/garbage, then ksa_attention + synchronize. */
ksa_status ktest_problem_run(ktest_problem *p);
/* Run with a configuration override (NULL: none) and read the outputs back: obytes of o and, when
 * ibytes, of the indices; a failed run fails the cmocka case. For same-bits comparisons. */
void ktest_problem_run_bytes(ktest_problem *p, const char *override, unsigned char *o, size_t obytes, unsigned char *idx,
                             size_t ibytes);
/* Compare with the reference (tie-tolerant for index sets). report gets a sentence either way. */
ksa_status ktest_problem_check(ktest_problem *p, char *report, size_t report_len);
void ktest_problem_destroy(ktest_problem *p);

/* Bounded device lengths out of contract (a backend with device_lengths): dense and anchor decode
 * over pages of 16 with params.max_seqlen_k bounding seq_lens_k; seq_lens_k = {bound + 5000, -7, 0}
 * must give, bit for bit, the outputs of the clamped lengths {bound, 1, 1}, which the reference
 * confirms. Fails the cmocka case otherwise. */
void ktest_lengths_clamped_on_device(ksa_device dev, int head_dim, uint64_t seed);

/* create + run + check + destroy; prints the config and the report on failure; returns status. */
ksa_status ktest_run_and_check(ksa_device dev, const ktest_config *cfg);

/* A context shared by a test program (created on first use, destroyed at exit). */
ksa_context ktest_context(void);
/* Open a device by name; NULL (and prints why) when absent, so GPU tests can skip. */
ksa_device ktest_open_device(const char *name);

/* ---- skips that ctest sees. A test case that cannot run here calls ktest_skip("why", ...): it
 * prints "SKIP: why" and skips the cmocka case, counted. main() returns ktest_run_group(tests,
 * setup, teardown) instead of cmocka_run_group_tests: cmocka's failure count when something
 * failed, else KTEST_SKIP_CODE when every case that ran was skipped (registered as ctest's
 * SKIP_RETURN_CODE, so the summary lists the program as skipped, not passed), else 0. The group
 * honours KSA_TEST_FILTER (cmocka's * and ? patterns on the case names). */
#define KTEST_SKIP_CODE 77
struct CMUnitTest;
void ktest_note_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define ktest_skip(...)                                                                                      \
    do {                                                                                                     \
        ktest_note_skip(__VA_ARGS__);                                                                        \
        skip();                                                                                              \
    } while (0)
/* Applies KSA_TEST_FILTER; call before cmocka_run_group_tests (ktest_run_group does). */
void ktest_apply_filter(void);
int ktest_group_result(int failed, const struct CMUnitTest *tests, size_t num_tests);
#define ktest_run_group(tests, setup, teardown)                                                              \
    (ktest_apply_filter(),                                                                                   \
     ktest_group_result(cmocka_run_group_tests(tests, setup, teardown), tests, sizeof(tests) / sizeof((tests)[0])))

/* KSA_TEST_QUICK set to anything but "" or "0": run the CI-sized subset of a long GPU grid. */
int ktest_quick(void);

/* Deterministic PRNG (splitmix64) for tests. */
uint64_t ktest_rand_u64(uint64_t *state);
/* a[i] = i for i < n, then shuffled (Fisher-Yates from `state`): the physical page of each logical page */
void ktest_random_permutation(int32_t *a, int64_t n, uint64_t *state);
double ktest_rand_uniform(uint64_t *state, double lo, double hi);
/* n values of dtype dt (f32, f16 or bf16), uniform in [lo, hi) with |x| >= 1e-3 (never zero), in
 * malloc'd host memory the caller frees; NULL when out of memory. */
void *ktest_random_floats(ksa_dtype dt, int64_t n, uint64_t *rng, double lo, double hi);

/* A 6-layer Kascade schedule step (anchors 0 and 3, small Top-k budget) on `dev`: every layer's
 * output through ksa_schedule_run_layer must equal (bit for bit) a direct ksa_attention call with
 * the equivalent mode, index tensors of the test's own and head map, and each direct call must agree
 * with the reference. Works on any device (buffers only). Returns SUCCESS or the first failure (with
 * a line printed); *workspace_bytes gets the planned workspace size. */
ksa_status ktest_schedule_step_matches_direct(ksa_device dev, ksa_phase phase, uint64_t seed, size_t *workspace_bytes);

/* Run a grid over modes x phases x dtypes x layouts on `dev` with a few shapes; returns the number
 * of failures (each printed). `quick` keeps it to a CI-sized subset. Backends' tests call this. */
int ktest_run_standard_grid(ksa_device dev, int quick, const ksa_dtype *dtypes, int num_dtypes, const int32_t *head_dims,
                            int num_head_dims);

/* ---------------------------------------------------------------- selection sizes (test_budget_table.c) */
/* One row of the hand-computed table of docs/SEMANTICS.md's selection sizes: the count tile t
 * (decode: t = 0) selects for a sequence of lq queries and lk keys under the given Top-k rule. */
typedef struct ktest_count_case {
    int32_t decode;
    int32_t lq, lk, t;
    double fraction;
    int32_t top_k, min_k, multiple, tile, rolling;
    int64_t count;
} ktest_count_case;
extern const ktest_count_case ktest_count_cases[];
extern const int ktest_num_count_cases;
ksa_topk_params ktest_count_case_topk(const ktest_count_case *c);
/* Run ANCHOR calls on `dev` for the table's rows and compare the counts written with the table;
 * returns the number of mismatches (each printed). Unsupported calls are skipped. */
int ktest_check_counts_on_device(ksa_device dev);

#ifdef __cplusplus
}
#endif
#endif /* KSA_TEST_UTIL_H */
