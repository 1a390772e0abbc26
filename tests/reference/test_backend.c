/* test_backend.c: the reference backend's vtable (identity, device info, host memory, no-op
 * streams, the workspace it asks for and refuses to run without) and the public API on device
 * "reference" (ksa_context_create / ksa_device_open / ksa_attention), whose outputs are compared
 * with the independent brute force for DENSE, ANCHOR and REUSE in prefill and decode. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ksa/ksa.h"
#include "ksa_internal.h"
#include "ref_bruteforce.h"
#include "ref_test_problem.h"
#include "reference/ksa_reference.h"
#include "test_util.h"

static void test_vtable_identity(void **state)
{
    ksa_backend *be = ksa_reference_backend();
    assert_non_null(be);
    assert_int_equal(be->abi_version, KSA_BACKEND_ABI_VERSION);
    assert_string_equal(be->name, "reference");
    assert_int_equal(be->kind, KSA_DEVICE_REFERENCE);
    assert_int_equal(be->host_memory, 1);
    assert_null(be->tunables);
    char why[64] = "x";
    assert_int_equal(be->init(be, ksa_host_api_get(), why, sizeof why), KSA_STATUS_SUCCESS);
    assert_int_equal(be->device_count(be), 1);
    ksa_device_info info;
    memset(&info, 0x5a, sizeof info);
    assert_int_equal(be->device_info(be, 0, &info), KSA_STATUS_SUCCESS);
    assert_int_equal(info.kind, KSA_DEVICE_REFERENCE);
    assert_string_equal(info.name, "reference");
    assert_string_equal(info.backend, "reference");
    assert_string_equal(info.description, "scalar float64 reference");
    assert_string_equal(info.isa, "scalar");
    assert_int_equal(info.host_memory, 1);
    assert_int_equal(info.compute_units, 1);
    assert_true(info.memory_bytes > 0);
    assert_int_not_equal(be->device_info(be, 1, &info), KSA_STATUS_SUCCESS);
}

static void test_vtable_memory_and_streams(void **state)
{
    ksa_backend *be = ksa_reference_backend();
    static const size_t sizes[] = {0, 1, 63, 64, 1000, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        ksa_mem m;
        assert_int_equal(be->mem_alloc(be, 0, sizes[i], &m), KSA_STATUS_SUCCESS);
        assert_non_null(m.ptr);
        assert_int_equal((uintptr_t)ksa_mem_addr(m) % 64, 0);
        if (sizes[i] >= 16) {
            unsigned char src[16], dst[16];
            for (int x = 0; x < 16; x++) src[x] = (unsigned char)(x * 7 + 1);
            size_t off = sizes[i] - 16;
            assert_int_equal(be->mem_write(be, 0, NULL, m, off, src, 16), KSA_STATUS_SUCCESS);
            assert_int_equal(be->mem_read(be, 0, NULL, dst, m, off, 16), KSA_STATUS_SUCCESS);
            assert_memory_equal(src, dst, 16);
            assert_int_equal(be->mem_fill(be, 0, NULL, m, off + 4, 8, 0xab), KSA_STATUS_SUCCESS);
            assert_int_equal(be->mem_read(be, 0, NULL, dst, m, off, 16), KSA_STATUS_SUCCESS);
            for (int x = 0; x < 16; x++) assert_int_equal(dst[x], (x >= 4 && x < 12) ? 0xab : src[x]);
        }
        be->mem_free(be, 0, m);
    }
    /* wrapping: the caller's pointer, never freed by mem_free */
    float user[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ksa_mem w;
    assert_int_equal(be->mem_wrap(be, 0, user, sizeof user, &w), KSA_STATUS_SUCCESS);
    assert_ptr_equal(ksa_mem_addr(w), user);
    w.offset = 8;
    float two[2];
    assert_int_equal(be->mem_read(be, 0, NULL, two, w, 4, sizeof two), KSA_STATUS_SUCCESS);
    assert_true(two[0] == 4 && two[1] == 5);
    be->mem_free(be, 0, w); /* must not free the stack array (ASan would object) */
    void *native = (void *)1;
    assert_int_equal(be->stream_create(be, 0, &native), KSA_STATUS_SUCCESS);
    assert_null(native);
    assert_int_equal(be->stream_sync(be, 0, native), KSA_STATUS_SUCCESS);
    be->stream_destroy(be, 0, native);
}

static void test_vtable_attention_workspace(void **state)
{
    ksa_backend *be = ksa_reference_backend();
    rt_config c = rt_config_default();
    c.mode = KSA_MODE_ANCHOR;
    c.batch = 2;
    c.hq = 4;
    c.hkv = 2;
    c.lk[1] = 75;
    c.with_lse = 1;
    rt_data *d = rt_data_random(&c, 3, 2.0);
    rt_problem *r = rt_problem_create(&c, d);
    size_t need = 0;
    assert_int_equal(be->attention_workspace(be, 0, &r->p, &need), KSA_STATUS_SUCCESS);
    assert_int_equal(need, ksa_reference_workspace_bytes(&r->p));
    /* grows with the key length and the head dim */
    rt_config c2 = c;
    c2.lk[1] = 300;
    rt_data *d2 = rt_data_random(&c2, 3, 1.0);
    rt_problem *r2 = rt_problem_create(&c2, d2);
    assert_true(ksa_reference_workspace_bytes(&r2->p) > need);
    ksa_call_info info;
    memset(&info, 0, sizeof info);
    unsigned char *ws = malloc(need);
    memset(ws, 0xff, need);
    r->p.workspace.ptr = ws;
    r->p.workspace_size = need / 2;
    assert_int_equal(be->attention(be, 0, NULL, &r->p, &info), KSA_STATUS_WORKSPACE_TOO_SMALL);
    assert_true(isnan(rt_o(r, 0, 0, 0, 0))); /* nothing written */
    r->p.workspace_size = need;
    assert_int_equal(be->attention(be, 0, NULL, &r->p, &info), KSA_STATUS_SUCCESS);
    assert_string_equal(info.kernel, "reference.anchor_prefill");
    char msg[256] = "";
    int bad = rt_check_written(r, msg, sizeof msg) || bf_compare(r, d, msg, sizeof msg);
    if (bad) fail_msg("%s", msg);
    free(ws);
    rt_problem_free(r);
    rt_problem_free(r2);
    rt_data_free(d);
    rt_data_free(d2);
}

/* ---------------------------------------------------------------- public API */
static ksa_context g_ctx;
static ksa_device g_dev;

static int api_setup(void **state)
{
    if (ksa_context_create(&g_ctx) != KSA_STATUS_SUCCESS) return -1;
    if (ksa_device_open(g_ctx, "reference", &g_dev) != KSA_STATUS_SUCCESS) return -1;
    return 0;
}

static int api_teardown(void **state)
{
    ksa_context_destroy(g_ctx);
    return 0;
}

static void test_api_device(void **state)
{
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(g_dev, &info), KSA_STATUS_SUCCESS);
    assert_int_equal(info.kind, KSA_DEVICE_REFERENCE);
    assert_string_equal(info.name, "reference");
    assert_string_equal(info.backend, "reference");
    assert_int_equal(info.host_memory, 1);
}

/* Tensors of the public API over an rt_problem's (non-strided) buffers. */
static ksa_attention_tensors api_tensors(const rt_problem *r, int32_t *map_storage)
{
    const ksa_problem *p = &r->p;
    const rt_config *c = &r->cfg;
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    int64_t B = p->batch, Hq = p->num_q_heads, Hkv = p->num_kv_heads, D = p->head_dim;
    if (c->q_ragged) {
        int64_t qs[3] = {p->total_q, Hq, D}, cs[1] = {B + 1}, ls[2] = {Hq, p->total_q};
        t.q = ksa_tensor_make(g_dev, r->buf[RT_BUF_Q], c->dtype, 3, qs);
        t.o = ksa_tensor_make(g_dev, r->buf[RT_BUF_O], c->dtype, 3, qs);
        t.cu_seqlens_q = ksa_tensor_make(g_dev, r->buf[RT_BUF_CUQ], KSA_DTYPE_I32, 1, cs);
        if (c->with_lse) t.lse = ksa_tensor_make(g_dev, r->buf[RT_BUF_LSE], KSA_DTYPE_F32, 2, ls);
    } else {
        int64_t qs[4] = {B, p->max_seqlen_q, Hq, D}, ls[3] = {B, Hq, p->max_seqlen_q};
        t.q = ksa_tensor_make(g_dev, r->buf[RT_BUF_Q], c->dtype, 4, qs);
        t.o = ksa_tensor_make(g_dev, r->buf[RT_BUF_O], c->dtype, 4, qs);
        if (c->with_lse) t.lse = ksa_tensor_make(g_dev, r->buf[RT_BUF_LSE], KSA_DTYPE_F32, 3, ls);
    }
    int64_t sl[1] = {B};
    if (c->kv == RT_KV_PAGED) {
        int64_t ks[4] = {p->num_pages, p->page_size, Hkv, D}, pt[2] = {B, p->max_pages_per_seq};
        t.k = ksa_tensor_make(g_dev, r->buf[RT_BUF_K], c->dtype, 4, ks);
        t.v = ksa_tensor_make(g_dev, r->buf[RT_BUF_V], c->dtype, 4, ks);
        t.page_table = ksa_tensor_make(g_dev, r->buf[RT_BUF_PT], KSA_DTYPE_I32, 2, pt);
        t.seq_lens_k = ksa_tensor_make(g_dev, r->buf[RT_BUF_SLK], KSA_DTYPE_I32, 1, sl);
    } else {
        int64_t ks[4] = {B, p->max_seqlen_k, Hkv, D};
        t.k = ksa_tensor_make(g_dev, r->buf[RT_BUF_K], c->dtype, 4, ks);
        t.v = ksa_tensor_make(g_dev, r->buf[RT_BUF_V], c->dtype, 4, ks);
        t.seq_lens_k = ksa_tensor_make(g_dev, r->buf[RT_BUF_SLK], KSA_DTYPE_I32, 1, sl);
    }
    if (c->mode != KSA_MODE_DENSE) {
        int decode = c->phase == KSA_PHASE_DECODE;
        int64_t is[4] = {B, Hkv, decode ? p->k_slots : p->n_tiles, p->k_slots}, cs[3] = {B, Hkv, p->n_tiles};
        t.indices = ksa_tensor_make(g_dev, r->buf[RT_BUF_IDX], KSA_DTYPE_I32, decode ? 3 : 4, is);
        t.counts = ksa_tensor_make(g_dev, r->buf[RT_BUF_CNT], KSA_DTYPE_I32, decode ? 2 : 3, cs);
    }
    if (c->mode == KSA_MODE_REUSE && c->head_map) {
        int64_t hs[1] = {Hkv};
        for (int g = 0; g < Hkv; g++) map_storage[g] = c->head_map[g];
        t.head_map = ksa_tensor_make(g_dev, map_storage, KSA_DTYPE_I32, 1, hs);
    }
    return t;
}

/* Run r's problem through ksa_attention on "reference" and compare with the brute force. */
static void api_run_and_compare(rt_problem *r, const rt_data *d)
{
    const rt_config *c = &r->cfg;
    ksa_attention_params params = ksa_attention_params_default(c->mode, c->phase);
    params.topk = c->topk;
    params.scale = r->p.scale;
    params.anchor_dense_output = c->anchor_dense_output;
    int32_t map[KSA_MAX_KV_HEADS];
    ksa_attention_tensors t = api_tensors(r, map);
    if (c->mode != KSA_MODE_DENSE) {
        int64_t n_tiles = 0, k_slots = 0;
        assert_int_equal(ksa_attention_index_shape(g_dev, &params, &t, &n_tiles, &k_slots), KSA_STATUS_SUCCESS);
        assert_int_equal(n_tiles, r->p.n_tiles);
        assert_int_equal(k_slots, r->p.k_slots);
    }
    size_t bytes = 0;
    if (ksa_attention_workspace_size(g_dev, &params, &t, &bytes) != KSA_STATUS_SUCCESS)
        fail_msg("workspace size: %s", ksa_last_error());
    assert_true(bytes > 0);
    void *mem = malloc(bytes);
    ksa_workspace ws = {mem, NULL, 0, bytes - 1};
    rt_problem_poison(r);
    /* one byte short: refused with a sentence, nothing written */
    assert_int_equal(ksa_attention(g_dev, NULL, &params, &t, &ws), KSA_STATUS_WORKSPACE_TOO_SMALL);
    assert_true(strlen(ksa_last_error()) > 0);
    assert_true(isnan(rt_o(r, 0, 0, 0, 0)));
    ws.size = bytes;
    if (ksa_attention(g_dev, NULL, &params, &t, &ws) != KSA_STATUS_SUCCESS) fail_msg("ksa_attention: %s", ksa_last_error());
    char msg[256] = "";
    int bad = rt_check_written(r, msg, sizeof msg) || bf_compare(r, d, msg, sizeof msg);
    if (bad) fail_msg("public API, mode %d phase %d dtype %s: %s", (int)c->mode, (int)c->phase, ksa_dtype_name(c->dtype), msg);
    free(mem);
}

static rt_config api_config(ksa_mode mode, ksa_phase phase, ksa_dtype dtype)
{
    rt_config c = rt_config_default();
    c.mode = mode;
    c.phase = phase;
    c.dtype = dtype;
    c.batch = 2;
    c.hq = 8;
    c.hkv = 2;
    c.head_dim = 64;
    c.lq[0] = 40;
    c.lk[0] = 40;
    c.lq[1] = 40;
    c.lk[1] = 71; /* chunked prefill: 40 queries after 31 cached keys */
    c.with_lse = 1;
    c.topk.tile_size = 16;
    c.topk.fraction = 0.25;
    c.topk.min_k = 20;
    c.topk.round_multiple = 4;
    c.topk.rolling = 1;
    return c;
}

static void test_api_dense(void **state)
{
    for (int ph = 0; ph < 2; ph++) {
        rt_config c = api_config(KSA_MODE_DENSE, (ksa_phase)ph, KSA_DTYPE_F32);
        rt_data *d = rt_data_random(&c, 201 + (uint64_t)ph, 2.0);
        rt_problem *r = rt_problem_create(&c, d);
        api_run_and_compare(r, d);
        rt_problem_free(r);
        rt_data_free(d);
    }
}

/* ANCHOR calls on device "reference" write the selection sizes of the hand-computed table */
static void test_api_selection_sizes(void **state)
{
    (void)state;
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    assert_int_equal(ktest_check_counts_on_device(dev), 0);
}

static void test_api_anchor_then_reuse(void **state)
{
    static const ksa_dtype dts[2] = {KSA_DTYPE_BF16, KSA_DTYPE_F16};
    for (int ph = 0; ph < 2; ph++) {
        rt_config c = api_config(KSA_MODE_ANCHOR, (ksa_phase)ph, dts[ph]);
        c.kv = RT_KV_PAGED;
        c.page_size = 16;
        c.q_ragged = ph == 0;
        c.lq[1] = ph == 0 ? 25 : 1;
        rt_data *d = rt_data_random(&c, 301 + (uint64_t)ph, 2.5);
        rt_problem *anchor = rt_problem_create(&c, d);
        api_run_and_compare(anchor, d);
        /* a REUSE layer (new q/k/v) reading the anchor's sets through a head map */
        static const int32_t map[2] = {1, 0};
        c.mode = KSA_MODE_REUSE;
        c.head_map = map;
        c.topk.local_window = ph == 1 ? 5 : 0;
        rt_data *d2 = rt_data_random(&c, 401 + (uint64_t)ph, 2.0);
        rt_problem *reuse = rt_problem_create(&c, d2);
        rt_copy_sets(reuse, anchor);
        api_run_and_compare(reuse, d2);
        rt_problem_free(anchor);
        rt_problem_free(reuse);
        rt_data_free(d);
        rt_data_free(d2);
    }
}

int main(void)
{
    const struct CMUnitTest vtable[] = {
        cmocka_unit_test(test_vtable_identity),
        cmocka_unit_test(test_vtable_memory_and_streams),
        cmocka_unit_test(test_vtable_attention_workspace),
    };
    const struct CMUnitTest api[] = {
        cmocka_unit_test(test_api_device),
        cmocka_unit_test(test_api_dense),
        cmocka_unit_test(test_api_anchor_then_reuse),
        cmocka_unit_test(test_api_selection_sizes),
    };
    int fails = cmocka_run_group_tests_name("reference_vtable", vtable, NULL, NULL);
    fails += cmocka_run_group_tests_name("reference_public_api", api, api_setup, api_teardown);
    return fails;
}
