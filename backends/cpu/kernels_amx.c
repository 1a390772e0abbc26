/* kernels_amx.c: the AMX-BF16 kernel level of the CPU backend (built with -mamx-tile -mamx-bf16
 * and the AVX-512 flags; chosen only when the CPU has AMX and the kernel granted tile-data
 * permission). bf16 storage: QK^T and PV as 16x16 float32 tiles accumulated by tdpbf16ps, two by
 * two (four accumulator tiles, two A and two B tiles), on tile-blocked packings of K (pairs of dims)
 * and V (pairs of keys) in which every B tile is one contiguous kilobyte. Probabilities are rounded
 * to bf16 for PV. f16 storage: every value split exactly into two bf16 (hi + lo) and the
 * probabilities into two (16 bits), so each product is three bf16 products of the same tile loops
 * at three times the depth (CPU_FMT_BF16X3, cpu_internal.h), packed tile-blocked alike:
 * float32-class accuracy, unlike a plain rounding to bf16 (8 bits, beyond the f16 tolerance). f32 storage uses the AVX-512 float32 kernels at this level.
 * Needs head_dim % 32 == 0. */
#include <immintrin.h>
#include <string.h>

#include "backends/cpu/amx_tilecfg.h"
#include "backends/cpu/cpu_avx512_shared.h"
#include "backends/cpu/cpu_avx512_softmax.h"
#include "backends/cpu/cpu_internal.h"

/* AddressSanitizer does not see TILELOADD / TILESTORED. In ASan builds every 64-byte row a tile load
 * or store is about to touch is first read at both ends through ordinary (instrumented) loads, so a
 * tile reaching past its buffer is reported like any other overflow. */
#if defined(__SANITIZE_ADDRESS__)
#define KSA_AMX_ASAN_ROWS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KSA_AMX_ASAN_ROWS 1
#endif
#endif
#ifdef KSA_AMX_ASAN_ROWS
static void amx_touch_rows(const void *base, size_t stride)
{
    const volatile unsigned char *p = base;
    for (size_t r = 0; r < 16; r++) {
        (void)p[r * stride];
        (void)p[r * stride + 63];
    }
}
#define AMX_LOAD(tile, base, stride)                                                                               \
    do {                                                                                                           \
        amx_touch_rows((base), (stride));                                                                          \
        _tile_loadd(tile, base, stride);                                                                           \
    } while (0)
#define AMX_STORE(tile, base, stride)                                                                              \
    do {                                                                                                           \
        amx_touch_rows((base), (stride));                                                                          \
        _tile_stored(tile, base, stride);                                                                          \
    } while (0)
#else
#define AMX_LOAD(tile, base, stride) _tile_loadd(tile, base, stride)
#define AMX_STORE(tile, base, stride) _tile_stored(tile, base, stride)
#endif

/* Every tile 16 rows x 64 bytes. The configuration is per thread and kept across context switches;
 * LDTILECFG zeroes every tile and waits for the tile unit to drain, so a thread loads it once per
 * attention call (ksa_cpu_call_number), not at every block product. Once per call, not once per
 * thread: between calls an application thread that runs ksa tasks may load another configuration
 * for its own AMX code (oneDNN, a probe); during a call its threads run only ksa's tasks. */
static _Thread_local uint64_t amx_configured_call;

static void amx_configure(void)
{
    const uint64_t call = ksa_cpu_call_number();
    if (call == amx_configured_call) return;
    amx_configured_call = call;
    ksa_amx_configure_tiles(16, 64);
}

/* Where a tile of packed keys or values starts: the B tile of Q K^T for dims d0..d0+31 and keys
 * x0..x0+15 is at kbase + (x0 / 16) * x_step + (d0 / 32) * d_step, rows `stride` bytes apart; the B
 * tile of P V for keys x0..x0+31 and dims d0..d0+15 at vbase + (x0 / 32) * x_step + (d0 / 16) *
 * d_step. The packers (kernels_avx512.c, `_tiles`) block K as [nkp/16][D/2][16][2] and V as
 * [D/16][nkp/2][16][2], so every tile is one contiguous kilobyte whose rows fall into 16 L1 sets.
 * The pair layouts of the AVX512-BF16 level ([D/2][nkp][2], [nkp/2][D][2]), which these loops read
 * until the forty-ninth session, put a tile's rows 1 KB (K) or 2 D bytes (V, 512 at D 128) apart,
 * into 4 or 8 of a 48 KB, 12-way L1's 64 sets: a 32-key column of K tiles (8 KB) or a 32-dim column
 * of V tiles (16 KB) had 16 lines per set and could not stay in L1 for the next row pair. Measured
 * on the lent Xeon (bench/NOTES.md, forty-ninth session): bf16 dense prefill L4096 1.05-1.10x,
 * anchor and reuse ~1.03x; f16 dense ~1.0x, anchor 1.04x, reuse 1.02x. */
typedef struct amx_tile_walk {
    size_t x_step, d_step, stride;
} amx_tile_walk;

/* K of `D` dims (3 D for the f16 pairs): a 16-key group is D / 2 rows of 64 bytes; V of `nkp` keys
 * (3 nkp): a 16-dim block is nkp / 2 rows of 64 bytes */
static amx_tile_walk k_tiles(int32_t D) { return (amx_tile_walk){(size_t)D * 32, 1024, 64}; }
static amx_tile_walk v_tiles(int32_t nkp) { return (amx_tile_walk){1024, (size_t)nkp * 32, 64}; }

/* S[Mp][ldS] = Q[Mp][D] (bf16) x K (packed as `kw` walks it); Mp % 16 == 0, nkp % 32 == 0.
 * Key columns outer, row pairs inner: the two K tiles of a 32-key column are read from L2 once and
 * then from L1 for every further 32 rows of the sub-block (Q stays in L1). */
static void qk_amx(float *S, int32_t ldS, const void *Qv, const void *kbuf, int32_t Mp, int32_t nkp, int32_t D,
                   amx_tile_walk kw)
{
    const uint16_t *Q = Qv;
    const char *kp = kbuf;
    const size_t qstride = (size_t)D * 2, sstride = (size_t)ldS * 4;
    const int32_t Mpair = Mp & ~31; /* rows in whole 32-row pairs; a 16-row rest follows */
    amx_configure();
    for (int32_t x0 = 0; x0 < nkp; x0 += 32) {
        const char *k0 = kp + (size_t)(x0 / 16) * kw.x_step, *k1 = k0 + kw.x_step;
        for (int32_t m0 = 0; m0 < Mpair; m0 += 32) {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (int32_t d0 = 0; d0 < D; d0 += 32) {
                AMX_LOAD(4, Q + (size_t)m0 * D + d0, qstride);
                AMX_LOAD(5, Q + (size_t)(m0 + 16) * D + d0, qstride);
                AMX_LOAD(6, k0 + (size_t)(d0 / 32) * kw.d_step, kw.stride);
                AMX_LOAD(7, k1 + (size_t)(d0 / 32) * kw.d_step, kw.stride);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            AMX_STORE(0, S + (size_t)m0 * ldS + x0, sstride);
            AMX_STORE(1, S + (size_t)m0 * ldS + x0 + 16, sstride);
            AMX_STORE(2, S + (size_t)(m0 + 16) * ldS + x0, sstride);
            AMX_STORE(3, S + (size_t)(m0 + 16) * ldS + x0 + 16, sstride);
        }
        if (Mpair < Mp) { /* 16 rows left */
            const int32_t m0 = Mpair;
            _tile_zero(0);
            _tile_zero(1);
            for (int32_t d0 = 0; d0 < D; d0 += 32) {
                AMX_LOAD(4, Q + (size_t)m0 * D + d0, qstride);
                AMX_LOAD(6, k0 + (size_t)(d0 / 32) * kw.d_step, kw.stride);
                AMX_LOAD(7, k1 + (size_t)(d0 / 32) * kw.d_step, kw.stride);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
            }
            AMX_STORE(0, S + (size_t)m0 * ldS + x0, sstride);
            AMX_STORE(1, S + (size_t)m0 * ldS + x0 + 16, sstride);
        }
    }
}

/* rows whose running max moved: O *= corr */
static void rescale_rows(float *O, const float *corr, int32_t M, int32_t D)
{
    for (int32_t m = 0; m < M; m++) {
        if (corr[m] == 1.0f) continue;
        __m512 cr = _mm512_set1_ps(corr[m]);
        float *o = O + (size_t)m * D;
        for (int32_t d = 0; d < D; d += 16) _mm512_storeu_ps(o + d, _mm512_mul_ps(_mm512_loadu_ps(o + d), cr));
    }
}

/* O[Mp][D] = O * corr + P[Mp][ldP] (bf16) x V (packed as `vw` walks it): rows whose max moved are
 * rescaled in place first, then the accumulator tiles are loaded from O and stored back. */
static void pv_amx(float *O, const void *Pv, int32_t ldP, const void *vbuf, const float *corr, int32_t M, int32_t Mp,
                   int32_t nkp, int32_t D, amx_tile_walk vw)
{
    const uint16_t *P = Pv;
    const char *vp = vbuf;
    const size_t pstride = (size_t)ldP * 2, ostride = (size_t)D * 4;
    rescale_rows(O, corr, M, D);
    amx_configure();
    const int32_t Mpair = Mp & ~31;
    /* value columns outer, row pairs inner: a 32-column slice of the packed values is read from L2
     * once and from L1 for every further 32 rows */
    for (int32_t d0 = 0; d0 < D; d0 += 32) {
        const char *v0 = vp + (size_t)(d0 / 16) * vw.d_step, *v1 = v0 + vw.d_step;
        for (int32_t m0 = 0; m0 < Mpair; m0 += 32) {
            float *o00 = O + (size_t)m0 * D + d0, *o10 = O + (size_t)(m0 + 16) * D + d0;
            AMX_LOAD(0, o00, ostride);
            AMX_LOAD(1, o00 + 16, ostride);
            AMX_LOAD(2, o10, ostride);
            AMX_LOAD(3, o10 + 16, ostride);
            for (int32_t x0 = 0; x0 < nkp; x0 += 32) {
                AMX_LOAD(4, P + (size_t)m0 * ldP + x0, pstride);
                AMX_LOAD(5, P + (size_t)(m0 + 16) * ldP + x0, pstride);
                AMX_LOAD(6, v0 + (size_t)(x0 / 32) * vw.x_step, vw.stride);
                AMX_LOAD(7, v1 + (size_t)(x0 / 32) * vw.x_step, vw.stride);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            AMX_STORE(0, o00, ostride);
            AMX_STORE(1, o00 + 16, ostride);
            AMX_STORE(2, o10, ostride);
            AMX_STORE(3, o10 + 16, ostride);
        }
        if (Mpair < Mp) {
            float *o00 = O + (size_t)Mpair * D + d0;
            AMX_LOAD(0, o00, ostride);
            AMX_LOAD(1, o00 + 16, ostride);
            for (int32_t x0 = 0; x0 < nkp; x0 += 32) {
                AMX_LOAD(4, P + (size_t)Mpair * ldP + x0, pstride);
                AMX_LOAD(6, v0 + (size_t)(x0 / 32) * vw.x_step, vw.stride);
                AMX_LOAD(7, v1 + (size_t)(x0 / 32) * vw.x_step, vw.stride);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
            }
            AMX_STORE(0, o00, ostride);
            AMX_STORE(1, o00 + 16, ostride);
        }
    }
}

/* bf16 storage */
static void qk_amx_tiles(float *S, int32_t ldS, const void *Q, const void *kbuf, int32_t Mp, int32_t nkp, int32_t D)
{
    qk_amx(S, ldS, Q, kbuf, Mp, nkp, D, k_tiles(D));
}

static void pv_amx_tiles(float *O, const void *P, int32_t ldP, const void *vbuf, const float *corr, int32_t M,
                         int32_t Mp, int32_t nkp, int32_t D)
{
    pv_amx(O, P, ldP, vbuf, corr, M, Mp, nkp, D, v_tiles(nkp));
}

static void softmax_bf16(const float *S, int32_t ldS, void *P, int32_t ldP, const int32_t *lim, int32_t M, int32_t Mp,
                         int32_t nkp, float c, float *mx, float *l, float *corr)
{
    softmax_rows(S, ldS, P, ldP, lim, M, Mp, nkp, c, mx, l, corr, 1);
}

static const cpu_kernels amx_bf16 = {
    .name = "amx.bf16",
    .fmt = CPU_FMT_BF16,
    .row_align = 16,
    .key_align = 32,
    .load_row = ksa_cpu_avx512_load_row_bf16,
    .pack_k = ksa_cpu_avx512_pack_k_bf16_tiles,
    .pack_v = ksa_cpu_avx512_pack_v_bf16_tiles,
    .qk = qk_amx_tiles,
    .softmax = softmax_bf16,
    .pv = pv_amx_tiles,
    .pool = ksa_cpu_avx512_pool_bf16,
    .store_row = ksa_cpu_avx512_store_row,
};

const cpu_kernels *ksa_cpu_kernels_amx_bf16(void) { return &amx_bf16; }

/* f16 storage (CPU_FMT_BF16X3): Q [hi | lo | fin] x K [hi | fin | lo] is one product of depth 3 D,
 * and P [hi | lo | hi] x V [hi ; fin ; lo] one of 3 nkp keys; the probabilities use the degree-5 exp */
static void qk_amx_f16x3(float *S, int32_t ldS, const void *Q, const void *kbuf, int32_t Mp, int32_t nkp, int32_t D)
{
    qk_amx(S, ldS, Q, kbuf, Mp, nkp, 3 * D, k_tiles(3 * D));
}

static void softmax_f16x3(const float *S, int32_t ldS, void *P, int32_t ldP, const int32_t *lim, int32_t M, int32_t Mp,
                          int32_t nkp, float c, float *mx, float *l, float *corr)
{
    softmax_rows(S, ldS, P, ldP, lim, M, Mp, nkp, c, mx, l, corr, 2);
}

static void pv_amx_f16x3(float *O, const void *P, int32_t ldP, const void *vbuf, const float *corr, int32_t M,
                         int32_t Mp, int32_t nkp, int32_t D)
{
    pv_amx(O, P, 3 * ldP, vbuf, corr, M, Mp, 3 * nkp, D, v_tiles(3 * nkp));
}

static const cpu_kernels amx_f16 = {
    .name = "amx.f16x3",
    .fmt = CPU_FMT_BF16X3,
    .row_align = 16,
    .key_align = 32,
    .load_row = ksa_cpu_avx512_load_row_f16x3,
    .pack_k = ksa_cpu_avx512_pack_k_f16x3_tiles,
    .pack_v = ksa_cpu_avx512_pack_v_f16x3_tiles,
    .qk = qk_amx_f16x3,
    .softmax = softmax_f16x3,
    .pv = pv_amx_f16x3,
    .pool = ksa_cpu_avx512_pool,
    .store_row = ksa_cpu_avx512_store_row,
};

const cpu_kernels *ksa_cpu_kernels_amx_f16(void) { return &amx_f16; }
