/* bench_cpu.c: ksa-cpu-bench, the CPU backend's own benchmark (the device script runs it at each
 * kernel level, next to torch CPU SDPA). Through the public API on device "cpu", random bf16 data:
 *  - dense / anchor / reuse causal prefill, B1 Hq32 Hkv8 D128 (P7 compares dense with torch);
 *  - dense and reuse decode at Top-k 10%, with the gathered bytes per second next to a measured
 *    multi-threaded memcpy bandwidth (P8).
 * Options: --quick (small shapes), --prefill, --decode, --dense (dense prefill only), --device NAME
 * (another host device, e.g. "reference", for comparison);
 * --compare: dense causal prefill B1 of one shape (--L 1024 --hq 8 --hkv 2 --d 128 --dtype bf16|f32
 * --reps 5 --block-q 256) on the device, then the oneDNN dense baseline (bench_onednn.c, when built
 * with oneDNN; --no-onednn skips it) and, with --reference, the reference backend, each with the max
 * abs difference of its output from the device's;
 * --probe: the AMX-BF16 rate probes (tile peak, a tiled GEMM from L2: amx_probe.c) and, when built
 * with oneDNN, oneDNN's bf16 matmul at M = N = K = 4096, each as TFLOP/s over all threads: the
 * reference points the dense prefill's rate is reported against (P7); then the multiply-only and
 * the tile-peak loop alone on each CPU in turn (`amx_probe_solo`: how many tile units ran at full
 * rate; the fastest CPU's tile-peak loop times the threads is one more of P7's reference rates);
 * --prefill-dtype bf16|f16: the storage type of the prefill benchmarks and --ab (default bf16; f16
 * runs the AMX level's bf16-pair kernels, or with KSA_CPU_F16=f32 the float32 ones);
 * --ab "A;B;..." [--mode dense|anchor|reuse] [--rounds 5] [--L 4096]: interleaved A/B timing of one
 * prefill mode (B1 Hq32 Hkv8 D128) under several settings, for decisions on a noisy machine:
 * each entry is comma-separated key=value pairs, KSA_* keys set as environment variables for its
 * calls, the others as its configuration override; each round times every entry (median of 3
 * calls, the first entry rotating), and each entry's line gives the median of its round medians
 * and, against entry A, the median round ratio with its band (lowest and highest round); an entry
 * the backend refuses gets a line with "error" and leaves the rounds (A is then the first left);
 * KSA_CPU_BENCH_CONFIG="block_q=64,block_k=128" forces a configuration; KSA_BENCH_HUGEPAGES=1 puts the
 * host arrays on transparent huge pages (host_alloc).
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
#if defined(KSA_CPU_BENCH_AMX_PROBE)
#include "amx_probe.h"
#endif
#include "ksa_half.h"
#if KSA_CPU_BENCH_ONEDNN
#include "bench_onednn.h"
#endif

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

/* The benchmark's host arrays (q, k, v, o, workspace), as an engine's allocator gives them: 4 KiB
 * pages by default; KSA_BENCH_HUGEPAGES=1 asks for transparent huge pages (ksa_host_alloc) for
 * arrays of 2 MiB and more, to measure what the TLB costs. Zeroed; free() releases them. */
static void *host_alloc(size_t bytes)
{
    const char *env = getenv("KSA_BENCH_HUGEPAGES");
    void *m = ksa_host_alloc(bytes, env && env[0] == '1' && bytes >= KSA_HUGE_PAGE);
    if (m) memset(m, 0, bytes);
    return m;
}

/* n random 16-bit values in [-1, 1): bf16, or f16 with `f16` */
static void *random_half(size_t n, int f16)
{
    uint16_t *h = host_alloc(n * 2);
    if (!h) return NULL;
    for (size_t i = 0; i < n; i++) {
        float x = (float)((double)(rng() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
        h[i] = f16 ? ksa_f32_to_f16(x) : ksa_f32_to_bf16(x);
    }
    return h;
}

static void *random_bf16(size_t n) { return random_half(n, 0); }

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

static ksa_workspace ws_of_size(size_t bytes)
{
    ksa_workspace ws;
    memset(&ws, 0, sizeof ws);
    ws.data = bytes ? host_alloc(bytes) : NULL;
    ws.size = bytes;
    return ws;
}

static ksa_workspace make_ws(ksa_device dev, const ksa_attention_params *params, const ksa_attention_tensors *t)
{
    size_t bytes = 0;
    CHECK(ksa_attention_workspace_size(dev, params, t, &bytes));
    return ws_of_size(bytes);
}

/* ---------------------------------------------------------------- prefill */
/* The q/k/v/o tensors of one attention call: q and o share q_shape, k and v share kv_shape. */
static ksa_attention_tensors make_qkvo(ksa_device dev, ksa_dtype dt, void *q, void *k, void *v, void *o,
                                       const int64_t q_shape[4], const int64_t kv_shape[4])
{
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    t.q = ksa_tensor_make(dev, q, dt, 4, q_shape);
    t.k = ksa_tensor_make(dev, k, dt, 4, kv_shape);
    t.v = ksa_tensor_make(dev, v, dt, 4, kv_shape);
    t.o = ksa_tensor_make(dev, o, dt, 4, q_shape);
    return t;
}

static const char *bench_config = "";

/* KSA_CPU_PROFILE: the phase split of the mode just timed (the report resets the counters) */
static void profile_of(const char *mode)
{
    if (!getenv("KSA_CPU_PROFILE")) return;
    printf("{\"op\":\"profile_of\",\"mode\":\"%s\"}\n", mode);
    ksa_cpu_profile_report(stdout);
}

/* The prefill benchmarks' inputs: B1 Hq32 Hkv8 D128 of length L in pf_dtype (bf16, or f16 with
 * --prefill-dtype f16), random, and (once asked) the index state of the default Top-k that ANCHOR
 * writes and REUSE reads. */
static ksa_dtype pf_dtype = KSA_DTYPE_BF16;
static const char *pf_dtype_name(void) { return pf_dtype == KSA_DTYPE_F16 ? "f16" : "bf16"; }

#define PF_B 1
#define PF_HQ 32
#define PF_HKV 8
#define PF_D 128
typedef struct prefill_inputs {
    void *q, *k, *v, *o;
    int32_t *idx, *cnt;
    ksa_attention_tensors t;
} prefill_inputs;

static void prefill_inputs_make(ksa_device dev, int64_t L, prefill_inputs *in)
{
    int64_t qs[4] = {PF_B, L, PF_HQ, PF_D}, ks[4] = {PF_B, L, PF_HKV, PF_D};
    memset(in, 0, sizeof *in);
    const int f16 = pf_dtype == KSA_DTYPE_F16;
    in->q = random_half((size_t)(PF_B * L * PF_HQ * PF_D), f16);
    in->k = random_half((size_t)(PF_B * L * PF_HKV * PF_D), f16);
    in->v = random_half((size_t)(PF_B * L * PF_HKV * PF_D), f16);
    in->o = host_alloc((size_t)(PF_B * L * PF_HQ * PF_D) * 2);
    in->t = make_qkvo(dev, pf_dtype, in->q, in->k, in->v, in->o, qs, ks);
}

static void prefill_inputs_add_index_state(ksa_device dev, prefill_inputs *in)
{
    ksa_attention_params pa = ksa_attention_params_default(KSA_MODE_ANCHOR, KSA_PHASE_PREFILL);
    int64_t n_tiles = 0, k_slots = 0;
    CHECK(ksa_attention_index_shape(dev, &pa, &in->t, &n_tiles, &k_slots));
    int64_t is[4] = {PF_B, PF_HKV, n_tiles, k_slots}, cs[3] = {PF_B, PF_HKV, n_tiles};
    in->idx = calloc((size_t)(PF_B * PF_HKV * n_tiles * k_slots) + 1, 4);
    in->cnt = calloc((size_t)(PF_B * PF_HKV * n_tiles), 4);
    in->t.indices = ksa_tensor_make(dev, in->idx, KSA_DTYPE_I32, 4, is);
    in->t.counts = ksa_tensor_make(dev, in->cnt, KSA_DTYPE_I32, 3, cs);
}

static void prefill_inputs_free(prefill_inputs *in)
{
    free(in->q);
    free(in->k);
    free(in->v);
    free(in->o);
    free(in->idx);
    free(in->cnt);
}

static void bench_prefill(ksa_device dev, const char *isa, int64_t L, int reps, int dense_only)
{
    prefill_inputs in;
    prefill_inputs_make(dev, L, &in);
    double flops = 4.0 * (double)PF_B * PF_HQ * (double)L * (double)L * PF_D / 2.0;
    /* dense */
    ksa_attention_params pd = ksa_attention_params_default(KSA_MODE_DENSE, KSA_PHASE_PREFILL);
    ksa_workspace ws = make_ws(dev, &pd, &in.t);
    double ms_dense = time_call(dev, &pd, &in.t, &ws, reps);
    free(ws.data);
    profile_of("dense");
    printf("{\"op\":\"prefill\",\"mode\":\"dense\",\"isa\":\"%s\",\"config\":\"%s\",\"dtype\":\"%s\",\"B\":1,\"Hq\":32,"
           "\"Hkv\":8,\"D\":128,\"L\":%lld,\"ms\":%.3f,\"tflops\":%.3f}\n",
           isa, bench_config, pf_dtype_name(), (long long)L, ms_dense, flops / (ms_dense * 1e-3) / 1e12);
    fflush(stdout);
    if (dense_only) {
        prefill_inputs_free(&in);
        return;
    }
    /* anchor (Top-k 10%, T 32, rolling): writes the index state reuse reads */
    prefill_inputs_add_index_state(dev, &in);
    ksa_attention_params pa = ksa_attention_params_default(KSA_MODE_ANCHOR, KSA_PHASE_PREFILL);
    ws = make_ws(dev, &pa, &in.t);
    double ms_anchor = time_call(dev, &pa, &in.t, &ws, reps);
    free(ws.data);
    profile_of("anchor");
    ksa_attention_params pr = ksa_attention_params_default(KSA_MODE_REUSE, KSA_PHASE_PREFILL);
    ws = make_ws(dev, &pr, &in.t);
    double ms_reuse = time_call(dev, &pr, &in.t, &ws, reps);
    free(ws.data);
    profile_of("reuse");
    printf("{\"op\":\"prefill\",\"mode\":\"anchor\",\"isa\":\"%s\",\"dtype\":\"%s\",\"L\":%lld,\"ms\":%.3f,\"vs_own_dense\":%.3f}\n",
           isa, pf_dtype_name(), (long long)L, ms_anchor, ms_anchor / ms_dense);
    printf("{\"op\":\"prefill\",\"mode\":\"reuse\",\"isa\":\"%s\",\"dtype\":\"%s\",\"L\":%lld,\"ms\":%.3f,\"speedup_vs_own_dense\":%.3f}\n",
           isa, pf_dtype_name(), (long long)L, ms_reuse, ms_dense / ms_reuse);
    fflush(stdout);
    prefill_inputs_free(&in);
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
         *v = random_bf16((size_t)(B * Lk * Hkv * D)), *o = host_alloc((size_t)(B * Hq * D) * 2);
    ksa_attention_tensors t = make_qkvo(dev, KSA_DTYPE_BF16, q, k, v, o, qs, ks);
    ksa_attention_params pd = ksa_attention_params_default(KSA_MODE_DENSE, KSA_PHASE_DECODE);
    ksa_workspace ws = make_ws(dev, &pd, &t);
    double ms_dense = time_call(dev, &pd, &t, &ws, reps);
    free(ws.data);
    profile_of("dense");
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
    profile_of("reuse");
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

/* ---------------------------------------------------------------- dense compare (oneDNN baseline) */
typedef struct compare_opts {
    int64_t L, Hq, Hkv, D, block_q;
    int bf16, reps, with_reference, with_onednn;
} compare_opts;

static void *random_f32(size_t n)
{
    float *h = host_alloc(n * 4);
    if (!h) return NULL;
    for (size_t i = 0; i < n; i++) h[i] = (float)((double)(rng() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    return h;
}

static float elem_f32(const void *p, size_t i, int bf16)
{
    return bf16 ? ksa_bf16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static double max_abs_diff(const void *a, const void *b, size_t n, int bf16)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)elem_f32(a, i, bf16) - (double)elem_f32(b, i, bf16));
        if (!(d <= m)) m = d; /* NaN propagates */
    }
    return m;
}

static void poison(void *p, size_t n, int bf16)
{
    for (size_t i = 0; i < n; i++) {
        if (bf16) ((uint16_t *)p)[i] = 0x7fc1; /* NaN */
        else ((float *)p)[i] = NAN;
    }
}

/* dense causal prefill of one shape on one ksa device: median ms over reps, output in o */
static double compare_ksa(ksa_device dev, const compare_opts *c, void *q, void *k, void *v, void *o, int reps)
{
    int64_t qs[4] = {1, c->L, c->Hq, c->D}, ks[4] = {1, c->L, c->Hkv, c->D};
    ksa_dtype dt = c->bf16 ? KSA_DTYPE_BF16 : KSA_DTYPE_F32;
    ksa_attention_tensors t = make_qkvo(dev, dt, q, k, v, o, qs, ks);
    ksa_attention_params pd = ksa_attention_params_default(KSA_MODE_DENSE, KSA_PHASE_PREFILL);
    ksa_workspace ws = make_ws(dev, &pd, &t);
    double ms = time_call(dev, &pd, &t, &ws, reps);
    free(ws.data);
    return ms;
}

static void bench_compare(ksa_context ctx, ksa_device dev, const ksa_device_info *info, const compare_opts *c)
{
    const size_t nq = (size_t)(c->L * c->Hq * c->D), nk = (size_t)(c->L * c->Hkv * c->D), es = c->bf16 ? 2 : 4;
    void *q = c->bf16 ? random_bf16(nq) : random_f32(nq), *k = c->bf16 ? random_bf16(nk) : random_f32(nk),
         *v = c->bf16 ? random_bf16(nk) : random_f32(nk);
    void *o_dev = malloc(nq * es), *o_other = malloc(nq * es);
    if (!q || !k || !v || !o_dev || !o_other) {
        fprintf(stderr, "ksa-cpu-bench: out of memory\n");
        exit(1);
    }
    const double flops = 4.0 * (double)c->Hq * (double)c->L * (double)c->L * (double)c->D / 2.0;
    const char *dtn = c->bf16 ? "bf16" : "f32";
    poison(o_dev, nq, c->bf16);
    double ms = compare_ksa(dev, c, q, k, v, o_dev, c->reps);
    printf("{\"op\":\"prefill\",\"mode\":\"dense\",\"impl\":\"ksa-%s\",\"isa\":\"%s\",\"dtype\":\"%s\",\"B\":1,\"Hq\":%lld,"
           "\"Hkv\":%lld,\"D\":%lld,\"L\":%lld,\"ms\":%.3f,\"tflops\":%.3f}\n",
           info->name, info->isa, dtn, (long long)c->Hq, (long long)c->Hkv, (long long)c->D, (long long)c->L, ms,
           flops / (ms * 1e-3) / 1e12);
    fflush(stdout);
    if (c->with_reference) {
        ksa_device ref;
        CHECK(ksa_device_open(ctx, "reference", &ref));
        poison(o_other, nq, c->bf16);
        double ms_ref = compare_ksa(ref, c, q, k, v, o_other, c->reps < 3 ? c->reps : 3);
        printf("{\"op\":\"prefill\",\"mode\":\"dense\",\"impl\":\"reference\",\"dtype\":\"%s\",\"L\":%lld,\"ms\":%.3f,"
               "\"tflops\":%.4f,\"max_abs_diff_vs_%s\":%.3g,\"device_speedup\":%.2f}\n",
               dtn, (long long)c->L, ms_ref, flops / (ms_ref * 1e-3) / 1e12, info->name,
               max_abs_diff(o_dev, o_other, nq, c->bf16), ms_ref / ms);
        fflush(stdout);
    }
#if KSA_CPU_BENCH_ONEDNN
    if (c->with_onednn) {
        char err[256] = "";
        onednn_attention *a = NULL;
        poison(o_other, nq, c->bf16);
        if (onednn_attention_create(&a, c->bf16, c->L, c->Hq, c->Hkv, c->D, c->block_q, q, k, v, o_other, err,
                                    sizeof err) ||
            onednn_attention_run(a, err, sizeof err)) { /* the run is also the warm-up */
            fprintf(stderr, "ksa-cpu-bench: oneDNN baseline: %s\n", err);
            exit(1);
        }
        double times[64];
        int reps = c->reps > 64 ? 64 : c->reps;
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            if (onednn_attention_run(a, err, sizeof err)) {
                fprintf(stderr, "ksa-cpu-bench: oneDNN baseline: %s\n", err);
                exit(1);
            }
            times[r] = (now_s() - t0) * 1e3;
        }
        qsort(times, (size_t)reps, sizeof times[0], cmp_double);
        double ms_dnnl = times[reps / 2];
        printf("{\"op\":\"prefill\",\"mode\":\"dense\",\"impl\":\"onednn\",\"version\":\"%s\",\"block_q\":%lld,"
               "\"dtype\":\"%s\",\"L\":%lld,\"ms\":%.3f,\"tflops\":%.3f,\"max_abs_diff_vs_%s\":%.3g,"
               "\"ksa_speedup\":%.2f}\n",
               onednn_version_string(), (long long)(c->block_q < c->L ? c->block_q : c->L), dtn, (long long)c->L,
               ms_dnnl, flops / (ms_dnnl * 1e-3) / 1e12, info->name, max_abs_diff(o_dev, o_other, nq, c->bf16),
               ms_dnnl / ms);
        fflush(stdout);
        if (getenv("KSA_CPU_PROFILE")) {
            double sec[3];
            onednn_attention_profile(a, sec);
            double tot = sec[0] + sec[1] + sec[2];
            if (tot > 0)
                printf("{\"op\":\"profile\",\"impl\":\"onednn\",\"qk_pct\":%.1f,\"softmax_pct\":%.1f,\"pv_pct\":%.1f,"
                       "\"qk_ms_per_call\":%.3f,\"pv_ms_per_call\":%.3f}\n",
                       100 * sec[0] / tot, 100 * sec[1] / tot, 100 * sec[2] / tot, 1e3 * sec[0] / (reps + 1),
                       1e3 * sec[2] / (reps + 1));
        }
        onednn_attention_destroy(a);
    }
#else
    if (c->with_onednn) printf("{\"op\":\"prefill\",\"impl\":\"onednn\",\"skipped\":\"built without oneDNN\"}\n");
#endif
    free(q);
    free(k);
    free(v);
    free(o_dev);
    free(o_other);
}

/* ---------------------------------------------------------------- interleaved A/B */
#define AB_MAX 8
#define AB_ROUNDS_MAX 31

typedef struct ab_entry {
    char text[160];
    char config[160];       /* the non-KSA_ pairs, for ksa_set_config_override ("" = built-in) */
    char env[4][2][64];     /* KSA_* name, value */
    int nenv;
} ab_entry;

static int ab_parse(const char *list, ab_entry *e, int max)
{
    int n = 0;
    const char *p = list;
    while (*p && n < max) {
        size_t len = strcspn(p, ";");
        ab_entry *x = &e[n];
        memset(x, 0, sizeof *x);
        snprintf(x->text, sizeof x->text, "%.*s", (int)len, p);
        char buf[160];
        snprintf(buf, sizeof buf, "%s", x->text);
        for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            if (!strncmp(kv, "KSA_", 4) && eq && x->nenv < 4) {
                snprintf(x->env[x->nenv][0], 64, "%.*s", (int)(eq - kv), kv);
                snprintf(x->env[x->nenv][1], 64, "%s", eq + 1);
                x->nenv++;
            } else {
                size_t used = strlen(x->config);
                snprintf(x->config + used, sizeof x->config - used, "%s%s", used ? "," : "", kv);
            }
        }
        n++;
        p += len;
        if (*p == ';') p++;
    }
    return n;
}

static void ab_apply(const ab_entry *e, int on)
{
    for (int i = 0; i < e->nenv; i++) {
        if (on) setenv(e->env[i][0], e->env[i][1], 1);
        else unsetenv(e->env[i][0]);
    }
    CHECK(ksa_set_config_override(on && e->config[0] ? e->config : NULL));
}

static void bench_ab(ksa_device dev, const char *isa, const char *list, const char *mode, int rounds, int64_t L)
{
    ab_entry e[AB_MAX];
    int n = ab_parse(list, e, AB_MAX);
    if (rounds < 1) rounds = 1;
    if (rounds > AB_ROUNDS_MAX) rounds = AB_ROUNDS_MAX;
    prefill_inputs in;
    prefill_inputs_make(dev, L, &in);
    ksa_attention_tensors *t = &in.t;
    ksa_mode m = !strcmp(mode, "anchor") ? KSA_MODE_ANCHOR : !strcmp(mode, "reuse") ? KSA_MODE_REUSE : KSA_MODE_DENSE;
    if (m != KSA_MODE_DENSE) { /* the index state: one anchor call */
        prefill_inputs_add_index_state(dev, &in);
        ksa_attention_params pa = ksa_attention_params_default(KSA_MODE_ANCHOR, KSA_PHASE_PREFILL);
        ksa_workspace ws = make_ws(dev, &pa, t);
        CHECK(ksa_attention(dev, NULL, &pa, t, &ws));
        free(ws.data);
    }
    ksa_attention_params pm = ksa_attention_params_default(m, KSA_PHASE_PREFILL);
    ksa_workspace ws[AB_MAX];
    /* an entry the backend refuses (e.g. a value outside a tunable's list) gets an error line and
     * leaves the rounds; the others still run, against the first entry that is left */
    int kept = 0;
    for (int i = 0; i < n; i++) {
        ab_apply(&e[i], 1);
        size_t bytes = 0;
        ksa_status st = ksa_attention_workspace_size(dev, &pm, t, &bytes);
        if (st) {
            char why[256];
            snprintf(why, sizeof why, "%s", ksa_last_error());
            for (char *c = why; *c; c++)
                if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '\'';
            printf("{\"op\":\"ab\",\"mode\":\"%s\",\"entry\":\"%s\",\"error\":\"%s: %s\"}\n", mode, e[i].text,
                   ksa_status_string(st), why);
            ab_apply(&e[i], 0);
            continue;
        }
        ws[kept] = ws_of_size(bytes);
        ab_apply(&e[i], 0);
        if (kept != i) e[kept] = e[i];
        kept++;
    }
    n = kept;
    double ms[AB_MAX][AB_ROUNDS_MAX];
    for (int r = 0; r < rounds; r++)
        for (int j = 0; j < n; j++) {
            int i = (j + r) % n;
            ab_apply(&e[i], 1);
            ms[i][r] = time_call(dev, &pm, t, &ws[i], 3);
            ab_apply(&e[i], 0);
        }
    for (int i = 0; i < n; i++) {
        double med[AB_ROUNDS_MAX], ratio[AB_ROUNDS_MAX];
        for (int r = 0; r < rounds; r++) {
            med[r] = ms[i][r];
            ratio[r] = ms[0][r] / ms[i][r];
        }
        qsort(med, (size_t)rounds, sizeof med[0], cmp_double);
        qsort(ratio, (size_t)rounds, sizeof ratio[0], cmp_double);
        printf("{\"op\":\"ab\",\"mode\":\"%s\",\"isa\":\"%s\",\"dtype\":\"%s\",\"L\":%lld,\"entry\":\"%s\",\"rounds\":%d,"
               "\"ms\":%.3f,\"ms_low\":%.3f,\"ms_high\":%.3f,\"speedup_vs_A\":%.3f,\"band_low\":%.3f,\"band_high\":%.3f}\n",
               mode, isa, pf_dtype_name(), (long long)L, e[i].text, rounds, med[rounds / 2], med[0], med[rounds - 1],
               ratio[rounds / 2], ratio[0], ratio[rounds - 1]);
        free(ws[i].data);
    }
    fflush(stdout);
    prefill_inputs_free(&in);
}

/* ---------------------------------------------------------------- AMX rate probes */
static void bench_probe(int threads)
{
#if defined(KSA_CPU_BENCH_AMX_PROBE)
    double peak = amx_probe_tile_peak_tflops(threads, 1.0);
    double gemm = amx_probe_gemm_tflops(threads, 1.0);
    double dp = amx_probe_dp_only_tflops(threads, 1.0);
    double one = amx_probe_tile_peak_tflops(1, 0.5);
    if (peak < 0 || gemm < 0) printf("{\"op\":\"amx_probe\",\"available\":false}\n");
    else
        printf("{\"op\":\"amx_probe\",\"threads\":%d,\"tile_peak_tflops\":%.2f,\"gemm_l2_tflops\":%.2f,"
               "\"dp_only_tflops\":%.2f,\"tile_peak_one_thread_tflops\":%.3f}\n",
               threads, peak, gemm, dp, one);
    fflush(stdout);
    /* the state of each CPU's tile unit: the multiply-only and the tile-peak loop alone on CPUs
     * 0 .. threads - 1 (on the lent VM each runs at full rate or ~2.4x slower, set from outside) */
    int nc = threads < 256 ? threads : 256;
    double solo[256], solo_tile[256];
    if (amx_probe_solo_tflops(nc, 0, 0.05, solo) == nc && amx_probe_solo_tflops(nc, 1, 0.05, solo_tile) == nc) {
        double top = 0, top_tile = 0;
        for (int i = 0; i < nc; i++) {
            top = solo[i] > top ? solo[i] : top;
            top_tile = solo_tile[i] > top_tile ? solo_tile[i] : top_tile;
        }
        int full = 0;
        for (int i = 0; i < nc; i++) full += solo[i] >= 0.8 * top;
        printf("{\"op\":\"amx_probe_solo\",\"cpus\":%d,\"fastest_tflops\":%.3f,\"within_80pct_of_fastest\":%d,"
               "\"fastest_tile_peak_tflops\":%.3f,\"dp_only_tflops\":[",
               nc, top, full, top_tile);
        for (int i = 0; i < nc; i++) printf("%s%.3f", i ? "," : "", solo[i]);
        printf("],\"tile_peak_tflops\":[");
        for (int i = 0; i < nc; i++) printf("%s%.3f", i ? "," : "", solo_tile[i]);
        printf("]}\n");
    }
#else
    printf("{\"op\":\"amx_probe\",\"available\":false,\"why\":\"built without the AMX compiler flags\"}\n");
#endif
    fflush(stdout);
#if defined(KSA_CPU_BENCH_ONEDNN)
    double tf = 0;
    char impl[128], err[256];
    if (onednn_matmul_probe(4096, 4096, 4096, 5, &tf, impl, sizeof impl, err, sizeof err) == 0)
        printf("{\"op\":\"onednn_matmul\",\"version\":\"%s\",\"impl\":\"%s\",\"M\":4096,\"N\":4096,\"K\":4096,\"tflops\":%.2f}\n",
               onednn_version_string(), impl, tf);
    else
        printf("{\"op\":\"onednn_matmul\",\"error\":\"%s\"}\n", err);
#else
    printf("{\"op\":\"onednn_matmul\",\"available\":false,\"why\":\"built without oneDNN\"}\n");
#endif
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int quick = 0, only = 0; /* only: 1 prefill, 2 decode, 3 dense prefill */
    const char *devname = "cpu";
    int compare = 0, probe = 0, ab_rounds = 5;
    int64_t ab_L = 4096;
    const char *ab_list = NULL, *ab_mode = "dense";
    compare_opts copts = {1024, 8, 2, 128, 256, 1, 5, 0, 1};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--compare")) compare = 1;
        else if (!strcmp(argv[i], "--probe")) probe = 1;
        else if (!strcmp(argv[i], "--ab") && i + 1 < argc) ab_list = argv[++i];
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) ab_mode = argv[++i];
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) ab_rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reference")) copts.with_reference = 1;
        else if (!strcmp(argv[i], "--no-onednn")) copts.with_onednn = 0;
        else if (!strcmp(argv[i], "--L") && i + 1 < argc) ab_L = copts.L = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--hq") && i + 1 < argc) copts.Hq = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--hkv") && i + 1 < argc) copts.Hkv = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--d") && i + 1 < argc) copts.D = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--block-q") && i + 1 < argc) copts.block_q = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) copts.reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) copts.bf16 = strcmp(argv[++i], "f32") != 0;
        else if (!strcmp(argv[i], "--prefill")) only = 1;
        else if (!strcmp(argv[i], "--decode")) only = 2;
        else if (!strcmp(argv[i], "--dense")) only = 3;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) devname = argv[++i];
        else if (!strcmp(argv[i], "--prefill-dtype") && i + 1 < argc) {
            const char *d = argv[++i];
            if (strcmp(d, "bf16") && strcmp(d, "f16")) {
                fprintf(stderr, "ksa-cpu-bench: --prefill-dtype %s: not bf16 or f16\n", d);
                return 2;
            }
            pf_dtype = strcmp(d, "f16") ? KSA_DTYPE_BF16 : KSA_DTYPE_F16;
        }
    }
    ksa_context ctx;
    CHECK(ksa_context_create(&ctx));
    ksa_device dev;
    CHECK(ksa_device_open(ctx, devname, &dev));
    ksa_device_info info;
    CHECK(ksa_device_get_info(dev, &info));
    const ksa_cpu_features *f = ksa_cpu_get_features();
    int threads = f->physical_cores > 0 ? f->physical_cores : 1;
    threads = ksa_env_num_threads(threads, 512, NULL, 0); /* the pool's rule and warnings for KSA_NUM_THREADS */
    fprintf(stderr, "ksa-cpu-bench: %s, isa %s, %d threads\n", info.description, info.isa, threads);
    if (ab_list) {
        if (ab_L < 1) {
            fprintf(stderr, "ksa-cpu-bench: --ab needs --L >= 1\n");
            return 2;
        }
        bench_ab(dev, info.isa, ab_list, ab_mode, ab_rounds, ab_L);
        ksa_context_destroy(ctx);
        return 0;
    }
    if (probe) {
        bench_probe(threads);
        ksa_context_destroy(ctx);
        return 0;
    }
    if (compare) {
        if (copts.L < 1 || copts.Hq < 1 || copts.Hkv < 1 || copts.D < 1 || copts.Hq % copts.Hkv || copts.reps < 1) {
            fprintf(stderr, "ksa-cpu-bench: --compare needs L, hq, hkv, d, reps >= 1 and hq a multiple of hkv\n");
            return 2;
        }
        bench_compare(ctx, dev, &info, &copts);
        if (getenv("KSA_CPU_PROFILE")) ksa_cpu_profile_report(stdout);
        ksa_context_destroy(ctx);
        return 0;
    }
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
