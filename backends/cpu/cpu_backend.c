/* cpu_backend.c: the vtable of device "cpu": one host device (64-byte aligned host allocations,
 * memcpy copies, synchronous no-op streams), the kernel level chosen once from the detected CPU
 * features (KSA_CPU_ISA may lower it), the per-problem kernel table (bf16 dot products or AMX tiles
 * for bf16 storage, float32 for f16/f32), workspace sizing and the tunable space. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/cpu/cpu_internal.h"
#include "backends/cpu/ksa_cpu_backend.h"
#include "ksa_cpu_features.h"
#include "ksa_internal.h"

/* ---------------------------------------------------------------- level */
typedef enum cpu_level { CPU_LEVEL_PORTABLE = 0, CPU_LEVEL_AVX512 = 1, CPU_LEVEL_AMX = 2 } cpu_level;

static cpu_level level_now(void)
{
    /* read each call: KSA_CPU_ISA may be changed by tests between calls */
    const char *name = ksa_cpu_isa_level();
    cpu_level lv = CPU_LEVEL_PORTABLE;
    if (!strcmp(name, "amx")) lv = CPU_LEVEL_AMX;
    else if (!strcmp(name, "avx512")) lv = CPU_LEVEL_AVX512;
    if (lv == CPU_LEVEL_AMX && !ksa_cpu_kernels_amx_bf16()) lv = CPU_LEVEL_AVX512;
    if (lv >= CPU_LEVEL_AVX512 && !ksa_cpu_kernels_avx512_f32()) lv = CPU_LEVEL_PORTABLE;
    return lv;
}

static const char *level_name(cpu_level lv)
{
    return lv == CPU_LEVEL_AMX ? "amx" : lv == CPU_LEVEL_AVX512 ? "avx512" : "portable";
}

/* KSA_CPU_F16: `pairs` (default: f16 prefill at the AMX level on the bf16-pair kernels) or `f32`
 * (the AVX-512 float32 kernels, as before them); read at each call, like KSA_CPU_ISA; another value
 * is warned about (each time it changes) and means `pairs` */
static int f16_on_f32(void)
{
    static pthread_mutex_t warned_mu = PTHREAD_MUTEX_INITIALIZER;
    static char warned[64];
    const char *e = getenv("KSA_CPU_F16");
    if (!e || !e[0] || !strcmp(e, "pairs")) return 0;
    if (!strcmp(e, "f32")) return 1;
    pthread_mutex_lock(&warned_mu);
    if (strncmp(warned, e, sizeof warned - 1)) {
        snprintf(warned, sizeof warned, "%s", e);
        ksa_warn("KSA_CPU_F16=%s ignored: not pairs or f32; using pairs", e);
    }
    pthread_mutex_unlock(&warned_mu);
    return 0;
}

const cpu_kernels *ksa_cpu_pick_kernels(const ksa_problem *p, const char **why_lower)
{
    cpu_level lv = level_now();
    const ksa_cpu_features *f = ksa_cpu_get_features();
    int32_t D = p->head_dim;
    if (why_lower) *why_lower = NULL;
    if (lv == CPU_LEVEL_AMX && p->dtype == KSA_DTYPE_BF16 && D % 32 == 0) return ksa_cpu_kernels_amx_bf16();
    /* f16 prefill as exact bf16 pairs on the tile unit (three products each): 1.2-2.1x faster than
     * the float32 kernels on an AMX Xeon. Decode stays on float32: packing every key into pairs
     * triples the bytes of a pass that is bound by them (1.65x slower; backends/cpu/NOTES-cpu.md).
     * KSA_CPU_F16=f32 keeps prefill on float32 too. */
    if (lv == CPU_LEVEL_AMX && p->dtype == KSA_DTYPE_F16 && p->phase == KSA_PHASE_PREFILL && D % 32 == 0 &&
        !f16_on_f32())
        return ksa_cpu_kernels_amx_f16();
    if (lv >= CPU_LEVEL_AVX512) {
        if (p->dtype == KSA_DTYPE_BF16 && f->avx512_bf16 && D % 32 == 0 && ksa_cpu_kernels_avx512_bf16())
            return ksa_cpu_kernels_avx512_bf16();
        if (D % 16 == 0) return ksa_cpu_kernels_avx512_f32();
        if (why_lower) *why_lower = "head_dim is not a multiple of 16";
    }
    return ksa_cpu_kernels_portable();
}

/* ---------------------------------------------------------------- vtable */
static const ksa_host_api *host_api;

static ksa_status cpu_init(ksa_backend *self, const ksa_host_api *host, char *why, size_t why_len)
{
    host_api = host;
    if (why && why_len) why[0] = '\0';
    const ksa_cpu_features *f = ksa_cpu_get_features();
    if (f->amx_tile && !f->amx_permitted && host && host->log)
        host->log("cpu: AMX present but not usable (%s); the cpu backend falls back to AVX-512", f->amx_note);
    return KSA_STATUS_SUCCESS;
}

static void cpu_shutdown(ksa_backend *self) {}

static int cpu_device_count(ksa_backend *self) { return 1; }

static ksa_status cpu_device_info(ksa_backend *self, int device, ksa_device_info *out)
{
    if (device != 0) return ksa_error(KSA_STATUS_NOT_FOUND, "cpu: no device %d (it has one device)", device);
    const ksa_cpu_features *f = ksa_cpu_get_features();
    memset(out, 0, sizeof *out);
    out->kind = KSA_DEVICE_CPU;
    snprintf(out->name, sizeof out->name, "cpu");
    snprintf(out->backend, sizeof out->backend, "cpu");
    snprintf(out->description, sizeof out->description, "%s", f->brand[0] ? f->brand : "host CPU");
    cpu_level lv = level_now();
    snprintf(out->isa, sizeof out->isa, "%s%s", level_name(lv),
             lv >= CPU_LEVEL_AVX512 && f->avx512_bf16 ? "+bf16" : "");
    /* cores from the topology; the pool itself is only created by the first call */
    out->compute_units = f->physical_cores > 0 ? f->physical_cores : 1;
    out->host_memory = 1;
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    out->memory_bytes = pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size : 0;
    snprintf(out->driver_version, sizeof out->driver_version, "ksa-cpu-%s", level_name(lv));
    return KSA_STATUS_SUCCESS;
}

/* Buffers of KSA_HUGE_PAGE bytes and more start on a 2 MiB boundary and, on Linux, are advised to
 * transparent huge pages (ksa_host_alloc; KSA_CPU_HUGEPAGES=0: not; read per allocation): a
 * gathered K/V row, a query's Q rows and its output rows each touch another 4 KiB page of a long
 * context, so with 4 KiB pages most of them also miss the TLB. The advice is ignored where THP is
 * off ("never"), and changes nothing where it is "always". */
static ksa_status cpu_mem_alloc(ksa_backend *self, int device, size_t bytes, ksa_mem *out)
{
    memset(out, 0, sizeof *out);
    const char *env = getenv("KSA_CPU_HUGEPAGES");
    void *m = ksa_host_alloc(bytes, bytes >= KSA_HUGE_PAGE && !(env && env[0] == '0'));
    if (!m) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "cpu: cannot allocate %zu bytes", bytes);
    out->ptr = m;
    out->native = m;
    return KSA_STATUS_SUCCESS;
}

static void cpu_mem_free(ksa_backend *self, int device, ksa_mem mem) { free(mem.native); }

static ksa_status cpu_mem_wrap(ksa_backend *self, int device, void *native, size_t bytes, ksa_mem *out)
{
    memset(out, 0, sizeof *out);
    out->ptr = native;
    return KSA_STATUS_SUCCESS;
}

static ksa_status cpu_mem_write(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, const void *src,
                                size_t bytes)
{
    if (bytes) memcpy((char *)ksa_mem_addr(dst) + offset, src, bytes);
    return KSA_STATUS_SUCCESS;
}

static ksa_status cpu_mem_read(ksa_backend *self, int device, void *stream, void *dst, ksa_mem src, size_t offset,
                               size_t bytes)
{
    if (bytes) memcpy(dst, (const char *)ksa_mem_addr(src) + offset, bytes);
    return KSA_STATUS_SUCCESS;
}

static ksa_status cpu_mem_fill(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, size_t bytes,
                               uint8_t value)
{
    if (bytes) memset((char *)ksa_mem_addr(dst) + offset, value, bytes);
    return KSA_STATUS_SUCCESS;
}

static ksa_status cpu_stream_create(ksa_backend *self, int device, void **native)
{
    *native = NULL; /* calls run synchronously on the calling thread and the pool */
    return KSA_STATUS_SUCCESS;
}

static void cpu_stream_destroy(ksa_backend *self, int device, void *native) {}

static ksa_status cpu_stream_sync(ksa_backend *self, int device, void *native) { return KSA_STATUS_SUCCESS; }

static ksa_status check_supported(const ksa_problem *p)
{
    if (p->dtype != KSA_DTYPE_F32 && p->dtype != KSA_DTYPE_F16 && p->dtype != KSA_DTYPE_BF16)
        return ksa_error(KSA_STATUS_UNSUPPORTED, "cpu: dtype %s is not an attention storage type", ksa_dtype_name(p->dtype));
    if (p->phase == KSA_PHASE_PREFILL && p->mode != KSA_MODE_DENSE && p->topk.tile_size <= 0)
        return ksa_error(KSA_STATUS_INTERNAL, "cpu: tile size %d", p->topk.tile_size);
    return KSA_STATUS_SUCCESS;
}

static ksa_status cpu_attention_workspace(ksa_backend *self, int device, const ksa_problem *p, size_t *bytes)
{
    ksa_status st = check_supported(p);
    if (st) return st;
    cpu_config cfg;
    const cpu_kernels *k = ksa_cpu_pick_kernels(p, NULL);
    ksa_cpu_resolve_config(p, k, &cfg);
    *bytes = ksa_cpu_workspace_bytes(p, &cfg, k);
    return KSA_STATUS_SUCCESS;
}

static ksa_status cpu_attention(ksa_backend *self, int device, void *stream, const ksa_problem *p, ksa_call_info *info)
{
    ksa_status st = check_supported(p);
    if (st) return st;
    cpu_config cfg;
    const char *why = NULL;
    const cpu_kernels *k = ksa_cpu_pick_kernels(p, &why);
    ksa_cpu_resolve_config(p, k, &cfg);
    if (info) {
        static const char *const mode[] = {"dense", "anchor", "reuse"};
        int m = p->mode >= KSA_MODE_DENSE && p->mode <= KSA_MODE_REUSE ? (int)p->mode : 0;
        snprintf(info->kernel, sizeof info->kernel, "%s.%s_%s%s%s", k->name, mode[m],
                 p->phase == KSA_PHASE_DECODE ? "decode" : "prefill", why ? " (portable: " : "", why ? "odd head_dim)" : "");
        if (p->phase == KSA_PHASE_DECODE)
            snprintf(info->config, sizeof info->config, "block_k=%d,decode_chunk=%d,threads=%d", cfg.block_k,
                     cfg.decode_chunk, cfg.threads);
        else
            snprintf(info->config, sizeof info->config, "block_q=%d,block_k=%d,sub_rows=%d,threads=%d", cfg.block_q,
                     cfg.block_k, cfg.sub_rows, cfg.threads);
    }
    ksa_cpu_pool_place_workspace(ksa_mem_addr(p->workspace), p->workspace_size); /* KSA_CPU_NUMA=interleave */
    return ksa_cpu_attention_run(p, &cfg, k);
}

static ksa_status cpu_tunables(ksa_backend *self, int device, const ksa_problem *p, ksa_tunable_space *out)
{
    ksa_cpu_tunable_space(p, ksa_cpu_pick_kernels(p, NULL), out);
    return KSA_STATUS_SUCCESS;
}

static ksa_backend cpu_backend = {
    .abi_version = KSA_BACKEND_ABI_VERSION,
    .name = "cpu",
    .kind = KSA_DEVICE_CPU,
    .host_memory = 1,
    .state = NULL,
    .init = cpu_init,
    .shutdown = cpu_shutdown,
    .device_count = cpu_device_count,
    .device_info = cpu_device_info,
    .mem_alloc = cpu_mem_alloc,
    .mem_free = cpu_mem_free,
    .mem_wrap = cpu_mem_wrap,
    .mem_write = cpu_mem_write,
    .mem_read = cpu_mem_read,
    .mem_fill = cpu_mem_fill,
    .stream_create = cpu_stream_create,
    .stream_destroy = cpu_stream_destroy,
    .stream_sync = cpu_stream_sync,
    .attention_workspace = cpu_attention_workspace,
    .attention = cpu_attention,
    .tunables = cpu_tunables,
};

ksa_backend *ksa_cpu_backend(void) { return &cpu_backend; }
