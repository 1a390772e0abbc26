/* kernels_avx512.c: the AVX-512F kernel level of the CPU backend (built with -mavx512f/bw/vl/dq,
 * -mfma, -mf16c). float32 compute format for every storage type (f16 through vcvtph2ps, bf16 by a
 * shift): register-blocked QK^T and PV with FMA, the online softmax and pooled scores of
 * cpu_avx512_softmax.h, and a 16x16 in-register transpose to pack keys. Also the bf16 packers
 * (pairs of dims for K, pairs of keys for V) and the vector output-row store shared with the
 * AVX512-BF16 and AMX levels, and the packers of f16 as exact bf16 pairs the AMX level's f16 kernels
 * read (cpu_internal.h, CPU_FMT_BF16X3). Needs head_dim % 16 == 0 (bf16 packers: % 32 == 0); the
 * backend falls back to the portable level otherwise. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "backends/cpu/cpu_avx512_shared.h"
#include "backends/cpu/cpu_internal.h"
#include "backends/cpu/cpu_avx512_softmax.h"


/* ---------------------------------------------------------------- helpers */
AI __m512 load16_f32(const void *src, ksa_dtype dtype, int32_t d)
{
    switch (dtype) {
    case KSA_DTYPE_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)src + d)));
    case KSA_DTYPE_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)src + d))), 16));
    default: return _mm512_loadu_ps((const float *)src + d);
    }
}

/* In-place transpose of 16 rows of 16 32-bit elements. */
AI void transpose16(__m512i r[16])
{
    __m512i t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int q = 0; q < 4; q++) {
        u[4 * q + 0] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        u[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    for (int j = 0; j < 4; j++) {
        __m512i v = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44), w = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
        __m512i v2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44), w2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
        r[j] = _mm512_shuffle_i32x4(v, v2, 0x88);
        r[4 + j] = _mm512_shuffle_i32x4(v, v2, 0xDD);
        r[8 + j] = _mm512_shuffle_i32x4(w, w2, 0x88);
        r[12 + j] = _mm512_shuffle_i32x4(w, w2, 0xDD);
    }
}

/* ---------------------------------------------------------------- f32 format */
static void load_row_f32(void *dst, const void *src, ksa_dtype dtype, int32_t D)
{
    float *out = dst;
    for (int32_t d = 0; d < D; d += 16) _mm512_storeu_ps(out + d, load16_f32(src, dtype, d));
}

static void pack_k_f32(void *kbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype, int32_t D)
{
    float *kt = kbuf; /* [D][nkp] */
    for (int32_t x0 = 0; x0 < nkp; x0 += 16)
        for (int32_t d0 = 0; d0 < D; d0 += 16) {
            __m512i r[16];
            for (int i = 0; i < 16; i++)
                r[i] = x0 + i < n ? _mm512_castps_si512(load16_f32(rows[x0 + i], dtype, d0)) : _mm512_setzero_si512();
            transpose16(r);
            for (int j = 0; j < 16; j++) _mm512_storeu_si512((void *)(kt + (size_t)(d0 + j) * nkp + x0), r[j]);
        }
}

static void pack_v_f32(void *vbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype, int32_t D)
{
    float *v = vbuf;
    for (int32_t x = 0; x < n; x++) load_row_f32(v + (size_t)x * D, rows[x], dtype, D);
    if (nkp > n) memset(v + (size_t)n * D, 0, (size_t)(nkp - n) * D * sizeof(float));
}

/* S rows m0 .. m0+R-1, keys x0 .. x0 + 16*NV - 1 */
AI void qk_tile(float *S, int32_t ldS, const float *Q, const float *kt, int32_t nkp, int32_t D, int32_t m0, int32_t x0,
                const int R, const int NV)
{
    __m512 acc[4][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    const float *q = Q + (size_t)m0 * D;
    const float *k = kt + x0;
    for (int32_t d = 0; d < D; d++) {
        __m512 kv[2];
        for (int v = 0; v < NV; v++) kv[v] = _mm512_loadu_ps(k + (size_t)d * nkp + 16 * v);
        for (int r = 0; r < R; r++) {
            __m512 qb = _mm512_set1_ps(q[(size_t)r * D + d]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(qb, kv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(S + (size_t)(m0 + r) * ldS + x0 + 16 * v, acc[r][v]);
}

AI void qk_rows(float *S, int32_t ldS, const float *Q, const float *kt, int32_t nkp, int32_t D, int32_t m0, const int R)
{
    int32_t x0 = 0;
    for (; x0 + 32 <= nkp; x0 += 32) qk_tile(S, ldS, Q, kt, nkp, D, m0, x0, R, 2);
    for (; x0 < nkp; x0 += 16) qk_tile(S, ldS, Q, kt, nkp, D, m0, x0, R, 1);
}

static void qk_f32(float *S, int32_t ldS, const void *Qv, const void *kbuf, int32_t Mp, int32_t nkp, int32_t D)
{
    const float *Q = Qv, *kt = kbuf;
    int32_t m0 = 0;
    for (; m0 + 4 <= Mp; m0 += 4) qk_rows(S, ldS, Q, kt, nkp, D, m0, 4);
    switch (Mp - m0) {
    case 3: qk_rows(S, ldS, Q, kt, nkp, D, m0, 3); break;
    case 2: qk_rows(S, ldS, Q, kt, nkp, D, m0, 2); break;
    case 1: qk_rows(S, ldS, Q, kt, nkp, D, m0, 1); break;
    default: break;
    }
}

static void softmax_f32(const float *S, int32_t ldS, void *Pv, int32_t ldP, const int32_t *lim, int32_t M, int32_t Mp,
                        int32_t nkp, float c, float *mx, float *l, float *corr)
{
    softmax_rows(S, ldS, Pv, ldP, lim, M, Mp, nkp, c, mx, l, corr, 0); /* nkp % 16 == 0 (key_align) */
}

/* O rows m0 .. m0+R-1, dims d0 .. d0 + 16*NV - 1 */
AI void pv_tile(float *O, const float *P, int32_t ldP, const float *V, const float *corr, int32_t nkp, int32_t D,
                int32_t m0, int32_t d0, const int R, const int NV)
{
    __m512 acc[4][4];
    for (int r = 0; r < R; r++) {
        __m512 cr = _mm512_set1_ps(corr[m0 + r]);
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_mul_ps(cr, _mm512_loadu_ps(O + (size_t)(m0 + r) * D + d0 + 16 * v));
    }
    for (int32_t x = 0; x < nkp; x++) {
        __m512 vv[4];
        for (int v = 0; v < NV; v++) vv[v] = _mm512_loadu_ps(V + (size_t)x * D + d0 + 16 * v);
        for (int r = 0; r < R; r++) {
            __m512 pb = _mm512_set1_ps(P[(size_t)(m0 + r) * ldP + x]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(pb, vv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(O + (size_t)(m0 + r) * D + d0 + 16 * v, acc[r][v]);
}

AI void pv_rows(float *O, const float *P, int32_t ldP, const float *V, const float *corr, int32_t nkp, int32_t D,
                int32_t m0, const int R)
{
    int32_t d0 = 0;
    for (; d0 + 64 <= D; d0 += 64) pv_tile(O, P, ldP, V, corr, nkp, D, m0, d0, R, 4);
    switch ((D - d0) / 16) {
    case 3: pv_tile(O, P, ldP, V, corr, nkp, D, m0, d0, R, 3); break;
    case 2: pv_tile(O, P, ldP, V, corr, nkp, D, m0, d0, R, 2); break;
    case 1: pv_tile(O, P, ldP, V, corr, nkp, D, m0, d0, R, 1); break;
    default: break;
    }
}

static void pv_f32(float *O, const void *Pv, int32_t ldP, const void *vbuf, const float *corr, int32_t M, int32_t Mp,
                   int32_t nkp, int32_t D)
{
    const float *P = Pv, *V = vbuf;
    int32_t m0 = 0;
    for (; m0 + 4 <= M; m0 += 4) pv_rows(O, P, ldP, V, corr, nkp, D, m0, 4);
    switch (M - m0) {
    case 3: pv_rows(O, P, ldP, V, corr, nkp, D, m0, 3); break;
    case 2: pv_rows(O, P, ldP, V, corr, nkp, D, m0, 2); break;
    case 1: pv_rows(O, P, ldP, V, corr, nkp, D, m0, 1); break;
    default: break;
    }
}

/* pooled[x] += sum over rows of 2^(c S - lse2): exp2_ps for the f32 level, the degree-3 exp for the
 * bf16 levels (7.5e-5 relative error against a bf16 score tolerance of 5e-3) */
AI void pool_rows(float *pooled, const float *S, int32_t ldS, const float *lse2, int32_t M, int32_t n, float c,
                  const int DEG3)
{
    __m512 vc = _mm512_set1_ps(c);
    for (int32_t x = 0; x < n; x += 16) {
        int32_t left = n - x;
        __mmask16 k = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        __m512 acc = _mm512_maskz_loadu_ps(k, pooled + x);
        for (int32_t m = 0; m < M; m++) {
            __m512 t = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, S + (size_t)m * ldS + x), vc, _mm512_set1_ps(lse2[m]));
            acc = _mm512_add_ps(acc, DEG3 ? exp2_ps_deg3(t) : exp2_ps(t));
        }
        _mm512_mask_storeu_ps(pooled + x, k, acc);
    }
}

void ksa_cpu_avx512_pool(float *pooled, const float *S, int32_t ldS, const float *lse2, int32_t M, int32_t n, float c)
{
    pool_rows(pooled, S, ldS, lse2, M, n, c, 0);
}

void ksa_cpu_avx512_pool_bf16(float *pooled, const float *S, int32_t ldS, const float *lse2, int32_t M, int32_t n, float c)
{
    pool_rows(pooled, S, ldS, lse2, M, n, c, 1);
}

/* ---------------------------------------------------------------- bf16 format (shared) */
/* 32 dims of two keys (a: even key, b: odd key) interleaved in pairs of keys: dims 0-15 (32 bf16) at
 * dst_lo, dims 16-31 at dst_hi */
AI void store_key_pair_split(uint16_t *dst_lo, uint16_t *dst_hi, __m512i a, __m512i b)
{
    __m512i lo = _mm512_unpacklo_epi16(a, b), hi = _mm512_unpackhi_epi16(a, b);
    __m512i first = _mm512_shuffle_i32x4(lo, hi, 0x44), second = _mm512_shuffle_i32x4(lo, hi, 0xEE);
    _mm512_storeu_si512((void *)dst_lo, _mm512_shuffle_i32x4(first, first, 0xD8)); /* dims 0-15 */
    _mm512_storeu_si512((void *)dst_hi, _mm512_shuffle_i32x4(second, second, 0xD8)); /* dims 16-31 */
}

void ksa_cpu_avx512_load_row_bf16(void *dst, const void *src, ksa_dtype dtype, int32_t D)
{
    memcpy(dst, src, (size_t)D * 2); /* bf16 format is only used for bf16 storage */
}

/* K in pairs of dims, 16 keys x 16 pairs at a time through a transpose: `tiles` 0 gives
 * Kp[D/2][nkp][2], pair (d2, x) at d2 * nkp + x; `tiles` 1 gives Kt[nkp/16][D/2][16][2] (below) */
AI void pack_k_pairs(uint32_t *kp, const void *const *rows, int32_t n, int32_t nkp, int32_t D, int tiles)
{
    int32_t D2 = D / 2;
    for (int32_t x0 = 0; x0 < nkp; x0 += 16)
        for (int32_t d20 = 0; d20 < D2; d20 += 16) {
            __m512i r[16];
            for (int i = 0; i < 16; i++)
                r[i] = x0 + i < n ? _mm512_loadu_si512((const void *)((const uint32_t *)rows[x0 + i] + d20))
                                  : _mm512_setzero_si512();
            transpose16(r);
            uint32_t *dst = tiles ? kp + ((size_t)(x0 / 16) * D2 + d20) * 16 : kp + (size_t)d20 * nkp + x0;
            const size_t step = tiles ? 16 : (size_t)nkp;
            for (int j = 0; j < 16; j++) _mm512_storeu_si512((void *)(dst + (size_t)j * step), r[j]);
        }
}

/* Kp[D/2][nkp][2]: 32-bit pair (d2, x) at (d2 * nkp + x); D % 32 == 0 */
void ksa_cpu_avx512_pack_k_bf16(void *kbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype, int32_t D)
{
    pack_k_pairs(kbuf, rows, n, nkp, D, 0);
}

/* V in pairs of keys, two keys x 32 dims at a time: `tiles` 0 gives Vp[nkp/2][D][2], bf16 (x, d) at
 * ((x / 2) * D + d) * 2 + (x & 1); `tiles` 1 gives Vt[D/16][nkp/2][16][2] (below) */
AI void pack_v_pairs(uint16_t *vp, const void *const *rows, int32_t n, int32_t nkp, int32_t D, int tiles)
{
    const size_t block = (size_t)nkp * 16; /* tiles: bf16 per 16-dim block, nkp/2 rows of 32 */
    for (int32_t x = 0; x < nkp; x += 2) {
        for (int32_t d0 = 0; d0 < D; d0 += 32) {
            __m512i a = x < n ? _mm512_loadu_si512((const void *)((const uint16_t *)rows[x] + d0)) : _mm512_setzero_si512();
            __m512i b = x + 1 < n ? _mm512_loadu_si512((const void *)((const uint16_t *)rows[x + 1] + d0))
                                  : _mm512_setzero_si512();
            uint16_t *lo = tiles ? vp + (size_t)(d0 / 16) * block + (size_t)(x / 2) * 32 : vp + (size_t)x * D + (size_t)d0 * 2;
            store_key_pair_split(lo, tiles ? lo + block : lo + 32, a, b);
        }
    }
}

/* Vp[nkp/2][D][2]; D % 32 == 0, nkp even */
void ksa_cpu_avx512_pack_v_bf16(void *vbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype, int32_t D)
{
    pack_v_pairs(vbuf, rows, n, nkp, D, 0);
}

/* The AMX level's tile-blocked bf16 layouts: every 16 x 64-byte tile its loops read is one
 * contiguous kilobyte (row stride 64 bytes), so a tile's rows spread over 16 L1 sets instead of the
 * 4 (K) or 8 (V) that the pair layouts' kilobyte and half-kilobyte row strides map them to.
 * Kt[nkp/16][D/2][16][2]: 32-bit pair (d2, x) at ((x / 16) * D/2 + d2) * 16 + x % 16; D % 32 == 0 */
void ksa_cpu_avx512_pack_k_bf16_tiles(void *kbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype,
                                      int32_t D)
{
    pack_k_pairs(kbuf, rows, n, nkp, D, 1);
}

/* Vt[D/16][nkp/2][16][2]: bf16 (x, d) at (((d / 16) * nkp/2 + x / 2) * 16 + d % 16) * 2 + (x & 1);
 * D % 32 == 0, nkp even */
void ksa_cpu_avx512_pack_v_bf16_tiles(void *vbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype,
                                      int32_t D)
{
    pack_v_pairs(vbuf, rows, n, nkp, D, 1);
}

/* ---------------------------------------------------------------- bf16 x3 format (f16 at AMX, shared) */
/* float32 bits rounded to their top 16 (round to nearest even) where `finite`, else truncated (a NaN
 * must not carry into the sign) */
AI __m512i round_top(__m512i u, __mmask16 finite, __m512i top)
{
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
    return _mm512_and_si512(_mm512_mask_mov_epi32(u, finite, r), top);
}

/* 32 f16 values into their bf16 high and low parts, in the same order: x = hi + lo exactly (an f16
 * has 11 significant bits; hi is x rounded to 8, |lo| <= 2^-8 |x| holds the other 3 or 4 and fits a
 * bf16, so both are the top halves of their float32 forms). Where x is infinite or NaN, hi carries it, lo is 0 and `fin`
 * (hi where x is finite, else 0) is 0: the products that pair a lo with the other operand's hi read
 * fin, so a lo of 0 never meets an infinity (0 x inf would be NaN where the reference has inf). */
AI void split_f16x32(const uint16_t *src, __m512i *hi, __m512i *lo, __m512i *fin)
{
    /* the odd 16-bit halves (the top of each float32) of two vectors, in order */
    static const uint16_t odd_idx[32] = {1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
                                         33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63};
    const __m512i odd = _mm512_loadu_si512((const void *)odd_idx), top = _mm512_set1_epi32((int)0xFFFF0000u);
    __m512i raw = _mm512_loadu_si512((const void *)src);
    __m512 a = _mm512_cvtph_ps(_mm512_castsi512_si256(raw)), b = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(raw, 1));
    /* fpclass 0x99: quiet NaN, +inf, -inf, signalling NaN */
    __mmask16 af = (__mmask16)~_mm512_fpclass_ps_mask(a, 0x99), bf = (__mmask16)~_mm512_fpclass_ps_mask(b, 0x99);
    __m512i ah = round_top(_mm512_castps_si512(a), af, top), bh = round_top(_mm512_castps_si512(b), bf, top);
    __m512 al = _mm512_maskz_sub_ps(af, a, _mm512_castsi512_ps(ah)), bl = _mm512_maskz_sub_ps(bf, b, _mm512_castsi512_ps(bh));
    *hi = _mm512_permutex2var_epi16(ah, odd, bh);
    *lo = _mm512_permutex2var_epi16(_mm512_castps_si512(al), odd, _mm512_castps_si512(bl));
    *fin = _mm512_permutex2var_epi16(_mm512_maskz_mov_epi32(af, ah), odd, _mm512_maskz_mov_epi32(bf, bh));
}

/* Q row [hi | lo | fin], 3 D bf16; D % 32 == 0, f16 storage */
void ksa_cpu_avx512_load_row_f16x3(void *dst, const void *src, ksa_dtype dtype, int32_t D)
{
    uint16_t *out = dst;
    for (int32_t d0 = 0; d0 < D; d0 += 32) {
        __m512i hi, lo, fin;
        split_f16x32((const uint16_t *)src + d0, &hi, &lo, &fin);
        _mm512_storeu_si512((void *)(out + d0), hi);
        _mm512_storeu_si512((void *)(out + D + d0), lo);
        _mm512_storeu_si512((void *)(out + 2 * (size_t)D + d0), fin);
    }
}

/* K of [hi | fin | lo] (3 D dims) in pairs of dims, tile-blocked as ksa_cpu_avx512_pack_k_bf16_tiles:
 * Kt[nkp/16][3D/2][16][2] */
void ksa_cpu_avx512_pack_k_f16x3_tiles(void *kbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype,
                                       int32_t D)
{
    uint32_t *kp = kbuf;
    int32_t D2 = D / 2;
    for (int32_t x0 = 0; x0 < nkp; x0 += 16)
        for (int32_t d20 = 0; d20 < D2; d20 += 16) {
            __m512i rh[16], rl[16], rf[16];
            for (int i = 0; i < 16; i++) {
                if (x0 + i < n) {
                    split_f16x32((const uint16_t *)rows[x0 + i] + 2 * d20, &rh[i], &rl[i], &rf[i]);
                } else {
                    rh[i] = rl[i] = rf[i] = _mm512_setzero_si512();
                }
            }
            transpose16(rh);
            transpose16(rf);
            transpose16(rl);
            uint32_t *group = kp + (size_t)(x0 / 16) * 3 * D2 * 16; /* this key group's 3 D / 2 pair rows */
            for (int j = 0; j < 16; j++) {
                _mm512_storeu_si512((void *)(group + (size_t)(d20 + j) * 16), rh[j]);
                _mm512_storeu_si512((void *)(group + (size_t)(D2 + d20 + j) * 16), rf[j]);
                _mm512_storeu_si512((void *)(group + (size_t)(2 * D2 + d20 + j) * 16), rl[j]);
            }
        }
}

/* V of keys [hi ; fin ; lo] (3 nkp keys) in pairs of keys, tile-blocked as
 * ksa_cpu_avx512_pack_v_bf16_tiles: Vt[D/16][3 nkp/2][16][2]; nkp even */
void ksa_cpu_avx512_pack_v_f16x3_tiles(void *vbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype,
                                       int32_t D)
{
    uint16_t *vp = vbuf;
    const size_t seg = (size_t)nkp * 16, block = (size_t)nkp * 48; /* bf16 per key segment, per 16-dim block */
    for (int32_t x = 0; x < nkp; x += 2) {
        for (int32_t d0 = 0; d0 < D; d0 += 32) {
            __m512i ah = _mm512_setzero_si512(), al = ah, af = ah, bh = ah, bl = ah, bf = ah;
            if (x < n) split_f16x32((const uint16_t *)rows[x] + d0, &ah, &al, &af);
            if (x + 1 < n) split_f16x32((const uint16_t *)rows[x + 1] + d0, &bh, &bl, &bf);
            uint16_t *lo = vp + (size_t)(d0 / 16) * block + (size_t)(x / 2) * 32, *hi = lo + block;
            store_key_pair_split(lo, hi, ah, bh);
            store_key_pair_split(lo + seg, hi + seg, af, bf);
            store_key_pair_split(lo + 2 * seg, hi + 2 * seg, al, bl);
        }
    }
}

/* one output row: dst[d] = src[d] * scale in the storage type */
void ksa_cpu_avx512_store_row(void *dst, const float *src, float scale, ksa_dtype dtype, int32_t D)
{
    __m512 vs = _mm512_set1_ps(scale);
    for (int32_t d = 0; d < D; d += 16) {
        __m512 v = _mm512_mul_ps(_mm512_loadu_ps(src + d), vs);
        if (dtype == KSA_DTYPE_F32) {
            _mm512_storeu_ps((float *)dst + d, v);
        } else if (dtype == KSA_DTYPE_F16) {
            _mm256_storeu_si256((__m256i *)((uint16_t *)dst + d), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        } else { /* bf16, NaN kept quiet */
            _mm256_storeu_si256((__m256i *)((uint16_t *)dst + d), to_bf16(v));
        }
    }
}

static const cpu_kernels avx512_f32 = {
    .name = "avx512.f32",
    .fmt = CPU_FMT_F32,
    .row_align = 1,
    .key_align = 16,
    .load_row = load_row_f32,
    .pack_k = pack_k_f32,
    .pack_v = pack_v_f32,
    .qk = qk_f32,
    .softmax = softmax_f32,
    .pv = pv_f32,
    .pool = ksa_cpu_avx512_pool,
    .store_row = ksa_cpu_avx512_store_row,
};

const cpu_kernels *ksa_cpu_kernels_avx512_f32(void) { return &avx512_f32; }
