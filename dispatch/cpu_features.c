/* cpu_features.c: x86-64 feature detection with cpuid and XGETBV (what the CPU has AND what the OS
 * saves), the Linux permission request for AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM), the
 * KSA_CPU_ISA override, the KSA_NUM_THREADS check, the topology from hwloc (sysconf without it),
 * and host allocations on huge pages (ksa_host_alloc). Detected once. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "ksa_cpu_features.h"
#include "ksa_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <sys/syscall.h>
#define KSA_X86 1
#else
#define KSA_X86 0
#endif
#if KSA_HAVE_HWLOC
#include <hwloc.h>
#endif

static ksa_cpu_features features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

#if KSA_X86
static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static void detect_x86(ksa_cpu_features *f)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned max_leaf = a;
    memcpy(f->vendor + 0, &b, 4);
    memcpy(f->vendor + 4, &d, 4);
    memcpy(f->vendor + 8, &c, 4);
    f->vendor[12] = '\0';
    unsigned ext = __get_cpuid_max(0x80000000u, NULL);
    if (ext >= 0x80000004u) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        memcpy(f->brand, r, 48);
        f->brand[48] = '\0';
        char *s = f->brand; /* trim leading spaces */
        while (*s == ' ') s++;
        memmove(f->brand, s, strlen(s) + 1);
    }
    __get_cpuid(1, &a, &b, &c, &d);
    int osxsave = (c >> 27) & 1;
    uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    int os_avx = (xcr0 & 0x6) == 0x6;             /* SSE + AVX state */
    int os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0; /* opmask + ZMM state */
    int os_amx = (xcr0 & 0x60000) == 0x60000;        /* XTILECFG + XTILEDATA */
    f->sse42 = (c >> 20) & 1;
    f->fma = os_avx && ((c >> 12) & 1);
    f->f16c = os_avx && ((c >> 29) & 1);
    f->avx = os_avx && ((c >> 28) & 1);
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = os_avx && ((b >> 5) & 1);
        f->avx512f = os_avx512 && ((b >> 16) & 1);
        f->avx512dq = os_avx512 && ((b >> 17) & 1);
        f->avx512bw = os_avx512 && ((b >> 30) & 1);
        f->avx512vl = os_avx512 && ((b >> 31) & 1);
        f->avx512_vnni = os_avx512 && ((c >> 11) & 1);
        f->avx512_fp16 = os_avx512 && ((d >> 23) & 1);
        f->amx_bf16 = os_amx && ((d >> 22) & 1);
        f->amx_tile = os_amx && ((d >> 24) & 1);
        f->amx_int8 = os_amx && ((d >> 25) & 1);
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        f->avx512_bf16 = os_avx512 && ((a1 >> 5) & 1);
        f->amx_fp16 = os_amx && ((a1 >> 21) & 1);
    }
    if (!f->amx_tile) {
        snprintf(f->amx_note, sizeof f->amx_note, "%s", os_amx ? "the CPU has no AMX tiles" : "no AMX: the CPU lacks it or the OS does not enable tile state (XCR0)");
        return;
    }
#if defined(__linux__)
    /* Linux >= 5.16 requires a per-process permission request before tile data may be used. */
    unsigned long bitmask = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bitmask) == 0 && (bitmask & (1ul << XFEATURE_XTILEDATA))) {
        f->amx_permitted = 1;
    } else if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0) {
        f->amx_permitted = 1;
    } else {
        snprintf(f->amx_note, sizeof f->amx_note, "the kernel refused AMX tile-data permission (arch_prctl ARCH_REQ_XCOMP_PERM)");
    }
#else
    snprintf(f->amx_note, sizeof f->amx_note, "AMX permission request is only implemented for Linux");
#endif
}
#endif

static void detect_topology(ksa_cpu_features *f)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    f->logical_cpus = n > 0 ? (int32_t)n : 1;
    f->physical_cores = f->logical_cpus;
    f->numa_nodes = 1;
    f->packages = 1;
#if KSA_HAVE_HWLOC
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) == 0) {
        if (hwloc_topology_load(topo) == 0) {
            int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
            int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
            int numa = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
            int pkgs = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
            if (cores > 0) f->physical_cores = cores;
            if (pus > 0) f->logical_cpus = pus;
            if (numa > 0) f->numa_nodes = numa;
            if (pkgs > 0) f->packages = pkgs;
            f->topology_from_hwloc = 1;
        }
        hwloc_topology_destroy(topo);
    }
#endif
}

static void detect(void)
{
    memset(&features, 0, sizeof features);
#if KSA_X86
    detect_x86(&features);
#else
    snprintf(features.vendor, sizeof features.vendor, "non-x86");
    snprintf(features.amx_note, sizeof features.amx_note, "not an x86-64 CPU");
#endif
    detect_topology(&features);
}

const ksa_cpu_features *ksa_cpu_get_features(void)
{
    pthread_once(&features_once, detect);
    return &features;
}

const char *ksa_cpu_isa_level(void)
{
    const ksa_cpu_features *f = ksa_cpu_get_features();
    const char *best = "portable";
    int avx512 = f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->fma && f->f16c;
    if (avx512) best = "avx512";
    if (avx512 && f->amx_tile && f->amx_bf16 && f->amx_permitted) best = "amx";
    const char *want = getenv("KSA_CPU_ISA");
    if (!want || !*want) return best;
    static const char *const order[] = {"portable", "avx512", "amx"};
    int wi = -1, bi = 0;
    for (int i = 0; i < 3; i++) {
        if (strcmp(want, order[i]) == 0) wi = i;
        if (strcmp(best, order[i]) == 0) bi = i;
    }
    if (wi >= 0 && wi <= bi) return order[wi];
    /* not a level, or more than this CPU offers: warn once, log every time */
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    char why[256];
    snprintf(why, sizeof why, "KSA_CPU_ISA=%s %s; using %s", want,
             wi < 0 ? "is not one of portable, avx512, amx" : "asks for more than this CPU offers", best);
    if (!atomic_flag_test_and_set(&warned)) ksa_warn("%s", why);
    ksa_log("%s", why);
    return best;
}

int64_t ksa_env_whole_number(const char *name, int64_t fallback, int64_t min, int64_t max, const char *verb,
                             const char *unit, const char *limit, char *note, size_t note_len)
{
    char buf[200] = "";
    int64_t n = fallback;
    const char *env = getenv(name);
    if (env && *env) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(env, &end, 10);
        if (end == env || *end || errno || v < min) {
            snprintf(buf, sizeof buf, "%s=%s ignored: not a whole number >= %lld; %s %lld %s", name, env, (long long)min,
                     verb, (long long)fallback, unit);
            ksa_warn("%s", buf);
        } else if (v > max) {
            n = max;
            snprintf(buf, sizeof buf, "%s=%s capped at %lld %s%s", name, env, (long long)max, unit, limit);
            ksa_warn("%s", buf);
        } else {
            n = (int64_t)v;
        }
    }
    if (note && note_len) snprintf(note, note_len, "%s", buf);
    return n;
}

int32_t ksa_env_num_threads(int32_t fallback, int32_t max, char *note, size_t note_len)
{
    char buf[200];
    int32_t n = (int32_t)ksa_env_whole_number("KSA_NUM_THREADS", fallback, 1, max, "using", "threads", ", the pool's limit",
                                              buf, sizeof buf);
    const char *env = getenv("KSA_NUM_THREADS");
    if (!buf[0] && env && *env) snprintf(buf, sizeof buf, "KSA_NUM_THREADS=%d", n);
    if (note && note_len) snprintf(note, note_len, "%s", buf);
    return n;
}

void *ksa_host_alloc(size_t bytes, int huge)
{
    const size_t align = huge ? KSA_HUGE_PAGE : 64;
    if (bytes > SIZE_MAX - align) return NULL;
    const size_t rounded = bytes ? (bytes + align - 1) / align * align : align;
    void *m = aligned_alloc(align, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (m && huge) (void)madvise(m, rounded, MADV_HUGEPAGE); /* advice: a failure leaves 4 KiB pages */
#endif
    return m;
}
