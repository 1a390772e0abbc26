/* ksa_backend.h: the backend ABI. Every backend (the built-in reference and cpu, and the cuda, hip
 * and opencl plugins) fills a ksa_backend vtable. dispatch/ validates each call once and hands the
 * backend a fully resolved ksa_problem: shapes, strides, per-sequence lengths on the host, Top-k
 * budget, head map, memory handles and workspace. Backends never re-validate and never allocate on
 * the hot path. Changing anything here bumps KSA_BACKEND_ABI_VERSION. */
#ifndef KSA_BACKEND_H
#define KSA_BACKEND_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ksa/ksa.h"
#include "ksa_budget_rules.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KSA_BACKEND_ABI_VERSION 2u
#define KSA_PLUGIN_ENTRY_SYMBOL "ksa_plugin_backend"
#define KSA_MAX_KV_HEADS 256
#define KSA_MAX_TUNABLES 12

/* A piece of device memory: `ptr` is a pointer usable by the backend (host pointer or device
 * pointer; NULL for OpenCL), `native` the backend's own handle (cl_mem for OpenCL, else NULL or
 * the allocation), `offset` bytes from the start. The address of element 0 of a pointer backend's
 * view is (char *)ptr + offset. */
typedef struct ksa_mem {
    void *ptr;
    void *native;
    size_t offset;
} ksa_mem;

static inline void *ksa_mem_addr(ksa_mem m) { return m.ptr ? (void *)((char *)m.ptr + m.offset) : (void *)0; }

/* A validated tensor: memory + dtype + shape + element strides (innermost stride of q/k/v/o is 1). */
typedef struct ksa_view {
    int32_t present;
    ksa_dtype dtype;
    int32_t ndim;
    int64_t shape[KSA_MAX_DIMS];
    int64_t stride[KSA_MAX_DIMS];
    ksa_mem mem;
} ksa_view;

typedef enum ksa_kv_layout {
    KSA_KV_CONTIGUOUS = 0, /* k [B, Lk, Hkv, D]; per-sequence lengths from seq_lens_k if given */
    KSA_KV_RAGGED = 1,     /* k [total_k, Hkv, D]; sequence b is rows cu_k[b] .. cu_k[b+1]-1 */
    KSA_KV_PAGED = 2       /* k [pages, page_size, Hkv, D]; key j of b in page page_table[b][j / page_size] */
} ksa_kv_layout;

/* Strides of a token-major tensor [token, head, dim] after resolving the layout:
 * element (b, i, h, d) lives at  b * batch + (row0[b] + i) * token + h * head + d.
 * For non-ragged q/k: row0[b] = 0 and batch = the tensor's batch stride; ragged: batch = 0 and
 * row0 = cu_seqlens. Paged k/v: see ksa_problem.kv_layout (token = stride within a page, batch
 * unused, page = stride between pages). */
typedef struct ksa_token_strides {
    int64_t batch;
    int64_t token;
    int64_t head;
    int64_t page; /* paged K/V only */
} ksa_token_strides;

/* Everything a backend needs for one attention call. Host arrays stay valid during the call. */
typedef struct ksa_problem {
    ksa_mode mode;
    ksa_phase phase;
    ksa_dtype dtype; /* q, k, v, o storage type (one for all four) */
    float scale;
    int32_t anchor_dense_output;
    int32_t validate_indices;
    ksa_topk_params topk; /* resolved: all fields valid */

    int32_t batch;
    int32_t num_q_heads;
    int32_t num_kv_heads;
    int32_t group_size; /* num_q_heads / num_kv_heads */
    int32_t head_dim;

    int32_t q_ragged;        /* q given as [total_q, Hq, D] with cu_seqlens_q */
    ksa_kv_layout kv_layout;
    int32_t page_size;       /* paged only */
    int64_t num_pages;       /* paged only */
    int64_t max_pages_per_seq; /* paged only: page_table.shape[1] */

    /* per-sequence sizes on the host, [batch] each (valid for every layout), except with
     * lengths_on_device, where all four are NULL */
    const int32_t *seqlen_q;  /* Lq_b (decode: 1) */
    const int32_t *seqlen_k;  /* Lk_b */
    const int32_t *q_row0;    /* first row of sequence b in q/o (ragged: cu_seqlens_q[b]; else 0) */
    const int32_t *k_row0;    /* first row in k/v (ragged: cu_seqlens_k[b]; else 0) */
    /* the longest sequence's counts, or the caller's bounds (params.max_seqlen_q / _k) where given
     * for lengths that come from a tensor; total_q: the sum of the Lq_b, or q's rows with
     * lengths_on_device */
    int64_t max_seqlen_q, max_seqlen_k, total_q;
    /* 1: the caller bounded every length tensor and the backend reads lengths on the device
     * (device_lengths): dispatch read nothing back and validated no per-sequence length */
    int32_t lengths_on_device;
    int32_t seqlen_bound_q, seqlen_bound_k; /* params.max_seqlen_q / _k as given (0: none) */

    /* index tensor geometry: prefill [B, Hkv, n_tiles, k_slots], decode n_tiles = 1 */
    int64_t n_tiles;
    int64_t k_slots;
    int64_t index_stride[4]; /* element strides of (b, g, tile, slot) */
    int64_t count_stride[3]; /* element strides of (b, g, tile) */

    /* head map on the host, [num_kv_heads]: identity when absent or not REUSE */
    const int32_t *head_map;

    ksa_token_strides q_strides, k_strides, v_strides, o_strides;
    int64_t lse_stride_b, lse_stride_h, lse_stride_i; /* lse element (b, h, i); ragged: b stride 0, i = row */

    ksa_view q, k, v, o, lse;
    ksa_view cu_seqlens_q, cu_seqlens_k, page_table, seq_lens_k;
    ksa_view indices, counts;

    ksa_mem workspace;
    size_t workspace_size;

    /* configuration chosen by dispatch (tuning cache, override or NULL for the backend default):
     * values in the order of the backend's tunable space for this problem */
    const int32_t *config;
    int32_t config_count;
} ksa_problem;

/* ---------------------------------------------------------------- Top-k budget (docs/SEMANTICS.md) */
/* The rules themselves live in ksa_budget_rules.h (shared with the GPU kernels); these wrappers
 * take the resolved ksa_topk_params of a problem. */
static inline ksa_budget_rule ksa_budget_rule_of(const ksa_topk_params *p)
{
    ksa_budget_rule r;
    r.fraction = p->fraction;
    r.top_k = p->top_k;
    r.min_k = p->min_k;
    r.round_multiple = p->round_multiple;
    r.tile_size = p->tile_size;
    r.rolling = p->rolling;
    return r;
}

/* k(L) */
static inline int64_t ksa_budget(const ksa_topk_params *p, int64_t L)
{
    ksa_budget_rule r = ksa_budget_rule_of(p);
    return ksa_rule_budget(&r, L);
}

/* Decode: number of keys selected for a sequence of Lk keys. */
static inline int64_t ksa_decode_count(const ksa_topk_params *p, int64_t lk)
{
    ksa_budget_rule r = ksa_budget_rule_of(p);
    return ksa_rule_decode_count(&r, lk);
}

/* Prefill: count_t of tile t of a sequence with lq queries and lk keys (ksa_rule_prefill_tile_count). */
static inline int64_t ksa_prefill_tile_count(const ksa_topk_params *p, int64_t lq, int64_t lk, int64_t t)
{
    ksa_budget_rule r = ksa_budget_rule_of(p);
    return ksa_rule_prefill_tile_count(&r, lq, lk, t);
}

/* Index slots needed (the last dimension of the index tensor) for the longest sequence. */
static inline int64_t ksa_index_slots(const ksa_topk_params *p, ksa_phase phase, int64_t max_lk)
{
    ksa_budget_rule r = ksa_budget_rule_of(p);
    return ksa_rule_index_slots(&r, phase == KSA_PHASE_DECODE, max_lk);
}

/* Query tiles of sequence b (1 in decode), and the candidate keys of its tile t: every key in
 * decode, pos(tT) = lk - lq + tT in prefill. */
static inline int64_t ksa_problem_tiles(const ksa_problem *p, int32_t b)
{
    if (p->phase == KSA_PHASE_DECODE) return 1;
    return (p->seqlen_q[b] + p->topk.tile_size - 1) / p->topk.tile_size;
}
static inline int64_t ksa_problem_candidates(const ksa_problem *p, int32_t b, int64_t t)
{
    if (p->phase == KSA_PHASE_DECODE) return p->seqlen_k[b];
    return (int64_t)p->seqlen_k[b] - p->seqlen_q[b] + t * p->topk.tile_size;
}

/* ---------------------------------------------------------------- tuning */
typedef struct ksa_tunable_param {
    const char *name;       /* "block_q": a string that lives as long as the backend (the tuning
                               lookup's memo compares names by address) */
    int32_t num_values;
    const int32_t *values;  /* allowed values, ascending */
    int32_t default_value;  /* the built-in heuristic's choice may still differ per problem */
} ksa_tunable_param;

typedef struct ksa_tunable_space {
    int32_t num_params; /* <= KSA_MAX_TUNABLES; 0 = nothing to tune */
    ksa_tunable_param params[KSA_MAX_TUNABLES];
} ksa_tunable_space;

/* Filled by the backend during a call, read by KSA_LOG only: a backend may leave it empty when the
 * host's log_enabled() says no line will be printed (the GPU backend does, to save host time). */
typedef struct ksa_call_info {
    char kernel[96]; /* e.g. "avx512_bf16.flash_prefill" */
    char config[96]; /* e.g. "block_q=64,block_k=64" */
} ksa_call_info;

/* ---------------------------------------------------------------- the vtable */
typedef struct ksa_host_api {
    uint32_t abi_version;
    /* record a sentence for ksa_last_error() on this thread; returns `status` for convenience */
    ksa_status (*set_error)(ksa_status status, const char *fmt, ...);
    void (*log)(const char *fmt, ...); /* prints only when KSA_LOG is set */
    int (*log_enabled)(void);
} ksa_host_api;

typedef struct ksa_backend ksa_backend;
struct ksa_backend {
    uint32_t abi_version; /* KSA_BACKEND_ABI_VERSION */
    const char *name;     /* "reference", "cpu", "cuda", "hip", "opencl" */
    ksa_device_kind kind;
    int32_t host_memory;  /* 1: tensors are ordinary host memory (reference, cpu) */
    void *state;          /* backend private, set by init */

    /* Find devices. NOT_FOUND (with `why` filled) when the driver or runtime is missing: the
     * backend is then listed as absent with that reason. */
    ksa_status (*init)(ksa_backend *self, const ksa_host_api *host, char *why, size_t why_len);
    void (*shutdown)(ksa_backend *self);
    int (*device_count)(ksa_backend *self);
    ksa_status (*device_info)(ksa_backend *self, int device, ksa_device_info *out);

    /* memory and streams; `stream` is the native stream (NULL = default) */
    ksa_status (*mem_alloc)(ksa_backend *self, int device, size_t bytes, ksa_mem *out);
    void (*mem_free)(ksa_backend *self, int device, ksa_mem mem);
    ksa_status (*mem_wrap)(ksa_backend *self, int device, void *native, size_t bytes, ksa_mem *out);
    ksa_status (*mem_write)(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset,
                            const void *src, size_t bytes);
    ksa_status (*mem_read)(ksa_backend *self, int device, void *stream, void *dst, ksa_mem src,
                           size_t offset, size_t bytes);
    ksa_status (*mem_fill)(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset,
                           size_t bytes, uint8_t value);
    ksa_status (*stream_create)(ksa_backend *self, int device, void **native);
    void (*stream_destroy)(ksa_backend *self, int device, void *native);
    ksa_status (*stream_sync)(ksa_backend *self, int device, void *native);

    /* ops: UNSUPPORTED (with a sentence via host->set_error) for what the backend cannot do */
    ksa_status (*attention_workspace)(ksa_backend *self, int device, const ksa_problem *p, size_t *bytes);
    ksa_status (*attention)(ksa_backend *self, int device, void *stream, const ksa_problem *p,
                            ksa_call_info *info);

    /* tuning (optional, may be NULL): the tunable parameters for this problem's class */
    ksa_status (*tunables)(ksa_backend *self, int device, const ksa_problem *p, ksa_tunable_space *out);

    /* 1: the backend takes per-sequence lengths from the device length tensors itself (clamped
     * to max_seqlen_q / max_seqlen_k and the tensors' capacity), so a call with host bounds for
     * all of them needs no read-back (ksa_problem.lengths_on_device) */
    int32_t device_lengths;
};

/* A plugin exports:  const ksa_backend *ksa_plugin_backend(uint32_t abi_version);
 * returning NULL when it does not speak `abi_version`. */
typedef ksa_backend *(*ksa_plugin_entry_fn)(uint32_t abi_version);

#ifdef __cplusplus
}
#endif
#endif /* KSA_BACKEND_H */
