/* bench_model.h: the arithmetic of ksa-bench that needs no device. Work counting (FLOPs and the
 * fewest bytes each op must move), the roofline floor, the built-in table of device peaks, a tiny
 * reader for the int32/int64 .npy head-map files, and a minimal JSON-line validator used by the
 * CI smoke test. */
#ifndef KSA_BENCH_MODEL_H
#define KSA_BENCH_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ksa/ksa.h"

/* B sequences of Lq queries over Lk keys (Lq = Lk: prefill; Lq < Lk: chunked prefill; Lq = 1 with
 * phase DECODE: decode), Hq query heads, Hkv KV heads, head dim D. */
typedef struct bench_shape {
    int64_t B, Lq, Lk, Hq, Hkv, D;
} bench_shape;

/* What one call must do at least: FLOPs (2 per multiply-add) and bytes through device memory. */
typedef struct bench_work {
    double flops;
    double bytes;
    double attended_pairs; /* (query head, key) pairs whose probability enters the output, per head */
    double scored_pairs;   /* pairs whose score must be computed (ANCHOR: every visible pair) */
} bench_work;

/* Counting rules (bench/NOTES.md states them in prose):
 *  DENSE   flops = 4 D Hq * visible pairs (causal full prefill: L^2 / 2 per sequence, as peers count)
 *  ANCHOR  flops = 2 D Hq * visible pairs (scores once) + 4 D Hq * attended sparse pairs
 *  REUSE   flops = 4 D Hq * attended pairs (selected keys + each tile's own visible keys)
 *  bytes   q and o once; K and V: every visible row of every KV head once (DENSE/ANCHOR), the
 *          selected rows only (REUSE decode; REUSE prefill: min(all rows, selected rows)); index
 *          tensors written (ANCHOR) or read (REUSE). */
bench_work bench_count(const bench_shape *s, ksa_mode mode, ksa_phase phase, const ksa_topk_params *topk,
                       ksa_dtype dtype);

/* Device ceilings used for the floor. `source` says where they came from. */
typedef struct bench_peaks {
    double tflops;        /* 16-bit matrix rate, TFLOP/s */
    double bandwidth_gbs; /* device memory, GB/s (bytes read + written, as a copy measures) */
    double cache_bytes;   /* last-level cache: inputs smaller than 2x this are rotated */
    char source[128];
} bench_peaks;

/* Built-in table by device description / kind / ISA (H100, H200, A100, MI300, CPU levels). */
bench_peaks bench_peaks_builtin(const ksa_device_info *info);
/* Floor in ms: max(flops / peak, bytes / bandwidth); *memory_bound set when the bytes term wins. */
double bench_floor_ms(const bench_work *w, const bench_peaks *pk, int *memory_bound);

/* Reads an int32 (or int64, converted) C-order .npy of 2 dimensions. Returns 0 on success and a
 * malloc'ed table in *data; on failure -1 with a sentence in err. */
int bench_npy_read_i32(const char *path, int32_t **data, int64_t *rows, int64_t *cols, char *err, size_t err_len);

/* 1 when `line` is exactly one JSON object (whitespace around allowed), else 0. */
int bench_json_line_valid(const char *line);

#endif /* KSA_BENCH_MODEL_H */
