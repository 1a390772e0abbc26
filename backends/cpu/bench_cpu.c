/* bench_cpu.c: ksa-cpu-bench, the CPU backend's own benchmark (the device script runs it at each
 * kernel level, next to torch CPU SDPA). Through the public API on device "cpu", random bf16 data:
 *  - dense / anchor / reuse causal prefill, B1 Hq32 Hkv8 D128 (P7 compares dense with torch);
 *  - dense and reuse decode at Top-k 10%, with the gathered bytes per second next to a measured
 *    multi-threaded memcpy bandwidth (P8).
 * Options: --quick (small shapes), --prefill, --decode, --dense (dense prefill only), --device NAME
 * (another host device, e.g. "reference", for comparison);
 * KSA_CPU_BENCH_CONFIG="block_q=64,block_k=128" forces a configuration.
 * One JSON object per line; median of the repeats, wall clock around the call. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ksa/ksa.h"
#include "ksa_cpu_features.h"
#include "backends/cpu/cpu_internal.h"
#include "ksa_half.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng_state = 0x12345678abcdefull;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *random_bf16(size_t n)
{
    uint16_t *h = malloc(n * 2);
    if (!h) return NULL;
    for (size_t i = 0; i < n; i++) h[i] = ksa_f32_to_bf16((float)((double)(rng() >> 11) / 9007199254740992.0 * 2.0 - 1.0));
    return h;
}

#define CHECK(x)                                                                                                       \
    do {                                                                                                               \
        ksa_status st_ = (x);                                                                                          \
        if (st_) {                                                                                                     \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, ksa_status_string(st_), ksa_last_error());       \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

/* time `reps` calls, return the median in ms */
static double time_call(ksa_device dev, const ksa_attention_params *params, const ksa_attention_tensors *t,
                        const ksa_workspace *ws, int reps)
{
    double times[64];
    if (reps > 64) reps = 64;
    CHECK(ksa_attention(dev, NULL, params, t, ws)); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        CHECK(ksa_attention(dev, NULL, params, t, ws));
        times[r] = (now_s() - t0) * 1e3;
    }
    qsort(times, (size_t)reps, sizeof times[0], cmp_double);
    return times[reps / 2];
}

static ksa_workspace make_ws(ksa_device dev, const ksa_attention_params *params, const ksa_attention_tensors *t)
{
    size_t bytes = 0;
    CHECK(ksa_attention_workspace_size(dev, params, t, &bytes));
    ksa_workspace ws;
    memset(&ws, 0, sizeof ws);
    ws.data = bytes ? aligned_alloc(64, (bytes + 63) / 64 * 64) : NULL;
    ws.size = bytes;
    return ws;
}

/* ---------------------------------------------------------------- prefill */
static const char *bench_config = "";

static void bench_prefill(ksa_device dev, const char *isa, int64_t L, int reps, int dense_only)
{
    const int64_t B = 1, Hq = 32, Hkv = 8, D = 128;
    int64_t qs[4] = {B, L, Hq, D}, ks[4] = {B, L, Hkv, D};
    void *q = random_bf16((size_t)(B * L * Hq * D)), *k = random_bf16((size_t)(B * L * Hkv * D)),
         *v = random_bf16((size_t)(B * L * Hkv * D)), *o = calloc((size_t)(B * L * Hq * D), 2);
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    t.q = ksa_tensor_make(dev, q, KSA_DTYPE_BF16, 4, qs);
    t.k = ksa_tensor_make(dev, k, KSA_DTYPE_BF16, 4, ks);
    t.v = ksa_tensor_make(dev, v, KSA_DTYPE_BF16, 4, ks);
    t.o = ksa_tensor_make(dev, o, KSA_DTYPE_BF16, 4, qs);
    double flops = 4.0 * (double)B * Hq * (double)L * (double)L * D / 2.0;
    /* dense */
    ksa_attention_params pd = ksa_attention_params_default(KSA_MODE_DENSE, KSA_PHASE_PREFILL);
    ksa_workspace ws = make_ws(dev, &pd, &t);
    double ms_dense = time_call(dev, &pd, &t, &ws, reps);
    free(ws.data);
    printf("{\"op\":\"prefill\",\"mode\":\"dense\",\"isa\":\"%s\",\"config\":\"%s\",\"dtype\":\"bf16\",\"B\":1,\"Hq\":32,"
           "\"Hkv\":8,\"D\":128,\"L\":%lld,\"ms\":%.3f,\"tflops\":%.3f}\n",
           isa, bench_config, (long long)L, ms_dense, flops / (ms_dense * 1e-3) / 1e12);
    fflush(stdout);
    if (dense_only) {
        free(q);
        free(k);
        free(v);
        free(o);
        return;
    }
    /* anchor (Top-k 10%, T 32, rolling): writes the index state reuse reads */
    ksa_attention_params pa = ksa_attention_params_default(KSA_MODE_ANCHOR, KSA_PHASE_PREFILL);
    int64_t n_tiles = 0, k_slots = 0;
    CHECK(ksa_attention_index_shape(dev, &pa, &t, &n_tiles, &k_slots));
    int64_t is[4] = {B, Hkv, n_tiles, k_slots}, cs[3] = {B, Hkv, n_tiles};
    int32_t *idx = calloc((size_t)(B * Hkv * n_tiles * k_slots) + 1, 4), *cnt = calloc((size_t)(B * Hkv * n_tiles), 4);
    t.indices = ksa_tensor_make(dev, idx, KSA_DTYPE_I32, 4, is);
    t.counts = ksa_tensor_make(dev, cnt, KSA_DTYPE_I32, 3, cs);
    ws = make_ws(dev, &pa, &t);
    double ms_anchor = time_call(dev, &pa, &t, &ws, reps);
    free(ws.data);
    ksa_attention_params pr = ksa_attention_params_default(KSA_MODE_REUSE, KSA_PHASE_PREFILL);
    ws = make_ws(dev, &pr, &t);
    double ms_reuse = time_call(dev, &pr, &t, &ws, reps);
    free(ws.data);
    printf("{\"op\":\"prefill\",\"mode\":\"anchor\",\"isa\":\"%s\",\"dtype\":\"bf16\",\"L\":%lld,\"ms\":%.3f,\"vs_own_dense\":%.3f}\n",
           isa, (long long)L, ms_anchor, ms_anchor / ms_dense);
    printf("{\"op\":\"prefill\",\"mode\":\"reuse\",\"isa\":\"%s\",\"dtype\":\"bf16\",\"L\":%lld,\"ms\":%.3f,\"speedup_vs_own_dense\":%.3f}\n",
           isa, (long long)L, ms_reuse, ms_dense / ms_reuse);
    fflush(stdout);
    free(q);
    free(k);
    free(v);
    free(o);
    free(idx);
    free(cnt);
}

/* ---------------------------------------------------------------- memory bandwidth */
typedef struct copy_arg {
    char *dst;
    const char *src;
    size_t bytes;
} copy_arg;

static void *copy_main(void *a)
{
    copy_arg *c = a;
    memcpy(c->dst, c->src, c->bytes);
    return NULL;
}

typedef struct read_arg {
    const uint64_t *src;
    size_t n;
    uint64_t sum;
} read_arg;

static void *read_main(void *a)
{
    read_arg *r = a;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= r->n; i += 4) {
        s0 += r->src[i];
        s1 += r->src[i + 1];
        s2 += r->src[i + 2];
        s3 += r->src[i + 3];
    }
    r->sum = s0 + s1 + s2 + s3;
    return NULL;
}

/* multi-threaded read of a large buffer: GB/s of bytes read (what a decode kernel does) */
static double read_bandwidth(int threads, size_t bytes)
{
    uint64_t *src = malloc(bytes);
    memset(src, 1, bytes);
    pthread_t th[256];
    read_arg args[256];
    if (threads > 256) threads = 256;
    size_t words = bytes / 8;
    double best = 1e30;
    uint64_t total = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        for (int i = 0; i < threads; i++) {
            size_t a = words / (size_t)threads * (size_t)i, b = i == threads - 1 ? words : words / (size_t)threads * (size_t)(i + 1);
            args[i] = (read_arg){src + a, b - a, 0};
            pthread_create(&th[i], NULL, read_main, &args[i]);
        }
        for (int i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            total += args[i].sum;
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    free(src);
    if (total == 42) fprintf(stderr, " "); /* keep the sums alive */
    return (double)bytes / best / 1e9;
}

/* multi-threaded memcpy of a large buffer: GB/s of bytes read + written, and of bytes read */
static double memcpy_bandwidth(int threads, size_t bytes)
{
    char *src = malloc(bytes), *dst = malloc(bytes);
    memset(src, 1, bytes);
    memset(dst, 2, bytes);
    pthread_t th[256];
    copy_arg args[256];
    if (threads > 256) threads = 256;
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        for (int i = 0; i < threads; i++) {
            size_t a = bytes / (size_t)threads * (size_t)i, b = i == threads - 1 ? bytes : bytes / (size_t)threads * (size_t)(i + 1);
            args[i] = (copy_arg){dst + a, src + a, b - a};
            pthread_create(&th[i], NULL, copy_main, &args[i]);
        }
        for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    free(src);
    free(dst);
    return 2.0 * (double)bytes / best / 1e9;
}

/* ---------------------------------------------------------------- decode */
static double read_gbs_measured;

static void bench_decode(ksa_device dev, const char *isa, int64_t B, int64_t Lk, int reps, double copy_gbs)
{
    const int64_t Hq = 32, Hkv = 8, D = 128;
    int64_t qs[4] = {B, 1, Hq, D}, ks[4] = {B, Lk, Hkv, D};
    void *q = random_bf16((size_t)(B * Hq * D)), *k = random_bf16((size_t)(B * Lk * Hkv * D)),
         *v = random_bf16((size_t)(B * Lk * Hkv * D)), *o = calloc((size_t)(B * Hq * D), 2);
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    t.q = ksa_tensor_make(dev, q, KSA_DTYPE_BF16, 4, qs);
    t.k = ksa_tensor_make(dev, k, KSA_DTYPE_BF16, 4, ks);
    t.v = ksa_tensor_make(dev, v, KSA_DTYPE_BF16, 4, ks);
    t.o = ksa_tensor_make(dev, o, KSA_DTYPE_BF16, 4, qs);
    ksa_attention_params pd = ksa_attention_params_default(KSA_MODE_DENSE, KSA_PHASE_DECODE);
    ksa_workspace ws = make_ws(dev, &pd, &t);
    double ms_dense = time_call(dev, &pd, &t, &ws, reps);
    free(ws.data);
    double dense_bytes = 2.0 * (double)B * Lk * Hkv * D * 2;
    printf("{\"op\":\"decode\",\"mode\":\"dense\",\"isa\":\"%s\",\"dtype\":\"bf16\",\"B\":%lld,\"Lk\":%lld,\"ms\":%.3f,\"GBps\":%.1f,"
           "\"memcpy_GBps\":%.1f,\"pct_of_memcpy\":%.1f}\n",
           isa, (long long)B, (long long)Lk, ms_dense, dense_bytes / (ms_dense * 1e-3) / 1e9, copy_gbs,
           100.0 * dense_bytes / (ms_dense * 1e-3) / 1e9 / copy_gbs);
    fflush(stdout);
    /* reuse at Top-k 10%: random distinct ascending sets per (b, g) */
    ksa_attention_params pr = ksa_attention_params_default(KSA_MODE_REUSE, KSA_PHASE_DECODE);
    int64_t n_tiles = 0, k_slots = 0;
    CHECK(ksa_attention_index_shape(dev, &pr, &t, &n_tiles, &k_slots));
    int64_t is[3] = {B, Hkv, k_slots}, cs[2] = {B, Hkv};
    int32_t *idx = calloc((size_t)(B * Hkv * k_slots), 4), *cnt = calloc((size_t)(B * Hkv), 4);
    for (int64_t bg = 0; bg < B * Hkv; bg++) {
        int64_t need = k_slots, w = 0;
        for (int64_t j = 0; j < Lk && w < need; j++)
            if ((int64_t)(rng() % (uint64_t)(Lk - j)) < need - w) idx[bg * k_slots + w++] = (int32_t)j;
        cnt[bg] = (int32_t)w;
    }
    t.indices = ksa_tensor_make(dev, idx, KSA_DTYPE_I32, 3, is);
    t.counts = ksa_tensor_make(dev, cnt, KSA_DTYPE_I32, 2, cs);
    ws = make_ws(dev, &pr, &t);
    double ms_reuse = time_call(dev, &pr, &t, &ws, reps);
    free(ws.data);
    double gathered = 2.0 * (double)B * Hkv * (double)k_slots * D * 2;
    double gbs = gathered / (ms_reuse * 1e-3) / 1e9;
    printf("{\"op\":\"decode\",\"mode\":\"reuse\",\"isa\":\"%s\",\"dtype\":\"bf16\",\"B\":%lld,\"Lk\":%lld,\"k\":%lld,\"ms\":%.3f,"
           "\"gathered_GBps\":%.1f,\"memcpy_GBps\":%.1f,\"pct_of_memcpy\":%.1f,\"read_GBps\":%.1f,\"pct_of_read\":%.1f,"
           "\"speedup_vs_own_dense\":%.2f}\n",
           isa, (long long)B, (long long)Lk, (long long)k_slots, ms_reuse, gbs, copy_gbs, 100.0 * gbs / copy_gbs,
           read_gbs_measured, read_gbs_measured > 0 ? 100.0 * gbs / read_gbs_measured : 0.0,
           ms_dense / ms_reuse);
    fflush(stdout);
    free(q);
    free(k);
    free(v);
    free(o);
    free(idx);
    free(cnt);
}

int main(int argc, char **argv)
{
    int quick = 0, only = 0; /* only: 1 prefill, 2 decode, 3 dense prefill */
    const char *devname = "cpu";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--prefill")) only = 1;
        else if (!strcmp(argv[i], "--decode")) only = 2;
        else if (!strcmp(argv[i], "--dense")) only = 3;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) devname = argv[++i];
    }
    ksa_context ctx;
    CHECK(ksa_context_create(&ctx));
    ksa_device dev;
    CHECK(ksa_device_open(ctx, devname, &dev));
    ksa_device_info info;
    CHECK(ksa_device_get_info(dev, &info));
    const ksa_cpu_features *f = ksa_cpu_get_features();
    int threads = f->physical_cores > 0 ? f->physical_cores : 1;
    const char *env = getenv("KSA_NUM_THREADS");
    if (env && atoi(env) > 0) threads = atoi(env);
    fprintf(stderr, "ksa-cpu-bench: %s, isa %s, %d threads\n", info.description, info.isa, threads);
    double copy_gbs = 0.0;
    if (only == 0 || only == 2) {
        copy_gbs = memcpy_bandwidth(threads, quick ? (size_t)256 << 20 : (size_t)1 << 30);
        read_gbs_measured = read_bandwidth(threads, quick ? (size_t)256 << 20 : (size_t)1 << 30);
        printf("{\"op\":\"memcpy\",\"threads\":%d,\"GBps_read_plus_write\":%.1f,\"read_GBps\":%.1f}\n", threads, copy_gbs,
               read_gbs_measured);
        fflush(stdout);
    }
    const char *cfg = getenv("KSA_CPU_BENCH_CONFIG");
    if (cfg && *cfg) {
        bench_config = cfg;
        CHECK(ksa_set_config_override(cfg));
    }
    int slow = !strcmp(info.name, "reference");
    if (only != 2) bench_prefill(dev, info.isa, quick ? 1024 : 4096, slow ? 1 : quick ? 3 : 7, only == 3);
    if (only != 1 && only != 3) bench_decode(dev, info.isa, quick ? 2 : 16, quick ? 8192 : 32768, quick ? 21 : 11, copy_gbs);
    if (getenv("KSA_CPU_PROFILE")) ksa_cpu_profile_report(stdout);
    ksa_context_destroy(ctx);
    return 0;
}
