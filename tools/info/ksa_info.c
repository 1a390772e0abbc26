/* ksa_info.c: ksa-info prints the library version, every backend (present, or absent with the
 * reason), every device with its properties, the CPU's ISA features and AMX state, and the
 * topology (from hwloc when built with it). */
#include <stdio.h>
#include <string.h>

#include "dispatch/ksa_cpu_features.h"
#include "dispatch/ksa_internal.h"

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
               "CPU ISA features and topology. Environment: KSA_PLUGIN_PATH, KSA_BACKEND, KSA_CPU_ISA, KSA_LOG.\n");
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
    ksa_context_destroy(ctx);
    return 0;
}
