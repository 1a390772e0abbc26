/* test_bad_input.c: every entry point answers bad input with the right status and a sentence
 * naming the argument, writes nothing the caller owns (outputs keep their poison), and never
 * crashes: null pointers, wrong dtypes, shape/stride mismatches, overflowing sizes, k = 0, k larger
 * than the keys, head-map / index / page-table entries out of range, duplicate REUSE entries,
 * index tensors with too few slots, non-finite parameters, wrong devices, short workspaces, bad
 * lengths; and KSA_CHECK reporting a caller's bad index tensor as an input error. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/ksa_internal.h"
#include "test_util.h"

typedef void (*mutate_fn)(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws,
                          ksa_device *dev);

typedef struct bad_case {
    const char *what;
    ktest_config (*config)(void);
    mutate_fn mutate;
    ksa_status expect;
    const char *needle; /* must appear in ksa_last_error() */
} bad_case;

static ktest_config cfg_dense(void)
{
    ktest_config c = ktest_config_default();
    c.with_lse = 1;
    return c;
}
static ktest_config cfg_anchor(void)
{
    ktest_config c = ktest_config_default();
    c.mode = KSA_MODE_ANCHOR;
    c.lq = c.lk = 100;
    c.with_lse = 1;
    return c;
}
static ktest_config cfg_reuse_paged(void)
{
    ktest_config c = ktest_config_default();
    c.mode = KSA_MODE_REUSE;
    c.kv = KTEST_KV_PAGED;
    c.lq = 40;
    c.lk = 150;
    c.use_head_map = 1;
    return c;
}
static ktest_config cfg_ragged(void)
{
    ktest_config c = ktest_config_default();
    c.ragged_q = 1;
    c.kv = KTEST_KV_RAGGED;
    c.vary_lengths = 1;
    c.batch = 3;
    return c;
}
static ktest_config cfg_decode(void)
{
    ktest_config c = ktest_config_default();
    c.phase = KSA_PHASE_DECODE;
    c.lk = 90;
    return c;
}

static ktest_config cfg_reuse_decode(void)
{
    ktest_config c = ktest_config_default();
    c.mode = KSA_MODE_REUSE;
    c.phase = KSA_PHASE_DECODE;
    c.batch = 1;
    c.hq = 4;
    c.hkv = 2;
    c.lk = 1300; /* k = 256 slots */
    return c;
}

/* mutations */
static void m_q_absent(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { memset(&t->q, 0, sizeof t->q); }
static void m_q_dtype_i32(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->q.dtype = KSA_DTYPE_I32; }
static void m_k_dtype(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->k.dtype = KSA_DTYPE_F16; }
static void m_o_shape(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->o.shape[2] = 2; }
static void m_k_headdim(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->k.shape[3] = 32; t->v.shape[3] = 32; }
static void m_q_stride_inner(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->q.stride[3] = 2; }
static void m_o_overlap(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->o.stride[1] = 0; }
static void m_q_overflow(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->q.shape[0] = (int64_t)1 << 40; t->q.shape[1] = (int64_t)1 << 40; }
static void m_q_stride_overflow(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->q.stride[0] = INT64_MAX / 2; }
static void m_heads_not_multiple(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->q.shape[2] = 3; t->o.shape[2] = 3; }
static void m_v_shape(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->v.shape[1] = 7; }
static void m_k_batch(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->k.shape[0] = 1; t->v.shape[0] = 1; }
static void m_neg_stride(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->q.stride[1] = -5; }
static void m_q_ndim(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->q.ndim = 2; }
static void m_mode(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { prm->mode = (ksa_mode)42; }
static void m_decode_many(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { prm->phase = KSA_PHASE_DECODE; }
static void m_scale_nan(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { prm->scale = -1.0f; }
static void m_k_zero_fraction(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { prm->topk.fraction = 0.0; }
static void m_k_zero_min(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { prm->topk.min_k = 0; }
static void m_k_too_large(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { prm->topk.top_k = 1000; }
static void m_k_negative(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { prm->topk.top_k = -3; }
static void m_tile_zero(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { prm->topk.tile_size = 0; }
static void m_indices_absent(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { memset(&t->indices, 0, sizeof t->indices); }
static void m_indices_few_slots(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->indices.shape[3] = 3; }
static void m_indices_few_tiles(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->indices.shape[2] = 1; t->counts.shape[2] = 1; }
static void m_counts_dtype(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->counts.dtype = KSA_DTYPE_F32; }
static void m_head_map_range(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { p->head_map_host[1] = 9; }
static void m_head_map_negative(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { p->head_map_host[0] = -1; }
static void m_index_entry(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    prm->validate_indices = 1;
    int32_t *idx = ksa_buffer_data(t->indices.buffer);
    int32_t *cnt = ksa_buffer_data(t->counts.buffer);
    /* last tile of sequence 0, KV head 0: make its first entry a non-candidate */
    int64_t tiles = t->indices.shape[2], slots = t->indices.shape[3];
    cnt[tiles - 1] = 2;
    idx[(tiles - 1) * slots + 0] = 100000;
}
/* the first two entries of the last tile of (b 0, KV head 0) both name key 3 */
static void m_index_duplicate(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    prm->validate_indices = 1;
    int32_t *idx = ksa_buffer_data(t->indices.buffer);
    int32_t *cnt = ksa_buffer_data(t->counts.buffer);
    int64_t tiles = t->indices.shape[2], slots = t->indices.shape[3];
    cnt[tiles - 1] = 4;
    idx[(tiles - 1) * slots + 0] = 3;
    idx[(tiles - 1) * slots + 1] = 7;
    idx[(tiles - 1) * slots + 2] = 3;
    idx[(tiles - 1) * slots + 3] = 9;
}
/* a REUSE index tensor with fewer slots than the call's sets need, validation off */
static void m_reuse_few_slots(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    prm->validate_indices = 0;
    t->indices.shape[3] = 3;
}
/* decode REUSE: int32 [1, 2, 4] with counts 128 (issue 14's example), validation off */
static void m_decode_few_slots(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    prm->validate_indices = 0;
    int32_t *cnt = ksa_buffer_data(t->counts.buffer);
    cnt[0] = cnt[1] = 128;
    t->indices.shape[2] = 4;
}
/* ksa_tensor_make with sizes whose product overflows int64 (no UB while computing the strides) */
static void m_q_make_overflow(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    int64_t shape[4] = {(int64_t)1 << 40, (int64_t)1 << 40, 4, 64};
    t->q = ksa_tensor_make(p->dev, ksa_buffer_data(t->q.buffer), t->q.dtype, 4, shape);
}
static void m_fraction_nan(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { prm->topk.fraction = NAN; }
static void m_scale_inf(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { prm->scale = INFINITY; }
static void m_count_entry(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    prm->validate_indices = 1;
    int32_t *cnt = ksa_buffer_data(t->counts.buffer);
    cnt[0] = (int32_t)t->indices.shape[3] + 5;
}
static void m_page_entry(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    int32_t *pt = ksa_buffer_data(t->page_table.buffer);
    pt[1] = 999;
}
static void m_page_negative(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    int32_t *pt = ksa_buffer_data(t->page_table.buffer);
    pt[0] = -2;
}
static void m_seqlens_missing(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { memset(&t->seq_lens_k, 0, sizeof t->seq_lens_k); }
static void m_seqlens_too_long(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    int32_t *l = ksa_buffer_data(t->seq_lens_k.buffer);
    l[1] = 100000;
}
static void m_cu_decreasing(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    int32_t *cu = ksa_buffer_data(t->cu_seqlens_q.buffer);
    cu[2] = cu[1] - 1;
}
static void m_cu_past_end(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    int32_t *cu = ksa_buffer_data(t->cu_seqlens_k.buffer);
    cu[3] = cu[3] + 1000;
}
static void m_cu_nonzero_start(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    int32_t *cu = ksa_buffer_data(t->cu_seqlens_q.buffer);
    cu[0] = 1;
}
static void m_more_queries_than_keys(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    int32_t *cu = ksa_buffer_data(t->cu_seqlens_k.buffer);
    /* shrink sequence 0's keys below its queries */
    cu[1] = 1;
}
static void m_ws_small(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    static char tiny[1];
    ws->buffer = NULL;
    ws->data = tiny;
    ws->size = 0;
}
static void m_ws_null_data(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    ws->buffer = NULL;
    ws->data = NULL;
    ws->size = 1 << 20;
}
static void m_device_null(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d)
{
    t->k.data = ksa_buffer_data(t->k.buffer);
    t->k.buffer = NULL;
    t->k.device = NULL;
}
static void m_buffer_offset(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->v.offset = 64; }
static void m_lse_shape(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->lse.shape[1] = 1; }
static void m_lse_dtype(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->lse.dtype = KSA_DTYPE_F16; }
static void m_both_data_buffer(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->v.data = ksa_buffer_data(t->v.buffer); }
static void m_paged_and_ragged(ktest_problem *p, ksa_attention_params *prm, ksa_attention_tensors *t, ksa_workspace *ws, ksa_device *d) { t->cu_seqlens_k = t->seq_lens_k; }

static const bad_case cases[] = {
    {"q absent", cfg_dense, m_q_absent, KSA_STATUS_INVALID_ARGUMENT, "tensors.q"},
    {"q dtype int32", cfg_dense, m_q_dtype_i32, KSA_STATUS_INVALID_ARGUMENT, "tensors.q: dtype"},
    {"k dtype differs from q", cfg_dense, m_k_dtype, KSA_STATUS_INVALID_ARGUMENT, "tensors.k: dtype"},
    {"o shape mismatch", cfg_dense, m_o_shape, KSA_STATUS_INVALID_ARGUMENT, "tensors.o"},
    {"k head_dim mismatch", cfg_dense, m_k_headdim, KSA_STATUS_INVALID_ARGUMENT, "tensors.k"},
    {"q inner stride", cfg_dense, m_q_stride_inner, KSA_STATUS_INVALID_ARGUMENT, "tensors.q"},
    {"o overlapping strides", cfg_dense, m_o_overlap, KSA_STATUS_INVALID_ARGUMENT, "tensors.o"},
    {"q sizes overflow", cfg_dense, m_q_overflow, KSA_STATUS_INVALID_ARGUMENT, "overflow"},
    {"q strides overflow", cfg_dense, m_q_stride_overflow, KSA_STATUS_INVALID_ARGUMENT, "tensors.q"},
    {"Hq not a multiple of Hkv", cfg_dense, m_heads_not_multiple, KSA_STATUS_INVALID_ARGUMENT, "multiple"},
    {"v shape differs from k", cfg_dense, m_v_shape, KSA_STATUS_INVALID_ARGUMENT, "tensors.v"},
    {"k batch differs from q", cfg_dense, m_k_batch, KSA_STATUS_INVALID_ARGUMENT, "tensors.k"},
    {"negative stride", cfg_dense, m_neg_stride, KSA_STATUS_INVALID_ARGUMENT, "tensors.q: stride"},
    {"q rank", cfg_dense, m_q_ndim, KSA_STATUS_INVALID_ARGUMENT, "tensors.q"},
    {"mode out of range", cfg_dense, m_mode, KSA_STATUS_INVALID_ARGUMENT, "params.mode"},
    {"decode with many queries", cfg_dense, m_decode_many, KSA_STATUS_INVALID_ARGUMENT, "DECODE"},
    {"negative scale", cfg_dense, m_scale_nan, KSA_STATUS_INVALID_ARGUMENT, "params.scale"},
    {"k = 0 by fraction", cfg_anchor, m_k_zero_fraction, KSA_STATUS_INVALID_ARGUMENT, "params.topk.fraction"},
    {"k = 0 by min_k", cfg_anchor, m_k_zero_min, KSA_STATUS_INVALID_ARGUMENT, "params.topk.min_k"},
    {"k larger than the keys", cfg_anchor, m_k_too_large, KSA_STATUS_INVALID_ARGUMENT, "params.topk.top_k"},
    {"negative k", cfg_anchor, m_k_negative, KSA_STATUS_INVALID_ARGUMENT, "params.topk.top_k"},
    {"tile size 0", cfg_anchor, m_tile_zero, KSA_STATUS_INVALID_ARGUMENT, "params.topk.tile_size"},
    {"indices absent", cfg_anchor, m_indices_absent, KSA_STATUS_INVALID_ARGUMENT, "tensors.indices"},
    {"index slots too few", cfg_anchor, m_indices_few_slots, KSA_STATUS_INVALID_ARGUMENT, "tensors.indices"},
    {"index tiles too few", cfg_anchor, m_indices_few_tiles, KSA_STATUS_INVALID_ARGUMENT, "tensors.indices"},
    {"counts dtype", cfg_anchor, m_counts_dtype, KSA_STATUS_INVALID_ARGUMENT, "tensors.counts"},
    {"lse shape", cfg_anchor, m_lse_shape, KSA_STATUS_INVALID_ARGUMENT, "tensors.lse"},
    {"lse dtype", cfg_dense, m_lse_dtype, KSA_STATUS_INVALID_ARGUMENT, "tensors.lse"},
    {"head map entry out of range", cfg_reuse_paged, m_head_map_range, KSA_STATUS_INVALID_ARGUMENT, "tensors.head_map[1]"},
    {"head map entry negative", cfg_reuse_paged, m_head_map_negative, KSA_STATUS_INVALID_ARGUMENT, "tensors.head_map[0]"},
    {"index entry out of range (validation mode)", cfg_reuse_paged, m_index_entry, KSA_STATUS_INVALID_ARGUMENT, "tensors.indices"},
    {"count larger than the slots (validation mode)", cfg_reuse_paged, m_count_entry, KSA_STATUS_INVALID_ARGUMENT, "tensors.counts"},
    {"duplicate index entry (validation mode)", cfg_reuse_paged, m_index_duplicate, KSA_STATUS_INVALID_ARGUMENT,
     "tensors.indices[0][0][1][2] = 3 repeats a key already in that set (b 0, KV head 0, tile 1, slot 2)"},
    {"REUSE index slots too few (no validation)", cfg_reuse_paged, m_reuse_few_slots, KSA_STATUS_INVALID_ARGUMENT,
     "tensors.indices: last dimension is 3"},
    {"decode REUSE [1, 2, 4] with counts 128", cfg_reuse_decode, m_decode_few_slots, KSA_STATUS_INVALID_ARGUMENT,
     "tensors.indices: last dimension is 4 but this call selects up to 256"},
    {"ksa_tensor_make sizes overflow", cfg_dense, m_q_make_overflow, KSA_STATUS_INVALID_ARGUMENT, "tensors.q: the product"},
    {"fraction NaN", cfg_anchor, m_fraction_nan, KSA_STATUS_INVALID_ARGUMENT, "params.topk.fraction"},
    {"scale +inf", cfg_dense, m_scale_inf, KSA_STATUS_INVALID_ARGUMENT, "params.scale"},
    {"page table entry out of range", cfg_reuse_paged, m_page_entry, KSA_STATUS_INVALID_ARGUMENT, "tensors.page_table"},
    {"page table entry negative", cfg_reuse_paged, m_page_negative, KSA_STATUS_INVALID_ARGUMENT, "tensors.page_table"},
    {"paged without seq_lens_k", cfg_reuse_paged, m_seqlens_missing, KSA_STATUS_INVALID_ARGUMENT, "tensors.seq_lens_k"},
    {"seq_lens_k beyond the pages", cfg_reuse_paged, m_seqlens_too_long, KSA_STATUS_INVALID_ARGUMENT, "tensors.seq_lens_k"},
    {"paged and ragged at once", cfg_reuse_paged, m_paged_and_ragged, KSA_STATUS_INVALID_ARGUMENT, "tensors.page_table"},
    {"cu_seqlens_q decreasing", cfg_ragged, m_cu_decreasing, KSA_STATUS_INVALID_ARGUMENT, "tensors.cu_seqlens_q"},
    {"cu_seqlens_q not starting at 0", cfg_ragged, m_cu_nonzero_start, KSA_STATUS_INVALID_ARGUMENT, "tensors.cu_seqlens_q"},
    {"cu_seqlens_k past the rows", cfg_ragged, m_cu_past_end, KSA_STATUS_INVALID_ARGUMENT, "tensors.cu_seqlens_k"},
    {"more queries than keys", cfg_ragged, m_more_queries_than_keys, KSA_STATUS_INVALID_ARGUMENT, "queries"},
    {"workspace too small", cfg_anchor, m_ws_small, KSA_STATUS_WORKSPACE_TOO_SMALL, "workspace"},
    {"workspace size without memory", cfg_anchor, m_ws_null_data, KSA_STATUS_INVALID_ARGUMENT, "workspace"},
    {"tensor without a device", cfg_decode, m_device_null, KSA_STATUS_INVALID_ARGUMENT, "tensors.k: device"},
    {"view past its buffer", cfg_decode, m_buffer_offset, KSA_STATUS_INVALID_ARGUMENT, "tensors.v"},
    {"data and buffer both set", cfg_decode, m_both_data_buffer, KSA_STATUS_INVALID_ARGUMENT, "tensors.v"},
};

static int outputs_untouched(const ktest_problem *p)
{
    const ksa_attention_tensors *t = &p->tensors;
    const ksa_tensor *outs[] = {&t->o, &t->lse, &t->indices, &t->counts};
    int n = p->cfg.mode == KSA_MODE_ANCHOR ? 4 : 2;
    for (int i = 0; i < n; i++) {
        if (!outs[i]->buffer) continue;
        const unsigned char *b = ksa_buffer_data(outs[i]->buffer);
        size_t n = ksa_buffer_size(outs[i]->buffer);
        for (size_t j = 0; j < n; j++)
            if (b[j] != 0xab) return 0;
    }
    return 1;
}

static void poison_outputs(const ktest_problem *p)
{
    const ksa_tensor *outs[] = {&p->tensors.o, &p->tensors.lse};
    for (int i = 0; i < 2; i++)
        if (outs[i]->buffer) memset(ksa_buffer_data(outs[i]->buffer), 0xab, ksa_buffer_size(outs[i]->buffer));
    if (p->cfg.mode == KSA_MODE_ANCHOR) {
        memset(ksa_buffer_data(p->tensors.indices.buffer), 0xab, ksa_buffer_size(p->tensors.indices.buffer));
        memset(ksa_buffer_data(p->tensors.counts.buffer), 0xab, ksa_buffer_size(p->tensors.counts.buffer));
    }
}

/* Every case on the reference and on the cpu backend: validation is dispatch's, once for all. */
static void every_bad_attention_input_on(const char *device)
{
    ksa_device dev = ktest_open_device(device);
    assert_non_null(dev);
    printf("-- device %s\n", device);
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *bc = &cases[i];
        ktest_config c = bc->config();
        ktest_problem p;
        assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
        /* the unmodified problem is accepted */
        assert_int_equal(ktest_problem_run(&p), KSA_STATUS_SUCCESS);
        ksa_attention_params prm = p.params;
        ksa_attention_tensors t = p.tensors;
        ksa_workspace ws = p.workspace;
        ksa_device d = dev;
        bc->mutate(&p, &prm, &t, &ws, &d);
        poison_outputs(&p);
        ksa_status st = ksa_attention(d, NULL, &prm, &t, &ws);
        const char *msg = ksa_last_error();
        int ok = st == bc->expect && strstr(msg, bc->needle) != NULL && outputs_untouched(&p);
        printf("%s %-48s -> %s: %s\n", ok ? "ok  " : "FAIL", bc->what, ksa_status_string(st), msg);
        if (!ok) failures++;
        /* the size queries refuse the same input the same way (except workspace/validation-only faults) */
        if (bc->expect == KSA_STATUS_INVALID_ARGUMENT && bc->mutate != m_ws_null_data && bc->mutate != m_index_entry &&
            bc->mutate != m_count_entry && bc->mutate != m_index_duplicate) {
            size_t bytes = 12345;
            ksa_status s2 = ksa_attention_workspace_size(d, &prm, &t, &bytes);
            if (s2 != KSA_STATUS_INVALID_ARGUMENT || bytes != 12345) {
                printf("FAIL %-48s -> workspace query gave %s\n", bc->what, ksa_status_string(s2));
                failures++;
            }
        }
        ktest_problem_destroy(&p);
    }
    assert_int_equal(failures, 0);
}

static void every_bad_attention_input(void **state)
{
    (void)state;
    every_bad_attention_input_on("reference");
    every_bad_attention_input_on("cpu");
}

/* KSA_CHECK=1 reports a caller's bad REUSE index tensor as the caller's input error
 * (INVALID_ARGUMENT, before the backend runs), not as the backend disagreeing with the reference;
 * a valid call still passes the cross-check. */
static void ksa_check_blames_the_input(void **state)
{
    (void)state;
    ksa_device dev = ktest_open_device("cpu");
    assert_non_null(dev);
    ktest_config c = cfg_reuse_paged();
    ktest_problem p;
    assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
    setenv("KSA_CHECK", "1", 1);
    assert_int_equal(ktest_problem_run(&p), KSA_STATUS_SUCCESS);
    ksa_attention_params prm = p.params;
    ksa_attention_tensors t = p.tensors;
    ksa_workspace ws = p.workspace;
    ksa_device d = dev;
    m_index_duplicate(&p, &prm, &t, &ws, &d);
    prm.validate_indices = 0; /* the caller did not ask for validation: KSA_CHECK does it */
    poison_outputs(&p);
    ksa_status st = ksa_attention(dev, NULL, &prm, &t, &ws);
    printf("KSA_CHECK with a duplicate index: %s: %s\n", ksa_status_string(st), ksa_last_error());
    assert_int_equal(st, KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "input error, not a backend fault"));
    assert_non_null(strstr(ksa_last_error(), "repeats a key"));
    assert_true(outputs_untouched(&p));
    /* the direct cross-check says the same */
    char report[256];
    assert_int_equal(ksa_check_against_reference(dev, NULL, &prm, &t, report, sizeof report), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "input error"));
    unsetenv("KSA_CHECK");
    /* without KSA_CHECK and without validation the call runs (duplicates are then undefined) */
    assert_int_equal(ksa_attention(dev, NULL, &prm, &t, &ws), KSA_STATUS_SUCCESS);
    ktest_problem_destroy(&p);
}

static void null_arguments_everywhere(void **state)
{
    (void)state;
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    ktest_config c = cfg_anchor();
    ktest_problem p;
    assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_attention(NULL, NULL, &p.params, &p.tensors, &p.workspace), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "dev"));
    assert_int_equal(ksa_attention(dev, NULL, NULL, &p.tensors, &p.workspace), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "params"));
    assert_int_equal(ksa_attention(dev, NULL, &p.params, NULL, &p.workspace), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "tensors"));
    size_t bytes;
    assert_int_equal(ksa_attention_workspace_size(dev, &p.params, &p.tensors, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "bytes"));
    assert_int_equal(ksa_attention_workspace_size(NULL, &p.params, &p.tensors, &bytes), KSA_STATUS_INVALID_ARGUMENT);
    int64_t nt, ks;
    assert_int_equal(ksa_attention_index_shape(dev, &p.params, &p.tensors, NULL, &ks), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "n_tiles"));
    assert_int_equal(ksa_attention_index_shape(dev, NULL, &p.tensors, &nt, &ks), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_context_create(NULL), KSA_STATUS_INVALID_ARGUMENT);
    ksa_context ctx = ktest_context();
    ksa_device d2;
    assert_int_equal(ksa_device_open(ctx, NULL, &d2), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "name"));
    assert_int_equal(ksa_device_open(NULL, "cpu", &d2), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_device_open(ctx, "cpu", NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_device_get(ctx, -1, &d2), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "index"));
    int n;
    assert_int_equal(ksa_device_count(ctx, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_device_count(NULL, &n), KSA_STATUS_INVALID_ARGUMENT);
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(NULL, &info), KSA_STATUS_INVALID_ARGUMENT);
    ksa_buffer b;
    assert_int_equal(ksa_buffer_alloc(dev, 0, &b), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "bytes"));
    assert_int_equal(ksa_buffer_alloc(NULL, 16, &b), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_buffer_alloc(dev, 16, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_buffer_wrap(dev, NULL, 16, &b), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_buffer_alloc(dev, 16, &b), KSA_STATUS_SUCCESS);
    char host[32];
    memset(host, 7, sizeof host);
    assert_int_equal(ksa_buffer_write(b, 8, host, 16, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "exceeds"));
    assert_int_equal(ksa_buffer_read(host, b, 0, 17, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(host[0], 7); /* untouched */
    assert_int_equal(ksa_buffer_read(NULL, b, 0, 4, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_buffer_write(NULL, 0, host, 4, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_buffer_fill(b, 4, 13, 0, NULL), KSA_STATUS_INVALID_ARGUMENT);
    ksa_buffer_free(b);
    ksa_stream s;
    assert_int_equal(ksa_stream_create(NULL, &s), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_stream_create(dev, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_stream_synchronize(NULL, NULL), KSA_STATUS_INVALID_ARGUMENT);
    /* a stream of another device */
    ksa_device other;
    if (ksa_device_open(ctx, "cpu", &other) == KSA_STATUS_SUCCESS && other != dev) {
        assert_int_equal(ksa_stream_create(other, &s), KSA_STATUS_SUCCESS);
        assert_int_equal(ksa_attention(dev, s, &p.params, &p.tensors, &p.workspace), KSA_STATUS_INVALID_ARGUMENT);
        assert_non_null(strstr(ksa_last_error(), "stream"));
        assert_int_equal(ksa_stream_synchronize(dev, s), KSA_STATUS_INVALID_ARGUMENT);
        ksa_stream_destroy(s);
    }
    ksa_stream_destroy(NULL);
    ksa_buffer_free(NULL);
    ksa_context_destroy(NULL);
    assert_int_equal(ksa_set_config_override("block_q=64"), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_attention(dev, NULL, &p.params, &p.tensors, &p.workspace), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "config override"));
    assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
    ktest_problem_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_bad_attention_input),
        cmocka_unit_test(null_arguments_everywhere),
        cmocka_unit_test(ksa_check_blames_the_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
