/* ksa_reference.h: the scalar float64 reference backend, which defines the right answer for every
 * other backend (docs/SEMANTICS.md). The vtable for device "reference", the attention entry point
 * used by KSA_CHECK and the tests (it allocates when the problem carries no workspace), and the
 * pooled-score query behind the tie-tolerant index comparison of dispatch/check.c. */
#ifndef KSA_REFERENCE_H
#define KSA_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "ksa_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The backend vtable of device "reference" (one device, host memory). */
ksa_backend *ksa_reference_backend(void);

/* Scratch bytes ksa_reference_attention needs for `p` (K/V of one sequence and KV head as float64,
 * one probability row, the pooled scores and the selection buffers). */
size_t ksa_reference_workspace_bytes(const ksa_problem *p);

/* Compute one attention call on host memory: every mode, phase, layout and dtype. Uses
 * p->workspace when it holds ksa_reference_workspace_bytes(p) bytes, else allocates. */
ksa_status ksa_reference_attention(const ksa_problem *p);

/* Same, but never allocates: KSA_STATUS_WORKSPACE_TOO_SMALL when p->workspace is short. Writes the
 * kernel name ("reference.anchor_prefill") to `info` when given. */
ksa_status ksa_reference_attention_in_workspace(const ksa_problem *p, ksa_call_info *info);

/* Pooled score S over the candidates of (sequence b, KV head g, tile): prefill j < pos(tile * T),
 * decode (tile 0) every j < Lk_b. scores[j] for j < *num_candidates; room for max_seqlen_k values.
 * A tile past the sequence's last tile has no candidates. Allocates. */
ksa_status ksa_reference_pooled_scores(const ksa_problem *p, int32_t b, int32_t g, int64_t tile, double *scores,
                                       int64_t *num_candidates);

#ifdef __cplusplus
}
#endif
#endif /* KSA_REFERENCE_H */
