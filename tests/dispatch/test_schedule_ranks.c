/* test_schedule_ranks.c: a ksa_schedule for one tensor-parallel rank (ksa_schedule_set_head_range).
 * A 6-layer Kascade step (anchors 0 and 3, head maps random inside each shard) runs once over all
 * KV heads and once per rank of 2 and 4 ranks on strided views of the rank's q/k/v heads; every
 * layer's output of every rank must equal the matching head slice of the full run, and the index
 * state after each anchor layer (ksa_schedule_get_index_state) the matching slice of the full
 * run's, on the cpu device and the reference, prefill and decode, f32 and bf16. Also the bad
 * inputs: ranges out of bounds, maps leaving the range (with layer and head named, nothing
 * changed), planning with the wrong head count, calibration mode on a rank. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/ksa_internal.h"
#include "ksa/ksa_calib.h"
#include "test_util.h"

enum { L = 6, B = 2, HQ = 8, HKV = 4, G = HQ / HKV, D = 32, MAXW = 4 };

typedef struct step {
    ksa_phase phase;
    ksa_dtype dtype;
    int32_t lq, lk;
    size_t esize;
    void *q[L], *k[L], *v[L]; /* full tensors, host memory, contiguous [B, len, heads, D] */
} step;

/* What one schedule run leaves: each layer's output and the index state after each anchor. */
typedef struct run_result {
    unsigned char *o[L];       /* [B, lq, count * G, D] */
    int32_t *indices[L];       /* after anchor layers only: [B, count, n_tiles, k_slots] */
    int32_t *counts[L];        /* [B, count, n_tiles] */
    int64_t n_tiles, k_slots;
} run_result;

static const int32_t anchors[2] = {0, 3};

static ksa_topk_params small_topk(void)
{
    ksa_topk_params t = ksa_topk_default();
    t.min_k = 16;
    t.round_multiple = 8;
    t.tile_size = 16;
    return t;
}

static void step_make(step *s, ksa_phase phase, ksa_dtype dt, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->phase = phase;
    s->dtype = dt;
    s->lk = phase == KSA_PHASE_DECODE ? 300 : 150;
    s->lq = phase == KSA_PHASE_DECODE ? 1 : 150;
    s->esize = ksa_dtype_size(dt);
    uint64_t rng = seed;
    for (int l = 0; l < L; l++) {
        s->q[l] = ktest_random_floats(dt, (int64_t)B * s->lq * HQ * D, &rng, -1.0, 1.0);
        s->k[l] = ktest_random_floats(dt, (int64_t)B * s->lk * HKV * D, &rng, -1.0, 1.0);
        s->v[l] = ktest_random_floats(dt, (int64_t)B * s->lk * HKV * D, &rng, -1.0, 1.0);
        assert_true(s->q[l] && s->k[l] && s->v[l]);
    }
}

static void step_free(step *s)
{
    for (int l = 0; l < L; l++) {
        free(s->q[l]);
        free(s->k[l]);
        free(s->v[l]);
    }
}

static void result_free(run_result *r)
{
    for (int l = 0; l < L; l++) {
        free(r->o[l]);
        free(r->indices[l]);
        free(r->counts[l]);
    }
    memset(r, 0, sizeof *r);
}

/* A view of heads [h0, h0 + nh) of a contiguous [B, len, heads, D] host tensor. */
static ksa_tensor head_view(ksa_device dev, void *base, ksa_dtype dt, int32_t len, int32_t heads, int32_t h0, int32_t nh)
{
    int64_t shape[4] = {B, len, nh, D};
    ksa_tensor t = ksa_tensor_make(dev, (unsigned char *)base + (size_t)h0 * D * ksa_dtype_size(dt), dt, 4, shape);
    t.stride[0] = (int64_t)len * heads * D;
    t.stride[1] = (int64_t)heads * D;
    t.stride[2] = D;
    t.stride[3] = 1;
    return t;
}

/* Run the step through a schedule that runs KV heads [offset, offset + count). */
static void run_step(ksa_device dev, const step *s, const int32_t *maps, int32_t offset, int32_t count, run_result *r)
{
    memset(r, 0, sizeof *r);
    ksa_topk_params topk = small_topk();
    ksa_schedule sched;
    assert_int_equal(ksa_schedule_create(dev, L, HKV, &topk, &sched), KSA_STATUS_SUCCESS);
    if (count != HKV) assert_int_equal(ksa_schedule_set_head_range(sched, offset, count), KSA_STATUS_SUCCESS);
    ksa_status st = ksa_schedule_set_kascade(sched, anchors, 2, maps);
    if (st) print_error("set_kascade: %s\n", ksa_last_error());
    assert_int_equal(st, KSA_STATUS_SUCCESS);
    int32_t got_offset = -1, got_count = -1;
    assert_int_equal(ksa_schedule_get_head_range(sched, &got_offset, &got_count), KSA_STATUS_SUCCESS);
    assert_int_equal(got_offset, offset);
    assert_int_equal(got_count, count);
    size_t obytes = (size_t)B * s->lq * count * G * D * s->esize;
    int64_t oshape[4] = {B, s->lq, count * G, D};
    ksa_attention_tensors t;
    size_t ws_bytes = 0;
    unsigned char *ws_mem = NULL;
    for (int l = 0; l < L; l++) {
        r->o[l] = malloc(obytes);
        assert_non_null(r->o[l]);
        memset(r->o[l], 0xff, obytes); /* poison: NaN in f32 and bf16 */
        memset(&t, 0, sizeof t);
        t.q = head_view(dev, s->q[l], s->dtype, s->lq, HQ, offset * G, count * G);
        t.k = head_view(dev, s->k[l], s->dtype, s->lk, HKV, offset, count);
        t.v = head_view(dev, s->v[l], s->dtype, s->lk, HKV, offset, count);
        t.o = ksa_tensor_make(dev, r->o[l], s->dtype, 4, oshape);
        if (l == 0) {
            assert_int_equal(ksa_schedule_plan(sched, s->phase, &t, &ws_bytes), KSA_STATUS_SUCCESS);
            ws_mem = malloc(ws_bytes ? ws_bytes : 1);
            assert_non_null(ws_mem);
        }
        ksa_workspace ws = {.data = ws_mem, .size = ws_bytes};
        st = ksa_schedule_run_layer(sched, NULL, l, &t, &ws);
        if (st) print_error("layer %d: %s\n", l, ksa_last_error());
        assert_int_equal(st, KSA_STATUS_SUCCESS);
        if (l != anchors[0] && l != anchors[1]) continue;
        ksa_tensor ti, tc;
        assert_int_equal(ksa_schedule_get_index_state(sched, &ti, &tc), KSA_STATUS_SUCCESS);
        int decode = s->phase == KSA_PHASE_DECODE;
        assert_int_equal(ti.ndim, decode ? 3 : 4);
        assert_int_equal(ti.shape[1], count);
        assert_int_equal(tc.shape[1], count);
        r->n_tiles = decode ? 1 : ti.shape[2];
        r->k_slots = ti.shape[ti.ndim - 1];
        size_t ni = (size_t)ksa_tensor_numel(&ti), nc = (size_t)ksa_tensor_numel(&tc);
        assert_int_equal(ni, (size_t)B * count * r->n_tiles * r->k_slots);
        r->indices[l] = malloc(ni * 4);
        r->counts[l] = malloc(nc * 4);
        assert_non_null(r->indices[l]);
        assert_non_null(r->counts[l]);
        assert_int_equal(ksa_buffer_read(r->indices[l], ti.buffer, ti.offset, ni * 4, NULL), KSA_STATUS_SUCCESS);
        assert_int_equal(ksa_buffer_read(r->counts[l], tc.buffer, tc.offset, nc * 4, NULL), KSA_STATUS_SUCCESS);
    }
    free(ws_mem);
    ksa_schedule_destroy(sched);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The rank's results must equal heads [offset, offset + count) of the full run's. */
static void compare_slice(const step *s, const run_result *full, const run_result *rank, int32_t offset, int32_t count)
{
    size_t row = (size_t)D * s->esize;
    for (int l = 0; l < L; l++) {
        for (int64_t bi = 0; bi < (int64_t)B * s->lq; bi++)
            for (int32_t h = 0; h < count * G; h++) {
                const unsigned char *a = rank->o[l] + ((size_t)bi * count * G + h) * row;
                const unsigned char *b = full->o[l] + ((size_t)bi * HQ + offset * G + h) * row;
                if (memcmp(a, b, row) != 0) print_error("layer %d, row %lld, local q head %d differs\n", l, (long long)bi, h);
                assert_memory_equal(a, b, row);
            }
        if (!rank->indices[l]) continue;
        assert_int_equal(rank->k_slots, full->k_slots);
        assert_int_equal(rank->n_tiles, full->n_tiles);
        int32_t sa[4096], sb[4096];
        assert_true(rank->k_slots <= 4096);
        for (int32_t b = 0; b < B; b++)
            for (int32_t g = 0; g < count; g++)
                for (int64_t t = 0; t < rank->n_tiles; t++) {
                    size_t cr = ((size_t)b * count + g) * rank->n_tiles + t;
                    size_t cf = ((size_t)b * HKV + offset + g) * full->n_tiles + t;
                    int32_t n = rank->counts[l][cr];
                    assert_int_equal(n, full->counts[l][cf]);
                    assert_true(n >= 0 && n <= rank->k_slots);
                    memcpy(sa, rank->indices[l] + cr * rank->k_slots, sizeof(int32_t) * (size_t)n);
                    memcpy(sb, full->indices[l] + cf * full->k_slots, sizeof(int32_t) * (size_t)n);
                    qsort(sa, (size_t)n, sizeof(int32_t), cmp_i32);
                    qsort(sb, (size_t)n, sizeof(int32_t), cmp_i32);
                    if (n && memcmp(sa, sb, sizeof(int32_t) * (size_t)n) != 0)
                        print_error("layer %d: index set of batch %d, KV head %d, tile %lld differs\n", l, b, offset + g, (long long)t);
                    assert_memory_equal(sa, sb, sizeof(int32_t) * (size_t)n);
                }
    }
}

/* Random head maps for `world` ranks: each REUSE row keeps every head inside its shard. */
static void sharded_maps(int32_t world, uint64_t *rng, int32_t *maps)
{
    int32_t size = HKV / world;
    for (int l = 0; l < L; l++)
        for (int g = 0; g < HKV; g++)
            maps[l * HKV + g] = (l == anchors[0] || l == anchors[1]) ? g : g - g % size + (int32_t)(ktest_rand_u64(rng) % (uint64_t)size);
}

static void ranks_equal_full(const char *device)
{
    ksa_device dev = ktest_open_device(device);
    assert_non_null(dev);
    int is_cpu = strcmp(device, "cpu") == 0;
    uint64_t rng = 0xab5eed;
    const ksa_dtype dts[2] = {KSA_DTYPE_F32, KSA_DTYPE_BF16};
    int runs = 0, crossing = 0;
    for (int ph = 0; ph < 2; ph++)
        for (int di = 0; di < 2; di++) {
            ksa_phase phase = ph ? KSA_PHASE_DECODE : KSA_PHASE_PREFILL;
            /* The CPU backend's default decode split depends on B * Hkv (a rank has fewer heads),
             * which changes the summation order; the same configuration on both sides makes a
             * rank's heads bit-identical to the full run's (what this test is about: the slicing). */
            if (is_cpu)
                assert_int_equal(ksa_set_config_override(ph ? "block_k=64,decode_chunk=256" : "block_q=32,block_k=64"),
                                 KSA_STATUS_SUCCESS);
            step s;
            step_make(&s, phase, dts[di], 1000 + (uint64_t)(ph * 2 + di));
            for (int32_t world = 2; world <= MAXW; world *= 2) {
                int32_t maps[L * HKV];
                sharded_maps(world, &rng, maps);
                for (int i = 0; i < L * HKV; i++) crossing += maps[i] != i % HKV;
                run_result full;
                run_step(dev, &s, maps, 0, HKV, &full);
                for (int32_t rank = 0; rank < world; rank++) {
                    run_result mine;
                    int32_t count = HKV / world;
                    run_step(dev, &s, maps, rank * count, count, &mine);
                    compare_slice(&s, &full, &mine, rank * count, count);
                    result_free(&mine);
                    runs++;
                }
                result_free(&full);
            }
            step_free(&s);
            if (is_cpu) ksa_set_config_override(NULL);
        }
    print_message("%s: %d rank runs equal their slice of the full run\n", device, runs);
    assert_int_equal(runs, 2 * 2 * (2 + 4));
    assert_true(crossing > 0); /* the maps are not all the identity */
}

static void ranks_equal_full_reference(void **state)
{
    (void)state;
    ranks_equal_full("reference");
}

static void ranks_equal_full_cpu(void **state)
{
    (void)state;
    if (!ktest_open_device("cpu")) ktest_skip("no cpu device");
    ranks_equal_full("cpu");
}

static void head_range_bad_inputs(void **state)
{
    (void)state;
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    ksa_schedule s;
    assert_int_equal(ksa_schedule_create(dev, 4, 4, NULL, &s), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_set_head_range(NULL, 0, 2), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_schedule_set_head_range(s, 0, 0), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "kv_head_count is 0"));
    assert_int_equal(ksa_schedule_set_head_range(s, 0, 5), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_schedule_set_head_range(s, -1, 2), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "kv_head_offset is -1"));
    assert_int_equal(ksa_schedule_set_head_range(s, 3, 2), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "must be in 0..2"));
    int32_t off = -1, cnt = -1;
    assert_int_equal(ksa_schedule_get_head_range(s, &off, &cnt), KSA_STATUS_SUCCESS);
    assert_int_equal(off, 0);
    assert_int_equal(cnt, 4);
    /* a plan whose maps cross the halves: fine for all heads, refused for a half */
    int32_t anch[2] = {0, 2};
    int32_t maps[16] = {0, 1, 2, 3, 1, 0, 3, 2, 0, 1, 2, 3, 2, 3, 2, 3};
    assert_int_equal(ksa_schedule_set_kascade(s, anch, 2, maps), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_set_head_range(s, 2, 2), KSA_STATUS_SUCCESS); /* layer 3 maps 2->2, 3->3 */
    assert_int_equal(ksa_schedule_set_head_range(s, 0, 2), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "REUSE layer 3 maps KV head 0 to anchor KV head 2, outside the KV heads 0..1"));
    assert_int_equal(ksa_schedule_get_head_range(s, &off, &cnt), KSA_STATUS_SUCCESS);
    assert_int_equal(off, 2); /* unchanged */
    maps[1 * 4 + 3] = 0;      /* layer 1: KV head 3 -> 0, outside 2..3 */
    assert_int_equal(ksa_schedule_set_kascade(s, anch, 2, maps), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "REUSE layer 1 maps KV head 3 to anchor KV head 0, outside the KV heads 2..3"));
    int32_t row[4];
    ksa_layer_kind kind;
    assert_int_equal(ksa_schedule_get_layer(s, 1, &kind, NULL, row), KSA_STATUS_SUCCESS);
    assert_int_equal(row[3], 2); /* the old plan is kept */
    const int32_t bad_row[4] = {0, 0, 3, 1};
    assert_int_equal(ksa_schedule_set_layer(s, 1, KSA_LAYER_REUSE, bad_row), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "REUSE layer 1 maps KV head 3 to anchor KV head 1"));
    const int32_t good_row[4] = {0, 0, 3, 3}; /* heads 0, 1 are another rank's business */
    assert_int_equal(ksa_schedule_set_layer(s, 1, KSA_LAYER_REUSE, good_row), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_set_layer(s, 1, KSA_LAYER_REUSE, NULL), KSA_STATUS_SUCCESS); /* identity */

    /* planning with the model's head count instead of the rank's */
    ktest_config c = ktest_config_default();
    c.hq = 8;
    c.hkv = 4;
    ktest_problem p;
    assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
    size_t ws = 0;
    assert_int_equal(ksa_schedule_get_index_state(s, NULL, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "plan"));
    assert_int_equal(ksa_schedule_plan(s, KSA_PHASE_PREFILL, &p.tensors, &ws), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "k has 4 KV heads but the schedule runs 2 (KV heads 2..3 of the model's 4"));
    /* back to all heads: plans; changing the range drops the planned step */
    assert_int_equal(ksa_schedule_set_head_range(s, 0, 4), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_plan(s, KSA_PHASE_PREFILL, &p.tensors, &ws), KSA_STATUS_SUCCESS);
    ksa_tensor ti, tc;
    assert_int_equal(ksa_schedule_get_index_state(s, &ti, &tc), KSA_STATUS_SUCCESS);
    assert_int_equal(ti.shape[1], 4);
    assert_int_equal(ksa_schedule_set_head_range(s, 2, 2), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_run_layer(s, NULL, 0, &p.tensors, &p.workspace), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "ksa_schedule_plan first"));
    /* calibration needs every head */
    ksa_calib_collector col;
    assert_int_equal(ksa_calib_collector_create(4, 4, NULL, &col), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_set_calibration(s, col, 1), KSA_STATUS_UNSUPPORTED);
    assert_non_null(strstr(ksa_last_error(), "calibration needs every head"));
    assert_int_equal(ksa_schedule_set_head_range(s, 0, 4), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_set_calibration(s, col, 1), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_set_head_range(s, 0, 2), KSA_STATUS_UNSUPPORTED);
    assert_int_equal(ksa_schedule_set_calibration(s, NULL, 0), KSA_STATUS_SUCCESS);
    ksa_calib_collector_destroy(col);
    ktest_problem_destroy(&p);
    ksa_schedule_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(head_range_bad_inputs),
        cmocka_unit_test(ranks_equal_full_reference),
        cmocka_unit_test(ranks_equal_full_cpu),
    };
    return ktest_run_group(tests, NULL, NULL);
}
