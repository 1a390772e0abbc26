/* ksa_autotune.h: the autotuner inside libksa. The call-time lookup dispatch uses
 * (ksa_autotune_lookup), the shape class and device signature that key the tuning cache, the
 * cache file itself (versioned line format, see autotune/FORMAT.md: parse, lock, merge, atomic
 * write), and the measuring driver behind ksa-tune (candidates run through the public
 * ksa_attention() path with ksa_set_config_override(), each checked against the reference before
 * it may win). Internal: used by dispatch/, tools/tune/ and tests/autotune/. */
#ifndef KSA_AUTOTUNE_H
#define KSA_AUTOTUNE_H

#include <stddef.h>
#include <stdint.h>

#include "ksa/ksa.h"
#include "ksa_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill values[0..space->num_params) with the tuned configuration for this problem on this device;
 * return 1 and set *source to a static string "cache:exact" / "cache:nearest" / "shipped:exact" /
 * "shipped:nearest"; return 0 when there is none (dispatch then uses the backend's built-in
 * heuristic; when that is because an entry records that the built-in measured best, *source is
 * set to e.g. "cache:exact:builtin"). Thread-safe; the cache file and the shipped table are loaded
 * lazily on the first call, and again when the cache file has changed (checked by one stat at
 * most once a second) or after ksa_autotune_reload. Corrupt, truncated or foreign entries are
 * ignored with one warning through the log. No allocation except when (re)loading. */
int ksa_autotune_lookup(ksa_device dev, const ksa_problem *p, const ksa_tunable_space *space, int32_t *values,
                        const char **source);

/* ---------------------------------------------------------------- shape class and signature */
#define KSA_TUNE_FORMAT_VERSION 1
#define KSA_TUNE_FIELD_MAX 128

/* The key of a tuned configuration: (backend, op = mode + phase, dtype, head_dim, group size,
 * key-length bucket, batch bucket, K/V layout). Buckets are the next power of two >= the value. */
typedef struct ksa_tune_class {
    char backend[32];
    int32_t mode;  /* ksa_mode */
    int32_t phase; /* ksa_phase */
    int32_t dtype; /* ksa_dtype */
    int32_t head_dim;
    int32_t group;
    int32_t layout; /* ksa_kv_layout */
    int64_t lk_bucket;
    int64_t batch_bucket;
} ksa_tune_class;

/* The device a tuned entry belongs to. In a cache entry every field is set; a shipped entry may
 * leave fields empty ("" or cu = -1 / ksa = "") to match any device with the other fields. */
typedef struct ksa_tune_signature {
    char backend[32];
    char description[KSA_TUNE_FIELD_MAX];
    char isa[64];
    int32_t compute_units; /* -1: any */
    char driver[64];
    char ksa_version[16];
} ksa_tune_signature;

int64_t ksa_tune_bucket(int64_t v); /* next power of two >= v (1 for v <= 1) */
void ksa_tune_class_of(const ksa_problem *p, const char *backend, ksa_tune_class *out);
void ksa_tune_signature_of(const ksa_device_info *info, ksa_tune_signature *out);
/* 1 when every field set in `entry` equals the device's (the entry applies to the device). */
int ksa_tune_signature_matches(const ksa_tune_signature *entry, const ksa_tune_signature *device);
/* Text forms used in the file and in messages; return `buf`. */
const char *ksa_tune_class_string(const ksa_tune_class *c, char *buf, size_t len);
const char *ksa_tune_signature_string(const ksa_tune_signature *s, char *buf, size_t len);
const char *ksa_tune_op_name(int32_t mode, int32_t phase); /* "dense.prefill" */

/* ---------------------------------------------------------------- the cache file */
typedef struct ksa_tune_entry {
    ksa_tune_signature sig;
    ksa_tune_class cls;
    int32_t num_params; /* 0: a marker "the built-in heuristic measured best for this class" */
    char names[KSA_MAX_TUNABLES][32];
    int32_t values[KSA_MAX_TUNABLES];
    double tuned_us;   /* median time of the winner when it was measured */
    double builtin_us; /* median time of the built-in heuristic, same run */
    int64_t timestamp; /* unix seconds */
} ksa_tune_entry;

/* What a parse found. `lines_bad` counts corrupt/truncated lines (bad checksum or syntax);
 * `bad_version` is set when the header names another format version (nothing is read). */
typedef struct ksa_tune_parse_stats {
    int32_t entries;
    int32_t lines_bad;
    int32_t bad_header;
    int32_t bad_version;
    int32_t first_bad_line;
    char first_problem[160];
} ksa_tune_parse_stats;

/* Parse cache text (the whole file) into *entries (malloc'd, caller frees). Never fails on bad
 * content: bad lines are skipped and counted. OUT_OF_MEMORY only. */
ksa_status ksa_tune_parse(const char *text, size_t len, ksa_tune_entry **entries, int32_t *count,
                          ksa_tune_parse_stats *stats);
/* Write one entry as a line of the format (with its checksum and a trailing newline). */
int ksa_tune_format_entry(const ksa_tune_entry *e, char *buf, size_t len);

/* The cache path: $KSA_TUNE_CACHE, else $XDG_CACHE_HOME/ksa/tune-cache.txt, else
 * ~/.cache/ksa/tune-cache.txt. Returns NULL when KSA_TUNE_CACHE is "off" or no home is known. */
const char *ksa_tune_cache_path(char *buf, size_t len);
/* Read a cache file (missing file = zero entries, SUCCESS). */
ksa_status ksa_tune_cache_read(const char *path, ksa_tune_entry **entries, int32_t *count,
                               ksa_tune_parse_stats *stats);
/* Merge `entries` into the file at `path`: under an exclusive flock on "<path>.lock", read the
 * current file, keep its valid lines (every device's), replace lines with the same signature and
 * class, write a temp file, fsync and rename it over the cache. Creates the folder. */
ksa_status ksa_tune_cache_store(const char *path, const ksa_tune_entry *entries, int32_t count);

/* Drop what the lookup loaded (cache and shipped table); the next lookup reloads from
 * KSA_TUNE_CACHE. For ksa-tune after writing and for tests. Not for concurrent use with lookups
 * on other threads (it takes the writer lock, so it is safe, but lookups then reload). */
void ksa_autotune_reload(void);
/* Thread-local switch: 0 makes ksa_autotune_lookup return 0 on this thread (measures the
 * built-in heuristic); 1 (default) enables it. */
void ksa_autotune_set_enabled(int enabled);

/* What the lookup's last load saw, for tests and ksa-tune --show. */
typedef struct ksa_tune_load_info {
    char path[1024];
    int32_t cache_entries;      /* valid lines in the cache file (any device) */
    int32_t shipped_entries;
    int32_t bad_lines;          /* corrupt or truncated lines, cache + shipped */
    int32_t bad_file;           /* 1: header missing or another format version: file ignored */
    int32_t foreign_entries;    /* lines for other devices or other ksa versions */
    int32_t incompatible;       /* entries naming parameters/values the backend does not have */
    int32_t warnings;           /* warnings issued since the last reload */
    char last_warning[400];
} ksa_tune_load_info;
void ksa_autotune_load_info(ksa_tune_load_info *out);

/* The shipped table (autotune/shipped/ksa-shipped.tune, compiled in). */
const char *ksa_tune_shipped_text(size_t *len);
/* Tests only: use `text` (kept by pointer; NULL = the compiled-in table) as the shipped table, and
 * reload. */
void ksa_autotune_set_shipped_text(const char *text);

/* ---------------------------------------------------------------- the measuring driver */
/* One shape to tune: a synthetic problem built on the device with random data. */
typedef struct ksa_tune_shape {
    ksa_mode mode;
    ksa_phase phase;
    ksa_dtype dtype;
    int32_t batch, hq, hkv, head_dim;
    int32_t lq, lk;    /* decode: lq is 1 */
    int32_t paged;     /* K/V paged (page_size 16 unless set) instead of contiguous */
    int32_t page_size;
    double topk_fraction; /* 0 = default 0.10 */
} ksa_tune_shape;

const char *ksa_tune_shape_string(const ksa_tune_shape *s, char *buf, size_t len);

typedef void (*ksa_tune_progress_fn)(void *user, double fraction, const char *what);

typedef struct ksa_tune_options {
    double budget_s;       /* wall-clock budget for this shape (checks included, building the inputs
                              not); default 60 */
    int32_t warmup;        /* untimed calls before timing; default 2 */
    int32_t repeats;       /* timed samples, median taken; default 9 */
    int32_t sample_calls;  /* calls per timed sample, back to back and closed by one synchronisation:
                              0 (default) = as many as fill ~1 ms (at most 64) on a backend whose
                              tensors are not host memory (a GPU's), 1 elsewhere; N = N everywhere
                              (1: one call, one synchronisation, the timing before 2026-12-02) */
    int32_t max_candidates;/* exhaustive below this, coordinate descent above; default 48 */
    double min_gain;       /* a winner must be this fraction faster than the built-in; default 0.03 */
    int32_t check_max_len; /* reference check shape: Lq, Lk capped to this (prefill); default 300 */
    const char *frozen;    /* comma list of parameter names held at their default ("threads"), or NULL */
    uint64_t seed;
    ksa_tune_progress_fn progress;
    void *progress_user;
    int32_t confirm_rounds; /* rounds of the interleaved confirmation and of the comparison, 3..
                               KSA_TUNE_MAX_ROUNDS; default 5 (0 also means 5) */
} ksa_tune_options;

ksa_tune_options ksa_tune_options_default(void);

#define KSA_TUNE_CONFIG_MAX 256
#define KSA_TUNE_MAX_ROUNDS 15

/* ---------------------------------------------------------------- judging built-in vs another configuration
 * A measurement of the built-in against another configuration (a search winner, or what the lookup
 * picks) is made of R rounds. In each round the two alternate sample by sample (which one goes first
 * swaps every pair and every round; the input sets rotate) and each side's round median is taken.
 * Per round, ratio = built-in median / other median (> 1: the other is faster). From the rounds:
 *   ratio            the median of the R round ratios;
 *   noise band       [ratio_low, ratio_high]: the j-th lowest and j-th highest round ratio, j the
 *                    largest rank (at least 1) whose order-statistic interval holds the true median
 *                    ratio with at least 90% probability whatever the noise's distribution
 *                    (1 - 2 P(Binomial(R, 1/2) <= j - 1) >= 0.90); for R = 3..7 that is [min, max]
 *                    (93.75% at R = 5, only 75% at R = 3), R = 8..10 drop one round each side,
 *                    R = 11..12 two, R = 13..15 three;
 *   built-in band    the built-in's round medians over their median, same ranks: how much the
 *                    machine itself drifted from round to round;
 *   verdict          FASTER when ratio_low > 1, SLOWER when ratio_high < 1, else SAME (within noise).
 * A search winner is stored only when (ksa_tune_rounds_accept) its median of round medians is at
 * least min_gain below the built-in's, at least R - 1 rounds show that gain by themselves
 * (ratio >= 1 / (1 - min_gain)), and ratio_low > 1 (faster in every round of the band). */
typedef enum ksa_tune_verdict {
    KSA_TUNE_SAME = 0,   /* the band contains 1: no difference beyond the noise */
    KSA_TUNE_FASTER = 1, /* ratio_low > 1: the other configuration is faster */
    KSA_TUNE_SLOWER = 2  /* ratio_high < 1: the other configuration is slower */
} ksa_tune_verdict;

typedef struct ksa_tune_rounds {
    int32_t rounds;          /* R, measured */
    int32_t calls_per_round; /* timed samples per side in each round */
    int32_t calls_per_sample; /* back-to-back calls per sample, closed by one synchronisation (1 on host memory) */
    double builtin_ms[KSA_TUNE_MAX_ROUNDS]; /* round medians */
    double other_ms[KSA_TUNE_MAX_ROUNDS];
    double round_ratio[KSA_TUNE_MAX_ROUNDS]; /* builtin_ms[i] / other_ms[i] */
    double builtin_median_ms, other_median_ms; /* medians of the round medians */
    double ratio, ratio_low, ratio_high;       /* median round ratio and its noise band */
    double builtin_low, builtin_high;          /* the built-in's run-to-run band (1 = its median) */
    int32_t band_rank;       /* j above */
    int32_t rounds_gaining;  /* rounds with ratio >= 1 / (1 - min_gain) */
    int32_t verdict;         /* ksa_tune_verdict */
} ksa_tune_rounds;

/* Fill the derived fields of `r` from rounds, builtin_ms[] and other_ms[] (every time > 0).
 * INVALID_ARGUMENT, with a sentence naming the field, when rounds is outside 1..KSA_TUNE_MAX_ROUNDS,
 * a time is not positive or min_gain is outside [0, 1). */
ksa_status ksa_tune_rounds_summarize(ksa_tune_rounds *r, double min_gain);
/* 1 when a summarized measurement admits storing the other configuration as a winner (rule above);
 * else 0 and `why` (optional) gets the sentence saying which condition failed. */
int ksa_tune_rounds_accept(const ksa_tune_rounds *r, double min_gain, char *why, size_t why_len);
/* "faster", "same within noise", "slower". */
const char *ksa_tune_verdict_name(int32_t verdict);

typedef struct ksa_tune_result {
    ksa_tunable_space space;
    int32_t num_candidates; /* in the search space (after the cap) */
    int32_t measured;       /* timed */
    int32_t rejected;       /* failed the reference check, disagreed with the built-in, or the call failed */
    int32_t refused;        /* the backend refused the combination (UNSUPPORTED / INVALID_ARGUMENT) */
    char first_refused[KSA_TUNE_CONFIG_MAX + 256];
    char first_rejected[KSA_TUNE_CONFIG_MAX];
    char reject_reason[256];
    double builtin_ms;
    double best_ms;         /* of the best passing candidate */
    char best_config[KSA_TUNE_CONFIG_MAX];
    int32_t improved;       /* best beats the built-in by min_gain, confirmed: entry holds it */
    int32_t builtin_marker; /* not improved, the search ran: entry is a "built-in is best" marker */
    int32_t confirmed_run;  /* the interleaved confirmation ran (best looked faster in the search) */
    double confirm_builtin_ms, confirm_best_ms; /* its medians of round medians */
    double probe_builtin_ms, probe_best_ms;     /* the same at the buckets' lower edge (0: not run) */
    char probe_note[256];   /* why the lower-edge probe refused the winner ("" when it did not) */
    ksa_tune_rounds confirm; /* the confirmation's rounds (rounds 0: not run) */
    ksa_tune_rounds probe;   /* the lower-edge probe's rounds (rounds 0: not run) */
    char confirm_note[256];  /* why the confirmation refused the winner ("" when it did not) */
    ksa_tune_entry entry;
    int32_t budget_exhausted;
} ksa_tune_result;

/* The candidate configurations the search would start with (the default first), as
 * "name=value,..." strings, and the tunable space; for --dry-run. Builds no tensors. */
ksa_status ksa_tune_list_candidates(ksa_device dev, const ksa_tune_shape *s, const ksa_tune_options *o,
                                    ksa_tunable_space *space, char (*configs)[KSA_TUNE_CONFIG_MAX], int32_t max_configs,
                                    int32_t *count, int32_t *exhaustive);

/* Tune one shape on `dev`: build random inputs (several rotated sets), time the built-in, then
 * each candidate (warm-up + median of repeats); every candidate is first checked against the
 * reference (on a capped shape of the same class) and against the built-in's output on the full
 * shape; a failing candidate is rejected. Fills `r`; r->improved says whether r->entry should be
 * stored. */
ksa_status ksa_tune_shape_run(ksa_device dev, const ksa_tune_shape *s, const ksa_tune_options *o, ksa_tune_result *r);

/* Measure built-in vs tuned lookup for P9: o->confirm_rounds rounds of interleaved calls on the
 * same inputs (see ksa_tune_rounds; "other" is the tuned lookup), at least o->repeats calls per side
 * and round, more for short calls (about 50 ms per side and round, at most 256 calls). */
typedef struct ksa_tune_comparison {
    ksa_tune_rounds rounds;
    double builtin_ms, tuned_ms;     /* medians of the round medians */
    char config[KSA_TUNE_CONFIG_MAX];/* the tuned configuration ("" when the lookup gives the built-in) */
    const char *source;              /* what the lookup used, as *source of ksa_tune_compare */
    int32_t same_code;               /* the lookup gives the built-in: both sides run the same code */
} ksa_tune_comparison;
ksa_status ksa_tune_compare_rounds(ksa_device dev, const ksa_tune_shape *s, const ksa_tune_options *o,
                                   ksa_tune_comparison *out);

/* The same, reduced to the medians of the round medians (the interface before the rounds).
 * *source: what the lookup used ("builtin" when nothing applies). */
ksa_status ksa_tune_compare(ksa_device dev, const ksa_tune_shape *s, const ksa_tune_options *o, double *builtin_ms,
                            double *tuned_ms, char *config, size_t config_len, const char **source);

/* Tests only: the clock that times each measured call (seconds, any origin, non-decreasing), e.g.
 * a simulated one advanced by a fake backend; NULL restores CLOCK_MONOTONIC. The budget keeps the
 * real clock. Not thread-safe: set it before tuning. */
typedef double (*ksa_tune_clock_fn)(void);
void ksa_tune_set_clock(ksa_tune_clock_fn clock);

#ifdef __cplusplus
}
#endif
#endif /* KSA_AUTOTUNE_H */
