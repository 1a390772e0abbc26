/* test_hip_ops.c: every op of the HIP backend against the reference on hip:0 (skipped without a HIP
 * device): the shared grid (DENSE / ANCHOR / REUSE x prefill / chunked prefill / decode x f32 / f16
 * / bf16 x head_dim 64 / 128 / 256 x contiguous / ragged / paged, GQA 1..8, head maps, windows), then
 * the HIP backend's own edges: more sequences than one launch chunk (64), head dims that are not a
 * power of two and the 512 maximum, long decode rows (many keys per wave, radix select over
 * thousands of candidates), many prefill tiles, and a call on a created (non-default) stream.
 * KSA_TEST_QUICK=1 runs the CI-sized grid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static ksa_device hip_device(void)
{
    ksa_device dev = ktest_open_device("hip:0");
    if (!dev) printf("no HIP device: skipping the HIP op tests\n");
    return dev;
}

static void standard_grid(void **state)
{
    (void)state;
    ksa_device dev = hip_device();
    if (!dev) skip();
    const ksa_dtype dtypes[] = {KSA_DTYPE_F32, KSA_DTYPE_F16, KSA_DTYPE_BF16};
    const int32_t dims[] = {64, 128, 256};
    const char *quick = getenv("KSA_TEST_QUICK");
    int failures = ktest_run_standard_grid(dev, quick && quick[0] == '1', dtypes, 3, dims, 3);
    assert_int_equal(failures, 0);
}

static void backend_edges(void **state)
{
    (void)state;
    ksa_device dev = hip_device();
    if (!dev) skip();
    ksa_topk_params small = ksa_topk_default();
    small.min_k = 16;
    small.round_multiple = 8;
    small.fraction = 0.1;
    small.tile_size = 16;
    ktest_config cases[10];
    int n = 0;
    ktest_config c;
    /* 70 sequences: two launch chunks, ragged decode with lse */
    c = ktest_config_default(); c.phase = KSA_PHASE_DECODE; c.batch = 70; c.lk = 90; c.vary_lengths = 1;
    c.kv = KTEST_KV_RAGGED; c.with_lse = 1; c.dtype = KSA_DTYPE_F16; cases[n++] = c;
    /* 70 sequences, anchor decode (Top-k rows of both chunks) */
    c = ktest_config_default(); c.mode = KSA_MODE_ANCHOR; c.phase = KSA_PHASE_DECODE; c.batch = 70; c.lk = 300;
    c.vary_lengths = 1; c.hq = 4; c.hkv = 2; c.topk_set = 1; c.topk = small; cases[n++] = c;
    /* head_dim 80 (not a power of two), anchor prefill, bf16 */
    c = ktest_config_default(); c.mode = KSA_MODE_ANCHOR; c.head_dim = 80; c.lq = c.lk = 100; c.dtype = KSA_DTYPE_BF16;
    c.topk_set = 1; c.topk = small; c.with_lse = 1; cases[n++] = c;
    /* head_dim 512, dense chunked prefill f32 */
    c = ktest_config_default(); c.head_dim = 512; c.batch = 1; c.lq = 20; c.lk = 70; c.with_lse = 1; cases[n++] = c;
    /* long decode, GQA 8: anchor over 3000 keys (radix select over many candidates), f16 */
    c = ktest_config_default(); c.mode = KSA_MODE_ANCHOR; c.phase = KSA_PHASE_DECODE; c.batch = 2; c.hq = 16; c.hkv = 2;
    c.head_dim = 128; c.lk = 3000; c.dtype = KSA_DTYPE_F16; c.with_lse = 1; cases[n++] = c;
    /* many tiles: anchor chunked prefill with 12 tiles, paged, GQA 4, head_dim 256 */
    c = ktest_config_default(); c.mode = KSA_MODE_ANCHOR; c.hq = 8; c.hkv = 2; c.head_dim = 256; c.lq = 190; c.lk = 400;
    c.kv = KTEST_KV_PAGED; c.topk_set = 1; c.topk = small; c.dtype = KSA_DTYPE_F16; cases[n++] = c;
    /* reuse decode with a window longer than some sequences */
    c = ktest_config_default(); c.mode = KSA_MODE_REUSE; c.phase = KSA_PHASE_DECODE; c.batch = 3; c.lk = 60;
    c.vary_lengths = 1; c.topk_set = 1; c.topk = small; c.topk.local_window = 50; c.use_head_map = 1; cases[n++] = c;
    int failures = 0;
    for (int i = 0; i < n; i++) {
        cases[i].seed = 9000u + (uint64_t)i;
        ksa_status st = ktest_run_and_check(dev, &cases[i]);
        if (st) failures++;
    }
    assert_int_equal(failures, 0);
}

static void created_stream(void **state)
{
    (void)state;
    ksa_device dev = hip_device();
    if (!dev) skip();
    ktest_config c = ktest_config_default();
    c.mode = KSA_MODE_ANCHOR;
    c.dtype = KSA_DTYPE_F16;
    c.with_lse = 1;
    ktest_problem p;
    assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
    ksa_stream s;
    assert_int_equal(ksa_stream_create(dev, &s), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_buffer_fill(p.tensors.o.buffer, 0, ksa_buffer_size(p.tensors.o.buffer), 0xff, s), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_attention(dev, s, &p.params, &p.tensors, &p.workspace), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_stream_synchronize(dev, s), KSA_STATUS_SUCCESS);
    char report[1024] = "";
    ksa_status st = ktest_problem_check(&p, report, sizeof report);
    if (st) printf("check: %s\n", report);
    assert_int_equal(st, KSA_STATUS_SUCCESS);
    ksa_stream_destroy(s);
    ktest_problem_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(standard_grid),
        cmocka_unit_test(backend_edges),
        cmocka_unit_test(created_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
