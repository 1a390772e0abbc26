/* bench_onednn.h: the oneDNN dense causal-attention baseline that ksa-cpu-bench --compare times next
 * to the ksa CPU backend (bench_onednn.c; built only when CMake finds oneDNN). Benchmark code only:
 * the library itself never calls oneDNN. */
#ifndef KSA_CPU_BENCH_ONEDNN_H
#define KSA_CPU_BENCH_ONEDNN_H

#include <stddef.h>
#include <stdint.h>

typedef struct onednn_attention onednn_attention;

/* Plans causal prefill for one sequence: q, o are [L, Hq, D], k, v are [L, Hkv, D], contiguous,
 * all float32 (bf16 == 0) or all bf16 (bf16 == 1). The buffers must stay valid until destroy.
 * Query rows are processed in blocks of block_q (block_q >= L: one block, the full L x L scores).
 * Returns 0, or -1 with a sentence in err. */
int onednn_attention_create(onednn_attention **out, int bf16, int64_t L, int64_t Hq, int64_t Hkv, int64_t D,
                            int64_t block_q, const void *q, const void *k, const void *v, void *o, char *err,
                            size_t err_len);
/* Runs the planned attention once (writes o). Returns 0, or -1 with a sentence in err. */
int onednn_attention_run(onednn_attention *a, char *err, size_t err_len);
/* With KSA_CPU_PROFILE set at create: seconds spent so far in QK^T (with the mask), softmax and PV */
void onednn_attention_profile(const onednn_attention *a, double seconds[3]);
void onednn_attention_destroy(onednn_attention *a);
/* GEMM probe: C[M][N] f32 = A[M][K] bf16 x B[K][N] bf16 by oneDNN's matmul primitive (its own
 * threads), median of reps after one warm-up; TFLOP/s and the implementation oneDNN chose
 * ("brg:avx512_core_amx" on AMX machines). Returns 0, or -1 with a sentence in err. */
int onednn_matmul_probe(int64_t M, int64_t N, int64_t K, int reps, double *tflops, char *impl, size_t impl_len, char *err,
                        size_t err_len);
/* "oneDNN 2.6.3 (cpu runtime OMP)" or similar */
const char *onednn_version_string(void);

#endif
