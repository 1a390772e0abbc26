/* ksa_info.c: ksa-info prints the library version, every backend (present, or absent with the
 * reason), every device with its properties, the CPU's ISA features and AMX state, the topology
 * (from hwloc when built with it), and every environment variable in effect that ksa reads, with
 * what it did (a value ksa could not use as given says so). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/ksa_cpu_features.h"
#include "dispatch/ksa_internal.h"
#if KSA_HAVE_CPU_BACKEND
#include "backends/cpu/cpu_internal.h"
#endif
#if KSA_HAVE_AUTOTUNE
#include "autotune/ksa_autotune.h"
#endif

extern char **environ;

/* The variables ksa reads, what each does; ksa-info adds what it did here where it can tell. */
static const struct {
    const char *name, *meaning;
} known_env[] = {
    {"KSA_BACKEND", "what \"auto\" opens"},
    {"KSA_LOG", "one line per call on stderr"},
    {"KSA_CHECK", "every call cross-checked against the reference"},
    {"KSA_PLUGIN_PATH", "folders searched first for plugins"},
    {"KSA_CPU_ISA", "lowers the CPU kernel level"},
    {"KSA_NUM_THREADS", "CPU thread pool size"},
    {"KSA_CPU_NUMA", "CPU NUMA policy: first-touch, interleave or off"},
    {"KSA_CPU_SPIN_US", "CPU pool: microseconds a waiting thread spins before it sleeps"},
    {"KSA_CPU_HUGEPAGES", "CPU buffers: 0 leaves those of 2 MiB and more on 4 KiB pages"},
    {"KSA_CPU_HEAD_MAJOR", "CPU kernels: 0 numbers prefill tasks with the KV head varying fastest (developer setting)"},
    {"KSA_CPU_PREFETCH", "CPU kernels: prefetch distance (developer setting)"},
    {"KSA_CPU_PREPACK", "CPU kernels: 0 packs every block in every task (developer setting)"},
    {"KSA_CPU_PROFILE", "CPU kernels: per-phase tick counts (developer setting)"},
    {"KSA_OPENCL_CACHE", "OpenCL program cache folder, or off (default on PoCL: none)"},
    {"KSA_OPENCL_FP16", "OpenCL f16 path: off or force"},
    {"KSA_OPENCL_QUIRKS", "OpenCL driver workarounds: two-vector-rows or none"},
    {"KSA_TUNE_CACHE", "tuning cache file, or off"},
    {"KSA_LIBRARY", "the Python package: which libksa.so to load"},
    {"KSA_BENCH_PEAK_TFLOPS", "ksa-bench: compute ceiling"},
    {"KSA_BENCH_BANDWIDTH_GBS", "ksa-bench: bandwidth ceiling"},
    {"KSA_CPU_BENCH_CONFIG", "ksa-cpu-bench: configuration"},
    {"KSA_BENCH_HUGEPAGES", "ksa-cpu-bench: 1 puts its host arrays on transparent huge pages"},
    {"KSA_ONEDNN_PER_HEAD", "ksa-cpu-bench: oneDNN per-head mode"},
    {"XDG_CACHE_HOME", "default folder of the tuning and OpenCL program caches"},
    {"OCL_ICD_VENDORS", "OpenCL loader: where the drivers' .icd files are"},
    {"POCL_CACHE_DIR", "PoCL's kernel cache folder"},
    {"POCL_KERNEL_CACHE", "PoCL's kernel cache (0: off)"},
    {"POCL_WORK_GROUP_METHOD", "PoCL's work-group method (cbs lifts ksa's PoCL >= 4 workaround)"},
};

/* What this process made of a variable, where ksa-info can tell; "" otherwise. */
static void env_effect(const char *name, const char *value, ksa_context ctx, char *out, size_t len)
{
    out[0] = '\0';
    if (!strcmp(name, "KSA_BACKEND")) {
        ksa_device d;
        ksa_device_info info;
        if (ksa_device_open(ctx, "auto", &d) == KSA_STATUS_SUCCESS && ksa_device_get_info(d, &info) == KSA_STATUS_SUCCESS)
            snprintf(out, len, "auto -> %s", info.name);
        else
            snprintf(out, len, "NOT HONOURED: %s", ksa_last_error());
    } else if (!strcmp(name, "KSA_CPU_ISA")) {
        const char *level = ksa_cpu_isa_level();
        snprintf(out, len, strcmp(level, value) ? "NOT HONOURED: kernel level %s (see the warning above)" : "kernel level %s",
                 level);
#if KSA_HAVE_CPU_BACKEND
    } else if (!strcmp(name, "KSA_NUM_THREADS") || !strcmp(name, "KSA_CPU_NUMA") || !strcmp(name, "KSA_CPU_SPIN_US")) {
        snprintf(out, len, "pool: %s", ksa_cpu_pool_description());
#endif
#if KSA_HAVE_AUTOTUNE
    } else if (!strcmp(name, "KSA_TUNE_CACHE") || !strcmp(name, "XDG_CACHE_HOME")) {
        char path[1024];
        const char *p = ksa_tune_cache_path(path, sizeof path);
        snprintf(out, len, "tuning cache: %s", p ? p : "off (shipped entries only)");
#endif
    } else if (!strcmp(name, "KSA_LOG") || !strcmp(name, "KSA_CHECK")) {
        snprintf(out, len, "%s", ksa_env_flag(name) ? "on" : "off");
    }
}

static void print_environment(ksa_context ctx)
{
    printf("\nenvironment (variables ksa reads that are set here):\n");
    int shown = 0;
    for (size_t i = 0; i < sizeof known_env / sizeof known_env[0]; i++) {
        const char *v = getenv(known_env[i].name);
        if (!v || !*v) continue; /* empty reads as unset everywhere in ksa */
        char effect[600];
        env_effect(known_env[i].name, v, ctx, effect, sizeof effect);
        printf("  %s=%s: %s%s%s\n", known_env[i].name, v, known_env[i].meaning, effect[0] ? "; " : "", effect);
        shown++;
    }
    /* a KSA_ name ksa does not know is most likely misspelt */
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "KSA_", 4) != 0 || !strncmp(*e, "KSA_TEST_", 9)) continue;
        size_t n = strcspn(*e, "=");
        int known = 0;
        for (size_t i = 0; i < sizeof known_env / sizeof known_env[0]; i++)
            known |= strlen(known_env[i].name) == n && !strncmp(*e, known_env[i].name, n);
        if (!known) {
            printf("  %s: NOT a ksa setting (misspelt?); ignored\n", *e);
            shown++;
        }
    }
    if (!shown) printf("  none: every setting at its default\n");
}

static const char *kind_name(ksa_device_kind k)
{
    switch (k) {
    case KSA_DEVICE_REFERENCE: return "reference";
    case KSA_DEVICE_CPU: return "cpu";
    case KSA_DEVICE_CUDA: return "cuda";
    case KSA_DEVICE_HIP: return "hip";
    case KSA_DEVICE_OPENCL: return "opencl";
    }
    return "?";
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: ksa-info\nPrints the ksa version, backends (present or absent, with the reason), devices,\n"
               "CPU ISA features and topology, and each environment variable ksa reads that is set, with its effect.\n");
        return 0;
    }
    printf("ksa %s (backend ABI %u)\n\n", ksa_version_string(), KSA_BACKEND_ABI_VERSION);
    ksa_context ctx;
    if (ksa_context_create(&ctx) != KSA_STATUS_SUCCESS) {
        fprintf(stderr, "ksa-info: %s\n", ksa_last_error());
        return 1;
    }
    printf("backends:\n");
    for (int i = 0; i < ksa_context_backend_count(ctx); i++) {
        const ksa_backend_entry *e = ksa_context_backend_entry(ctx, i);
        if (e->backend)
            printf("  %-10s present (%s)\n", e->name, e->builtin ? "built in" : e->path);
        else
            printf("  %-10s absent: %s\n", e->name, e->why);
    }
    int n = 0;
    ksa_device_count(ctx, &n);
    printf("\ndevices (%d):\n", n);
    for (int i = 0; i < n; i++) {
        ksa_device d;
        ksa_device_info info;
        ksa_device_get(ctx, i, &d);
        ksa_device_get_info(d, &info);
        printf("  %-12s %-9s %s | isa %s | %d compute units", info.name, kind_name(info.kind), info.description, info.isa,
               info.compute_units);
        if (info.memory_bytes) printf(" | %.1f GiB", (double)info.memory_bytes / (1024.0 * 1024.0 * 1024.0));
        if (info.driver_version[0]) printf(" | driver %s", info.driver_version);
        printf("\n");
    }
    ksa_device best;
    if (ksa_device_open(ctx, "auto", &best) == KSA_STATUS_SUCCESS) {
        ksa_device_info info;
        ksa_device_get_info(best, &info);
        printf("  auto -> %s\n", info.name);
    }
    const ksa_cpu_features *f = ksa_cpu_get_features();
    printf("\ncpu: %s (%s)\n", f->brand, f->vendor);
    printf("  isa: avx2=%d fma=%d f16c=%d avx512f=%d avx512bw=%d avx512vl=%d avx512dq=%d avx512_bf16=%d avx512_fp16=%d "
           "avx512_vnni=%d\n",
           f->avx2, f->fma, f->f16c, f->avx512f, f->avx512bw, f->avx512vl, f->avx512dq, f->avx512_bf16, f->avx512_fp16,
           f->avx512_vnni);
    printf("  amx: tile=%d bf16=%d int8=%d fp16=%d permitted=%d%s%s\n", f->amx_tile, f->amx_bf16, f->amx_int8, f->amx_fp16,
           f->amx_permitted, f->amx_note[0] ? " - " : "", f->amx_note);
    printf("  kernel level: %s (KSA_CPU_ISA may lower it)\n", ksa_cpu_isa_level());
    printf("  topology%s: %d package(s), %d NUMA node(s), %d physical cores, %d logical CPUs\n",
           f->topology_from_hwloc ? " (hwloc)" : " (sysconf; built without hwloc)", f->packages, f->numa_nodes,
           f->physical_cores, f->logical_cpus);
#if KSA_HAVE_CPU_BACKEND
    printf("  thread pool: %s\n", ksa_cpu_pool_description());
#endif
    print_environment(ctx);
    ksa_context_destroy(ctx);
    return 0;
}
