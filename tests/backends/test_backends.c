/* test_backends.c: one program for every device this machine has: the shared grid of tests/common
 * (ktest_run_standard_grid: every mode x phase x layout, chunked prefill, ragged q/kv, paged kv,
 * strided views, GQA 1..8, head maps, local windows, rolling and fixed budgets) at f32, f16 and bf16
 * on cpu, each opencl:P.D, cuda:N and hip:N, each call compared with the reference (the oracle, so
 * itself not under test here) with the library's tolerances; outputs are poisoned before each run.
 * A storage type a device refuses (UNSUPPORTED with a sentence, e.g. f32 on CUDA) is reported and
 * left out. A backend that is absent here (no plugin, driver or device) is reported as skipped
 * with its reason. Each backend's own program keeps only its specific extras (tests/cpu ISA levels,
 * tests/cuda graph capture, tests/opencl driver quirks and program cache, tests/hip edges).
 * Plain C without a test framework, so it is also the grid runner on machines that lack cmocka
 * (scripts/device/hip-nvidia/run-hip-nvidia.sh).
 *   test_backends [--devices LIST] [--quick]
 * LIST: comma-separated device or backend names ("cpu", "opencl", "cuda:0", "hip"); default: all.
 * --quick (or KSA_TEST_QUICK=1): the CI-sized grid on GPUs (head_dim 128), e.g. under
 * compute-sanitizer. KSA_TEST_CONFIG=k=v,... forces one configuration of the backend's tunables on
 * every call (for investigations of a driver, e.g. scripts/device/device-pocl.sh). Exit status: 0 every selected device passed, 1 a failure, 77 (ctest's skip)
 * when no selected device exists here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/ksa_internal.h"
#include "ksa/ksa.h"
#include "test_util.h"


/* Is `name` (a device or backend name) selected by the comma-separated list (NULL: everything)? */
static int selected(const char *list, const char *device, const char *backend)
{
    if (!list || !*list) return 1;
    for (const char *s = list; *s;) {
        size_t len = strcspn(s, ",");
        if ((strlen(device) == len && strncmp(s, device, len) == 0) ||
            (strlen(backend) == len && strncmp(s, backend, len) == 0))
            return 1;
        s += len;
        if (*s == ',') s++;
    }
    return 0;
}

/* The grid each kind of device runs: GPUs and the CPU the full grid at three head dims; OpenCL (PoCL
 * in CI compiles a program per configuration) the CI-sized grid at head_dim 64. */
static void grid_size(ksa_device_kind kind, int quick, int *grid_quick, int32_t *dims, int *num_dims)
{
    static const int32_t all[] = {64, 128, 256};
    *grid_quick = 0;
    *num_dims = 3;
    memcpy(dims, all, sizeof all);
    if (kind == KSA_DEVICE_OPENCL) {
        *grid_quick = 1;
        dims[0] = 64;
        *num_dims = 1;
    } else if (quick && (kind == KSA_DEVICE_CUDA || kind == KSA_DEVICE_HIP)) {
        *grid_quick = 1;
        dims[0] = 128;
        *num_dims = 1;
    }
}

/* Does the device take this storage type? A small call answers; UNSUPPORTED is reported, any other
 * failure is left to the grid to report. */
static int takes_dtype(ksa_device dev, const char *name, ksa_dtype dt)
{
    ktest_config c = ktest_config_default();
    c.dtype = dt;
    ktest_problem p;
    ksa_status st = ktest_problem_create(dev, &c, &p); /* cleans up after itself on failure */
    if (st == KSA_STATUS_SUCCESS) {
        st = ktest_problem_run(&p);
        ktest_problem_destroy(&p);
    }
    if (st != KSA_STATUS_UNSUPPORTED) return 1;
    printf("%s: %s left out: UNSUPPORTED: %s\n", name, ksa_dtype_name(dt), ksa_last_error());
    return 0;
}

static int run_device(ksa_device dev, const ksa_device_info *info, int quick)
{
    printf("== %s (%s, %s, %s)\n", info->name, info->description, info->isa, info->driver_version);
    fflush(stdout);
    static const ksa_dtype all[] = {KSA_DTYPE_F32, KSA_DTYPE_F16, KSA_DTYPE_BF16};
    ksa_dtype dtypes[3];
    int nd = 0;
    for (int i = 0; i < 3; i++)
        if (takes_dtype(dev, info->name, all[i])) dtypes[nd++] = all[i];
    if (nd == 0) {
        printf("FAIL %s: the device takes none of f32, f16, bf16\n", info->name);
        return 1;
    }
    int grid_quick, num_dims;
    int32_t dims[3];
    grid_size(info->kind, quick, &grid_quick, dims, &num_dims);
    int failures = ktest_run_standard_grid(dev, grid_quick, dtypes, nd, dims, num_dims);
    printf("%s %s: %d failures (%d storage types, %d head dims%s)\n", failures ? "FAIL" : "PASS", info->name, failures, nd,
           num_dims, grid_quick ? ", CI-sized grid" : "");
    fflush(stdout);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep every line if the process dies */
    const char *list = NULL;
    int quick = ktest_quick();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--devices") == 0 && i + 1 < argc) list = argv[++i];
        else if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else {
            fprintf(stderr, "usage: %s [--devices LIST] [--quick]\n", argv[0]);
            return 2;
        }
    }
    ksa_context ctx = ktest_context();
    if (!ctx) return 1;
    const char *forced = getenv("KSA_TEST_CONFIG");
    if (forced && *forced && ksa_set_config_override(forced) != KSA_STATUS_SUCCESS) {
        printf("FAIL KSA_TEST_CONFIG: %s\n", ksa_last_error());
        return 2;
    }
    /* absent backends: skipped, with the reason */
    for (int i = 0; i < ksa_context_backend_count(ctx); i++) {
        const ksa_backend_entry *e = ksa_context_backend_entry(ctx, i);
        if (!e->backend && selected(list, e->name, e->name)) printf("SKIP %s: %s\n", e->name, e->why);
    }
    int count = 0, ran = 0, failed = 0;
    if (ksa_device_count(ctx, &count) != KSA_STATUS_SUCCESS) {
        printf("FAIL ksa_device_count: %s\n", ksa_last_error());
        return 1;
    }
    for (int i = 0; i < count; i++) {
        ksa_device dev = NULL;
        ksa_device_info info;
        if (ksa_device_get(ctx, i, &dev) != KSA_STATUS_SUCCESS || ksa_device_get_info(dev, &info) != KSA_STATUS_SUCCESS) {
            printf("FAIL device %d: %s\n", i, ksa_last_error());
            failed++;
            continue;
        }
        if (info.kind == KSA_DEVICE_REFERENCE || !selected(list, info.name, info.backend)) continue;
        ran++;
        failed += run_device(dev, &info, quick);
    }
    if (ran == 0) {
        printf("SKIP: no device here matches %s\n", list ? list : "(all but the reference)");
        return failed ? 1 : KTEST_SKIP_CODE;
    }
    printf("test_backends: %d devices, %d failed\n", ran, failed);
    return failed ? 1 : 0;
}
