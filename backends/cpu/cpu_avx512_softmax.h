/* cpu_avx512_softmax.h: the AVX-512 online-softmax pieces every vector level inlines (each file is
 * compiled with its own ISA flags): a vector exp2 (range reduction by vreduceps, degree-5
 * polynomial, vscalefps), and a cheaper degree-3 one for probabilities that are rounded to bf16
 * anyway, f32 -> bf16 rounding (vcvtne2ps2bf16 on pairs of vectors where the file is built with
 * AVX512-BF16, integer rounding otherwise)
 * and the per-row update with a lazily raised running max: the max moves only when a block's max
 * exceeds it by more than 8 (base 2), so probabilities stay <= 256 and most blocks leave the output
 * rows unscaled (corr == 1). Such blocks take one pass over the scores (exponentials against the
 * old max, their sum checked after it); only a block that raises the max takes a second. */
#ifndef KSA_CPU_AVX512_SOFTMAX_H
#define KSA_CPU_AVX512_SOFTMAX_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define AI static inline __attribute__((always_inline))

/* 2^t = 2^f x 2^floor(t), f = t - floor(t) in [0, 1): vreduceps (imm 0x09: no fraction bits kept,
 * rounding down, no precision exception) gives f in one instruction, and vscalefps multiplies by
 * 2^floor(t) itself (it floors its second operand), so no roundscale, subtraction or clamp is
 * needed: t = -inf gives 0, NaN gives NaN, very negative t underflows to 0. The polynomials were
 * fitted on [-0.5, 0.5] for relative error and are moved here to [0, 1) (2^f = sqrt(2) 2^(f - 1/2)),
 * with the same relative error. Measured on an AMX Xeon (bench/NOTES.md, forty-third session): the
 * bf16 softmax loop 7.0 -> 5.0 time-stamp ticks per 16 scores, with the paired conversion below. */
#define KSA_EXP2_REDUCE_IMM 0x09

/* degree 5, relative error ~3.2e-6 */
AI __m512 exp2_ps(__m512 t)
{
    __m512 f = _mm512_reduce_ps(t, KSA_EXP2_REDUCE_IMM);
    __m512 p = _mm512_set1_ps(1.88564986e-3f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(8.8879643e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.60046099e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.240035653f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.693185806f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.999996781f));
    return _mm512_scalef_ps(p, t);
}

/* degree 3, relative error 7.5e-5: for probabilities that are rounded to bf16 (relative step
 * 3.9e-3) right after */
AI __m512 exp2_ps_deg3(__m512 t)
{
    __m512 f = _mm512_reduce_ps(t, KSA_EXP2_REDUCE_IMM);
    __m512 p = _mm512_set1_ps(7.80228898e-2f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.226066843f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.695835114f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.999924898f));
    return _mm512_scalef_ps(p, t);
}

/* f32 -> bf16, round to nearest even; NaN stays a quiet NaN */
AI __m256i to_bf16(__m512 v)
{
#if defined(__AVX512BF16__)
    return (__m256i)_mm512_cvtneps_pbh(v);
#else
    __m512i u = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(r);
#endif
}

#define KSA_CPU_LAZY_MAX 8.0f
#define KSA_CPU_LAZY_SUM 256.0f /* 2^KSA_CPU_LAZY_MAX */

/* BF16OUT: 0 f32 probabilities, 1 bf16, 2 bf16 in three segments of `seg` elements, [hi | lo | hi]
 * (hi = e rounded to bf16, lo = the rest rounded to bf16: within 2^-17 of e together; the f16
 * kernels of the AMX level multiply them by [V hi; V fin; V lo], kernels_amx.c) */
AI void store_p(void *p, int32_t x, __m512 e, const int BF16OUT, int32_t seg)
{
    if (BF16OUT == 2) {
        __m256i hb = to_bf16(e);
        __m512 h = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(hb), 16));
        __m256i lb = to_bf16(_mm512_sub_ps(e, h));
        uint16_t *q = (uint16_t *)p + x;
        _mm256_storeu_si256((__m256i *)q, hb);
        _mm256_storeu_si256((__m256i *)(q + seg), lb);
        _mm256_storeu_si256((__m256i *)(q + 2 * (size_t)seg), hb);
    } else if (BF16OUT) {
        _mm256_storeu_si256((__m256i *)((uint16_t *)p + x), to_bf16(e));
    } else {
        _mm512_storeu_ps((float *)p + x, e);
    }
}

/* degree 3 only for probabilities that are rounded to one bf16 */
AI __m512 exp2_for(__m512 t, const int BF16OUT) { return BF16OUT == 1 ? exp2_ps_deg3(t) : exp2_ps(t); }

/* The exponentials 2^(c s - max) of one row's visible keys (nfull whole vectors and a tail mask)
 * into p, and their sum. */
AI __m512 exp_row(const float *s, void *p, int32_t nfull, __mmask16 tail, __m512 vc, __m512 vn, const int BF16OUT,
                  int32_t seg)
{
    __m512 vsum = _mm512_setzero_ps();
    int32_t x = 0;
#if defined(__AVX512BF16__)
    /* bf16 out: two vectors per step, rounded and packed by one vcvtne2ps2bf16 (one 512-bit store
     * instead of two 256-bit conversions and stores) */
    if (BF16OUT == 1)
        for (; x + 32 <= nfull; x += 32) {
            __m512 t0 = _mm512_fmsub_ps(_mm512_loadu_ps(s + x), vc, vn);
            __m512 t1 = _mm512_fmsub_ps(_mm512_loadu_ps(s + x + 16), vc, vn);
            __m512 e0 = exp2_ps_deg3(t0), e1 = exp2_ps_deg3(t1);
            vsum = _mm512_add_ps(vsum, _mm512_add_ps(e0, e1));
            _mm512_storeu_si512((void *)((uint16_t *)p + x), (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
        }
#endif
    for (; x < nfull; x += 16) {
        __m512 t = _mm512_fmsub_ps(_mm512_loadu_ps(s + x), vc, vn);
        __m512 e = exp2_for(t, BF16OUT);
        vsum = _mm512_add_ps(vsum, e);
        store_p(p, x, e, BF16OUT, seg);
    }
    if (tail) {
        __m512 t = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(tail, s + x), vc, vn);
        __m512 e = _mm512_maskz_mov_ps(tail, exp2_for(t, BF16OUT));
        vsum = _mm512_add_ps(vsum, e);
        store_p(p, x, e, BF16OUT, seg);
    }
    return vsum;
}

/* Online softmax of one row: probabilities of keys x < n (0 up to nkp) into p, in the form BF16OUT
 * says (store_p). c > 0, so the block max of c*s is c times the max of s. */
AI void softmax_row(const float *s, void *p, int32_t n, int32_t nkp, float c, float *mx, float *l, float *corr,
                    const int BF16OUT)
{
    int32_t nfull = n & ~15;
    __mmask16 tail = (__mmask16)((1u << (n - nfull)) - 1u);
    int32_t written = n == 0 ? 0 : nfull + (tail ? 16 : 0); /* P columns exp_row writes */
    for (int32_t x = written; x < nkp; x += 16) store_p(p, x, _mm512_setzero_ps(), BF16OUT, nkp);
    if (n == 0) { /* no visible key in this block: state unchanged */
        *corr = 1.0f;
        return;
    }
    __m512 vc = _mm512_set1_ps(c);
    /* one pass against the running max, unchecked: valid when no base-2 logit exceeds the max by
     * more than the lazy margin. Every exponential is >= 0, so a sum <= 2^margin shows that at once
     * (a NaN or +inf sum fails it); otherwise the block's max decides, and only a block that
     * raises the max is exponentiated again. The outcome is the two-pass path's either way; a
     * per-vector compare in the loop cost ~15% of the softmax's instructions. */
    const int lazy = *mx != -INFINITY && *mx == *mx;
    float first_sum = 0.0f;
    if (lazy) {
        first_sum = _mm512_reduce_add_ps(exp_row(s, p, nfull, tail, vc, _mm512_set1_ps(*mx), BF16OUT, nkp));
        if (first_sum <= KSA_CPU_LAZY_SUM) {
            *corr = 1.0f;
            *l += first_sum;
            return;
        }
    }
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int32_t x = 0; x < nfull; x += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(s + x));
    if (tail) vmax = _mm512_mask_max_ps(vmax, tail, vmax, _mm512_maskz_loadu_ps(tail, s + nfull));
    /* the max may skip NaN scores: exp2 of them is NaN all the same, and so is the sum. NaN
     * scores, a +inf score or only -inf scores leave the row NaN (IEEE as written) */
    float bmax = _mm512_reduce_max_ps(vmax) * c;
    float nmax = bmax > *mx + KSA_CPU_LAZY_MAX ? bmax : *mx;
    if (lazy && nmax == *mx) { /* the max stays: the first pass's exponentials and sum hold */
        *corr = 1.0f;
        *l += first_sum;
        return;
    }
    *corr = nmax == *mx ? 1.0f : exp2f(*mx - nmax);
    __m512 vsum = exp_row(s, p, nfull, tail, vc, _mm512_set1_ps(nmax), BF16OUT, nkp);
    *l = *l * *corr + _mm512_reduce_add_ps(vsum);
    *mx = nmax;
}

/* rows M..Mp-1 of P are zero; rows below M get softmax_row. A row of P takes ldP elements (BF16OUT
 * 2: three segments, 3 ldP). */
AI void softmax_rows(const float *S, int32_t ldS, void *P, int32_t ldP, const int32_t *lim, int32_t M, int32_t Mp,
                     int32_t nkp, float c, float *mx, float *l, float *corr, const int BF16OUT)
{
    size_t row = (size_t)ldP * (BF16OUT == 2 ? 6 : BF16OUT ? 2 : 4);
    for (int32_t m = 0; m < M; m++)
        softmax_row(S + (size_t)m * ldS, (char *)P + (size_t)m * row, lim[m], nkp, c, &mx[m], &l[m], &corr[m], BF16OUT);
    for (int32_t m = M; m < Mp; m++)
        for (int32_t x = 0; x < nkp; x += 16) store_p((char *)P + (size_t)m * row, x, _mm512_setzero_ps(), BF16OUT, nkp);
}

#endif /* KSA_CPU_AVX512_SOFTMAX_H */
