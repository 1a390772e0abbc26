/* hip_cases.h: the HIP backend's own op cases against the reference, shared by the cmocka test
 * (test_hip_ops.c) and the standalone runner used where cmocka is absent (hip_ops_main.c, e.g. on
 * the lent NVIDIA machine through HIP's NVIDIA platform; the shared grid runs there through
 * tests/backends/test_backends). Each returns its number of failures and prints every failing
 * configuration. */
#ifndef KSA_TESTS_HIP_CASES_H
#define KSA_TESTS_HIP_CASES_H

#include "ksa/ksa.h"

/* many sequences, head dims 80 and 512, long decode rows, many tiles, windows */
int khip_backend_edges(ksa_device dev);
/* an ANCHOR call enqueued on a created (non-default) stream */
int khip_created_stream(ksa_device dev);

#endif /* KSA_TESTS_HIP_CASES_H */
