/* ksa_attention.cl: the OpenCL C kernels of the ksa OpenCL backend, compiled at run time with
 * build options from the chosen configuration:
 *   -DKSA_DTYPE=1|2|3 (f32, f16, bf16 storage), -DKSA_HEAD_DIM=D, -DKSA_ROWS=R (query rows per
 *   work-group), -DKSA_TPR=TPR (work-items per row), -DKSA_BLOCK_K=BK (keys per block),
 *   -DKSA_TOPK_WG=N (work-group size of the Top-k kernel), -DKSA_HAS_FP16 (f16 through
 *   cl_khr_fp16 where the device has it).
 * Kernels:
 *   ksa_attend   flash-style attention of R (query, head) rows of one KV head over a key set made of
 *                an optional gathered index list plus one contiguous key range (causal from 0,
 *                the tile's own keys, or a decode window); online softmax in float32; optional
 *                split of the key set (flash-decoding) with partial results in the workspace.
 *   ksa_combine  merges the split partials into o / lse.
 *   ksa_pool     pooled post-softmax scores S[j] of one query tile and KV head (ANCHOR).
 *   ksa_topk     radix selection of the count_t largest pooled scores (ties: smaller index) and
 *                the index / count outputs (ANCHOR).
 *   ksa_meta     the per-sequence part of the call metadata from the device length tensors, when the
 *                caller bounded them (params.max_seqlen_q / _k) and no lengths were read back.
 * Storage: f16 through cl_khr_fp16 where present, else with vload_half / vstore_half_rte (core
 * OpenCL); bf16 as ushort with integer shifts (round to nearest even on store). All arithmetic is
 * float32. The geometry of a call arrives in one by-value struct of 64-bit fields, whose layout is
 * therefore the same on host and device (ksa_cl_geom in ocl_internal.h mirrors it field by field). */

#ifndef KSA_DTYPE
#define KSA_DTYPE 1
#endif
#ifndef KSA_HEAD_DIM
#define KSA_HEAD_DIM 64
#endif
#ifndef KSA_ROWS
#define KSA_ROWS 16
#endif
#ifndef KSA_TPR
#define KSA_TPR 8
#endif
#ifndef KSA_BLOCK_K
#define KSA_BLOCK_K 32
#endif
#ifndef KSA_TOPK_WG
#define KSA_TOPK_WG 256
#endif

#define HD KSA_HEAD_DIM
#if KSA_HEAD_DIM % 4 == 0
#define VW 4                   /* float4 path: local rows padded by 4 floats (16-byte aligned, */
#define HDP (KSA_HEAD_DIM + 4) /* consecutive rows start in different bank groups) */
typedef float4 floatv;
#define VLOAD_TMP(v, tmp) vstore4((v), 0, (tmp))
#else
#define VW 1
#define HDP (KSA_HEAD_DIM + 1) /* padded row of the local tiles (fewer bank conflicts) */
typedef float floatv;
#define VLOAD_TMP(v, tmp) ((tmp)[0] = (v))
#endif
#define HDV (KSA_HEAD_DIM / VW)  /* vectors per row */
#define NR KSA_ROWS
#define TPR KSA_TPR
#define BK KSA_BLOCK_K
#define WG (KSA_ROWS * KSA_TPR)
#define DV ((HDV + KSA_TPR - 1) / KSA_TPR) /* output vectors per work-item: dims VW * (lane + u * TPR) + c */
#define KPT ((KSA_BLOCK_K + KSA_TPR - 1) / KSA_TPR)  /* keys per work-item in a block */

#if KSA_DTYPE == 1
typedef float stor_t;
#define LOADF(p, i) ((p)[(i)])
#define STOREF(p, i, x) ((p)[(i)] = (x))
#elif KSA_DTYPE == 2 && defined(KSA_HAS_FP16)
/* cl_khr_fp16: half is a full type (loads still widen to float32 arithmetic) */
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
typedef half stor_t;
#define LOADF(p, i) convert_float((p)[(i)])
#define STOREF(p, i, x) ((p)[(i)] = convert_half_rte(x))
#elif KSA_DTYPE == 2
/* without cl_khr_fp16: the core vload_half / vstore_half conversions */
typedef half stor_t;
#define LOADF(p, i) vload_half((size_t)(i), (p))
#define STOREF(p, i, x) vstore_half_rte((x), (size_t)(i), (p))
#else
typedef ushort stor_t;
#define LOADF(p, i) as_float(((uint)(p)[(i)]) << 16)
#define STOREF(p, i, x) ((p)[(i)] = ksa_f32_to_bf16(x))
inline ushort ksa_f32_to_bf16(float x)
{
    uint u = as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ushort)(u >> 16);
}
#endif

/* VW consecutive elements of storage at element offset i, as floats */
#if KSA_DTYPE == 1
#define LOADV4(p, i) vload4(0, (p) + (i))
#elif KSA_DTYPE == 2 && defined(KSA_HAS_FP16)
#define LOADV4(p, i) convert_float4(vload4(0, (p) + (i)))
#elif KSA_DTYPE == 2
#define LOADV4(p, i) vload_half4(0, (p) + (i))
#else
#define LOADV4(p, i) as_float4(convert_uint4(vload4(0, (p) + (i))) << 16)
#endif
#if VW == 4
#define LOADV(p, i) LOADV4(p, i)
#else
#define LOADV(p, i) LOADF(p, i)
#endif
#define LROW(buf, row) ((__local floatv *)((buf) + (row) * HDP))
#define LROWC(buf, row) ((__local const floatv *)((buf) + (row) * HDP))

/* s[j] = q_r . key_(lane + j * TPR) over the local tiles, for the KPT keys of this work-item
 * (keys past BK are clamped to BK - 1; callers ignore them). */
inline void block_scores(__local const float *qs, __local const float *kb, int r, int lane, float *s)
{
    for (int j = 0; j < KPT; j++) s[j] = 0.0f;
    __local const floatv *qr = LROWC(qs, r);
    for (int d = 0; d < HDV; d++) {
        const floatv a = qr[d];
        for (int j = 0; j < KPT; j++) {
            const int kk = min(lane + j * TPR, BK - 1);
            const floatv b = LROWC(kb, kk)[d];
#if VW == 4
            s[j] = fma(a.x, b.x, fma(a.y, b.y, fma(a.z, b.z, fma(a.w, b.w, s[j]))));
#else
            s[j] = fma(a, b, s[j]);
#endif
        }
    }
}

/* flags of ksa_attend / ksa_combine */
#define KF_LIST 1        /* gather keys from the index tensor */
#define KF_RANGE_MASK 6  /* range kind: */
#define KF_RANGE_NONE 0
#define KF_RANGE_CAUSAL 2 /*   0 .. pos(i) */
#define KF_RANGE_TILE 4   /*   pos(tile start) .. pos(i) */
#define KF_RANGE_WINDOW 6 /*   Lk - W .. Lk - 1 (decode) */
#define KF_WRITE_O 8
#define KF_WRITE_LSE 16    /* the caller's lse tensor */
#define KF_WRITE_LSE_WS 32 /* the workspace copy used by ksa_pool */
#define KF_NO_PV 64        /* scores only (lse for the anchor's pooling pass) */

/* Mirrors ksa_cl_geom on the host: every field 64-bit, same order. */
typedef struct ksa_geom {
    long batch, hq, hkv, group, max_lq, max_lk;
    long kv_layout, page_size, pt_off, pt_sb;
    long q_off, q_b, q_t, q_h;
    long k_off, k_b, k_t, k_h, k_p;
    long v_off, v_b, v_t, v_h, v_p;
    long o_off, o_b, o_t, o_h;
    long lse_off, lse_b, lse_h, lse_i;
    long idx_off, idx_s0, idx_s1, idx_s2, idx_s3, k_slots;
    long cnt_off, cnt_s0, cnt_s1, cnt_s2;
    long n_tiles, tile_q, group_rows, blocks_per_group, window, decode;
    long splits;
    long meta_off, lse_ws_off, part_off, pool_off, pool_stride, item0;
} ksa_geom;

/* meta block (int32, in the workspace): [4 * b + 0..3] = Lq_b, Lk_b, q_row0_b, k_row0_b;
 * then head_map[hkv]; then per (b, tile) Top-k counts (ANCHOR; -1 = tile absent). */
#define META_HEADMAP(g) (4 * (g)->batch)
#define META_COUNTS(g) (4 * (g)->batch + (g)->hkv)

/* key `key` (-1: an empty slot) is seen by a valid row whose last visible key is pos */
inline int key_visible(int row_valid, int key, int pos) { return row_valid && key >= 0 && key <= pos; }

inline long key_row_base(const ksa_geom *g, __global const int *pt, int b, long krow0, int j, long off, long sb,
                         long st, long sh, long sp, int kvh)
{
    if (g->kv_layout == 2) {
        int page = pt[g->pt_off + (long)b * g->pt_sb + j / (int)g->page_size];
        return off + (long)page * sp + (long)(j % (int)g->page_size) * st + (long)kvh * sh;
    }
    return off + (long)b * sb + (krow0 + j) * st + (long)kvh * sh;
}

/* ksa_meta: one work-item per sequence b writes meta[4b .. 4b + 3] from the length tensors (absent:
 * has_* = 0), clamped exactly as the CUDA / HIP kernels clamp them (kg_qrow0 ... kg_lq in
 * backends/gpu/ksa_gpu_common.cuh): offsets inside the tensors' rows, Lk in [1, max_lk], Lq 1 in
 * decode and in [0, min(max_lq, Lk)] otherwise. In-contract lengths pass through unchanged. */
inline long clamp_l(long x, long lo, long hi) { return x < lo ? lo : x > hi ? hi : x; }
__kernel void ksa_meta(ksa_geom geom, __global const int *cu_q, long cu_q_off, long cu_q_s, int has_cu_q,
                       __global const int *cu_k, long cu_k_off, long cu_k_s, int has_cu_k, __global const int *seq_k,
                       long seq_k_off, long seq_k_s, int has_seq_k, long q_rows, long k_rows, __global int *ws)
{
    const ksa_geom *g = &geom;
    const long b = (long)get_global_id(0);
    if (b >= g->batch) return;
    __global int *meta = ws + g->meta_off;
    const long q0 = has_cu_q ? clamp_l(cu_q[cu_q_off + b * cu_q_s], 0, q_rows - 1) : 0;
    const long k0 = has_cu_k ? clamp_l(cu_k[cu_k_off + b * cu_k_s], 0, k_rows - 1) : 0;
    long lk = g->max_lk;
    if (has_cu_k)
        lk = clamp_l(cu_k[cu_k_off + (b + 1) * cu_k_s], k0, k_rows) - k0;
    else if (has_seq_k)
        lk = seq_k[seq_k_off + b * seq_k_s];
    lk = clamp_l(lk, 1, g->max_lk);
    long lq = 1;
    if (!g->decode) {
        lq = g->max_lq;
        if (has_cu_q) lq = clamp_l(cu_q[cu_q_off + (b + 1) * cu_q_s], q0, q_rows) - q0;
        lq = clamp_l(lq, 0, g->max_lq < lk ? g->max_lq : lk);
    }
    meta[4 * b + 0] = (int)lq;
    meta[4 * b + 1] = (int)lk;
    meta[4 * b + 2] = (int)q0;
    meta[4 * b + 3] = (int)k0;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
ksa_attend(ksa_geom geom, float scale, int flags, __global const stor_t *q, __global const stor_t *k,
           __global const stor_t *v, __global stor_t *o, __global float *lse, __global const int *pt,
           __global const int *idx, __global const int *cnt, __global float *ws)
{
    const ksa_geom *g = &geom;
    __local float qs[NR * HDP] __attribute__((aligned(16)));
    __local float kv[BK * HDP] __attribute__((aligned(16)));
    __local float ss[NR * BK];
    __local int kid[BK];
    __local long kbase[BK];
    __local long vbase[BK];

    const int lid = (int)get_local_id(0);
    const int r = lid / TPR, lane = lid % TPR;
    const int blk = (int)get_group_id(0);
    const int kvh = (int)get_group_id(1);
    const int splits = (int)g->splits;
    const int b = (int)get_group_id(2) / splits, split = (int)get_group_id(2) % splits;
    __global const int *meta = (__global const int *)ws + g->meta_off;
    const int lq_b = meta[4 * b], lk_b = meta[4 * b + 1];
    const long qrow0 = meta[4 * b + 2], krow0 = meta[4 * b + 3];
    const int G = (int)g->group;
    const int grp = blk / (int)g->blocks_per_group, sub = blk % (int)g->blocks_per_group;
    const int q_first = grp * (int)g->group_rows;
    if (q_first >= lq_b) return; /* uniform over the work-group */
    const int q_last = min(q_first + (int)g->group_rows, lq_b) - 1;
    const int nrows = (q_last - q_first + 1) * G;
    const int rho0 = sub * NR;
    if (rho0 >= nrows) return;
    const int rho = rho0 + r;
    const int row_valid = rho < nrows;
    const int qi = q_first + (row_valid ? rho : nrows - 1) / G;
    const int h = kvh * G + (row_valid ? rho : nrows - 1) % G;
    const long pos = (long)lk_b - lq_b + qi;
    const int rho_last = min(rho0 + NR, nrows) - 1;
    const long pos_max = (long)lk_b - lq_b + q_first + rho_last / G;

    /* the key set: list entries, then the range lo .. hi */
    int n_list = 0;
    __global const int *list = idx;
    if (flags & KF_LIST) {
        const int src = meta[META_HEADMAP(g) + kvh];
        const long tile = g->decode ? 0 : grp;
        list = idx + g->idx_off + b * g->idx_s0 + src * g->idx_s1 + tile * g->idx_s2;
        n_list = cnt[g->cnt_off + b * g->cnt_s0 + src * g->cnt_s1 + tile * g->cnt_s2];
        n_list = clamp(n_list, 0, (int)g->k_slots);
    }
    long lo = 0, hi = -1;
    switch (flags & KF_RANGE_MASK) {
    case KF_RANGE_CAUSAL: lo = 0; hi = pos_max; break;
    case KF_RANGE_TILE: lo = (long)lk_b - lq_b + q_first; hi = pos_max; break;
    case KF_RANGE_WINDOW: lo = max((long)0, (long)lk_b - g->window); hi = (long)lk_b - 1; break;
    default: break;
    }
    const long n_range = hi >= lo ? hi - lo + 1 : 0;
    const long n_total = n_list + n_range;
    long chunk = (n_total + splits - 1) / splits;
    chunk = (chunk + BK - 1) / BK * BK;
    const long e_begin = (long)split * chunk;
    const long e_end = min(e_begin + chunk, n_total);

    /* queries, pre-scaled */
    for (int t = lid; t < NR * HDV; t += WG) {
        const int rr = t / HDV, d = t % HDV;
        const int rh = rho0 + rr;
        floatv x = 0.0f;
        if (rh < nrows) {
            const int qq = q_first + rh / G, hh = kvh * G + rh % G;
            x = LOADV(q, g->q_off + b * g->q_b + (qrow0 + qq) * g->q_t + hh * g->q_h + d * VW) * scale;
        }
        LROW(qs, rr)[d] = x;
    }

    floatv acc[DV];
    for (int u = 0; u < DV; u++) acc[u] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    const int want_pv = !(flags & KF_NO_PV);

    for (long e0 = e_begin; e0 < e_end; e0 += BK) {
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int t = lid; t < BK; t += WG) {
            const long e = e0 + t;
            int key = -1;
            if (e < e_end) {
                if (e < n_list) {
                    const int j = list[e * g->idx_s3];
                    if (j >= 0 && j < lk_b && !(n_range > 0 && j >= lo)) key = j;
                } else {
                    key = (int)(lo + (e - n_list));
                }
            }
            kid[t] = key;
            if (key >= 0) {
                kbase[t] = key_row_base(g, pt, b, krow0, key, g->k_off, g->k_b, g->k_t, g->k_h, g->k_p, kvh);
                vbase[t] = key_row_base(g, pt, b, krow0, key, g->v_off, g->v_b, g->v_t, g->v_h, g->v_p, kvh);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int t = lid; t < BK * HDV; t += WG) {
            const int kk = t / HDV, d = t % HDV;
            floatv x = 0.0f;
            if (kid[kk] >= 0) x = LOADV(k, kbase[kk] + d * VW);
            LROW(kv, kk)[d] = x;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        {
            float sc[KPT];
            block_scores(qs, kv, r, lane, sc);
            for (int j = 0; j < KPT; j++) {
                const int kk = lane + j * TPR;
                if (kk < BK) {
                    const int key = kid[kk];
                    ss[r * BK + kk] = key_visible(row_valid, key, pos) ? sc[j] : -INFINITY;
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (want_pv)
            for (int t = lid; t < BK * HDV; t += WG) {
                const int kk = t / HDV, d = t % HDV;
                floatv x = 0.0f;
                if (kid[kk] >= 0) x = LOADV(v, vbase[kk] + d * VW);
                LROW(kv, kk)[d] = x;
            }
        /* fmax skips NaN scores; exp of them is NaN all the same. Masked keys get probability 0;
         * visible ones follow IEEE as written (docs/SEMANTICS.md): NaN scores, a +inf score or only
         * -inf scores make the row's sum, and so the row, NaN */
        float mb = -INFINITY;
        for (int kk = 0; kk < BK; kk++) mb = fmax(mb, ss[r * BK + kk]);
        const float m_new = fmax(m, mb);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = lane; kk < BK; kk += TPR) {
            const int key = kid[kk];
            const int visible = key_visible(row_valid, key, pos);
            ss[r * BK + kk] = visible ? exp(ss[r * BK + kk] - m_new) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        const float alpha = (m == -INFINITY) ? 0.0f : exp(m - m_new);
        float lb = 0.0f;
        if (want_pv) {
            for (int u = 0; u < DV; u++) acc[u] *= alpha;
            for (int kk = 0; kk < BK; kk++) {
                const float pk = ss[r * BK + kk];
                lb += pk;
                __local const floatv *vr = LROWC(kv, kk);
                for (int u = 0; u < DV; u++) {
                    const int d = lane + u * TPR;
                    if (HDV % TPR == 0 || d < HDV) acc[u] = fma((floatv)(pk), vr[d], acc[u]);
                }
            }
        } else {
            for (int kk = 0; kk < BK; kk++) lb += ss[r * BK + kk];
        }
        l = l * alpha + lb;
        m = m_new;
    }

    if (!row_valid) return; /* no barrier after this point */
    const long rowid = ((long)b * g->max_lq + qi) * g->hq + h;
    if (splits > 1) {
        __global float *pacc = ws + g->part_off + ((long)split * g->batch * g->max_lq * g->hq + rowid) * (HD + 2);
        if (want_pv)
            for (int u = 0; u < DV; u++) {
                const int d = lane + u * TPR;
                if (d < HDV) {
                    float tmp[VW];
                    VLOAD_TMP(acc[u], tmp);
                    for (int c = 0; c < VW; c++) pacc[2 + d * VW + c] = tmp[c];
                }
            }
        if (lane == 0) {
            pacc[0] = m;
            pacc[1] = l;
        }
        return;
    }
    const float inv = l != 0.0f ? 1.0f / l : 0.0f; /* no key: o = 0; a NaN sum stays NaN */
    if (flags & KF_WRITE_O) {
        const long ob = g->o_off + b * g->o_b + (qrow0 + qi) * g->o_t + h * g->o_h;
        for (int u = 0; u < DV; u++) {
            const int d = lane + u * TPR;
            if (d < HDV) {
                float tmp[VW];
                VLOAD_TMP(acc[u] * inv, tmp);
                for (int c = 0; c < VW; c++) STOREF(o, ob + d * VW + c, tmp[c]);
            }
        }
    }
    if (lane == 0) {
        const float lv = l != 0.0f ? m + log(l) : -INFINITY;
        if (flags & KF_WRITE_LSE) lse[g->lse_off + b * g->lse_b + h * g->lse_h + (qrow0 + qi) * g->lse_i] = lv;
        if (flags & KF_WRITE_LSE_WS) ws[g->lse_ws_off + rowid] = lv;
    }
}

/* One work-item per (row, dim); global size (roundup(D, local), B * max_lq * hq). */
__kernel void ksa_combine(ksa_geom geom, int flags, __global stor_t *o, __global float *lse, __global float *ws)
{
    const ksa_geom *g = &geom;
    const int d = (int)get_global_id(0);
    const long rowid = (long)get_global_id(1);
    if (d >= HD) return;
    const int h = (int)(rowid % g->hq);
    const int qi = (int)((rowid / g->hq) % g->max_lq);
    const int b = (int)(rowid / (g->hq * g->max_lq));
    __global const int *meta = (__global const int *)ws + g->meta_off;
    if (qi >= meta[4 * b]) return;
    const long qrow0 = meta[4 * b + 2];
    const long nrt = g->batch * g->max_lq * g->hq;
    float mx = -INFINITY;
    for (int s = 0; s < (int)g->splits; s++) mx = fmax(mx, ws[g->part_off + (s * nrt + rowid) * (HD + 2)]);
    float L = 0.0f, a = 0.0f;
    for (int s = 0; s < (int)g->splits; s++) {
        __global const float *pp = ws + g->part_off + (s * nrt + rowid) * (HD + 2);
        const float ms = pp[0], ls = pp[1];
        if (ls == 0.0f) continue; /* a split that saw no key; a NaN sum poisons the row */
        const float w = isnan(ls) ? NAN : exp(ms - mx);
        L += ls * w;
        if (!(flags & KF_NO_PV)) a += pp[2 + d] * w;
    }
    if (flags & KF_WRITE_O) {
        const long ob = g->o_off + b * g->o_b + (qrow0 + qi) * g->o_t + h * g->o_h;
        STOREF(o, ob + d, L != 0.0f ? a / L : 0.0f);
    }
    if (d == 0) {
        const float lv = L != 0.0f ? mx + log(L) : -INFINITY;
        if (flags & KF_WRITE_LSE) lse[g->lse_off + b * g->lse_b + h * g->lse_h + (qrow0 + qi) * g->lse_i] = lv;
        if (flags & KF_WRITE_LSE_WS) ws[g->lse_ws_off + rowid] = lv;
    }
}

/* Candidates of (b, tile): prefill j < pos(tile * T); decode every j < Lk_b. */
inline int num_candidates(const ksa_geom *g, int lq_b, int lk_b, int tile)
{
    if (g->decode) return lk_b;
    if (tile * (int)g->tile_q >= lq_b) return 0;
    return lk_b - lq_b + tile * (int)g->tile_q;
}

/* Grid: (WG * ceil(max_lk / BK), hkv, items of this chunk); item = b * n_tiles + tile. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
ksa_pool(ksa_geom geom, float scale, __global const stor_t *q, __global const stor_t *k, __global const int *pt,
         __global float *ws)
{
    const ksa_geom *g = &geom;
    __local float qs[NR * HDP] __attribute__((aligned(16)));
    __local float ks[BK * HDP] __attribute__((aligned(16)));
    __local float ss[NR * BK];
    __local float lsel[NR];

    const int lid = (int)get_local_id(0);
    const int r = lid / TPR, lane = lid % TPR;
    const int kvh = (int)get_group_id(1);
    const long item_local = (long)get_group_id(2);
    const long item = g->item0 + item_local;
    const int b = (int)(item / g->n_tiles), tile = (int)(item % g->n_tiles);
    __global const int *meta = (__global const int *)ws + g->meta_off;
    const int lq_b = meta[4 * b], lk_b = meta[4 * b + 1];
    const long qrow0 = meta[4 * b + 2], krow0 = meta[4 * b + 3];
    const int ncand = num_candidates(g, lq_b, lk_b, tile);
    const int j0 = (int)get_group_id(0) * BK;
    if (j0 >= ncand) return;
    const int G = (int)g->group;
    const int q_first = g->decode ? 0 : tile * (int)g->tile_q;
    const int q_last = g->decode ? 0 : min(q_first + (int)g->tile_q, lq_b) - 1;
    const int nrows = (q_last - q_first + 1) * G;

    for (int t = lid; t < BK * HDV; t += WG) {
        const int kk = t / HDV, d = t % HDV;
        const int j = j0 + kk;
        floatv x = 0.0f;
        if (j < ncand) x = LOADV(k, key_row_base(g, pt, b, krow0, j, g->k_off, g->k_b, g->k_t, g->k_h, g->k_p, kvh) + d * VW);
        LROW(ks, kk)[d] = x;
    }
    float part[KPT];
    for (int u = 0; u < KPT; u++) part[u] = 0.0f;

    for (int rho0 = 0; rho0 < nrows; rho0 += NR) {
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int t = lid; t < NR * HDV; t += WG) {
            const int rr = t / HDV, d = t % HDV;
            const int rh = rho0 + rr;
            floatv x = 0.0f;
            if (rh < nrows) {
                const int qq = q_first + rh / G, hh = kvh * G + rh % G;
                x = LOADV(q, g->q_off + b * g->q_b + (qrow0 + qq) * g->q_t + hh * g->q_h + d * VW) * scale;
            }
            LROW(qs, rr)[d] = x;
        }
        for (int t = lid; t < NR; t += WG) {
            const int rh = rho0 + t;
            float x = INFINITY; /* exp(s - inf) = 0 for padding rows */
            if (rh < nrows) {
                const int qq = q_first + rh / G, hh = kvh * G + rh % G;
                x = ws[g->lse_ws_off + ((long)b * g->max_lq + qq) * g->hq + hh];
            }
            lsel[t] = x;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        const float lr = lsel[r];
        if (lr != INFINITY && lr != -INFINITY) {
            float sc[KPT];
            block_scores(qs, ks, r, lane, sc);
            for (int u = 0; u < KPT; u++) {
                const int kk = lane + u * TPR;
                if (kk < BK && j0 + kk < ncand) part[u] += exp(sc[u] - lr);
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int u = 0; u < KPT; u++) {
        const int kk = lane + u * TPR;
        if (kk < BK) ss[r * BK + kk] = part[u];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    __global float *pool = ws + g->pool_off + (item_local * g->hkv + kvh) * g->pool_stride;
    for (int kk = lid; kk < BK; kk += WG) {
        const int j = j0 + kk;
        if (j < ncand) {
            float s = 0.0f;
            for (int rr = 0; rr < NR; rr++) s += ss[rr * BK + kk];
            pool[j] = s;
        }
    }
}

/* Inclusive prefix sum over the work-group of one int per work-item (Hillis-Steele). */
inline int wg_inclusive_scan(__local int *buf, int x)
{
    const int lid = (int)get_local_id(0);
    buf[lid] = x;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = 1; off < KSA_TOPK_WG; off <<= 1) {
        const int y = lid >= off ? buf[lid - off] : 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        buf[lid] += y;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const int res = buf[lid];
    barrier(CLK_LOCAL_MEM_FENCE);
    return res;
}

/* The radix key of a pooled score: pooled scores are >= 0, so their bit patterns order like the
 * values; every NaN maps to the largest key (NaN ranks first, NaNs tie: docs/SEMANTICS.md). */
inline uint pool_key(uint bits) { return (bits & 0x7fffffffu) > 0x7f800000u ? 0xffffffffu : bits; }

/* Grid: (KSA_TOPK_WG, hkv, items of this chunk). A 4-pass 8-bit radix select over pool_key finds
 * the threshold, then one ordered pass writes every score above it and the first
 * (smallest-index) ones equal to it. */
__kernel __attribute__((reqd_work_group_size(KSA_TOPK_WG, 1, 1))) void
ksa_topk(ksa_geom geom, __global int *idx, __global int *cnt, __global float *ws)
{
    const ksa_geom *g = &geom;
    __local int hist[256];
    __local int scan[KSA_TOPK_WG];
    __local uint sel[2];

    const int lid = (int)get_local_id(0);
    const int kvh = (int)get_group_id(1);
    const long item_local = (long)get_group_id(2);
    const long item = g->item0 + item_local;
    const int b = (int)(item / g->n_tiles), tile = (int)(item % g->n_tiles);
    __global const int *meta = (__global const int *)ws + g->meta_off;
    const int lq_b = meta[4 * b], lk_b = meta[4 * b + 1];
    const int ncand = num_candidates(g, lq_b, lk_b, tile);
    int want = meta[META_COUNTS(g) + item];
    want = clamp(want, 0, ncand);
    __global int *out = idx + g->idx_off + b * g->idx_s0 + kvh * g->idx_s1 + tile * g->idx_s2;
    __global const uint *pool =
        (__global const uint *)(ws + g->pool_off + (item_local * g->hkv + kvh) * g->pool_stride);

    uint prefix = 0, mask = 0;
    int remaining = want;
    if (want > 0 && want < ncand) {
        for (int shift = 24; shift >= 0; shift -= 8) {
            for (int t = lid; t < 256; t += KSA_TOPK_WG) hist[t] = 0;
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int j = lid; j < ncand; j += KSA_TOPK_WG) {
                const uint bits = pool_key(pool[j]);
                if ((bits & mask) == prefix) atomic_inc(&hist[(bits >> shift) & 255u]);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            if (lid == 0) {
                int above = 0, bin = 255;
                for (; bin > 0; bin--) {
                    if (above + hist[bin] >= remaining) break;
                    above += hist[bin];
                }
                sel[0] = (uint)bin;
                sel[1] = (uint)(remaining - above);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            prefix |= sel[0] << shift;
            mask |= 255u << shift;
            remaining = (int)sel[1];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
    /* take all > prefix, plus the first `remaining` == prefix (all when want >= ncand) */
    const int take_all = want >= ncand;
    int written = 0, eq_taken = 0;
    if (want > 0)
        for (int c0 = 0; c0 < ncand; c0 += KSA_TOPK_WG) {
            const int j = c0 + lid;
            int gt = 0, eq = 0;
            if (j < ncand) {
                const uint bits = pool_key(pool[j]);
                if (take_all) gt = 1;
                else {
                    gt = bits > prefix;
                    eq = bits == prefix;
                }
            }
            const int packed = gt + (eq << 16);
            const int incl = wg_inclusive_scan(scan, packed);
            const int excl = incl - packed;
            const int gt_before = excl & 0xffff, eq_before = excl >> 16;
            const int eq_left = remaining - eq_taken;
            const int take = gt || (eq && eq_before < eq_left);
            if (take) {
                const int slot = written + gt_before + min(eq_before, eq_left);
                out[slot * g->idx_s3] = j;
            }
            /* totals of this chunk: the last work-item's inclusive value */
            if (lid == KSA_TOPK_WG - 1) {
                hist[0] = incl;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            const int ctot = hist[0];
            barrier(CLK_LOCAL_MEM_FENCE);
            const int cgt = ctot & 0xffff, ceq = ctot >> 16;
            written += cgt + min(ceq, eq_left);
            eq_taken += min(ceq, eq_left);
            if (written >= want) break; /* uniform: every work-item has the same totals */
        }
    for (int s = want + lid; s < (int)g->k_slots; s += KSA_TOPK_WG) out[s * g->idx_s3] = -1;
    if (lid == 0) cnt[g->cnt_off + b * g->cnt_s0 + kvh * g->cnt_s1 + tile * g->cnt_s2] = want;
}
