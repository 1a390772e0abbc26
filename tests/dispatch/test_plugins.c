#define _POSIX_C_SOURCE 200809L
/* test_plugins.c: the plugin loader: a plugin with the right ABI is loaded and its device is
 * usable through the public API (its UNSUPPORTED answer comes back with its sentence); a plugin
 * speaking another ABI is refused and listed as absent with the reason; a backend name that is
 * absent gives NOT_FOUND with a sentence, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/ksa_internal.h"
#include "test_util.h"

static const ksa_backend_entry *entry_named(ksa_context ctx, const char *name)
{
    for (int i = 0; i < ksa_context_backend_count(ctx); i++) {
        const ksa_backend_entry *e = ksa_context_backend_entry(ctx, i);
        if (strcmp(e->name, name) == 0) return e;
    }
    return NULL;
}

static void good_plugin_loads(void **state)
{
    (void)state;
    setenv("KSA_PLUGIN_PATH", KSA_FAKE_PLUGIN_DIR "/good", 1);
    ksa_context ctx;
    assert_int_equal(ksa_context_create(&ctx), KSA_STATUS_SUCCESS);
    const ksa_backend_entry *e = entry_named(ctx, "fakegood");
    assert_non_null(e);
    assert_non_null(e->backend);
    assert_string_equal(e->why, "");
    ksa_device dev;
    assert_int_equal(ksa_device_open(ctx, "fake:0", &dev), KSA_STATUS_SUCCESS);
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(dev, &info), KSA_STATUS_SUCCESS);
    assert_string_equal(info.backend, "fake");
    assert_int_equal(info.host_memory, 0);
    /* a valid call reaches the plugin, whose refusal comes back with its sentence */
    ktest_config c = ktest_config_default();
    ktest_problem p;
    assert_int_equal(ktest_problem_create(dev, &c, &p), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_attention(dev, NULL, &p.params, &p.tensors, &p.workspace), KSA_STATUS_UNSUPPORTED);
    assert_non_null(strstr(ksa_last_error(), "fake test backend"));
    /* a tensor on the host device is on the wrong device for the plugin */
    ksa_device cpu;
    assert_int_equal(ksa_device_open(ctx, "reference", &cpu), KSA_STATUS_SUCCESS);
    float x[64 * 2 * 80 * 4];
    int64_t shape[4] = {2, 80, 4, 64};
    ksa_attention_tensors t = p.tensors;
    t.q = ksa_tensor_make(cpu, x, KSA_DTYPE_F32, 4, shape);
    assert_int_equal(ksa_attention(dev, NULL, &p.params, &t, &p.workspace), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "tensors.q"));
    assert_non_null(strstr(ksa_last_error(), "device"));
    ktest_problem_destroy(&p);
    ksa_context_destroy(ctx);
}

static void wrong_abi_refused(void **state)
{
    (void)state;
    setenv("KSA_PLUGIN_PATH", KSA_FAKE_PLUGIN_DIR "/badabi", 1);
    ksa_context ctx;
    assert_int_equal(ksa_context_create(&ctx), KSA_STATUS_SUCCESS);
    const ksa_backend_entry *e = entry_named(ctx, "fakeabi");
    assert_non_null(e);
    assert_null(e->backend);
    assert_non_null(strstr(e->why, "ABI"));
    ksa_device dev;
    assert_int_equal(ksa_device_open(ctx, "fake:0", &dev), KSA_STATUS_NOT_FOUND);
    assert_true(strlen(ksa_last_error()) > 0);
    ksa_context_destroy(ctx);
}

static void absent_backends_have_reasons(void **state)
{
    (void)state;
    setenv("KSA_PLUGIN_PATH", "/nonexistent-ksa-plugins", 1);
    ksa_context ctx;
    assert_int_equal(ksa_context_create(&ctx), KSA_STATUS_SUCCESS);
    /* the reference is always there */
    ksa_device dev;
    assert_int_equal(ksa_device_open(ctx, "reference", &dev), KSA_STATUS_SUCCESS);
    /* every known plugin backend is listed, present or with a reason */
    const char *names[] = {"cuda", "hip", "opencl"};
    for (int i = 0; i < 3; i++) {
        const ksa_backend_entry *e = entry_named(ctx, names[i]);
        assert_non_null(e);
        if (!e->backend) assert_true(strlen(e->why) > 0);
    }
    assert_int_equal(ksa_device_open(ctx, "nosuchdevice:7", &dev), KSA_STATUS_NOT_FOUND);
    assert_non_null(strstr(ksa_last_error(), "nosuchdevice"));
    ksa_context_destroy(ctx);
}

static void ksa_backend_env_overrides_auto(void **state)
{
    (void)state;
    unsetenv("KSA_PLUGIN_PATH");
    setenv("KSA_BACKEND", "reference", 1);
    ksa_context ctx;
    assert_int_equal(ksa_context_create(&ctx), KSA_STATUS_SUCCESS);
    ksa_device dev;
    assert_int_equal(ksa_device_open(ctx, "auto", &dev), KSA_STATUS_SUCCESS);
    ksa_device_info info;
    ksa_device_get_info(dev, &info);
    assert_string_equal(info.name, "reference");
    setenv("KSA_BACKEND", "nosuch", 1);
    assert_int_equal(ksa_device_open(ctx, "auto", &dev), KSA_STATUS_NOT_FOUND);
    assert_non_null(strstr(ksa_last_error(), "KSA_BACKEND"));
    unsetenv("KSA_BACKEND");
    ksa_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_plugin_loads),
        cmocka_unit_test(wrong_abi_refused),
        cmocka_unit_test(absent_backends_have_reasons),
        cmocka_unit_test(ksa_backend_env_overrides_auto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
