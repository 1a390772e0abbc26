/* fake_backend.c: the test-only backend of fake_backend.h. Tunables: block in {16, 32, 64}
 * (default 32) and unroll in {1, 2} (default 1). Time per call (fake_times, defaults): built-in
 * 8 ms, block=32 8 ms, block=16 2 ms, block=64 0 ms but its output is wrong; unroll=2 adds 1 ms.
 * With fake_builtin_fastest the built-in takes 0 ms. The time is slept, or added to a simulated
 * clock (fake_simulate_time), which a stream synchronisation also advances by fake_sync_ms and a
 * fill of 64 MiB or more (the tuner's L2 flush, not written in simulation) by fake_fill_ms. */
#define _GNU_SOURCE
#include "fake_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autotune/ksa_autotune.h"
#include "ksa_half.h"
#include "reference/ksa_reference.h"

fake_timing fake_times = {8.0, {2.0, 8.0, 0.0}, 1.0, 0.0, 1};
int64_t fake_calls;
int fake_builtin_fastest;
int fake_small_penalty;
int fake_refuse_combo;
int32_t fake_last_config[KSA_MAX_TUNABLES];
int32_t fake_last_config_count;
double fake_sync_ms;

static const int32_t block_values[] = {16, 32, 64};
static const int32_t unroll_values[] = {1, 2};

static ksa_status f_init(ksa_backend *self, const ksa_host_api *host, char *why, size_t why_len) { return KSA_STATUS_SUCCESS; }
static void f_shutdown(ksa_backend *self) {}
static int f_count(ksa_backend *self) { return 1; }
static ksa_status f_info(ksa_backend *self, int device, ksa_device_info *out) { return KSA_STATUS_SUCCESS; }
static ksa_status f_alloc(ksa_backend *self, int device, size_t bytes, ksa_mem *out)
{
    memset(out, 0, sizeof *out);
    out->ptr = malloc(bytes ? bytes : 1);
    return out->ptr ? KSA_STATUS_SUCCESS : KSA_STATUS_OUT_OF_MEMORY;
}
static void f_free(ksa_backend *self, int device, ksa_mem mem) { free(mem.ptr); }
static ksa_status f_write(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, const void *src, size_t bytes)
{
    memcpy((char *)ksa_mem_addr(dst) + offset, src, bytes);
    return KSA_STATUS_SUCCESS;
}
static ksa_status f_read(ksa_backend *self, int device, void *stream, void *dst, ksa_mem src, size_t offset, size_t bytes)
{
    memcpy(dst, (char *)ksa_mem_addr(src) + offset, bytes);
    return KSA_STATUS_SUCCESS;
}
static int simulated;
static double simulated_clock_ms;
double fake_fill_ms;

static ksa_status f_fill(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, size_t bytes, uint8_t value)
{
    if (simulated && bytes >= ((size_t)64 << 20)) { /* the tuner's L2 flush: a simulated kernel, nothing read back */
        simulated_clock_ms += fake_fill_ms;
        return KSA_STATUS_SUCCESS;
    }
    memset((char *)ksa_mem_addr(dst) + offset, value, bytes);
    return KSA_STATUS_SUCCESS;
}
static ksa_status f_sync(ksa_backend *self, int device, void *native)
{
    if (simulated) simulated_clock_ms += fake_sync_ms;
    return KSA_STATUS_SUCCESS;
}
static ksa_status f_workspace(ksa_backend *self, int device, const ksa_problem *p, size_t *bytes)
{
    *bytes = ksa_reference_workspace_bytes(p);
    return KSA_STATUS_SUCCESS;
}

static void sleep_ms(double ms)
{
    if (ms <= 0) return;
    long ns = (long)(ms * 1e6);
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int noise_seeded; /* 0: the noise sequence restarts from fake_times.noise_seed at its next use */

void fake_timing_reset(void)
{
    fake_timing d = {8.0, {2.0, 8.0, 0.0}, 1.0, 0.0, 1};
    fake_times = d;
    noise_seeded = 0;
}

static double simulated_clock_s(void) { return simulated_clock_ms * 1e-3; }

void fake_simulate_time(int on)
{
    simulated = on;
    ksa_tune_set_clock(on ? simulated_clock_s : NULL);
}

/* u uniform in [-1, 1): splitmix64 over a state restarted by fake_timing_reset and whenever
 * fake_times.noise_seed changes */
static double noise_unit(void)
{
    static uint64_t state, seeded_with;
    if (!noise_seeded || seeded_with != fake_times.noise_seed) {
        state = seeded_with = fake_times.noise_seed;
        noise_seeded = 1;
    }
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static ksa_status f_attention(ksa_backend *self, int device, void *stream, const ksa_problem *p, ksa_call_info *info)
{
    if (fake_refuse_combo && p->config && p->config[0] == 16 && p->config[1] == 2)
        return ksa_error(KSA_STATUS_UNSUPPORTED, "fake: block=16 cannot be combined with unroll=2");
    fake_last_config_count = p->config ? p->config_count : 0;
    for (int i = 0; i < fake_last_config_count; i++) fake_last_config[i] = p->config[i];
    ksa_status st = ksa_reference_attention_in_workspace(p, info);
    if (st) return st;
    int block = p->config ? p->config[0] : 0, unroll = p->config ? p->config[1] : 1;
    double ms = !p->config ? (fake_builtin_fastest ? 0 : fake_times.builtin_ms)
                           : fake_times.block_ms[block == 16 ? 0 : block == 32 ? 1 : 2];
    if (unroll == 2) ms += fake_times.unroll2_extra_ms;
    if (p->config && fake_builtin_fastest) ms += 4;
    if (fake_small_penalty && block == 16 && p->max_seqlen_k <= 70) ms = 12;
    if (fake_times.noise > 0) ms *= 1.0 + fake_times.noise * noise_unit();
    fake_calls++;
    if (block == 64) {
        /* the planted bug: fast, and wrong in one element of the first query row */
        void *o = ksa_mem_addr(p->o.mem);
        if (p->dtype == KSA_DTYPE_F32) ((float *)o)[0] += 0.5f;
        else if (p->dtype == KSA_DTYPE_BF16) ((uint16_t *)o)[0] = ksa_f32_to_bf16(ksa_bf16_to_f32(((uint16_t *)o)[0]) + 0.5f);
        else ((uint16_t *)o)[0] = ksa_f32_to_f16(ksa_f16_to_f32(((uint16_t *)o)[0]) + 0.5f);
    }
    if (simulated) simulated_clock_ms += ms;
    else sleep_ms(ms);
    return KSA_STATUS_SUCCESS;
}

static ksa_status f_tunables(ksa_backend *self, int device, const ksa_problem *p, ksa_tunable_space *out)
{
    memset(out, 0, sizeof *out);
    out->num_params = 2;
    out->params[0] = (ksa_tunable_param){"block", 3, block_values, 32};
    out->params[1] = (ksa_tunable_param){"unroll", 2, unroll_values, 1};
    return KSA_STATUS_SUCCESS;
}

static ksa_backend fake_vtable = {
    .abi_version = KSA_BACKEND_ABI_VERSION,
    .name = "fake",
    .kind = KSA_DEVICE_CPU,
    .host_memory = 1,
    .init = f_init,
    .shutdown = f_shutdown,
    .device_count = f_count,
    .device_info = f_info,
    .mem_alloc = f_alloc,
    .mem_free = f_free,
    .mem_write = f_write,
    .mem_read = f_read,
    .mem_fill = f_fill,
    .stream_sync = f_sync,
    .attention_workspace = f_workspace,
    .attention = f_attention,
    .tunables = f_tunables,
};

static struct ksa_device_s fake_dev;

void fake_set_queued(int on) { fake_vtable.host_memory = on ? 0 : 1; }

ksa_device fake_device(void)
{
    if (!fake_dev.backend) {
        ksa_context ctx = NULL;
        ksa_context_create(&ctx); /* kept for the program's life */
        fake_dev.ctx = ctx;
        fake_dev.backend = &fake_vtable;
        fake_dev.index = 0;
        ksa_device_info *i = &fake_dev.info;
        memset(i, 0, sizeof *i);
        i->kind = KSA_DEVICE_CPU;
        strcpy(i->name, "fake");
        strcpy(i->backend, "fake");
        strcpy(i->description, "Fake Device 9000; rev=2");
        strcpy(i->isa, "fake1");
        i->compute_units = 3;
        i->host_memory = 1;
        strcpy(i->driver_version, "1.2");
    }
    return &fake_dev;
}

int atest_make_tmpdir(char *buf, size_t len, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, len, "%s/%s-XXXXXX", base && *base ? base : "/tmp", tag);
    return mkdtemp(buf) ? 0 : -1;
}

int atest_remove_tmpdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}
