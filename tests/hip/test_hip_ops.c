/* test_hip_ops.c: the HIP backend's own cases against the reference on hip:0 (skipped without a HIP
 * device): its edges (hip_cases.c: many sequences, head dims 80 and 512, long decode rows, many
 * tiles, windows; both decode routes, the shared split decode and the kh_attend rows) and a call on
 * a created stream. The shared grid (DENSE / ANCHOR / REUSE x prefill / chunked prefill / decode x
 * f32 / f16 / bf16 x head_dim 64 / 128 / 256 x layouts) runs on every HIP device in tests/backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "hip_cases.h"
#include "test_util.h"

/* hip:0, or the calling case is skipped (counted, so a machine without one reports a skip) */
static ksa_device hip_device_or_skip(void)
{
    ksa_device dev = ktest_open_device("hip:0");
    if (!dev) ktest_skip("no HIP device (hip:0): the HIP op tests need one");
    return dev;
}

static void backend_edges(void **state)
{
    (void)state;
    ksa_device dev = hip_device_or_skip();
    assert_int_equal(khip_backend_edges(dev), 0);
}

static void created_stream(void **state)
{
    (void)state;
    ksa_device dev = hip_device_or_skip();
    assert_int_equal(khip_created_stream(dev), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backend_edges),
        cmocka_unit_test(created_stream),
    };
    return ktest_run_group(tests, NULL, NULL);
}
