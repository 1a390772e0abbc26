/* f16_accuracy.c: ksa-f16-accuracy, the measurement behind the CPU backend's f16 policy (issue 15:
 * "f16 through AVX512-FP16 / AMX-FP16 instead of the float32 path, if it keeps the f16 tolerance").
 * It computes attention rows the way an AVX512-FP16 kernel would (products and sums rounded to
 * IEEE binary16 at every step, in the kernel's order) and compares them, with the float64 answer as
 * the reference, against the f16 tolerance of dispatch/check.c (atol 2e-3 + rtol 2e-3 |ref|, lse
 * 1e-3). Binary16 arithmetic is exactly specified, so the numbers are the same on any machine: with
 * -mavx512fp16 the compiler emits the native instructions, elsewhere it rounds through float.
 * Inputs as in the test grid: q, k uniform in [-2, 2], v in [-1, 1], rounded to f16.
 * Variants (QK accumulation / PV accumulation):
 *   f32/f32      the current avx512.f32 path (f16 converted to f32, f32 FMAs)
 *   f16/f32      QK^T summed over d in f16 lanes (one vfmadd*ph per d), PV in f32
 *   f32/f16blk   PV products and sums in f16 within each block of 32 keys, blocks added in f32
 *   f16/f16blk   both
 *   f32/f16row   PV summed in f16 over the whole row (no f32 accumulator at all)
 * Output: one JSON line per (variant, D, keys): the worst element's error in units of the tolerance
 * (> 1 fails the test grid's check).
 * Then the range question: the kernels' probabilities are 2^(s - running max) with the max raised
 * lazily (up to 2^8 = 256 before it moves), and real V rows are not bounded by 1. "range" lines
 * run f32/f16blk with probabilities scaled by 256 (the largest the lazy max allows) and V scaled by
 * 1, 16, 128 and 1024, and count the 32-key blocks whose f16 sum overflowed to infinity. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef _Float16 h16;

static uint64_t state = 0x9e3779b97f4a7c15ull;
static double uniform(double lo, double hi)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return lo + (hi - lo) * ((double)(state >> 11) / 9007199254740992.0);
}

/* a * b + c rounded to f16 as vfmadd*ph does (the product is exact in double; the sum is rounded to
 * double first, which can differ from one rounding only in the last bit of rare ties) */
static h16 fma16(h16 a, h16 b, h16 c) { return (h16)((double)a * (double)b + (double)c); }

enum { QK32 = 0, QK16 = 1 };
enum { PV32 = 0, PV16BLK = 1, PV16ROW = 2 };

#define MAXD 256
#define MAXN 4096

static h16 q[MAXD], k[MAXN][MAXD], v[MAXN][MAXD];

/* one row over n keys: worst |o - ref| / (atol + rtol |ref|) and the lse error / lse_atol */
static double v_scale = 1.0; /* V's magnitude: atol scales with it */
static double p_scale = 1.0; /* probabilities as the kernel holds them: up to 2^8 with the lazy max */
static long overflows;

static void row(int D, int n, int qk, int pv, double *worst_o, double *worst_lse)
{
    static double s[MAXN], sref[MAXN];
    double scale = 1.0 / sqrt((double)D);
    for (int x = 0; x < n; x++) {
        double r = 0;
        for (int d = 0; d < D; d++) r += (double)q[d] * (double)k[x][d];
        sref[x] = r * scale;
        if (qk == QK16) {
            h16 acc = 0;
            for (int d = 0; d < D; d++) acc = fma16(q[d], k[x][d], acc);
            s[x] = (double)acc * scale;
        } else {
            float acc = 0;
            for (int d = 0; d < D; d++) acc = fmaf((float)q[d], (float)k[x][d], acc);
            s[x] = (double)acc * scale;
        }
    }
    double mref = -INFINITY, m = -INFINITY;
    for (int x = 0; x < n; x++) {
        if (sref[x] > mref) mref = sref[x];
        if (s[x] > m) m = s[x];
    }
    double lref = 0, l = 0;
    for (int x = 0; x < n; x++) {
        lref += exp(sref[x] - mref);
        l += (float)exp(s[x] - m); /* the softmax itself stays f32 in every variant */
    }
    *worst_lse = fabs((m + log(l)) - (mref + log(lref))) / 1e-3;
    double worst = 0;
    for (int d = 0; d < D; d++) {
        double oref = 0;
        for (int x = 0; x < n; x++) oref += exp(sref[x] - mref) * (double)v[x][d];
        oref /= lref;
        double o;
        if (pv == PV32) {
            float acc = 0;
            for (int x = 0; x < n; x++) acc = fmaf((float)exp(s[x] - m), (float)v[x][d], acc);
            o = acc / l;
        } else if (pv == PV16BLK) {
            float acc = 0;
            for (int x0 = 0; x0 < n; x0 += 32) {
                h16 blk = 0;
                for (int x = x0; x < x0 + 32 && x < n; x++) blk = fma16((h16)(exp(s[x] - m) * p_scale), v[x][d], blk);
                if (isinf((float)blk)) overflows++;
                acc += (float)blk;
            }
            o = acc / (l * p_scale);
        } else {
            h16 acc = 0;
            for (int x = 0; x < n; x++) acc = fma16((h16)exp(s[x] - m), v[x][d], acc);
            o = (double)acc / l;
        }
        double e = fabs(o - oref) / (2e-3 * v_scale + 2e-3 * fabs(oref)); /* atol scales with V */
        if (e > worst) worst = e;
    }
    *worst_o = worst;
}

int main(void)
{
    static const struct {
        const char *name;
        int qk, pv;
    } variants[] = {{"f32/f32", QK32, PV32},
                    {"f16/f32", QK16, PV32},
                    {"f32/f16blk", QK32, PV16BLK},
                    {"f16/f16blk", QK16, PV16BLK},
                    {"f32/f16row", QK32, PV16ROW}};
    static const int dims[] = {64, 128, 256};
    static const int lens[] = {64, 1024, 4096};
    const int rows = 16;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            int D = dims[di], n = lens[li];
            double worst[5][2] = {{0}};
            for (int r = 0; r < rows; r++) {
                for (int d = 0; d < D; d++) q[d] = (h16)uniform(-2, 2);
                for (int x = 0; x < n; x++)
                    for (int d = 0; d < D; d++) {
                        k[x][d] = (h16)uniform(-2, 2);
                        v[x][d] = (h16)uniform(-1, 1);
                    }
                for (int vi = 0; vi < 5; vi++) {
                    double wo, wl;
                    row(D, n, variants[vi].qk, variants[vi].pv, &wo, &wl);
                    if (wo > worst[vi][0]) worst[vi][0] = wo;
                    if (wl > worst[vi][1]) worst[vi][1] = wl;
                }
            }
            for (int vi = 0; vi < 5; vi++)
                printf("{\"op\":\"f16_accuracy\",\"variant\":\"%s\",\"D\":%d,\"keys\":%d,\"rows\":%d,"
                       "\"worst_o_in_tolerances\":%.3f,\"worst_lse_in_tolerances\":%.3f,\"passes\":%s}\n",
                       variants[vi].name, D, n, rows, worst[vi][0], worst[vi][1],
                       worst[vi][0] <= 1.0 && worst[vi][1] <= 1.0 ? "true" : "false");
        }
    /* the range of f16 sums: probabilities at the lazy max's top (x256), V rows scaled up */
    static const double vscales[] = {1, 16, 128, 1024};
    p_scale = 256.0;
    for (size_t si = 0; si < sizeof vscales / sizeof vscales[0]; si++) {
        v_scale = vscales[si];
        const int D = 128, n = 1024;
        double worst = 0, wl;
        overflows = 0;
        for (int r = 0; r < rows; r++) {
            for (int d = 0; d < D; d++) q[d] = (h16)uniform(-2, 2);
            for (int x = 0; x < n; x++)
                for (int d = 0; d < D; d++) {
                    k[x][d] = (h16)uniform(-2, 2);
                    v[x][d] = (h16)(uniform(-1, 1) * v_scale);
                }
            double wo;
            row(D, n, QK32, PV16BLK, &wo, &wl);
            if (wo > worst) worst = wo;
        }
        printf("{\"op\":\"f16_range\",\"variant\":\"f32/f16blk\",\"p_scale\":256,\"v_scale\":%g,\"D\":%d,\"keys\":%d,"
               "\"rows\":%d,\"blocks_overflowed\":%ld,\"worst_o_in_tolerances\":%.3g}\n",
               v_scale, D, n, rows, overflows, worst);
    }
    return 0;
}
