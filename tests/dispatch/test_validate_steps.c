/* test_validate_steps.c: the named steps of ksa_resolve_problem (dispatch/validate.c), each run on
 * its own: parameters, shapes, K/V layout, lengths, index geometry, head map, index entries, and
 * the index-set check that validation and the cross-check share. Each step is given a problem
 * built by the steps before it and must fill its own fields (and only refuse what it owns). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dispatch/ksa_internal.h"
#include "test_util.h"

/* Run steps 1..n of the resolution on a test problem's params and tensors. */
static ksa_status run_steps(ksa_device dev, const ksa_attention_params *prm, const ksa_attention_tensors *t, int n,
                            ksa_problem *p, ksa_problem_storage *st)
{
    memset(p, 0, sizeof *p);
    ksa_status s = KSA_STATUS_SUCCESS;
    if (n >= 1 && !s) s = ksa_resolve_params(prm, p);
    if (n >= 2 && !s) s = ksa_resolve_shapes(dev, t, p);
    if (n >= 3 && !s) s = ksa_resolve_kv_layout(dev, t, p);
    if (n >= 4 && !s) s = ksa_resolve_lengths(dev, NULL, t, p, st);
    if (n >= 5 && !s) s = ksa_resolve_index_geometry(dev, t, p);
    if (n >= 6 && !s) s = ksa_resolve_head_map(dev, NULL, t, p, st);
    if (n >= 7 && !s) s = ksa_validate_index_entries(dev, NULL, p, st);
    return s;
}

static ksa_device ref_device(void)
{
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    return dev;
}

static void step_params(void **state)
{
    (void)state;
    ksa_attention_params prm = ksa_attention_params_default(KSA_MODE_ANCHOR, KSA_PHASE_DECODE);
    prm.scale = 0.25f;
    prm.anchor_dense_output = 7;
    ksa_problem p;
    memset(&p, 0, sizeof p);
    assert_int_equal(ksa_resolve_params(&prm, &p), KSA_STATUS_SUCCESS);
    assert_int_equal(p.mode, KSA_MODE_ANCHOR);
    assert_int_equal(p.phase, KSA_PHASE_DECODE);
    assert_true(p.scale == 0.25f);
    assert_int_equal(p.anchor_dense_output, 1);
    assert_int_equal(p.topk.tile_size, 32);
    /* DENSE ignores the Top-k parameters (a tile size of 0 becomes 32); ANCHOR refuses them */
    prm.mode = KSA_MODE_DENSE;
    prm.topk.tile_size = 0;
    prm.topk.fraction = -1;
    assert_int_equal(ksa_resolve_params(&prm, &p), KSA_STATUS_SUCCESS);
    assert_int_equal(p.topk.tile_size, 32);
    prm.mode = KSA_MODE_ANCHOR;
    assert_int_equal(ksa_resolve_params(&prm, &p), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "params.topk.fraction"));
    assert_int_equal(ksa_resolve_params(NULL, &p), KSA_STATUS_INVALID_ARGUMENT);
}

static void step_shapes_and_layout(void **state)
{
    (void)state;
    ksa_device dev = ref_device();
    ktest_config c = ktest_config_default();
    c.mode = KSA_MODE_REUSE;
    c.kv = KTEST_KV_PAGED;
    c.page_size = 8;
    c.hq = 6;
    c.hkv = 3;
    c.head_dim = 16;
    c.lq = 20;
    c.lk = 50;
    c.with_lse = 1;
    c.strided = 1;
    ktest_problem tp;
    assert_int_equal(ktest_problem_create(dev, &c, &tp), KSA_STATUS_SUCCESS);
    ksa_problem p;
    ksa_problem_storage st;
    memset(&st, 0, sizeof st);
    assert_int_equal(run_steps(dev, &tp.params, &tp.tensors, 2, &p, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(p.batch, 2);
    assert_int_equal(p.num_q_heads, 6);
    assert_int_equal(p.num_kv_heads, 3);
    assert_int_equal(p.group_size, 2);
    assert_int_equal(p.head_dim, 16);
    assert_int_equal(p.q_ragged, 0);
    assert_int_equal(p.kv_layout, KSA_KV_PAGED);
    assert_true(fabsf(p.scale - 0.25f) < 1e-7f); /* 1/sqrt(16) */
    assert_int_equal(p.q_strides.token, tp.tensors.q.stride[1]);
    assert_int_equal(p.lse_stride_h, tp.tensors.lse.stride[1]);
    /* step 3 reads the page table view and the page geometry */
    assert_int_equal(ksa_resolve_kv_layout(dev, &tp.tensors, &p), KSA_STATUS_SUCCESS);
    assert_int_equal(p.page_size, 8);
    assert_int_equal(p.num_pages, tp.tensors.k.shape[0]);
    assert_int_equal(p.max_pages_per_seq, (50 + 7) / 8);
    assert_int_equal(p.k_strides.page, tp.tensors.k.stride[0]);
    assert_int_equal(p.k_strides.token, tp.tensors.k.stride[1]);
    assert_true(p.seq_lens_k.present);
    /* ... and owns the paged-needs-lengths rule */
    ksa_attention_tensors t = tp.tensors;
    memset(&t.seq_lens_k, 0, sizeof t.seq_lens_k);
    assert_int_equal(run_steps(dev, &tp.params, &t, 2, &p, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_resolve_kv_layout(dev, &t, &p), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "tensors.seq_lens_k is required"));
    /* step 2 owns the head-count rule */
    t = tp.tensors;
    t.q.shape[2] = t.o.shape[2] = 4;
    assert_int_equal(run_steps(dev, &tp.params, &t, 2, &p, &st), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "not a multiple"));
    ksa_problem_storage_release(&st);
    ktest_problem_destroy(&tp);
}

static void step_lengths(void **state)
{
    (void)state;
    ksa_device dev = ref_device();
    ktest_config c = ktest_config_default();
    c.batch = 4;
    c.ragged_q = 1;
    c.kv = KTEST_KV_RAGGED;
    c.vary_lengths = 1;
    c.lq = 30;
    c.lk = 70;
    ktest_problem tp;
    assert_int_equal(ktest_problem_create(dev, &c, &tp), KSA_STATUS_SUCCESS);
    const int32_t *cuq = ksa_buffer_data(tp.tensors.cu_seqlens_q.buffer);
    const int32_t *cuk = ksa_buffer_data(tp.tensors.cu_seqlens_k.buffer);
    ksa_problem p;
    ksa_problem_storage st;
    memset(&st, 0, sizeof st);
    assert_int_equal(run_steps(dev, &tp.params, &tp.tensors, 4, &p, &st), KSA_STATUS_SUCCESS);
    int64_t max_lq = 0, max_lk = 0;
    for (int b = 0; b < 4; b++) {
        assert_int_equal(p.seqlen_q[b], cuq[b + 1] - cuq[b]);
        assert_int_equal(p.seqlen_k[b], cuk[b + 1] - cuk[b]);
        assert_int_equal(p.q_row0[b], cuq[b]);
        assert_int_equal(p.k_row0[b], cuk[b]);
        if (p.seqlen_q[b] > max_lq) max_lq = p.seqlen_q[b];
        if (p.seqlen_k[b] > max_lk) max_lk = p.seqlen_k[b];
    }
    assert_int_equal(p.max_seqlen_q, max_lq);
    assert_int_equal(p.max_seqlen_k, max_lk);
    assert_int_equal(p.total_q, cuq[4]);
    ksa_problem_storage_release(&st);
    ktest_problem_destroy(&tp);
}

/* The reference device posing as a GPU: host memory off (so dispatch reads length tensors back
 * through mem_read, which counts), and optionally reading lengths on the device itself. */
static int g_reads;
static ksa_backend g_gpu_like;
static ksa_status counting_read(ksa_backend *self, int device, void *stream, void *dst, ksa_mem src, size_t off, size_t n)
{
    (void)self, (void)device, (void)stream;
    g_reads++;
    memcpy(dst, (const char *)ksa_mem_addr(src) + off, n);
    return KSA_STATUS_SUCCESS;
}
static ksa_backend *pose_as_gpu(ksa_device dev, int device_lengths)
{
    ksa_backend *saved = dev->backend;
    g_gpu_like = *saved;
    g_gpu_like.host_memory = 0;
    g_gpu_like.device_lengths = device_lengths;
    g_gpu_like.mem_read = counting_read;
    dev->backend = &g_gpu_like;
    g_reads = 0;
    return saved;
}

/* params.max_seqlen_q / _k: checked against the capacities and every length where dispatch reads
 * the lengths, no read-back at all on a backend that reads them on the device, and the call shaped
 * by the bounds either way */
static void step_length_bounds(void **state)
{
    (void)state;
    ksa_device dev = ref_device();
    ktest_config c = ktest_config_default();
    c.mode = KSA_MODE_ANCHOR;
    c.batch = 3;
    c.ragged_q = 1;
    c.kv = KTEST_KV_PAGED;
    c.page_size = 16;
    c.vary_lengths = 1;
    c.lq = 40;
    c.lk = 300;
    ktest_problem tp;
    assert_int_equal(ktest_problem_create(dev, &c, &tp), KSA_STATUS_SUCCESS);
    const int32_t *cuq = ksa_buffer_data(tp.tensors.cu_seqlens_q.buffer);
    const int32_t *slk = ksa_buffer_data(tp.tensors.seq_lens_k.buffer);
    int32_t max_lq = 0, max_lk = 0;
    for (int b = 0; b < 3; b++) {
        if (cuq[b + 1] - cuq[b] > max_lq) max_lq = cuq[b + 1] - cuq[b];
        if (slk[b] > max_lk) max_lk = slk[b];
    }
    const int64_t capacity = tp.tensors.page_table.shape[1] * 16;
    assert_true(max_lk < capacity || max_lq < tp.tensors.q.shape[0]);
    ksa_problem p;
    ksa_problem_storage st;
    memset(&st, 0, sizeof st);
    ksa_attention_params prm = tp.params;

    /* host memory: bounds at the longest lengths change nothing but are checked */
    prm.max_seqlen_q = max_lq;
    prm.max_seqlen_k = max_lk;
    assert_int_equal(run_steps(dev, &prm, &tp.tensors, 5, &p, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(p.lengths_on_device, 0);
    assert_int_equal(p.max_seqlen_q, max_lq);
    assert_int_equal(p.max_seqlen_k, max_lk);
    int64_t slots_exact = p.k_slots;
    /* a bound above the longest length shapes the call: more tiles, the bound's budget */
    prm.max_seqlen_q = max_lq + 40;
    prm.max_seqlen_k = (int32_t)capacity;
    /* an index tensor with room for any budget and tile count (the index geometry step checks the minimum) */
    ksa_attention_tensors t = tp.tensors;
    const int64_t hkv = tp.tensors.k.shape[2];
    int64_t ishape[4] = {3, hkv, 8, 1024}, cshape[3] = {3, hkv, 8};
    ksa_buffer ibuf = NULL, cbuf = NULL;
    assert_int_equal(ksa_buffer_alloc(dev, sizeof(int32_t) * 3 * hkv * 8 * 1024, &ibuf), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_alloc(dev, sizeof(int32_t) * 3 * hkv * 8, &cbuf), KSA_STATUS_SUCCESS);
    t.indices = ksa_tensor_from_buffer(ibuf, 0, KSA_DTYPE_I32, 4, ishape);
    t.counts = ksa_tensor_from_buffer(cbuf, 0, KSA_DTYPE_I32, 3, cshape);
    assert_int_equal(run_steps(dev, &prm, &t, 4, &p, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(p.max_seqlen_q, max_lq + 40);
    assert_int_equal(p.max_seqlen_k, capacity);
    for (int b = 0; b < 3; b++) assert_int_equal(p.seqlen_k[b], slk[b]); /* the true lengths stay */
    /* a length above its bound, a bound above the capacity, a negative bound: refused by name */
    prm.max_seqlen_k = max_lk - 1;
    assert_int_equal(run_steps(dev, &prm, &tp.tensors, 4, &p, &st), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "more than params.max_seqlen_k"));
    prm.max_seqlen_k = max_lk;
    prm.max_seqlen_q = max_lq - 1;
    assert_int_equal(run_steps(dev, &prm, &tp.tensors, 4, &p, &st), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "more than params.max_seqlen_q"));
    prm.max_seqlen_q = max_lq;
    prm.max_seqlen_k = (int32_t)capacity + 1;
    assert_int_equal(run_steps(dev, &prm, &tp.tensors, 4, &p, &st), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "params.max_seqlen_k is"));
    prm.max_seqlen_k = -5;
    assert_int_equal(run_steps(dev, &prm, &tp.tensors, 1, &p, &st), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "params.max_seqlen_k is -5"));

    /* a GPU-like backend without device lengths reads both length tensors back, bounds or not */
    ksa_backend *saved = pose_as_gpu(dev, 0);
    prm.max_seqlen_q = max_lq;
    prm.max_seqlen_k = max_lk;
    assert_int_equal(run_steps(dev, &prm, &tp.tensors, 4, &p, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(g_reads, 2);
    assert_int_equal(p.lengths_on_device, 0);
    dev->backend = saved;

    /* with device lengths: nothing read back, no host arrays, the call shaped by the bounds */
    pose_as_gpu(dev, 1);
    prm.max_seqlen_q = max_lq + 7;
    prm.max_seqlen_k = (int32_t)capacity;
    assert_int_equal(run_steps(dev, &prm, &t, 5, &p, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(g_reads, 0);
    assert_int_equal(p.lengths_on_device, 1);
    assert_null(p.seqlen_q);
    assert_null(p.seqlen_k);
    assert_int_equal(p.max_seqlen_q, max_lq + 7);
    assert_int_equal(p.max_seqlen_k, capacity);
    assert_int_equal(p.total_q, tp.tensors.q.shape[0]);
    assert_int_equal(p.n_tiles, 8); /* the index tensor's own; at least ceil((max_lq + 7) / 32) */
    /* the index tensor must hold the bound's budget, whatever the true lengths are */
    int64_t n_tiles = 0, need_slots = 0;
    assert_int_equal(ksa_attention_index_shape(dev, &prm, &tp.tensors, &n_tiles, &need_slots), KSA_STATUS_SUCCESS);
    assert_int_equal(g_reads, 0);
    assert_int_equal(n_tiles, (max_lq + 7 + 31) / 32);
    assert_true(need_slots >= slots_exact);
    /* a bound missing for one of the length tensors: both are read back */
    prm.max_seqlen_q = 0;
    assert_int_equal(run_steps(dev, &prm, &t, 4, &p, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(g_reads, 2);
    assert_int_equal(p.lengths_on_device, 0);
    assert_int_equal(p.max_seqlen_q, max_lq);
    /* validate_indices reads the lengths back even with bounds (REUSE's index check needs them) */
    g_reads = 0;
    prm.max_seqlen_q = max_lq;
    prm.validate_indices = 1;
    assert_int_equal(run_steps(dev, &prm, &t, 4, &p, &st), KSA_STATUS_SUCCESS);
    assert_true(g_reads >= 2);
    assert_int_equal(p.lengths_on_device, 0);
    prm.validate_indices = 0;
    /* shape-level rules still hold without the lengths: decode's one query, no more queries than keys */
    prm.max_seqlen_q = max_lq;
    prm.max_seqlen_k = max_lq - 1; /* below the true lengths too, which only the device sees */
    assert_int_equal(run_steps(dev, &prm, &t, 4, &p, &st), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "queries must not outnumber keys"));
    prm.max_seqlen_k = max_lk;
    prm.phase = KSA_PHASE_DECODE;
    assert_int_equal(run_steps(dev, &prm, &t, 4, &p, &st), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "decode takes exactly one query per sequence"));
    dev->backend = saved;
    ksa_buffer_free(ibuf);
    ksa_buffer_free(cbuf);
    ksa_problem_storage_release(&st);
    ktest_problem_destroy(&tp);
}

static void step_index_geometry_and_head_map(void **state)
{
    (void)state;
    ksa_device dev = ref_device();
    ktest_config c = ktest_config_default();
    c.mode = KSA_MODE_REUSE;
    c.hq = 8;
    c.hkv = 4;
    c.lq = 70;
    c.lk = 400;
    c.use_head_map = 1;
    ktest_problem tp;
    assert_int_equal(ktest_problem_create(dev, &c, &tp), KSA_STATUS_SUCCESS);
    ksa_problem p;
    ksa_problem_storage st;
    memset(&st, 0, sizeof st);
    assert_int_equal(run_steps(dev, &tp.params, &tp.tensors, 5, &p, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(p.n_tiles, 3); /* ceil(70 / 32) */
    assert_int_equal(p.k_slots, tp.tensors.indices.shape[3]);
    assert_int_equal(p.k_slots, 128 - 32); /* k(400) = round_up(max(128, 40), 128) = 128, minus T */
    assert_int_equal(p.index_stride[3], 1);
    assert_int_equal(p.count_stride[2], 1);
    /* one slot short of what ksa_attention_index_shape gives is refused, validation or not */
    ksa_attention_tensors t = tp.tensors;
    t.indices.shape[3] = p.k_slots - 1;
    assert_int_equal(run_steps(dev, &tp.params, &t, 5, &p, &st), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "tensors.indices: last dimension is 95 but this call selects up to 96"));
    /* DENSE: tiles for every mode, no slots */
    ksa_attention_params dense = tp.params;
    dense.mode = KSA_MODE_DENSE;
    assert_int_equal(run_steps(dev, &dense, &tp.tensors, 5, &p, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(p.n_tiles, 3);
    assert_int_equal(p.k_slots, 0);
    /* head map: copied for REUSE, identity otherwise */
    assert_int_equal(run_steps(dev, &tp.params, &tp.tensors, 6, &p, &st), KSA_STATUS_SUCCESS);
    for (int g = 0; g < 4; g++) assert_int_equal(p.head_map[g], tp.head_map_host[g]);
    assert_int_equal(run_steps(dev, &dense, &tp.tensors, 6, &p, &st), KSA_STATUS_SUCCESS);
    for (int g = 0; g < 4; g++) assert_int_equal(p.head_map[g], g);
    ksa_problem_storage_release(&st);
    ktest_problem_destroy(&tp);
}

static void step_index_entries(void **state)
{
    (void)state;
    ksa_device dev = ref_device();
    ktest_config c = ktest_config_default();
    c.mode = KSA_MODE_REUSE;
    c.lq = 40;
    c.lk = 200;
    ktest_problem tp;
    assert_int_equal(ktest_problem_create(dev, &c, &tp), KSA_STATUS_SUCCESS);
    ksa_attention_params prm = tp.params;
    prm.validate_indices = 1;
    ksa_problem p;
    ksa_problem_storage st;
    memset(&st, 0, sizeof st);
    /* the random sets are valid */
    assert_int_equal(run_steps(dev, &prm, &tp.tensors, 7, &p, &st), KSA_STATUS_SUCCESS);
    /* a repeat in (b 1, KV head 1, tile 0) is named by its position */
    int32_t *idx = ksa_buffer_data(tp.tensors.indices.buffer);
    int32_t *cnt = ksa_buffer_data(tp.tensors.counts.buffer);
    int64_t tiles = tp.tensors.indices.shape[2], slots = tp.tensors.indices.shape[3];
    int64_t set = ((1 * 2 + 1) * tiles + 0) * slots;
    cnt[(1 * 2 + 1) * tiles + 0] = 3;
    idx[set + 0] = 5;
    idx[set + 1] = 6;
    idx[set + 2] = 5;
    assert_int_equal(run_steps(dev, &prm, &tp.tensors, 7, &p, &st), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "(b 1, KV head 1, tile 0, slot 2)"));
    /* without validation the step does nothing */
    prm.validate_indices = 0;
    assert_int_equal(run_steps(dev, &prm, &tp.tensors, 7, &p, &st), KSA_STATUS_SUCCESS);
    /* the marks it used are all clear again (the next call starts clean) */
    for (int64_t j = 0; j < st.mark_capacity; j++) assert_int_equal(st.mark[j], 0);
    ksa_problem_storage_release(&st);
    ktest_problem_destroy(&tp);
}

static void index_set_check(void **state)
{
    (void)state;
    unsigned char mark[10];
    memset(mark, 0, sizeof mark);
    int repeat = -1;
    const int32_t good[] = {4, 99, 0, 99, 9, 99, 2, 99}; /* stride 2: 4, 0, 9, 2 */
    assert_int_equal(ksa_index_set_check(good, 2, 4, 10, mark, 0, &repeat), -1);
    assert_int_equal(repeat, 0);
    for (int j = 0; j < 10; j++) assert_int_equal(mark[j], 0);
    /* kept marks (the cross-check reads them), other bits untouched */
    mark[4] = 2;
    assert_int_equal(ksa_index_set_check(good, 2, 4, 10, mark, 1, &repeat), -1);
    assert_int_equal(mark[4], 3);
    assert_int_equal(mark[0], 1);
    assert_int_equal(mark[1], 0);
    memset(mark, 0, sizeof mark);
    const int32_t dup[] = {1, 2, 3, 2};
    assert_int_equal(ksa_index_set_check(dup, 1, 4, 10, mark, 0, &repeat), 3);
    assert_int_equal(repeat, 1);
    for (int j = 0; j < 10; j++) assert_int_equal(mark[j], 0);
    const int32_t out[] = {1, 10, 3};
    assert_int_equal(ksa_index_set_check(out, 1, 3, 10, mark, 0, &repeat), 1);
    assert_int_equal(repeat, 0);
    const int32_t neg[] = {-1};
    assert_int_equal(ksa_index_set_check(neg, 1, 1, 10, mark, 0, &repeat), 0);
    assert_int_equal(repeat, 0);
    /* a count of 0 is always valid */
    assert_int_equal(ksa_index_set_check(neg, 1, 0, 10, mark, 0, &repeat), -1);
    for (int j = 0; j < 10; j++) assert_int_equal(mark[j], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(step_params),
        cmocka_unit_test(step_shapes_and_layout),
        cmocka_unit_test(step_lengths),
        cmocka_unit_test(step_length_bounds),
        cmocka_unit_test(step_index_geometry_and_head_map),
        cmocka_unit_test(step_index_entries),
        cmocka_unit_test(index_set_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
