/* ref_bruteforce.h: an independent brute-force statement of every attention op, used to test the
 * reference. It materialises the full [Lq x Lk] probability matrix of each query head in float64
 * from the logical inputs, applies the causal mask, pools per tile, selects by repeated arg-max and
 * renormalises the dense probabilities over each attended set (instead of a fresh softmax). */
#ifndef REF_BRUTEFORCE_H
#define REF_BRUTEFORCE_H

#include <stddef.h>

#include "ref_test_problem.h"

/* Tolerance on o for values rounded to `dtype` (half an ulp plus float64 noise). */
double bf_tolerance(ksa_dtype dtype, double expected);

/* Compare the outputs the reference wrote into r (run on data d) with the brute force: o, lse,
 * and for ANCHOR counts, indices (exactly, ascending, -1 beyond) and tiles past a sequence's end;
 * REUSE reads its sets from r's index tensor. Returns 0 on agreement, else 1 with a sentence. */
int bf_compare(const rt_problem *r, const rt_data *d, char *msg, size_t len);

/* Brute-force pooled scores of (b, g, tile) into S (room for Lk_b); returns the candidate count. */
int64_t bf_pooled(const rt_problem *r, const rt_data *d, int32_t b, int32_t g, int64_t tile, double *S);

#endif /* REF_BRUTEFORCE_H */
