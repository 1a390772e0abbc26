/* test_cuda_graph.c: a whole schedule step (prefill, then a decode step) of a 4-layer Kascade
 * schedule (anchor with dense output, reuse, anchor, reuse) run eagerly on a caller's
 * cudaStream_t, then captured in a CUDA graph and replayed twice: the replays must reproduce the
 * eager outputs bit for bit (the calls allocate nothing and read no lengths back, so they are
 * capturable). Skips, saying why, when no CUDA device is present (ctest shows it as skipped). */
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

static void run_step(ksa_phase phase, int lq, int lk)
{
    uint64_t rng = 12345u + (uint64_t)phase;
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

    int64_t qshape[4] = {B, lq, HQ, D}, kshape[4] = {B, lk, HKV, D};
    size_t nq = (size_t)B * lq * HQ * D, nk = (size_t)B * lk * HKV * D;
    ksa_buffer q[NL], k[NL], v[NL], o[NL];
    ksa_attention_tensors t[NL];
    for (int l = 0; l < NL; l++) {
        q[l] = random_buffer(nq, &rng);
        k[l] = random_buffer(nk, &rng);
        v[l] = random_buffer(nk, &rng);
        assert_int_equal(ksa_buffer_alloc(g_dev, nq * 2, &o[l]), KSA_STATUS_SUCCESS);
        memset(&t[l], 0, sizeof t[l]);
        t[l].q = ksa_tensor_from_buffer(q[l], 0, KSA_DTYPE_F16, 4, qshape);
        t[l].k = ksa_tensor_from_buffer(k[l], 0, KSA_DTYPE_F16, 4, kshape);
        t[l].v = ksa_tensor_from_buffer(v[l], 0, KSA_DTYPE_F16, 4, kshape);
        t[l].o = ksa_tensor_from_buffer(o[l], 0, KSA_DTYPE_F16, 4, qshape);
    }
    size_t wsb = 0;
    assert_int_equal(ksa_schedule_plan(sched, phase, &t[0], &wsb), KSA_STATUS_SUCCESS);
    ksa_buffer wsbuf = NULL;
    assert_int_equal(ksa_buffer_alloc(g_dev, wsb ? wsb : 1, &wsbuf), KSA_STATUS_SUCCESS);
    ksa_workspace ws;
    memset(&ws, 0, sizeof ws);
    ws.buffer = wsbuf;
    ws.size = wsb;

    /* eager */
    for (int l = 0; l < NL; l++) assert_int_equal(ksa_schedule_run_layer(sched, st, l, &t[l], &ws), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_stream_synchronize(g_dev, st), KSA_STATUS_SUCCESS);
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
    printf("%s step: %zu graph nodes, 2 replays identical to the eager run\n", phase == KSA_PHASE_DECODE ? "decode" : "prefill",
           nodes);
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
    run_step(KSA_PHASE_PREFILL, 300, 300);
}

static void test_graph_decode(void **state)
{
    (void)state;
    if (!g_dev) {
        ktest_skip("no CUDA device");
    }
    run_step(KSA_PHASE_DECODE, 1, 900);
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
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_graph_prefill), cmocka_unit_test(test_graph_decode)};
    return ktest_run_group(tests, setup, NULL);
}
