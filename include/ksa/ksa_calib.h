/* ksa_calib.h: offline calibration for the Kascade method (docs/METHOD.md "Calibration"): a collector
 * that accumulates per-layer, per-tile, per-KV-head Top-k statistics over many prompts, the coverage
 * tensor M[a][b][h_b][h_a], importance-weighted layer similarity, exact anchor selection by dynamic
 * programming, head maps, and the files that carry the result (.npy head-map tables in the format of
 * the shipped calibrations and the text schedule file of calib/SCHEDULE-FORMAT.md). Every function
 * returns a ksa_status; failures leave a sentence in ksa_last_error(). */
#ifndef KSA_KSA_CALIB_H
#define KSA_KSA_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "ksa/ksa.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- .npy files */
/* The subset of NumPy's .npy format ksa reads and writes: little-endian int32 ('<i4'), float32
 * ('<f4') and float64 ('<f8'), C order, format versions 1.0, 2.0 and 3.0, at most
 * KSA_NPY_MAX_DIMS dimensions. Anything else is KSA_STATUS_INVALID_FILE with a sentence. */
#define KSA_NPY_MAX_DIMS 8

typedef enum ksa_npy_dtype {
    KSA_NPY_INVALID = 0,
    KSA_NPY_I32 = 1,
    KSA_NPY_F32 = 2,
    KSA_NPY_F64 = 3
} ksa_npy_dtype;

typedef struct ksa_npy_array {
    ksa_npy_dtype dtype;
    int32_t ndim;                      /* 0 for a scalar */
    int64_t shape[KSA_NPY_MAX_DIMS];
    int64_t numel;                     /* product of the shape (1 for a scalar) */
    void *data;                        /* numel elements, C order; owned, release with ksa_npy_free */
} ksa_npy_array;

/* Bytes per element of a dtype (0 for KSA_NPY_INVALID). */
KSA_API size_t ksa_npy_dtype_size(ksa_npy_dtype dtype);
/* Read a file (IO_ERROR when it cannot be opened/read, INVALID_FILE when malformed). */
KSA_API ksa_status ksa_npy_read(const char *path, ksa_npy_array *out);
/* Parse an in-memory image of a .npy file (what ksa_npy_read does after reading the bytes). */
KSA_API ksa_status ksa_npy_parse(const void *bytes, size_t size, ksa_npy_array *out);
/* Release out->data and zero the struct (safe on a zeroed struct). */
KSA_API void ksa_npy_free(ksa_npy_array *array);
/* Write a C-order little-endian array (format 1.0; 64-byte aligned header like NumPy's). */
KSA_API ksa_status ksa_npy_write(const char *path, ksa_npy_dtype dtype, int32_t ndim, const int64_t *shape,
                                 const void *data);

/* ---------------------------------------------------------------- plans */
/* A Kascade plan: anchor layers (strictly increasing, layer 0 first) and the head-map table
 * int32 [num_layers, num_kv_heads] (row l: which anchor KV head each KV head of layer l reuses;
 * anchor rows are the identity).
 *
 * Tensor parallelism: a plan made for num_shards > 1 splits the KV heads into num_shards equal
 * contiguous blocks (shard s holds KV heads s*H/num_shards .. (s+1)*H/num_shards - 1, the way vLLM
 * and SGLang shard attention heads; num_kv_heads must be divisible by num_shards), and every head
 * map stays inside its block: head_maps[l][g] lies in g's shard, so no rank ever needs another
 * rank's index sets. Each rank runs its block through ksa_schedule_set_head_range. */
#define KSA_CALIB_MODEL_MAX 128

typedef struct ksa_calib_plan {
    int32_t num_layers;
    int32_t num_kv_heads;
    int32_t num_anchors;
    int32_t *anchors;   /* [num_anchors], owned */
    int32_t *head_maps; /* [num_layers * num_kv_heads], owned */
    char model[KSA_CALIB_MODEL_MAX]; /* optional model name ("" when unknown) */
    int32_t num_shards; /* shards the head maps respect (see above); 0 and 1 both mean unsharded */
} ksa_calib_plan;

/* Allocate a plan of this size: anchors {0}, identity maps everywhere. */
KSA_API ksa_status ksa_calib_plan_init(ksa_calib_plan *plan, int32_t num_layers, int32_t num_kv_heads,
                                       int32_t num_anchors);
KSA_API void ksa_calib_plan_free(ksa_calib_plan *plan);
/* Check a plan: sizes, anchors strictly increasing from 0, maps in range, anchor rows identity,
 * num_shards dividing num_kv_heads and every map entry inside its head's shard.
 * INVALID_ARGUMENT with a sentence naming the first problem. */
KSA_API ksa_status ksa_calib_plan_validate(const ksa_calib_plan *plan);
/* Anchors of the plan from a shipped file name "<model>_layers_0_2_8_13_14.npy": fills anchors
 * (room for max_anchors), *n_anchors and, when model is not NULL, the model part of the name.
 * INVALID_ARGUMENT when the name has no "_layers_<a>_<b>..." part. */
KSA_API ksa_status ksa_calib_anchors_from_filename(const char *path, int32_t *anchors, int32_t max_anchors,
                                                   int32_t *n_anchors, char *model, size_t model_len);
/* Load a head-map table .npy (int32 [layers, kv_heads]) as a plan. anchors == NULL: take them from
 * the file name (see above). The result is validated; a table whose anchor rows are not the
 * identity is INVALID_FILE. A .npy table carries no shard count: the plan has num_shards 1. */
KSA_API ksa_status ksa_calib_plan_load_npy(const char *path, const int32_t *anchors, int32_t n_anchors,
                                           ksa_calib_plan *out);
/* Write the head-map table as int32 [num_layers, num_kv_heads] .npy. */
KSA_API ksa_status ksa_calib_plan_save_npy(const ksa_calib_plan *plan, const char *path);
/* Schedule file (calib/SCHEDULE-FORMAT.md): a small line-based text format carrying the model
 * name, sizes, shard count, anchors and every layer's head map (a file without a shard count
 * reads as 1 shard). */
KSA_API ksa_status ksa_calib_plan_load(const char *path, ksa_calib_plan *out);
KSA_API ksa_status ksa_calib_plan_parse(const char *text, size_t len, ksa_calib_plan *out);
KSA_API ksa_status ksa_calib_plan_save(const ksa_calib_plan *plan, const char *path);
/* Apply the plan to a schedule (ksa_schedule_set_kascade). The schedule must have been created
 * with the plan's num_layers and num_kv_heads, and its KV-head range (ksa_schedule_set_head_range;
 * default: all heads, 1 shard) must be one of the plan's num_shards shards: a plan calibrated for
 * another shard count is INVALID_ARGUMENT with a sentence saying both counts. */
KSA_API ksa_status ksa_calib_plan_apply(const ksa_calib_plan *plan, ksa_schedule sched);

/* ---------------------------------------------------------------- selection */
/* Coverage tensors are float64 [N, N, H, H] in C order: M[a][b][h_b][h_a] at
 * ((a * N + b) * H + h_b) * H + h_a, meaningful for a <= b (entries with a > b are ignored).
 * Similarity matrices are float64 [N, N]: sim[a * N + b], meaningful for a <= b. */

/* sim(a, b) = w_b * mean over h_b of max over h_a of M[a][b][h_b][h_a], for a <= b (0 for a > b).
 * importance == NULL: w = 1. Non-finite coverage for a needed pair is INVALID_ARGUMENT. */
KSA_API ksa_status ksa_calib_similarity(const double *coverage, const double *importance, int32_t num_layers,
                                        int32_t num_kv_heads, double *sim);

/* Exact anchor selection: K anchors, layer 0 first, splitting 0..N-1 into consecutive segments
 * [a_i, a_{i+1}) that maximise sum_i sum_{j in segment i} sim(a_i, j). Dynamic program in O(K N^2)
 * time with prefix sums. Writes anchors[K] (increasing), *score and, when segment_scores is not
 * NULL, each segment's share [K]. Ties go to the smallest anchor positions in backtracking order. */
KSA_API ksa_status ksa_calib_select_anchors(const double *sim, int32_t num_layers, int32_t num_anchors,
                                            int32_t *anchors, double *score, double *segment_scores);
/* The same DP once for every K = 1..max_anchors: scores[K-1] and anchors row K-1 of the
 * [max_anchors, max_anchors] table anchor_table (row K-1 holds K anchors, the rest -1). */
KSA_API ksa_status ksa_calib_select_anchors_range(const double *sim, int32_t num_layers, int32_t max_anchors,
                                                  double *scores, int32_t *anchor_table);
/* Head maps: for layer j in the segment of anchor a (j != a), m_j[h_b] = argmax over h_a of
 * M[a][j][h_b][h_a] (first maximum on ties); anchor rows are the identity. head_maps: int32 [N, H]. */
KSA_API ksa_status ksa_calib_head_maps(const double *coverage, int32_t num_layers, int32_t num_kv_heads,
                                       const int32_t *anchors, int32_t num_anchors, int32_t *head_maps);

/* Shard-constrained versions for tensor parallelism (num_shards equal contiguous KV-head blocks,
 * see ksa_calib_plan): the max in the similarity and the argmax of the head maps run only over the
 * h_a in h_b's shard, so anchor selection optimises what the sharded head maps can reach.
 * num_shards 1 gives the unconstrained functions above. num_shards must divide num_kv_heads
 * (INVALID_ARGUMENT with a sentence otherwise); coverage entries outside the shards are not read. */
KSA_API ksa_status ksa_calib_similarity_sharded(const double *coverage, const double *importance, int32_t num_layers,
                                                int32_t num_kv_heads, int32_t num_shards, double *sim);
KSA_API ksa_status ksa_calib_head_maps_sharded(const double *coverage, int32_t num_layers, int32_t num_kv_heads,
                                               int32_t num_shards, const int32_t *anchors, int32_t num_anchors,
                                               int32_t *head_maps);

/* ---------------------------------------------------------------- statistics collector */
/* The collector is fed one step (a batch of prompts) at a time, layer by layer in increasing layer
 * order, with either the tensors of the layer's attention call (exact: pooled post-softmax
 * distributions on the reference path, coverage by mass) or the index sets an ANCHOR call wrote on
 * any backend (coverage by set overlap |I^a ∩ I^b| / |I^b|, no local mass, because the
 * distribution is not known). Each sequence of the batch is one prompt: the minimum over its tiles
 * is added to the mean over prompts.
 *
 * Memory: while a step is open the collector keeps every fed layer's index sets, padded to the
 * layer's largest selection: B * Hkv * sampled tiles * max k_sel int32 per layer (with tile_stride s
 * only every s-th tile is kept), plus Hkv float64 rows of Lk while a layer is processed. A 32-layer,
 * 8-KV-head model at Lq = Lk = 8192, T = 32, f = 0.1 (k_sel <= 864) needs up to
 * 32 * 8 * 256 * 864 * 4 B = 226 MB per sequence of the step (tile_stride 4: 57 MB). Persistent
 * state is N^2 H^2 float64 sums and N^2 counts (32 layers, 8 heads: 0.5 MB).
 * Time: the q/k path recomputes dense attention in scalar float64 through the reference (about 1 s
 * per layer for one 1024-token prompt with 32 query / 8 KV heads, D = 128, measured on one core of
 * the development machine; it grows with Lq * Lk). The index-set path costs O(N H^2 k) per tile.
 * A collector is not thread-safe: use it from one thread at a time. */
typedef struct ksa_calib_collector_s *ksa_calib_collector;

typedef struct ksa_calib_options {
    int32_t tile_stride; /* use every tile_stride-th query tile of a prefill step (1 = all); >= 1 */
} ksa_calib_options;

KSA_API ksa_calib_options ksa_calib_options_default(void);
KSA_API ksa_status ksa_calib_collector_create(int32_t num_layers, int32_t num_kv_heads,
                                              const ksa_calib_options *options, ksa_calib_collector *out);
KSA_API void ksa_calib_collector_destroy(ksa_calib_collector c);
/* Open a step (drops index sets of a step left open). */
KSA_API ksa_status ksa_calib_collector_begin_step(ksa_calib_collector c);
/* Feed layer `layer` of the open step from the tensors of its attention call on `dev`: q and k
 * (and v, o, which are not read or written) as for ksa_attention; params gives phase, scale and
 * the Top-k rule (mode is ignored; indices/counts/head_map in tensors are ignored). q/k must be in
 * host memory (devices "reference" and "cpu"); copy device tensors to the host first. */
KSA_API ksa_status ksa_calib_collector_add_attention(ksa_calib_collector c, int32_t layer, ksa_device dev,
                                                     const ksa_attention_params *params,
                                                     const ksa_attention_tensors *tensors);
/* Feed layer `layer` from host copies of an ANCHOR call's outputs: indices int32 [B, Hkv, n_tiles,
 * k_slots] and counts int32 [B, Hkv, n_tiles] (decode: n_tiles = 1), both C-contiguous. A set
 * with count 0 (no candidates) is skipped; a set repeating a key is refused (INVALID_ARGUMENT,
 * nothing fed), since a repeat would inflate the coverage. */
KSA_API ksa_status ksa_calib_collector_add_indices(ksa_calib_collector c, int32_t layer, int32_t batch,
                                                   int64_t n_tiles, int64_t k_slots, const int32_t *indices,
                                                   const int32_t *counts);
/* Same, reading tensors->indices and tensors->counts of an ANCHOR call straight from `dev` (host
 * memory, a ksa_buffer, or a device pointer; C-contiguous int32, prefill 4-D / decode 3-D indices);
 * other tensors are ignored. Copies through the host on `stream` (allocates). */
KSA_API ksa_status ksa_calib_collector_add_anchor_result(ksa_calib_collector c, int32_t layer, ksa_device dev,
                                                         ksa_stream stream, const ksa_attention_tensors *tensors);
/* Close the step: fold each sequence's minimum over tiles into the running means. */
KSA_API ksa_status ksa_calib_collector_end_step(ksa_calib_collector c);
/* Layer importance from the attention input x and the attention output (before the residual
 * add), host float32 [n_tokens, hidden] each, row stride `row_stride` elements (0 = hidden):
 * accumulates 1 - cosine(x, x + attn_out) per token (a token with a zero vector counts 0). */
KSA_API ksa_status ksa_calib_collector_add_importance(ksa_calib_collector c, int32_t layer, int64_t n_tokens,
                                                      int64_t hidden, int64_t row_stride, const float *x,
                                                      const float *attn_out);
/* Results so far. coverage: float64 [N, N, H, H] (NaN where pair (a <= b) has no sample; 0 for
 * a > b); samples: optional int64 [N, N] prompts per pair. importance: float64 [N], mean of the
 * per-token values; KSA_STATUS_NOT_FOUND (and NaN rows) when some layer has none. */
KSA_API ksa_status ksa_calib_collector_coverage(ksa_calib_collector c, double *coverage, int64_t *samples);
KSA_API ksa_status ksa_calib_collector_importance(ksa_calib_collector c, double *importance);
/* Statistics files for ksa-calibrate: coverage as float64 [N, N, H, H] .npy and, when
 * importance_path is not NULL, importance as float64 [N] .npy. */
KSA_API ksa_status ksa_calib_collector_save(ksa_calib_collector c, const char *coverage_path,
                                            const char *importance_path);

/* ---------------------------------------------------------------- one-call calibration */
/* From a coverage tensor (and optional importance) to a plan with K anchors: similarity, DP,
 * head maps. segment_scores: optional [K]. */
KSA_API ksa_status ksa_calib_solve(const double *coverage, const double *importance, int32_t num_layers,
                                   int32_t num_kv_heads, int32_t num_anchors, ksa_calib_plan *out,
                                   double *score, double *segment_scores);
/* The same under the shard constraint: a plan with num_shards set whose head maps stay inside
 * their shards, its score (*score) and, when unconstrained_score is not NULL, the best score of K
 * anchors without the constraint on the same statistics; unconstrained_score - score is the
 * coverage that sharding costs (0 when num_shards is 1). */
KSA_API ksa_status ksa_calib_solve_sharded(const double *coverage, const double *importance, int32_t num_layers,
                                           int32_t num_kv_heads, int32_t num_anchors, int32_t num_shards,
                                           ksa_calib_plan *out, double *score, double *segment_scores,
                                           double *unconstrained_score);

#ifdef __cplusplus
}
#endif
#endif /* KSA_KSA_CALIB_H */
