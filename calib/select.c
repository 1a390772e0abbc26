/* select.c: from a coverage tensor to a Kascade plan: importance-weighted layer similarity, exact
 * anchor selection by dynamic programming over (anchors used, segment end) in O(K N^2) with row
 * prefix sums, and per-layer head maps by argmax (docs/METHOD.md, "Calibration"). Tensor-parallel
 * plans restrict the max and the argmax to the reuse head's own shard of KV heads, so the anchors
 * are chosen for the coverage the sharded maps can actually reach. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib_internal.h"

#define MAX_LAYERS 65536

static size_t cov_at(int32_t n, int32_t h, int32_t a, int32_t b, int32_t hb, int32_t ha)
{
    return (((size_t)a * (size_t)n + (size_t)b) * (size_t)h + (size_t)hb) * (size_t)h + (size_t)ha;
}

static ksa_status check_sizes(const char *fn, int32_t n, int32_t h)
{
    if (n < 1 || n > MAX_LAYERS)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: num_layers is %d; it must be in 1..%d", fn, n, MAX_LAYERS);
    if (h < 1 || h > KSA_MAX_KV_HEADS)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: num_kv_heads is %d; it must be in 1..%d", fn, h, KSA_MAX_KV_HEADS);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_check_shards(const char *what, int32_t h, int32_t shards, ksa_status code)
{
    if (shards < 1 || shards > h)
        return ksa_error(code, "%s: num_shards is %d; it must be in 1..%d (num_kv_heads)", what, shards, h);
    if (h % shards != 0)
        return ksa_error(code,
                         "%s: num_kv_heads %d is not divisible by num_shards %d; ksa shards KV heads in equal contiguous "
                         "blocks, as vLLM and SGLang do",
                         what, h, shards);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_similarity_sharded(const double *cov, const double *w, int32_t n, int32_t h, int32_t shards, double *sim)
{
    ksa_clear_error();
    static const char *fn = "ksa_calib_similarity";
    ksa_status st = check_sizes(fn, n, h);
    if (st) return st;
    if ((st = ksa_calib_check_shards(fn, h, shards, KSA_STATUS_INVALID_ARGUMENT))) return st;
    if (!cov) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: coverage is NULL", fn);
    if (!sim) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: sim is NULL", fn);
    if (w)
        for (int32_t b = 0; b < n; b++)
            if (!isfinite(w[b]) || w[b] < 0.0)
                return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: importance[%d] is %g; it must be finite and non-negative", fn, b,
                                 w[b]);
    int32_t shard_size = h / shards;
    for (int32_t a = 0; a < n; a++)
        for (int32_t b = 0; b < n; b++) {
            if (b < a) {
                sim[(size_t)a * n + b] = 0.0;
                continue;
            }
            double total = 0.0;
            for (int32_t hb = 0; hb < h; hb++) {
                double best = -INFINITY;
                int32_t first = ksa_calib_shard_first(hb, shard_size);
                for (int32_t ha = first; ha < first + shard_size; ha++) {
                    double m = cov[cov_at(n, h, a, b, hb, ha)];
                    if (!isfinite(m))
                        return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                                         "%s: coverage[%d][%d][%d][%d] is %g (layer pair %d -> %d has no statistics?)", fn, a, b,
                                         hb, ha, m, a, b);
                    if (m > best) best = m;
                }
                total += best;
            }
            sim[(size_t)a * n + b] = (w ? w[b] : 1.0) * total / (double)h;
        }
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_similarity(const double *cov, const double *w, int32_t n, int32_t h, double *sim)
{
    return ksa_calib_similarity_sharded(cov, w, n, h, 1, sim);
}

/* The DP shared by the single-K and the range entry points. F[k][s] (k = 1..kmax, s = 0..n): the
 * best score for layers 0..s-1 split into k segments, the first anchored at layer 0; choice[k][s]
 * the anchor of the last segment. seg(a, e) = pre[a][e] = sum_{j=a}^{e-1} sim(a, j). */
typedef struct dp_tables {
    int32_t n, kmax;
    double *pre;    /* [n][n + 1] */
    double *F;      /* [kmax + 1][n + 1] */
    int32_t *choice;
} dp_tables;

static void dp_free(dp_tables *t)
{
    free(t->pre);
    free(t->F);
    free(t->choice);
}

static ksa_status dp_run(const char *fn, const double *sim, int32_t n, int32_t kmax, dp_tables *t)
{
    memset(t, 0, sizeof *t);
    if (n < 1 || n > MAX_LAYERS)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: num_layers is %d; it must be in 1..%d", fn, n, MAX_LAYERS);
    if (kmax < 1 || kmax > n)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: the number of anchors is %d; it must be in 1..%d (num_layers)", fn,
                         kmax, n);
    if (!sim) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: sim is NULL", fn);
    for (int32_t a = 0; a < n; a++)
        for (int32_t b = a; b < n; b++)
            if (!isfinite(sim[(size_t)a * n + b]))
                return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: sim[%d][%d] is not finite", fn, a, b);
    size_t w = (size_t)n + 1;
    t->n = n;
    t->kmax = kmax;
    t->pre = malloc(sizeof(double) * (size_t)n * w);
    t->F = malloc(sizeof(double) * ((size_t)kmax + 1) * w);
    t->choice = malloc(sizeof(int32_t) * ((size_t)kmax + 1) * w);
    if (!t->pre || !t->F || !t->choice) {
        dp_free(t);
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate the DP tables for %d layers", fn, n);
    }
    for (int32_t a = 0; a < n; a++) {
        double *row = t->pre + (size_t)a * w;
        for (int32_t e = 0; e <= a; e++) row[e] = 0.0;
        for (int32_t e = a + 1; e <= n; e++) row[e] = row[e - 1] + sim[(size_t)a * n + (e - 1)];
    }
    for (size_t i = 0; i < ((size_t)kmax + 1) * w; i++) {
        t->F[i] = -INFINITY;
        t->choice[i] = -1;
    }
    for (int32_t s = 1; s <= n; s++) {
        t->F[1 * w + s] = t->pre[s]; /* segment [0, s) anchored at 0 */
        t->choice[1 * w + s] = 0;
    }
    for (int32_t k = 2; k <= kmax; k++)
        for (int32_t s = k; s <= n; s++) {
            double best = -INFINITY;
            int32_t arg = -1;
            for (int32_t a = k - 1; a <= s - 1; a++) {
                double v = t->F[(size_t)(k - 1) * w + a] + t->pre[(size_t)a * w + s];
                if (v > best) {
                    best = v;
                    arg = a;
                }
            }
            t->F[(size_t)k * w + s] = best;
            t->choice[(size_t)k * w + s] = arg;
        }
    return KSA_STATUS_SUCCESS;
}

static void dp_backtrack(const dp_tables *t, int32_t k, int32_t *anchors)
{
    size_t w = (size_t)t->n + 1;
    int32_t s = t->n;
    for (int32_t i = k; i >= 2; i--) {
        int32_t a = t->choice[(size_t)i * w + s];
        anchors[i - 1] = a;
        s = a;
    }
    anchors[0] = 0;
}

ksa_status ksa_calib_select_anchors(const double *sim, int32_t n, int32_t k, int32_t *anchors, double *score,
                                    double *segment_scores)
{
    ksa_clear_error();
    if (!anchors) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_select_anchors: anchors is NULL");
    dp_tables t;
    ksa_status st = dp_run("ksa_calib_select_anchors", sim, n, k, &t);
    if (st) return st;
    dp_backtrack(&t, k, anchors);
    if (score) *score = t.F[(size_t)k * ((size_t)n + 1) + n];
    if (segment_scores)
        for (int32_t i = 0; i < k; i++) {
            int32_t e = i + 1 < k ? anchors[i + 1] : n;
            segment_scores[i] = t.pre[(size_t)anchors[i] * ((size_t)n + 1) + e];
        }
    dp_free(&t);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_select_anchors_range(const double *sim, int32_t n, int32_t kmax, double *scores, int32_t *table)
{
    ksa_clear_error();
    if (!scores) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_select_anchors_range: scores is NULL");
    if (!table) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_select_anchors_range: anchor_table is NULL");
    dp_tables t;
    ksa_status st = dp_run("ksa_calib_select_anchors_range", sim, n, kmax, &t);
    if (st) return st;
    for (int32_t k = 1; k <= kmax; k++) {
        int32_t *row = table + (size_t)(k - 1) * kmax;
        for (int32_t i = 0; i < kmax; i++) row[i] = -1;
        dp_backtrack(&t, k, row);
        scores[k - 1] = t.F[(size_t)k * ((size_t)n + 1) + n];
    }
    dp_free(&t);
    return KSA_STATUS_SUCCESS;
}

static ksa_status check_anchors(const char *fn, const int32_t *anchors, int32_t k, int32_t n)
{
    if (!anchors) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: anchors is NULL", fn);
    if (k < 1 || k > n)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: num_anchors is %d; it must be in 1..%d", fn, k, n);
    if (anchors[0] != 0) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: anchors[0] is %d; layer 0 must be an anchor", fn, anchors[0]);
    for (int32_t i = 1; i < k; i++)
        if (anchors[i] <= anchors[i - 1] || anchors[i] >= n)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                             "%s: anchors[%d] is %d; anchors must be strictly increasing layers below %d", fn, i, anchors[i], n);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_head_maps_sharded(const double *cov, int32_t n, int32_t h, int32_t shards, const int32_t *anchors, int32_t k,
                                       int32_t *maps)
{
    ksa_clear_error();
    static const char *fn = "ksa_calib_head_maps";
    ksa_status st = check_sizes(fn, n, h);
    if (st) return st;
    if ((st = ksa_calib_check_shards(fn, h, shards, KSA_STATUS_INVALID_ARGUMENT))) return st;
    if (!cov) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: coverage is NULL", fn);
    if (!maps) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: head_maps is NULL", fn);
    st = check_anchors(fn, anchors, k, n);
    if (st) return st;
    int32_t shard_size = h / shards;
    for (int32_t i = 0; i < k; i++) {
        int32_t a = anchors[i], e = i + 1 < k ? anchors[i + 1] : n;
        for (int32_t g = 0; g < h; g++) maps[(size_t)a * h + g] = g;
        for (int32_t j = a + 1; j < e; j++)
            for (int32_t hb = 0; hb < h; hb++) {
                double best = -INFINITY;
                int32_t arg = -1, first = ksa_calib_shard_first(hb, shard_size);
                for (int32_t ha = first; ha < first + shard_size; ha++) {
                    double m = cov[cov_at(n, h, a, j, hb, ha)];
                    if (!isfinite(m))
                        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: coverage[%d][%d][%d][%d] is %g", fn, a, j, hb, ha, m);
                    if (m > best) {
                        best = m;
                        arg = ha;
                    }
                }
                maps[(size_t)j * h + hb] = arg;
            }
    }
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_head_maps(const double *cov, int32_t n, int32_t h, const int32_t *anchors, int32_t k, int32_t *maps)
{
    return ksa_calib_head_maps_sharded(cov, n, h, 1, anchors, k, maps);
}

ksa_status ksa_calib_solve_sharded(const double *cov, const double *w, int32_t n, int32_t h, int32_t k, int32_t shards,
                                   ksa_calib_plan *out, double *score, double *segment_scores, double *unconstrained_score)
{
    ksa_clear_error();
    static const char *fn = "ksa_calib_solve";
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    ksa_status st = check_sizes(fn, n, h);
    if (st) return st;
    if ((st = ksa_calib_check_shards(fn, h, shards, KSA_STATUS_INVALID_ARGUMENT))) return st;
    if (k < 1 || k > n) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: num_anchors is %d; it must be in 1..%d", fn, k, n);
    /* the same DP without the constraint, for the coverage that sharding costs; with one shard it
     * is the main solve itself */
    const int free_pass = unconstrained_score && shards > 1;
    double *sim = malloc(sizeof(double) * (size_t)n * (size_t)n);
    int32_t *free_anchors = free_pass ? malloc(sizeof(int32_t) * (size_t)k) : NULL;
    if (!sim || (free_pass && !free_anchors)) {
        free(sim);
        free(free_anchors);
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate the similarity matrix", fn);
    }
    double free_score = 0.0, best = 0.0;
    if (free_pass) {
        st = ksa_calib_similarity_sharded(cov, w, n, h, 1, sim);
        if (!st) st = ksa_calib_select_anchors(sim, n, k, free_anchors, &free_score, NULL);
    }
    if (!st) st = ksa_calib_similarity_sharded(cov, w, n, h, shards, sim);
    if (!st) st = ksa_calib_plan_init(out, n, h, k);
    if (!st) st = ksa_calib_select_anchors(sim, n, k, out->anchors, &best, segment_scores);
    if (!st) st = ksa_calib_head_maps_sharded(cov, n, h, shards, out->anchors, k, out->head_maps);
    if (!st) out->num_shards = shards;
    if (!st && score) *score = best;
    if (!st && unconstrained_score) *unconstrained_score = free_pass ? free_score : best;
    free(sim);
    free(free_anchors);
    if (st) ksa_calib_plan_free(out);
    return st;
}

ksa_status ksa_calib_solve(const double *cov, const double *w, int32_t n, int32_t h, int32_t k, ksa_calib_plan *out,
                           double *score, double *segment_scores)
{
    return ksa_calib_solve_sharded(cov, w, n, h, k, 1, out, score, segment_scores, NULL);
}
