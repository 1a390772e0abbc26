/* ksa_cpu_features.h: x86-64 CPU feature detection (cpuid + XGETBV for the OS-enabled register
 * state, and Linux's arch_prctl permission request for AMX tile data) and hwloc topology, detected
 * once and cached. Used by the cpu backend to pick its kernel level and by ksa-info. */
#ifndef KSA_CPU_FEATURES_H
#define KSA_CPU_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ksa_cpu_features {
    char vendor[16];     /* "GenuineIntel", "AuthenticAMD" */
    char brand[64];
    /* instruction sets usable now: hardware support AND operating-system support of the state */
    int32_t sse42, avx, avx2, fma, f16c;
    int32_t avx512f, avx512bw, avx512dq, avx512vl, avx512_bf16, avx512_fp16, avx512_vnni;
    int32_t amx_tile, amx_bf16, amx_int8, amx_fp16; /* hardware reports them and XCR0 enables tile state */
    int32_t amx_permitted;  /* the kernel granted tile-data permission (arch_prctl) */
    char amx_note[128];     /* why AMX is unavailable, when it is ("" otherwise) */
    /* topology (hwloc when built with it, else sysconf): */
    int32_t logical_cpus, physical_cores, numa_nodes, packages;
    int32_t topology_from_hwloc;
} ksa_cpu_features;

/* Detected once (thread-safe); never NULL. The AMX permission request is made on first use. */
const ksa_cpu_features *ksa_cpu_get_features(void);

/* Best CPU kernel level name available, honouring KSA_CPU_ISA ("portable", "avx512", "amx"),
 * which may only lower it: returns "amx", "avx512" or "portable". A value it cannot honour is
 * warned about on stderr (once per process) and logged. */
const char *ksa_cpu_isa_level(void);

/* A whole-number setting of the CPU pool from the environment variable `name`: `fallback` when it is
 * unset or not a whole number >= min, `max` when it is larger, else its value. The last two cases
 * are warned about on stderr, with the sentence "NAME=v ignored: not a whole number >= min; <verb>
 * <fallback> <unit>" or "NAME=v capped at <max> <unit><limit>", which `note` (may be NULL) also gets
 * ("" otherwise). */
int64_t ksa_env_whole_number(const char *name, int64_t fallback, int64_t min, int64_t max, const char *verb,
                             const char *unit, const char *limit, char *note, size_t note_len);

/* The CPU pool's thread count from KSA_NUM_THREADS (ksa_env_whole_number, 1..max): `fallback` when unset; the value when it is a
 * whole number in 1..max; max when larger; `fallback` when it is not a whole number >= 1. Any value
 * not used as given is warned about on stderr. `note` (may be NULL) gets a sentence saying what was
 * done with the variable ("" when unset), for the pool's description and ksa-info. */
int32_t ksa_env_num_threads(int32_t fallback, int32_t max, char *note, size_t note_len);

/* Host memory of `bytes` (rounded up to whole alignments; free() releases it): with `huge`, 2 MiB
 * aligned and, on Linux, advised to transparent huge pages (madvise: where THP is off the pages stay
 * 4 KiB); otherwise 64-byte aligned. NULL when it cannot be had. The CPU backend's buffers and
 * ksa-cpu-bench's arrays use it. */
#define KSA_HUGE_PAGE ((size_t)2 << 20)
void *ksa_host_alloc(size_t bytes, int huge);

#ifdef __cplusplus
}
#endif
#endif /* KSA_CPU_FEATURES_H */
