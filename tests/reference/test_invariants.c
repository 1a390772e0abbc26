/* test_invariants.c: properties the reference must have whatever the data: with a budget at or
 * above the number of candidates ANCHOR and REUSE equal DENSE; REUSE with the identity head map
 * and an anchor's own indices equals that anchor's sparse output; a head map routes each KV head
 * to the anchor head it names; rolling and non-rolling agree where their budgets coincide (and
 * differ where they do not); chunked prefill and decode equal the matching rows of a full
 * prefill; ANCHOR with dense output equals DENSE and selects what sparse ANCHOR selects; lse is
 * the log of the attended mass; the decode local window; the workspace contract. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref_test_problem.h"
#include "reference/ksa_reference.h"

static rt_config base_config(ksa_mode mode, ksa_phase phase, ksa_dtype dtype)
{
    rt_config c = rt_config_default();
    c.mode = mode;
    c.phase = phase;
    c.dtype = dtype;
    c.batch = 2;
    c.hq = 6;
    c.hkv = 2;
    c.head_dim = 20;
    c.lq[0] = 45;
    c.lk[0] = 45;
    c.lq[1] = 19;
    c.lk[1] = 52;
    c.with_lse = 1;
    c.topk.tile_size = 8;
    c.topk.fraction = 0.2;
    c.topk.min_k = 12;
    c.topk.round_multiple = 1;
    return c;
}

/* Run a config on data d; asserts success and that every output was written. */
static rt_problem *run_on(const rt_config *c, const rt_data *d, const rt_problem *sets)
{
    rt_problem *r = rt_problem_create(c, d);
    if (sets) rt_copy_sets(r, sets);
    rt_problem_poison(r);
    assert_int_equal(rt_run(r), KSA_STATUS_SUCCESS);
    char msg[256] = "";
    if (rt_check_written(r, msg, sizeof msg)) fail_msg("%s", msg);
    return r;
}

static double tol_of(ksa_dtype dt) { return dt == KSA_DTYPE_F32 ? 1e-6 : dt == KSA_DTYPE_F16 ? 2e-3 : 1.6e-2; }

static void test_large_budget_equals_dense(void **state)
{
    static const ksa_dtype dts[] = {KSA_DTYPE_F32, KSA_DTYPE_F16, KSA_DTYPE_BF16};
    for (int ph = 0; ph < 2; ph++)
        for (int di = 0; di < 3; di++)
            for (int rule = 0; rule < 2; rule++) {
                rt_config c = base_config(KSA_MODE_DENSE, (ksa_phase)ph, dts[di]);
                /* whole tiles only: a partial last tile still selects k - T, fewer than its candidates */
                c.lq[0] = c.lk[0] = 48;
                c.lq[1] = 24;
                if (rule == 0) c.topk.fraction = 1.0; /* k(L) = L */
                else c.topk.top_k = 52;               /* fixed k = the longest sequence */
                rt_data *d = rt_data_random(&c, 11 + (uint64_t)(ph * 3 + di), 2.0);
                rt_problem *dense = run_on(&c, d, NULL);
                c.mode = KSA_MODE_ANCHOR;
                rt_problem *anchor = run_on(&c, d, NULL);
                c.mode = KSA_MODE_REUSE;
                rt_problem *reuse = run_on(&c, d, anchor);
                /* every candidate was selected */
                for (int32_t b = 0; b < 2; b++)
                    for (int32_t g = 0; g < 2; g++)
                        for (int64_t t = 0; t < anchor->p.n_tiles; t++) {
                            int64_t lq = rt_lq(anchor, b), T = c.topk.tile_size;
                            int64_t tiles = ph ? 1 : (lq + T - 1) / T;
                            int64_t cand = t >= tiles ? 0 : ph ? c.lk[b] : c.lk[b] - lq + t * T;
                            assert_int_equal(rt_count(anchor, b, g, t), cand);
                        }
                assert_true(rt_max_diff(dense, anchor) <= tol_of(dts[di]) * 1e-3);
                assert_true(rt_max_diff(dense, reuse) <= tol_of(dts[di]) * 1e-3);
                rt_problem_free(dense);
                rt_problem_free(anchor);
                rt_problem_free(reuse);
                rt_data_free(d);
            }
}

static void test_reuse_identity_equals_anchor(void **state)
{
    for (int ph = 0; ph < 2; ph++)
        for (int rolling = 0; rolling < 2; rolling++) {
            rt_config c = base_config(KSA_MODE_ANCHOR, (ksa_phase)ph, KSA_DTYPE_BF16);
            c.topk.rolling = rolling;
            rt_data *d = rt_data_random(&c, 21 + (uint64_t)ph, 3.0);
            rt_problem *anchor = run_on(&c, d, NULL);
            c.mode = KSA_MODE_REUSE;
            rt_problem *reuse = run_on(&c, d, anchor);
            /* o and lse identical (same keys, same order, same arithmetic) */
            assert_true(rt_max_diff(anchor, reuse) == 0.0);
            /* and the selection is sparse for real somewhere */
            int sparse = 0;
            for (int32_t b = 0; b < 2; b++)
                for (int64_t t = 0; t < anchor->p.n_tiles; t++) {
                    int64_t lq = rt_lq(anchor, b), T = c.topk.tile_size;
                    int64_t tiles = ph ? 1 : (lq + T - 1) / T;
                    int64_t cand = t >= tiles ? 0 : ph ? c.lk[b] : c.lk[b] - lq + t * T;
                    if (rt_count(anchor, b, 0, t) < cand) sparse = 1;
                }
            assert_true(sparse);
            rt_problem_free(anchor);
            rt_problem_free(reuse);
            rt_data_free(d);
        }
}

/* REUSE with head map m: KV head g's output equals that of a REUSE call whose own sets for g are
 * the sets of m[g] (identity map). */
static void test_head_map_routes_sets(void **state)
{
    for (int ph = 0; ph < 2; ph++) {
        rt_config c = base_config(KSA_MODE_ANCHOR, (ksa_phase)ph, KSA_DTYPE_F32);
        c.hq = 8;
        c.hkv = 4;
        rt_data *d = rt_data_random(&c, 31 + (uint64_t)ph, 2.5);
        rt_problem *anchor = run_on(&c, d, NULL);
        static const int32_t map[4] = {2, 2, 0, 3};
        c.mode = KSA_MODE_REUSE;
        c.head_map = map;
        rt_problem *mapped = run_on(&c, d, anchor);
        c.head_map = NULL;
        rt_problem *permuted = rt_problem_create(&c, d);
        for (int32_t b = 0; b < 2; b++)
            for (int32_t g = 0; g < 4; g++)
                for (int64_t t = 0; t < anchor->p.n_tiles; t++) {
                    rt_set_count(permuted, b, g, t, rt_count(anchor, b, map[g], t));
                    for (int64_t s = 0; s < anchor->p.k_slots; s++)
                        rt_set_index(permuted, b, g, t, s, rt_index(anchor, b, map[g], t, s));
                }
        rt_problem_poison(permuted);
        assert_int_equal(rt_run(permuted), KSA_STATUS_SUCCESS);
        assert_true(rt_max_diff(mapped, permuted) == 0.0);
        /* and the map matters: head 1 reads head 2's sets, which differ from its own */
        c.head_map = NULL;
        rt_problem *own = run_on(&c, d, anchor);
        assert_true(rt_max_diff(mapped, own) > 1e-6);
        rt_problem_free(anchor);
        rt_problem_free(mapped);
        rt_problem_free(permuted);
        rt_problem_free(own);
        rt_data_free(d);
    }
}

static void test_rolling_vs_fixed(void **state)
{
    /* min_k dominates every tile: k_t = 12 = k(L) for both rules -> identical results */
    rt_config c = base_config(KSA_MODE_ANCHOR, KSA_PHASE_PREFILL, KSA_DTYPE_F32);
    c.topk.fraction = 0.1;
    c.topk.min_k = 12;
    rt_data *d = rt_data_random(&c, 41, 2.0);
    c.topk.rolling = 0;
    rt_problem *fixed = run_on(&c, d, NULL);
    c.topk.rolling = 1;
    rt_problem *rolling = run_on(&c, d, NULL);
    assert_true(rt_max_diff(fixed, rolling) == 0.0);
    /* a fixed top_k ignores the rolling flag */
    c.topk.top_k = 17;
    c.topk.rolling = 0;
    rt_problem *topk_a = run_on(&c, d, NULL);
    c.topk.rolling = 1;
    rt_problem *topk_b = run_on(&c, d, NULL);
    assert_true(rt_max_diff(topk_a, topk_b) == 0.0);
    rt_problem_free(fixed);
    rt_problem_free(rolling);
    rt_problem_free(topk_a);
    rt_problem_free(topk_b);
    rt_data_free(d);

    /* budgets differ: f = 0.5, min_k 4 -> early tiles get smaller k under rolling */
    c = base_config(KSA_MODE_ANCHOR, KSA_PHASE_PREFILL, KSA_DTYPE_F32);
    c.batch = 1;
    c.lq[0] = 60;
    c.lk[0] = 60;
    c.topk.fraction = 0.5;
    c.topk.min_k = 4;
    d = rt_data_random(&c, 43, 2.0);
    c.topk.rolling = 0;
    fixed = run_on(&c, d, NULL);
    c.topk.rolling = 1;
    rolling = run_on(&c, d, NULL);
    int differ = 0;
    for (int64_t t = 0; t < fixed->p.n_tiles; t++) {
        int64_t pos = t * 8;
        int64_t want_fixed = 30 - 8 < pos ? 30 - 8 : pos;
        int64_t kr = pos / 2 < 4 ? 4 : pos / 2;
        int64_t want_roll = kr < 30 - 8 ? kr : 30 - 8; /* min(k - T, r_t) */
        if (want_roll < 0) want_roll = 0;
        if (want_roll > pos) want_roll = pos;
        if (want_fixed < 0) want_fixed = 0;
        assert_int_equal(rt_count(fixed, 0, 0, t), want_fixed);
        assert_int_equal(rt_count(rolling, 0, 0, t), want_roll);
        /* both rules agree with ksa_backend.h's helper */
        assert_int_equal(rt_count(rolling, 0, 0, t), ksa_prefill_tile_count(&c.topk, 60, 60, t));
        if (want_fixed != want_roll) differ = 1;
        /* where the budgets agree the selections agree */
        if (want_fixed == want_roll)
            for (int64_t s = 0; s < fixed->p.k_slots; s++)
                assert_int_equal(rt_index(fixed, 0, 0, t, s), rt_index(rolling, 0, 0, t, s));
    }
    assert_true(differ);
    rt_problem_free(fixed);
    rt_problem_free(rolling);
    rt_data_free(d);
}

/* DENSE: chunked prefill (Lq < Lk) rows and decode equal the matching rows of a full prefill. */
static void test_chunked_and_decode_match_full_prefill(void **state)
{
    rt_config c = base_config(KSA_MODE_DENSE, KSA_PHASE_PREFILL, KSA_DTYPE_F32);
    c.batch = 1;
    c.lq[0] = 50;
    c.lk[0] = 50;
    rt_data *full_d = rt_data_random(&c, 51, 2.0);
    rt_problem *full = run_on(&c, full_d, NULL);
    for (int chunk = 1; chunk <= 2; chunk++) {
        int32_t lq = chunk == 1 ? 13 : 1;
        rt_config cc = c;
        cc.lq[0] = lq;
        if (chunk == 2) cc.phase = KSA_PHASE_DECODE;
        rt_data *d = rt_data_random(&cc, 1, 1.0);
        /* the chunk's queries are the last lq queries of the full prompt */
        for (int64_t i = 0; i < lq; i++)
            for (int32_t h = 0; h < c.hq; h++)
                memcpy(rt_q(d, 0, i, h), rt_q(full_d, 0, 50 - lq + i, h), sizeof(double) * (size_t)c.head_dim);
        memcpy(d->k, full_d->k, sizeof(double) * (size_t)(50 * c.hkv * c.head_dim));
        memcpy(d->v, full_d->v, sizeof(double) * (size_t)(50 * c.hkv * c.head_dim));
        rt_problem *part = run_on(&cc, d, NULL);
        for (int64_t i = 0; i < lq; i++)
            for (int32_t h = 0; h < c.hq; h++) {
                for (int32_t x = 0; x < c.head_dim; x++)
                    assert_true(rt_o(part, 0, i, h, x) == rt_o(full, 0, 50 - lq + i, h, x));
                assert_true(rt_lse(part, 0, h, i) == rt_lse(full, 0, h, 50 - lq + i));
            }
        /* ANCHOR with dense output in decode is DENSE decode */
        if (chunk == 2) {
            cc.mode = KSA_MODE_ANCHOR;
            cc.anchor_dense_output = 1;
            rt_problem *ad = run_on(&cc, d, NULL);
            assert_true(rt_max_diff(ad, part) == 0.0);
            rt_problem_free(ad);
        }
        rt_problem_free(part);
        rt_data_free(d);
    }
    rt_problem_free(full);
    rt_data_free(full_d);
}

static void test_anchor_dense_output(void **state)
{
    for (int ph = 0; ph < 2; ph++) {
        rt_config c = base_config(KSA_MODE_DENSE, (ksa_phase)ph, KSA_DTYPE_F16);
        rt_data *d = rt_data_random(&c, 61 + (uint64_t)ph, 2.0);
        rt_problem *dense = run_on(&c, d, NULL);
        c.mode = KSA_MODE_ANCHOR;
        rt_problem *sparse = run_on(&c, d, NULL);
        c.anchor_dense_output = 1;
        rt_problem *dense_out = run_on(&c, d, NULL);
        assert_true(rt_max_diff(dense, dense_out) == 0.0); /* outputs: dense */
        for (int32_t b = 0; b < 2; b++)                     /* indices: the same selection */
            for (int32_t g = 0; g < 2; g++)
                for (int64_t t = 0; t < sparse->p.n_tiles; t++) {
                    assert_int_equal(rt_count(sparse, b, g, t), rt_count(dense_out, b, g, t));
                    for (int64_t s = 0; s < sparse->p.k_slots; s++)
                        assert_int_equal(rt_index(sparse, b, g, t, s), rt_index(dense_out, b, g, t, s));
                }
        assert_true(rt_max_diff(dense, sparse) > 1e-4); /* the sparse output really differs */
        rt_problem_free(dense);
        rt_problem_free(sparse);
        rt_problem_free(dense_out);
        rt_data_free(d);
    }
}

/* lse of a sparse row <= the dense lse, and exp(lse) = sum over the attended keys of exp(s). */
static void test_lse_consistency(void **state)
{
    rt_config c = base_config(KSA_MODE_DENSE, KSA_PHASE_DECODE, KSA_DTYPE_F32);
    c.batch = 1;
    c.lk[0] = 30;
    c.scale = 0.37f;
    rt_data *d = rt_data_random(&c, 71, 2.0);
    rt_problem *dense = run_on(&c, d, NULL);
    c.mode = KSA_MODE_ANCHOR;
    c.topk.top_k = 5;
    rt_problem *anchor = run_on(&c, d, NULL);
    for (int32_t h = 0; h < c.hq; h++) {
        int32_t g = h / (c.hq / c.hkv);
        double sum_all = 0, sum_sel = 0;
        for (int64_t j = 0; j < 30; j++) {
            double s = 0;
            for (int32_t x = 0; x < c.head_dim; x++) s += rt_q(d, 0, 0, h)[x] * rt_k(d, 0, j, g)[x];
            double e = exp((double)0.37f * s);
            sum_all += e;
            for (int32_t x = 0; x < 5; x++)
                if (rt_index(anchor, 0, g, 0, x) == j) sum_sel += e;
        }
        assert_true(fabs(rt_lse(dense, 0, h, 0) - log(sum_all)) <= 1e-6);
        assert_true(fabs(rt_lse(anchor, 0, h, 0) - log(sum_sel)) <= 1e-6);
        assert_true(rt_lse(anchor, 0, h, 0) < rt_lse(dense, 0, h, 0));
    }
    rt_problem_free(dense);
    rt_problem_free(anchor);
    rt_data_free(d);
}

/* Decode REUSE: an empty set gives o = 0 and lse = -inf; a local window covering every key gives
 * the dense output; the window adds to (not replaces) the given set. */
static void test_decode_local_window(void **state)
{
    rt_config c = base_config(KSA_MODE_DENSE, KSA_PHASE_DECODE, KSA_DTYPE_F32);
    rt_data *d = rt_data_random(&c, 81, 2.0);
    rt_problem *dense = run_on(&c, d, NULL);
    c.mode = KSA_MODE_REUSE;
    rt_problem *empty = rt_problem_create(&c, d);
    for (int32_t b = 0; b < 2; b++)
        for (int32_t g = 0; g < 2; g++) rt_set_count(empty, b, g, 0, 0);
    rt_problem_poison(empty);
    assert_int_equal(rt_run(empty), KSA_STATUS_SUCCESS);
    for (int32_t b = 0; b < 2; b++)
        for (int32_t h = 0; h < c.hq; h++) {
            for (int32_t x = 0; x < c.head_dim; x++) assert_true(rt_o(empty, b, 0, h, x) == 0.0);
            assert_true(isinf(rt_lse(empty, b, h, 0)) && rt_lse(empty, b, h, 0) < 0);
        }
    c.topk.local_window = 1000;
    rt_problem *window = rt_problem_create(&c, d);
    rt_copy_sets(window, empty);
    rt_problem_poison(window);
    assert_int_equal(rt_run(window), KSA_STATUS_SUCCESS);
    assert_true(rt_max_diff(window, dense) <= 1e-6);
    /* set {0} plus window 2 = keys {0, Lk-2, Lk-1}; compare with set {0, Lk-2, Lk-1} and no window */
    c.topk.local_window = 2;
    rt_problem *w2 = rt_problem_create(&c, d);
    c.topk.local_window = 0;
    rt_problem *explicit_set = rt_problem_create(&c, d);
    for (int32_t b = 0; b < 2; b++)
        for (int32_t g = 0; g < 2; g++) {
            rt_set_count(w2, b, g, 0, 2);
            rt_set_index(w2, b, g, 0, 0, c.lk[b] - 1); /* overlaps the window: counted once */
            rt_set_index(w2, b, g, 0, 1, 0);
            rt_set_count(explicit_set, b, g, 0, 3);
            rt_set_index(explicit_set, b, g, 0, 0, 0);
            rt_set_index(explicit_set, b, g, 0, 1, c.lk[b] - 2);
            rt_set_index(explicit_set, b, g, 0, 2, c.lk[b] - 1);
        }
    rt_problem_poison(w2);
    rt_problem_poison(explicit_set);
    assert_int_equal(rt_run(w2), KSA_STATUS_SUCCESS);
    assert_int_equal(rt_run(explicit_set), KSA_STATUS_SUCCESS);
    assert_true(rt_max_diff(w2, explicit_set) <= 1e-7);
    assert_true(rt_max_diff(w2, dense) > 1e-4);
    rt_problem_free(dense);
    rt_problem_free(empty);
    rt_problem_free(window);
    rt_problem_free(w2);
    rt_problem_free(explicit_set);
    rt_data_free(d);
}

/* The order of a REUSE set does not matter. */
static void test_reuse_order_independent(void **state)
{
    rt_config c = base_config(KSA_MODE_REUSE, KSA_PHASE_PREFILL, KSA_DTYPE_F32);
    rt_data *d = rt_data_random(&c, 91, 2.0);
    rt_problem *a = rt_problem_create(&c, d);
    rt_fill_random_sets(a, 5);
    rt_problem *b = rt_problem_create(&c, d);
    for (int32_t s = 0; s < 2; s++)
        for (int32_t g = 0; g < 2; g++)
            for (int64_t t = 0; t < a->p.n_tiles; t++) {
                int32_t n = rt_count(a, s, g, t);
                rt_set_count(b, s, g, t, n);
                for (int32_t x = 0; x < n; x++) rt_set_index(b, s, g, t, x, rt_index(a, s, g, t, n - 1 - x));
            }
    assert_int_equal(rt_run(a), KSA_STATUS_SUCCESS);
    assert_int_equal(rt_run(b), KSA_STATUS_SUCCESS);
    assert_true(rt_max_diff(a, b) == 0.0);
    rt_problem_free(a);
    rt_problem_free(b);
    rt_data_free(d);
}

/* Entries a REUSE set must not hold (undefined behaviour for backends) never crash the reference:
 * it attends the union of the valid candidates, so duplicates count once and keys outside
 * 0 <= j < pos(tT) (or Lk in decode) are dropped, and counts are clamped to [0, k_slots]. */
static void test_reuse_tolerates_bad_entries(void **state)
{
    for (int ph = 0; ph < 2; ph++) {
        rt_config c = base_config(KSA_MODE_REUSE, (ksa_phase)ph, KSA_DTYPE_F32);
        c.topk.min_k = 20; /* k_slots >= 12 */
        rt_data *d = rt_data_random(&c, 111 + (uint64_t)ph, 2.0);
        rt_problem *clean = rt_problem_create(&c, d);
        rt_problem *messy = rt_problem_create(&c, d);
        assert_true(clean->p.k_slots >= 6);
        for (int32_t b = 0; b < 2; b++)
            for (int32_t g = 0; g < 2; g++)
                for (int64_t t = 0; t < clean->p.n_tiles; t++) {
                    int64_t lq = rt_lq(clean, b), T = c.topk.tile_size;
                    int64_t cand = t * T >= lq && !ph ? 0 : ph ? c.lk[b] : c.lk[b] - lq + t * T;
                    int32_t n = cand >= 2 ? 2 : (int32_t)cand;
                    rt_set_count(clean, b, g, t, n);
                    for (int32_t x = 0; x < n; x++) rt_set_index(clean, b, g, t, x, x);
                    /* the same two keys, repeated, plus a negative key, a non-candidate and a huge one */
                    int32_t messy_set[6] = {n > 1 ? 1 : 0, -5, (int32_t)cand, n > 0 ? 0 : -1, 1 << 30, n > 1 ? 1 : -2};
                    rt_set_count(messy, b, g, t, n > 0 ? 6 : 0);
                    for (int32_t x = 0; x < 6; x++) rt_set_index(messy, b, g, t, x, messy_set[x]);
                    if (t == 0 && b == 0 && g == 0 && n == 0) rt_set_count(messy, b, g, t, -3); /* clamped to 0 */
                }
        assert_int_equal(rt_run(clean), KSA_STATUS_SUCCESS);
        assert_int_equal(rt_run(messy), KSA_STATUS_SUCCESS);
        assert_true(rt_max_diff(clean, messy) == 0.0);
        rt_problem_free(clean);
        rt_problem_free(messy);
        rt_data_free(d);
    }
}

/* The workspace contract: the no-allocation entry runs in exactly the bytes it asks for (poisoned
 * first), refuses one byte less, and agrees with the allocating entry. */
static void test_workspace_contract(void **state)
{
    rt_config c = base_config(KSA_MODE_ANCHOR, KSA_PHASE_PREFILL, KSA_DTYPE_BF16);
    c.kv = RT_KV_PAGED;
    rt_data *d = rt_data_random(&c, 101, 2.0);
    rt_problem *alloc_run = run_on(&c, d, NULL);
    rt_problem *ws_run = rt_problem_create(&c, d);
    size_t need = ksa_reference_workspace_bytes(&ws_run->p);
    assert_true(need > 0);
    unsigned char *ws = malloc(need);
    memset(ws, 0xff, need);
    ws_run->p.workspace.ptr = ws;
    ws_run->p.workspace_size = need - 1;
    ksa_call_info info;
    memset(&info, 0, sizeof info);
    assert_int_equal(ksa_reference_attention_in_workspace(&ws_run->p, &info), KSA_STATUS_WORKSPACE_TOO_SMALL);
    ws_run->p.workspace_size = need;
    assert_int_equal(ksa_reference_attention_in_workspace(&ws_run->p, &info), KSA_STATUS_SUCCESS);
    assert_string_equal(info.kernel, "reference.anchor_prefill");
    assert_true(rt_max_diff(alloc_run, ws_run) == 0.0);
    /* an unaligned workspace start works too */
    ws_run->p.workspace.ptr = NULL;
    unsigned char *ws2 = malloc(need + 8);
    ws_run->p.workspace.ptr = ws2 + 3;
    ws_run->p.workspace_size = need;
    rt_problem_poison(ws_run);
    assert_int_equal(ksa_reference_attention_in_workspace(&ws_run->p, NULL), KSA_STATUS_SUCCESS);
    assert_true(rt_max_diff(alloc_run, ws_run) == 0.0);
    /* the allocating entry ignores a workspace that is too small */
    ws_run->p.workspace_size = 16;
    rt_problem_poison(ws_run);
    assert_int_equal(ksa_reference_attention(&ws_run->p), KSA_STATUS_SUCCESS);
    assert_true(rt_max_diff(alloc_run, ws_run) == 0.0);
    free(ws);
    free(ws2);
    rt_problem_free(alloc_run);
    rt_problem_free(ws_run);
    rt_data_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_budget_equals_dense),
        cmocka_unit_test(test_reuse_identity_equals_anchor),
        cmocka_unit_test(test_head_map_routes_sets),
        cmocka_unit_test(test_rolling_vs_fixed),
        cmocka_unit_test(test_chunked_and_decode_match_full_prefill),
        cmocka_unit_test(test_anchor_dense_output),
        cmocka_unit_test(test_lse_consistency),
        cmocka_unit_test(test_decode_local_window),
        cmocka_unit_test(test_reuse_order_independent),
        cmocka_unit_test(test_reuse_tolerates_bad_entries),
        cmocka_unit_test(test_workspace_contract),
    };
    return cmocka_run_group_tests_name("reference_invariants", tests, NULL, NULL);
}
