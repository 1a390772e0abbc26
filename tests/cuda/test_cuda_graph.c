/* test_cuda_graph.c: a whole schedule step (prefill, then a decode step) of a 4-layer Kascade
 * schedule (anchor with dense output, reuse, anchor, reuse) run eagerly on a caller's
 * cudaStream_t, then captured in a CUDA graph and replayed twice: the replays must reproduce the
 * eager outputs bit for bit (the calls allocate nothing and read no lengths back, so they are
 * capturable). The same for a ragged prefill step and a paged decode step of sequences of
 * different lengths, whose length tensors live on the device: with the schedule's length bounds
 * (ksa_schedule_set_max_seqlens) nothing is read back and the step captures; without them the
 * call under capture is refused with UNSUPPORTED naming the length tensor, before it touches the
 * stream, so the caller's capture stays valid. And one dense prefill call of the 192-row sm_90a
 * kernel (block_q=192) captured and replayed the same way. Skips, saying why, when no CUDA device is
 * present (ctest shows it as skipped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cuda_runtime_api.h>

#include "ksa/ksa.h"
#include "test_util.h"

#define NL 4
#define B 2
#define HQ 8
#define HKV 2
#define D 128

static ksa_device g_dev;

static uint16_t f2h(float f)
{
    /* f32 -> f16 bits, round to nearest even, for values well inside the f16 range */
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int e = (int)((x >> 23) & 0xff) - 127 + 15;
    uint32_t m = x & 0x7fffffu;
    if (e <= 0) return (uint16_t)sign;
    uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13);
    uint32_t rest = m & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)h;
}

static ksa_buffer random_buffer(size_t n, uint64_t *rng)
{
    uint16_t *h = malloc(n * 2);
    assert_non_null(h);
    for (size_t i = 0; i < n; i++) h[i] = f2h((float)ktest_rand_uniform(rng, -1.0, 1.0));
    ksa_buffer b = NULL;
    assert_int_equal(ksa_buffer_alloc(g_dev, n * 2, &b), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_write(b, 0, h, n * 2, NULL), KSA_STATUS_SUCCESS);
    free(h);
    return b;
}

/* a workspace of `bytes` in a device buffer of its own (*buf, at least 1 byte; the caller frees it) */
static ksa_workspace device_workspace(size_t bytes, ksa_buffer *buf)
{
    *buf = NULL;
    assert_int_equal(ksa_buffer_alloc(g_dev, bytes ? bytes : 1, buf), KSA_STATUS_SUCCESS);
    ksa_workspace ws;
    memset(&ws, 0, sizeof ws);
    ws.buffer = *buf;
    ws.size = bytes;
    return ws;
}

/* the layers' tensors: contiguous (uniform lengths), ragged prefill (cu_seqlens on the device) or
 * paged decode (pages of 16, shuffled, seq_lens_k on the device); sequence 1 is shorter */
enum { LAYOUT_UNIFORM = 0, LAYOUT_RAGGED = 1, LAYOUT_PAGED = 2 };
#define PAGE 16

static ksa_buffer i32_buffer(const int32_t *h, size_t n)
{
    ksa_buffer b = NULL;
    assert_int_equal(ksa_buffer_alloc(g_dev, n * 4, &b), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_write(b, 0, h, n * 4, NULL), KSA_STATUS_SUCCESS);
    return b;
}

static void run_step(ksa_phase phase, int lq, int lk, int layout)
{
    uint64_t rng = 12345u + (uint64_t)phase + 100u * (uint64_t)layout;
    cudaStream_t cs;
    assert_int_equal(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking), cudaSuccess);
    ksa_stream st = NULL;
    assert_int_equal(ksa_stream_wrap(g_dev, cs, &st), KSA_STATUS_SUCCESS);

    ksa_topk_params tk = ksa_topk_default();
    tk.min_k = 32;
    tk.round_multiple = 16;
    ksa_schedule sched = NULL;
    assert_int_equal(ksa_schedule_create(g_dev, NL, HKV, &tk, &sched), KSA_STATUS_SUCCESS);
    int32_t anchors[2] = {0, 2};
    int32_t maps[NL * HKV] = {0, 1, 1, 0, 0, 1, 0, 0};
    assert_int_equal(ksa_schedule_set_kascade(sched, anchors, 2, maps), KSA_STATUS_SUCCESS);

    /* sequence lengths: (lq, lk) and a shorter second sequence */
    const int32_t seq_q[B] = {lq, phase == KSA_PHASE_DECODE ? 1 : lq - 50}, seq_k[B] = {lk, lk - 37};
    int32_t cu_q[B + 1] = {0}, cu_k[B + 1] = {0};
    for (int b = 0; b < B; b++) {
        cu_q[b + 1] = cu_q[b] + seq_q[b];
        cu_k[b + 1] = cu_k[b] + seq_k[b];
    }
    const int64_t pages_per_seq = (lk + PAGE - 1) / PAGE, num_pages = B * pages_per_seq + 2;
    int64_t qshape[4] = {B, lq, HQ, D}, kshape[4] = {B, lk, HKV, D};
    int64_t rq_shape[3] = {cu_q[B], HQ, D}, rk_shape[3] = {cu_k[B], HKV, D}, pk_shape[4] = {num_pages, PAGE, HKV, D};
    size_t nq = layout == LAYOUT_RAGGED ? (size_t)cu_q[B] * HQ * D : (size_t)B * lq * HQ * D;
    size_t nk = layout == LAYOUT_RAGGED ? (size_t)cu_k[B] * HKV * D
                : layout == LAYOUT_PAGED ? (size_t)num_pages * PAGE * HKV * D
                                          : (size_t)B * lk * HKV * D;
    /* the device length tensors, shared by the layers */
    ksa_buffer lens[3] = {NULL, NULL, NULL};
    int64_t cs1[1] = {B + 1}, bs1[1] = {B}, pts[2] = {B, pages_per_seq};
    if (layout == LAYOUT_RAGGED) {
        lens[0] = i32_buffer(cu_q, B + 1);
        lens[1] = i32_buffer(cu_k, B + 1);
    } else if (layout == LAYOUT_PAGED) {
        int32_t *perm = malloc(sizeof(int32_t) * (size_t)num_pages), *table = malloc(sizeof(int32_t) * (size_t)(B * pages_per_seq));
        assert_non_null(perm);
        assert_non_null(table);
        ktest_random_permutation(perm, num_pages, &rng);
        for (int64_t i = 0; i < B * pages_per_seq; i++) table[i] = perm[i];
        lens[0] = i32_buffer(seq_k, B);
        lens[1] = i32_buffer(table, (size_t)(B * pages_per_seq));
        free(perm);
        free(table);
    }
    ksa_buffer q[NL], k[NL], v[NL], o[NL];
    ksa_attention_tensors t[NL];
    for (int l = 0; l < NL; l++) {
        q[l] = random_buffer(nq, &rng);
        k[l] = random_buffer(nk, &rng);
        v[l] = random_buffer(nk, &rng);
        assert_int_equal(ksa_buffer_alloc(g_dev, nq * 2, &o[l]), KSA_STATUS_SUCCESS);
        memset(&t[l], 0, sizeof t[l]);
        if (layout == LAYOUT_RAGGED) {
            t[l].q = ksa_tensor_from_buffer(q[l], 0, KSA_DTYPE_F16, 3, rq_shape);
            t[l].o = ksa_tensor_from_buffer(o[l], 0, KSA_DTYPE_F16, 3, rq_shape);
            t[l].k = ksa_tensor_from_buffer(k[l], 0, KSA_DTYPE_F16, 3, rk_shape);
            t[l].v = ksa_tensor_from_buffer(v[l], 0, KSA_DTYPE_F16, 3, rk_shape);
            t[l].cu_seqlens_q = ksa_tensor_from_buffer(lens[0], 0, KSA_DTYPE_I32, 1, cs1);
            t[l].cu_seqlens_k = ksa_tensor_from_buffer(lens[1], 0, KSA_DTYPE_I32, 1, cs1);
        } else {
            t[l].q = ksa_tensor_from_buffer(q[l], 0, KSA_DTYPE_F16, 4, qshape);
            t[l].o = ksa_tensor_from_buffer(o[l], 0, KSA_DTYPE_F16, 4, qshape);
            int paged = layout == LAYOUT_PAGED;
            t[l].k = ksa_tensor_from_buffer(k[l], 0, KSA_DTYPE_F16, 4, paged ? pk_shape : kshape);
            t[l].v = ksa_tensor_from_buffer(v[l], 0, KSA_DTYPE_F16, 4, paged ? pk_shape : kshape);
            if (paged) {
                t[l].seq_lens_k = ksa_tensor_from_buffer(lens[0], 0, KSA_DTYPE_I32, 1, bs1);
                t[l].page_table = ksa_tensor_from_buffer(lens[1], 0, KSA_DTYPE_I32, 2, pts);
            }
        }
    }
    if (layout != LAYOUT_UNIFORM) {
        /* without bounds, the step reads its lengths back: refused under capture, with a status */
        size_t probe_ws = 0;
        assert_int_equal(ksa_schedule_plan(sched, phase, &t[0], &probe_ws), KSA_STATUS_SUCCESS);
        ksa_buffer pb;
        ksa_workspace pws = device_workspace(probe_ws, &pb);
        /* on a stream of its own */
        cudaStream_t pcs;
        assert_int_equal(cudaStreamCreateWithFlags(&pcs, cudaStreamNonBlocking), cudaSuccess);
        ksa_stream pst = NULL;
        assert_int_equal(ksa_stream_wrap(g_dev, pcs, &pst), KSA_STATUS_SUCCESS);
        assert_int_equal(cudaStreamBeginCapture(pcs, cudaStreamCaptureModeThreadLocal), cudaSuccess);
        ksa_status s = ksa_schedule_run_layer(sched, pst, 0, &t[0], &pws);
        cudaGraph_t g = NULL;
        assert_int_equal(cudaStreamEndCapture(pcs, &g), cudaSuccess);
        assert_non_null(g);
        cudaGraphDestroy(g);
        ksa_stream_destroy(pst);
        assert_int_equal(cudaStreamDestroy(pcs), cudaSuccess);
        printf("unbounded %s layer under capture: %s (%s)\n", layout == LAYOUT_RAGGED ? "ragged" : "paged",
               ksa_status_string(s), ksa_last_error());
        /* refused before the stream is touched: a status naming the tensor, and the capture intact */
        assert_int_equal(s, KSA_STATUS_UNSUPPORTED);
        assert_non_null(strstr(ksa_last_error(), layout == LAYOUT_RAGGED ? "tensors.cu_seqlens_q" : "tensors.seq_lens_k"));
        assert_non_null(strstr(ksa_last_error(), "captured"));
        ksa_buffer_free(pb);
        /* the bounds: the longest sequence's counts */
        assert_int_equal(ksa_schedule_set_max_seqlens(sched, layout == LAYOUT_RAGGED ? lq : 0, lk), KSA_STATUS_SUCCESS);
    }
    size_t wsb = 0;
    assert_int_equal(ksa_schedule_plan(sched, phase, &t[0], &wsb), KSA_STATUS_SUCCESS);
    ksa_buffer wsbuf;
    ksa_workspace ws = device_workspace(wsb, &wsbuf);

    /* eager */
    for (int l = 0; l < NL; l++) {
        ksa_status s = ksa_schedule_run_layer(sched, st, l, &t[l], &ws);
        if (s) printf("eager layer %d: %s: %s\n", l, ksa_status_string(s), ksa_last_error());
        assert_int_equal(s, KSA_STATUS_SUCCESS);
    }
    ksa_status synced = ksa_stream_synchronize(g_dev, st);
    if (synced) printf("eager step: %s: %s\n", ksa_status_string(synced), ksa_last_error());
    assert_int_equal(synced, KSA_STATUS_SUCCESS);
    uint16_t *ref = malloc(nq * 2 * NL), *got = malloc(nq * 2 * NL);
    assert_non_null(ref);
    assert_non_null(got);
    for (int l = 0; l < NL; l++) assert_int_equal(ksa_buffer_read(ref + l * nq, o[l], 0, nq * 2, st), KSA_STATUS_SUCCESS);

    /* capture */
    for (int l = 0; l < NL; l++) assert_int_equal(ksa_buffer_fill(o[l], 0, nq * 2, 0xff, st), KSA_STATUS_SUCCESS);
    assert_int_equal(cudaStreamBeginCapture(cs, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    for (int l = 0; l < NL; l++) {
        ksa_status s = ksa_schedule_run_layer(sched, st, l, &t[l], &ws);
        if (s) printf("layer %d under capture: %s: %s\n", l, ksa_status_string(s), ksa_last_error());
        assert_int_equal(s, KSA_STATUS_SUCCESS);
    }
    cudaGraph_t graph;
    assert_int_equal(cudaStreamEndCapture(cs, &graph), cudaSuccess);
    cudaGraphExec_t exec;
    assert_int_equal(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    size_t nodes = 0;
    assert_int_equal(cudaGraphGetNodes(graph, NULL, &nodes), cudaSuccess);
    assert_true(nodes >= NL);
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(cudaGraphLaunch(exec, cs), cudaSuccess);
        assert_int_equal(cudaStreamSynchronize(cs), cudaSuccess);
        for (int l = 0; l < NL; l++) assert_int_equal(ksa_buffer_read(got + l * nq, o[l], 0, nq * 2, st), KSA_STATUS_SUCCESS);
        assert_memory_equal(ref, got, nq * 2 * NL);
        for (int l = 0; l < NL; l++) assert_int_equal(ksa_buffer_fill(o[l], 0, nq * 2, 0xff, st), KSA_STATUS_SUCCESS);
    }
    printf("%s %s step: %zu graph nodes, 2 replays identical to the eager run\n",
           layout == LAYOUT_RAGGED ? "ragged" : layout == LAYOUT_PAGED ? "paged" : "uniform",
           phase == KSA_PHASE_DECODE ? "decode" : "prefill", nodes);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    free(ref);
    free(got);
    for (int l = 0; l < NL; l++) {
        ksa_buffer_free(q[l]);
        ksa_buffer_free(k[l]);
        ksa_buffer_free(v[l]);
        ksa_buffer_free(o[l]);
    }
    for (int i = 0; i < 3; i++) ksa_buffer_free(lens[i]);
    ksa_buffer_free(wsbuf);
    ksa_schedule_destroy(sched);
    ksa_stream_destroy(st);
    cudaStreamDestroy(cs);
}

static void test_graph_prefill(void **state)
{
    (void)state;
    if (!g_dev) {
        ktest_skip("no CUDA device");
    }
    run_step(KSA_PHASE_PREFILL, 300, 300, LAYOUT_UNIFORM);
}

static void test_graph_decode(void **state)
{
    (void)state;
    if (!g_dev) {
        ktest_skip("no CUDA device");
    }
    run_step(KSA_PHASE_DECODE, 1, 900, LAYOUT_UNIFORM);
}

static void test_graph_ragged_prefill(void **state)
{
    (void)state;
    if (!g_dev) {
        ktest_skip("no CUDA device");
    }
    run_step(KSA_PHASE_PREFILL, 300, 420, LAYOUT_RAGGED);
}

static void test_graph_paged_decode(void **state)
{
    (void)state;
    if (!g_dev) {
        ktest_skip("no CUDA device");
    }
    run_step(KSA_PHASE_DECODE, 1, 900, LAYOUT_PAGED);
}

/* dense prefill at head_dim 64 with block_q=192 (the sm_90a flash kernel with three consumer
 * warpgroups, compute capability 9.0), one ksa_attention call with lse on a caller's stream: eager,
 * then captured and replayed twice, bit for bit (outputs filled with 0xff before each replay) */
static void test_graph_dense_block_q192(void **state)
{
    (void)state;
    if (!g_dev) {
        ktest_skip("no CUDA device");
    }
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(g_dev, &info), KSA_STATUS_SUCCESS);
    if (strcmp(info.isa, "sm_90") != 0) ktest_skip("block_q=192 runs on the sm_90a wgmma kernel only (%s)", info.isa);
    enum { L = 700, D64 = 64 }; /* HQ 8 query heads, HKV 2 KV heads */
    uint64_t rng = 4242;
    const size_t nq = (size_t)L * HQ * D64, nk = (size_t)L * HKV * D64, nl = (size_t)HQ * L;
    ksa_buffer q = random_buffer(nq, &rng), k = random_buffer(nk, &rng), v = random_buffer(nk, &rng), o = NULL, lse = NULL;
    assert_int_equal(ksa_buffer_alloc(g_dev, nq * 2, &o), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_alloc(g_dev, nl * 4, &lse), KSA_STATUS_SUCCESS);
    const int64_t qs[4] = {1, L, HQ, D64}, ks[4] = {1, L, HKV, D64}, ls[3] = {1, HQ, L};
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    t.q = ksa_tensor_from_buffer(q, 0, KSA_DTYPE_F16, 4, qs);
    t.k = ksa_tensor_from_buffer(k, 0, KSA_DTYPE_F16, 4, ks);
    t.v = ksa_tensor_from_buffer(v, 0, KSA_DTYPE_F16, 4, ks);
    t.o = ksa_tensor_from_buffer(o, 0, KSA_DTYPE_F16, 4, qs);
    t.lse = ksa_tensor_from_buffer(lse, 0, KSA_DTYPE_F32, 3, ls);
    const ksa_attention_params prm = ksa_attention_params_default(KSA_MODE_DENSE, KSA_PHASE_PREFILL);
    assert_int_equal(ksa_set_config_override("block_q=192"), KSA_STATUS_SUCCESS);
    size_t wsb = 0;
    assert_int_equal(ksa_attention_workspace_size(g_dev, &prm, &t, &wsb), KSA_STATUS_SUCCESS);
    ksa_buffer wsbuf;
    ksa_workspace ws = device_workspace(wsb, &wsbuf);
    cudaStream_t cs;
    assert_int_equal(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking), cudaSuccess);
    ksa_stream st = NULL;
    assert_int_equal(ksa_stream_wrap(g_dev, cs, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_attention(g_dev, st, &prm, &t, &ws), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_stream_synchronize(g_dev, st), KSA_STATUS_SUCCESS);
    unsigned char *ref = malloc(nq * 2 + nl * 4), *got = malloc(nq * 2 + nl * 4);
    assert_non_null(ref);
    assert_non_null(got);
    assert_int_equal(ksa_buffer_read(ref, o, 0, nq * 2, st), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_read(ref + nq * 2, lse, 0, nl * 4, st), KSA_STATUS_SUCCESS);
    assert_int_equal(cudaStreamBeginCapture(cs, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    const ksa_status cap = ksa_attention(g_dev, st, &prm, &t, &ws);
    cudaGraph_t graph;
    assert_int_equal(cudaStreamEndCapture(cs, &graph), cudaSuccess);
    assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
    if (cap) printf("block_q=192 under capture: %s: %s\n", ksa_status_string(cap), ksa_last_error());
    assert_int_equal(cap, KSA_STATUS_SUCCESS);
    cudaGraphExec_t exec;
    assert_int_equal(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(ksa_buffer_fill(o, 0, nq * 2, 0xff, st), KSA_STATUS_SUCCESS);
        assert_int_equal(ksa_buffer_fill(lse, 0, nl * 4, 0xff, st), KSA_STATUS_SUCCESS);
        assert_int_equal(cudaGraphLaunch(exec, cs), cudaSuccess);
        assert_int_equal(cudaStreamSynchronize(cs), cudaSuccess);
        assert_int_equal(ksa_buffer_read(got, o, 0, nq * 2, st), KSA_STATUS_SUCCESS);
        assert_int_equal(ksa_buffer_read(got + nq * 2, lse, 0, nl * 4, st), KSA_STATUS_SUCCESS);
        assert_memory_equal(ref, got, nq * 2 + nl * 4);
    }
    printf("dense prefill D64 block_q=192: 2 replays identical to the eager run\n");
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    free(ref);
    free(got);
    ksa_stream_destroy(st);
    assert_int_equal(cudaStreamDestroy(cs), cudaSuccess);
    ksa_buffer_free(wsbuf);
    ksa_buffer_free(q);
    ksa_buffer_free(k);
    ksa_buffer_free(v);
    ksa_buffer_free(o);
    ksa_buffer_free(lse);
}

static int setup(void **state)
{
    (void)state;
    ksa_context ctx = ktest_context();
    if (ctx && ksa_device_open(ctx, "cuda:0", &g_dev) != KSA_STATUS_SUCCESS) g_dev = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_graph_prefill), cmocka_unit_test(test_graph_decode),
                                       cmocka_unit_test(test_graph_ragged_prefill), cmocka_unit_test(test_graph_paged_decode),
                                       cmocka_unit_test(test_graph_dense_block_q192)};
    return ktest_run_group(tests, setup, NULL);
}
