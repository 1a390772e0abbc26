/* test_api.c: the public API's happy paths and the correctness machinery itself: version and
 * status strings, device enumeration, buffer round trips, tensor helpers, Top-k budget rules, and
 * that the reference cross-check catches a corrupted output, a corrupted index set and a wrong
 * count while accepting the reference's own answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/ksa_half.h"
#include "dispatch/ksa_internal.h"
#include "reference/ksa_reference.h"
#include "test_util.h"

static void version_and_status(void **state)
{
    (void)state;
    assert_int_equal(ksa_version(), KSA_VERSION_NUMBER);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", KSA_VERSION_MAJOR, KSA_VERSION_MINOR, KSA_VERSION_PATCH);
    assert_string_equal(ksa_version_string(), want);
    assert_string_equal(ksa_status_string(KSA_STATUS_SUCCESS), "KSA_STATUS_SUCCESS");
    assert_string_equal(ksa_status_string(KSA_STATUS_UNSUPPORTED), "KSA_STATUS_UNSUPPORTED");
    assert_string_equal(ksa_status_string((ksa_status)999), "KSA_STATUS_UNKNOWN");
    assert_int_equal(ksa_dtype_size(KSA_DTYPE_BF16), 2);
    assert_int_equal(ksa_dtype_size(KSA_DTYPE_INVALID), 0);
    assert_string_equal(ksa_dtype_name(KSA_DTYPE_F16), "f16");
}

static void devices_and_buffers(void **state)
{
    (void)state;
    ksa_context ctx = ktest_context();
    assert_non_null(ctx);
    int n = 0;
    assert_int_equal(ksa_device_count(ctx, &n), KSA_STATUS_SUCCESS);
    assert_true(n >= 1);
    int found_ref = 0;
    for (int i = 0; i < n; i++) {
        ksa_device d;
        assert_int_equal(ksa_device_get(ctx, i, &d), KSA_STATUS_SUCCESS);
        ksa_device_info info;
        assert_int_equal(ksa_device_get_info(d, &info), KSA_STATUS_SUCCESS);
        assert_true(strlen(info.name) > 0);
        if (strcmp(info.name, "reference") == 0) {
            found_ref = 1;
            assert_int_equal(info.kind, KSA_DEVICE_REFERENCE);
            assert_int_equal(info.host_memory, 1);
        }
    }
    assert_true(found_ref);
    ksa_device dev;
    assert_int_equal(ksa_device_open(ctx, "auto", &dev), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_device_open(ctx, "reference", &dev), KSA_STATUS_SUCCESS);
    ksa_buffer b;
    assert_int_equal(ksa_buffer_alloc(dev, 1000, &b), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_size(b), 1000);
    unsigned char src[1000], dst[1000];
    for (int i = 0; i < 1000; i++) src[i] = (unsigned char)(i * 7 + 3);
    assert_int_equal(ksa_buffer_write(b, 0, src, 1000, NULL), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_fill(b, 10, 5, 0x5a, NULL), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_read(dst, b, 0, 1000, NULL), KSA_STATUS_SUCCESS);
    for (int i = 0; i < 1000; i++) assert_int_equal(dst[i], (i >= 10 && i < 15) ? 0x5a : src[i]);
    ksa_buffer_free(b);
    ksa_buffer w;
    assert_int_equal(ksa_buffer_wrap(dev, src, sizeof src, &w), KSA_STATUS_SUCCESS);
    assert_ptr_equal(ksa_buffer_data(w), src);
    ksa_buffer_free(w); /* does not free src */
    ksa_stream s;
    assert_int_equal(ksa_stream_create(dev, &s), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_stream_synchronize(dev, s), KSA_STATUS_SUCCESS);
    ksa_stream_destroy(s);
}

static void tensor_helpers(void **state)
{
    (void)state;
    int64_t shape[4] = {2, 3, 4, 5};
    float data[120];
    ksa_tensor t = ksa_tensor_make(NULL, data, KSA_DTYPE_F32, 4, shape);
    assert_int_equal(t.stride[3], 1);
    assert_int_equal(t.stride[2], 5);
    assert_int_equal(t.stride[1], 20);
    assert_int_equal(t.stride[0], 60);
    assert_int_equal(ksa_tensor_numel(&t), 120);
    assert_true(ksa_tensor_present(&t));
    ksa_tensor z;
    memset(&z, 0, sizeof z);
    assert_false(ksa_tensor_present(&z));
}

static void budget_rules(void **state)
{
    (void)state;
    ksa_topk_params k = ksa_topk_default();
    /* k(L) = min(L, round_up(max(128, floor(0.1 L)), 128)) */
    assert_int_equal(ksa_budget(&k, 50), 50);
    assert_int_equal(ksa_budget(&k, 1000), 128);
    assert_int_equal(ksa_budget(&k, 1300), 256);  /* 130 -> 256 */
    assert_int_equal(ksa_budget(&k, 32768), 3328); /* 3276 -> 3328 */
    k.round_multiple = 1;
    assert_int_equal(ksa_budget(&k, 32768), 3276);
    k.top_k = 77;
    assert_int_equal(ksa_budget(&k, 50), 50);
    assert_int_equal(ksa_budget(&k, 5000), 77);
    /* selection sizes: the hand-computed table of tests/common (test_budget_table.c) */
    for (int i = 0; i < ktest_num_count_cases; i++) {
        const ktest_count_case *c = &ktest_count_cases[i];
        ksa_topk_params tk = ktest_count_case_topk(c);
        int64_t got = c->decode ? ksa_decode_count(&tk, c->lk) : ksa_prefill_tile_count(&tk, c->lq, c->lk, c->t);
        if (got != c->count) print_message("selection-size table row %d: the rule gives %lld, the table %lld\n", i,
                                           (long long)got, (long long)c->count);
        assert_int_equal(got, c->count);
        /* every count fits the index slots ksa_attention_index_shape asks for */
        assert_true(got <= ksa_index_slots(&tk, c->decode ? KSA_PHASE_DECODE : KSA_PHASE_PREFILL, c->lk));
    }
    ksa_topk_params r = ksa_topk_default();
    assert_int_equal(ksa_index_slots(&r, KSA_PHASE_PREFILL, 4096), 512 - 32);
    assert_int_equal(ksa_index_slots(&r, KSA_PHASE_DECODE, 4096), 512);
}

/* The reference agrees with itself; corrupting its output, an index or a count is caught. */
static void crosscheck_catches_corruption(void **state)
{
    (void)state;
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    ktest_config c = ktest_config_default();
    c.mode = KSA_MODE_ANCHOR;
    c.lq = c.lk = 200;
    c.topk_set = 1;
    c.topk = ksa_topk_default();
    c.topk.min_k = 16;
    c.topk.round_multiple = 8;
    c.topk.tile_size = 16;
    c.with_lse = 1;
    ktest_problem p;
    assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
    assert_int_equal(ktest_problem_run(&p), KSA_STATUS_SUCCESS);
    char report[512];
    assert_int_equal(ktest_problem_check(&p, report, sizeof report), KSA_STATUS_SUCCESS);
    /* the reference itself is a valid run: the ANCHOR sets exist */
    int32_t *idx = ksa_buffer_data(p.tensors.indices.buffer);
    int32_t *cnt = ksa_buffer_data(p.tensors.counts.buffer);
    int64_t tiles = p.tensors.indices.shape[2], slots = p.tensors.indices.shape[3];
    int64_t t = tiles - 1;
    assert_true(cnt[t] > 0);
    /* 1: an output element */
    float *o = ksa_buffer_data(p.tensors.o.buffer);
    float saved = o[123];
    o[123] += 0.01f;
    assert_int_equal(ktest_problem_check(&p, report, sizeof report), KSA_STATUS_CHECK_FAILED);
    assert_non_null(strstr(report, "o[b="));
    o[123] = saved;
    /* 2: a count */
    cnt[t] -= 1;
    assert_int_equal(ktest_problem_check(&p, report, sizeof report), KSA_STATUS_CHECK_FAILED);
    assert_non_null(strstr(report, "counts"));
    cnt[t] += 1;
    /* 3: swap a selected key for the weakest unselected candidate (no near-tie) */
    int32_t *set = idx + t * slots;
    int64_t ncand = 200 - 200 + t * 16;
    unsigned char *chosen = calloc((size_t)ncand, 1);
    for (int i = 0; i < cnt[t]; i++) chosen[set[i]] = 1;
    ksa_problem rp;
    ksa_problem_storage st;
    memset(&st, 0, sizeof st);
    assert_int_equal(ksa_resolve_problem(dev, NULL, &p.params, &p.tensors, &rp, &st), KSA_STATUS_SUCCESS);
    double *scores = malloc(sizeof(double) * (size_t)ncand);
    int64_t n = 0;
    assert_int_equal(ksa_reference_pooled_scores(&rp, 0, 0, t, scores, &n), KSA_STATUS_SUCCESS);
    assert_int_equal(n, ncand);
    int64_t worst = -1;
    for (int64_t j = 0; j < ncand; j++)
        if (!chosen[j] && (worst < 0 || scores[j] < scores[worst])) worst = j;
    assert_true(worst >= 0);
    int32_t keep = set[0];
    set[0] = (int32_t)worst;
    assert_int_equal(ktest_problem_check(&p, report, sizeof report), KSA_STATUS_CHECK_FAILED);
    assert_non_null(strstr(report, "weakest"));
    set[0] = keep;
    /* 4: a duplicate entry */
    int32_t keep1 = set[1];
    set[1] = set[0];
    assert_int_equal(ktest_problem_check(&p, report, sizeof report), KSA_STATUS_CHECK_FAILED);
    assert_non_null(strstr(report, "duplicate"));
    set[1] = keep1;
    /* 5: an unused slot not -1 */
    if (cnt[t] < slots) {
        set[cnt[t]] = 0;
        assert_int_equal(ktest_problem_check(&p, report, sizeof report), KSA_STATUS_CHECK_FAILED);
        set[cnt[t]] = -1;
    }
    assert_int_equal(ktest_problem_check(&p, report, sizeof report), KSA_STATUS_SUCCESS);
    free(scores);
    free(chosen);
    ksa_problem_storage_release(&st);
    ktest_problem_destroy(&p);
}

static void half_conversions_round_trip(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ksa_f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        assert_int_equal(ksa_f32_to_f16(f), h);
        float g = ksa_bf16_to_f32((uint16_t)h);
        if (isnan(g)) continue;
        assert_int_equal(ksa_f32_to_bf16(g), h);
    }
    assert_int_equal(ksa_f32_to_bf16(1.0f + 1.0f / 256.0f), 0x3f80); /* ties to even */
    assert_int_equal(ksa_f32_to_f16(65520.0f), 0x7c00);              /* rounds to inf */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_and_status),
        cmocka_unit_test(devices_and_buffers),
        cmocka_unit_test(tensor_helpers),
        cmocka_unit_test(budget_rules),
        cmocka_unit_test(crosscheck_catches_corruption),
        cmocka_unit_test(half_conversions_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
