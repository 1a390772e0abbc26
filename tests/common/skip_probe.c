#define _POSIX_C_SOURCE 200809L /* setenv */
/* skip_probe.c: checks the skip plumbing of test_util.h that every device test relies on. Run with
 * one argument: "all-skip" (every case skips: must exit KTEST_SKIP_CODE), "some-skip" (one case
 * passes, one skips: exit 0), "skip-and-fail" (one case skips, one fails: a failure, never the skip
 * code), "filtered" (KSA_TEST_FILTER selects the skipping case only: the skip code). The ctest
 * entry test_skip_plumbing runs all four and checks the exit statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static void case_skips(void **state)
{
    (void)state;
    ktest_skip("probe: this case cannot run here");
}

static void case_passes(void **state)
{
    (void)state;
    assert_int_equal(1 + 1, 2);
}

static void case_fails(void **state)
{
    (void)state;
    assert_int_equal(1 + 1, 3);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "all-skip")) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(case_skips), cmocka_unit_test(case_skips)};
        return ktest_run_group(tests, NULL, NULL);
    }
    if (!strcmp(mode, "some-skip")) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(case_skips), cmocka_unit_test(case_passes)};
        return ktest_run_group(tests, NULL, NULL);
    }
    if (!strcmp(mode, "skip-and-fail")) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(case_skips), cmocka_unit_test(case_fails)};
        return ktest_run_group(tests, NULL, NULL);
    }
    if (!strcmp(mode, "filtered")) {
        setenv("KSA_TEST_FILTER", "case_sk*", 1);
        const struct CMUnitTest tests[] = {cmocka_unit_test(case_passes), cmocka_unit_test(case_skips)};
        return ktest_run_group(tests, NULL, NULL);
    }
    fprintf(stderr, "usage: skip_probe all-skip|some-skip|skip-and-fail|filtered\n");
    return 2;
}
