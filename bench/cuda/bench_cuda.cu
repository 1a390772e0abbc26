/* bench_cuda.cu: ksa-cuda-bench, the CUDA backend's timing points P1-P6 of bench/PERFORMANCE.md through
 * the public API (one JSON object per line on stdout). Inputs are random (filled on the device),
 * times are CUDA-event medians over repeats after warm-up. The peer (PyTorch SDPA with cuDNN) runs
 * in peer_sdpa.py from the same device-dev.sh call.
 *   ksa-cuda-bench [--quick] [--dtype f16|bf16] [--only prefill,decode,shapes,schedule] [--config k=v,...] */
#include <algorithm>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "ksa/ksa.h"
#include "bench_timing.cuh"

#define CHECK_KSA(x)                                                                                  \
    do {                                                                                              \
        ksa_status s_ = (x);                                                                          \
        if (s_ != KSA_STATUS_SUCCESS) {                                                               \
            fprintf(stderr, "%s:%d: %s: %s: %s\n", __FILE__, __LINE__, #x, ksa_status_string(s_),     \
                    ksa_last_error());                                                                \
            exit(1);                                                                                  \
        }                                                                                             \
    } while (0)

__global__ void fill_random(uint16_t *p, size_t n, uint32_t seed, int bf16)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t x = (uint32_t)i * 2654435761u ^ seed;
        x ^= x >> 15;
        x *= 2246822519u;
        x ^= x >> 13;
        float f = ((x & 0xffffff) / 16777216.0f) * 2.f - 1.f;
        if (bf16) {
            __nv_bfloat16 h = __float2bfloat16(f);
            p[i] = *(uint16_t *)&h;
        } else {
            __half h = __float2half(f);
            p[i] = *(uint16_t *)&h;
        }
    }
}

static ksa_device g_dev;
static cudaStream_t g_cs;
static ksa_stream g_st;
static ksa_dtype g_dt = KSA_DTYPE_F16;
static int g_quick = 0;
static const char *g_config = ""; /* backend configuration forced for every call ("" = built-in) */

static void *dev_random(size_t n, uint32_t seed)
{
    void *p;
    CHECK_CUDA(cudaMalloc(&p, n * 2));
    fill_random<<<1024, 256, 0, g_cs>>>((uint16_t *)p, n, seed, g_dt == KSA_DTYPE_BF16);
    CHECK_CUDA(cudaGetLastError());
    return p;
}

struct Call {
    ksa_attention_params params;
    ksa_attention_tensors t;
    ksa_workspace ws;
};

static ksa_tensor tens(void *data, ksa_dtype dt, int nd, const int64_t *shape)
{
    return ksa_tensor_make(g_dev, data, dt, nd, shape);
}

/* q and o share q_shape, k and v share kv_shape; all in the run's dtype */
static void set_qkvo(ksa_attention_tensors &t, void *q, void *k, void *v, void *o, const int64_t *q_shape,
                     const int64_t *kv_shape)
{
    t.q = tens(q, g_dt, 4, q_shape);
    t.k = tens(k, g_dt, 4, kv_shape);
    t.v = tens(v, g_dt, 4, kv_shape);
    t.o = tens(o, g_dt, 4, q_shape);
}

/* median milliseconds of fn over reps after two warm-up calls */
template <typename F> static double time_ms(F fn, int reps) { return bench_median_ms(g_cs, fn, reps, 2); }

static void *g_ws;
static size_t g_ws_size;
static void ensure_ws(size_t n)
{
    if (n <= g_ws_size) return;
    if (g_ws) CHECK_CUDA(cudaFree(g_ws));
    CHECK_CUDA(cudaMalloc(&g_ws, n));
    g_ws_size = n;
}

static void run(Call &c)
{
    size_t need = 0;
    CHECK_KSA(ksa_attention_workspace_size(g_dev, &c.params, &c.t, &need));
    ensure_ws(need);
    c.ws.data = g_ws;
    c.ws.size = g_ws_size;
    CHECK_KSA(ksa_attention(g_dev, g_st, &c.params, &c.t, &c.ws));
}

static const char *dtn(void) { return g_dt == KSA_DTYPE_F16 ? "f16" : "bf16"; }

/* prefill: dense, anchor and reuse at one length */
static void bench_prefill(int L, int hq, int hkv, int D, int do_sparse)
{
    int64_t qs[4] = {1, L, hq, D}, ks[4] = {1, L, hkv, D};
    void *q = dev_random((size_t)L * hq * D, 1), *k = dev_random((size_t)L * hkv * D, 2), *v = dev_random((size_t)L * hkv * D, 3);
    void *o;
    CHECK_CUDA(cudaMalloc(&o, (size_t)L * hq * D * 2));
    Call c;
    memset(&c, 0, sizeof c);
    c.params = ksa_attention_params_default(KSA_MODE_DENSE, KSA_PHASE_PREFILL);
    set_qkvo(c.t, q, k, v, o, qs, ks);
    int reps = g_quick ? 3 : 10;
    double flops = 4.0 * hq * (double)L * L * D / 2;
    double dense = time_ms([&] { run(c); }, reps);
    printf("{\"op\":\"prefill\",\"mode\":\"dense\",\"dtype\":\"%s\",\"B\":1,\"Hq\":%d,\"Hkv\":%d,\"D\":%d,\"L\":%d,\"ms\":%.4f,"
           "\"tflops\":%.1f}\n",
           dtn(), hq, hkv, D, L, dense, flops / dense / 1e9);
    fflush(stdout);
    if (do_sparse) {
        int64_t nt, ksl;
        Call a = c;
        a.params = ksa_attention_params_default(KSA_MODE_ANCHOR, KSA_PHASE_PREFILL);
        CHECK_KSA(ksa_attention_index_shape(g_dev, &a.params, &a.t, &nt, &ksl));
        void *idx, *cnt;
        CHECK_CUDA(cudaMalloc(&idx, (size_t)hkv * nt * ksl * 4));
        CHECK_CUDA(cudaMalloc(&cnt, (size_t)hkv * nt * 4));
        int64_t is[4] = {1, hkv, nt, ksl}, cs[3] = {1, hkv, nt};
        a.t.indices = tens(idx, KSA_DTYPE_I32, 4, is);
        a.t.counts = tens(cnt, KSA_DTYPE_I32, 3, cs);
        double anchor = time_ms([&] { run(a); }, reps);
        Call r = a;
        r.params = ksa_attention_params_default(KSA_MODE_REUSE, KSA_PHASE_PREFILL);
        double reuse = time_ms([&] { run(r); }, reps);
        printf("{\"op\":\"prefill\",\"mode\":\"anchor\",\"dtype\":\"%s\",\"B\":1,\"Hq\":%d,\"Hkv\":%d,\"D\":%d,\"L\":%d,\"ms\":%.4f,"
               "\"vs_own_dense\":%.3f}\n",
               dtn(), hq, hkv, D, L, anchor, anchor / dense);
        printf("{\"op\":\"prefill\",\"mode\":\"reuse\",\"dtype\":\"%s\",\"B\":1,\"Hq\":%d,\"Hkv\":%d,\"D\":%d,\"L\":%d,\"ms\":%.4f,"
               "\"own_dense_over_reuse\":%.3f}\n",
               dtn(), hq, hkv, D, L, reuse, dense / reuse);
        fflush(stdout);
        cudaFree(idx);
        cudaFree(cnt);
    }
    cudaFree(q);
    cudaFree(k);
    cudaFree(v);
    cudaFree(o);
}

static void bench_decode(int B, int Lk, int hq, int hkv, int D)
{
    int64_t qs[4] = {B, 1, hq, D}, ks[4] = {B, Lk, hkv, D};
    size_t nkv = (size_t)B * Lk * hkv * D;
    void *q = dev_random((size_t)B * hq * D, 4), *k = dev_random(nkv, 5), *v = dev_random(nkv, 6);
    void *o;
    CHECK_CUDA(cudaMalloc(&o, (size_t)B * hq * D * 2));
    Call c;
    memset(&c, 0, sizeof c);
    c.params = ksa_attention_params_default(KSA_MODE_DENSE, KSA_PHASE_DECODE);
    set_qkvo(c.t, q, k, v, o, qs, ks);
    int reps = g_quick ? 5 : 20;
    double dense = time_ms([&] { run(c); }, reps);
    double bytes = 2.0 * nkv * 2;
    printf("{\"op\":\"decode\",\"mode\":\"dense\",\"dtype\":\"%s\",\"B\":%d,\"Hq\":%d,\"Hkv\":%d,\"D\":%d,\"Lk\":%d,\"ms\":%.4f,"
           "\"GBps\":%.1f}\n",
           dtn(), B, hq, hkv, D, Lk, dense, bytes / dense / 1e6);
    fflush(stdout);
    Call a = c;
    a.params = ksa_attention_params_default(KSA_MODE_ANCHOR, KSA_PHASE_DECODE);
    int64_t nt, ksl;
    CHECK_KSA(ksa_attention_index_shape(g_dev, &a.params, &a.t, &nt, &ksl));
    void *idx, *cnt;
    CHECK_CUDA(cudaMalloc(&idx, (size_t)B * hkv * ksl * 4));
    CHECK_CUDA(cudaMalloc(&cnt, (size_t)B * hkv * 4));
    int64_t is[3] = {B, hkv, ksl}, cs[2] = {B, hkv};
    a.t.indices = tens(idx, KSA_DTYPE_I32, 3, is);
    a.t.counts = tens(cnt, KSA_DTYPE_I32, 2, cs);
    double anchor = time_ms([&] { run(a); }, reps);
    Call r = a;
    r.params = ksa_attention_params_default(KSA_MODE_REUSE, KSA_PHASE_DECODE);
    double reuse = time_ms([&] { run(r); }, reps);
    double rbytes = 2.0 * B * hkv * (double)ksl * D * 2;
    printf("{\"op\":\"decode\",\"mode\":\"anchor\",\"dtype\":\"%s\",\"B\":%d,\"Hq\":%d,\"Hkv\":%d,\"D\":%d,\"Lk\":%d,\"ms\":%.4f,"
           "\"vs_own_dense\":%.3f}\n",
           dtn(), B, hq, hkv, D, Lk, anchor, anchor / dense);
    printf("{\"op\":\"decode\",\"mode\":\"reuse\",\"dtype\":\"%s\",\"B\":%d,\"Hq\":%d,\"Hkv\":%d,\"D\":%d,\"Lk\":%d,\"k\":%lld,"
           "\"ms\":%.4f,\"GBps_gathered\":%.1f,\"own_dense_over_reuse\":%.3f}\n",
           dtn(), B, hq, hkv, D, Lk, (long long)ksl, reuse, rbytes / reuse / 1e6, dense / reuse);
    fflush(stdout);
    cudaFree(idx);
    cudaFree(cnt);
    cudaFree(q);
    cudaFree(k);
    cudaFree(v);
    cudaFree(o);
}

/* P6: 32 layers, Kascade schedule (anchors 0, 2, 8, 13, 14; identity head maps) vs 32 dense layers */
static void bench_schedule(ksa_phase phase, int B, int L, int hq, int hkv, int D)
{
    const int NLAY = 32;
    int lq = phase == KSA_PHASE_DECODE ? 1 : L;
    int64_t qs[4] = {B, lq, hq, D}, ks[4] = {B, L, hkv, D};
    size_t nkv = (size_t)B * L * hkv * D;
    void *q = dev_random((size_t)B * lq * hq * D, 7), *k = dev_random(nkv, 8), *v = dev_random(nkv, 9);
    void *o;
    CHECK_CUDA(cudaMalloc(&o, (size_t)B * lq * hq * D * 2));
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    set_qkvo(t, q, k, v, o, qs, ks);
    ksa_topk_params tk = ksa_topk_default();
    ksa_schedule s;
    CHECK_KSA(ksa_schedule_create(g_dev, NLAY, hkv, &tk, &s));
    int32_t anchors[5] = {0, 2, 8, 13, 14};
    std::vector<int32_t> maps((size_t)NLAY * hkv);
    for (int l = 0; l < NLAY; l++)
        for (int g = 0; g < hkv; g++) maps[(size_t)l * hkv + g] = g;
    CHECK_KSA(ksa_schedule_set_kascade(s, anchors, 5, maps.data()));
    size_t wsb = 0;
    CHECK_KSA(ksa_schedule_plan(s, phase, &t, &wsb));
    ensure_ws(wsb);
    ksa_workspace ws;
    memset(&ws, 0, sizeof ws);
    ws.data = g_ws;
    ws.size = g_ws_size;
    int reps = g_quick ? 2 : 5;
    double kascade = time_ms(
        [&] {
            for (int l = 0; l < NLAY; l++) CHECK_KSA(ksa_schedule_run_layer(s, g_st, l, &t, &ws));
        },
        reps);
    Call c;
    memset(&c, 0, sizeof c);
    c.params = ksa_attention_params_default(KSA_MODE_DENSE, phase);
    c.t = t;
    double dense = time_ms(
        [&] {
            for (int l = 0; l < NLAY; l++) run(c);
        },
        reps);
    printf("{\"op\":\"schedule32\",\"phase\":\"%s\",\"dtype\":\"%s\",\"B\":%d,\"Hq\":%d,\"Hkv\":%d,\"D\":%d,\"L\":%d,"
           "\"kascade_ms\":%.3f,\"dense_ms\":%.3f,\"speedup\":%.3f}\n",
           phase == KSA_PHASE_DECODE ? "decode" : "prefill", dtn(), B, hq, hkv, D, L, kascade, dense, dense / kascade);
    fflush(stdout);
    ksa_schedule_destroy(s);
    cudaFree(q);
    cudaFree(k);
    cudaFree(v);
    cudaFree(o);
}

int main(int argc, char **argv)
{
    const char *only = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) g_quick = 1;
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) g_dt = !strcmp(argv[++i], "bf16") ? KSA_DTYPE_BF16 : KSA_DTYPE_F16;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--config") && i + 1 < argc) g_config = argv[++i];
    }
    ksa_context ctx;
    CHECK_KSA(ksa_context_create(&ctx));
    CHECK_KSA(ksa_device_open(ctx, "cuda:0", &g_dev));
    CHECK_CUDA(cudaStreamCreateWithFlags(&g_cs, cudaStreamNonBlocking));
    CHECK_KSA(ksa_stream_wrap(g_dev, g_cs, &g_st));
    CHECK_KSA(ksa_set_config_override(g_config));
    if (*g_config) printf("{\"config\":\"%s\"}\n", g_config);
    const int hq = 32, hkv = 8, D = 128;
    if (!*only || strstr(only, "prefill")) {
        bench_prefill(g_quick ? 4096 : 16384, hq, hkv, D, 1); /* P1, P3 */
        if (!g_quick) bench_prefill(32768, hq, hkv, D, 1);    /* P2, P3 */
    }
    if (!*only || strstr(only, "decode")) bench_decode(g_quick ? 16 : 64, 32768, hq, hkv, D); /* P4, P5 */
    if (!*only || strstr(only, "shapes")) {
        bench_prefill(8192, 32, 8, 64, 0);
        bench_prefill(8192, 32, 8, 256, 0);
        bench_prefill(8192, 32, 32, 128, 0);
        bench_decode(16, 32768, 32, 32, 128);
    }
    if (!*only || strstr(only, "schedule")) {
        bench_schedule(KSA_PHASE_PREFILL, 1, g_quick ? 4096 : 16384, hq, hkv, D); /* P6 prefill */
        bench_schedule(KSA_PHASE_DECODE, g_quick ? 16 : 64, 32768, hq, hkv, D);   /* P6 decode */
    }
    ksa_stream_destroy(g_st);
    ksa_context_destroy(ctx);
    return 0;
}
