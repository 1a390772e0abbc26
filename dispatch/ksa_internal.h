/* ksa_internal.h: declarations shared inside libksa (dispatch, reference, cpu, autotune, calib) and
 * by the tests that link ksa_internal: the handle structs, error/log helpers, the backend
 * registry, problem resolution (validation) and the cross-check against the reference. */
#ifndef KSA_INTERNAL_H
#define KSA_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ksa/ksa.h"
#include "ksa_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors and logging */
/* Record a sentence for ksa_last_error() on this thread and return `status`. */
ksa_status ksa_error(ksa_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void ksa_clear_error(void);
/* An on/off environment variable (KSA_LOG, KSA_CHECK, KSA_TEST_QUICK): on when set to anything but
 * "" or "0". */
int ksa_env_flag(const char *name);
int ksa_log_enabled(void);
void ksa_log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* A setting the library cannot honour as given (an environment variable's value): one line
 * "ksa: warning: ..." on stderr whatever KSA_LOG says. Callers warn once per process. */
void ksa_warn(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
const ksa_host_api *ksa_host_api_get(void);

/* ---------------------------------------------------------------- handles */
#define KSA_MAX_BACKENDS 16

typedef struct ksa_backend_entry {
    ksa_backend *backend; /* NULL when absent */
    char name[32];
    char path[512];       /* plugin file ("" for built-ins) */
    char why[384];        /* reason it is absent ("" when present) */
    void *dl_handle;
    int32_t builtin;
} ksa_backend_entry;

struct ksa_device_s {
    ksa_context ctx;
    ksa_backend *backend;
    int32_t index; /* device index within its backend */
    ksa_device_info info;
};

struct ksa_context_s {
    ksa_backend_entry entries[KSA_MAX_BACKENDS];
    int32_t num_entries;
    struct ksa_device_s *devices;
    int32_t num_devices;
};

struct ksa_stream_s {
    ksa_device device;
    void *native;
    int32_t owned;
};

struct ksa_buffer_s {
    ksa_device device;
    ksa_mem mem;
    size_t size;
    int32_t owned;
};

/* Number of backend entries (present or absent) and entry i, for ksa-info. */
int ksa_context_backend_count(ksa_context ctx);
const ksa_backend_entry *ksa_context_backend_entry(ksa_context ctx, int i);

/* Built-in backends (defined in reference/ and backends/cpu/). */
ksa_backend *ksa_reference_backend(void);
#if defined(KSA_HAVE_CPU_BACKEND) && KSA_HAVE_CPU_BACKEND
ksa_backend *ksa_cpu_backend(void);
#endif

/* Two devices share memory when both are host-memory devices or they are the same device. */
int ksa_devices_share_memory(ksa_device a, ksa_device b);

/* ---------------------------------------------------------------- problem resolution */
/* Host-side storage behind the arrays a ksa_problem points to (lengths, head map). */
typedef struct ksa_problem_storage {
    int32_t *seqlen_q, *seqlen_k, *q_row0, *k_row0; /* [capacity] each */
    int32_t capacity;
    unsigned char *mark; /* [mark_capacity] zeroed flags for the index-entry check */
    int64_t mark_capacity;
    int32_t *readback; /* [readback_capacity] length tensors and head map read back from a device */
    int64_t readback_capacity;
    int32_t head_map[KSA_MAX_KV_HEADS];
    int32_t config[KSA_MAX_TUNABLES];
    int32_t config_tuned; /* 1: config came from the tuning cache or the shipped table */
    char config_source[48];
} ksa_problem_storage;

void ksa_problem_storage_release(ksa_problem_storage *st);

/* Validate a call and fill `p` (everything except workspace/config). Reads length tensors back
 * from the device when they are not in host memory. Writes nothing the caller owns. Runs the
 * steps below in order after checking dev, params and tensors for NULL. */
ksa_status ksa_resolve_problem(ksa_device dev, void *native_stream, const ksa_attention_params *params,
                               const ksa_attention_tensors *t, ksa_problem *p, ksa_problem_storage *st);
/* The steps, each reading what the earlier ones put in `p` (p zeroed before the first):
 * 1. mode, phase, scale and Top-k parameters; */
ksa_status ksa_resolve_params(const ksa_attention_params *params, ksa_problem *p);
/* 2. q, o, k, v, lse views: dtypes, ranks, shapes, heads, head_dim, batch, q/o token strides,
 *    which K/V layout the tensors name; */
ksa_status ksa_resolve_shapes(ksa_device dev, const ksa_attention_tensors *t, ksa_problem *p);
/* 3. the K/V layout's own tensors (page table, cu_seqlens_k, seq_lens_k views) and k/v strides; */
ksa_status ksa_resolve_kv_layout(ksa_device dev, const ksa_attention_tensors *t, ksa_problem *p);
/* 4. per-sequence lengths and first rows into `st` (read back from a device when needed), the
 *    per-sequence rules, and the page-table entries when they can be read; */
ksa_status ksa_resolve_lengths(ksa_device dev, void *native_stream, const ksa_attention_tensors *t, ksa_problem *p,
                               ksa_problem_storage *st);
/* 5. index and count tensors of ANCHOR / REUSE: shapes, tiles, slots (never fewer than
 *    ksa_attention_index_shape gives), strides; n_tiles for every mode; */
ksa_status ksa_resolve_index_geometry(ksa_device dev, const ksa_attention_tensors *t, ksa_problem *p);
/* 6. the head map (REUSE; identity otherwise) into `st`; */
ksa_status ksa_resolve_head_map(ksa_device dev, void *native_stream, const ksa_attention_tensors *t, ksa_problem *p,
                                ksa_problem_storage *st);
/* 7. REUSE with validate_indices: counts in range, entries distinct candidate keys. */
ksa_status ksa_validate_index_entries(ksa_device dev, void *native_stream, ksa_problem *p, ksa_problem_storage *st);

/* One index set: set[0], set[stride], ... set[(count - 1) * stride] must be distinct keys in
 * 0..ncand-1. `mark` holds ncand flags; bit 0 is set for each accepted key and cleared again
 * before returning unless keep_marks (other bits are left alone). Returns -1 when the set is
 * valid, else the slot of the first bad entry, with *repeat = 1 when it repeats an earlier entry
 * (0 when it is out of range). Used by validation (REUSE inputs) and the cross-check (ANCHOR
 * outputs). */
int64_t ksa_index_set_check(const int32_t *set, int64_t stride, int64_t count, int64_t ncand, unsigned char *mark,
                            int keep_marks, int *repeat);
/* Resolve a ksa_tensor's memory: sets *mem and *owner (the device the memory lives on; NULL for
 * host memory given without a device, allowed only where `host_ok`). */
ksa_status ksa_tensor_memory(const ksa_tensor *t, const char *name, ksa_mem *mem, ksa_device *owner);
/* Span in elements covered by a strided view: 1 + sum (shape-1)*stride; -1 on overflow. */
int64_t ksa_view_span(int ndim, const int64_t *shape, const int64_t *stride);

/* Configuration chosen for a problem (override, tuning cache, or none): fills p->config and sets
 * st->config_tuned when it came from tuning. */
ksa_status ksa_choose_config(ksa_device dev, ksa_problem *p, ksa_problem_storage *st);

/* ---------------------------------------------------------------- cross-check */
typedef struct ksa_tolerance {
    double atol, rtol;          /* outputs */
    double lse_atol;
    double score_atol, score_rtol; /* pooled scores, for the tie-tolerant index comparison */
} ksa_tolerance;

/* The one place tolerances are stated (docs/SEMANTICS.md mirrors it). */
ksa_tolerance ksa_tolerance_for(ksa_dtype dtype);

/* After ksa_attention() ran on `dev`: copy inputs and outputs back, run the reference, and compare
 * with tie tolerance for index sets. SUCCESS when they agree; CHECK_FAILED with a sentence
 * (also written to `report` when given) when not. Allocates (debug path). */
ksa_status ksa_check_against_reference(ksa_device dev, ksa_stream stream, const ksa_attention_params *params,
                                       const ksa_attention_tensors *tensors, char *report, size_t report_len);

/* ksa_resolve_problem for a checked call (KSA_CHECK and ksa_check_against_reference): resolved as
 * with params.validate_indices set, so REUSE index entries are validated and the length tensors
 * read back (host lengths) whatever the caller's params say (p->validate_indices keeps the
 * caller's value), and an invalid input is reported as the caller's input error
 * (INVALID_ARGUMENT), never blamed on the backend. */
ksa_status ksa_check_resolve(ksa_device dev, void *native_stream, const ksa_attention_params *params,
                             const ksa_attention_tensors *tensors, ksa_problem *p, ksa_problem_storage *st);

/* Host-side comparison used by the above (p_cand: the backend's outputs on host; p_ref: reference
 * outputs with the same inputs). */
ksa_status ksa_compare_problems(const ksa_problem *p_cand, const ksa_problem *p_ref, char *report, size_t report_len);

#ifdef __cplusplus
}
#endif
#endif /* KSA_INTERNAL_H */
