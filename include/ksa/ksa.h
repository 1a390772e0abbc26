/* ksa.h: the public C API of ksa, sparse attention kernels (the Kascade method) for long-context
 * LLM inference. Version and status codes, opaque handles (context, device, stream, buffer),
 * tensor descriptors, the attention op family (DENSE / ANCHOR / REUSE for prefill, chunked prefill
 * and decode), workspace queries and the per-model schedule. See docs/SEMANTICS.md for the exact
 * meaning of every parameter. */
#ifndef KSA_KSA_H
#define KSA_KSA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define KSA_API __declspec(dllexport)
#else
#define KSA_API __attribute__((visibility("default")))
#endif

/* ---------------------------------------------------------------- version */
#define KSA_VERSION_MAJOR 0
#define KSA_VERSION_MINOR 1
#define KSA_VERSION_PATCH 0
#define KSA_VERSION_NUMBER (KSA_VERSION_MAJOR * 10000 + KSA_VERSION_MINOR * 100 + KSA_VERSION_PATCH)

/* Run-time version of the loaded library, as KSA_VERSION_NUMBER and as "0.1.0". */
KSA_API int ksa_version(void);
KSA_API const char *ksa_version_string(void);

/* ---------------------------------------------------------------- status */
typedef enum ksa_status {
    KSA_STATUS_SUCCESS = 0,
    KSA_STATUS_INVALID_ARGUMENT = 1, /* an argument is wrong; ksa_last_error() names it */
    KSA_STATUS_UNSUPPORTED = 2,      /* valid, but this backend/device cannot do it */
    KSA_STATUS_OUT_OF_MEMORY = 3,
    KSA_STATUS_DEVICE_ERROR = 4,     /* the driver or runtime reported an error */
    KSA_STATUS_NOT_FOUND = 5,        /* no such device, backend or cache entry */
    KSA_STATUS_CHECK_FAILED = 6,     /* KSA_CHECK cross-check against the reference disagreed */
    KSA_STATUS_IO_ERROR = 7,         /* a file could not be read or written */
    KSA_STATUS_INVALID_FILE = 8,     /* a file was read but is malformed */
    KSA_STATUS_WORKSPACE_TOO_SMALL = 9,
    KSA_STATUS_INTERNAL = 10
} ksa_status;

/* Name of a status code ("KSA_STATUS_INVALID_ARGUMENT"); never NULL. */
KSA_API const char *ksa_status_string(ksa_status status);
/* Thread-local sentence describing the last failure on this thread ("" when none). Valid until the
 * next ksa call on the same thread. */
KSA_API const char *ksa_last_error(void);

/* ---------------------------------------------------------------- handles */
typedef struct ksa_context_s *ksa_context;
typedef struct ksa_device_s *ksa_device;     /* owned by its context */
typedef struct ksa_stream_s *ksa_stream;     /* NULL = the device's default stream */
typedef struct ksa_buffer_s *ksa_buffer;
typedef struct ksa_schedule_s *ksa_schedule;

/* A context discovers the backends (built in and plugins) and their devices. Thread-safe to use
 * from several threads once created. */
KSA_API ksa_status ksa_context_create(ksa_context *out);
KSA_API void ksa_context_destroy(ksa_context ctx);

typedef enum ksa_device_kind {
    KSA_DEVICE_REFERENCE = 0, /* scalar float64 reference on the host */
    KSA_DEVICE_CPU = 1,
    KSA_DEVICE_CUDA = 2,
    KSA_DEVICE_HIP = 3,
    KSA_DEVICE_OPENCL = 4
} ksa_device_kind;

#define KSA_NAME_MAX 128

typedef struct ksa_device_info {
    ksa_device_kind kind;
    char name[KSA_NAME_MAX];      /* device string: "cpu", "reference", "cuda:0", "opencl:0.1" */
    char backend[32];             /* backend name: "cpu", "reference", "cuda", "hip", "opencl" */
    char description[KSA_NAME_MAX]; /* marketing name, e.g. "NVIDIA H100 80GB HBM3" */
    char isa[64];                 /* CPU ISA level or compute capability ("avx512", "sm_90") */
    int32_t compute_units;        /* cores, SMs or CUs */
    int32_t host_memory;          /* 1 if tensors live in ordinary host memory */
    uint64_t memory_bytes;
    char driver_version[64];      /* driver/runtime version, part of the tuning-cache signature */
} ksa_device_info;

/* Number of devices found, and handle i of them (0 <= i < count). */
KSA_API ksa_status ksa_device_count(ksa_context ctx, int *count);
KSA_API ksa_status ksa_device_get(ksa_context ctx, int index, ksa_device *out);
/* Open by name: "auto" (KSA_BACKEND if set, else best found: cuda > hip > cpu > opencl >
 * reference), "cpu", "reference", "cuda:N", "hip:N", "opencl:P.D" ("cuda" = "cuda:0"). */
KSA_API ksa_status ksa_device_open(ksa_context ctx, const char *name, ksa_device *out);
KSA_API ksa_status ksa_device_get_info(ksa_device dev, ksa_device_info *out);

/* Streams. ksa_stream_wrap takes a native queue (cudaStream_t, hipStream_t, cl_command_queue) that
 * the caller keeps owning; destroying the wrapper does not destroy it. */
KSA_API ksa_status ksa_stream_create(ksa_device dev, ksa_stream *out);
KSA_API ksa_status ksa_stream_wrap(ksa_device dev, void *native_stream, ksa_stream *out);
KSA_API ksa_status ksa_stream_synchronize(ksa_device dev, ksa_stream stream);
KSA_API void ksa_stream_destroy(ksa_stream stream);

/* Buffers: device memory for callers without an allocator of their own, or a wrapper around
 * memory the caller owns (a device pointer for CUDA/HIP/host, a cl_mem for OpenCL). */
KSA_API ksa_status ksa_buffer_alloc(ksa_device dev, size_t bytes, ksa_buffer *out);
KSA_API ksa_status ksa_buffer_wrap(ksa_device dev, void *native, size_t bytes, ksa_buffer *out);
KSA_API void ksa_buffer_free(ksa_buffer buf);
KSA_API size_t ksa_buffer_size(ksa_buffer buf);
/* Device pointer of the buffer (NULL for OpenCL, whose memory has no pointer). */
KSA_API void *ksa_buffer_data(ksa_buffer buf);
/* Copies; stream NULL = default stream. The call returns when the copy has completed. */
KSA_API ksa_status ksa_buffer_write(ksa_buffer dst, size_t dst_offset, const void *src, size_t bytes,
                                    ksa_stream stream);
KSA_API ksa_status ksa_buffer_read(void *dst, ksa_buffer src, size_t src_offset, size_t bytes,
                                   ksa_stream stream);
KSA_API ksa_status ksa_buffer_fill(ksa_buffer dst, size_t offset, size_t bytes, uint8_t value,
                                   ksa_stream stream);

/* ---------------------------------------------------------------- tensors */
typedef enum ksa_dtype {
    KSA_DTYPE_INVALID = 0,
    KSA_DTYPE_F32 = 1,
    KSA_DTYPE_F16 = 2,
    KSA_DTYPE_BF16 = 3,
    KSA_DTYPE_I32 = 4
} ksa_dtype;

KSA_API size_t ksa_dtype_size(ksa_dtype dtype); /* 0 for an invalid dtype */
KSA_API const char *ksa_dtype_name(ksa_dtype dtype);

#define KSA_MAX_DIMS 5

/* A strided view of memory on one device. Exactly one of `data` (a host pointer for host-memory
 * devices, a device pointer for CUDA/HIP) or `buffer` (+ byte `offset`) is set; OpenCL needs
 * `buffer`. `device` must be set when `data` is used; with `buffer` it may be NULL (the buffer's
 * device is used). Strides are in elements and may be any non-negative values (0 for broadcast is
 * refused for outputs). An all-zero ksa_tensor means "absent" for optional arguments. */
typedef struct ksa_tensor {
    ksa_dtype dtype;
    int32_t ndim;
    int64_t shape[KSA_MAX_DIMS];
    int64_t stride[KSA_MAX_DIMS];
    void *data;
    ksa_buffer buffer;
    size_t offset;
    ksa_device device;
} ksa_tensor;

/* Contiguous (row-major) descriptor over a pointer or a buffer. */
KSA_API ksa_tensor ksa_tensor_make(ksa_device dev, void *data, ksa_dtype dtype, int ndim,
                                   const int64_t *shape);
KSA_API ksa_tensor ksa_tensor_from_buffer(ksa_buffer buf, size_t offset, ksa_dtype dtype, int ndim,
                                          const int64_t *shape);
KSA_API int ksa_tensor_present(const ksa_tensor *t);
KSA_API int64_t ksa_tensor_numel(const ksa_tensor *t);

/* Scratch memory given to an op; size from the matching *_workspace_size query. */
typedef struct ksa_workspace {
    void *data;        /* device pointer (host pointer for host-memory devices) */
    ksa_buffer buffer; /* or a buffer + offset (needed for OpenCL) */
    size_t offset;
    size_t size;
} ksa_workspace;

/* ---------------------------------------------------------------- attention */
typedef enum ksa_mode {
    KSA_MODE_DENSE = 0,  /* FlashAttention semantics, optional log-sum-exp out */
    KSA_MODE_ANCHOR = 1, /* dense scores, pooled per tile and KV head, Top-k written to indices */
    KSA_MODE_REUSE = 2   /* sparse attention over given indices through a head map */
} ksa_mode;

typedef enum ksa_phase {
    KSA_PHASE_PREFILL = 0, /* Lq >= 1 queries per sequence, query tiles of T (also chunked prefill) */
    KSA_PHASE_DECODE = 1   /* exactly one query per sequence at position Lk - 1 */
} ksa_phase;

/* Top-k budget and tile parameters (docs/METHOD.md and docs/SEMANTICS.md "Budget k"). Defaults:
 * ksa_topk_default(). */
typedef struct ksa_topk_params {
    double fraction;        /* f, Top-k fraction of the keys (0 < f <= 1); default 0.10 */
    int32_t top_k;          /* > 0: fixed k instead of the fraction rule; 0: use fraction */
    int32_t min_k;          /* minimum budget, default 128 */
    int32_t round_multiple; /* round k up to a multiple of this (1 = no rounding), default 128 */
    int32_t tile_size;      /* T, prefill query tile; default 32; fixed, never tuned */
    int32_t rolling;        /* prefill: budget of tile t from its own position; default 1 */
    int32_t local_window;   /* decode REUSE: always also attend the last W keys; default 0 */
} ksa_topk_params;

KSA_API ksa_topk_params ksa_topk_default(void);

typedef struct ksa_attention_params {
    ksa_mode mode;
    ksa_phase phase;
    float scale;              /* 0 = 1/sqrt(head_dim) */
    int32_t anchor_dense_output; /* ANCHOR: output is dense attention (layer 0); default 0 */
    int32_t validate_indices;    /* REUSE: check every index entry is in range (slower) */
    ksa_topk_params topk;
    /* Host-side bounds of the per-sequence lengths, 0 = not given (the default). max_seqlen_q
     * bounds the query counts (cu_seqlens_q), max_seqlen_k the key counts (cu_seqlens_k,
     * seq_lens_k). Without them, a device the host cannot read (GPU, OpenCL) has its length
     * tensors read back with a synchronising copy in every call that names them. With a bound for
     * every length tensor the call names, the CUDA, HIP and OpenCL backends read the lengths on the
     * device inside the call: no copy, no synchronisation, and a ragged or paged call can be
     * captured in a CUDA / HIP graph (OpenCL ANCHOR calls still read them back inside the backend,
     * for their Top-k counts).
     * A given bound shapes the call wherever lengths come from a tensor, on every backend alike:
     * the workspace size, the index tensor's k_slots / n_tiles and the tuning class are those of a
     * batch whose longest sequence has max_seqlen_q queries and max_seqlen_k keys, so one
     * workspace and one index tensor serve every step up to the bound. A bound must be at most
     * the capacity (q rows, the K/V tensor's keys per sequence, page table x page size) and at
     * least every length: where ksa reads the lengths (host memory, validate_indices, KSA_CHECK) a
     * longer one is INVALID_ARGUMENT naming it; where it does not, a length is
     * clamped to its bound and the capacity, to at least one key and to no more queries than
     * keys, so the kernels stay inside the tensors, and the call's output is undefined (the
     * contract of unchecked REUSE indices). */
    int32_t max_seqlen_q;
    int32_t max_seqlen_k;
} ksa_attention_params;

KSA_API ksa_attention_params ksa_attention_params_default(ksa_mode mode, ksa_phase phase);

/* The tensors of one attention call. Absent optional tensors are zero-initialised.
 *  q   [B, Lq, Hq, D]                 or ragged [total_q, Hq, D] with cu_seqlens_q
 *  k,v [B, Lk, Hkv, D]                contiguous (optionally with seq_lens_k for a padded batch)
 *      or ragged [total_k, Hkv, D] with cu_seqlens_k
 *      or paged  [pages, page_size, Hkv, D] with page_table and seq_lens_k
 *  o   like q (same dtype as q)
 *  lse optional f32 [B, Hq, Lq] (ragged: [Hq, total_q]), natural-log log-sum-exp of scaled scores
 *  cu_seqlens_q, cu_seqlens_k  int32 [B + 1], non-decreasing, starting at 0
 *  page_table  int32 [B, max_pages_per_seq]; seq_lens_k int32 [B]
 *  indices int32 [B, Hkv, n_tiles, k_slots] (prefill) or [B, Hkv, k_slots] (decode):
 *          written by ANCHOR, read by REUSE; query ksa_attention_index_shape() for the sizes
 *  counts  int32 [B, Hkv, n_tiles] (prefill) or [B, Hkv] (decode): valid entries per set
 *  head_map int32 [Hkv], host memory or on the device; REUSE only; absent = identity */
typedef struct ksa_attention_tensors {
    ksa_tensor q, k, v, o;
    ksa_tensor lse;
    ksa_tensor cu_seqlens_q, cu_seqlens_k;
    ksa_tensor page_table, seq_lens_k;
    ksa_tensor indices, counts;
    ksa_tensor head_map;
} ksa_attention_tensors;

/* Sizes of the index tensor for a call with these shapes: n_tiles (1 for decode) and k_slots.
 * The length tensors (cu_seqlens, seq_lens_k) live with the call's device like every other tensor;
 * on a device the host cannot read (GPUs, OpenCL) ksa reads them back with a synchronising copy,
 * here and in every ksa_attention call that names them (no allocation once the thread has seen
 * the batch size), unless params gives their bounds (max_seqlen_q / max_seqlen_k: no read-back
 * on CUDA, HIP and OpenCL, and the sizes follow the bounds). */
KSA_API ksa_status ksa_attention_index_shape(ksa_device dev, const ksa_attention_params *params,
                                             const ksa_attention_tensors *tensors, int64_t *n_tiles,
                                             int64_t *k_slots);
/* Scratch bytes the call needs on `dev` (may be 0). The size stays valid for calls of the same
 * shapes however the tuning cache changes later (another process storing a new winner): it covers
 * the built-in configuration too, and a call whose tuned configuration would not fit the workspace
 * it is given runs the built-in one. */
KSA_API ksa_status ksa_attention_workspace_size(ksa_device dev, const ksa_attention_params *params,
                                                const ksa_attention_tensors *tensors, size_t *bytes);
/* Run one attention call on `dev`, enqueued on `stream` (NULL: default stream). No allocation
 * happens inside (except in KSA_CHECK mode). On failure nothing the caller owns is written. */
KSA_API ksa_status ksa_attention(ksa_device dev, ksa_stream stream, const ksa_attention_params *params,
                                 const ksa_attention_tensors *tensors, const ksa_workspace *workspace);

/* ---------------------------------------------------------------- schedule */
typedef enum ksa_layer_kind {
    KSA_LAYER_DENSE = 0,  /* plain dense attention, writes no indices */
    KSA_LAYER_ANCHOR = 1, /* writes the index state; layer 0's output is dense */
    KSA_LAYER_REUSE = 2   /* reads the index state of the nearest anchor before it */
} ksa_layer_kind;

/* A model's per-layer plan. Created empty (every layer DENSE); then either set each layer or load
 * a head-map table. The schedule owns the index state between layers. */
KSA_API ksa_status ksa_schedule_create(ksa_device dev, int32_t num_layers, int32_t num_kv_heads,
                                       const ksa_topk_params *topk, ksa_schedule *out);
KSA_API void ksa_schedule_destroy(ksa_schedule sched);
/* head_map: host int32 [num_kv_heads] (REUSE only; NULL = identity). A REUSE layer needs an
 * ANCHOR layer before it; layer 0 may only be DENSE or ANCHOR. */
KSA_API ksa_status ksa_schedule_set_layer(ksa_schedule sched, int32_t layer, ksa_layer_kind kind,
                                          const int32_t *head_map);
/* Kascade plan from anchors and a host int32 [num_layers, num_kv_heads] head-map table (the
 * format of the shipped .npy files): listed layers are anchors, the others reuse. */
KSA_API ksa_status ksa_schedule_set_kascade(ksa_schedule sched, const int32_t *anchors, int32_t n_anchors,
                                            const int32_t *head_maps);
KSA_API ksa_status ksa_schedule_get_layer(ksa_schedule sched, int32_t layer, ksa_layer_kind *kind,
                                          int32_t *anchor_layer, int32_t *head_map);
KSA_API ksa_status ksa_schedule_get_shape(ksa_schedule sched, int32_t *num_layers, int32_t *num_kv_heads);
/* Tensor parallelism: make the schedule one rank's share of the model. It then runs only KV heads
 * [kv_head_offset, kv_head_offset + kv_head_count) of the num_kv_heads it was created with (query
 * heads follow: G = Hq / Hkv per KV head), so the q/k/v/o given to ksa_schedule_plan and
 * ksa_schedule_run_layer hold just those heads, and the index state is the rank's own. Head maps
 * keep the model's KV-head numbers (the full [num_layers, num_kv_heads] table, as ksa-calibrate
 * writes it); a REUSE layer's local head i reads anchor head head_map[kv_head_offset + i] -
 * kv_head_offset. Every such entry must lie inside the range (plans from ksa-calibrate --shards
 * do): otherwise INVALID_ARGUMENT with a sentence naming the layer and head, here and in later
 * set_layer / set_kascade calls, and nothing changes. Default: all heads (0, num_kv_heads).
 * Changing the range drops the planned step (plan again); not allowed in calibration mode. */
KSA_API ksa_status ksa_schedule_set_head_range(ksa_schedule sched, int32_t kv_head_offset, int32_t kv_head_count);
KSA_API ksa_status ksa_schedule_get_head_range(ksa_schedule sched, int32_t *kv_head_offset, int32_t *kv_head_count);
/* Length bounds for every layer's call (ksa_attention_params.max_seqlen_q / max_seqlen_k; 0 = not
 * given, the default). With them, a ragged or paged step on a CUDA or HIP device reads no lengths
 * back, neither in ksa_schedule_plan nor in any layer, and the index state and workspace are sized
 * by the bounds, so one plan serves every step whose lengths stay within them. Drops the planned
 * step (plan again). */
KSA_API ksa_status ksa_schedule_set_max_seqlens(ksa_schedule sched, int32_t max_seqlen_q, int32_t max_seqlen_k);
/* Descriptors of the schedule's index state for the planned step: indices int32 [B, count,
 * n_tiles, k_slots] and counts [B, count, n_tiles] (decode: [B, count, k_slots] and [B, count]),
 * count = the KV heads the schedule runs. They hold what the last ANCHOR layer run wrote; owned by
 * the schedule, valid until the next ksa_schedule_plan or ksa_schedule_destroy; for reading only
 * (inspection, tests, comparing ranks). Either pointer may be NULL. */
KSA_API ksa_status ksa_schedule_get_index_state(ksa_schedule sched, ksa_tensor *indices, ksa_tensor *counts);
/* Calibration mode (collector from ksa_calib.h, NULL = off): every layer then runs as an ANCHOR
 * with dense output (the model computes exact attention) and its statistics go to the collector;
 * ksa_schedule_plan opens a collector step and running the last layer closes it. exact = 1 feeds
 * q/k for coverage by probability mass (host-memory devices only; slow, float64), exact = 0 feeds
 * the index sets the ANCHOR calls wrote (any device; coverage by set overlap). */
struct ksa_calib_collector_s;
KSA_API ksa_status ksa_schedule_set_calibration(ksa_schedule sched, struct ksa_calib_collector_s *collector, int32_t exact);
/* Size the index state for a step: allocates (outside the hot path) when capacity must grow.
 * `shape_tensors` gives q, k (layout, lengths); data pointers of q/k/v/o are not read. */
KSA_API ksa_status ksa_schedule_plan(ksa_schedule sched, ksa_phase phase,
                                     const ksa_attention_tensors *shape_tensors, size_t *workspace_bytes);
/* Run layer `layer` of the planned step: q/k/v/o (+ layout tensors) from `tensors`; indices,
 * counts and head_map are the schedule's own and must be absent in `tensors`. */
KSA_API ksa_status ksa_schedule_run_layer(ksa_schedule sched, ksa_stream stream, int32_t layer,
                                          const ksa_attention_tensors *tensors,
                                          const ksa_workspace *workspace);

/* ---------------------------------------------------------------- tuning hook */
/* Force a backend configuration by name for calls on this thread ("" or NULL: tuned/default),
 * e.g. "block_q=64,block_k=64". Used by ksa-tune and tests. */
KSA_API ksa_status ksa_set_config_override(const char *config);

#ifdef __cplusplus
}
#endif
#endif /* KSA_KSA_H */
