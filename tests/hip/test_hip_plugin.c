/* test_hip_plugin.c: the HIP plugin loads, exports its entry point, refuses a foreign ABI, and on a
 * machine without an AMD GPU (CI) reports "no AMD GPU: hipGetDeviceCount returned ..." cleanly:
 * the backend is listed as absent with that reason, "hip:0" is NOT_FOUND with a sentence, and the
 * rest of the library keeps working. With a HIP device present it checks what the device reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "dispatch/ksa_internal.h"
#include "test_util.h"

static char last_error[512];
static ksa_status stub_set_error(ksa_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}
static void stub_log(const char *fmt, ...) { (void)fmt; }
static int stub_log_enabled(void) { return 0; }

/* dlopen the plugin file itself: entry point, ABI check, init's answer */
static void plugin_entry_and_init(void **state)
{
    (void)state;
    void *h = dlopen(KSA_HIP_PLUGIN_FILE, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        /* only acceptable when the ROCm runtime itself is missing */
        const char *msg = dlerror();
        assert_non_null(strstr(msg, "amdhip64"));
        ktest_skip("plugin not loadable without the ROCm runtime: %s", msg);
    }
    ksa_plugin_entry_fn entry = (ksa_plugin_entry_fn)(uintptr_t)dlsym(h, KSA_PLUGIN_ENTRY_SYMBOL);
    assert_non_null(entry);
    assert_null(entry(KSA_BACKEND_ABI_VERSION + 7u));
    ksa_backend *be = entry(KSA_BACKEND_ABI_VERSION);
    assert_non_null(be);
    assert_int_equal(be->abi_version, KSA_BACKEND_ABI_VERSION);
    assert_string_equal(be->name, "hip");
    assert_int_equal(be->kind, KSA_DEVICE_HIP);
    assert_int_equal(be->host_memory, 0);
    assert_non_null(be->attention);
    assert_non_null(be->attention_workspace);
    assert_non_null(be->stream_sync);
    ksa_host_api host = {KSA_BACKEND_ABI_VERSION, stub_set_error, stub_log, stub_log_enabled};
    char why[256];
    memset(why, 'x', sizeof why);
    why[sizeof why - 1] = '\0';
    ksa_status st = be->init(be, &host, why, sizeof why);
    if (st == KSA_STATUS_SUCCESS) {
        printf("HIP devices: %d\n", be->device_count(be));
        assert_true(be->device_count(be) > 0);
        ksa_device_info info;
        assert_int_equal(be->device_info(be, 0, &info), KSA_STATUS_SUCCESS);
        assert_string_equal(info.name, "hip:0");
        assert_true(strncmp(info.isa, "gfx", 3) == 0 || strncmp(info.isa, "sm_", 3) == 0);
        assert_true(info.compute_units > 0);
        if (be->shutdown) be->shutdown(be);
    } else {
        printf("init: %s: %s\n", ksa_status_string(st), why);
        assert_int_equal(st, KSA_STATUS_NOT_FOUND);
        assert_non_null(strstr(why, "no AMD GPU: hipGetDeviceCount returned "));
        assert_true(strlen(why) < sizeof why - 1);
    }
    /* the plugin stays loaded: the HIP runtime does not like being unloaded and reloaded */
}

/* through the public API: listed, and either usable or absent with the reason */
static void context_lists_hip(void **state)
{
    (void)state;
    ksa_context ctx;
    assert_int_equal(ksa_context_create(&ctx), KSA_STATUS_SUCCESS);
    const ksa_backend_entry *e = NULL;
    for (int i = 0; i < ksa_context_backend_count(ctx); i++)
        if (strcmp(ksa_context_backend_entry(ctx, i)->name, "hip") == 0) e = ksa_context_backend_entry(ctx, i);
    assert_non_null(e);
    printf("hip entry: path '%s', why '%s'\n", e->path, e->why);
    assert_non_null(strstr(e->path, "libksa_hip.so"));
    ksa_device dev = NULL;
    ksa_status st = ksa_device_open(ctx, "hip:0", &dev);
    if (e->backend) {
        assert_int_equal(st, KSA_STATUS_SUCCESS);
        ksa_device_info info;
        assert_int_equal(ksa_device_get_info(dev, &info), KSA_STATUS_SUCCESS);
        assert_int_equal(info.kind, KSA_DEVICE_HIP);
        assert_string_equal(info.backend, "hip");
        assert_true(info.memory_bytes > 0);
        assert_true(strlen(info.driver_version) > 0);
        /* a buffer round trip through device memory */
        ksa_buffer buf;
        assert_int_equal(ksa_buffer_alloc(dev, 4096, &buf), KSA_STATUS_SUCCESS);
        unsigned char in[4096], out[4096];
        for (int i = 0; i < 4096; i++) in[i] = (unsigned char)(i * 7 + 3);
        memset(out, 0, sizeof out);
        assert_int_equal(ksa_buffer_write(buf, 0, in, sizeof in, NULL), KSA_STATUS_SUCCESS);
        assert_int_equal(ksa_buffer_fill(buf, 100, 10, 0x5a, NULL), KSA_STATUS_SUCCESS);
        assert_int_equal(ksa_buffer_read(out, buf, 0, sizeof out, NULL), KSA_STATUS_SUCCESS);
        for (int i = 0; i < 4096; i++) assert_int_equal(out[i], i >= 100 && i < 110 ? 0x5a : in[i]);
        ksa_buffer_free(buf);
    } else {
        assert_int_equal(st, KSA_STATUS_NOT_FOUND);
        assert_true(strlen(e->why) > 0);
        assert_true(strstr(e->why, "no AMD GPU") != NULL || strstr(e->why, "amdhip64") != NULL);
        assert_non_null(strstr(ksa_last_error(), "hip"));
        /* the rest of the library is unaffected */
        assert_int_equal(ksa_device_open(ctx, "reference", &dev), KSA_STATUS_SUCCESS);
        assert_int_equal(ksa_device_open(ctx, "auto", &dev), KSA_STATUS_SUCCESS);
    }
    ksa_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plugin_entry_and_init),
        cmocka_unit_test(context_lists_hip),
    };
    return ktest_run_group(tests, NULL, NULL);
}
