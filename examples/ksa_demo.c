#define _POSIX_C_SOURCE 200809L
/* ksa_demo.c: the README's demo. A synthetic long-context model slice (8 layers: layer 0 anchor
 * with dense output, reuse, reuse, anchor, 4 x reuse; Hq 32, Hkv 8, D 128) runs one prefill and a
 * few decode steps through a ksa_schedule on the best device found (or --device NAME), printing the
 * time per layer kind, then cross-checks against the reference (KSA_CHECK) on a subset: a chunk of
 * the last queries for prefill, every layer of the last decode step. The best device is what
 * ksa_device_open(ctx, "auto") gives: a GPU (cuda, then hip) when one is present, else the CPU
 * backend, then OpenCL, then the reference (KSA_BACKEND overrides); --which prints it and exits.
 * Public API only. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ksa/ksa.h"
#include "../tools/ksa_cli.h"

#define CHECK(call)                                                                                       \
    do {                                                                                                  \
        ksa_status s_ = (call);                                                                           \
        if (s_ != KSA_STATUS_SUCCESS) {                                                                   \
            fprintf(stderr, "ksa-demo: %s failed: %s: %s\n", #call, ksa_status_string(s_), ksa_last_error()); \
            exit(1);                                                                                      \
        }                                                                                                 \
    } while (0)

enum { LAYERS = 8, HQ = 32, HKV = 8, D = 128 };

static uint64_t rng_state = 12345;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static uint16_t to_f16(float f)
{
    /* values here are small normals: a simple conversion suffices */
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    int32_t e = (int32_t)((u >> 23) & 0xff) - 127 + 15;
    uint32_t m = u & 0x7fffffu;
    if (e <= 0) return (uint16_t)sign;
    uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13);
    if ((m & 0x1fffu) > 0x1000u || ((m & 0x1fffu) == 0x1000u && (h & 1u))) h++;
    return (uint16_t)h;
}

/* a device buffer of n random values in [-a, a] (never 0) stored as dtype */
static ksa_buffer random_buffer(ksa_device dev, ksa_dtype dt, size_t n, double a)
{
    size_t es = ksa_dtype_size(dt);
    unsigned char *h = malloc(n * es);
    if (!h) exit(1);
    for (size_t i = 0; i < n; i++) {
        float x = (float)((urand() * 2 - 1) * a);
        if (fabsf(x) < 1e-3f) x = 1e-3f;
        if (dt == KSA_DTYPE_F32) memcpy(h + i * 4, &x, 4);
        else {
            uint16_t v = dt == KSA_DTYPE_BF16 ? to_bf16(x) : to_f16(x);
            memcpy(h + i * 2, &v, 2);
        }
    }
    ksa_buffer b;
    CHECK(ksa_buffer_alloc(dev, n * es, &b));
    CHECK(ksa_buffer_write(b, 0, h, n * es, NULL));
    free(h);
    return b;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

typedef struct layer_data {
    ksa_buffer q, k, v, o;         /* prefill: q/o [1, L, HQ, D], k/v [1, L + steps, HKV, D] */
    ksa_buffer dq, dout;           /* decode: q/o [1, 1, HQ, D] */
} layer_data;

int main(int argc, char **argv)
{
    const char *device_name = "auto";
    int64_t L = 0;
    int steps = 4, which = 0;
    for (int i = 1; i < argc; i++) {
        int32_t n = 0;
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) device_name = argv[++i];
        else if (strcmp(argv[i], "--which") == 0) which = 1;
        else if (strcmp(argv[i], "--seq-len") == 0 && i + 1 < argc) {
            if (!ksa_cli_int("ksa-demo", "--seq-len", argv[++i], 1, 1 << 20, &n)) return 2;
            L = n;
        } else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            if (!ksa_cli_int("ksa-demo", "--steps", argv[++i], 1, 1000, &steps)) return 2;
        } else {
            printf("usage: ksa-demo [--device NAME] [--seq-len L] [--steps N] [--which]\n"
                   "  --device NAME  default auto: a GPU (cuda, hip) when present, else cpu, opencl, reference\n"
                   "  --which        print the device the run would use and exit\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    ksa_context ctx;
    CHECK(ksa_context_create(&ctx));
    ksa_device dev;
    CHECK(ksa_device_open(ctx, device_name, &dev));
    ksa_device_info info;
    CHECK(ksa_device_get_info(dev, &info));
    if (which) {
        printf("%s -> %s (%s backend, %s)\n", device_name, info.name, info.backend, info.description);
        ksa_context_destroy(ctx);
        return 0;
    }
    int gpu = info.kind == KSA_DEVICE_CUDA || info.kind == KSA_DEVICE_HIP;
    if (L <= 0) L = gpu ? 16384 : info.kind == KSA_DEVICE_REFERENCE ? 512 : 2048;
    ksa_dtype dt = info.kind == KSA_DEVICE_REFERENCE ? KSA_DTYPE_F32 : gpu ? KSA_DTYPE_F16 : KSA_DTYPE_BF16;
    int64_t capacity = L + steps;

    /* Kascade plan: anchors {0, 3}; reuse layers map KV head g to a neighbour of the anchor's head */
    ksa_topk_params topk = ksa_topk_default();
    ksa_schedule sched;
    CHECK(ksa_schedule_create(dev, LAYERS, HKV, &topk, &sched));
    int32_t anchors[2] = {0, 3};
    int32_t maps[LAYERS * HKV];
    for (int l = 0; l < LAYERS; l++)
        for (int g = 0; g < HKV; g++) maps[l * HKV + g] = (g + l) % HKV;
    CHECK(ksa_schedule_set_kascade(sched, anchors, 2, maps));

    printf("ksa %s demo on %s (%s), %s\n", ksa_version_string(), info.name, info.description, ksa_dtype_name(dt));
    printf("model slice: %d layers (anchors 0 [dense output], 3; the rest reuse), Hq %d, Hkv %d, D %d; Top-k %.0f%%, T %d\n",
           LAYERS, HQ, HKV, D, topk.fraction * 100, topk.tile_size);

    layer_data layers[LAYERS];
    for (int l = 0; l < LAYERS; l++) {
        layers[l].q = random_buffer(dev, dt, (size_t)(L * HQ * D), 2.0);
        layers[l].o = random_buffer(dev, dt, (size_t)(L * HQ * D), 1.0);
        layers[l].k = random_buffer(dev, dt, (size_t)(capacity * HKV * D), 2.0);
        layers[l].v = random_buffer(dev, dt, (size_t)(capacity * HKV * D), 1.0);
        layers[l].dq = random_buffer(dev, dt, (size_t)(HQ * D), 2.0);
        layers[l].dout = random_buffer(dev, dt, (size_t)(HQ * D), 1.0);
    }
    /* K/V are [1, capacity, HKV, D] with seq_lens_k giving the live length */
    ksa_buffer lens_buf;
    CHECK(ksa_buffer_alloc(dev, sizeof(int32_t), &lens_buf));
    int64_t lens_shape[1] = {1};
    ksa_tensor lens = ksa_tensor_from_buffer(lens_buf, 0, KSA_DTYPE_I32, 1, lens_shape);
    int64_t kv_shape[4] = {1, capacity, HKV, D};

    /* ---- prefill */
    int32_t live = (int32_t)L;
    CHECK(ksa_buffer_write(lens_buf, 0, &live, sizeof live, NULL));
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    int64_t q_shape[4] = {1, L, HQ, D};
    t.q = ksa_tensor_from_buffer(layers[0].q, 0, dt, 4, q_shape);
    t.o = ksa_tensor_from_buffer(layers[0].o, 0, dt, 4, q_shape);
    t.k = ksa_tensor_from_buffer(layers[0].k, 0, dt, 4, kv_shape);
    t.v = ksa_tensor_from_buffer(layers[0].v, 0, dt, 4, kv_shape);
    t.seq_lens_k = lens;
    size_t ws_bytes = 0;
    CHECK(ksa_schedule_plan(sched, KSA_PHASE_PREFILL, &t, &ws_bytes));
    /* decode needs its own plan; size the workspace for the larger */
    ksa_attention_tensors td = t;
    int64_t dq_shape[4] = {1, 1, HQ, D};
    td.q = ksa_tensor_from_buffer(layers[0].dq, 0, dt, 4, dq_shape);
    td.o = ksa_tensor_from_buffer(layers[0].dout, 0, dt, 4, dq_shape);
    size_t ws_decode = 0;
    live = (int32_t)capacity;
    CHECK(ksa_buffer_write(lens_buf, 0, &live, sizeof live, NULL));
    CHECK(ksa_schedule_plan(sched, KSA_PHASE_DECODE, &td, &ws_decode));
    if (ws_decode > ws_bytes) ws_bytes = ws_decode;
    {   /* the plain dense layer timed for comparison needs its own workspace too */
        ksa_attention_params dp = ksa_attention_params_default(KSA_MODE_DENSE, KSA_PHASE_PREFILL);
        size_t ws_dense = 0;
        live = (int32_t)L;
        CHECK(ksa_buffer_write(lens_buf, 0, &live, sizeof live, NULL));
        CHECK(ksa_attention_workspace_size(dev, &dp, &t, &ws_dense));
        if (ws_dense > ws_bytes) ws_bytes = ws_dense;
    }
    ksa_buffer ws_buf = NULL;
    ksa_workspace ws;
    memset(&ws, 0, sizeof ws);
    if (ws_bytes) {
        CHECK(ksa_buffer_alloc(dev, ws_bytes, &ws_buf));
        ws.buffer = ws_buf;
        ws.size = ws_bytes;
    }
    live = (int32_t)L;
    CHECK(ksa_buffer_write(lens_buf, 0, &live, sizeof live, NULL));
    CHECK(ksa_schedule_plan(sched, KSA_PHASE_PREFILL, &t, NULL));

    double ms_kind[3] = {0, 0, 0};
    int n_kind[3] = {0, 0, 0};
    double dense_ms = 0;
    for (int rep = 0; rep < 2; rep++) { /* first pass warms up */
        for (int l = 0; l < LAYERS; l++) {
            t.q = ksa_tensor_from_buffer(layers[l].q, 0, dt, 4, q_shape);
            t.o = ksa_tensor_from_buffer(layers[l].o, 0, dt, 4, q_shape);
            t.k = ksa_tensor_from_buffer(layers[l].k, 0, dt, 4, kv_shape);
            t.v = ksa_tensor_from_buffer(layers[l].v, 0, dt, 4, kv_shape);
            ksa_layer_kind kind;
            CHECK(ksa_schedule_get_layer(sched, l, &kind, NULL, NULL));
            CHECK(ksa_stream_synchronize(dev, NULL));
            double t0 = now_ms();
            CHECK(ksa_schedule_run_layer(sched, NULL, l, &t, &ws));
            CHECK(ksa_stream_synchronize(dev, NULL));
            if (rep == 1) {
                int k = l == 0 ? 0 : kind == KSA_LAYER_ANCHOR ? 1 : 2;
                ms_kind[k] += now_ms() - t0;
                n_kind[k]++;
            }
        }
    }
    /* the same layer run dense, for comparison */
    {
        ksa_attention_params dp = ksa_attention_params_default(KSA_MODE_DENSE, KSA_PHASE_PREFILL);
        ksa_attention_tensors tt = t;
        CHECK(ksa_attention(dev, NULL, &dp, &tt, &ws));
        CHECK(ksa_stream_synchronize(dev, NULL));
        double t0 = now_ms();
        CHECK(ksa_attention(dev, NULL, &dp, &tt, &ws));
        CHECK(ksa_stream_synchronize(dev, NULL));
        dense_ms = now_ms() - t0;
    }
    double total = ms_kind[0] + ms_kind[1] + ms_kind[2];
    printf("\nprefill L=%lld: layer 0 (anchor, dense out) %.2f ms | anchor %.2f ms/layer | reuse %.2f ms/layer\n",
           (long long)L, ms_kind[0], n_kind[1] ? ms_kind[1] / n_kind[1] : 0, n_kind[2] ? ms_kind[2] / n_kind[2] : 0);
    printf("  %d layers: %.2f ms; all-dense estimate %.2f ms (%.2f ms/layer) -> %.2fx\n", LAYERS, total, dense_ms * LAYERS,
           dense_ms, total > 0 ? dense_ms * LAYERS / total : 0);

    /* ---- decode steps (the new tokens' K/V rows are already in the random cache) */
    double dms[3] = {0, 0, 0};
    int dn[3] = {0, 0, 0};
    for (int step = 0; step < steps; step++) {
        live = (int32_t)(L + step + 1);
        CHECK(ksa_buffer_write(lens_buf, 0, &live, sizeof live, NULL));
        CHECK(ksa_schedule_plan(sched, KSA_PHASE_DECODE, &td, NULL));
        for (int l = 0; l < LAYERS; l++) {
            td.q = ksa_tensor_from_buffer(layers[l].dq, 0, dt, 4, dq_shape);
            td.o = ksa_tensor_from_buffer(layers[l].dout, 0, dt, 4, dq_shape);
            td.k = ksa_tensor_from_buffer(layers[l].k, 0, dt, 4, kv_shape);
            td.v = ksa_tensor_from_buffer(layers[l].v, 0, dt, 4, kv_shape);
            ksa_layer_kind kind;
            CHECK(ksa_schedule_get_layer(sched, l, &kind, NULL, NULL));
            double t0 = now_ms();
            CHECK(ksa_schedule_run_layer(sched, NULL, l, &td, &ws));
            CHECK(ksa_stream_synchronize(dev, NULL));
            if (step > 0) {
                int k = l == 0 ? 0 : kind == KSA_LAYER_ANCHOR ? 1 : 2;
                dms[k] += now_ms() - t0;
                dn[k]++;
            }
        }
    }
    if (steps > 1)
        printf("decode Lk~%lld (%d steps): layer 0 %.3f ms | anchor %.3f ms/layer | reuse %.3f ms/layer\n", (long long)L, steps,
               dms[0] / dn[0], dn[1] ? dms[1] / dn[1] : 0, dn[2] ? dms[2] / dn[2] : 0);

    /* ---- cross-check with the reference (KSA_CHECK makes every call compare) */
    if (info.kind != KSA_DEVICE_REFERENCE) {
        setenv("KSA_CHECK", "1", 1);
        int agree = 0, total_checks = 0;
        /* decode: every layer of one more step */
        live = (int32_t)(L + steps);
        CHECK(ksa_buffer_write(lens_buf, 0, &live, sizeof live, NULL));
        CHECK(ksa_schedule_plan(sched, KSA_PHASE_DECODE, &td, NULL));
        for (int l = 0; l < LAYERS; l++) {
            td.q = ksa_tensor_from_buffer(layers[l].dq, 0, dt, 4, dq_shape);
            td.o = ksa_tensor_from_buffer(layers[l].dout, 0, dt, 4, dq_shape);
            td.k = ksa_tensor_from_buffer(layers[l].k, 0, dt, 4, kv_shape);
            td.v = ksa_tensor_from_buffer(layers[l].v, 0, dt, 4, kv_shape);
            ksa_status s = ksa_schedule_run_layer(sched, NULL, l, &td, &ws);
            total_checks++;
            if (s == KSA_STATUS_SUCCESS) agree++;
            else printf("  decode layer %d: %s: %s\n", l, ksa_status_string(s), ksa_last_error());
        }
        /* prefill: the last 64 queries as a chunk over the full cache, every layer */
        int64_t chunk = 64;
        int64_t c_shape[4] = {1, chunk, HQ, D};
        ksa_attention_tensors tc = t;
        live = (int32_t)L;
        CHECK(ksa_buffer_write(lens_buf, 0, &live, sizeof live, NULL));
        size_t off = (size_t)(L - chunk) * HQ * D * ksa_dtype_size(dt);
        tc.q = ksa_tensor_from_buffer(layers[0].q, off, dt, 4, c_shape);
        tc.o = ksa_tensor_from_buffer(layers[0].o, off, dt, 4, c_shape);
        CHECK(ksa_schedule_plan(sched, KSA_PHASE_PREFILL, &tc, NULL));
        for (int l = 0; l < LAYERS; l++) {
            tc.q = ksa_tensor_from_buffer(layers[l].q, off, dt, 4, c_shape);
            tc.o = ksa_tensor_from_buffer(layers[l].o, off, dt, 4, c_shape);
            tc.k = ksa_tensor_from_buffer(layers[l].k, 0, dt, 4, kv_shape);
            tc.v = ksa_tensor_from_buffer(layers[l].v, 0, dt, 4, kv_shape);
            ksa_status s = ksa_schedule_run_layer(sched, NULL, l, &tc, &ws);
            total_checks++;
            if (s == KSA_STATUS_SUCCESS) agree++;
            else printf("  prefill-chunk layer %d: %s: %s\n", l, ksa_status_string(s), ksa_last_error());
        }
        unsetenv("KSA_CHECK");
        printf("cross-check vs reference (decode step: 8 layers; prefill chunk of the last %lld queries: 8 layers): "
               "%d/%d calls agree\n", (long long)chunk, agree, total_checks);
        if (agree != total_checks) return 1;
    } else {
        printf("(running on the reference itself: no cross-check)\n");
    }
    for (int l = 0; l < LAYERS; l++) {
        ksa_buffer_free(layers[l].q);
        ksa_buffer_free(layers[l].o);
        ksa_buffer_free(layers[l].k);
        ksa_buffer_free(layers[l].v);
        ksa_buffer_free(layers[l].dq);
        ksa_buffer_free(layers[l].dout);
    }
    ksa_buffer_free(lens_buf);
    ksa_buffer_free(ws_buf);
    ksa_schedule_destroy(sched);
    ksa_context_destroy(ctx);
    return 0;
}
