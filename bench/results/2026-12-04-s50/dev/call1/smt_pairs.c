/* smt_pairs.c (fiftieth session, development only): which logical CPUs of the lent VM share a tile
 * unit. For every pair (i, j) two threads pinned to i and j run the same AMX tdpbf16ps loop (no
 * loads) at once; the pair's rate over two solo rates says whether they share a core (~0.5) or not
 * (~1.0). Also an AVX-512 FMA loop for the same question on the vector ports.
 * Build: gcc -O2 -mamx-tile -mamx-bf16 -mavx512f -pthread smt_pairs.c -o smt_pairs */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef struct { int cpu, kind; long steps; double secs; atomic_int *go; } arg_t;

static void cfg_tiles(void)
{
    struct { uint8_t p, s, r[14]; uint16_t c[16]; uint8_t rows[16]; } __attribute__((aligned(64))) cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.p = 1;
    for (int t = 0; t < 8; t++) { cfg.c[t] = 64; cfg.rows[t] = 16; }
    __asm__ volatile("ldtilecfg %0" : : "m"(cfg));
}

static void *run(void *v)
{
    arg_t *a = v;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(a->cpu, &s);
    sched_setaffinity(0, sizeof s, &s);
    static uint16_t buf[4][512] __attribute__((aligned(64)));
    __m512 x0 = _mm512_set1_ps(1.0f), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0, x7 = x0;
    const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    if (a->kind == 0) {
        cfg_tiles();
        _tile_loadd(4, buf[0], 64); _tile_loadd(5, buf[1], 64); _tile_loadd(6, buf[2], 64); _tile_loadd(7, buf[3], 64);
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    }
    while (!atomic_load(a->go)) ;
    double t0 = now();
    for (long i = 0; i < a->steps; i++) {
        if (a->kind == 0) {
            _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
        } else {
            for (int r = 0; r < 8; r++) {
                x0 = _mm512_fmadd_ps(x0, m, c); x1 = _mm512_fmadd_ps(x1, m, c); x2 = _mm512_fmadd_ps(x2, m, c);
                x3 = _mm512_fmadd_ps(x3, m, c); x4 = _mm512_fmadd_ps(x4, m, c); x5 = _mm512_fmadd_ps(x5, m, c);
                x6 = _mm512_fmadd_ps(x6, m, c); x7 = _mm512_fmadd_ps(x7, m, c);
            }
        }
    }
    a->secs = now() - t0;
    if (a->kind == 0) _tile_release();
    volatile float sink = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(x0, x1), _mm512_add_ps(_mm512_add_ps(x2, x3),
                          _mm512_add_ps(_mm512_add_ps(x4, x5), _mm512_add_ps(x6, x7)))));
    (void)sink;
    return NULL;
}

/* seconds of the thread on cpus[0] when cpus[0..n-1] run at once */
static double together(const int *cpus, int n, int kind, long steps)
{
    pthread_t t[64];
    arg_t a[64];
    atomic_int go = 0;
    for (int i = 0; i < n; i++) {
        a[i] = (arg_t){cpus[i], kind, steps, 0, &go};
        pthread_create(&t[i], NULL, run, &a[i]);
    }
    usleep(2000);
    atomic_store(&go, 1);
    double worst = 0;
    for (int i = 0; i < n; i++) { pthread_join(t[i], NULL); if (a[i].secs > worst) worst = a[i].secs; }
    return worst;
}

int main(int argc, char **argv)
{
    if (syscall(SYS_arch_prctl, 0x1023, 18)) { printf("{\"error\":\"no AMX permission\"}\n"); return 1; }
    int n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n > 64) n = 64;
    for (int kind = 0; kind < 2; kind++) {
        long steps = kind == 0 ? 200000 : 400000; /* ~50 ms solo each */
        double solo[64];
        for (int i = 0; i < n; i++) { int c1[1] = {i}; solo[i] = together(c1, 1, kind, steps); }
        printf("{\"kind\":\"%s\",\"solo_ms\":[", kind ? "avx512_fma" : "amx_dp");
        for (int i = 0; i < n; i++) printf("%s%.2f", i ? "," : "", 1e3 * solo[i]);
        printf("]}\n");
        /* pair slowdown: time together / max(solo) */
        printf("{\"kind\":\"%s\",\"pair_slowdown\":[", kind ? "avx512_fma" : "amx_dp");
        for (int i = 0; i < n; i++) {
            printf("%s[", i ? "," : "");
            for (int j = 0; j < n; j++) {
                double r = 0;
                if (j > i) { int c2[2] = {i, j}; double tt = together(c2, 2, kind, steps); r = tt / (solo[i] > solo[j] ? solo[i] : solo[j]); }
                printf("%s%.2f", j ? "," : "", r);
            }
            printf("]");
        }
        printf("]}\n");
        /* all at once */
        int all[64];
        for (int i = 0; i < n; i++) all[i] = i;
        double ta = together(all, n, kind, steps);
        double s1 = 0;
        for (int i = 0; i < n; i++) s1 += solo[i];
        printf("{\"kind\":\"%s\",\"all_%d_speedup_over_one\":%.2f}\n", kind ? "avx512_fma" : "amx_dp", n, n * (s1 / n) / ta);
        (void)argc; (void)argv;
    }
    return 0;
}
