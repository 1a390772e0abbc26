/* kernels_portable.c: the portable C kernel level of the CPU backend (no ISA flags beyond the
 * compiler's baseline): float32 compute format for every storage type and any head dim. Also the
 * fallback of the higher levels for shapes their vector kernels do not cover. */
#include <math.h>
#include <string.h>

#include "backends/cpu/cpu_internal.h"
#include "ksa_half.h"

static inline float load_one(const void *src, ksa_dtype dtype, int32_t d)
{
    switch (dtype) {
    case KSA_DTYPE_F16: return ksa_f16_to_f32(((const uint16_t *)src)[d]);
    case KSA_DTYPE_BF16: return ksa_bf16_to_f32(((const uint16_t *)src)[d]);
    default: return ((const float *)src)[d];
    }
}

void ksa_cpu_portable_load_row_f32(void *dst, const void *src, ksa_dtype dtype, int32_t D)
{
    float *out = dst;
    if (dtype == KSA_DTYPE_F32) {
        memcpy(out, src, (size_t)D * sizeof(float));
        return;
    }
    for (int32_t d = 0; d < D; d++) out[d] = load_one(src, dtype, d);
}

void ksa_cpu_portable_store_row(void *dst, const float *src, float scale, ksa_dtype dtype, int32_t D)
{
    for (int32_t d = 0; d < D; d++) {
        float x = src[d] * scale;
        switch (dtype) {
        case KSA_DTYPE_F16: ((uint16_t *)dst)[d] = ksa_f32_to_f16(x); break;
        case KSA_DTYPE_BF16: ((uint16_t *)dst)[d] = ksa_f32_to_bf16(x); break;
        default: ((float *)dst)[d] = x; break;
        }
    }
}

static void pack_k_f32(void *kbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype, int32_t D)
{
    float *kt = kbuf; /* [D][nkp] */
    for (int32_t x = 0; x < n; x++)
        for (int32_t d = 0; d < D; d++) kt[(size_t)d * nkp + x] = load_one(rows[x], dtype, d);
    for (int32_t d = 0; d < D; d++)
        for (int32_t x = n; x < nkp; x++) kt[(size_t)d * nkp + x] = 0.0f;
}

static void pack_v_f32(void *vbuf, const void *const *rows, int32_t n, int32_t nkp, ksa_dtype dtype, int32_t D)
{
    float *v = vbuf; /* [nkp][D] */
    for (int32_t x = 0; x < n; x++) ksa_cpu_portable_load_row_f32(v + (size_t)x * D, rows[x], dtype, D);
    if (nkp > n) memset(v + (size_t)n * D, 0, (size_t)(nkp - n) * D * sizeof(float));
}

static void qk_f32(float *S, int32_t ldS, const void *Qv, const void *kbuf, int32_t Mp, int32_t nkp, int32_t D)
{
    const float *Q = Qv, *kt = kbuf;
    for (int32_t m = 0; m < Mp; m++) {
        float *srow = S + (size_t)m * ldS;
        const float *q = Q + (size_t)m * D;
        for (int32_t x = 0; x < nkp; x++) srow[x] = 0.0f;
        for (int32_t d = 0; d < D; d++) {
            const float qd = q[d], *kd = kt + (size_t)d * nkp;
            for (int32_t x = 0; x < nkp; x++) srow[x] += qd * kd[x];
        }
    }
}

static void softmax_f32(const float *S, int32_t ldS, void *Pv, int32_t ldP, const int32_t *lim, int32_t M, int32_t Mp,
                        int32_t nkp, float c, float *mx, float *l, float *corr)
{
    float *P = Pv;
    for (int32_t m = 0; m < M; m++) {
        const float *s = S + (size_t)m * ldS;
        float *pr = P + (size_t)m * ldP;
        int32_t n = lim[m];
        if (n == 0) { /* no visible key in this block: state unchanged */
            corr[m] = 1.0f;
            for (int32_t x = 0; x < nkp; x++) pr[x] = 0.0f;
            continue;
        }
        float bmax = -INFINITY;
        for (int32_t x = 0; x < n; x++) bmax = fmaxf(bmax, s[x] * c);
        float nmax = fmaxf(mx[m], bmax);
        /* IEEE as written (docs/SEMANTICS.md): NaN scores, a +inf score or only -inf scores give
         * NaN probabilities and a NaN sum; the row stays NaN */
        corr[m] = exp2f(mx[m] - nmax);
        float sum = 0.0f;
        for (int32_t x = 0; x < n; x++) {
            pr[x] = exp2f(s[x] * c - nmax);
            sum += pr[x];
        }
        for (int32_t x = n; x < nkp; x++) pr[x] = 0.0f;
        l[m] = l[m] * corr[m] + sum;
        mx[m] = nmax;
    }
    for (int32_t m = M; m < Mp; m++) memset(P + (size_t)m * ldP, 0, (size_t)nkp * sizeof(float));
}

static void pv_f32(float *O, const void *Pv, int32_t ldP, const void *vbuf, const float *corr, int32_t M, int32_t Mp,
                   int32_t nkp, int32_t D)
{
    const float *P = Pv, *V = vbuf;
    for (int32_t m = 0; m < M; m++) {
        float *o = O + (size_t)m * D;
        const float *pr = P + (size_t)m * ldP;
        const float cm = corr[m];
        for (int32_t d = 0; d < D; d++) o[d] *= cm;
        for (int32_t x = 0; x < nkp; x++) {
            const float w = pr[x], *v = V + (size_t)x * D;
            if (w == 0.0f) continue;
            for (int32_t d = 0; d < D; d++) o[d] += w * v[d];
        }
    }
}

static void pool_f32(float *pooled, const float *S, int32_t ldS, const float *lse2, int32_t M, int32_t n, float c)
{
    for (int32_t m = 0; m < M; m++) {
        const float *s = S + (size_t)m * ldS;
        const float l2 = lse2[m];
        for (int32_t x = 0; x < n; x++) pooled[x] += exp2f(s[x] * c - l2);
    }
}

static const cpu_kernels portable_kernels = {
    .name = "portable.f32",
    .fmt = CPU_FMT_F32,
    .row_align = 1,
    .key_align = 1,
    .load_row = ksa_cpu_portable_load_row_f32,
    .pack_k = pack_k_f32,
    .pack_v = pack_v_f32,
    .qk = qk_f32,
    .softmax = softmax_f32,
    .pv = pv_f32,
    .pool = pool_f32,
    .store_row = ksa_cpu_portable_store_row,
};

const cpu_kernels *ksa_cpu_kernels_portable(void) { return &portable_kernels; }
