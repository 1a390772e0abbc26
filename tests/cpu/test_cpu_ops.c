/* test_cpu_ops.c: the CPU backend's own cases against the reference. For every kernel level this
 * machine has below its default one (KSA_CPU_ISA = portable, avx512; the default level gets the
 * grid in tests/backends, test_backends_cpu), the standard grid of tests/common (every mode x phase
 * x layout, f32/f16/bf16, head dims 64/128/256) on random data with poisoned outputs; at every level
 * head dims the vector kernels do not cover, tiles whose T x G rows span several row blocks and
 * REUSE over empty sets; then the same-bits property (1 thread vs the whole pool, and two runs in a
 * row) for each mode and phase; configurations from the tunable space (results within tolerance);
 * the alignment of the backend's own buffers (2 MiB from 2 MiB on, for huge pages); the AMX level after
 * another tile configuration on the calling thread; the AMX level's f16 kernels (exact bf16 pairs)
 * against double sums; the tile-blocked packers of the AMX level (bf16, f16 pairs), element by
 * element; the vtable basics.
 * The pool is forced to 4 threads (KSA_NUM_THREADS) so the property is tested on small CI machines. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/cpu/cpu_internal.h"
#include "backends/cpu/ksa_cpu_backend.h"
#include "ksa/ksa.h"
#include "ksa_cpu_features.h"
#include "ksa_half.h"
#include "ksa_internal.h"
#include "test_util.h"

static const char *const levels[] = {"portable", "avx512", "amx"};

/* Is `level` available here (KSA_CPU_ISA would not lower it to something else)? */
static int level_available(const char *level)
{
    setenv("KSA_CPU_ISA", level, 1);
    int ok = strcmp(ksa_cpu_isa_level(), level) == 0;
    unsetenv("KSA_CPU_ISA");
    return ok;
}

/* a Top-k small enough for the tests' short lists: 16 keys at least, rounded to 8, tiles of 16 */
static void small_topk(ktest_config *c)
{
    c->topk_set = 1;
    c->topk = ksa_topk_default();
    c->topk.min_k = 16;
    c->topk.round_multiple = 8;
    c->topk.tile_size = 16;
}

static ksa_device cpu_device(void)
{
    ksa_device dev = ktest_open_device("cpu");
    assert_non_null(dev);
    return dev;
}

static void run_grid_at(const char *level, int quick)
{
    if (!level_available(level)) {
        ktest_skip("kernel level %s not available on this CPU", level);
    }
    if (strcmp(ksa_cpu_isa_level(), level) == 0) {
        ktest_skip("level %s is this CPU's default: its grid runs in tests/backends (test_backends_cpu)", level);
    }
    setenv("KSA_CPU_ISA", level, 1);
    ksa_device dev = cpu_device();
    static const ksa_dtype dtypes[] = {KSA_DTYPE_F32, KSA_DTYPE_F16, KSA_DTYPE_BF16};
    static const int32_t dims[] = {64, 128, 256};
    printf("level %s:\n", level);
    int failures = ktest_run_standard_grid(dev, quick, dtypes, 3, dims, quick ? 2 : 3);
    unsetenv("KSA_CPU_ISA");
    assert_int_equal(failures, 0);
}

static void test_grid_portable(void **state) { run_grid_at("portable", 1); }
static void test_grid_avx512(void **state) { run_grid_at("avx512", 0); }
static void test_grid_amx(void **state) { run_grid_at("amx", 0); }

/* head dims the vector kernels do not cover fall back to portable code and still agree */
static void test_odd_head_dims(void **state)
{
    ksa_device dev = cpu_device();
    static const int32_t dims[] = {40, 96};
    static const ksa_dtype dtypes[] = {KSA_DTYPE_F32, KSA_DTYPE_BF16};
    for (int li = 0; li < 3; li++) {
        if (!level_available(levels[li])) continue;
        setenv("KSA_CPU_ISA", levels[li], 1);
        for (int d = 0; d < 2; d++)
            for (int t = 0; t < 2; t++) {
                ktest_config c = ktest_config_default();
                c.head_dim = dims[d];
                c.dtype = dtypes[t];
                c.mode = KSA_MODE_ANCHOR;
                small_topk(&c);
                c.lq = c.lk = 100;
                c.with_lse = 1;
                c.seed = 77 + (uint64_t)(d * 3 + t);
                assert_int_equal(ktest_run_and_check(dev, &c), KSA_STATUS_SUCCESS);
            }
        unsetenv("KSA_CPU_ISA");
    }
}

/* The vector levels' lazy running max (cpu_avx512_softmax.h): a block is exponentiated once
 * against the old max and accepted when the exponentials sum to at most 2^8; a larger sum sends it
 * to the block's max, which either keeps the first pass (no logit more than 8 above the old max)
 * or raises the max and exponentiates again. One boosted key (Lk*2/3, in the second 256-key block)
 * with scores a few to ~15 base-2 units above the keys before it, over 4800 rows, takes rows down
 * each of the three ways; the outputs and lse must agree with the reference either way. Dense bf16,
 * f32 and f16 (at the amx level the bf16-pair kernels, whose probabilities are split in the same
 * pass) and anchor bf16. */
static void test_lazy_max_paths(void **state)
{
    ksa_device dev = cpu_device();
    static const float boosts[] = {6.f, 9.f, 14.f};
    for (int li = 1; li < 3; li++) {
        if (!level_available(levels[li])) continue;
        setenv("KSA_CPU_ISA", levels[li], 1);
        for (int bi = 0; bi < 3; bi++)
            for (int v = 0; v < 4; v++) {
                ktest_config c = ktest_config_default();
                c.mode = v == 2 ? KSA_MODE_ANCHOR : KSA_MODE_DENSE;
                c.dtype = v == 1 ? KSA_DTYPE_F32 : v == 3 ? KSA_DTYPE_F16 : KSA_DTYPE_BF16;
                c.batch = 1;
                c.hq = 8;
                c.hkv = 2;
                c.head_dim = 128;
                c.lq = c.lk = 600;
                c.with_lse = 1;
                c.boost_key = boosts[bi];
                if (c.mode == KSA_MODE_ANCHOR) small_topk(&c);
                c.seed = 900 + (uint64_t)(li * 100 + bi * 10 + v);
                assert_int_equal(ktest_run_and_check(dev, &c), KSA_STATUS_SUCCESS);
            }
        unsetenv("KSA_CPU_ISA");
    }
}

/* tiles of T x G rows larger than one row block (pooled scores summed over several blocks) */
static void test_large_groups(void **state)
{
    ksa_device dev = cpu_device();
    for (int li = 0; li < 3; li++) {
        if (!level_available(levels[li])) continue;
        setenv("KSA_CPU_ISA", levels[li], 1);
        for (int mode = 0; mode < 3; mode++)
            for (int phase = 0; phase < 2; phase++) {
                ktest_config c = ktest_config_default();
                c.mode = (ksa_mode)mode;
                c.phase = (ksa_phase)phase;
                c.dtype = li == 0 ? KSA_DTYPE_F32 : KSA_DTYPE_BF16;
                c.batch = 1;
                c.hq = 40;
                c.hkv = 1;
                c.head_dim = 64;
                c.lq = 70;
                c.lk = phase ? 700 : 90;
                c.with_lse = 1;
                small_topk(&c);
                c.seed = 300 + (uint64_t)(li * 10 + mode * 2 + phase);
                assert_int_equal(ktest_run_and_check(dev, &c), KSA_STATUS_SUCCESS);
            }
        unsetenv("KSA_CPU_ISA");
    }
}

/* REUSE over empty sets: decode gives o = 0 and lse = -inf (prefill still has the tile's own keys) */
static void test_reuse_empty_sets(void **state)
{
    ksa_device dev = cpu_device();
    for (int li = 0; li < 3; li++) {
        if (!level_available(levels[li])) continue;
        setenv("KSA_CPU_ISA", levels[li], 1);
        for (int phase = 0; phase < 2; phase++) {
            ktest_config c = ktest_config_default();
            c.mode = KSA_MODE_REUSE;
            c.phase = (ksa_phase)phase;
            c.dtype = KSA_DTYPE_BF16;
            c.head_dim = 128;
            c.lq = 40;
            c.lk = 300;
            c.with_lse = 1;
            c.seed = 1234 + (uint64_t)phase;
            ktest_problem p;
            assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
            size_t cbytes = ksa_buffer_size(p.tensors.counts.buffer);
            assert_int_equal(ksa_buffer_fill(p.tensors.counts.buffer, 0, cbytes, 0, NULL), KSA_STATUS_SUCCESS);
            assert_int_equal(ktest_problem_run(&p), KSA_STATUS_SUCCESS);
            char report[1024] = "";
            ksa_status st = ktest_problem_check(&p, report, sizeof report);
            if (st) printf("empty sets, %s: %s\n", phase ? "decode" : "prefill", report);
            assert_int_equal(st, KSA_STATUS_SUCCESS);
            if (phase == KSA_PHASE_DECODE) {
                size_t lbytes = ksa_buffer_size(p.tensors.lse.buffer);
                float *lse = malloc(lbytes);
                assert_non_null(lse);
                assert_int_equal(ksa_buffer_read(lse, p.tensors.lse.buffer, 0, lbytes, NULL), KSA_STATUS_SUCCESS);
                assert_true(isinf(lse[0]) && lse[0] < 0);
                free(lse);
            }
            ktest_problem_destroy(&p);
        }
        unsetenv("KSA_CPU_ISA");
    }
}

static void same_bits_case(ksa_device dev, const ktest_config *cfg)
{
    char desc[512];
    ktest_problem p;
    assert_int_equal(ktest_problem_create(dev, cfg, &p), KSA_STATUS_SUCCESS);
    size_t obytes = ksa_buffer_size(p.tensors.o.buffer);
    size_t ibytes = cfg->mode == KSA_MODE_ANCHOR ? ksa_buffer_size(p.tensors.indices.buffer) : 0;
    unsigned char *o1 = malloc(obytes), *oN = malloc(obytes), *i1 = malloc(ibytes + 1), *iN = malloc(ibytes + 1);
    assert_non_null(o1);
    assert_non_null(oN);
    int32_t n = ksa_cpu_pool_size();
    char many[64];
    snprintf(many, sizeof many, "threads=%d", n);
    ktest_problem_run_bytes(&p, "threads=1", o1, obytes, i1, ibytes);
    ktest_problem_run_bytes(&p, many, oN, obytes, iN, ibytes);
    int same = memcmp(o1, oN, obytes) == 0 && (!ibytes || memcmp(i1, iN, ibytes) == 0);
    if (!same) printf("different bits for 1 and %d threads: %s\n", n, ktest_config_string(cfg, desc, sizeof desc));
    assert_true(same);
    /* and a second run with the same threads gives the same bits again */
    ktest_problem_run_bytes(&p, many, o1, obytes, i1, ibytes);
    assert_memory_equal(o1, oN, obytes);
    /* the result is also right */
    char report[1024] = "";
    ksa_status st = ktest_problem_check(&p, report, sizeof report);
    if (st) printf("check failed: %s: %s\n", ktest_config_string(cfg, desc, sizeof desc), report);
    assert_int_equal(st, KSA_STATUS_SUCCESS);
    free(o1);
    free(oN);
    free(i1);
    free(iN);
    ktest_problem_destroy(&p);
}

static void test_same_bits_any_thread_count(void **state)
{
    ksa_device dev = cpu_device();
    if (ksa_cpu_pool_size() < 2)
        ktest_skip("one worker thread (KSA_NUM_THREADS=%d): no second thread count to compare", ksa_cpu_pool_size());
    for (int li = 0; li < 3; li++) {
        if (!level_available(levels[li])) continue;
        setenv("KSA_CPU_ISA", levels[li], 1);
        for (int mode = 0; mode < 3; mode++)
            for (int phase = 0; phase < 2; phase++) {
                ktest_config c = ktest_config_default();
                c.mode = (ksa_mode)mode;
                c.phase = (ksa_phase)phase;
                c.dtype = li == 0 ? KSA_DTYPE_F32 : KSA_DTYPE_BF16;
                c.head_dim = 128;
                c.batch = 2;
                c.hq = 8;
                c.hkv = 2;
                c.lq = 96;
                c.lk = phase ? 1500 : 160;
                c.with_lse = 1;
                small_topk(&c);
                c.seed = 500 + (uint64_t)(li * 10 + mode * 2 + phase);
                same_bits_case(dev, &c);
            }
        unsetenv("KSA_CPU_ISA");
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include "backends/cpu/amx_tilecfg.h"
/* another AMX user's tile configuration on this thread: 8 rows of 32 bytes in every tile */
static void load_foreign_tile_config(void) { ksa_amx_configure_tiles(8, 32); }
#endif

/* The AMX level loads its tile configuration once per thread per call (kernels_amx.c), and an
 * application thread may load its own between calls (oneDNN, its own tiles). Here the calling thread
 * loads 8-row, 32-byte tiles before each call; the calls, on that thread alone and on the whole pool
 * (the caller runs tasks too), must give the bits of an undisturbed call and agree with the reference. */
static void test_amx_tile_config_between_calls(void **state)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (!level_available("amx")) ktest_skip("kernel level amx not available on this CPU");
    setenv("KSA_CPU_ISA", "amx", 1);
    ksa_device dev = cpu_device();
    for (int mode = 0; mode < 3; mode++) {
        ktest_config c = ktest_config_default();
        c.mode = (ksa_mode)mode;
        c.phase = KSA_PHASE_PREFILL;
        c.dtype = KSA_DTYPE_BF16;
        c.head_dim = 128;
        c.hq = 8;
        c.hkv = 2;
        c.lq = c.lk = 300;
        c.with_lse = 1;
        small_topk(&c);
        c.seed = 900 + (uint64_t)mode;
        ktest_problem p;
        assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
        const size_t obytes = ksa_buffer_size(p.tensors.o.buffer);
        unsigned char *clean = malloc(obytes), *got = malloc(obytes);
        assert_non_null(clean);
        assert_non_null(got);
        char many[64];
        snprintf(many, sizeof many, "threads=%d", ksa_cpu_pool_size());
        ktest_problem_run_bytes(&p, "threads=1", clean, obytes, NULL, 0);
        const char *const runs[2] = {"threads=1", many};
        for (int r = 0; r < 2; r++) {
            load_foreign_tile_config();
            ktest_problem_run_bytes(&p, runs[r], got, obytes, NULL, 0);
            if (memcmp(clean, got, obytes)) printf("mode %d, %s: other bits after a foreign tile configuration\n", mode, runs[r]);
            assert_memory_equal(clean, got, obytes);
        }
        char report[1024] = "";
        ksa_status st = ktest_problem_check(&p, report, sizeof report);
        if (st) printf("mode %d: %s\n", mode, report);
        assert_int_equal(st, KSA_STATUS_SUCCESS);
        free(clean);
        free(got);
        ktest_problem_destroy(&p);
    }
    unsetenv("KSA_CPU_ISA");
#else
    ktest_skip("AMX is x86-64 only");
#endif
}

/* ---- the AMX level's tile-blocked layouts (kernels_avx512.c's _tiles packers, read by kernels_amx.c) */
static uint16_t rand_f16(uint64_t *rng);

/* Index of 16-bit element (key x of nk, dim d of nd) in the tile-blocked K layout Kt[nk/16][nd/2][16][2]
 * and in the V layout Vt[nd/16][nk/2][16][2] */
static size_t kt_index(int32_t x, int32_t d, int32_t nd) { return (((size_t)(x / 16) * (nd / 2) + d / 2) * 16 + x % 16) * 2 + (d & 1); }
static size_t vt_index(int32_t x, int32_t d, int32_t nk) { return (((size_t)(d / 16) * (nk / 2) + x / 2) * 16 + d % 16) * 2 + (x & 1); }

/* The amx tables' packers put every (key, dim) where their tile walks read it, keys from n to nkp are
 * zeros, and nothing past the block is written: bf16 K as Kt over D dims and V as Vt over nkp keys;
 * f16 as its exact pairs, K over the 3 D dims [hi | fin | lo] and V over the 3 nkp keys
 * [hi ; fin ; lo] (hi + lo == x, fin == hi). The packers are AVX-512 code, so this runs on CPUs
 * without AMX too (the amx grid, on an AMX machine, checks the tile products that read them). */
static void test_amx_tile_packers(void **state)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const cpu_kernels *kb16 = ksa_cpu_kernels_amx_bf16(), *kf16 = ksa_cpu_kernels_amx_f16();
    const ksa_cpu_features *f = ksa_cpu_get_features();
    if (!kb16 || !kf16) ktest_skip("the amx level is not built (compiler without AMX flags)");
    if (!f->avx512f || !f->avx512bw) ktest_skip("no AVX-512F/BW on this CPU");
    static const int32_t dims[] = {64, 128, 256};
    uint64_t rng = 777;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        const int32_t D = dims[di], nkp = 96, n = 77; /* a partial last group of 16 keys */
        const size_t words = (size_t)3 * nkp * D, guard = 64;
        uint16_t *src = malloc((size_t)n * D * 2), *kb = aligned_alloc(64, (words + guard) * 2),
                 *vb = aligned_alloc(64, (words + guard) * 2);
        assert_true(src && kb && vb);
        const void *rows[96];
        for (int32_t x = 0; x < n; x++) rows[x] = src + (size_t)x * D;
        for (int pass = 0; pass < 2; pass++) { /* 0: bf16, 1: f16 pairs */
            const cpu_kernels *k = pass ? kf16 : kb16;
            const size_t used = (size_t)(pass ? 3 : 1) * nkp * D;
            for (size_t i = 0; i < (size_t)n * D; i++)
                src[i] = pass ? rand_f16(&rng) : (uint16_t)(1 + ktest_rand_u64(&rng) % 0xfffe);
            memset(kb, 0xab, (words + guard) * 2);
            memset(vb, 0xab, (words + guard) * 2);
            k->pack_k(kb, rows, n, nkp, pass ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, D);
            k->pack_v(vb, rows, n, nkp, pass ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, D);
            for (int32_t x = 0; x < nkp; x++)
                for (int32_t d = 0; d < D; d++) {
                    const uint16_t v = x < n ? src[(size_t)x * D + d] : 0;
                    if (!pass) {
                        if (kb[kt_index(x, d, D)] != v || vb[vt_index(x, d, nkp)] != v)
                            printf("bf16 D %d key %d dim %d: K %#x V %#x, want %#x\n", D, x, d, kb[kt_index(x, d, D)],
                                   vb[vt_index(x, d, nkp)], v);
                        assert_int_equal(kb[kt_index(x, d, D)], v);
                        assert_int_equal(vb[vt_index(x, d, nkp)], v);
                        continue;
                    }
                    /* K dims d (hi), D + d (fin), 2 D + d (lo); V keys x, nkp + x, 2 nkp + x */
                    const uint16_t kh = kb[kt_index(x, d, 3 * D)], kf = kb[kt_index(x, D + d, 3 * D)],
                                   kl = kb[kt_index(x, 2 * D + d, 3 * D)];
                    const uint16_t vh = vb[vt_index(x, d, 3 * nkp)], vf = vb[vt_index(nkp + x, d, 3 * nkp)],
                                   vl = vb[vt_index(2 * nkp + x, d, 3 * nkp)];
                    const float want = ksa_f16_to_f32(v);
                    if (ksa_bf16_to_f32(kh) + ksa_bf16_to_f32(kl) != want || kf != kh || vh != kh || vf != kf || vl != kl)
                        printf("f16 D %d key %d dim %d: K %#x %#x %#x V %#x %#x %#x, want %a\n", D, x, d, kh, kf, kl, vh,
                               vf, vl, (double)want);
                    assert_true(ksa_bf16_to_f32(kh) + ksa_bf16_to_f32(kl) == want);
                    assert_int_equal(kf, kh);
                    assert_int_equal(vh, kh);
                    assert_int_equal(vf, kf);
                    assert_int_equal(vl, kl);
                }
            for (size_t i = used; i < words + guard; i++) {
                assert_int_equal(kb[i], 0xabab);
                assert_int_equal(vb[i], 0xabab);
            }
        }
        free(src);
        free(kb);
        free(vb);
    }
#else
    ktest_skip("the AMX level is x86-64 only");
#endif
}

/* ---- the AMX level's f16 kernels (CPU_FMT_BF16X3, kernels_amx.c) */
/* a random f16 with a random mantissa, never zero: exponents 2^-17 .. 2^2 (f16 subnormals included) */
static uint16_t rand_f16(uint64_t *rng)
{
    uint64_t r = ktest_rand_u64(rng);
    int e = (int)(r % 20) - 17;
    float mant = 1.0f + (float)((r >> 8) & 1023) / 1024.0f;
    float v = ldexpf(mant, e) * ((r >> 20) & 1 ? -1.0f : 1.0f);
    uint16_t h = ksa_f32_to_f16(v);
    return (h & 0x7fff) ? h : 0x3c00;
}

static double dot_f16(const uint16_t *a, const uint16_t *b, int n, double *absum)
{
    double s = 0.0, as = 0.0;
    for (int d = 0; d < n; d++) {
        double t = (double)ksa_f16_to_f32(a[d]) * (double)ksa_f16_to_f32(b[d]);
        s += t;
        as += fabs(t);
    }
    if (absum) *absum = as;
    return s;
}

static double round_bf16(double x) { return (double)ksa_bf16_to_f32(ksa_f32_to_bf16((float)x)); }

/* Every f16 value packs exactly as hi + lo (the Q row, checked value by value), so Q K^T and P V
 * agree with double-precision sums over the same f16 values to 4e-5 and 6e-5 of the sum of |terms|
 * (the left-out lo x lo terms, <= 2^-16 each, and float32 sums; rounding the inputs to one bf16
 * each is ~4e-3 off on this data, which the test also shows, against f16's tolerance of 2e-3); an infinity in K reaches the scores as +-inf, as in the reference; padded keys
 * give zero scores; and f16 prefill at the amx level picks these kernels (decode, KSA_CPU_F16=f32
 * or a head_dim that is not a multiple of 32: the AVX-512 float32 ones). */
static void test_amx_f16_pairs(void **state)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const cpu_kernels *k = ksa_cpu_kernels_amx_f16();
    if (!k || !level_available("amx")) ktest_skip("kernel level amx not available on this CPU");
    enum { D = 128, M = 32, NK = 64, N = 59 };
    uint64_t rng = 4242;
    static uint16_t q[M][D], kv[NK][D];
    for (int m = 0; m < M; m++)
        for (int d = 0; d < D; d++) q[m][d] = rand_f16(&rng);
    for (int x = 0; x < NK; x++)
        for (int d = 0; d < D; d++) kv[x][d] = rand_f16(&rng);
    uint16_t *qb = aligned_alloc(64, (size_t)M * 3 * D * 2), *kb = aligned_alloc(64, (size_t)3 * D * NK * 2);
    uint16_t *vb = aligned_alloc(64, (size_t)3 * D * NK * 2), *pb = aligned_alloc(64, (size_t)M * 3 * NK * 2);
    float *S = aligned_alloc(64, (size_t)M * NK * 4), *O = aligned_alloc(64, (size_t)M * D * 4);
    assert_true(qb && kb && vb && pb && S && O);
    /* Q rows: [hi | lo | fin], hi + lo == x exactly, fin == hi for finite x */
    for (int m = 0; m < M; m++) {
        k->load_row(qb + (size_t)m * 3 * D, q[m], KSA_DTYPE_F16, D);
        for (int d = 0; d < D; d++) {
            const uint16_t *row = qb + (size_t)m * 3 * D;
            float x = ksa_f16_to_f32(q[m][d]), hi = ksa_bf16_to_f32(row[d]), lo = ksa_bf16_to_f32(row[D + d]);
            if (hi + lo != x) printf("q[%d][%d] = %a packs as %a + %a\n", m, d, (double)x, (double)hi, (double)lo);
            assert_true(hi + lo == x);
            assert_int_equal(row[2 * D + d], row[d]);
        }
    }
    const void *rows[NK];
    for (int x = 0; x < N; x++) rows[x] = kv[x];
    ksa_amx_configure_tiles(16, 64);
    /* Q K^T against double sums; padded keys N..NK-1 score 0 */
    memset(S, 0xff, (size_t)M * NK * 4);
    k->pack_k(kb, rows, N, NK, KSA_DTYPE_F16, D);
    k->qk(S, NK, qb, kb, M, NK, D);
    double worst = 0.0, worst_bf16 = 0.0;
    for (int m = 0; m < M; m++)
        for (int x = 0; x < NK; x++) {
            if (x >= N) {
                assert_true(S[m * NK + x] == 0.0f);
                continue;
            }
            double as, ref = dot_f16(q[m], kv[x], D, &as), b = 0.0;
            worst = fmax(worst, fabs(S[m * NK + x] - ref) / as);
            for (int d = 0; d < D; d++)
                b += round_bf16(ksa_f16_to_f32(q[m][d])) * round_bf16(ksa_f16_to_f32(kv[x][d]));
            worst_bf16 = fmax(worst_bf16, fabs(b - ref) / as);
        }
    printf("amx f16 pairs: Q K^T error %.2e of the sum of |terms| (inputs rounded to bf16: %.2e)\n", worst, worst_bf16);
    assert_true(worst <= 4e-5);
    assert_true(worst_bf16 >= 1e-3);
    /* P V: softmax of the scores (each row sees keys x < lim), then the probabilities times V */
    int32_t lim[M];
    float mx[M], l[M], corr[M];
    const float c = 0.25f;
    for (int m = 0; m < M; m++) {
        lim[m] = N - (m % 7) * 3;
        mx[m] = -INFINITY;
        l[m] = 0.0f;
    }
    k->softmax(S, NK, pb, NK, lim, M, M, NK, c, mx, l, corr);
    for (int x = 0; x < N; x++) rows[x] = kv[NK - 1 - x]; /* other rows as values */
    k->pack_v(vb, rows, N, NK, KSA_DTYPE_F16, D);
    memset(O, 0, (size_t)M * D * 4);
    k->pv(O, pb, NK, vb, corr, M, M, NK, D);
    worst = 0.0;
    for (int m = 0; m < M; m++) {
        double pl = 0.0;
        for (int x = 0; x < lim[m]; x++) pl += exp2((double)c * S[m * NK + x] - mx[m]);
        assert_true(fabs(l[m] - pl) <= 1e-5 * pl);
        for (int d = 0; d < D; d++) {
            double ref = 0.0, as = 0.0;
            for (int x = 0; x < lim[m]; x++) {
                double t = exp2((double)c * S[m * NK + x] - mx[m]) * ksa_f16_to_f32(kv[NK - 1 - x][d]);
                ref += t;
                as += fabs(t);
            }
            worst = fmax(worst, fabs(O[m * D + d] - ref) / as);
        }
    }
    printf("amx f16 pairs: P V error %.2e of the sum of |terms|\n", worst);
    assert_true(worst <= 6e-5);
    /* an infinity in K: the scores of that key are +-inf by the sign of q's element, never NaN */
    kv[3][5] = 0x7c00;
    rows[3] = kv[3];
    k->pack_k(kb, rows, N, NK, KSA_DTYPE_F16, D);
    k->qk(S, NK, qb, kb, M, NK, D);
    for (int m = 0; m < M; m++) {
        float want = ksa_f16_to_f32(q[m][5]) > 0 ? INFINITY : -INFINITY;
        assert_true(S[m * NK + 3] == want);
    }
    free(qb);
    free(kb);
    free(vb);
    free(pb);
    free(S);
    free(O);
    /* which kernels an f16 call runs at the amx level */
    ksa_problem p;
    memset(&p, 0, sizeof p);
    p.dtype = KSA_DTYPE_F16;
    p.head_dim = 128;
    p.phase = KSA_PHASE_PREFILL;
    setenv("KSA_CPU_ISA", "amx", 1);
    assert_string_equal(ksa_cpu_pick_kernels(&p, NULL)->name, "amx.f16x3");
    setenv("KSA_CPU_F16", "f32", 1);
    assert_string_equal(ksa_cpu_pick_kernels(&p, NULL)->name, "avx512.f32");
    setenv("KSA_CPU_F16", "pairs", 1);
    assert_string_equal(ksa_cpu_pick_kernels(&p, NULL)->name, "amx.f16x3");
    setenv("KSA_CPU_F16", "f64", 1); /* not a value: warned about, the default */
    assert_string_equal(ksa_cpu_pick_kernels(&p, NULL)->name, "amx.f16x3");
    unsetenv("KSA_CPU_F16");
    p.phase = KSA_PHASE_DECODE; /* decode: float32 */
    assert_string_equal(ksa_cpu_pick_kernels(&p, NULL)->name, "avx512.f32");
    p.phase = KSA_PHASE_PREFILL;
    p.head_dim = 80; /* not a multiple of 32 */
    assert_string_equal(ksa_cpu_pick_kernels(&p, NULL)->name, "avx512.f32");
    unsetenv("KSA_CPU_ISA");
#else
    ktest_skip("AMX is x86-64 only");
#endif
}

/* the backend's own buffers (cpu_mem_alloc): 2 MiB and more start on a 2 MiB boundary, for
 * transparent huge pages; smaller ones on 64 bytes; every byte usable */
static void test_buffer_alignment(void **state)
{
    ksa_device dev = cpu_device();
    unsetenv("KSA_CPU_HUGEPAGES"); /* the default is what is tested */
    static const size_t sizes[] = {(3u << 20) + 5, 100000, 2u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        ksa_buffer buf = NULL;
        assert_int_equal(ksa_buffer_alloc(dev, sizes[i], &buf), KSA_STATUS_SUCCESS);
        uintptr_t at = (uintptr_t)ksa_buffer_data(buf);
        const uintptr_t want = sizes[i] >= (2u << 20) ? (2u << 20) : 64;
        if (at % want) printf("a buffer of %zu bytes at %#lx: not %lu-byte aligned\n", sizes[i], (unsigned long)at, (unsigned long)want);
        assert_int_equal(at % want, 0);
        assert_int_equal(ksa_buffer_fill(buf, 0, sizes[i], 0x5a, NULL), KSA_STATUS_SUCCESS);
        unsigned char last = 0;
        assert_int_equal(ksa_buffer_read(&last, buf, sizes[i] - 1, 1, NULL), KSA_STATUS_SUCCESS);
        assert_int_equal(last, 0x5a);
        ksa_buffer_free(buf);
    }
}

/* anchor prefill's pooled pass with the lse pass's kept scores (pool_scores=2) and with Q K^T
 * recomputed (1): the same index sets and outputs bit for bit at every level (the kept path runs
 * the same rows, lse and summation order), and right against the reference; full and chunked
 * prefill, f32 and bf16 */
static void test_pool_scores_same_sets(void **state)
{
    (void)state;
    ksa_device dev = cpu_device();
    for (int li = 0; li < 3; li++) {
        if (!level_available(levels[li])) continue;
        setenv("KSA_CPU_ISA", levels[li], 1);
        for (int ci = 0; ci < 2; ci++) {
            ktest_config c = ktest_config_default();
            c.mode = KSA_MODE_ANCHOR;
            c.dtype = li == 0 ? KSA_DTYPE_F32 : KSA_DTYPE_BF16;
            c.head_dim = 128;
            c.batch = 2;
            c.hq = 8;
            c.hkv = 2;
            c.lq = ci ? 130 : 400;
            c.lk = ci ? 700 : 400;
            c.vary_lengths = ci;
            c.with_lse = 1;
            c.topk_set = 1;
            c.topk = ksa_topk_default();
            c.topk.min_k = 24;
            c.topk.round_multiple = 8;
            c.seed = 700 + (uint64_t)(li * 10 + ci);
            ktest_problem p;
            assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
            size_t obytes = ksa_buffer_size(p.tensors.o.buffer), ibytes = ksa_buffer_size(p.tensors.indices.buffer);
            unsigned char *o1 = malloc(obytes), *o2 = malloc(obytes), *i1 = malloc(ibytes), *i2 = malloc(ibytes);
            assert_true(o1 && o2 && i1 && i2);
            ktest_problem_run_bytes(&p, "pool_scores=1", o1, obytes, i1, ibytes);
            ktest_problem_run_bytes(&p, "pool_scores=2", o2, obytes, i2, ibytes);
            char desc[512];
            int same = memcmp(i1, i2, ibytes) == 0 && memcmp(o1, o2, obytes) == 0;
            if (!same) printf("pool_scores 1 and 2 differ at %s: %s\n", levels[li], ktest_config_string(&c, desc, sizeof desc));
            assert_true(same);
            char report[1024] = "";
            ksa_status st = ktest_problem_check(&p, report, sizeof report); /* the last run: kept scores */
            if (st) printf("pool_scores=2 at %s: %s\n", levels[li], report);
            assert_int_equal(st, KSA_STATUS_SUCCESS);
            free(o1);
            free(o2);
            free(i1);
            free(i2);
            ktest_problem_destroy(&p);
        }
        unsetenv("KSA_CPU_ISA");
    }
}

/* REUSE decode whose index sets are mostly inside the local window: the
 * chunks run over positions of the set, so with 256-key chunks whole chunks hold only dropped
 * entries and contribute nothing; the result must still match the reference, for 1 and 4 threads
 * with the same bits. */
static void test_reuse_decode_dropped_chunks(void **state)
{
    ksa_device dev = cpu_device();
    const int32_t pool = ksa_cpu_pool_size();
    if (pool < 2) ktest_skip("one worker thread (KSA_NUM_THREADS=%d): no second thread count to compare", pool);
    ktest_config c = ktest_config_default();
    c.mode = KSA_MODE_REUSE;
    c.phase = KSA_PHASE_DECODE;
    c.dtype = KSA_DTYPE_BF16;
    c.head_dim = 128;
    c.batch = 2;
    c.hq = 8;
    c.hkv = 2;
    c.lk = 3000;
    c.with_lse = 1;
    c.use_head_map = 1;
    c.topk_set = 1;
    c.topk = ksa_topk_default();
    c.topk.top_k = 1000;
    c.topk.round_multiple = 1;
    c.topk.local_window = 1500; /* keys 1500 .. 2999 */
    c.seed = 4242;
    ktest_problem p;
    assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
    const int64_t slots = p.tensors.indices.shape[2];
    assert_true(slots >= 900);
    size_t ibytes = ksa_buffer_size(p.tensors.indices.buffer), cbytes = ksa_buffer_size(p.tensors.counts.buffer);
    int32_t *idx = malloc(ibytes), *cnt = malloc(cbytes);
    assert_true(idx && cnt);
    for (int64_t bg = 0; bg < 4; bg++) {
        int32_t *row = idx + bg * slots;
        int64_t n = 0;
        for (int64_t j = 0; j < 100; j++) row[n++] = (int32_t)(j * 7 + bg);            /* kept: below the window */
        for (int64_t j = 0; j < 700; j++) row[n++] = (int32_t)(1500 + j * 2 + bg % 2); /* dropped: in the window */
        for (int64_t j = 0; j < 40; j++) row[n++] = (int32_t)(2900 + j * 2 + bg % 2);  /* dropped */
        for (int64_t j = 0; j < 60; j++) row[n++] = (int32_t)(1400 + j);                /* kept */
        for (; n < slots; n++) row[n] = -1;
        cnt[bg] = (int32_t)(bg == 3 ? 600 : 900); /* one set ends inside the dropped run */
    }
    assert_int_equal(ksa_buffer_write(p.tensors.indices.buffer, 0, idx, ibytes, NULL), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_write(p.tensors.counts.buffer, 0, cnt, cbytes, NULL), KSA_STATUS_SUCCESS);
    size_t obytes = ksa_buffer_size(p.tensors.o.buffer);
    unsigned char *o1 = malloc(obytes), *oN = malloc(obytes);
    assert_true(o1 && oN);
    char many[64];
    snprintf(many, sizeof many, "decode_chunk=256,threads=%d", pool); /* the whole pool (4 under ctest) */
    ktest_problem_run_bytes(&p, "decode_chunk=256,threads=1", o1, obytes, NULL, 0);
    ktest_problem_run_bytes(&p, many, oN, obytes, NULL, 0);
    assert_memory_equal(o1, oN, obytes);
    assert_int_equal(ksa_set_config_override("decode_chunk=256"), KSA_STATUS_SUCCESS);
    ksa_status st = ktest_problem_run(&p);
    assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
    assert_int_equal(st, KSA_STATUS_SUCCESS);
    char report[1024] = "";
    st = ktest_problem_check(&p, report, sizeof report);
    if (st) printf("dropped chunks: %s (%s)\n", report, ksa_last_error());
    assert_int_equal(st, KSA_STATUS_SUCCESS);
    free(idx);
    free(cnt);
    free(o1);
    free(oN);
    ktest_problem_destroy(&p);
}

/* every value of each tunable gives a result within tolerance */
static void test_tunable_configs(void **state)
{
    ksa_device dev = cpu_device();
    static const char *const prefill[] = {"block_q=8,block_k=32", "block_q=128,block_k=256", "block_q=16,block_k=128"};
    static const char *const decode[] = {"block_k=32,decode_chunk=256", "block_k=256,decode_chunk=8192",
                                         "block_k=64,decode_chunk=512"};
    for (int phase = 0; phase < 2; phase++)
        for (int i = 0; i < 3; i++) {
            ktest_config c = ktest_config_default();
            c.phase = (ksa_phase)phase;
            c.mode = i == 2 ? KSA_MODE_ANCHOR : KSA_MODE_DENSE;
            c.dtype = KSA_DTYPE_BF16;
            c.head_dim = 128;
            c.lq = 150;
            c.lk = phase ? 3000 : 300;
            c.topk_set = 1;
            c.topk = ksa_topk_default();
            c.topk.min_k = 16;
            c.topk.tile_size = 32;
            c.seed = 900 + (uint64_t)(phase * 3 + i);
            ktest_problem p;
            assert_int_equal(ksa_set_config_override(phase ? decode[i] : prefill[i]), KSA_STATUS_SUCCESS);
            assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
            ksa_status st = ktest_problem_run(&p);
            assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
            assert_int_equal(st, KSA_STATUS_SUCCESS);
            char report[1024] = "";
            st = ktest_problem_check(&p, report, sizeof report);
            if (st) printf("config %s: %s\n", phase ? decode[i] : prefill[i], report);
            assert_int_equal(st, KSA_STATUS_SUCCESS);
            ktest_problem_destroy(&p);
        }
}

static void test_vtable(void **state)
{
    ksa_backend *be = ksa_cpu_backend();
    assert_non_null(be);
    assert_string_equal(be->name, "cpu");
    assert_int_equal(be->kind, KSA_DEVICE_CPU);
    assert_int_equal(be->host_memory, 1);
    assert_non_null(be->tunables);
    ksa_device dev = cpu_device();
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(dev, &info), KSA_STATUS_SUCCESS);
    assert_string_equal(info.name, "cpu");
    assert_int_equal(info.kind, KSA_DEVICE_CPU);
    assert_true(info.compute_units >= 1);
    printf("cpu device: %s, isa %s, pool: %s\n", info.description, info.isa, ksa_cpu_pool_description());
    /* aligned host memory and copies */
    ksa_buffer buf;
    assert_int_equal(ksa_buffer_alloc(dev, 1000, &buf), KSA_STATUS_SUCCESS);
    assert_int_equal((uintptr_t)ksa_buffer_data(buf) % 64, 0);
    unsigned char src[100], dst[100];
    for (int i = 0; i < 100; i++) src[i] = (unsigned char)(i * 3 + 1);
    assert_int_equal(ksa_buffer_write(buf, 900, src, 100, NULL), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_read(dst, buf, 900, 100, NULL), KSA_STATUS_SUCCESS);
    assert_memory_equal(src, dst, 100);
    ksa_buffer_free(buf);
}

/* A call given less workspace than it asked for is refused, writing nothing. */
static void test_workspace_too_small(void **state)
{
    ksa_device dev = cpu_device();
    ktest_config c = ktest_config_default();
    ktest_problem p;
    assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
    assert_true(p.workspace.size > 0);
    ksa_workspace small = p.workspace;
    small.size = p.workspace.size / 2;
    ksa_status st = ksa_attention(dev, NULL, &p.params, &p.tensors, &small);
    assert_int_not_equal(st, KSA_STATUS_SUCCESS);
    assert_true(strlen(ksa_last_error()) > 0);
    ktest_problem_destroy(&p);
}

int main(void)
{
    /* a pool of 4 threads even on a 2-core CI machine, so 1 vs N threads means something */
    setenv("KSA_NUM_THREADS", "4", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vtable),
        cmocka_unit_test(test_workspace_too_small),
        cmocka_unit_test(test_grid_portable),
        cmocka_unit_test(test_grid_avx512),
        cmocka_unit_test(test_grid_amx),
        cmocka_unit_test(test_odd_head_dims),
        cmocka_unit_test(test_lazy_max_paths),
        cmocka_unit_test(test_large_groups),
        cmocka_unit_test(test_reuse_empty_sets),
        cmocka_unit_test(test_reuse_decode_dropped_chunks),
        cmocka_unit_test(test_same_bits_any_thread_count),
        cmocka_unit_test(test_tunable_configs),
        cmocka_unit_test(test_pool_scores_same_sets),
        cmocka_unit_test(test_buffer_alignment),
        cmocka_unit_test(test_amx_tile_config_between_calls),
        cmocka_unit_test(test_amx_f16_pairs),
        cmocka_unit_test(test_amx_tile_packers),
    };
    return ktest_run_group(tests, NULL, NULL);
}
