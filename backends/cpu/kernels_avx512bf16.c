/* kernels_avx512bf16.c: the AVX512-BF16 kernel set of the AVX-512 level (built with
 * -mavx512bf16 in its own file, used only when the CPU reports AVX512-BF16 and the storage is
 * bf16): QK^T and PV as vdpbf16ps dot products of bf16 pairs accumulated in float32, on the packed
 * layouts of cpu_internal.h (CPU_FMT_BF16). Probabilities are rounded to bf16 for PV (the bf16
 * tolerance of docs/SEMANTICS.md allows it). Needs head_dim % 32 == 0. */
#include <immintrin.h>
#include <string.h>

#include "backends/cpu/cpu_avx512_shared.h"
#include "backends/cpu/cpu_avx512_softmax.h"
#include "backends/cpu/cpu_internal.h"


AI __m512bh as_bh(__m512i v) { return (__m512bh)v; }

/* S rows m0 .. m0+R-1, keys x0 .. x0+16*NV-1: sum over pairs of dims */
AI void qk_tile(float *S, int32_t ldS, const uint32_t *Q, const uint32_t *kp, int32_t nkp, int32_t D2, int32_t m0,
                int32_t x0, const int R, const int NV)
{
    __m512 acc[4][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (int32_t d2 = 0; d2 < D2; d2++) {
        __m512i kv[2];
        for (int v = 0; v < NV; v++) kv[v] = _mm512_loadu_si512((const void *)(kp + (size_t)d2 * nkp + x0 + 16 * v));
        for (int r = 0; r < R; r++) {
            __m512i qb = _mm512_set1_epi32((int)Q[(size_t)(m0 + r) * D2 + d2]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], as_bh(qb), as_bh(kv[v]));
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(S + (size_t)(m0 + r) * ldS + x0 + 16 * v, acc[r][v]);
}

AI void qk_rows(float *S, int32_t ldS, const uint32_t *Q, const uint32_t *kp, int32_t nkp, int32_t D2, int32_t m0, const int R)
{
    for (int32_t x0 = 0; x0 < nkp; x0 += 32) qk_tile(S, ldS, Q, kp, nkp, D2, m0, x0, R, 2);
}

static void qk_bf16(float *S, int32_t ldS, const void *Qv, const void *kbuf, int32_t Mp, int32_t nkp, int32_t D)
{
    const uint32_t *Q = Qv, *kp = kbuf;
    int32_t D2 = D / 2, m0 = 0;
    for (; m0 + 4 <= Mp; m0 += 4) qk_rows(S, ldS, Q, kp, nkp, D2, m0, 4);
    switch (Mp - m0) {
    case 3: qk_rows(S, ldS, Q, kp, nkp, D2, m0, 3); break;
    case 2: qk_rows(S, ldS, Q, kp, nkp, D2, m0, 2); break;
    case 1: qk_rows(S, ldS, Q, kp, nkp, D2, m0, 1); break;
    default: break;
    }
}

/* O rows m0 .. m0+R-1, dims d0 .. d0+16*NV-1: sum over pairs of keys */
AI void pv_tile(float *O, const uint32_t *P, int32_t ldP2, const uint32_t *vp, const float *corr, int32_t nk2, int32_t D,
                int32_t m0, int32_t d0, const int R, const int NV)
{
    __m512 acc[4][4];
    for (int r = 0; r < R; r++) {
        __m512 cr = _mm512_set1_ps(corr[m0 + r]);
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_mul_ps(cr, _mm512_loadu_ps(O + (size_t)(m0 + r) * D + d0 + 16 * v));
    }
    for (int32_t x2 = 0; x2 < nk2; x2++) {
        __m512i vv[4];
        for (int v = 0; v < NV; v++) vv[v] = _mm512_loadu_si512((const void *)(vp + (size_t)x2 * D + d0 + 16 * v));
        for (int r = 0; r < R; r++) {
            __m512i pb = _mm512_set1_epi32((int)P[(size_t)(m0 + r) * ldP2 + x2]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], as_bh(pb), as_bh(vv[v]));
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(O + (size_t)(m0 + r) * D + d0 + 16 * v, acc[r][v]);
}

AI void pv_rows(float *O, const uint32_t *P, int32_t ldP2, const uint32_t *vp, const float *corr, int32_t nk2, int32_t D,
                int32_t m0, const int R)
{
    int32_t d0 = 0;
    for (; d0 + 64 <= D; d0 += 64) pv_tile(O, P, ldP2, vp, corr, nk2, D, m0, d0, R, 4);
    if (D - d0 == 32) pv_tile(O, P, ldP2, vp, corr, nk2, D, m0, d0, R, 2);
}

static void pv_bf16(float *O, const void *Pv, int32_t ldP, const void *vbuf, const float *corr, int32_t M, int32_t Mp,
                    int32_t nkp, int32_t D)
{
    const uint32_t *P = Pv, *vp = vbuf;
    int32_t ldP2 = ldP / 2, nk2 = nkp / 2, m0 = 0;
    for (; m0 + 4 <= M; m0 += 4) pv_rows(O, P, ldP2, vp, corr, nk2, D, m0, 4);
    switch (M - m0) {
    case 3: pv_rows(O, P, ldP2, vp, corr, nk2, D, m0, 3); break;
    case 2: pv_rows(O, P, ldP2, vp, corr, nk2, D, m0, 2); break;
    case 1: pv_rows(O, P, ldP2, vp, corr, nk2, D, m0, 1); break;
    default: break;
    }
}

static void softmax_bf16(const float *S, int32_t ldS, void *P, int32_t ldP, const int32_t *lim, int32_t M, int32_t Mp,
                         int32_t nkp, float c, float *mx, float *l, float *corr)
{
    softmax_rows(S, ldS, P, ldP, lim, M, Mp, nkp, c, mx, l, corr, 1);
}

static const cpu_kernels avx512_bf16 = {
    .name = "avx512.bf16dot",
    .fmt = CPU_FMT_BF16,
    .row_align = 1,
    .key_align = 32,
    .load_row = ksa_cpu_avx512_load_row_bf16,
    .pack_k = ksa_cpu_avx512_pack_k_bf16,
    .pack_v = ksa_cpu_avx512_pack_v_bf16,
    .qk = qk_bf16,
    .softmax = softmax_bf16,
    .pv = pv_bf16,
    .pool = ksa_cpu_avx512_pool_bf16,
    .store_row = ksa_cpu_avx512_store_row,
};

const cpu_kernels *ksa_cpu_kernels_avx512_bf16(void) { return &avx512_bf16; }
