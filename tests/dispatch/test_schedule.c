/* test_schedule.c: ksa_schedule. Bad inputs (layer out of range, REUSE without an anchor, head-map
 * entries out of range, running before planning, running a REUSE layer before its anchor); the
 * Kascade plan loaded from anchors + head maps; and a 6-layer prefill and decode step through
 * ksa_schedule_run_layer whose every layer output equals the direct ksa_attention call with the
 * equivalent mode, index tensors and head map. */
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

static void schedule_bad_inputs(void **state)
{
    (void)state;
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    ksa_schedule s;
    assert_int_equal(ksa_schedule_create(dev, 0, 8, NULL, &s), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "num_layers"));
    assert_int_equal(ksa_schedule_create(dev, 4, 0, NULL, &s), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "num_kv_heads"));
    assert_int_equal(ksa_schedule_create(NULL, 4, 2, NULL, &s), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_schedule_create(dev, 4, 2, NULL, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_schedule_create(dev, 4, 2, NULL, &s), KSA_STATUS_SUCCESS);
    int32_t good[2] = {1, 0}, bad[2] = {0, 2};
    assert_int_equal(ksa_schedule_set_layer(s, 4, KSA_LAYER_DENSE, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "layer 4"));
    assert_int_equal(ksa_schedule_set_layer(s, 1, KSA_LAYER_REUSE, good), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "no ANCHOR"));
    assert_int_equal(ksa_schedule_set_layer(s, 0, KSA_LAYER_ANCHOR, NULL), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_set_layer(s, 1, KSA_LAYER_REUSE, bad), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "head map"));
    assert_int_equal(ksa_schedule_set_layer(s, 1, KSA_LAYER_REUSE, good), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_set_layer(s, 0, KSA_LAYER_DENSE, NULL), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "only anchor"));
    ksa_layer_kind kind;
    int32_t anchor, map[2];
    assert_int_equal(ksa_schedule_get_layer(s, 1, &kind, &anchor, map), KSA_STATUS_SUCCESS);
    assert_int_equal(kind, KSA_LAYER_REUSE);
    assert_int_equal(anchor, 0);
    assert_int_equal(map[0], 1);
    int32_t anchors_bad[2] = {1, 3}, anchors_dup[2] = {0, 0}, anchors[2] = {0, 2};
    int32_t maps[8] = {0, 1, 1, 0, 0, 1, 1, 1};
    assert_int_equal(ksa_schedule_set_kascade(s, anchors_bad, 2, maps), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "layer 0"));
    assert_int_equal(ksa_schedule_set_kascade(s, anchors_dup, 2, maps), KSA_STATUS_INVALID_ARGUMENT);
    maps[5] = 7;
    assert_int_equal(ksa_schedule_set_kascade(s, anchors, 2, maps), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "head_maps"));
    maps[5] = 1;
    assert_int_equal(ksa_schedule_set_kascade(s, anchors, 2, maps), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_get_layer(s, 2, &kind, &anchor, map), KSA_STATUS_SUCCESS);
    assert_int_equal(kind, KSA_LAYER_ANCHOR);
    assert_int_equal(map[0], 0); /* anchors use the identity whatever the table says */
    assert_int_equal(map[1], 1);
    assert_int_equal(ksa_schedule_get_layer(s, 3, &kind, &anchor, map), KSA_STATUS_SUCCESS);
    assert_int_equal(kind, KSA_LAYER_REUSE);
    assert_int_equal(anchor, 2);
    assert_int_equal(map[0], 1);
    /* running before planning */
    ktest_config c = ktest_config_default();
    ktest_problem p;
    assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_schedule_run_layer(s, NULL, 0, &p.tensors, &p.workspace), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "plan"));
    size_t ws = 0;
    assert_int_equal(ksa_schedule_plan(s, KSA_PHASE_PREFILL, &p.tensors, &ws), KSA_STATUS_SUCCESS);
    /* REUSE layer 1 before its anchor (layer 0) ran in this step */
    assert_int_equal(ksa_schedule_run_layer(s, NULL, 1, &p.tensors, &p.workspace), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "has not run"));
    ktest_problem_destroy(&p);
    ksa_schedule_destroy(s);
}

static void schedule_prefill_matches_direct_calls(void **state)
{
    (void)state;
    const char *names[] = {"reference", "cpu"};
    for (int i = 0; i < 2; i++) {
        ksa_device dev = ktest_open_device(names[i]);
        if (dev) assert_int_equal(ktest_schedule_step_matches_direct(dev, KSA_PHASE_PREFILL, 100, NULL), KSA_STATUS_SUCCESS);
    }
}

static void schedule_decode_matches_direct_calls(void **state)
{
    (void)state;
    const char *names[] = {"reference", "cpu"};
    for (int i = 0; i < 2; i++) {
        ksa_device dev = ktest_open_device(names[i]);
        if (dev) assert_int_equal(ktest_schedule_step_matches_direct(dev, KSA_PHASE_DECODE, 100, NULL), KSA_STATUS_SUCCESS);
    }
}

/* Calibration mode: every layer runs ANCHOR with dense output and feeds the collector; a layer's
 * coverage of itself (same head) is 1, outputs equal plain dense attention, steps open and close
 * with plan and the last layer. */
static void schedule_calibration_mode(void **state)
{
    (void)state;
    enum { L = 3, HKV = 2 };
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    for (int exact = 0; exact <= 1; exact++) {
        ksa_topk_params topk = ksa_topk_default();
        topk.min_k = 40; /* k = 40, k - T = 24 keys selected per tile */
        topk.round_multiple = 8;
        topk.tile_size = 16;
        ksa_schedule s;
        assert_int_equal(ksa_schedule_create(dev, L, HKV, &topk, &s), KSA_STATUS_SUCCESS);
        int32_t nl = 0, nh = 0;
        assert_int_equal(ksa_schedule_get_shape(s, &nl, &nh), KSA_STATUS_SUCCESS);
        assert_int_equal(nl, L);
        assert_int_equal(nh, HKV);
        ksa_calib_collector col;
        assert_int_equal(ksa_calib_collector_create(L, HKV, NULL, &col), KSA_STATUS_SUCCESS);
        assert_int_equal(ksa_schedule_set_calibration(s, col, exact), KSA_STATUS_SUCCESS);
        ktest_problem layer[L];
        for (int l = 0; l < L; l++) {
            ktest_config c = ktest_config_default();
            c.hq = 4;
            c.hkv = HKV;
            c.lq = c.lk = 96;
            c.seed = 500 + (uint64_t)l;
            assert_int_equal(ktest_problem_create(dev, &c, &layer[l]), KSA_STATUS_SUCCESS);
        }
        for (int step = 0; step < 2; step++) {
            size_t ws_bytes = 0;
            assert_int_equal(ksa_schedule_plan(s, KSA_PHASE_PREFILL, &layer[0].tensors, &ws_bytes), KSA_STATUS_SUCCESS);
            ksa_buffer wsb = NULL;
            ksa_workspace ws;
            memset(&ws, 0, sizeof ws);
            if (ws_bytes) {
                assert_int_equal(ksa_buffer_alloc(dev, ws_bytes, &wsb), KSA_STATUS_SUCCESS);
                ws.buffer = wsb;
                ws.size = ws_bytes;
            }
            for (int l = 0; l < L; l++) {
                assert_int_equal(ksa_schedule_run_layer(s, NULL, l, &layer[l].tensors, &ws), KSA_STATUS_SUCCESS);
                /* dense output: equals the plain DENSE call (the ktest problem's own mode) */
                char report[512];
                assert_int_equal(ktest_problem_check(&layer[l], report, sizeof report), KSA_STATUS_SUCCESS);
            }
            /* the step closed with the last layer */
            assert_int_equal(ksa_schedule_run_layer(s, NULL, 0, &layer[0].tensors, &ws), KSA_STATUS_INVALID_ARGUMENT);
            assert_non_null(strstr(ksa_last_error(), "calibration step"));
            ksa_buffer_free(wsb);
        }
        double cov[L * L * HKV * HKV];
        int64_t samples[L * L];
        assert_int_equal(ksa_calib_collector_coverage(col, cov, samples), KSA_STATUS_SUCCESS);
        for (int a = 0; a < L; a++) {
            assert_int_equal(samples[a * L + a], 2 * 2); /* 2 steps x batch 2 */
            for (int h = 0; h < HKV; h++) {
                double self = cov[((a * L + a) * HKV + h) * HKV + h];
                assert_true(self > 1.0 - 1e-9 && self < 1.0 + 1e-9);
            }
            for (int b = a; b < L; b++)
                for (int i = 0; i < HKV * HKV; i++) {
                    double m = cov[(a * L + b) * HKV * HKV + i];
                    assert_true(m >= 0.0 && m <= 1.0 + 1e-9);
                }
        }
        for (int l = 0; l < L; l++) ktest_problem_destroy(&layer[l]);
        ksa_calib_collector_destroy(col);
        ksa_schedule_destroy(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schedule_bad_inputs),
        cmocka_unit_test(schedule_prefill_matches_direct_calls),
        cmocka_unit_test(schedule_decode_matches_direct_calls),
        cmocka_unit_test(schedule_calibration_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
