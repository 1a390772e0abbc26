/* collector.c: the calibration statistics collector. Fed one step (a batch of prompts) at a time,
 * layer by layer in increasing order, it keeps the step's Top-k index sets of every fed layer and,
 * when layer b arrives, folds the coverage of b by every earlier layer a (and by itself) into the
 * running mean over prompts of the minimum over tiles: M[a][b][h_b][h_a]
 * (docs/METHOD.md, "Calibration"). Pooled distributions come from the float64 reference
 * (ksa_reference_pooled_scores); index sets may instead come from ANCHOR calls on any backend.
 * Layer importance is accumulated separately from caller-given attention inputs and outputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib_internal.h"
#include "reference/ksa_reference.h"

/* Index sets of one layer in the open step: sets[((s * H + g) * tiles + t) * kslots + i] with
 * counts[(s * H + g) * tiles + t] valid entries (-1: no set for that tile). */
typedef struct layer_sets {
    int32_t present;
    int32_t kslots;
    int32_t *sets;
    int32_t *counts;
} layer_sets;

struct ksa_calib_collector_s {
    int32_t n, h;
    ksa_calib_options opt;
    double *cov_sum;  /* [n][n][h][h] */
    int64_t *cov_cnt; /* [n][n] */
    double *imp_sum;  /* [n] */
    int64_t *imp_cnt; /* [n] */
    /* the open step */
    int32_t step_open;
    int32_t last_layer;
    int32_t batch;     /* -1 until the first layer of the step */
    int32_t tiles;     /* sampled tiles per sequence (maximum over the batch) */
    layer_sets *layers; /* [n] */
    /* scratch: per-sequence minima [n][h][h], a stamp array for set intersections */
    double *tmp_min;
    uint8_t *tmp_seen; /* [n]: layer a contributed a tile for this sequence */
    int32_t *stamp;
    int64_t stamp_len;
    int32_t stamp_gen;
};

static size_t cov_at(const ksa_calib_collector c, int32_t a, int32_t b, int32_t hb, int32_t ha)
{
    return (((size_t)a * c->n + b) * c->h + hb) * c->h + ha;
}

ksa_calib_options ksa_calib_options_default(void)
{
    ksa_calib_options o;
    memset(&o, 0, sizeof o);
    o.tile_stride = 1;
    return o;
}

/* Forget the index sets of one layer of the open step (a failed feed leaves the step consistent). */
static void drop_layer(ksa_calib_collector c, int32_t layer)
{
    free(c->layers[layer].sets);
    free(c->layers[layer].counts);
    memset(&c->layers[layer], 0, sizeof c->layers[layer]);
}

static void release_step(ksa_calib_collector c)
{
    for (int32_t l = 0; l < c->n; l++) drop_layer(c, l);
    c->step_open = 0;
    c->last_layer = -1;
    c->batch = -1;
    c->tiles = 0;
}

void ksa_calib_collector_destroy(ksa_calib_collector c)
{
    if (!c) return;
    if (c->layers) release_step(c);
    free(c->layers);
    free(c->cov_sum);
    free(c->cov_cnt);
    free(c->imp_sum);
    free(c->imp_cnt);
    free(c->tmp_min);
    free(c->tmp_seen);
    free(c->stamp);
    free(c);
}

ksa_status ksa_calib_collector_create(int32_t n, int32_t h, const ksa_calib_options *options, ksa_calib_collector *out)
{
    ksa_clear_error();
    static const char *fn = "ksa_calib_collector_create";
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: out is NULL", fn);
    *out = NULL;
    if (n < 1 || n > 4096) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: num_layers is %d; it must be in 1..4096", fn, n);
    if (h < 1 || h > KSA_MAX_KV_HEADS)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: num_kv_heads is %d; it must be in 1..%d", fn, h, KSA_MAX_KV_HEADS);
    ksa_calib_options opt = options ? *options : ksa_calib_options_default();
    if (opt.tile_stride < 1)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: options.tile_stride is %d; it must be at least 1", fn, opt.tile_stride);
    ksa_calib_collector c = calloc(1, sizeof *c);
    if (!c) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate the collector", fn);
    c->n = n;
    c->h = h;
    c->opt = opt;
    size_t nn = (size_t)n * n, hh = (size_t)h * h;
    c->cov_sum = calloc(nn * hh, sizeof(double));
    c->cov_cnt = calloc(nn, sizeof(int64_t));
    c->imp_sum = calloc((size_t)n, sizeof(double));
    c->imp_cnt = calloc((size_t)n, sizeof(int64_t));
    c->layers = calloc((size_t)n, sizeof(layer_sets));
    c->tmp_min = malloc(sizeof(double) * (size_t)n * hh);
    c->tmp_seen = malloc((size_t)n);
    if (!c->cov_sum || !c->cov_cnt || !c->imp_sum || !c->imp_cnt || !c->layers || !c->tmp_min || !c->tmp_seen) {
        ksa_calib_collector_destroy(c);
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate statistics for %d layers x %d KV heads", fn, n, h);
    }
    c->last_layer = -1;
    c->batch = -1;
    *out = c;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_collector_begin_step(ksa_calib_collector c)
{
    ksa_clear_error();
    if (!c) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_collector_begin_step: collector is NULL");
    release_step(c);
    c->step_open = 1;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_collector_end_step(ksa_calib_collector c)
{
    ksa_clear_error();
    if (!c) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_collector_end_step: collector is NULL");
    if (!c->step_open) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_collector_end_step: no step is open");
    release_step(c);
    return KSA_STATUS_SUCCESS;
}

/* Common checks for feeding `layer`; allocates its set storage. */
static ksa_status start_layer(ksa_calib_collector c, const char *fn, int32_t layer, int32_t batch, int32_t tiles,
                              int64_t kslots)
{
    if (!c->step_open) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: no step is open (call ksa_calib_collector_begin_step)", fn);
    if (layer < 0 || layer >= c->n)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: layer %d is outside 0..%d", fn, layer, c->n - 1);
    if (layer <= c->last_layer)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: layer %d after layer %d; feed layers in increasing order within a step", fn,
                         layer, c->last_layer);
    if (c->batch >= 0 && (batch != c->batch || tiles != c->tiles))
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                         "%s: layer %d has %d sequences and %d sampled tiles, earlier layers of this step %d and %d (the same "
                         "prompts must go through every layer of a step)",
                         fn, layer, batch, tiles, c->batch, c->tiles);
    if (kslots < 0 || kslots > INT32_MAX) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: %lld index slots", fn, (long long)kslots);
    size_t nsets = (size_t)batch * c->h * (size_t)tiles;
    layer_sets *L = &c->layers[layer];
    L->sets = malloc(sizeof(int32_t) * (nsets * (size_t)kslots + 1));
    L->counts = malloc(sizeof(int32_t) * (nsets + 1));
    if (!L->sets || !L->counts) {
        free(L->sets);
        free(L->counts);
        L->sets = L->counts = NULL;
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot keep the index sets of layer %d (%zu sets of %lld)", fn, layer, nsets,
                         (long long)kslots);
    }
    for (size_t i = 0; i < nsets; i++) L->counts[i] = -1;
    L->kslots = (int32_t)kslots;
    c->batch = batch;
    c->tiles = tiles;
    return KSA_STATUS_SUCCESS;
}

static const int32_t *set_of(const ksa_calib_collector c, int32_t layer, int32_t s, int32_t g, int32_t t, int32_t *count)
{
    const layer_sets *L = &c->layers[layer];
    size_t idx = ((size_t)s * c->h + g) * c->tiles + t;
    *count = L->counts[idx];
    return L->sets + idx * L->kslots;
}

static int32_t *set_slot(ksa_calib_collector c, int32_t layer, int32_t s, int32_t g, int32_t t, int32_t **count)
{
    layer_sets *L = &c->layers[layer];
    size_t idx = ((size_t)s * c->h + g) * c->tiles + t;
    *count = &L->counts[idx];
    return L->sets + idx * L->kslots;
}

static void seq_begin(ksa_calib_collector c, int32_t b)
{
    for (size_t i = 0; i < (size_t)(b + 1) * c->h * c->h; i++) c->tmp_min[i] = INFINITY;
    memset(c->tmp_seen, 0, (size_t)(b + 1));
}

/* Fold one sequence's minima over tiles (layers a <= b that shared a tile with b) into the means. */
static void seq_end(ksa_calib_collector c, int32_t b)
{
    for (int32_t a = 0; a <= b; a++) {
        if (!c->tmp_seen[a]) continue;
        for (int32_t hb = 0; hb < c->h; hb++)
            for (int32_t ha = 0; ha < c->h; ha++) {
                double m = c->tmp_min[((size_t)a * c->h + hb) * c->h + ha];
                c->cov_sum[cov_at(c, a, b, hb, ha)] += isfinite(m) ? m : 1.0;
            }
        c->cov_cnt[(size_t)a * c->n + b] += 1;
    }
}

static void note_cov(ksa_calib_collector c, int32_t a, int32_t hb, int32_t ha, double v)
{
    double *m = &c->tmp_min[((size_t)a * c->h + hb) * c->h + ha];
    if (v < *m) *m = v;
    c->tmp_seen[a] = 1;
}

/* ---------------------------------------------------------------- exact path: q/k on the host */
typedef struct scored {
    double s;
    int32_t j;
} scored;

static int by_score_desc(const void *x, const void *y)
{
    const scored *a = x, *b = y;
    if (a->s > b->s) return -1;
    if (a->s < b->s) return 1;
    return (a->j > b->j) - (a->j < b->j);
}

ksa_status ksa_calib_collector_add_attention(ksa_calib_collector c, int32_t layer, ksa_device dev,
                                             const ksa_attention_params *params, const ksa_attention_tensors *tensors)
{
    ksa_clear_error();
    static const char *fn = "ksa_calib_collector_add_attention";
    if (!c) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: collector is NULL", fn);
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: dev is NULL", fn);
    if (!params) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: params is NULL", fn);
    if (!tensors) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: tensors is NULL", fn);
    const ksa_topk_params *k = &params->topk;
    if (k->top_k < 0) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: params.topk.top_k is %d; use 0 or a positive k", fn, k->top_k);
    if (k->top_k == 0 && !(k->fraction > 0.0 && k->fraction <= 1.0))
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: params.topk.fraction is %g; it must be in (0, 1]", fn, k->fraction);
    if (k->min_k < 1) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: params.topk.min_k is %d; it must be at least 1", fn, k->min_k);
    if (k->round_multiple < 1)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: params.topk.round_multiple is %d; it must be at least 1", fn, k->round_multiple);
    if (k->tile_size < 1 || k->tile_size > 1024)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: params.topk.tile_size is %d; it must be in 1..1024", fn, k->tile_size);
    ksa_device_info info;
    ksa_status st = ksa_device_get_info(dev, &info);
    if (st) return st;
    if (!info.host_memory)
        return ksa_error(KSA_STATUS_UNSUPPORTED,
                         "%s: device %s keeps tensors outside host memory; copy q/k to the host (device \"reference\" or "
                         "\"cpu\") or feed the ANCHOR call's indices with ksa_calib_collector_add_indices",
                         fn, info.name);
    /* validate the call's tensors like ksa_attention does, as a DENSE call (indices not needed) */
    ksa_attention_params dense = *params;
    dense.mode = KSA_MODE_DENSE;
    ksa_attention_tensors t = *tensors;
    memset(&t.indices, 0, sizeof t.indices);
    memset(&t.counts, 0, sizeof t.counts);
    memset(&t.head_map, 0, sizeof t.head_map);
    memset(&t.lse, 0, sizeof t.lse);
    ksa_problem p;
    ksa_problem_storage ps;
    memset(&ps, 0, sizeof ps);
    st = ksa_resolve_problem(dev, NULL, &dense, &t, &p, &ps);
    if (st) {
        ksa_problem_storage_release(&ps);
        return st;
    }
    p.topk = *k;
    if (p.num_kv_heads != c->h) {
        ksa_problem_storage_release(&ps);
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: the call has %d KV heads, the collector %d", fn, p.num_kv_heads, c->h);
    }
    int decode = p.phase == KSA_PHASE_DECODE;
    int32_t stride = c->opt.tile_stride;
    int64_t T = p.topk.tile_size;
    /* sampled tiles per sequence and the largest selection */
    int64_t tiles_max = 0, kslots = 0;
    for (int32_t s = 0; s < p.batch; s++) {
        int64_t lq = p.seqlen_q[s], lk = p.seqlen_k[s];
        int64_t nt = decode ? 1 : (lq + T - 1) / T;
        int64_t ns = (nt + stride - 1) / stride;
        if (ns > tiles_max) tiles_max = ns;
        for (int64_t t0 = 0; t0 < nt; t0 += stride) {
            int64_t ks = decode ? ksa_decode_count(&p.topk, lk) : ksa_prefill_tile_count(&p.topk, lq, lk, t0);
            if (ks > kslots) kslots = ks;
        }
    }
    if (tiles_max > INT32_MAX / 2) {
        ksa_problem_storage_release(&ps);
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: too many query tiles", fn);
    }
    st = start_layer(c, fn, layer, p.batch, (int32_t)tiles_max, kslots);
    if (st) {
        ksa_problem_storage_release(&ps);
        return st;
    }
    int32_t H = c->h;
    size_t lkmax = (size_t)(p.max_seqlen_k > 0 ? p.max_seqlen_k : 1);
    double *P = malloc(sizeof(double) * lkmax * H);
    double *local = malloc(sizeof(double) * H);
    double *topmass = malloc(sizeof(double) * H);
    int64_t *ncand = malloc(sizeof(int64_t) * H);
    scored *order = malloc(sizeof(scored) * lkmax);
    if (!P || !local || !topmass || !ncand || !order) {
        st = ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate %zu pooled scores", fn, lkmax * H);
        goto done;
    }
    for (int32_t s = 0; s < p.batch && !st; s++) {
        int64_t lq = p.seqlen_q[s], lk = p.seqlen_k[s];
        int64_t nt = decode ? 1 : (lq + T - 1) / T;
        seq_begin(c, layer);
        for (int64_t t0 = 0; t0 < nt; t0 += stride) {
            int32_t ts = (int32_t)(t0 / stride);
            int64_t rows = decode ? 1 : ((t0 + 1) * T < lq ? T : lq - t0 * T);
            int64_t ksel = decode ? ksa_decode_count(&p.topk, lk) : ksa_prefill_tile_count(&p.topk, lq, lk, t0);
            int any = 0;
            for (int32_t g = 0; g < H; g++) {
                double *Pg = P + (size_t)g * lkmax;
                st = ksa_reference_pooled_scores(&p, s, g, t0, Pg, &ncand[g]);
                if (st) break;
                double total = 0.0;
                for (int64_t j = 0; j < ncand[g]; j++) total += Pg[j];
                double loc = (double)p.group_size * (double)rows - total;
                local[g] = loc > 0.0 ? loc : 0.0;
                int32_t *cnt;
                int32_t *set = set_slot(c, layer, s, g, ts, &cnt);
                if (ncand[g] <= 0) continue; /* no candidates: nothing to select, no information */
                int64_t kk = ksel < ncand[g] ? ksel : ncand[g];
                for (int64_t j = 0; j < ncand[g]; j++) {
                    order[j].s = Pg[j];
                    order[j].j = (int32_t)j;
                }
                qsort(order, (size_t)ncand[g], sizeof(scored), by_score_desc);
                double m = 0.0;
                for (int64_t i = 0; i < kk; i++) {
                    set[i] = order[i].j;
                    m += order[i].s;
                }
                topmass[g] = m;
                *cnt = (int32_t)kk;
                any = 1;
            }
            if (st || !any) continue;
            /* coverage of this layer's heads by every fed layer a <= layer, on this tile */
            for (int32_t a = 0; a <= layer; a++) {
                if (!c->layers[a].present && a != layer) continue;
                for (int32_t hb = 0; hb < H; hb++) {
                    if (ncand[hb] <= 0) continue;
                    const double *Pb = P + (size_t)hb * lkmax;
                    double denom = topmass[hb] + local[hb];
                    for (int32_t ha = 0; ha < H; ha++) {
                        int32_t na;
                        const int32_t *ia = set_of(c, a, s, ha, ts, &na);
                        if (na < 0) continue;
                        double num = local[hb];
                        for (int32_t i = 0; i < na; i++)
                            if (ia[i] >= 0 && ia[i] < ncand[hb]) num += Pb[ia[i]];
                        note_cov(c, a, hb, ha, denom > 0.0 ? num / denom : 1.0);
                    }
                }
            }
        }
        if (!st) seq_end(c, layer);
    }
done:
    free(P);
    free(local);
    free(topmass);
    free(ncand);
    free(order);
    ksa_problem_storage_release(&ps);
    if (st) {
        drop_layer(c, layer);
        return st;
    }
    c->layers[layer].present = 1;
    c->last_layer = layer;
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- index sets from any backend */
ksa_status ksa_calib_collector_add_indices(ksa_calib_collector c, int32_t layer, int32_t batch, int64_t n_tiles,
                                           int64_t k_slots, const int32_t *indices, const int32_t *counts)
{
    ksa_clear_error();
    static const char *fn = "ksa_calib_collector_add_indices";
    if (!c) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: collector is NULL", fn);
    if (!indices || !counts) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: indices or counts is NULL", fn);
    if (batch < 1) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: batch is %d; it must be at least 1", fn, batch);
    if (n_tiles < 1 || n_tiles > INT32_MAX / 2)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: n_tiles is %lld; it must be positive", fn, (long long)n_tiles);
    if (k_slots < 0 || k_slots > INT32_MAX)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: k_slots is %lld", fn, (long long)k_slots);
    int32_t H = c->h, stride = c->opt.tile_stride;
    int32_t tiles = (int32_t)((n_tiles + stride - 1) / stride);
    /* check the counts and the index values first so a bad tensor leaves nothing half-fed */
    int64_t max_index = 0;
    for (int32_t s = 0; s < batch; s++)
        for (int32_t g = 0; g < H; g++)
            for (int64_t t = 0; t < n_tiles; t++) {
                size_t ci = ((size_t)s * H + g) * (size_t)n_tiles + (size_t)t;
                int32_t cnt = counts[ci];
                if (cnt < 0 || cnt > k_slots)
                    return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: counts[%d][%d][%lld] is %d; it must be in 0..%lld", fn, s, g,
                                     (long long)t, cnt, (long long)k_slots);
                const int32_t *row = indices + ci * (size_t)k_slots;
                for (int32_t i = 0; i < cnt; i++) {
                    if (row[i] < 0)
                        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: indices[%d][%d][%lld][%d] is %d (negative)", fn, s, g,
                                         (long long)t, i, row[i]);
                    if (row[i] > max_index) max_index = row[i];
                }
            }
    /* a repeated key would be counted once per repeat and inflate coverage (a set {0, 0, 0, 0}
     * "covering" {0, 1, 2, 3} fully): every set must hold distinct keys, as ANCHOR writes them */
    unsigned char *mark = calloc((size_t)max_index + 1, 1);
    if (!mark) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate %lld marks", fn, (long long)max_index + 1);
    for (int32_t s = 0; s < batch; s++)
        for (int32_t g = 0; g < H; g++)
            for (int64_t t = 0; t < n_tiles; t++) {
                size_t ci = ((size_t)s * H + g) * (size_t)n_tiles + (size_t)t;
                const int32_t *row = indices + ci * (size_t)k_slots;
                int repeat;
                int64_t x = ksa_index_set_check(row, 1, counts[ci], max_index + 1, mark, 0, &repeat);
                if (x >= 0) {
                    free(mark);
                    return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                                     "%s: indices[%d][%d][%lld][%lld] = %d repeats a key already in that set; index sets "
                                     "must hold distinct keys (a repeat would inflate coverage)",
                                     fn, s, g, (long long)t, (long long)x, row[x]);
                }
            }
    free(mark);
    ksa_status st = start_layer(c, fn, layer, batch, tiles, k_slots);
    if (st) return st;
    if (max_index + 1 > c->stamp_len) {
        int32_t *ns = realloc(c->stamp, sizeof(int32_t) * (size_t)(max_index + 1));
        if (!ns) {
            drop_layer(c, layer);
            return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate %lld stamps", fn, (long long)max_index + 1);
        }
        for (int64_t i = c->stamp_len; i <= max_index; i++) ns[i] = 0;
        c->stamp = ns;
        c->stamp_len = max_index + 1;
    }
    for (int32_t s = 0; s < batch; s++) {
        seq_begin(c, layer);
        for (int64_t t0 = 0; t0 < n_tiles; t0 += stride) {
            int32_t ts = (int32_t)(t0 / stride);
            for (int32_t g = 0; g < H; g++) {
                size_t ci = ((size_t)s * H + g) * (size_t)n_tiles + (size_t)t0;
                int32_t *cnt;
                int32_t *set = set_slot(c, layer, s, g, ts, &cnt);
                if (counts[ci] == 0) continue;
                memcpy(set, indices + ci * (size_t)k_slots, sizeof(int32_t) * (size_t)counts[ci]);
                *cnt = counts[ci];
            }
            for (int32_t hb = 0; hb < H; hb++) {
                int32_t nb;
                const int32_t *ib = set_of(c, layer, s, hb, ts, &nb);
                if (nb <= 0) continue;
                if (++c->stamp_gen == INT32_MAX) {
                    for (int64_t i = 0; i < c->stamp_len; i++) c->stamp[i] = 0;
                    c->stamp_gen = 1;
                }
                for (int32_t i = 0; i < nb; i++) c->stamp[ib[i]] = c->stamp_gen;
                for (int32_t a = 0; a <= layer; a++) {
                    if (!c->layers[a].present && a != layer) continue;
                    for (int32_t ha = 0; ha < H; ha++) {
                        int32_t na;
                        const int32_t *ia = set_of(c, a, s, ha, ts, &na);
                        if (na < 0) continue;
                        int64_t hit = 0;
                        for (int32_t i = 0; i < na; i++) hit += ia[i] >= 0 && ia[i] <= max_index && c->stamp[ia[i]] == c->stamp_gen;
                        note_cov(c, a, hb, ha, (double)hit / (double)nb);
                    }
                }
            }
        }
        seq_end(c, layer);
    }
    c->layers[layer].present = 1;
    c->last_layer = layer;
    return KSA_STATUS_SUCCESS;
}

/* Copy a contiguous int32 tensor of `count` elements to the host, from host memory, a ksa_buffer or
 * a device pointer (wrapped for the copy). */
static ksa_status read_i32(ksa_device dev, ksa_stream stream, const ksa_tensor *t, const char *name, size_t count, int32_t *dst)
{
    static const char *fn = "ksa_calib_collector_add_anchor_result";
    size_t bytes = count * sizeof(int32_t);
    if (t->buffer) return ksa_buffer_read(dst, t->buffer, t->offset, bytes, stream);
    if (!t->data) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: tensors.%s is absent", fn, name);
    ksa_device owner = t->device ? t->device : dev;
    ksa_device_info info;
    ksa_status st = ksa_device_get_info(owner, &info);
    if (st) return st;
    if (info.host_memory) {
        memcpy(dst, t->data, bytes);
        return KSA_STATUS_SUCCESS;
    }
    ksa_buffer wrap;
    st = ksa_buffer_wrap(owner, t->data, bytes, &wrap);
    if (st) return st;
    st = ksa_buffer_read(dst, wrap, 0, bytes, stream);
    ksa_buffer_free(wrap);
    return st;
}

static int contiguous(const ksa_tensor *t)
{
    int64_t expect = 1;
    for (int32_t i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] > 1 && t->stride[i] != expect) return 0;
        expect *= t->shape[i];
    }
    return 1;
}

ksa_status ksa_calib_collector_add_anchor_result(ksa_calib_collector c, int32_t layer, ksa_device dev, ksa_stream stream,
                                                 const ksa_attention_tensors *tensors)
{
    ksa_clear_error();
    static const char *fn = "ksa_calib_collector_add_anchor_result";
    if (!c) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: collector is NULL", fn);
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: dev is NULL", fn);
    if (!tensors) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: tensors is NULL", fn);
    const ksa_tensor *ti = &tensors->indices, *tc = &tensors->counts;
    if (!ksa_tensor_present(ti) || !ksa_tensor_present(tc))
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: tensors.indices and tensors.counts must both be present", fn);
    if (ti->dtype != KSA_DTYPE_I32 || tc->dtype != KSA_DTYPE_I32)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: tensors.indices and tensors.counts must be int32", fn);
    int decode = ti->ndim == 3;
    if ((ti->ndim != 4 && ti->ndim != 3) || tc->ndim != ti->ndim - 1)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                         "%s: indices must be [B, Hkv, n_tiles, k_slots] with counts [B, Hkv, n_tiles] (prefill) or "
                         "[B, Hkv, k_slots] with counts [B, Hkv] (decode); got %d and %d dimensions",
                         fn, ti->ndim, tc->ndim);
    for (int32_t i = 0; i < tc->ndim; i++)
        if (tc->shape[i] != ti->shape[i])
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: counts.shape[%d] is %lld but indices.shape[%d] is %lld", fn, i,
                             (long long)tc->shape[i], i, (long long)ti->shape[i]);
    if (!contiguous(ti) || !contiguous(tc))
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: indices and counts must be C-contiguous", fn);
    int64_t batch = ti->shape[0], n_tiles = decode ? 1 : ti->shape[2], k_slots = ti->shape[ti->ndim - 1];
    if (batch < 1 || batch > INT32_MAX || ti->shape[1] != c->h)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: indices has batch %lld and %lld KV heads; the collector has %d KV heads", fn,
                         (long long)batch, (long long)ti->shape[1], c->h);
    size_t ni = (size_t)ksa_tensor_numel(ti), nc = (size_t)ksa_tensor_numel(tc);
    int32_t *hi = malloc(sizeof(int32_t) * (ni ? ni : 1)), *hc = malloc(sizeof(int32_t) * (nc ? nc : 1));
    ksa_status st = KSA_STATUS_SUCCESS;
    if (!hi || !hc) st = ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate host copies of the index tensor", fn);
    if (!st) st = read_i32(dev, stream, ti, "indices", ni, hi);
    if (!st) st = read_i32(dev, stream, tc, "counts", nc, hc);
    if (!st) st = ksa_calib_collector_add_indices(c, layer, (int32_t)batch, n_tiles, k_slots, hi, hc);
    free(hi);
    free(hc);
    return st;
}

/* ---------------------------------------------------------------- importance */
ksa_status ksa_calib_collector_add_importance(ksa_calib_collector c, int32_t layer, int64_t n_tokens, int64_t hidden,
                                              int64_t row_stride, const float *x, const float *attn_out)
{
    ksa_clear_error();
    static const char *fn = "ksa_calib_collector_add_importance";
    if (!c) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: collector is NULL", fn);
    if (layer < 0 || layer >= c->n) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: layer %d is outside 0..%d", fn, layer, c->n - 1);
    if (n_tokens < 0 || hidden < 1)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: n_tokens %lld, hidden %lld; need n_tokens >= 0, hidden >= 1", fn,
                         (long long)n_tokens, (long long)hidden);
    if (row_stride == 0) row_stride = hidden;
    if (row_stride < hidden)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: row_stride %lld is smaller than hidden %lld", fn, (long long)row_stride,
                         (long long)hidden);
    if (n_tokens > 0 && (!x || !attn_out)) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: x or attn_out is NULL", fn);
    double sum = 0.0;
    for (int64_t i = 0; i < n_tokens; i++) {
        const float *xi = x + i * row_stride, *oi = attn_out + i * row_stride;
        double xx = 0.0, yy = 0.0, xy = 0.0;
        for (int64_t d = 0; d < hidden; d++) {
            double xv = xi[d], yv = (double)xi[d] + (double)oi[d];
            xx += xv * xv;
            yy += yv * yv;
            xy += xv * yv;
        }
        if (!isfinite(xx) || !isfinite(yy) || !isfinite(xy))
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: token %lld of layer %d holds a non-finite value", fn, (long long)i, layer);
        if (xx > 0.0 && yy > 0.0) sum += 1.0 - xy / (sqrt(xx) * sqrt(yy));
    }
    c->imp_sum[layer] += sum;
    c->imp_cnt[layer] += n_tokens;
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- results */
ksa_status ksa_calib_collector_coverage(ksa_calib_collector c, double *coverage, int64_t *samples)
{
    ksa_clear_error();
    if (!c) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_collector_coverage: collector is NULL");
    if (!coverage) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_collector_coverage: coverage is NULL");
    for (int32_t a = 0; a < c->n; a++)
        for (int32_t b = 0; b < c->n; b++) {
            int64_t cnt = c->cov_cnt[(size_t)a * c->n + b];
            if (samples) samples[(size_t)a * c->n + b] = b >= a ? cnt : 0;
            for (int32_t hb = 0; hb < c->h; hb++)
                for (int32_t ha = 0; ha < c->h; ha++) {
                    size_t i = cov_at(c, a, b, hb, ha);
                    coverage[i] = b < a ? 0.0 : cnt ? c->cov_sum[i] / (double)cnt : NAN;
                }
        }
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_collector_importance(ksa_calib_collector c, double *w)
{
    ksa_clear_error();
    if (!c) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_collector_importance: collector is NULL");
    if (!w) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_collector_importance: importance is NULL");
    int32_t missing = -1;
    for (int32_t l = 0; l < c->n; l++) {
        w[l] = c->imp_cnt[l] ? c->imp_sum[l] / (double)c->imp_cnt[l] : NAN;
        if (!c->imp_cnt[l] && missing < 0) missing = l;
    }
    if (missing >= 0)
        return ksa_error(KSA_STATUS_NOT_FOUND, "ksa_calib_collector_importance: layer %d has no importance samples", missing);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_collector_save(ksa_calib_collector c, const char *coverage_path, const char *importance_path)
{
    ksa_clear_error();
    if (!c) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_collector_save: collector is NULL");
    if (!coverage_path) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_collector_save: coverage_path is NULL");
    size_t total = (size_t)c->n * c->n * c->h * c->h;
    double *buf = malloc(sizeof(double) * (total > (size_t)c->n ? total : (size_t)c->n));
    if (!buf) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa_calib_collector_save: cannot allocate %zu values", total);
    ksa_status st = ksa_calib_collector_coverage(c, buf, NULL);
    int64_t shape[4] = {c->n, c->n, c->h, c->h};
    if (!st) st = ksa_npy_write(coverage_path, KSA_NPY_F64, 4, shape, buf);
    if (!st && importance_path) {
        st = ksa_calib_collector_importance(c, buf);
        int64_t s1 = c->n;
        if (!st) st = ksa_npy_write(importance_path, KSA_NPY_F64, 1, &s1, buf);
    }
    free(buf);
    return st;
}
