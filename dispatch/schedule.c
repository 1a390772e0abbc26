/* schedule.c: ksa_schedule, a model's per-layer Kascade plan (dense / anchor / reuse with head
 * maps). The schedule owns the index state between layers: ksa_schedule_plan sizes it for a step
 * (allocating only when capacity grows, outside the hot path) and ksa_schedule_run_layer runs one
 * layer with the right mode, head map and index tensors. Under tensor parallelism a schedule runs
 * one rank's contiguous range of KV heads: head maps are kept in the model's numbering and
 * translated once, when set, into maps over the rank's local heads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksa/ksa_calib.h"
#include "ksa_internal.h"

typedef struct schedule_layer {
    ksa_layer_kind kind;
    int32_t anchor; /* REUSE: the anchor layer whose indices it reads; ANCHOR: itself; DENSE: -1 */
    int32_t *head_map; /* [num_kv_heads] */
} schedule_layer;

struct ksa_schedule_s {
    ksa_device device;
    int32_t num_layers, num_kv_heads;
    ksa_topk_params topk;
    schedule_layer *layers;
    int32_t *maps; /* storage of all head maps, model KV-head numbers [num_layers][num_kv_heads] */
    /* tensor parallelism: the KV heads this schedule runs, and each layer's map over them */
    int32_t head_offset, head_count;
    int32_t *local_maps; /* [num_layers][num_kv_heads], first head_count entries of a row used */
    int32_t max_seqlen_q, max_seqlen_k; /* the layers' length bounds (ksa_schedule_set_max_seqlens), 0 none */
    /* planned step */
    int32_t planned;
    ksa_phase phase;
    int32_t batch;
    int64_t n_tiles, k_slots;
    size_t workspace_bytes;
    ksa_buffer indices, counts;
    size_t indices_bytes, counts_bytes;
    int32_t last_anchor_run; /* anchor layer whose indices the state holds in this step, -1 none */
    ksa_calib_collector collector; /* calibration mode when set */
    int32_t calib_exact;
    int32_t calib_step_open;
};

/* governing anchor of each layer: nearest ANCHOR layer at or before it; and the head maps over the
 * local KV-head range (identity for ANCHOR and DENSE rows) */
static void recompute_anchors(ksa_schedule s)
{
    int32_t last = -1;
    for (int32_t l = 0; l < s->num_layers; l++) {
        if (s->layers[l].kind == KSA_LAYER_ANCHOR) last = l;
        s->layers[l].anchor = s->layers[l].kind == KSA_LAYER_DENSE ? -1 : last;
        int32_t *local = s->local_maps + (size_t)l * s->num_kv_heads;
        for (int32_t i = 0; i < s->head_count; i++)
            local[i] = s->layers[l].kind == KSA_LAYER_REUSE ? s->layers[l].head_map[s->head_offset + i] - s->head_offset : i;
    }
}

/* A REUSE layer's map must keep the local heads inside the range [offset, offset + count). */
static ksa_status check_map_in_range(const int32_t *map, int32_t offset, int32_t count, int32_t layer, const char *what)
{
    for (int32_t g = offset; g < offset + count; g++)
        if (map[g] < offset || map[g] >= offset + count)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                             "%s: REUSE layer %d maps KV head %d to anchor KV head %d, outside the KV heads %d..%d this "
                             "schedule runs (a tensor-parallel shard needs maps that stay inside it: ksa-calibrate --shards)",
                             what, layer, g, map[g], offset, offset + count - 1);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_schedule_create(ksa_device dev, int32_t num_layers, int32_t num_kv_heads, const ksa_topk_params *topk,
                               ksa_schedule *out)
{
    ksa_clear_error();
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_create: out is NULL");
    *out = NULL;
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_create: dev is NULL");
    if (num_layers < 1 || num_layers > 4096)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_create: num_layers is %d; it must be in 1..4096", num_layers);
    if (num_kv_heads < 1 || num_kv_heads > KSA_MAX_KV_HEADS)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_create: num_kv_heads is %d; it must be in 1..%d",
                         num_kv_heads, KSA_MAX_KV_HEADS);
    ksa_schedule s = calloc(1, sizeof *s);
    if (!s) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa_schedule_create: out of host memory");
    s->layers = calloc((size_t)num_layers, sizeof *s->layers);
    s->maps = calloc((size_t)num_layers * (size_t)num_kv_heads, sizeof(int32_t));
    s->local_maps = calloc((size_t)num_layers * (size_t)num_kv_heads, sizeof(int32_t));
    if (!s->layers || !s->maps || !s->local_maps) {
        ksa_schedule_destroy(s);
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa_schedule_create: out of host memory");
    }
    s->device = dev;
    s->num_layers = num_layers;
    s->num_kv_heads = num_kv_heads;
    s->head_offset = 0;
    s->head_count = num_kv_heads;
    s->topk = topk ? *topk : ksa_topk_default();
    for (int32_t l = 0; l < num_layers; l++) {
        s->layers[l].kind = KSA_LAYER_DENSE;
        s->layers[l].head_map = s->maps + (size_t)l * num_kv_heads;
        for (int32_t g = 0; g < num_kv_heads; g++) s->layers[l].head_map[g] = g;
    }
    recompute_anchors(s);
    s->last_anchor_run = -1;
    *out = s;
    return KSA_STATUS_SUCCESS;
}

void ksa_schedule_destroy(ksa_schedule s)
{
    if (!s) return;
    ksa_buffer_free(s->indices);
    ksa_buffer_free(s->counts);
    free(s->layers);
    free(s->maps);
    free(s->local_maps);
    free(s);
}

static ksa_status check_map(ksa_schedule s, const int32_t *map, const char *what, int32_t layer)
{
    for (int32_t g = 0; g < s->num_kv_heads; g++)
        if (map[g] < 0 || map[g] >= s->num_kv_heads)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: head map of layer %d has entry [%d] = %d outside 0..%d", what,
                             layer, g, map[g], s->num_kv_heads - 1);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_schedule_get_shape(ksa_schedule s, int32_t *num_layers, int32_t *num_kv_heads)
{
    ksa_clear_error();
    if (!s) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_get_shape: sched is NULL");
    if (num_layers) *num_layers = s->num_layers;
    if (num_kv_heads) *num_kv_heads = s->num_kv_heads;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_schedule_set_calibration(ksa_schedule s, struct ksa_calib_collector_s *collector, int32_t exact)
{
    ksa_clear_error();
    if (!s) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_calibration: sched is NULL");
    if (collector && s->head_count != s->num_kv_heads)
        return ksa_error(KSA_STATUS_UNSUPPORTED,
                         "ksa_schedule_set_calibration: the schedule runs KV heads %d..%d of %d; calibration needs every head "
                         "(collect statistics on one device, then calibrate with ksa-calibrate --shards)",
                         s->head_offset, s->head_offset + s->head_count - 1, s->num_kv_heads);
    if (collector && exact && !s->device->backend->host_memory)
        return ksa_error(KSA_STATUS_UNSUPPORTED,
                         "ksa_schedule_set_calibration: exact statistics need q/k in host memory; device %s is not a "
                         "host-memory device (use exact = 0 for index-set statistics)",
                         s->device->info.name);
    s->collector = collector;
    s->calib_exact = exact ? 1 : 0;
    s->calib_step_open = 0;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_schedule_set_layer(ksa_schedule s, int32_t layer, ksa_layer_kind kind, const int32_t *head_map)
{
    ksa_clear_error();
    if (!s) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_layer: sched is NULL");
    if (layer < 0 || layer >= s->num_layers)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_layer: layer %d is outside 0..%d", layer, s->num_layers - 1);
    if (kind != KSA_LAYER_DENSE && kind != KSA_LAYER_ANCHOR && kind != KSA_LAYER_REUSE)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_layer: kind %d is not a ksa_layer_kind", (int)kind);
    if (kind == KSA_LAYER_REUSE) {
        int has_anchor = 0;
        for (int32_t l = 0; l < layer; l++) has_anchor |= s->layers[l].kind == KSA_LAYER_ANCHOR;
        if (!has_anchor)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_layer: layer %d cannot be REUSE: no ANCHOR layer before it",
                             layer);
    }
    if (head_map && kind != KSA_LAYER_REUSE)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_layer: head_map is only meaningful for REUSE layers");
    if (head_map) {
        ksa_status st = check_map(s, head_map, "ksa_schedule_set_layer", layer);
        if (!st) st = check_map_in_range(head_map, s->head_offset, s->head_count, layer, "ksa_schedule_set_layer");
        if (st) return st;
    }
    /* changing an ANCHOR to something else must not orphan later REUSE layers */
    if (s->layers[layer].kind == KSA_LAYER_ANCHOR && kind != KSA_LAYER_ANCHOR) {
        int other = 0;
        for (int32_t l = 0; l < layer; l++) other |= s->layers[l].kind == KSA_LAYER_ANCHOR;
        for (int32_t l = layer + 1; l < s->num_layers && !other; l++) {
            if (s->layers[l].kind == KSA_LAYER_ANCHOR) break;
            if (s->layers[l].kind == KSA_LAYER_REUSE)
                return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                                 "ksa_schedule_set_layer: layer %d is the only anchor before REUSE layer %d", layer, l);
        }
    }
    s->layers[layer].kind = kind;
    for (int32_t g = 0; g < s->num_kv_heads; g++) s->layers[layer].head_map[g] = head_map ? head_map[g] : g;
    recompute_anchors(s);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_schedule_set_kascade(ksa_schedule s, const int32_t *anchors, int32_t n_anchors, const int32_t *head_maps)
{
    ksa_clear_error();
    if (!s) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_kascade: sched is NULL");
    if (!anchors) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_kascade: anchors is NULL");
    if (!head_maps) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_kascade: head_maps is NULL");
    if (n_anchors < 1 || n_anchors > s->num_layers)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_kascade: n_anchors is %d; it must be in 1..%d", n_anchors,
                         s->num_layers);
    int32_t prev = -1;
    for (int32_t i = 0; i < n_anchors; i++) {
        if (anchors[i] < 0 || anchors[i] >= s->num_layers)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_kascade: anchors[%d] = %d is outside 0..%d", i,
                             anchors[i], s->num_layers - 1);
        if (anchors[i] <= prev)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_kascade: anchors must be strictly increasing (anchors[%d] = %d)",
                             i, anchors[i]);
        prev = anchors[i];
    }
    if (anchors[0] != 0)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_set_kascade: anchors[0] is %d; layer 0 must be an anchor", anchors[0]);
    for (int32_t l = 0, ai = 0; l < s->num_layers; l++) {
        const int32_t *row = head_maps + (size_t)l * s->num_kv_heads;
        ksa_status st = check_map(s, row, "ksa_schedule_set_kascade: head_maps", l);
        if (st) return st;
        int is_anchor = ai < n_anchors && anchors[ai] == l;
        if (is_anchor) ai++;
        else if ((st = check_map_in_range(row, s->head_offset, s->head_count, l, "ksa_schedule_set_kascade"))) return st;
    }
    int ai = 0;
    for (int32_t l = 0; l < s->num_layers; l++) {
        int is_anchor = ai < n_anchors && anchors[ai] == l;
        if (is_anchor) ai++;
        s->layers[l].kind = is_anchor ? KSA_LAYER_ANCHOR : KSA_LAYER_REUSE;
        for (int32_t g = 0; g < s->num_kv_heads; g++)
            s->layers[l].head_map[g] = is_anchor ? g : head_maps[(size_t)l * s->num_kv_heads + g];
    }
    recompute_anchors(s);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_schedule_get_layer(ksa_schedule s, int32_t layer, ksa_layer_kind *kind, int32_t *anchor_layer, int32_t *head_map)
{
    ksa_clear_error();
    if (!s) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_get_layer: sched is NULL");
    if (layer < 0 || layer >= s->num_layers)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_get_layer: layer %d is outside 0..%d", layer, s->num_layers - 1);
    if (kind) *kind = s->layers[layer].kind;
    if (anchor_layer) *anchor_layer = s->layers[layer].anchor;
    if (head_map) memcpy(head_map, s->layers[layer].head_map, sizeof(int32_t) * (size_t)s->num_kv_heads);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_schedule_set_head_range(ksa_schedule s, int32_t offset, int32_t count)
{
    ksa_clear_error();
    static const char *fn = "ksa_schedule_set_head_range";
    if (!s) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: sched is NULL", fn);
    if (count < 1 || count > s->num_kv_heads)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: kv_head_count is %d; it must be in 1..%d (the model's KV heads)", fn, count,
                         s->num_kv_heads);
    if (offset < 0 || offset > s->num_kv_heads - count)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: kv_head_offset is %d; with kv_head_count %d it must be in 0..%d", fn, offset,
                         count, s->num_kv_heads - count);
    if (s->collector && count != s->num_kv_heads)
        return ksa_error(KSA_STATUS_UNSUPPORTED, "%s: the schedule is in calibration mode, which needs every KV head", fn);
    for (int32_t l = 0; l < s->num_layers; l++)
        if (s->layers[l].kind == KSA_LAYER_REUSE) {
            ksa_status st = check_map_in_range(s->layers[l].head_map, offset, count, l, fn);
            if (st) return st;
        }
    s->head_offset = offset;
    s->head_count = count;
    s->planned = 0; /* the index state's shape follows the range */
    s->last_anchor_run = -1;
    recompute_anchors(s);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_schedule_set_max_seqlens(ksa_schedule s, int32_t max_seqlen_q, int32_t max_seqlen_k)
{
    ksa_clear_error();
    static const char *fn = "ksa_schedule_set_max_seqlens";
    if (!s) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: sched is NULL", fn);
    if (max_seqlen_q < 0) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: max_seqlen_q is %d; give 0 (no bound) or a bound", fn, max_seqlen_q);
    if (max_seqlen_k < 0) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: max_seqlen_k is %d; give 0 (no bound) or a bound", fn, max_seqlen_k);
    s->max_seqlen_q = max_seqlen_q;
    s->max_seqlen_k = max_seqlen_k;
    s->planned = 0; /* the index state's shape follows the bounds */
    s->last_anchor_run = -1;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_schedule_get_head_range(ksa_schedule s, int32_t *offset, int32_t *count)
{
    ksa_clear_error();
    if (!s) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_get_head_range: sched is NULL");
    if (offset) *offset = s->head_offset;
    if (count) *count = s->head_count;
    return KSA_STATUS_SUCCESS;
}

static ksa_attention_params layer_params(ksa_schedule s, int32_t layer)
{
    ksa_mode mode = s->layers[layer].kind == KSA_LAYER_DENSE    ? KSA_MODE_DENSE
                    : s->layers[layer].kind == KSA_LAYER_ANCHOR ? KSA_MODE_ANCHOR
                                                                : KSA_MODE_REUSE;
    ksa_attention_params p = ksa_attention_params_default(mode, s->phase);
    p.topk = s->topk;
    p.max_seqlen_q = s->max_seqlen_q;
    p.max_seqlen_k = s->max_seqlen_k;
    /* Kascade: layer 0 is an anchor whose output is dense */
    p.anchor_dense_output = (mode == KSA_MODE_ANCHOR && layer == 0) ? 1 : 0;
    return p;
}

static void state_tensors(ksa_schedule s, ksa_attention_tensors *t)
{
    if (s->phase == KSA_PHASE_DECODE) {
        int64_t ishape[3] = {s->batch, s->head_count, s->k_slots};
        int64_t cshape[2] = {s->batch, s->head_count};
        t->indices = ksa_tensor_from_buffer(s->indices, 0, KSA_DTYPE_I32, 3, ishape);
        t->counts = ksa_tensor_from_buffer(s->counts, 0, KSA_DTYPE_I32, 2, cshape);
    } else {
        int64_t ishape[4] = {s->batch, s->head_count, s->n_tiles, s->k_slots};
        int64_t cshape[3] = {s->batch, s->head_count, s->n_tiles};
        t->indices = ksa_tensor_from_buffer(s->indices, 0, KSA_DTYPE_I32, 4, ishape);
        t->counts = ksa_tensor_from_buffer(s->counts, 0, KSA_DTYPE_I32, 3, cshape);
    }
}

static ksa_status grow(ksa_schedule s, ksa_buffer *buf, size_t *have, size_t need)
{
    if (*buf && *have >= need) return KSA_STATUS_SUCCESS;
    ksa_buffer nb = NULL;
    ksa_status st = ksa_buffer_alloc(s->device, need, &nb);
    if (st) return st;
    ksa_buffer_free(*buf);
    *buf = nb;
    *have = need;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_schedule_plan(ksa_schedule s, ksa_phase phase, const ksa_attention_tensors *shape_tensors, size_t *workspace_bytes)
{
    ksa_clear_error();
    if (!s) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_plan: sched is NULL");
    if (!shape_tensors) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_plan: shape_tensors is NULL");
    if (phase != KSA_PHASE_PREFILL && phase != KSA_PHASE_DECODE)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_plan: phase %d is not a ksa_phase", (int)phase);
    ksa_attention_params p = ksa_attention_params_default(KSA_MODE_ANCHOR, phase);
    p.topk = s->topk;
    p.max_seqlen_q = s->max_seqlen_q;
    p.max_seqlen_k = s->max_seqlen_k;
    int64_t n_tiles, k_slots;
    ksa_status st = ksa_attention_index_shape(s->device, &p, shape_tensors, &n_tiles, &k_slots);
    if (st) return st;
    int64_t batch = ksa_tensor_present(&shape_tensors->cu_seqlens_q) ? shape_tensors->cu_seqlens_q.shape[0] - 1
                                                                      : shape_tensors->q.shape[0];
    int64_t kv_heads = ksa_tensor_present(&shape_tensors->cu_seqlens_k) ? shape_tensors->k.shape[1] : shape_tensors->k.shape[2];
    if (kv_heads != s->head_count) {
        if (s->head_count == s->num_kv_heads)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_plan: k has %lld KV heads but the schedule was made for %d",
                             (long long)kv_heads, s->num_kv_heads);
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                         "ksa_schedule_plan: k has %lld KV heads but the schedule runs %d (KV heads %d..%d of the model's %d, "
                         "ksa_schedule_set_head_range)",
                         (long long)kv_heads, s->head_count, s->head_offset, s->head_offset + s->head_count - 1, s->num_kv_heads);
    }
    size_t ibytes = (size_t)batch * (size_t)s->head_count * (size_t)n_tiles * (size_t)k_slots * sizeof(int32_t);
    size_t cbytes = (size_t)batch * (size_t)s->head_count * (size_t)n_tiles * sizeof(int32_t);
    st = grow(s, &s->indices, &s->indices_bytes, ibytes);
    if (st) return st;
    st = grow(s, &s->counts, &s->counts_bytes, cbytes);
    if (st) return st;
    s->phase = phase;
    s->batch = (int32_t)batch;
    s->n_tiles = n_tiles;
    s->k_slots = k_slots;
    s->last_anchor_run = -1;
    if (s->collector) {
        st = ksa_calib_collector_begin_step(s->collector);
        if (st) return st;
        s->calib_step_open = 1;
    }
    /* the largest workspace over the modes the schedule uses */
    size_t ws = 0;
    ksa_attention_tensors t = *shape_tensors;
    state_tensors(s, &t);
    for (int32_t l = 0; l < s->num_layers; l++) {
        int seen = 0; /* one query per distinct (mode, dense-output) */
        for (int32_t m = 0; m < l; m++)
            if (s->layers[m].kind == s->layers[l].kind && (m == 0) == (l == 0)) seen = 1;
        if (seen) continue;
        ksa_attention_params lp = layer_params(s, l);
        if (s->collector) {
            lp.mode = KSA_MODE_ANCHOR;
            lp.anchor_dense_output = 1;
        }
        size_t need = 0;
        st = ksa_attention_workspace_size(s->device, &lp, &t, &need);
        if (st) return st;
        if (need > ws) ws = need;
    }
    s->workspace_bytes = ws;
    s->planned = 1;
    if (workspace_bytes) *workspace_bytes = ws;
    return KSA_STATUS_SUCCESS;
}

/* Calibration mode: the layer runs as an ANCHOR with dense output and feeds the collector. */
static ksa_status run_calibration_layer(ksa_schedule s, ksa_stream stream, int32_t layer, const ksa_attention_tensors *tensors,
                                        const ksa_workspace *workspace)
{
    if (!s->calib_step_open)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                         "ksa_schedule_run_layer: calibration step is closed; call ksa_schedule_plan to open the next");
    ksa_attention_params p = layer_params(s, layer);
    p.mode = KSA_MODE_ANCHOR;
    p.anchor_dense_output = 1;
    ksa_attention_tensors t = *tensors;
    state_tensors(s, &t);
    ksa_status st = ksa_attention(s->device, stream, &p, &t, workspace);
    if (st) return st;
    if (s->calib_exact) st = ksa_calib_collector_add_attention(s->collector, layer, s->device, &p, &t);
    else st = ksa_calib_collector_add_anchor_result(s->collector, layer, s->device, stream, &t);
    if (st) return st;
    s->last_anchor_run = layer;
    if (layer == s->num_layers - 1) {
        s->calib_step_open = 0;
        st = ksa_calib_collector_end_step(s->collector);
    }
    return st;
}

ksa_status ksa_schedule_run_layer(ksa_schedule s, ksa_stream stream, int32_t layer, const ksa_attention_tensors *tensors,
                                  const ksa_workspace *workspace)
{
    ksa_clear_error();
    if (!s) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_run_layer: sched is NULL");
    if (!tensors) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_run_layer: tensors is NULL");
    if (layer < 0 || layer >= s->num_layers)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_run_layer: layer %d is outside 0..%d", layer, s->num_layers - 1);
    if (!s->planned) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_run_layer: call ksa_schedule_plan first");
    if (ksa_tensor_present(&tensors->indices) || ksa_tensor_present(&tensors->counts) || ksa_tensor_present(&tensors->head_map))
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                         "ksa_schedule_run_layer: tensors.indices, counts and head_map belong to the schedule and must be absent");
    const schedule_layer *L = &s->layers[layer];
    if (s->collector) return run_calibration_layer(s, stream, layer, tensors, workspace);
    if (L->kind == KSA_LAYER_REUSE && s->last_anchor_run != L->anchor)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                         "ksa_schedule_run_layer: layer %d reuses anchor layer %d's indices, but layer %d has not run since "
                         "ksa_schedule_plan",
                         layer, L->anchor, L->anchor);
    ksa_attention_params p = layer_params(s, layer);
    ksa_attention_tensors t = *tensors;
    if (L->kind != KSA_LAYER_DENSE) state_tensors(s, &t);
    if (L->kind == KSA_LAYER_REUSE) {
        int64_t hshape[1] = {s->head_count};
        t.head_map = ksa_tensor_make(NULL, s->local_maps + (size_t)layer * s->num_kv_heads, KSA_DTYPE_I32, 1, hshape);
    }
    ksa_status st = ksa_attention(s->device, stream, &p, &t, workspace);
    if (st) return st;
    if (L->kind == KSA_LAYER_ANCHOR) s->last_anchor_run = layer;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_schedule_get_index_state(ksa_schedule s, ksa_tensor *indices, ksa_tensor *counts)
{
    ksa_clear_error();
    if (!s) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_get_index_state: sched is NULL");
    if (!s->planned) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_schedule_get_index_state: call ksa_schedule_plan first");
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    state_tensors(s, &t);
    if (indices) *indices = t.indices;
    if (counts) *counts = t.counts;
    return KSA_STATUS_SUCCESS;
}
