/* amx_probe.c: ksa-cpu-bench's AMX-BF16 rate probes (built with the AMX flags, run only where the
 * CPU has AMX and the kernel granted tile permission). Two measurements, one thread per core, each
 * on its own data, all threads running at once:
 *   tile peak: tdpbf16ps on four accumulator tiles with the two A and two B tiles re-loaded from
 *              the same 4 KiB of L1 every step (the tile unit's rate with operands at hand);
 *   dp only:   the same four tdpbf16ps per step with no loads at all (the multiply rate alone;
 *              the gap to the tile peak is what operand loads cost);
 *   GEMM:      C[256][256] f32 += A[256][K] bf16 x B[K][256] bf16 (B in pairs of rows, the layout
 *              tdpbf16ps reads), K = 1024, 2x2 tile blocking with A and B streamed from L2: a plain
 *              tiled GEMM kernel on the same unit, the reference point for attention's QK^T and PV.
 * Each returns TFLOP/s summed over threads (2 FLOP per multiply-add).
 *   solo:      the multiply-only loop and the tile-peak loop alone on each logical CPU in turn.
 *              On the lent VM a vCPU's tile unit runs at full rate or ~2.4x slower, set from
 *              outside the VM and changing within seconds, while its vector units keep their rate
 *              (bench/NOTES.md, fiftieth session), so this says in what state a run's CPU numbers
 *              were taken. */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amx_probe.h"
#include "backends/cpu/amx_tilecfg.h"
#include "ksa_cpu_features.h"

#define PROBE_M 256
#define PROBE_N 256
#define PROBE_K 1024
#define PROBE_MAX_THREADS 256

static void probe_configure(void)
{
    ksa_amx_configure_tiles(16, 64);
}

static double probe_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct probe_arg {
    int id;
    int gemm; /* 0 tile peak, 1 GEMM, 2 dp only */
    double seconds;
    double flop;
    double elapsed;
    int failed;         /* out of memory: the probe reports nothing rather than a low rate */
    atomic_int *go;     /* 0: wait, 1: run, -1: give up (a thread could not be started) */
} probe_arg;

/* wait for the start signal; 1 to run, 0 to give up */
static int probe_wait(atomic_int *go)
{
    int g;
    while ((g = atomic_load_explicit(go, memory_order_acquire)) == 0) sched_yield();
    return g > 0;
}

static void dp_only_steps(long steps)
{
    for (long s = 0; s < steps; s++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
}

static void tile_peak_steps(const uint16_t *a, const uint16_t *b, long steps)
{
    for (long s = 0; s < steps; s++) {
        _tile_loadd(4, a, 64);
        _tile_loadd(5, a + 512, 64);
        _tile_loadd(6, b, 64);
        _tile_loadd(7, b + 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
}

/* C = A x B, A [M][K] row-major, Bp [K/2][N][2], C [M][N] */
static void gemm_once(float *C, const uint16_t *A, const uint16_t *Bp)
{
    const size_t astride = PROBE_K * 2, bstride = PROBE_N * 4, cstride = PROBE_N * 4;
    for (int n0 = 0; n0 < PROBE_N; n0 += 32)
        for (int m0 = 0; m0 < PROBE_M; m0 += 32) {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (int k0 = 0; k0 < PROBE_K; k0 += 32) {
                _tile_loadd(4, A + (size_t)m0 * PROBE_K + k0, astride);
                _tile_loadd(5, A + (size_t)(m0 + 16) * PROBE_K + k0, astride);
                _tile_loadd(6, Bp + ((size_t)(k0 / 2) * PROBE_N + n0) * 2, bstride);
                _tile_loadd(7, Bp + ((size_t)(k0 / 2) * PROBE_N + n0 + 16) * 2, bstride);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            _tile_stored(0, C + (size_t)m0 * PROBE_N + n0, cstride);
            _tile_stored(1, C + (size_t)m0 * PROBE_N + n0 + 16, cstride);
            _tile_stored(2, C + (size_t)(m0 + 16) * PROBE_N + n0, cstride);
            _tile_stored(3, C + (size_t)(m0 + 16) * PROBE_N + n0 + 16, cstride);
        }
}

static void *probe_main(void *v)
{
    probe_arg *a = v;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(a->id, &set);
    sched_setaffinity(0, sizeof set, &set); /* best effort: one thread per logical CPU in order */
    probe_configure();
    size_t an = a->gemm == 1 ? (size_t)PROBE_M * PROBE_K : 1024, bn = a->gemm == 1 ? (size_t)PROBE_K * PROBE_N : 1024;
    uint16_t *A = aligned_alloc(64, an * 2), *B = aligned_alloc(64, bn * 2);
    float *C = aligned_alloc(64, (size_t)PROBE_M * PROBE_N * 4);
    if (!A || !B || !C) {
        free(A);
        free(B);
        free(C);
        a->failed = 1;
        probe_wait(a->go);
        return NULL;
    }
    uint32_t x = 12345u + (uint32_t)a->id;
    for (size_t i = 0; i < an; i++) A[i] = (uint16_t)(0x3f00 | ((x = x * 1664525u + 1013904223u) >> 25)); /* ~0.5..1 */
    for (size_t i = 0; i < bn; i++) B[i] = (uint16_t)(0x3f00 | ((x = x * 1664525u + 1013904223u) >> 25));
    double flop_per = a->gemm == 1 ? 2.0 * PROBE_M * PROBE_N * PROBE_K : 4.0 * 2 * 16 * 16 * 32 * 4096;
    if (a->gemm == 2) { /* operands loaded once */
        _tile_loadd(4, A, 64);
        _tile_loadd(5, A + 512, 64);
        _tile_loadd(6, B, 64);
        _tile_loadd(7, B + 512, 64);
    }
    if (a->gemm == 1) gemm_once(C, A, B);
    else if (a->gemm == 2) dp_only_steps(4096);
    else tile_peak_steps(A, B, 4096);
    if (!probe_wait(a->go)) {
        _tile_release();
        free(A);
        free(B);
        free(C);
        return NULL;
    }
    double t0 = probe_now(), t = t0;
    long n = 0;
    while (t - t0 < a->seconds) {
        if (a->gemm == 1) gemm_once(C, A, B);
        else if (a->gemm == 2) dp_only_steps(4096);
        else tile_peak_steps(A, B, 4096);
        n++;
        t = probe_now();
    }
    if (a->gemm != 1) {
        _tile_stored(0, C, 64); /* keep the accumulators live */
    }
    a->flop = flop_per * (double)n;
    a->elapsed = t - t0;
    _tile_release();
    free(A);
    free(B);
    free(C);
    return NULL;
}

static double probe_run(int threads, int gemm, double seconds)
{
    const ksa_cpu_features *f = ksa_cpu_get_features();
    if (!f->amx_permitted) return -1.0;
    if (threads < 1) threads = 1;
    if (threads > PROBE_MAX_THREADS) threads = PROBE_MAX_THREADS;
    pthread_t th[PROBE_MAX_THREADS];
    probe_arg args[PROBE_MAX_THREADS];
    atomic_int go = 0; /* all threads start timing together */
    int started = 0;
    for (int i = 0; i < threads; i++) {
        args[i] = (probe_arg){.id = i, .gemm = gemm, .seconds = seconds, .go = &go};
        if (pthread_create(&th[i], NULL, probe_main, &args[i]) != 0) break;
        started++;
    }
    atomic_store_explicit(&go, started == threads ? 1 : -1, memory_order_release);
    int failed = started != threads;
    double tflops = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        failed |= args[i].failed;
        if (!failed) tflops += args[i].flop / args[i].elapsed * 1e-12;
    }
    return failed ? -1.0 : tflops;
}

/* the multiply-only loop (tile_loop 0) or the tile-peak loop (1) on one thread pinned to each
 * logical CPU in turn, nothing else of the probe running */
int amx_probe_solo_tflops(int ncpus, int tile_loop, double seconds, double *tflops)
{
    const ksa_cpu_features *f = ksa_cpu_get_features();
    if (!f->amx_permitted || ncpus < 1) return -1;
    if (ncpus > PROBE_MAX_THREADS) ncpus = PROBE_MAX_THREADS;
    for (int cpu = 0; cpu < ncpus; cpu++) {
        atomic_int go = 1;
        probe_arg arg = {.id = cpu, .gemm = tile_loop ? 0 : 2, .seconds = seconds, .go = &go};
        pthread_t th;
        if (pthread_create(&th, NULL, probe_main, &arg) != 0) return -1;
        pthread_join(th, NULL);
        if (arg.failed || arg.elapsed <= 0) return -1;
        tflops[cpu] = arg.flop / arg.elapsed * 1e-12;
    }
    return ncpus;
}

double amx_probe_tile_peak_tflops(int threads, double seconds) { return probe_run(threads, 0, seconds); }

double amx_probe_gemm_tflops(int threads, double seconds) { return probe_run(threads, 1, seconds); }

double amx_probe_dp_only_tflops(int threads, double seconds) { return probe_run(threads, 2, seconds); }
