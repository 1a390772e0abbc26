#define _POSIX_C_SOURCE 200809L
/* ksa_bench.c: ksa-bench, the benchmark driver. Runs every attention mode (DENSE / ANCHOR / REUSE)
 * in both phases (PREFILL, DECODE) on every device present, over the standard shapes of
 * bench/PERFORMANCE.md or user-given ones, and a 32-layer Kascade schedule against 32 dense layers.
 * Timing: warm-up, then the median of repeated samples, each sample a batch of back-to-back calls
 * closed by ksa_stream_synchronize (also kept: the host time to submit a batch, host_ms, and on a
 * device the dispatch layer's own time per call, resolve_ms); inputs rotated among several copies
 * when they would fit in the last-level cache; random data. Each measurement is one JSON object
 * on one line (stdout or --out), with FLOPs, bytes, the roofline floor and the share of it reached. Public API only
 * (plus the header-only budget helpers of dispatch/ksa_backend.h, for counting). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tools/ksa_cli.h"
#include "bench_model.h"
#include "ksa/ksa.h"

#ifndef KSA_BENCH_DATA_DIR
#define KSA_BENCH_DATA_DIR "tests/data"
#endif
#define DEFAULT_HEAD_MAPS "Meta-Llama-3.1-8B-Instruct_layers_0_2_8_13_14.npy"

enum { MAX_SHAPES = 64, MAX_DEVICES = 16, MAX_ROTATIONS = 8, MAX_SAMPLES = 200 };

/* ---------------------------------------------------------------- options */
typedef struct bench_item {
    bench_shape shape;
    ksa_phase phase;
} bench_item;

typedef struct bench_options {
    char devices[512]; /* comma list; "" = every non-reference device; "all" includes the reference */
    bench_item items[MAX_SHAPES];
    int n_items;
    int user_shapes;
    int modes[3];  /* DENSE, ANCHOR, REUSE enabled */
    int phases[2]; /* PREFILL, DECODE enabled */
    ksa_dtype dtypes[3];
    int n_dtypes;
    int quick, schedule, grid, dry_run, probe, verbose;
    int repeats, warmup;
    double min_sample_ms, max_measure_ms, max_call_ms, time_budget_s, max_mem_fraction, warmup_ms;
    double peak_tflops, bandwidth_gbs, cache_mb;
    const char *out_path;
    const char *config;
    const char *tag;
    const char *head_maps;
    int32_t anchors[64];
    int n_anchors;
    int schedule_sets;
    ksa_topk_params topk;
    const char *dry_model;
} bench_options;

static bench_options opt;
static FILE *out_file;
static int lines_written, lines_invalid, lines_ok;
static char first_failure[400]; /* the first record that measured nothing: its status and reason */
static double start_ms;
static int progress_on;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ksa-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* ---------------------------------------------------------------- JSON builder */
typedef struct jbuf {
    char s[4096];
    size_t n;
    int first; /* no comma needed before the next member */
} jbuf;

static void jb_raw(jbuf *j, const char *fmt, ...)
{
    if (j->n >= sizeof j->s) return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(j->s + j->n, sizeof j->s - j->n, fmt, ap);
    va_end(ap);
    if (w > 0) j->n += (size_t)w;
    if (j->n > sizeof j->s - 1) j->n = sizeof j->s - 1;
}

static void jb_key(jbuf *j, const char *key)
{
    jb_raw(j, "%s\"%s\":", j->first ? "" : ",", key);
    j->first = 0;
}

static void jb_str(jbuf *j, const char *key, const char *val)
{
    jb_key(j, key);
    jb_raw(j, "\"");
    for (const char *p = val ? val : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') jb_raw(j, "\\%c", c);
        else if (c < 0x20) jb_raw(j, "\\u%04x", c);
        else jb_raw(j, "%c", c);
    }
    jb_raw(j, "\"");
}

static void jb_num(jbuf *j, const char *key, double v)
{
    jb_key(j, key);
    if (!isfinite(v)) jb_raw(j, "null");
    else if (v == floor(v) && fabs(v) < 9e15) jb_raw(j, "%.0f", v);
    else jb_raw(j, "%.6g", v);
}

static void jb_open(jbuf *j, const char *key)
{
    if (key) jb_key(j, key);
    jb_raw(j, "{");
    j->first = 1;
}

static void jb_close(jbuf *j)
{
    jb_raw(j, "}");
    j->first = 0;
}

static void emit(jbuf *j, int ok)
{
    j->s[j->n] = '\0';
    FILE *f = out_file ? out_file : stdout;
    fprintf(f, "%s\n", j->s);
    fflush(f);
    lines_written++;
    if (ok) lines_ok++;
    if (!bench_json_line_valid(j->s)) {
        lines_invalid++;
        fprintf(stderr, "ksa-bench: emitted an invalid JSON line: %s\n", j->s);
    }
}

/* ---------------------------------------------------------------- parsing helpers */
static const char *mode_name(ksa_mode m) { return m == KSA_MODE_DENSE ? "dense" : m == KSA_MODE_ANCHOR ? "anchor" : "reuse"; }
static const char *phase_name(ksa_phase p) { return p == KSA_PHASE_PREFILL ? "prefill" : "decode"; }

static ksa_dtype parse_dtype(const char *s)
{
    if (!strcmp(s, "f32")) return KSA_DTYPE_F32;
    if (!strcmp(s, "f16") || !strcmp(s, "fp16")) return KSA_DTYPE_F16;
    if (!strcmp(s, "bf16")) return KSA_DTYPE_BF16;
    die("--dtype: '%s' is not f32, f16 or bf16", s);
    return KSA_DTYPE_INVALID;
}

static void add_item(int64_t B, int64_t Lq, int64_t Lk, int64_t Hq, int64_t Hkv, int64_t D, ksa_phase ph)
{
    if (opt.n_items >= MAX_SHAPES) die("too many shapes (at most %d)", MAX_SHAPES);
    bench_item *it = &opt.items[opt.n_items++];
    it->shape = (bench_shape){B, Lq, Lk, Hq, Hkv, D};
    it->phase = ph;
}

static void parse_shape(const char *s)
{
    long long v[6];
    if (sscanf(s, "%lld,%lld,%lld,%lld,%lld,%lld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        die("--shape: '%s' is not B,Lq,Lk,Hq,Hkv,D", s);
    for (int i = 0; i < 6; i++)
        if (v[i] <= 0) die("--shape: '%s' has a non-positive entry", s);
    if (v[1] > v[2]) die("--shape: '%s' has Lq > Lk", s);
    if (v[3] % v[4]) die("--shape: '%s': Hq must be a multiple of Hkv", s);
    add_item(v[0], v[1], v[2], v[3], v[4], v[5], v[1] == 1 ? KSA_PHASE_DECODE : KSA_PHASE_PREFILL);
    opt.user_shapes = 1;
}

/* The standard grid of bench/PERFORMANCE.md (or the CI-sized --quick grid). */
static void add_standard_grid(void)
{
    if (opt.quick) {
        add_item(1, 256, 256, 8, 2, 64, KSA_PHASE_PREFILL);
        add_item(1, 512, 512, 8, 2, 64, KSA_PHASE_PREFILL);
        add_item(1, 128, 512, 8, 2, 64, KSA_PHASE_PREFILL); /* chunked */
        add_item(2, 1, 1024, 8, 2, 64, KSA_PHASE_DECODE);
        add_item(2, 1, 4096, 8, 2, 64, KSA_PHASE_DECODE);
        return;
    }
    /* the shapes of the targets first (P1-P5), so a --time-budget cuts the rest, not them */
    add_item(1, 16384, 16384, 32, 8, 128, KSA_PHASE_PREFILL);
    add_item(1, 32768, 32768, 32, 8, 128, KSA_PHASE_PREFILL);
    add_item(64, 1, 32768, 32, 8, 128, KSA_PHASE_DECODE);
    add_item(1, 8192, 8192, 32, 8, 128, KSA_PHASE_PREFILL);
    static const int64_t Bs[] = {1, 16, 64};
    static const int64_t Lks[] = {8192, 32768, 131072};
    for (size_t l = 0; l < 3; l++)
        for (size_t b = 0; b < 3; b++)
            if (!(Bs[b] == 64 && Lks[l] == 32768)) add_item(Bs[b], 1, Lks[l], 32, 8, 128, KSA_PHASE_DECODE);
    add_item(1, 65536, 65536, 32, 8, 128, KSA_PHASE_PREFILL);
    add_item(1, 131072, 131072, 32, 8, 128, KSA_PHASE_PREFILL);
    /* head dims 64 and 256, GQA 1, chunked prefill */
    add_item(1, 16384, 16384, 32, 8, 64, KSA_PHASE_PREFILL);
    add_item(1, 16384, 16384, 32, 8, 256, KSA_PHASE_PREFILL);
    add_item(1, 16384, 16384, 32, 32, 128, KSA_PHASE_PREFILL);
    add_item(1, 4096, 32768, 32, 8, 128, KSA_PHASE_PREFILL);
    add_item(16, 1, 32768, 32, 8, 64, KSA_PHASE_DECODE);
    add_item(16, 1, 32768, 32, 8, 256, KSA_PHASE_DECODE);
    add_item(16, 1, 32768, 32, 32, 128, KSA_PHASE_DECODE);
}

/* ---------------------------------------------------------------- random data */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static uint16_t f32_to_f16(float f) /* normal values of moderate size only (all the bench makes) */
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    int32_t e = (int32_t)((u >> 23) & 0xff) - 127 + 15;
    uint32_t m = u & 0x7fffffu;
    if (e <= 0) return (uint16_t)(sign | 0x0400u); /* smallest normal: never zero */
    uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13);
    if ((m & 0x1fffu) > 0x1000u || ((m & 0x1fffu) == 0x1000u && (h & 1u))) h++;
    return (uint16_t)h;
}

#define RAND_BLOCK_ELEMS (4u << 20)
static unsigned char *rand_block[5]; /* per dtype: RAND_BLOCK_ELEMS values in [-1, 1], never 0 */

static const unsigned char *random_block(ksa_dtype dt)
{
    if (rand_block[dt]) return rand_block[dt];
    size_t es = ksa_dtype_size(dt);
    unsigned char *b = malloc(RAND_BLOCK_ELEMS * es);
    if (!b) die("out of host memory for random data");
    for (size_t i = 0; i < RAND_BLOCK_ELEMS; i++) {
        float x = (float)(urand() * 2.0 - 1.0);
        if (fabsf(x) < 1e-2f) x = x < 0 ? -1e-2f : 1e-2f;
        if (dt == KSA_DTYPE_F32) memcpy(b + i * 4, &x, 4);
        else {
            uint16_t h = dt == KSA_DTYPE_BF16 ? f32_to_bf16(x) : f32_to_f16(x);
            memcpy(b + i * 2, &h, 2);
        }
    }
    rand_block[dt] = b;
    return b;
}

/* Fill `bytes` of buf with random values of dtype: chunks of the random block at varying offsets. */
static ksa_status fill_random(ksa_buffer buf, size_t bytes, ksa_dtype dt)
{
    const unsigned char *blk = random_block(dt);
    size_t es = ksa_dtype_size(dt);
    size_t block_bytes = RAND_BLOCK_ELEMS * es;
    size_t half = block_bytes / 2;
    for (size_t off = 0; off < bytes;) {
        size_t start = ((size_t)(urand() * (double)(RAND_BLOCK_ELEMS / 2))) * es;
        size_t n = bytes - off < half ? bytes - off : half;
        ksa_status st = ksa_buffer_write(buf, off, blk + start, n, NULL);
        if (st) return st;
        off += n;
    }
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- host bandwidth probe */
typedef struct probe_arg {
    char *src, *dst;
    size_t bytes;
} probe_arg;

static void *probe_thread(void *p)
{
    probe_arg *a = p;
    memcpy(a->dst, a->src, a->bytes);
    return NULL;
}

/* Host memory copy rate (bytes read + written per second, GB/s) with one thread per online CPU. */
static double probe_host_bandwidth(int *threads_out)
{
    long nt = sysconf(_SC_NPROCESSORS_ONLN);
    if (nt < 1) nt = 1;
    if (nt > 256) nt = 256;
    size_t total = (size_t)1 << 30;
    char *src = malloc(total), *dst = malloc(total);
    if (!src || !dst) {
        free(src);
        free(dst);
        return 0;
    }
    memset(src, 1, total);
    memset(dst, 2, total);
    pthread_t th[256];
    probe_arg args[256];
    size_t chunk = total / (size_t)nt;
    double best = 0;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = now_ms();
        for (long i = 0; i < nt; i++) {
            args[i] = (probe_arg){src + (size_t)i * chunk, dst + (size_t)i * chunk, chunk};
            pthread_create(&th[i], NULL, probe_thread, &args[i]);
        }
        for (long i = 0; i < nt; i++) pthread_join(th[i], NULL);
        double t = (now_ms() - t0) * 1e-3;
        double gbs = 2.0 * (double)chunk * (double)nt / t / 1e9;
        if (rep > 0 && gbs > best) best = gbs;
    }
    free(src);
    free(dst);
    *threads_out = (int)nt;
    return best;
}

/* ---------------------------------------------------------------- device + peaks */
typedef struct bench_device {
    ksa_device dev;
    ksa_device_info info;
    bench_peaks peaks;
    /* last measured ms and floor per (phase, mode, dtype), for skipping calls predicted too long */
    double last_ms[2][3][5], last_floor[2][3][5];
} bench_device;

static void resolve_peaks(bench_device *d)
{
    d->peaks = bench_peaks_builtin(&d->info);
    if (d->info.host_memory && d->info.kind != KSA_DEVICE_REFERENCE && opt.probe) {
        int nt = 0;
        double gbs = probe_host_bandwidth(&nt);
        if (gbs > 0) {
            d->peaks.bandwidth_gbs = gbs;
            size_t n = strlen(d->peaks.source);
            snprintf(d->peaks.source + n, sizeof d->peaks.source - n, "; bandwidth probed (memcpy, %d threads)", nt);
        }
    }
    const char *e = getenv("KSA_BENCH_PEAK_TFLOPS");
    if (e && atof(e) > 0) d->peaks.tflops = atof(e);
    e = getenv("KSA_BENCH_BANDWIDTH_GBS");
    if (e && atof(e) > 0) d->peaks.bandwidth_gbs = atof(e);
    if (opt.peak_tflops > 0) d->peaks.tflops = opt.peak_tflops;
    if (opt.bandwidth_gbs > 0) d->peaks.bandwidth_gbs = opt.bandwidth_gbs;
    if (opt.cache_mb > 0) d->peaks.cache_bytes = opt.cache_mb * 1e6;
    if (getenv("KSA_BENCH_PEAK_TFLOPS") || getenv("KSA_BENCH_BANDWIDTH_GBS") || opt.peak_tflops > 0 || opt.bandwidth_gbs > 0) {
        size_t n = strlen(d->peaks.source);
        snprintf(d->peaks.source + n, sizeof d->peaks.source - n, "; overridden by option/env");
    }
}

/* ---------------------------------------------------------------- one record */
typedef struct record {
    const bench_device *d;
    const char *op;
    const char *mode;
    const char *phase;
    bench_shape shape;
    ksa_dtype dtype;
    bench_work work;
    const char *status; /* "ok", "skipped", "unsupported", "error" */
    const char *error;
    int rotations, batch_calls, repeats;
    double median_ms, min_ms, max_ms;
    double host_ms;    /* median of the samples' host submission time per call (0: not measured) */
    double resolve_ms; /* host time of ksa_attention_workspace_size alone per call (the dispatch layer and the plan) */
    double extra_ms; /* schedule: the dense pass (mode kascade) */
    const char *extra_label;
    const char *note;
} record;

static void emit_record(const record *r)
{
    jbuf j;
    memset(&j, 0, sizeof j);
    jb_open(&j, NULL);
    jb_str(&j, "tool", "ksa-bench");
    jb_str(&j, "ksa_version", ksa_version_string());
    jb_str(&j, "op", r->op);
    jb_str(&j, "mode", r->mode);
    jb_str(&j, "phase", r->phase);
    jb_str(&j, "backend", r->d->info.backend);
    jb_str(&j, "device", r->d->info.name);
    jb_str(&j, "device_name", r->d->info.description);
    jb_str(&j, "isa", r->d->info.isa);
    jb_open(&j, "shape");
    jb_num(&j, "B", (double)r->shape.B);
    jb_num(&j, "Lq", (double)r->shape.Lq);
    jb_num(&j, "Lk", (double)r->shape.Lk);
    jb_num(&j, "Hq", (double)r->shape.Hq);
    jb_num(&j, "Hkv", (double)r->shape.Hkv);
    jb_num(&j, "D", (double)r->shape.D);
    jb_close(&j);
    jb_str(&j, "dtype", ksa_dtype_name(r->dtype));
    jb_open(&j, "config");
    jb_num(&j, "topk_fraction", opt.topk.fraction);
    jb_num(&j, "min_k", opt.topk.min_k);
    jb_num(&j, "round_multiple", opt.topk.round_multiple);
    jb_num(&j, "tile", opt.topk.tile_size);
    jb_num(&j, "rolling", opt.topk.rolling);
    jb_str(&j, "override", opt.config ? opt.config : "");
    const char *isa_env = getenv("KSA_CPU_ISA");
    jb_str(&j, "cpu_isa_env", isa_env ? isa_env : "");
    jb_num(&j, "rotations", r->rotations);
    jb_num(&j, "batch_calls", r->batch_calls);
    jb_num(&j, "repeats", r->repeats);
    jb_close(&j);
    if (opt.tag) jb_str(&j, "tag", opt.tag);
    jb_str(&j, "status", r->status);
    if (r->error) jb_str(&j, "error", r->error);
    if (strcmp(r->status, "ok") != 0 && !first_failure[0])
        snprintf(first_failure, sizeof first_failure, "%s %s %s on %s: %s%s%s", r->op, r->mode, r->phase, r->d->info.name,
                 r->status, r->error ? ": " : "", r->error ? r->error : "");
    if (r->note) jb_str(&j, "note", r->note);
    jb_num(&j, "flops", r->work.flops);
    jb_num(&j, "bytes", r->work.bytes);
    int membound = 0;
    double floor_ms = bench_floor_ms(&r->work, &r->d->peaks, &membound);
    jb_num(&j, "floor_ms", floor_ms);
    jb_str(&j, "bound", membound ? "memory" : "compute");
    jb_num(&j, "peak_tflops", r->d->peaks.tflops);
    jb_num(&j, "bandwidth_gbs", r->d->peaks.bandwidth_gbs);
    jb_str(&j, "peak_source", r->d->peaks.source);
    int ok = !strcmp(r->status, "ok");
    if (ok) {
        double tflops = r->work.flops / (r->median_ms * 1e-3) / 1e12;
        double gbs = r->work.bytes / (r->median_ms * 1e-3) / 1e9;
        jb_num(&j, "median_ms", r->median_ms);
        jb_num(&j, "min_ms", r->min_ms);
        if (r->host_ms > 0) jb_num(&j, "host_ms", r->host_ms);
        if (r->resolve_ms > 0) jb_num(&j, "resolve_ms", r->resolve_ms);
        jb_num(&j, "max_ms", r->max_ms);
        jb_num(&j, "tflops", tflops);
        jb_num(&j, "gbs", gbs);
        jb_num(&j, "rate", membound ? gbs : tflops);
        jb_str(&j, "rate_unit", membound ? "GB/s" : "TFLOP/s");
        jb_num(&j, "roofline_pct", 100.0 * floor_ms / r->median_ms);
        if (r->extra_label) {
            jb_num(&j, r->extra_label, r->extra_ms);
            jb_num(&j, "speedup", r->extra_ms / r->median_ms);
        }
    }
    jb_close(&j);
    emit(&j, ok);
    if (opt.verbose) { /* one readable line per record on stderr, for logs */
        if (progress_on) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "%-10s %-9s %-7s %-7s %-4s B%-3lld Lq%-6lld Lk%-6lld H%lld/%lld D%-3lld ", r->d->info.name, r->op,
                r->mode, r->phase, ksa_dtype_name(r->dtype), (long long)r->shape.B, (long long)r->shape.Lq,
                (long long)r->shape.Lk, (long long)r->shape.Hq, (long long)r->shape.Hkv, (long long)r->shape.D);
        if (ok) {
            fprintf(stderr, "%10.4f ms  %8.2f TFLOP/s %8.1f GB/s  %5.1f%% of floor", r->median_ms,
                    r->work.flops / (r->median_ms * 1e-3) / 1e12, r->work.bytes / (r->median_ms * 1e-3) / 1e9,
                    100.0 * floor_ms / r->median_ms);
            if (r->extra_label) fprintf(stderr, "  speedup %.2fx", r->extra_ms / r->median_ms);
            fprintf(stderr, "\n");
        } else {
            fprintf(stderr, "%s: %s\n", r->status, r->error ? r->error : "");
        }
    }
}

static void progress(const char *fmt, ...)
{
    if (!progress_on) return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\r\033[K[%6.1f s] %s", (now_ms() - start_ms) * 1e-3, line);
    fflush(stderr);
}

/* ---------------------------------------------------------------- problem data */
typedef struct copyset {
    ksa_buffer q, k, v, o, idx, cnt;
} copyset;

typedef struct problem {
    bench_shape s;
    ksa_phase phase;
    ksa_dtype dtype;
    int rotations;
    copyset c[MAX_ROTATIONS];
    int64_t n_tiles, k_slots;
    ksa_buffer ws;
    size_t ws_bytes;
} problem;

static ksa_attention_tensors tensors_of(const problem *p, int r, ksa_mode mode)
{
    ksa_attention_tensors t;
    memset(&t, 0, sizeof t);
    int64_t qs[4] = {p->s.B, p->s.Lq, p->s.Hq, p->s.D};
    int64_t ks[4] = {p->s.B, p->s.Lk, p->s.Hkv, p->s.D};
    t.q = ksa_tensor_from_buffer(p->c[r].q, 0, p->dtype, 4, qs);
    t.o = ksa_tensor_from_buffer(p->c[r].o, 0, p->dtype, 4, qs);
    t.k = ksa_tensor_from_buffer(p->c[r].k, 0, p->dtype, 4, ks);
    t.v = ksa_tensor_from_buffer(p->c[r].v, 0, p->dtype, 4, ks);
    if (mode != KSA_MODE_DENSE && p->c[r].idx) {
        if (p->phase == KSA_PHASE_DECODE) {
            int64_t is[3] = {p->s.B, p->s.Hkv, p->k_slots};
            int64_t cs[2] = {p->s.B, p->s.Hkv};
            t.indices = ksa_tensor_from_buffer(p->c[r].idx, 0, KSA_DTYPE_I32, 3, is);
            t.counts = ksa_tensor_from_buffer(p->c[r].cnt, 0, KSA_DTYPE_I32, 2, cs);
        } else {
            int64_t is[4] = {p->s.B, p->s.Hkv, p->n_tiles, p->k_slots};
            int64_t cs[3] = {p->s.B, p->s.Hkv, p->n_tiles};
            t.indices = ksa_tensor_from_buffer(p->c[r].idx, 0, KSA_DTYPE_I32, 4, is);
            t.counts = ksa_tensor_from_buffer(p->c[r].cnt, 0, KSA_DTYPE_I32, 3, cs);
        }
    }
    return t;
}

static ksa_attention_params params_of(const problem *p, ksa_mode mode)
{
    ksa_attention_params a = ksa_attention_params_default(mode, p->phase);
    a.topk = opt.topk;
    return a;
}

static void free_problem(problem *p)
{
    for (int r = 0; r < MAX_ROTATIONS; r++) {
        ksa_buffer_free(p->c[r].q);
        ksa_buffer_free(p->c[r].k);
        ksa_buffer_free(p->c[r].v);
        ksa_buffer_free(p->c[r].o);
        ksa_buffer_free(p->c[r].idx);
        ksa_buffer_free(p->c[r].cnt);
    }
    ksa_buffer_free(p->ws);
    memset(p, 0, sizeof *p);
}

static size_t qo_bytes(const bench_shape *s, ksa_dtype dt) { return (size_t)(s->B * s->Lq * s->Hq * s->D) * ksa_dtype_size(dt); }
static size_t kv_bytes(const bench_shape *s, ksa_dtype dt) { return (size_t)(s->B * s->Lk * s->Hkv * s->D) * ksa_dtype_size(dt); }

static char errbuf[512];

/* Allocate and fill `rotations` copies plus index tensors and the workspace. Returns a status and
 * a sentence in errbuf on failure. */
static ksa_status setup_problem(bench_device *d, problem *p, int want_index)
{
    ksa_status st;
    size_t qb = qo_bytes(&p->s, p->dtype), kb = kv_bytes(&p->s, p->dtype);
#define TRY(call)                                                                                   \
    do {                                                                                            \
        st = (call);                                                                                \
        if (st) {                                                                                   \
            snprintf(errbuf, sizeof errbuf, "%s: %s: %s", #call, ksa_status_string(st), ksa_last_error()); \
            return st;                                                                              \
        }                                                                                           \
    } while (0)
    /* index geometry from the library (what ANCHOR writes, REUSE reads) */
    {
        problem tmp = *p;
        tmp.rotations = 1;
        ksa_attention_params a = params_of(p, KSA_MODE_ANCHOR);
        int64_t qs[4] = {p->s.B, p->s.Lq, p->s.Hq, p->s.D};
        int64_t ks[4] = {p->s.B, p->s.Lk, p->s.Hkv, p->s.D};
        ksa_attention_tensors t;
        memset(&t, 0, sizeof t);
        static char dummy[64];
        t.q = ksa_tensor_make(d->dev, dummy, p->dtype, 4, qs);
        t.o = t.q;
        t.k = ksa_tensor_make(d->dev, dummy, p->dtype, 4, ks);
        t.v = t.k;
        TRY(ksa_attention_index_shape(d->dev, &a, &t, &p->n_tiles, &p->k_slots));
        (void)tmp;
    }
    size_t ib = (size_t)(p->s.B * p->s.Hkv * p->n_tiles * (p->k_slots > 0 ? p->k_slots : 1)) * 4;
    size_t cb = (size_t)(p->s.B * p->s.Hkv * p->n_tiles) * 4;
    for (int r = 0; r < p->rotations; r++) {
        TRY(ksa_buffer_alloc(d->dev, qb, &p->c[r].q));
        TRY(ksa_buffer_alloc(d->dev, qb, &p->c[r].o));
        TRY(ksa_buffer_alloc(d->dev, kb, &p->c[r].k));
        TRY(ksa_buffer_alloc(d->dev, kb, &p->c[r].v));
        TRY(fill_random(p->c[r].q, qb, p->dtype));
        TRY(fill_random(p->c[r].o, qb, p->dtype));
        TRY(fill_random(p->c[r].k, kb, p->dtype));
        TRY(fill_random(p->c[r].v, kb, p->dtype));
        if (want_index) {
            TRY(ksa_buffer_alloc(d->dev, ib, &p->c[r].idx));
            TRY(ksa_buffer_alloc(d->dev, cb, &p->c[r].cnt));
            TRY(ksa_buffer_fill(p->c[r].idx, 0, ib, 0xff, NULL));
            TRY(ksa_buffer_fill(p->c[r].cnt, 0, cb, 0, NULL));
        }
    }
    size_t ws = 0;
    for (int m = 0; m < 3; m++) {
        if (m != KSA_MODE_DENSE && !want_index) continue;
        ksa_attention_params a = params_of(p, (ksa_mode)m);
        ksa_attention_tensors t = tensors_of(p, 0, (ksa_mode)m);
        size_t b = 0;
        ksa_status s2 = ksa_attention_workspace_size(d->dev, &a, &t, &b);
        if (s2 == KSA_STATUS_SUCCESS && b > ws) ws = b;
    }
    if (ws) TRY(ksa_buffer_alloc(d->dev, ws, &p->ws));
    p->ws_bytes = ws;
    return KSA_STATUS_SUCCESS;
#undef TRY
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static ksa_workspace workspace_of(const problem *p)
{
    ksa_workspace w;
    memset(&w, 0, sizeof w);
    w.buffer = p->ws;
    w.size = p->ws_bytes;
    return w;
}

/* Time `mode` on p: warm-up, batch size from the warm-up time, median of the samples. */
static ksa_status time_mode(bench_device *d, problem *p, ksa_mode mode, record *rec)
{
    ksa_attention_params a = params_of(p, mode);
    ksa_workspace ws = workspace_of(p);
    ksa_attention_tensors t[MAX_ROTATIONS];
    for (int r = 0; r < p->rotations; r++) t[r] = tensors_of(p, r, mode);
    ksa_status st;
    if (mode == KSA_MODE_REUSE) { /* indices from an ANCHOR pass over each copy */
        ksa_attention_params an = params_of(p, KSA_MODE_ANCHOR);
        for (int r = 0; r < p->rotations; r++) {
            ksa_attention_tensors ta = tensors_of(p, r, KSA_MODE_ANCHOR);
            st = ksa_attention(d->dev, NULL, &an, &ta, &ws);
            if (st) {
                snprintf(errbuf, sizeof errbuf, "the ANCHOR call that makes REUSE's indices failed: %s: %s",
                         ksa_status_string(st), ksa_last_error());
                return st;
            }
        }
    }
    if ((st = ksa_stream_synchronize(d->dev, NULL))) goto fail;
    double t1 = 0;
    int warm = opt.warmup > 0 ? opt.warmup : 1;
    for (int i = 0; i < warm; i++) {
        double t0 = now_ms();
        if ((st = ksa_attention(d->dev, NULL, &a, &t[i % p->rotations], &ws))) goto fail;
        if ((st = ksa_stream_synchronize(d->dev, NULL))) goto fail;
        t1 = now_ms() - t0;
        if (t1 > opt.max_measure_ms) break; /* one long call is warm-up enough */
    }
    int nb = 1;
    if (t1 < opt.min_sample_ms) nb = (int)ceil(opt.min_sample_ms / (t1 > 1e-4 ? t1 : 1e-4));
    if (nb > 200) nb = 200;
    /* then batches as the samples will run them, for at least --warmup-ms: two single calls leave
     * the host side of a call of a few microseconds cold (clock, caches), and on the lent H200 the
     * first shape of a process once read its host submission at 10.9 us per call against ~5 for the
     * next ones, over all its samples (bench/NOTES.md, fiftieth session) */
    if (t1 <= opt.max_measure_ms && opt.warmup_ms > 0) {
        int call = 0;
        for (double w0 = now_ms(); now_ms() - w0 < opt.warmup_ms;) {
            for (int b = 0; b < nb; b++, call++)
                if ((st = ksa_attention(d->dev, NULL, &a, &t[call % p->rotations], &ws))) goto fail;
            if ((st = ksa_stream_synchronize(d->dev, NULL))) goto fail;
        }
    }
    int reps = opt.repeats;
    if ((double)reps * nb * t1 > opt.max_measure_ms) reps = (int)(opt.max_measure_ms / (nb * t1));
    if (reps < 3) reps = t1 > opt.max_measure_ms ? 1 : 3;
    if (reps > MAX_SAMPLES) reps = MAX_SAMPLES;
    double samples[MAX_SAMPLES], host[MAX_SAMPLES];
    int call = 0;
    for (int s = 0; s < reps; s++) {
        double t0 = now_ms();
        for (int b = 0; b < nb; b++, call++)
            if ((st = ksa_attention(d->dev, NULL, &a, &t[call % p->rotations], &ws))) goto fail;
        double ts = now_ms(); /* the calls are submitted: what is left is the device catching up */
        if ((st = ksa_stream_synchronize(d->dev, NULL))) goto fail;
        samples[s] = (now_ms() - t0) / nb;
        host[s] = (ts - t0) / nb;
    }
    qsort(host, (size_t)reps, sizeof host[0], cmp_double);
    rec->host_ms = host[reps / 2];
    if (!d->info.host_memory) { /* a device: the dispatch layer's and the plan's share of the host time */
        size_t bytes = 0;
        double r0 = now_ms();
        for (int i = 0; i < 64; i++)
            if ((st = ksa_attention_workspace_size(d->dev, &a, &t[0], &bytes))) goto fail;
        rec->resolve_ms = (now_ms() - r0) / 64;
    }
    qsort(samples, (size_t)reps, sizeof samples[0], cmp_double);
    rec->median_ms = reps % 2 ? samples[reps / 2] : 0.5 * (samples[reps / 2 - 1] + samples[reps / 2]);
    rec->min_ms = samples[0];
    rec->max_ms = samples[reps - 1];
    rec->batch_calls = nb;
    rec->repeats = reps;
    return KSA_STATUS_SUCCESS;
fail:
    snprintf(errbuf, sizeof errbuf, "%s: %s", ksa_status_string(st), ksa_last_error());
    return st;
}

static int over_budget(void)
{
    return opt.time_budget_s > 0 && (now_ms() - start_ms) * 1e-3 > opt.time_budget_s;
}

static int dtype_slot(ksa_dtype dt) { return (int)dt < 5 ? (int)dt : 0; }

/* Bytes a run may take on the device, and what that figure is: for host-memory devices the memory
 * the OS says is available now (MemAvailable: other processes count), else the device's size;
 * 0 when unknown. A run needing more than --max-mem-fraction of it is skipped with a sentence. */
static double device_memory_budget(const bench_device *d, const char **what)
{
    *what = "device memory";
    double total = (double)d->info.memory_bytes;
    if (!d->info.host_memory) return total;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return total;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    if (kb == 0) return total;
    *what = "available host memory (MemAvailable)";
    double avail = (double)kb * 1024.0;
    return total > 0 && total < avail ? total : avail;
}

/* The skip sentence when `need` bytes exceed the share of the device's memory a run may use. */
static const char *memory_refusal(const bench_device *d, double need, char *buf, size_t len)
{
    const char *what;
    double have = device_memory_budget(d, &what);
    if (have <= 0 || need <= opt.max_mem_fraction * have) return NULL;
    snprintf(buf, len, "needs %.1f GB of the %.1f GB of %s on %s (limit %.0f%%); choose a smaller --shape", need / 1e9,
             have / 1e9, what, d->info.name, opt.max_mem_fraction * 100);
    return buf;
}

/* All enabled modes of one (device, shape, dtype). */
static void bench_shape_on(bench_device *d, const bench_item *it, ksa_dtype dt)
{
    problem p;
    memset(&p, 0, sizeof p);
    p.s = it->shape;
    p.phase = it->phase;
    p.dtype = dt;
    size_t per_copy = 2 * qo_bytes(&p.s, dt) + 2 * kv_bytes(&p.s, dt);
    double cache = d->peaks.cache_bytes > 0 ? d->peaks.cache_bytes : 64e6;
    p.rotations = 1;
    if ((double)per_copy < 2.0 * cache) {
        p.rotations = (int)ceil(2.0 * cache / (double)per_copy);
        if (p.rotations > MAX_ROTATIONS) p.rotations = MAX_ROTATIONS;
    }
    int want_index = opt.modes[KSA_MODE_ANCHOR] || opt.modes[KSA_MODE_REUSE];

    record base;
    memset(&base, 0, sizeof base);
    base.d = d;
    base.op = "attention";
    base.phase = phase_name(p.phase);
    base.shape = p.s;
    base.dtype = dt;
    base.rotations = p.rotations;

    /* decide which modes to run before allocating anything */
    const char *skip_reason[3] = {NULL, NULL, NULL};
    char reasons[3][200];
    int any = 0;
    double need = (double)per_copy * p.rotations;
    for (int m = 0; m < 3; m++) {
        if (!opt.modes[m]) continue;
        bench_work w = bench_count(&p.s, (ksa_mode)m, p.phase, &opt.topk, dt);
        double floor_ms = bench_floor_ms(&w, &d->peaks, NULL);
        /* time per floor-ms measured before: this mode's, else DENSE's (same phase and dtype), else
         * a guess of 20% of the floor; ANCHOR computes every score as DENSE does, so when DENSE of
         * this shape is predicted too long, so is ANCHOR */
        double lm = d->last_ms[p.phase][m][dtype_slot(dt)], lf = d->last_floor[p.phase][m][dtype_slot(dt)];
        if (!(lm > 0 && lf > 0)) {
            lm = d->last_ms[p.phase][KSA_MODE_DENSE][dtype_slot(dt)];
            lf = d->last_floor[p.phase][KSA_MODE_DENSE][dtype_slot(dt)];
        }
        double predicted = lm > 0 && lf > 0 ? lm * floor_ms / lf : floor_ms * 5.0;
        if (m == KSA_MODE_ANCHOR && skip_reason[KSA_MODE_DENSE] && !strncmp(skip_reason[KSA_MODE_DENSE], "predicted", 9)) {
            bench_work wd = bench_count(&p.s, KSA_MODE_DENSE, p.phase, &opt.topk, dt);
            double pd = bench_floor_ms(&wd, &d->peaks, NULL) * 5.0;
            if (pd > predicted) predicted = pd;
        }
        if (memory_refusal(d, need, reasons[m], sizeof reasons[m])) {
            skip_reason[m] = reasons[m];
        } else if (predicted > opt.max_call_ms) {
            snprintf(reasons[m], sizeof reasons[m], "predicted %.0f ms per call exceeds --max-call-ms %.0f", predicted,
                     opt.max_call_ms);
            skip_reason[m] = reasons[m];
        } else if (over_budget()) {
            snprintf(reasons[m], sizeof reasons[m], "--time-budget of %.0f s spent", opt.time_budget_s);
            skip_reason[m] = reasons[m];
        } else {
            any = 1;
        }
    }
    for (int m = 0; m < 3; m++) {
        if (!opt.modes[m] || !skip_reason[m]) continue;
        record r = base;
        r.mode = mode_name((ksa_mode)m);
        r.work = bench_count(&p.s, (ksa_mode)m, p.phase, &opt.topk, dt);
        r.status = "skipped";
        r.error = skip_reason[m];
        emit_record(&r);
    }
    if (!any) return;
    progress("%s %s B%lld Lq%lld Lk%lld Hq%lld Hkv%lld D%lld %s: filling %.2f GB", d->info.name, base.phase,
             (long long)p.s.B, (long long)p.s.Lq, (long long)p.s.Lk, (long long)p.s.Hq, (long long)p.s.Hkv,
             (long long)p.s.D, ksa_dtype_name(dt), need / 1e9);
    ksa_status st = setup_problem(d, &p, want_index);
    for (int m = 0; m < 3; m++) {
        if (!opt.modes[m] || skip_reason[m]) continue;
        record r = base;
        r.mode = mode_name((ksa_mode)m);
        r.work = bench_count(&p.s, (ksa_mode)m, p.phase, &opt.topk, dt);
        if (st == KSA_STATUS_SUCCESS) {
            progress("%s %s %s B%lld Lk%lld %s D%lld", d->info.name, r.mode, base.phase, (long long)p.s.B,
                     (long long)p.s.Lk, ksa_dtype_name(dt), (long long)p.s.D);
            ksa_status s2 = time_mode(d, &p, (ksa_mode)m, &r);
            if (s2 == KSA_STATUS_SUCCESS) {
                r.status = "ok";
                d->last_ms[p.phase][m][dtype_slot(dt)] = r.median_ms;
                d->last_floor[p.phase][m][dtype_slot(dt)] = bench_floor_ms(&r.work, &d->peaks, NULL);
            } else {
                r.status = s2 == KSA_STATUS_UNSUPPORTED ? "unsupported" : "error";
                r.error = errbuf;
            }
        } else {
            r.status = st == KSA_STATUS_UNSUPPORTED ? "unsupported" : "error";
            r.error = errbuf;
        }
        emit_record(&r);
    }
    free_problem(&p);
}

/* ---------------------------------------------------------------- the Kascade schedule (P6) */
static int32_t *sched_maps;
static int64_t sched_layers, sched_kv;
static char sched_maps_desc[600];

static void load_schedule_maps(void)
{
    char path[1024];
    const char *src = opt.head_maps;
    if (!src) {
        const char *dir = getenv("KSA_TEST_DATA");
        snprintf(path, sizeof path, "%s/%s", dir ? dir : KSA_BENCH_DATA_DIR, DEFAULT_HEAD_MAPS);
        if (access(path, R_OK) != 0) snprintf(path, sizeof path, "%s/%s", KSA_BENCH_DATA_DIR, DEFAULT_HEAD_MAPS);
        src = path;
    }
    char err[400];
    if (bench_npy_read_i32(src, &sched_maps, &sched_layers, &sched_kv, err, sizeof err) == 0) {
        snprintf(sched_maps_desc, sizeof sched_maps_desc, "%s", src);
        if (opt.n_anchors == 0) { /* anchors from a name like ..._layers_0_2_8_13_14.npy */
            const char *s = strstr(src, "_layers_");
            if (s) {
                s += 8;
                while (*s >= '0' && *s <= '9' && opt.n_anchors < 64) {
                    opt.anchors[opt.n_anchors++] = (int32_t)strtol(s, (char **)&s, 10);
                    if (*s == '_') s++;
                }
            }
        }
        if (opt.n_anchors == 0) { /* anchor rows are the identity */
            for (int64_t l = 0; l < sched_layers && opt.n_anchors < 64; l++) {
                int id = 1;
                for (int64_t g = 0; g < sched_kv; g++) id &= sched_maps[l * sched_kv + g] == g;
                if (id || l == 0) opt.anchors[opt.n_anchors++] = (int32_t)l;
            }
        }
        return;
    }
    /* a file named on the command line must be read: measuring something else would be a silent
     * wrong answer */
    if (opt.head_maps) die("--head-maps %s: %s", opt.head_maps, err);
    /* the default file missing (an installed ksa-bench without tests/data): the Llama anchors with
     * identity maps, said so on stderr and in every record's note */
    fprintf(stderr, "ksa-bench: %s; using anchors {0,2,8,13,14} with identity head maps\n", err);
    sched_layers = 32;
    sched_kv = 8;
    sched_maps = malloc(sizeof(int32_t) * 32 * 8);
    for (int l = 0; l < 32; l++)
        for (int g = 0; g < 8; g++) sched_maps[l * 8 + g] = g;
    snprintf(sched_maps_desc, sizeof sched_maps_desc, "identity (%s)", err);
    if (opt.n_anchors == 0) {
        static const int32_t a[5] = {0, 2, 8, 13, 14};
        memcpy(opt.anchors, a, sizeof a);
        opt.n_anchors = 5;
    }
}

static void bench_schedule_on(bench_device *d, const bench_item *it, ksa_dtype dt)
{
    record base;
    memset(&base, 0, sizeof base);
    base.d = d;
    base.op = "schedule";
    base.phase = phase_name(it->phase);
    base.shape = it->shape;
    base.dtype = dt;
    base.rotations = opt.schedule_sets;
    char note[800];
    snprintf(note, sizeof note, "%lld layers, anchors", (long long)sched_layers);
    for (int i = 0; i < opt.n_anchors; i++) {
        size_t n = strlen(note);
        snprintf(note + n, sizeof note - n, "%s%d", i ? "," : " ", opt.anchors[i]);
    }
    {
        size_t n = strlen(note);
        snprintf(note + n, sizeof note - n, " (layer 0 dense output); head maps %s", sched_maps_desc);
    }
    base.note = note;
    /* work: layer 0 counted as DENSE, anchors as ANCHOR, the rest REUSE */
    bench_work wk = {0, 0, 0, 0}, wd = {0, 0, 0, 0};
    for (int64_t l = 0; l < sched_layers; l++) {
        int is_anchor = 0;
        for (int i = 0; i < opt.n_anchors; i++) is_anchor |= opt.anchors[i] == l;
        ksa_mode m = l == 0 ? KSA_MODE_DENSE : is_anchor ? KSA_MODE_ANCHOR : KSA_MODE_REUSE;
        bench_work a = bench_count(&it->shape, m, it->phase, &opt.topk, dt);
        bench_work b = bench_count(&it->shape, KSA_MODE_DENSE, it->phase, &opt.topk, dt);
        wk.flops += a.flops;
        wk.bytes += a.bytes;
        wd.flops += b.flops;
        wd.bytes += b.bytes;
    }
    record rk = base, rd = base;
    rk.mode = "kascade";
    rk.work = wk;
    rd.mode = "dense";
    rd.work = wd;
    if (it->shape.Hkv != sched_kv) {
        snprintf(errbuf, sizeof errbuf, "the head maps have %lld KV heads but the shape has Hkv %lld", (long long)sched_kv,
                 (long long)it->shape.Hkv);
        rk.status = rd.status = "skipped";
        rk.error = rd.error = errbuf;
        emit_record(&rd);
        emit_record(&rk);
        return;
    }
    double predicted = bench_floor_ms(&wd, &d->peaks, NULL) * 5.0;
    double lm = d->last_ms[it->phase][KSA_MODE_DENSE][dtype_slot(dt)], lf = d->last_floor[it->phase][KSA_MODE_DENSE][dtype_slot(dt)];
    if (lm > 0 && lf > 0) {
        bench_work one = bench_count(&it->shape, KSA_MODE_DENSE, it->phase, &opt.topk, dt);
        predicted = lm / lf * bench_floor_ms(&one, &d->peaks, NULL) * (double)sched_layers;
    }
    /* inputs: every q/k/v/o set the layers cycle through (setup_problem), before anything is allocated */
    double need = (double)(2 * qo_bytes(&it->shape, dt) + 2 * kv_bytes(&it->shape, dt)) * opt.schedule_sets;
    if (memory_refusal(d, need, errbuf, sizeof errbuf)) {
        fprintf(stderr, "ksa-bench: schedule %s B%lld Lk%lld skipped: %s\n", base.phase, (long long)it->shape.B,
                (long long)it->shape.Lk, errbuf);
        rk.status = rd.status = "skipped";
        rk.error = rd.error = errbuf;
        emit_record(&rd);
        emit_record(&rk);
        return;
    }
    if (predicted > opt.max_call_ms * 4 || over_budget()) {
        snprintf(errbuf, sizeof errbuf, over_budget() ? "--time-budget spent" : "predicted %.0f ms per dense pass is too long",
                 predicted);
        rk.status = rd.status = "skipped";
        rk.error = rd.error = errbuf;
        emit_record(&rd);
        emit_record(&rk);
        return;
    }
    progress("%s schedule %s B%lld Lk%lld %s", d->info.name, base.phase, (long long)it->shape.B,
             (long long)it->shape.Lk, ksa_dtype_name(dt));

    problem p;
    memset(&p, 0, sizeof p);
    p.s = it->shape;
    p.phase = it->phase;
    p.dtype = dt;
    p.rotations = opt.schedule_sets;
    ksa_schedule sched = NULL;
    ksa_buffer ws_buf = NULL;
    ksa_status st = setup_problem(d, &p, 0);
    const char *fail = NULL;
    double kms = 0, dms = 0;
    double kind_ms[3] = {0, 0, 0};
    int kind_n[3] = {0, 0, 0};
    int skipped = 0;
    if (st) {
        fail = errbuf;
        goto report;
    }
#define STRY(call)                                                                                  \
    do {                                                                                            \
        st = (call);                                                                                \
        if (st) {                                                                                   \
            snprintf(errbuf, sizeof errbuf, "%s: %s: %s", #call, ksa_status_string(st), ksa_last_error()); \
            fail = errbuf;                                                                          \
            goto report;                                                                            \
        }                                                                                           \
    } while (0)
    STRY(ksa_schedule_create(d->dev, (int32_t)sched_layers, (int32_t)sched_kv, &opt.topk, &sched));
    STRY(ksa_schedule_set_kascade(sched, opt.anchors, opt.n_anchors, sched_maps));
    ksa_attention_tensors t0 = tensors_of(&p, 0, KSA_MODE_DENSE);
    size_t wsb = 0;
    STRY(ksa_schedule_plan(sched, p.phase, &t0, &wsb));
    if (wsb < p.ws_bytes) wsb = p.ws_bytes;
    /* the inputs are in memory now (filled): the workspace must fit in what is left */
    if (memory_refusal(d, (double)wsb, errbuf, sizeof errbuf)) {
        fprintf(stderr, "ksa-bench: schedule %s workspace skipped: %s\n", base.phase, errbuf);
        fail = errbuf;
        skipped = 1;
        goto report;
    }
    ksa_workspace ws;
    memset(&ws, 0, sizeof ws);
    if (wsb) {
        STRY(ksa_buffer_alloc(d->dev, wsb, &ws_buf));
        ws.buffer = ws_buf;
        ws.size = wsb;
    }
    ksa_attention_params dp = params_of(&p, KSA_MODE_DENSE);
    int reps = opt.repeats < 5 ? opt.repeats : 5;
    if (reps < 1) reps = 1;
    double ks[MAX_SAMPLES], ds[MAX_SAMPLES];
    for (int rep = -1; rep < reps; rep++) { /* rep -1 warms up */
        STRY(ksa_stream_synchronize(d->dev, NULL));
        double a = now_ms();
        for (int64_t l = 0; l < sched_layers; l++) {
            ksa_attention_tensors t = tensors_of(&p, (int)(l % p.rotations), KSA_MODE_DENSE);
            STRY(ksa_schedule_run_layer(sched, NULL, (int32_t)l, &t, &ws));
        }
        STRY(ksa_stream_synchronize(d->dev, NULL));
        double b = now_ms();
        for (int64_t l = 0; l < sched_layers; l++) {
            ksa_attention_tensors t = tensors_of(&p, (int)(l % p.rotations), KSA_MODE_DENSE);
            STRY(ksa_attention(d->dev, NULL, &dp, &t, &ws));
        }
        STRY(ksa_stream_synchronize(d->dev, NULL));
        double c = now_ms();
        if (rep >= 0) {
            ks[rep] = b - a;
            ds[rep] = c - b;
        }
        if (rep == -1 && (c - a) * reps > opt.max_measure_ms * 4) reps = 1 + (int)(opt.max_measure_ms * 4 / (c - a));
        if (reps > MAX_SAMPLES) reps = MAX_SAMPLES;
    }
    /* one more pass with a sync after every layer, for the per-kind breakdown */
    for (int64_t l = 0; l < sched_layers; l++) {
        ksa_layer_kind kind;
        STRY(ksa_schedule_get_layer(sched, (int32_t)l, &kind, NULL, NULL));
        ksa_attention_tensors t = tensors_of(&p, (int)(l % p.rotations), KSA_MODE_DENSE);
        double a = now_ms();
        STRY(ksa_schedule_run_layer(sched, NULL, (int32_t)l, &t, &ws));
        STRY(ksa_stream_synchronize(d->dev, NULL));
        int k = l == 0 ? 0 : kind == KSA_LAYER_ANCHOR ? 1 : 2;
        kind_ms[k] += now_ms() - a;
        kind_n[k]++;
    }
    qsort(ks, (size_t)reps, sizeof ks[0], cmp_double);
    qsort(ds, (size_t)reps, sizeof ds[0], cmp_double);
    kms = reps % 2 ? ks[reps / 2] : 0.5 * (ks[reps / 2 - 1] + ks[reps / 2]);
    dms = reps % 2 ? ds[reps / 2] : 0.5 * (ds[reps / 2 - 1] + ds[reps / 2]);
    rk.min_ms = ks[0];
    rk.max_ms = ks[reps - 1];
    rd.min_ms = ds[0];
    rd.max_ms = ds[reps - 1];
    rk.repeats = rd.repeats = reps;
    rk.batch_calls = rd.batch_calls = 1;
#undef STRY
report:
    if (fail) {
        rk.status = rd.status = skipped ? "skipped" : st == KSA_STATUS_UNSUPPORTED ? "unsupported" : "error";
        rk.error = rd.error = fail;
    } else {
        rk.status = rd.status = "ok";
        rk.median_ms = kms;
        rd.median_ms = dms;
        rk.extra_ms = dms;
        rk.extra_label = "dense_ms";
        static char note2[1200];
        snprintf(note2, sizeof note2, "%s; per layer (synced): layer0 %.3f ms, anchor %.3f ms, reuse %.3f ms", note,
                 kind_ms[0], kind_n[1] ? kind_ms[1] / kind_n[1] : 0.0, kind_n[2] ? kind_ms[2] / kind_n[2] : 0.0);
        rk.note = note2;
    }
    emit_record(&rd);
    emit_record(&rk);
    ksa_schedule_destroy(sched);
    ksa_buffer_free(ws_buf);
    free_problem(&p);
}

/* ---------------------------------------------------------------- dry run: floors only */
/* ---------------------------------------------------------------- self-test of the counting */
static int self_failures;
static void expect_near(const char *what, double got, double want)
{
    if (fabs(got - want) > 1e-9 * fabs(want) + 1e-9) {
        fprintf(stderr, "self-test: %s: got %.17g, want %.17g\n", what, got, want);
        self_failures++;
    }
}

/* Counting checked against independent per-query loops and hand-worked numbers; the .npy reader
 * against the shipped head maps; the JSON validator against good and bad lines. */
static int self_test(void)
{
    ksa_topk_params tk = ksa_topk_default();
    /* causal prefill: the peers' L^2/2 convention */
    bench_shape s = {1, 1024, 1024, 32, 8, 128};
    bench_work w = bench_count(&s, KSA_MODE_DENSE, KSA_PHASE_PREFILL, &tk, KSA_DTYPE_BF16);
    expect_near("dense prefill flops", w.flops, 4.0 * 32 * 128 * 1024.0 * 1024.0 / 2);
    expect_near("dense prefill bytes", w.bytes, 2.0 * 1024 * 32 * 128 * 2 + 2.0 * 1024 * 8 * 128 * 2);
    /* chunked prefill, by hand: Lq 2 over Lk 4 sees 3 + 4 keys */
    bench_shape c = {1, 2, 4, 1, 1, 8};
    w = bench_count(&c, KSA_MODE_DENSE, KSA_PHASE_PREFILL, &tk, KSA_DTYPE_F32);
    expect_near("chunked pairs", w.attended_pairs, 7);
    /* decode REUSE: k(8192) = round_up(819, 128) = 896 rows of K and V per KV head */
    bench_shape d = {4, 1, 8192, 32, 8, 128};
    w = bench_count(&d, KSA_MODE_REUSE, KSA_PHASE_DECODE, &tk, KSA_DTYPE_F16);
    expect_near("reuse decode bytes", w.bytes, 2.0 * 4 * 32 * 128 * 2 + 2.0 * 4 * 8 * 896 * 128 * 2 + 4.0 * 8 * 896 * 4);
    expect_near("reuse decode flops", w.flops, 4.0 * 128 * 32 * 4 * 896);
    /* REUSE / ANCHOR prefill pairs against a per-query loop (rolling budget, partial last tile) */
    bench_shape r = {1, 1000, 1500, 4, 2, 64};
    double sparse = 0, dense = 0;
    for (int64_t i = 0; i < r.Lq; i++) {
        int64_t t = i / tk.tile_size, pos = r.Lk - r.Lq + i, start = r.Lk - r.Lq + t * tk.tile_size;
        int64_t budget_k = (int64_t)(tk.fraction * (double)start);
        if (budget_k < tk.min_k) budget_k = tk.min_k;
        budget_k = (budget_k + tk.round_multiple - 1) / tk.round_multiple * tk.round_multiple;
        int64_t full = (int64_t)(tk.fraction * (double)r.Lk);
        if (full < tk.min_k) full = tk.min_k;
        full = (full + tk.round_multiple - 1) / tk.round_multiple * tk.round_multiple;
        if (full > r.Lk) full = r.Lk;
        int64_t sel = full - tk.tile_size; /* the rolling budget caps the selection, not k */
        if (sel > budget_k) sel = budget_k;
        if (sel < 0) sel = 0;
        if (sel > start) sel = start;
        sparse += (double)(sel + (pos - start + 1));
        dense += (double)(pos + 1);
    }
    w = bench_count(&r, KSA_MODE_REUSE, KSA_PHASE_PREFILL, &tk, KSA_DTYPE_BF16);
    expect_near("reuse prefill pairs", w.attended_pairs, sparse);
    w = bench_count(&r, KSA_MODE_ANCHOR, KSA_PHASE_PREFILL, &tk, KSA_DTYPE_BF16);
    expect_near("anchor prefill flops", w.flops, 2.0 * 64 * 4 * dense + 4.0 * 64 * 4 * sparse);
    /* floor: the larger term wins */
    bench_peaks pk = {100, 1000, 0, ""};
    bench_work fw = {1e12, 1e9, 0, 0};
    int mem = -1;
    expect_near("compute floor", bench_floor_ms(&fw, &pk, &mem), 10.0);
    expect_near("compute-bound flag", mem, 0);
    fw.bytes = 1e11;
    expect_near("memory floor", bench_floor_ms(&fw, &pk, &mem), 100.0);
    expect_near("memory-bound flag", mem, 1);
    /* the shipped Llama head maps: 32 x 8, anchor rows are the identity */
    char path[1024], err[300];
    const char *dir = getenv("KSA_TEST_DATA");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : KSA_BENCH_DATA_DIR, DEFAULT_HEAD_MAPS);
    int32_t *maps = NULL;
    int64_t rows = 0, cols = 0;
    if (bench_npy_read_i32(path, &maps, &rows, &cols, err, sizeof err) != 0) {
        fprintf(stderr, "self-test: %s\n", err);
        self_failures++;
    } else {
        expect_near("head-map rows", (double)rows, 32);
        expect_near("head-map cols", (double)cols, 8);
        for (int g = 0; g < 8; g++) expect_near("anchor layer 8 is the identity", maps[8 * 8 + g], g);
        free(maps);
    }
    if (bench_npy_read_i32("/nonexistent.npy", &maps, &rows, &cols, err, sizeof err) == 0) self_failures++;
    /* JSON validator */
    static const char *good[] = {"{}", "{\"a\":[1,-2.5e3,true,null,\"x\\\"y\"]}", " {\"b\":{\"c\":0}} "};
    static const char *bad[] = {"", "{", "{\"a\":nan}", "{\"a\":1,}", "[1]", "{\"a\":01}", "{} {}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!bench_json_line_valid(good[i])) {
            fprintf(stderr, "self-test: valid JSON refused: %s\n", good[i]);
            self_failures++;
        }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (bench_json_line_valid(bad[i])) {
            fprintf(stderr, "self-test: invalid JSON accepted: %s\n", bad[i]);
            self_failures++;
        }
    printf("ksa-bench self-test: %s (%d failure%s)\n", self_failures ? "FAILED" : "passed", self_failures,
           self_failures == 1 ? "" : "s");
    return self_failures ? 1 : 0;
}

static void dry_run(void)
{
    bench_device d;
    memset(&d, 0, sizeof d);
    d.info.kind = KSA_DEVICE_CUDA;
    snprintf(d.info.name, sizeof d.info.name, "%s", opt.dry_model ? opt.dry_model : "H100");
    snprintf(d.info.description, sizeof d.info.description, "%s", d.info.name);
    snprintf(d.info.backend, sizeof d.info.backend, "dry-run");
    resolve_peaks(&d);
    for (int di = 0; di < opt.n_dtypes; di++)
        for (int i = 0; i < opt.n_items; i++) {
            if (!opt.phases[opt.items[i].phase]) continue;
            for (int m = 0; m < 3; m++) {
                if (!opt.modes[m]) continue;
                record r;
                memset(&r, 0, sizeof r);
                r.d = &d;
                r.op = "attention";
                r.mode = mode_name((ksa_mode)m);
                r.phase = phase_name(opt.items[i].phase);
                r.shape = opt.items[i].shape;
                r.dtype = opt.dtypes[di];
                r.work = bench_count(&r.shape, (ksa_mode)m, opt.items[i].phase, &opt.topk, r.dtype);
                r.status = "dry-run";
                emit_record(&r);
            }
        }
}

/* ---------------------------------------------------------------- main */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: ksa-bench [options]\n"
            "  --device LIST       comma list of devices (cuda:0, cpu, opencl:0.0, reference, all);\n"
            "                      default: every device found except the reference\n"
            "  --shape B,Lq,Lk,Hq,Hkv,D  a shape (repeatable; Lq 1 = decode); default: the standard grid\n"
            "  --standard          also run the standard grid when --shape is given\n"
            "  --quick             CI-sized shapes, 3 repeats\n"
            "  --mode LIST         dense,anchor,reuse (default all)\n"
            "  --phase LIST        prefill,decode (default both)\n"
            "  --dtype LIST        f32,f16,bf16 (default bf16)\n"
            "  --schedule          32-layer Kascade schedule vs 32 dense layers (P6) instead of the grid\n"
            "  --grid              with --schedule, also run the grid\n"
            "  --head-maps FILE    .npy int32 [layers, Hkv] (default tests/data/%s)\n"
            "  --anchors LIST      anchor layers (default from the file name)\n"
            "  --schedule-sets N   distinct q/k/v/o sets cycled over the layers (default 2)\n"
            "  --fraction F --tile T --min-k K --round R --rolling 0|1   Top-k parameters\n"
            "  --repeats N --warmup N   samples (default 10) and warm-up calls (default 2)\n"
            "  --warmup-ms X       then batches of calls for at least X ms before sampling (default 25)\n"
            "  --min-sample-ms X   batch calls so each sample lasts at least X ms (default 1)\n"
            "  --max-measure-ms X  time spent sampling one measurement (default 3000)\n"
            "  --max-call-ms X     skip a measurement predicted to take longer per call (default 5000)\n"
            "  --time-budget S     stop starting measurements after S seconds\n"
            "  --peak-tflops X --bandwidth-gbs Y --cache-mb Z   ceilings for the floor\n"
            "                      (env KSA_BENCH_PEAK_TFLOPS, KSA_BENCH_BANDWIDTH_GBS; default: built-in table)\n"
            "  --no-probe          do not measure host bandwidth for CPU devices\n"
            "  --config STR        backend configuration override (ksa_set_config_override)\n"
            "  --tag STR           free label copied into every record\n"
            "  --out FILE          write JSON lines to FILE (default stdout); --append to add\n"
            "  --dry-run [MODEL]   print the work and floors of the grid without a device (MODEL: H100)\n"
            "  --check-json        accepted and ignored, kept for scripts: every run exits non-zero when a\n"
            "                      line is invalid JSON or nothing was measured\n"
            "  --verbose, -v       also print one readable line per record on stderr\n"
            "  --list-devices      print the devices found and exit\n"
            "  --self-test         check the work counting, the .npy reader and the JSON validator; exit\n"
            "A run whose inputs would not fit in the device's memory (host devices: the memory available now)\n"
            "is skipped with a sentence. Exit status: 0 something was measured, 1 an invalid JSON line was\n"
            "written, 2 a bad argument or file (nothing run), 3 nothing was measured (every record skipped\n"
            "or failed; the first reason is printed).\n",
            DEFAULT_HEAD_MAPS);
}

static void parse_list(const char *s, void (*fn)(const char *))
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) fn(tok);
}

static void on_mode(const char *s)
{
    if (!strcmp(s, "dense")) opt.modes[0] = 1;
    else if (!strcmp(s, "anchor")) opt.modes[1] = 1;
    else if (!strcmp(s, "reuse")) opt.modes[2] = 1;
    else die("--mode: '%s' is not dense, anchor or reuse", s);
}
static void on_phase(const char *s)
{
    if (!strcmp(s, "prefill")) opt.phases[0] = 1;
    else if (!strcmp(s, "decode")) opt.phases[1] = 1;
    else die("--phase: '%s' is not prefill or decode", s);
}
static void on_dtype(const char *s)
{
    if (opt.n_dtypes >= 3) die("--dtype: at most 3 dtypes");
    opt.dtypes[opt.n_dtypes++] = parse_dtype(s);
}
/* numeric option values: the whole argument, inside the range, or exit 2 with a sentence */
static int32_t int_option(const char *option, const char *v, int64_t lo, int64_t hi)
{
    int32_t x = 0;
    if (!ksa_cli_int("ksa-bench", option, v, lo, hi, &x)) exit(2);
    return x;
}
static double num_option(const char *option, const char *v, double lo, double hi, int open)
{
    double x = 0;
    if (!ksa_cli_double("ksa-bench", option, v, lo, hi, open, &x)) exit(2);
    return x;
}
static void on_anchor(const char *s)
{
    if (opt.n_anchors >= 64) die("--anchors: at most 64");
    opt.anchors[opt.n_anchors++] = int_option("--anchors", s, 0, 1 << 20);
}

int main(int argc, char **argv)
{
    memset(&opt, 0, sizeof opt);
    opt.repeats = 10;
    opt.warmup = 2;
    opt.warmup_ms = 25;
    opt.min_sample_ms = 1.0;
    opt.max_measure_ms = 3000;
    opt.max_call_ms = 5000;
    opt.max_mem_fraction = 0.85;
    opt.probe = 1;
    opt.schedule_sets = 2;
    opt.topk = ksa_topk_default();
    int standard = 0, list_devices = 0, append = 0, modes_given = 0, phases_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                              \
    do {                                                     \
        if (!v) die("%s needs a value (see --help)", a);     \
        i++;                                                 \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--device")) {
            NEEDV();
            snprintf(opt.devices, sizeof opt.devices, "%s", v);
        } else if (!strcmp(a, "--shape")) {
            NEEDV();
            parse_shape(v);
        } else if (!strcmp(a, "--standard")) standard = 1;
        else if (!strcmp(a, "--quick")) opt.quick = 1;
        else if (!strcmp(a, "--mode")) {
            NEEDV();
            parse_list(v, on_mode);
            modes_given = 1;
        } else if (!strcmp(a, "--phase")) {
            NEEDV();
            parse_list(v, on_phase);
            phases_given = 1;
        } else if (!strcmp(a, "--dtype")) {
            NEEDV();
            parse_list(v, on_dtype);
        } else if (!strcmp(a, "--schedule")) opt.schedule = 1;
        else if (!strcmp(a, "--grid")) opt.grid = 1;
        else if (!strcmp(a, "--head-maps")) {
            NEEDV();
            opt.head_maps = v;
        } else if (!strcmp(a, "--anchors")) {
            NEEDV();
            parse_list(v, on_anchor);
        } else if (!strcmp(a, "--schedule-sets")) {
            NEEDV();
            opt.schedule_sets = int_option(a, v, 1, MAX_ROTATIONS);
        } else if (!strcmp(a, "--fraction")) {
            NEEDV();
            opt.topk.fraction = num_option(a, v, 0, 1, KSA_CLI_LO_OPEN);
        } else if (!strcmp(a, "--tile")) {
            NEEDV();
            opt.topk.tile_size = int_option(a, v, 1, 1024);
        } else if (!strcmp(a, "--min-k")) {
            NEEDV();
            opt.topk.min_k = int_option(a, v, 1, 1 << 30);
        } else if (!strcmp(a, "--round")) {
            NEEDV();
            opt.topk.round_multiple = int_option(a, v, 1, 1 << 30);
        } else if (!strcmp(a, "--rolling")) {
            NEEDV();
            opt.topk.rolling = int_option(a, v, 0, 1);
        } else if (!strcmp(a, "--repeats")) {
            NEEDV();
            opt.repeats = int_option(a, v, 1, MAX_SAMPLES);
        } else if (!strcmp(a, "--warmup")) {
            NEEDV();
            opt.warmup = int_option(a, v, 0, 10000);
        } else if (!strcmp(a, "--warmup-ms")) {
            NEEDV();
            opt.warmup_ms = num_option(a, v, 0, 1e6, KSA_CLI_CLOSED);
        } else if (!strcmp(a, "--min-sample-ms")) {
            NEEDV();
            opt.min_sample_ms = num_option(a, v, 0, 1e6, KSA_CLI_LO_OPEN);
        } else if (!strcmp(a, "--max-measure-ms")) {
            NEEDV();
            opt.max_measure_ms = num_option(a, v, 0, 1e9, KSA_CLI_LO_OPEN);
        } else if (!strcmp(a, "--max-call-ms")) {
            NEEDV();
            opt.max_call_ms = num_option(a, v, 0, 1e9, KSA_CLI_LO_OPEN);
        } else if (!strcmp(a, "--time-budget")) {
            NEEDV();
            opt.time_budget_s = num_option(a, v, 0, 1e9, KSA_CLI_LO_OPEN);
        } else if (!strcmp(a, "--peak-tflops")) {
            NEEDV();
            opt.peak_tflops = num_option(a, v, 0, 1e6, KSA_CLI_LO_OPEN);
        } else if (!strcmp(a, "--bandwidth-gbs")) {
            NEEDV();
            opt.bandwidth_gbs = num_option(a, v, 0, 1e9, KSA_CLI_LO_OPEN);
        } else if (!strcmp(a, "--cache-mb")) {
            NEEDV();
            opt.cache_mb = num_option(a, v, 0, 1e9, KSA_CLI_LO_OPEN);
        } else if (!strcmp(a, "--no-probe")) opt.probe = 0;
        else if (!strcmp(a, "--config")) {
            NEEDV();
            opt.config = v;
        } else if (!strcmp(a, "--tag")) {
            NEEDV();
            opt.tag = v;
        } else if (!strcmp(a, "--out")) {
            NEEDV();
            opt.out_path = v;
        } else if (!strcmp(a, "--append")) append = 1;
        else if (!strcmp(a, "--dry-run")) {
            opt.dry_run = 1;
            if (v && v[0] != '-') {
                opt.dry_model = v;
                i++;
            }
        } else if (!strcmp(a, "--check-json")) {
            /* accepted and ignored: every run validates its lines (emit, the exit status) */
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) opt.verbose = 1;
        else if (!strcmp(a, "--list-devices")) list_devices = 1;
        else if (!strcmp(a, "--self-test")) return self_test();
        else {
            fprintf(stderr, "ksa-bench: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
#undef NEEDV
    }
    if (!modes_given) opt.modes[0] = opt.modes[1] = opt.modes[2] = 1;
    if (!phases_given) opt.phases[0] = opt.phases[1] = 1;
    if (opt.n_dtypes == 0) opt.dtypes[opt.n_dtypes++] = KSA_DTYPE_BF16;
    if (opt.quick) {
        if (opt.repeats > 3) opt.repeats = 3;
        opt.warmup = 1;
        if (opt.warmup_ms > 5) opt.warmup_ms = 5;
        opt.max_measure_ms = 500;
    }
    if (opt.schedule && !opt.user_shapes) { /* P6 shapes */
        if (opt.quick) {
            add_item(1, 512, 512, 32, 8, 128, KSA_PHASE_PREFILL);
            add_item(1, 1, 2048, 32, 8, 128, KSA_PHASE_DECODE);
        } else {
            add_item(1, 32768, 32768, 32, 8, 128, KSA_PHASE_PREFILL);
            add_item(64, 1, 32768, 32, 8, 128, KSA_PHASE_DECODE);
        }
    }
    int sched_items = opt.n_items;
    if ((!opt.user_shapes && (!opt.schedule || opt.grid)) || standard) add_standard_grid();

    /* everything the command line names is checked before --out is opened (so a failing run leaves
     * an existing file as it was) and before any device work */
    if (opt.config && !opt.dry_run) {
        ksa_status st = ksa_set_config_override(opt.config);
        if (st) die("--config: %s", ksa_last_error());
    }
    if (opt.schedule && !opt.dry_run) load_schedule_maps();
    if (opt.out_path) {
        out_file = fopen(opt.out_path, append ? "a" : "w");
        if (!out_file) die("--out: cannot open %s: %s", opt.out_path, strerror(errno));
    }
    start_ms = now_ms();
    progress_on = isatty(2);
    if (opt.dry_run) {
        dry_run();
        if (out_file) fclose(out_file);
        return lines_invalid ? 1 : 0;
    }

    ksa_context ctx;
    ksa_status st = ksa_context_create(&ctx);
    if (st) die("ksa_context_create: %s: %s", ksa_status_string(st), ksa_last_error());
    bench_device *devs = calloc(MAX_DEVICES, sizeof *devs);
    int n_dev = 0;
    int count = 0;
    ksa_device_count(ctx, &count);
    if (list_devices) {
        for (int i = 0; i < count; i++) {
            ksa_device dv;
            ksa_device_info inf;
            if (ksa_device_get(ctx, i, &dv) || ksa_device_get_info(dv, &inf)) continue;
            printf("%-14s %-10s %-8s %s (%d units)\n", inf.name, inf.backend, inf.isa, inf.description, inf.compute_units);
        }
        ksa_context_destroy(ctx);
        return 0;
    }
    if (!opt.devices[0] || !strcmp(opt.devices, "all")) {
        int all = !strcmp(opt.devices, "all");
        for (int i = 0; i < count && n_dev < MAX_DEVICES; i++) {
            bench_device *d = &devs[n_dev];
            if (ksa_device_get(ctx, i, &d->dev) || ksa_device_get_info(d->dev, &d->info)) continue;
            if (d->info.kind == KSA_DEVICE_REFERENCE && !all) continue;
            n_dev++;
        }
    } else {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", opt.devices);
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok && n_dev < MAX_DEVICES; tok = strtok_r(NULL, ",", &save)) {
            bench_device *d = &devs[n_dev];
            st = ksa_device_open(ctx, tok, &d->dev);
            if (st) die("--device %s: %s: %s", tok, ksa_status_string(st), ksa_last_error());
            if ((st = ksa_device_get_info(d->dev, &d->info))) die("device %s: %s", tok, ksa_last_error());
            n_dev++;
        }
    }
    if (n_dev == 0) die("no device to benchmark (see --list-devices; the reference is left out unless named)");

    for (int di = 0; di < n_dev; di++) {
        bench_device *d = &devs[di];
        resolve_peaks(d);
        if (progress_on)
            fprintf(stderr, "ksa-bench: %s (%s, %s): peaks %.1f TFLOP/s, %.0f GB/s [%s]\n", d->info.name,
                    d->info.description, d->info.isa, d->peaks.tflops, d->peaks.bandwidth_gbs, d->peaks.source);
        for (int ti = 0; ti < opt.n_dtypes; ti++) {
            for (int i = 0; i < opt.n_items; i++) {
                const bench_item *it = &opt.items[i];
                if (!opt.phases[it->phase]) continue;
                if (opt.schedule && i < sched_items) bench_schedule_on(d, it, opt.dtypes[ti]);
                else bench_shape_on(d, it, opt.dtypes[ti]);
            }
        }
    }
    if (progress_on) fprintf(stderr, "\r\033[Kksa-bench: %d records (%d ok) in %.1f s\n", lines_written, lines_ok,
                             (now_ms() - start_ms) * 1e-3);
    free(devs);
    ksa_context_destroy(ctx);
    if (out_file) fclose(out_file);
    for (int i = 0; i < 5; i++) free(rand_block[i]);
    free(sched_maps);
    if (lines_invalid) return 1;
    if (lines_ok == 0) { /* every record skipped or failed: a run that measured nothing is not a success */
        fprintf(stderr, "ksa-bench: nothing was measured: %d record(s), none successful%s%s\n", lines_written,
                first_failure[0] ? "; first: " : "", first_failure);
        return 3;
    }
    return 0;
}
