/* bench_onednn.c: the oneDNN dense causal-attention baseline of ksa-cpu-bench --compare (oneDNN C API,
 * dnnl.h). For one sequence, per block of block_q query rows and per KV head g:
 *   S = (Q_block of the G query heads of g) K_g^T / sqrt(D)   one batched matmul (batch = the G heads,
 *                                                               K broadcast), over the keys the block
 *                                                               can see (0 .. end of the block), f32;
 *   causal mask on the block's diagonal part (-inf above the diagonal), plain C loop;
 *   P = softmax(S) over each row                                 oneDNN softmax, f32 in, storage dtype out;
 *   O_block = P V_g                                              one batched matmul, storage dtype out.
 * Q/K/V/O are read and written in place through strides ([L, H, D] rows); only the block's score and
 * probability matrices (G x block_q x L) are scratch. This is the materialised dense baseline (no
 * online softmax): it skips the fully masked key blocks above the diagonal like a flash kernel does, but
 * writes and rereads the scores. oneDNN's own threading (OpenMP in the Debian build, OMP_NUM_THREADS)
 * parallelises each primitive. KSA_ONEDNN_PER_HEAD=1: one matmul per query head instead of one batched
 * call per KV head (to compare oneDNN's implementations). Benchmark code only: the library never calls oneDNN. */
#define _POSIX_C_SOURCE 200809L
#include "bench_onednn.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

typedef struct onednn_block {
    int64_t row0, rows, keys;          /* query rows [row0, row0 + rows), keys [0, keys) */
    dnnl_primitive_t qk, softmax, pv;
    dnnl_memory_t q_mem, k_mem, s_mem;  /* QK^T: src, weights, dst */
    dnnl_memory_t s2d_mem, p2d_mem;     /* softmax: src (S as rows), dst (P as rows) */
    dnnl_memory_t p_mem, v_mem, o_mem;  /* PV: src, weights, dst */
} onednn_block;

struct onednn_attention {
    int64_t L, Hq, Hkv, D, G, block_q, n_blocks;
    int64_t mm_batch;                   /* heads per matmul call: G, or 1 with KSA_ONEDNN_PER_HEAD=1 */
    size_t elem;                        /* bytes per storage element */
    const char *q, *k, *v;
    char *o;
    float *scores;                      /* G x block_q x L */
    void *probs;                        /* same, storage dtype */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    onednn_block *blocks;
    int profile;                        /* KSA_CPU_PROFILE set: wait after each phase and time it */
    double phase_s[3];                  /* qk (with mask), softmax, pv */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && err_len) vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

#define DNNL_TRY(call)                                                                                                 \
    do {                                                                                                               \
        dnnl_status_t s_ = (call);                                                                                     \
        if (s_ != dnnl_success) return fail(err, err_len, "oneDNN call %s failed with status %d", #call, (int)s_);     \
    } while (0)

const char *onednn_version_string(void)
{
    static char text[96];
    const dnnl_version_t *ver = dnnl_version();
    const char *rt = ver->cpu_runtime == DNNL_RUNTIME_OMP ? "OMP" : ver->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                     : ver->cpu_runtime == DNNL_RUNTIME_SEQ                                         ? "sequential"
                                                                                                    : "other";
    snprintf(text, sizeof text, "oneDNN %d.%d.%d (cpu runtime %s)", ver->major, ver->minor, ver->patch, rt);
    return text;
}

static int make_md(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, const int64_t *strides,
                   dnnl_data_type_t dt, char *err, size_t err_len)
{
    dnnl_dims_t d, s;
    for (int i = 0; i < ndims; i++) {
        d[i] = dims[i];
        s[i] = strides[i];
    }
    DNNL_TRY(dnnl_memory_desc_init_by_strides(md, ndims, d, dt, s));
    return 0;
}

/* primitive from an op descriptor (attr may be NULL) */
static int make_prim(dnnl_primitive_t *prim, const_dnnl_op_desc_t desc, const_dnnl_primitive_attr_t attr,
                     dnnl_engine_t engine, char *err, size_t err_len)
{
    dnnl_primitive_desc_t pd = NULL;
    DNNL_TRY(dnnl_primitive_desc_create(&pd, desc, attr, engine, NULL));
    dnnl_status_t st = dnnl_primitive_create(prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) return fail(err, err_len, "oneDNN dnnl_primitive_create failed with status %d", (int)st);
    return 0;
}

static int plan_block(onednn_attention *a, onednn_block *b, dnnl_data_type_t dt, const_dnnl_primitive_attr_t qk_attr,
                      char *err, size_t err_len)
{
    const int64_t G = a->G, M = b->rows, N = b->keys, D = a->D, Bm = a->mm_batch;
    dnnl_memory_desc_t q_md, k_md, s_md, s2d_md, p2d_md, p_md, v_md, o_md;
    /* Q block of group g: [G, M, D], head j at +j*D, row r at +r*Hq*D */
    if (make_md(&q_md, 3, (int64_t[]){Bm, M, D}, (int64_t[]){D, a->Hq * D, 1}, dt, err, err_len)) return -1;
    /* K_g^T: [1, D, N] (broadcast over the G heads): element (d, n) at n*Hkv*D + d */
    if (make_md(&k_md, 3, (int64_t[]){1, D, N}, (int64_t[]){N * D, 1, a->Hkv * D}, dt, err, err_len)) return -1;
    if (make_md(&s_md, 3, (int64_t[]){Bm, M, N}, (int64_t[]){M * N, N, 1}, dnnl_f32, err, err_len)) return -1;
    if (make_md(&s2d_md, 2, (int64_t[]){G * M, N}, (int64_t[]){N, 1}, dnnl_f32, err, err_len)) return -1;
    if (make_md(&p2d_md, 2, (int64_t[]){G * M, N}, (int64_t[]){N, 1}, dt, err, err_len)) return -1;
    if (make_md(&p_md, 3, (int64_t[]){Bm, M, N}, (int64_t[]){M * N, N, 1}, dt, err, err_len)) return -1;
    /* V_g: [1, N, D]: element (n, d) at n*Hkv*D + d */
    if (make_md(&v_md, 3, (int64_t[]){1, N, D}, (int64_t[]){N * D, a->Hkv * D, 1}, dt, err, err_len)) return -1;
    if (make_md(&o_md, 3, (int64_t[]){Bm, M, D}, (int64_t[]){D, a->Hq * D, 1}, dt, err, err_len)) return -1;

    dnnl_matmul_desc_t qk_desc, pv_desc;
    DNNL_TRY(dnnl_matmul_desc_init(&qk_desc, &q_md, &k_md, NULL, &s_md));
    if (make_prim(&b->qk, &qk_desc, qk_attr, a->engine, err, err_len)) return -1;
    dnnl_softmax_v2_desc_t sm_desc;
    DNNL_TRY(dnnl_softmax_v2_forward_desc_init(&sm_desc, dnnl_forward_inference, dnnl_softmax_accurate, &s2d_md,
                                               &p2d_md, 1));
    if (make_prim(&b->softmax, &sm_desc, NULL, a->engine, err, err_len)) return -1;
    DNNL_TRY(dnnl_matmul_desc_init(&pv_desc, &p_md, &v_md, NULL, &o_md));
    if (make_prim(&b->pv, &pv_desc, NULL, a->engine, err, err_len)) return -1;

    DNNL_TRY(dnnl_memory_create(&b->q_mem, &q_md, a->engine, DNNL_MEMORY_NONE));
    DNNL_TRY(dnnl_memory_create(&b->k_mem, &k_md, a->engine, DNNL_MEMORY_NONE));
    DNNL_TRY(dnnl_memory_create(&b->s_mem, &s_md, a->engine, a->scores));
    DNNL_TRY(dnnl_memory_create(&b->s2d_mem, &s2d_md, a->engine, a->scores));
    DNNL_TRY(dnnl_memory_create(&b->p2d_mem, &p2d_md, a->engine, a->probs));
    DNNL_TRY(dnnl_memory_create(&b->p_mem, &p_md, a->engine, a->probs));
    DNNL_TRY(dnnl_memory_create(&b->v_mem, &v_md, a->engine, DNNL_MEMORY_NONE));
    DNNL_TRY(dnnl_memory_create(&b->o_mem, &o_md, a->engine, DNNL_MEMORY_NONE));
    return 0;
}

int onednn_attention_create(onednn_attention **out, int bf16, int64_t L, int64_t Hq, int64_t Hkv, int64_t D,
                            int64_t block_q, const void *q, const void *k, const void *v, void *o, char *err,
                            size_t err_len)
{
    *out = NULL;
    if (L < 1 || Hq < 1 || Hkv < 1 || D < 1 || Hq % Hkv) return fail(err, err_len, "bad shape L %lld Hq %lld Hkv %lld D %lld",
                                                                    (long long)L, (long long)Hq, (long long)Hkv, (long long)D);
    if (block_q < 1 || block_q > L) block_q = L;
    onednn_attention *a = calloc(1, sizeof *a);
    if (!a) return fail(err, err_len, "out of memory");
    a->L = L;
    a->Hq = Hq;
    a->Hkv = Hkv;
    a->D = D;
    a->G = Hq / Hkv;
    a->block_q = block_q;
    a->n_blocks = (L + block_q - 1) / block_q;
    a->elem = bf16 ? 2 : 4;
    a->q = q;
    a->k = k;
    a->v = v;
    a->o = o;
    a->profile = getenv("KSA_CPU_PROFILE") != NULL;
    const char *per_head = getenv("KSA_ONEDNN_PER_HEAD");
    a->mm_batch = per_head && atoi(per_head) ? 1 : a->G;
    size_t score_elems = (size_t)(a->G * block_q * L);
    a->scores = aligned_alloc(64, (score_elems * 4 + 63) / 64 * 64);
    a->probs = aligned_alloc(64, (score_elems * a->elem + 63) / 64 * 64);
    a->blocks = calloc((size_t)a->n_blocks, sizeof *a->blocks);
    *out = a;
    if (!a->scores || !a->probs || !a->blocks) return fail(err, err_len, "out of memory for the score blocks");
    DNNL_TRY(dnnl_engine_create(&a->engine, dnnl_cpu, 0));
    DNNL_TRY(dnnl_stream_create(&a->stream, a->engine, dnnl_stream_default_flags));
    dnnl_primitive_attr_t qk_attr = NULL;
    DNNL_TRY(dnnl_primitive_attr_create(&qk_attr));
    const float scale = 1.0f / sqrtf((float)D);
    dnnl_status_t st = dnnl_primitive_attr_set_output_scales(qk_attr, 1, 0, &scale);
    int rc = st == dnnl_success ? 0 : fail(err, err_len, "oneDNN output scales refused (status %d)", (int)st);
    const dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
    for (int64_t i = 0; i < a->n_blocks && rc == 0; i++) {
        onednn_block *b = &a->blocks[i];
        b->row0 = i * block_q;
        b->rows = L - b->row0 < block_q ? L - b->row0 : block_q;
        b->keys = b->row0 + b->rows;
        rc = plan_block(a, b, dt, qk_attr, err, err_len);
    }
    dnnl_primitive_attr_destroy(qk_attr);
    return rc;
}

static int exec(dnnl_primitive_t prim, dnnl_stream_t stream, dnnl_memory_t src, dnnl_memory_t wei, dnnl_memory_t dst,
                char *err, size_t err_len)
{
    dnnl_exec_arg_t args[3];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, src};
    if (wei) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, wei};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst};
    DNNL_TRY(dnnl_primitive_execute(prim, stream, n, args));
    return 0;
}

int onednn_attention_run(onednn_attention *a, char *err, size_t err_len)
{
    const int64_t G = a->G, D = a->D;
    for (int64_t i = 0; i < a->n_blocks; i++) {
        onednn_block *b = &a->blocks[i];
        for (int64_t g = 0; g < a->Hkv; g++) {
            size_t q_off = (size_t)((b->row0 * a->Hq + g * G) * D) * a->elem;
            size_t kv_off = (size_t)(g * D) * a->elem;
            DNNL_TRY(dnnl_memory_set_data_handle(b->k_mem, (void *)(a->k + kv_off)));
            DNNL_TRY(dnnl_memory_set_data_handle(b->v_mem, (void *)(a->v + kv_off)));
            double t0 = a->profile ? now_s() : 0.0;
            for (int64_t j = 0; j < G; j += a->mm_batch) { /* one call, or one per head */
                DNNL_TRY(dnnl_memory_set_data_handle(b->q_mem, (void *)(a->q + q_off + (size_t)(j * D) * a->elem)));
                DNNL_TRY(dnnl_memory_set_data_handle(b->s_mem, a->scores + (size_t)(j * b->rows * b->keys)));
                if (exec(b->qk, a->stream, b->q_mem, b->k_mem, b->s_mem, err, err_len)) return -1;
            }
            DNNL_TRY(dnnl_stream_wait(a->stream));
            /* causal mask: row r (query row0 + r) sees keys 0 .. row0 + r */
            for (int64_t h = 0; h < G; h++)
                for (int64_t r = 0; r < b->rows; r++) {
                    float *row = a->scores + (size_t)((h * b->rows + r) * b->keys);
                    for (int64_t c = b->row0 + r + 1; c < b->keys; c++) row[c] = -INFINITY;
                }
            double t1 = a->profile ? now_s() : 0.0;
            if (exec(b->softmax, a->stream, b->s2d_mem, NULL, b->p2d_mem, err, err_len)) return -1;
            if (a->profile) DNNL_TRY(dnnl_stream_wait(a->stream));
            double t2 = a->profile ? now_s() : 0.0;
            for (int64_t j = 0; j < G; j += a->mm_batch) {
                DNNL_TRY(dnnl_memory_set_data_handle(b->p_mem, (char *)a->probs + (size_t)(j * b->rows * b->keys) * a->elem));
                DNNL_TRY(dnnl_memory_set_data_handle(b->o_mem, a->o + q_off + (size_t)(j * D) * a->elem));
                if (exec(b->pv, a->stream, b->p_mem, b->v_mem, b->o_mem, err, err_len)) return -1;
            }
            DNNL_TRY(dnnl_stream_wait(a->stream));
            if (a->profile) {
                double t3 = now_s();
                a->phase_s[0] += t1 - t0;
                a->phase_s[1] += t2 - t1;
                a->phase_s[2] += t3 - t2;
            }
        }
    }
    return 0;
}

void onednn_attention_profile(const onednn_attention *a, double seconds[3])
{
    for (int i = 0; i < 3; i++) seconds[i] = a->phase_s[i];
}

void onednn_attention_destroy(onednn_attention *a)
{
    if (!a) return;
    for (int64_t i = 0; a->blocks && i < a->n_blocks; i++) {
        onednn_block *b = &a->blocks[i];
        dnnl_primitive_t prims[3] = {b->qk, b->softmax, b->pv};
        dnnl_memory_t mems[8] = {b->q_mem, b->k_mem, b->s_mem, b->s2d_mem, b->p2d_mem, b->p_mem, b->v_mem, b->o_mem};
        for (int j = 0; j < 3; j++)
            if (prims[j]) dnnl_primitive_destroy(prims[j]);
        for (int j = 0; j < 8; j++)
            if (mems[j]) dnnl_memory_destroy(mems[j]);
    }
    if (a->stream) dnnl_stream_destroy(a->stream);
    if (a->engine) dnnl_engine_destroy(a->engine);
    free(a->blocks);
    free(a->scores);
    free(a->probs);
    free(a);
}

/* ---------------------------------------------------------------- GEMM probe */
int onednn_matmul_probe(int64_t M, int64_t N, int64_t K, int reps, double *tflops, char *impl, size_t impl_len, char *err,
                        size_t err_len)
{
    *tflops = 0;
    if (impl_len) impl[0] = 0;
    if (M < 1 || N < 1 || K < 1 || reps < 1) return fail(err, err_len, "onednn_matmul_probe: bad shape or reps");
    dnnl_engine_t engine = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_primitive_t mm = NULL;
    dnnl_memory_t am = NULL, bm = NULL, cm = NULL;
    uint16_t *A = aligned_alloc(64, (size_t)(M * K * 2 + 63) / 64 * 64);
    uint16_t *B = aligned_alloc(64, (size_t)(K * N * 2 + 63) / 64 * 64);
    float *C = aligned_alloc(64, (size_t)(M * N * 4 + 63) / 64 * 64);
    int rc = (!A || !B || !C) ? fail(err, err_len, "onednn_matmul_probe: out of memory") : 0;
    uint32_t x = 777u;
    for (int64_t i = 0; rc == 0 && i < M * K; i++) A[i] = (uint16_t)(0x3f00 | ((x = x * 1664525u + 1013904223u) >> 25));
    for (int64_t i = 0; rc == 0 && i < K * N; i++) B[i] = (uint16_t)(0x3f00 | ((x = x * 1664525u + 1013904223u) >> 25));
    dnnl_memory_desc_t ad, bd, cd;
    const int64_t adims[2] = {M, K}, as[2] = {K, 1}, bdims[2] = {K, N}, bs[2] = {N, 1}, cdims[2] = {M, N}, cs[2] = {N, 1};
    if (rc == 0) rc = make_md(&ad, 2, adims, as, dnnl_bf16, err, err_len);
    if (rc == 0) rc = make_md(&bd, 2, bdims, bs, dnnl_bf16, err, err_len);
    if (rc == 0) rc = make_md(&cd, 2, cdims, cs, dnnl_f32, err, err_len);
    dnnl_status_t st = dnnl_success;
    if (rc == 0 && (st = dnnl_engine_create(&engine, dnnl_cpu, 0)) != dnnl_success) rc = fail(err, err_len, "oneDNN engine: status %d", (int)st);
    if (rc == 0 && (st = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags)) != dnnl_success)
        rc = fail(err, err_len, "oneDNN stream: status %d", (int)st);
    if (rc == 0) {
        dnnl_matmul_desc_t md;
        dnnl_primitive_desc_t pd = NULL;
        st = dnnl_matmul_desc_init(&md, &ad, &bd, NULL, &cd);
        if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd, &md, NULL, engine, NULL);
        if (st == dnnl_success) {
            const char *name = NULL;
            if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success && name && impl_len)
                snprintf(impl, impl_len, "%s", name);
            st = dnnl_primitive_create(&mm, pd);
            dnnl_primitive_desc_destroy(pd);
        }
        if (st != dnnl_success) rc = fail(err, err_len, "oneDNN matmul: status %d", (int)st);
    }
    if (rc == 0 && (dnnl_memory_create(&am, &ad, engine, A) != dnnl_success || dnnl_memory_create(&bm, &bd, engine, B) != dnnl_success ||
                    dnnl_memory_create(&cm, &cd, engine, C) != dnnl_success))
        rc = fail(err, err_len, "oneDNN memory objects refused");
    double *t = calloc((size_t)reps, sizeof *t);
    if (rc == 0 && !t) rc = fail(err, err_len, "out of memory");
    for (int r = -1; rc == 0 && r < reps; r++) { /* one warm-up */
        double t0 = now_s();
        rc = exec(mm, stream, am, bm, cm, err, err_len);
        if (rc == 0 && dnnl_stream_wait(stream) != dnnl_success) rc = fail(err, err_len, "oneDNN stream wait failed");
        if (r >= 0) t[r] = now_s() - t0;
    }
    if (rc == 0) {
        for (int i = 1; i < reps; i++) /* median by insertion sort */
            for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
                double s = t[j];
                t[j] = t[j - 1];
                t[j - 1] = s;
            }
        *tflops = 2.0 * (double)M * (double)N * (double)K / t[reps / 2] * 1e-12;
    }
    free(t);
    if (am) dnnl_memory_destroy(am);
    if (bm) dnnl_memory_destroy(bm);
    if (cm) dnnl_memory_destroy(cm);
    if (mm) dnnl_primitive_destroy(mm);
    if (stream) dnnl_stream_destroy(stream);
    if (engine) dnnl_engine_destroy(engine);
    free(A);
    free(B);
    free(C);
    return rc;
}
