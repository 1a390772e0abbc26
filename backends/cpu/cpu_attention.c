/* cpu_attention.c: the level-independent driver of the CPU backend. It splits a call into tasks
 * whose results do not depend on the thread that runs them (prefill: one task per sequence, KV head
 * and query block or tile; decode: one task per sequence, KV head and fixed key chunk, combined in
 * chunk order afterwards), and runs each task as flash-style online softmax over blocks of keys
 * with the kernel table of the chosen ISA level. ANCHOR adds the pooled-score pass (probabilities
 * recomputed from the dense pass's log-sum-exp, summed per tile and KV head), a radix Top-k
 * (partial selection) and the sparse pass over gathered key/value rows; REUSE gathers the rows an
 * anchor selected. Scratch comes from the workspace laid out by one function for size and use. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_internal.h"
#include "ksa_half.h"
#include "ksa_internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <x86intrin.h>
#define CPU_TICKS() __rdtsc()
#else
#define CPU_TICKS() 0ull
#endif

#define CPU_ALIGN 64
#ifndef CPU_PF_LOCALITY
#define CPU_PF_LOCALITY 2
#endif
#define CPU_ROW_BLOCK_MAX 512 /* rows (query x head pairs) per flash block */
#define CPU_PREPACK_MAX ((size_t)256 << 20) /* bytes of pre-packed K + V per call at most */
#define CPU_SUB_ROWS_MAX 64   /* rows per QK/softmax/PV step inside a block at most (tunable sub_rows) */
#define CPU_KEEP_MAX ((size_t)1 << 20) /* bytes of kept anchor scores per thread at most (sub_rows x Lk floats) */
#define CPU_LOG2E 1.4426950408889634f
#define CPU_LN2 0.6931471805599453

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---------------------------------------------------------------- configuration */
static const int32_t cfg_block_q[] = {8, 16, 32, 64, 128};
static const int32_t cfg_block_k[] = {32, 64, 128, 256};
static const int32_t cfg_chunk[] = {256, 512, 1024, 2048, 4096, 8192};
static const int32_t cfg_sub_rows[] = {16, 32, 64};
static const int32_t cfg_pool_scores[] = {1, 2}; /* anchor prefill: 1 = recompute Q K^T, 2 = keep the lse pass's */
/* thread counts 1, 2, 4, ... and the pool size: filled once (the pool size never changes), so
 * concurrent calls read it without a race */
static int32_t cfg_threads[16];
static int32_t cfg_threads_count;
static pthread_once_t cfg_threads_once = PTHREAD_ONCE_INIT;

static void cfg_threads_init(void)
{
    int32_t n = ksa_cpu_pool_size(), nt = 0;
    for (int32_t t = 1; t < n && nt < 15; t *= 2) cfg_threads[nt++] = t;
    cfg_threads[nt++] = n;
    cfg_threads_count = nt;
}

/* AMX tiles want taller row blocks and longer key blocks (measured on the lent Xeon, dense bf16
 * prefill B1 Hq32 Hkv8 D128 L4096: block_q/block_k 64/256 29.6 ms, 128/128 33.9, 32/128 35.9,
 * 128/64 37.3); the vector levels use 128 rows and 64 keys (flat within noise on Zen 4). */
static int amx_like(const cpu_kernels *k) { return k && k->row_align >= 16; }

static int32_t default_block_k(const cpu_kernels *k) { return amx_like(k) ? 256 : 64; }

/* Decode: 64 keys per block, 32 for the float32 kernels (f16 and f32 storage), whose packed K and V
 * blocks of 64 keys (64 KB at D 128) outgrow a 48 KB L1. Measured (bench/NOTES.md, forty-fourth
 * session, call 3; B1 / B16 x Lk32K, 32 against 64): on the lent Xeon f32 1.02-1.21x faster at every
 * point, f16 1.02-1.10x except reuse B16 (0.96x); on the dev machine 1.07-1.33x everywhere. The
 * bf16 levels keep 64 (AMX 4-12% slower with 32 on the dev machine, 0.97-1.09x on the Xeon). */
static int32_t default_decode_block_k(const cpu_kernels *k) { return k && k->fmt == CPU_FMT_F32 ? 32 : 64; }

static int32_t default_block_q(const ksa_problem *p, const cpu_kernels *k)
{
    int32_t rows = amx_like(k) ? 256 : 128;
    int32_t bq = rows / (p->group_size > 0 ? p->group_size : 1);
    if (bq < 16) bq = 16;
    if (bq > 128) bq = 128;
    /* a power of two from the list */
    int32_t best = 16;
    for (size_t i = 0; i < sizeof cfg_block_q / sizeof cfg_block_q[0]; i++)
        if (cfg_block_q[i] <= bq) best = cfg_block_q[i];
    return best;
}

/* Rows per QK/softmax/PV step: the scores and probabilities of one step stay in L1. 32, except
 * anchor and reuse prefill at the AMX level, 16. On the lent Xeon VMs whose 16 threads reach only
 * 6-8x one thread's tile rate (B1 Hq32 Hkv8 D128 L4096 bf16, block_q 64 / block_k 256): anchor and
 * reuse with 16, eleven interleaved rounds (bench/NOTES.md, thirty-sixth session, call 5): 1.036x
 * (band 1.017-1.073) and 1.054x (1.021-1.094), and 16 keeps the anchor's kept scores up to 16K keys;
 * there dense ran 1.07x and 1.17x faster at 16 too (forty-ninth session, calls 1-2). But on a lent
 * VM whose threads have a tile unit each (16 threads at 14-15x one thread's rate, forty-ninth
 * session, call 4), 32 was faster for dense (1.12x), anchor (1.08x) and reuse (1.06x), as on the
 * forty-second session's two-core AMX VM (dense 1.15x). A machine whose workers own their cores
 * (hwloc's one worker per core) is the second kind, so dense keeps 32; ksa-tune (`sub_rows`)
 * finds 16 where the first kind runs it. */
static int32_t default_sub_rows(const ksa_problem *p, const cpu_kernels *k)
{
    return amx_like(k) && p->phase == KSA_PHASE_PREFILL && p->mode != KSA_MODE_DENSE ? 16 : 32;
}

/* Decode split: from the shape only (never from the thread count), so results are the same for
 * any number of threads: enough chunks for ~256 tasks (DENSE, ANCHOR) or ~64 (REUSE), at least 256
 * keys each. ~64 tasks left 4 per thread on a 16-core machine and a tail behind the slowest; with
 * ~256, B1 (8 KV heads) takes 1024-key chunks at Lk32K instead of 4096 and 256 at Lk8K instead of
 * 1024: on the lent Xeon dense / anchor decode B1 Lk32K 1.13x / 1.11x faster in bf16, 1.12x / 1.18x
 * in f16, Lk8K 1.03x / 1.13x (bench/NOTES.md, forty-fourth session, call 4; the Xeon's tuner had
 * stored 512-2048 there in 9 (anchor) and 6 (dense) of 14 runs); B16 and up unchanged. REUSE splits the
 * positions of its lists (index slots + window), not the context, and takes the chunk size nearest
 * to its share: with the context's length a B1 Lk32K reuse list (~3.3K keys) was one chunk per KV
 * head, 8 tasks for 16 threads, and ksa-tune's winner on the lent Xeon was 512 (1.4-1.75x faster,
 * twice: autotune/shipped, bench/results/2026-12-02-s30/tune-compare.jsonl). */
static int32_t default_chunk(const ksa_problem *p)
{
    int64_t bh = (int64_t)p->batch * p->num_kv_heads;
    const int reuse = p->mode == KSA_MODE_REUSE;
    const int64_t tasks = reuse ? 64 : 256;
    int64_t want = bh >= tasks ? 1 : (tasks + bh - 1) / bh;
    int64_t keys = reuse ? p->k_slots + imax(p->topk.local_window, 0) : p->max_seqlen_k;
    int64_t per = (imax(keys, 1) + want - 1) / want;
    int32_t best = cfg_chunk[0];
    for (size_t i = 0; i < sizeof cfg_chunk / sizeof cfg_chunk[0]; i++) {
        if (cfg_chunk[i] <= per) best = cfg_chunk[i];
        /* REUSE: the next size up when it is nearer to the share (by ratio) */
        else if (reuse && (double)cfg_chunk[i] / (double)per < (double)per / (double)best) {
            best = cfg_chunk[i];
            break;
        } else {
            break;
        }
    }
    return best;
}

/* anchor prefill's pooled pass: keep the lse pass's scores (2) or recompute them (1). Built in:
 * keep, at every level: 1.38-1.47x faster on the CI-class EPYC's vector levels, 1.12x at the lent
 * Xeon's AMX level (7 interleaved rounds, band 1.09-1.15; NOTES-cpu.md, ninth session) */
static int32_t default_pool_scores(void) { return 2; }

void ksa_cpu_tunable_space(const ksa_problem *p, const cpu_kernels *k, ksa_tunable_space *out)
{
    memset(out, 0, sizeof *out);
    pthread_once(&cfg_threads_once, cfg_threads_init);
    int32_t n = ksa_cpu_pool_size(), nt = cfg_threads_count;
    int32_t np = 0;
    if (p->phase == KSA_PHASE_PREFILL) {
        out->params[np++] = (ksa_tunable_param){"block_q", 5, cfg_block_q, default_block_q(p, k)};
        out->params[np++] = (ksa_tunable_param){"block_k", 4, cfg_block_k, default_block_k(k)};
        out->params[np++] = (ksa_tunable_param){"sub_rows", 3, cfg_sub_rows, default_sub_rows(p, k)};
        if (p->mode == KSA_MODE_ANCHOR)
            out->params[np++] = (ksa_tunable_param){"pool_scores", 2, cfg_pool_scores, default_pool_scores()};
    } else {
        out->params[np++] = (ksa_tunable_param){"block_k", 4, cfg_block_k, default_decode_block_k(k)};
        out->params[np++] = (ksa_tunable_param){"decode_chunk", 6, cfg_chunk, default_chunk(p)};
    }
    out->params[np++] = (ksa_tunable_param){"threads", nt, cfg_threads, n};
    out->num_params = np;
}

void ksa_cpu_resolve_config(const ksa_problem *p, const cpu_kernels *k, cpu_config *cfg)
{
    ksa_tunable_space space;
    ksa_cpu_tunable_space(p, k, &space);
    cfg->block_q = default_block_q(p, k);
    cfg->block_k = p->phase == KSA_PHASE_PREFILL ? default_block_k(k) : default_decode_block_k(k);
    cfg->threads = ksa_cpu_pool_size();
    cfg->decode_chunk = default_chunk(p);
    cfg->sub_rows = default_sub_rows(p, k);
    int32_t pool_scores = default_pool_scores();
    if (p->config && p->config_count == space.num_params) {
        for (int i = 0; i < space.num_params; i++) {
            int32_t v = p->config[i];
            if (v <= 0) continue;
            const char *name = space.params[i].name;
            if (!strcmp(name, "block_q")) cfg->block_q = v;
            else if (!strcmp(name, "block_k")) cfg->block_k = v;
            else if (!strcmp(name, "threads")) cfg->threads = v;
            else if (!strcmp(name, "decode_chunk")) cfg->decode_chunk = v;
            else if (!strcmp(name, "sub_rows")) cfg->sub_rows = v;
            else if (!strcmp(name, "pool_scores")) pool_scores = v;
        }
    }
    if (cfg->block_k < 32) cfg->block_k = 32;
    cfg->block_k = (int32_t)round_up(cfg->block_k, 32);
    if (cfg->block_q < 1) cfg->block_q = 1;
    if (cfg->threads < 1) cfg->threads = 1;
    if (cfg->threads > ksa_cpu_pool_size()) cfg->threads = ksa_cpu_pool_size();
    if (cfg->decode_chunk < cfg->block_k) cfg->decode_chunk = cfg->block_k;
    cfg->sub_rows = (int32_t)round_up(cfg->sub_rows < 16 ? 16 : cfg->sub_rows, 16);
    if (cfg->sub_rows > CPU_SUB_ROWS_MAX) cfg->sub_rows = CPU_SUB_ROWS_MAX;
    /* kept scores: anchor prefill with a sparse output, while a row group's scores fit the cap */
    cfg->keep_scores = p->phase == KSA_PHASE_PREFILL && p->mode == KSA_MODE_ANCHOR && !p->anchor_dense_output &&
                       pool_scores == 2 && (size_t)cfg->sub_rows * (size_t)imax(p->max_seqlen_k, 1) * 4 <= CPU_KEEP_MAX;
}

/* ---------------------------------------------------------------- workspace layout */
typedef struct cpu_scratch {
    void *q;              /* [Mp][D] compute format */
    void *kbuf, *vbuf;    /* [BK][D] packed */
    float *S;             /* [sub_rows][BK] */
    void *P;              /* [sub_rows][BK] */
    float *O;             /* [Mp][D] */
    float *mx, *l, *corr, *lse2;
    int32_t *lim;
    int64_t *row_q;       /* element offset of each row in q */
    int32_t *row_h;
    int64_t *row_i;
    int64_t *row_pos;
    const void **kptr, **vptr;
    int32_t *kid;         /* key ids of the current block (listed keys) */
    float *pooled;        /* [Lmax] */
    int32_t *list;        /* [Lmax + T + BK] key list of a sparse row set */
    float *kept;          /* [sub_rows][Lmax] anchor prefill's raw candidate scores of one row group (keep_scores) */
} cpu_scratch;

/* Global (per call) scratch of decode. */
typedef struct cpu_global {
    float *partials;   /* [B][Hkv][chunks][G][D + 2] */
    float *lse2;       /* [B][Hq] base-2 lse of the dense decode pass */
    float *pooled;     /* [B][Hkv][Lmax] */
    int32_t *lists;    /* [B][Hkv][list_max] */
    int32_t *nlist;    /* [B][Hkv] */
    atomic_int *done;  /* [B][Hkv] chunks of the current phase finished (decode_last_chunk) */
    /* prefill: K (and V) packed once per (b, g, key block of BK) in the kernels' format, used by
     * every range pass (dense, lse, pooled); NULL when over CPU_PREPACK_MAX bytes */
    char *prek, *prev;
    int64_t pre_nblk;
    size_t pre_blk_bytes;
} cpu_global;

typedef struct cpu_layout {
    int32_t Mp, BK, D, G, sub_rows;
    int64_t Lmax, list_max, chunks, per_thread;
    int32_t nthreads;
    size_t total;
} cpu_layout;

static size_t carve(size_t *off, size_t bytes)
{
    size_t at = (*off + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
    *off = at + bytes;
    return at;
}

/* rows a task's flash blocks have at most */
static int32_t max_rows(const ksa_problem *p, const cpu_config *cfg)
{
    int64_t G = p->group_size, rows;
    if (p->phase == KSA_PHASE_DECODE) rows = G;
    else if (p->mode == KSA_MODE_DENSE) rows = (int64_t)imin(cfg->block_q, p->max_seqlen_q) * G;
    else rows = (int64_t)imin(p->topk.tile_size, p->max_seqlen_q) * G;
    return (int32_t)imin(rows, CPU_ROW_BLOCK_MAX);
}

/* decode's per-(b, g) key list: every key (anchor), or the positions of a reuse list (index slots,
 * then the window), whose chunks each write their own part */
static int64_t decode_list_max(const ksa_problem *p)
{
    int64_t m = p->max_seqlen_k;
    if (p->mode == KSA_MODE_REUSE) m = p->k_slots + imax(p->topk.local_window, 0);
    return imax(m, 1);
}

/* One function computes both the size and the pointers, so they cannot disagree. */
static void layout(const ksa_problem *p, const cpu_config *cfg, const cpu_kernels *k, char *base, cpu_layout *lay,
                   cpu_scratch *thread_scratch, cpu_global *glob)
{
    int32_t D = p->head_dim, G = p->group_size;
    int32_t Mp = (int32_t)round_up(max_rows(p, cfg), k->row_align > 16 ? k->row_align : 16);
    int32_t BK = (int32_t)round_up(cfg->block_k, k->key_align > 32 ? k->key_align : 32);
    int32_t Dp = (int32_t)round_up(D, 2);
    int64_t Lmax = imax(p->max_seqlen_k, 1);
    size_t off = 0;
    /* per-thread block */
    size_t eb = cpu_fmt_bytes(k->fmt) > 4 ? cpu_fmt_bytes(k->fmt) : 4; /* packed bytes per element, at least f32's */
    size_t o_q = carve(&off, (size_t)Mp * Dp * eb);
    size_t o_k = carve(&off, (size_t)BK * Dp * eb);
    size_t o_v = carve(&off, (size_t)BK * Dp * eb);
    size_t o_S = carve(&off, (size_t)cfg->sub_rows * BK * 4); /* one sub-block of rows */
    size_t o_P = carve(&off, (size_t)cfg->sub_rows * BK * eb);
    size_t o_O = carve(&off, (size_t)Mp * D * 4);
    size_t o_mx = carve(&off, (size_t)Mp * 4);
    size_t o_l = carve(&off, (size_t)Mp * 4);
    size_t o_corr = carve(&off, (size_t)Mp * 4);
    size_t o_lse = carve(&off, (size_t)Mp * 4);
    size_t o_lim = carve(&off, (size_t)Mp * 4);
    size_t o_rq = carve(&off, (size_t)Mp * 8);
    size_t o_rh = carve(&off, (size_t)Mp * 4);
    size_t o_ri = carve(&off, (size_t)Mp * 8);
    size_t o_rp = carve(&off, (size_t)Mp * 8);
    size_t o_kp = carve(&off, (size_t)BK * sizeof(void *));
    size_t o_vp = carve(&off, (size_t)BK * sizeof(void *));
    size_t o_kid = carve(&off, (size_t)BK * 4);
    size_t o_pool = carve(&off, (size_t)Lmax * 4);
    size_t o_list = carve(&off, (size_t)(Lmax + p->topk.tile_size + BK) * 4);
    size_t o_kept = cfg->keep_scores ? carve(&off, (size_t)cfg->sub_rows * Lmax * 4) : 0;
    size_t per_thread = carve(&off, 0);
    int32_t nthreads = cfg->threads;
    /* global block */
    off = per_thread * (size_t)nthreads;
    int64_t list_max = 0, chunks = 0;
    size_t o_part = 0, o_glse = 0, o_gpool = 0, o_glists = 0, o_gn = 0, o_gdone = 0;
    int64_t BH = (int64_t)p->batch * p->num_kv_heads;
    size_t o_prek = 0, o_prev = 0, pre_blk = 0;
    int64_t pre_nblk = 0;
    int pre_v = p->mode == KSA_MODE_DENSE || (p->mode == KSA_MODE_ANCHOR && p->anchor_dense_output);
    if (p->phase == KSA_PHASE_PREFILL && p->mode != KSA_MODE_REUSE) {
        pre_nblk = (Lmax + BK - 1) / BK;
        pre_blk = (size_t)BK * Dp * cpu_fmt_bytes(k->fmt);
        size_t one = (size_t)BH * pre_nblk * pre_blk;
        const char *env = getenv("KSA_CPU_PREPACK"); /* "0": pack every block in every task */
        if (one * (pre_v ? 2 : 1) <= CPU_PREPACK_MAX && !(env && env[0] == '0')) {
            o_prek = carve(&off, one);
            if (pre_v) o_prev = carve(&off, one);
        } else {
            pre_nblk = 0;
        }
    }
    if (p->phase == KSA_PHASE_DECODE) {
        list_max = decode_list_max(p);
        int64_t longest = imax(Lmax, list_max);
        chunks = (longest + cfg->decode_chunk - 1) / cfg->decode_chunk;
        o_part = carve(&off, (size_t)BH * chunks * G * (D + 2) * 4);
        o_glse = carve(&off, (size_t)p->batch * p->num_q_heads * 4);
        if (p->mode == KSA_MODE_ANCHOR) o_gpool = carve(&off, (size_t)BH * Lmax * 4);
        o_glists = carve(&off, (size_t)BH * list_max * 4);
        o_gn = carve(&off, (size_t)BH * 4);
        o_gdone = carve(&off, (size_t)BH * sizeof(atomic_int));
    }
    size_t total = carve(&off, 0) + CPU_ALIGN;
    if (lay) {
        lay->Mp = Mp;
        lay->BK = BK;
        lay->D = D;
        lay->G = G;
        lay->sub_rows = cfg->sub_rows;
        lay->Lmax = Lmax;
        lay->list_max = list_max;
        lay->chunks = chunks;
        lay->per_thread = (int64_t)per_thread;
        lay->nthreads = nthreads;
        lay->total = total;
    }
    if (!base) return;
    base = (char *)(((uintptr_t)base + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN);
    for (int32_t t = 0; t < nthreads && thread_scratch; t++) {
        char *b = base + (size_t)t * per_thread;
        cpu_scratch *s = &thread_scratch[t];
        s->q = b + o_q;
        s->kbuf = b + o_k;
        s->vbuf = b + o_v;
        s->S = (float *)(void *)(b + o_S);
        s->P = b + o_P;
        s->O = (float *)(void *)(b + o_O);
        s->mx = (float *)(void *)(b + o_mx);
        s->l = (float *)(void *)(b + o_l);
        s->corr = (float *)(void *)(b + o_corr);
        s->lse2 = (float *)(void *)(b + o_lse);
        s->lim = (int32_t *)(void *)(b + o_lim);
        s->row_q = (int64_t *)(void *)(b + o_rq);
        s->row_h = (int32_t *)(void *)(b + o_rh);
        s->row_i = (int64_t *)(void *)(b + o_ri);
        s->row_pos = (int64_t *)(void *)(b + o_rp);
        s->kptr = (const void **)(void *)(b + o_kp);
        s->vptr = (const void **)(void *)(b + o_vp);
        s->kid = (int32_t *)(void *)(b + o_kid);
        s->pooled = (float *)(void *)(b + o_pool);
        s->list = (int32_t *)(void *)(b + o_list);
        s->kept = cfg->keep_scores ? (float *)(void *)(b + o_kept) : NULL;
    }
    if (glob) {
        memset(glob, 0, sizeof *glob);
        if (pre_nblk > 0) {
            glob->prek = base + o_prek;
            glob->prev = pre_v ? base + o_prev : NULL;
            glob->pre_nblk = pre_nblk;
            glob->pre_blk_bytes = pre_blk;
        }
        if (p->phase == KSA_PHASE_DECODE) {
            glob->partials = (float *)(void *)(base + o_part);
            glob->lse2 = (float *)(void *)(base + o_glse);
            glob->pooled = p->mode == KSA_MODE_ANCHOR ? (float *)(void *)(base + o_gpool) : NULL;
            glob->lists = (int32_t *)(void *)(base + o_glists);
            glob->nlist = (int32_t *)(void *)(base + o_gn);
            glob->done = (atomic_int *)(void *)(base + o_gdone);
        }
    }
}

size_t ksa_cpu_workspace_bytes(const ksa_problem *p, const cpu_config *cfg, const cpu_kernels *k)
{
    cpu_layout lay;
    layout(p, cfg, k, NULL, &lay, NULL, NULL);
    return lay.total;
}

/* ---------------------------------------------------------------- the call */
#define CPU_MAX_THREADS 512

/* KSA_CPU_PROFILE=1: time-stamp-counter ticks per phase and thread, summed over calls and printed
 * by ksa_cpu_profile_report() (ksa-cpu-bench calls it). Each thread writes only its own row. `rows`:
 * a sparse pass's row set-up and Q loads, and each key block's pointers, masks and prefetch requests. */
enum { PROF_PACK_K, PROF_QK, PROF_SOFTMAX, PROF_PACK_V, PROF_PV, PROF_POOL, PROF_STORE, PROF_TOPK, PROF_ROWS, PROF_N };
static uint64_t prof_ticks[CPU_MAX_THREADS][PROF_N];
static int prof_on; /* set once (pthread_once) from KSA_CPU_PROFILE before any call reads it */
static pthread_once_t prof_once = PTHREAD_ONCE_INIT;
static void prof_init(void)
{
    const char *e = getenv("KSA_CPU_PROFILE");
    prof_on = e && *e && *e != '0';
}
#define PROF_T0() uint64_t prof_t = prof_on > 0 ? CPU_TICKS() : 0
#define PROF_RESTART() (prof_t = prof_on > 0 ? CPU_TICKS() : 0) /* what follows is a new phase's */
#define PROF_MARK(thread, phase)                                                                                       \
    do {                                                                                                               \
        if (prof_on > 0) {                                                                                             \
            uint64_t now_ = CPU_TICKS();                                                                               \
            prof_ticks[thread][phase] += now_ - prof_t;                                                                \
            prof_t = now_;                                                                                             \
        }                                                                                                              \
    } while (0)

void ksa_cpu_profile_report(FILE *f)
{
    static const char *const names[PROF_N] = {"pack_k", "qk", "softmax", "pack_v", "pv", "pool", "store", "topk", "rows"};
    uint64_t tot[PROF_N] = {0}, all = 0;
    for (int t = 0; t < CPU_MAX_THREADS; t++)
        for (int ph = 0; ph < PROF_N; ph++) tot[ph] += prof_ticks[t][ph];
    for (int ph = 0; ph < PROF_N; ph++) all += tot[ph];
    fprintf(f, "{\"op\":\"profile\",\"total_mticks\":%.1f", (double)all / 1e6);
    for (int ph = 0; ph < PROF_N; ph++) fprintf(f, ",\"%s_pct\":%.1f", names[ph], all ? 100.0 * (double)tot[ph] / (double)all : 0.0);
    fprintf(f, "}\n");
    memset(prof_ticks, 0, sizeof prof_ticks);
}

typedef struct cpu_call {
    const ksa_problem *p;
    const cpu_kernels *k;
    cpu_config cfg;
    cpu_layout lay;
    cpu_scratch scratch[CPU_MAX_THREADS];
    cpu_global glob;
    float c;          /* scale * log2(e) */
    const char *q, *kb, *vb;
    char *o;
    float *lse;
    int32_t *idx, *cnt;
    size_t esize;
    int prefetch;     /* software prefetch of the next key block (decode and sparse passes) */
    int head_major;   /* prefill tasks numbered KV head by KV head (prefill_task_coords) */
    int64_t qblocks;  /* dense prefill: blocks of block_q queries per sequence (max) */
    ksa_status status;
} cpu_call;

/* Element offset of key j of (b, g) in k or v, every layout. */
static inline int64_t kv_off(const ksa_problem *p, const ksa_token_strides *st, int32_t b, int64_t j, int32_t g)
{
    if (p->kv_layout == KSA_KV_PAGED) {
        const int32_t *table = (const int32_t *)ksa_mem_addr(p->page_table.mem);
        int64_t page = table[(int64_t)b * p->page_table.stride[0] + (j / p->page_size) * p->page_table.stride[1]];
        return page * st->page + (j % p->page_size) * st->token + (int64_t)g * st->head;
    }
    return (int64_t)b * st->batch + ((int64_t)p->k_row0[b] + j) * st->token + (int64_t)g * st->head;
}

static inline int64_t q_off(const ksa_problem *p, const ksa_token_strides *st, int32_t b, int64_t i, int32_t h)
{
    return (int64_t)b * st->batch + ((int64_t)p->q_row0[b] + i) * st->token + (int64_t)h * st->head;
}

static inline int64_t idx_off(const ksa_problem *p, int32_t b, int32_t g, int64_t t, int64_t slot)
{
    return (int64_t)b * p->index_stride[0] + (int64_t)g * p->index_stride[1] + t * p->index_stride[2] +
           slot * p->index_stride[3];
}

static inline int64_t cnt_off(const ksa_problem *p, int32_t b, int32_t g, int64_t t)
{
    return (int64_t)b * p->count_stride[0] + (int64_t)g * p->count_stride[1] + t * p->count_stride[2];
}

/* Key source of a flash pass: an explicit list of ids, or the range base .. base + n - 1. */
typedef struct cpu_keys {
    const int32_t *list;
    int64_t base;
    int64_t n;
} cpu_keys;

/* The rows of one flash block: queries of sequence b at rows r0 .. r0 + M - 1 of the task's
 * (query, head) grid, query-major: row r is query i0 + r / nh, head h0 + r % nh. */
static void setup_rows(cpu_call *c, cpu_scratch *s, int32_t b, int64_t i0, int32_t h0, int32_t nh, int64_t r0,
                       int32_t M, int64_t lq, int64_t lk)
{
    const ksa_problem *p = c->p;
    for (int32_t m = 0; m < M; m++) {
        int64_t r = r0 + m;
        int64_t i = i0 + r / nh;
        int32_t h = h0 + (int32_t)(r % nh);
        s->row_i[m] = i;
        s->row_h[m] = h;
        s->row_pos[m] = lk - lq + i;
        s->row_q[m] = q_off(p, &p->q_strides, b, i, h);
    }
}

static void load_q_rows(cpu_call *c, cpu_scratch *s, int32_t M)
{
    const cpu_kernels *k = c->k;
    int32_t D = c->p->head_dim;
    size_t rowbytes = (size_t)D * cpu_fmt_bytes(k->fmt);
    int32_t Mp = (int32_t)round_up(M, k->row_align);
    for (int32_t m = 0; m < M; m++) k->load_row((char *)s->q + m * rowbytes, c->q + s->row_q[m] * c->esize, c->p->dtype, D);
    if (Mp > M) memset((char *)s->q + M * rowbytes, 0, (size_t)(Mp - M) * rowbytes);
}

/* Flash pass of the M loaded rows over `keys`: leaves the running max (base 2), sum and, with
 * need_o, the unnormalised output rows in s->mx, s->l, s->O. keep (or NULL): the raw scores of keys
 * 0 .. keep_n - 1 are also copied to keep[row][key], leading dimension keep_n. */
static void flash(cpu_call *c, cpu_scratch *s, int32_t b, int32_t g, int32_t M, const cpu_keys *keys, int need_o,
                  int32_t thread, float *keep, int64_t keep_n)
{
    const ksa_problem *p = c->p;
    const cpu_kernels *k = c->k;
    int32_t D = p->head_dim, BK = c->lay.BK;
    int32_t Mp = (int32_t)round_up(M, k->row_align);
    size_t qrow_bytes = (size_t)D * cpu_fmt_bytes(k->fmt);
    for (int32_t m = 0; m < Mp; m++) {
        s->mx[m] = -INFINITY;
        s->l[m] = 0.0f;
    }
    if (need_o) memset(s->O, 0, (size_t)Mp * D * sizeof(float));
    int64_t minpos = s->row_pos[0];
    for (int32_t m = 1; m < M; m++) minpos = imin(minpos, s->row_pos[m]);
    /* a range from key 0 in prefill reads the blocks packed once per call */
    int use_pre = c->glob.prek && !keys->list && keys->base == 0 && (!need_o || c->glob.prev);
    int64_t lk = p->seqlen_k[b];
    for (int64_t x0 = 0; x0 < keys->n; x0 += BK) {
        PROF_T0();
        int32_t n = (int32_t)imin(BK, keys->n - x0);
        int32_t nkp = (int32_t)round_up(use_pre ? imin(BK, lk - x0) : n, k->key_align);
        int64_t maxid = -1;
        if (use_pre) { /* a pre-packed range: no row pointers to gather */
            maxid = keys->base + x0 + n - 1;
        } else {
            for (int32_t x = 0; x < n; x++) {
                int64_t j = keys->list ? keys->list[x0 + x] : keys->base + x0 + x;
                if (keys->list) s->kid[x] = (int32_t)j; /* a range masks by arithmetic below */
                if (j > maxid) maxid = j;
                s->kptr[x] = c->kb + kv_off(p, &p->k_strides, b, j, g) * c->esize;
                if (need_o) s->vptr[x] = c->vb + kv_off(p, &p->v_strides, b, j, g) * c->esize;
            }
        }
        int32_t anyvis = 0;
        if (maxid <= minpos) {
            for (int32_t m = 0; m < M; m++) s->lim[m] = n;
            anyvis = 1;
        } else if (!keys->list) { /* a range: row m sees keys up to its position */
            for (int32_t m = 0; m < M; m++) {
                int64_t lim = s->row_pos[m] - (keys->base + x0) + 1;
                s->lim[m] = (int32_t)(lim < 0 ? 0 : lim > n ? n : lim);
                anyvis |= s->lim[m] > 0;
            }
        } else {
            /* listed keys are ascending where they can be masked (the tile's own keys come last) */
            for (int32_t m = 0; m < M; m++) {
                int32_t lim = n;
                while (lim > 0 && s->kid[lim - 1] > s->row_pos[m]) lim--;
                s->lim[m] = lim;
                anyvis |= lim > 0;
            }
        }
        if (!anyvis) continue;
        /* ask for the next block's rows while this one computes: gathered rows and token-major K/V
         * (rows of one KV head are Hkv * D apart, too sparse for the hardware prefetchers); a
         * pre-packed range reads the packed blocks instead */
        if (c->prefetch && !use_pre)
            for (int64_t x = x0 + BK; x < imin(x0 + 2 * BK, keys->n); x++) {
                int64_t j = keys->list ? keys->list[x] : keys->base + x;
                const char *kr = c->kb + kv_off(p, &p->k_strides, b, j, g) * c->esize;
                for (size_t off = 0; off < (size_t)D * c->esize; off += 64) __builtin_prefetch(kr + off, 0, CPU_PF_LOCALITY);
                if (need_o) {
                    const char *vr = c->vb + kv_off(p, &p->v_strides, b, j, g) * c->esize;
                    for (size_t off = 0; off < (size_t)D * c->esize; off += 64) __builtin_prefetch(vr + off, 0, CPU_PF_LOCALITY);
                }
            }
        PROF_MARK(thread, PROF_ROWS);
        const void *kbuf = s->kbuf, *vbuf = s->vbuf;
        if (use_pre) {
            size_t at = (((size_t)b * p->num_kv_heads + g) * c->glob.pre_nblk + (size_t)(x0 / BK)) * c->glob.pre_blk_bytes;
            kbuf = c->glob.prek + at;
            if (need_o) vbuf = c->glob.prev + at;
        } else {
            k->pack_k(s->kbuf, s->kptr, n, nkp, p->dtype, D);
            PROF_MARK(thread, PROF_PACK_K);
            if (need_o) {
                k->pack_v(s->vbuf, s->vptr, n, nkp, p->dtype, D);
                PROF_MARK(thread, PROF_PACK_V);
            }
        }
        /* rows in sub-blocks of sub_rows, so scores and probabilities stay in L1 while the
         * packed keys and values are reused from L2 */
        for (int32_t r0 = 0; r0 < M; r0 += c->lay.sub_rows) {
            int32_t Ms = (int32_t)imin(c->lay.sub_rows, M - r0);
            int32_t Msp = (int32_t)round_up(Ms, k->row_align);
            int32_t vis = 0;
            for (int32_t m = r0; m < r0 + Ms; m++) vis |= s->lim[m];
            if (!vis) continue; /* nothing visible: state unchanged */
            k->qk(s->S, BK, (const char *)s->q + (size_t)r0 * qrow_bytes, kbuf, Msp, nkp, D);
            if (keep && keys->base + x0 < keep_n) {
                const size_t nc = (size_t)imin(n, keep_n - keys->base - x0);
                for (int32_t r = 0; r < Ms; r++)
                    memcpy(keep + (size_t)(r0 + r) * (size_t)keep_n + (size_t)(keys->base + x0), s->S + (size_t)r * BK, nc * 4);
            }
            PROF_MARK(thread, PROF_QK);
            k->softmax(s->S, BK, s->P, BK, s->lim + r0, Ms, Msp, nkp, c->c, s->mx + r0, s->l + r0, s->corr + r0);
            PROF_MARK(thread, PROF_SOFTMAX);
            if (need_o) {
                k->pv(s->O + (size_t)r0 * D, s->P, BK, vbuf, s->corr + r0, Ms, Msp, nkp, D);
                PROF_MARK(thread, PROF_PV);
            }
        }
    }
}

/* lse (base 2) of a row from its running state: -inf for a row that saw no key (l == 0); a NaN
 * sum stays NaN. */
static inline float row_lse2(float mx, float l) { return l != 0.0f ? mx + log2f(l) : -INFINITY; }

/* 1 / l for the normalisation: 0 for a row that saw no key (o = 0), NaN for a NaN sum. */
static inline float row_inv(float l) { return l != 0.0f ? 1.0f / l : 0.0f; }

static void finish_lse2(cpu_scratch *s, int32_t M)
{
    for (int32_t m = 0; m < M; m++) s->lse2[m] = row_lse2(s->mx[m], s->l[m]);
}

/* Normalise and write the M rows of s->O to o (and lse when asked). Row i of sequence b. */
static void store_rows(cpu_call *c, cpu_scratch *s, int32_t b, int32_t M)
{
    const ksa_problem *p = c->p;
    int32_t D = p->head_dim;
    for (int32_t m = 0; m < M; m++) {
        float inv = row_inv(s->l[m]);
        int64_t off = q_off(p, &p->o_strides, b, s->row_i[m], s->row_h[m]);
        c->k->store_row(c->o + off * c->esize, s->O + (size_t)m * D, inv, p->dtype, D);
        if (c->lse) {
            int64_t row = (int64_t)p->q_row0[b] + s->row_i[m];
            float l2 = row_lse2(s->mx[m], s->l[m]);
            c->lse[(int64_t)b * p->lse_stride_b + (int64_t)s->row_h[m] * p->lse_stride_h + row * p->lse_stride_i] =
                (float)((double)l2 * CPU_LN2);
        }
    }
}

/* Pooled probabilities of the M loaded rows (lse2 ready) over candidates 0..ncand-1, added to
 * pooled[] (every candidate is visible to every row). */
static void pool_pass(cpu_call *c, cpu_scratch *s, int32_t b, int32_t g, int32_t M, int64_t cand0, int64_t ncand,
                      float *pooled, int32_t thread)
{
    const ksa_problem *p = c->p;
    const cpu_kernels *k = c->k;
    int32_t D = p->head_dim, BK = c->lay.BK;
    size_t qrow_bytes = (size_t)D * cpu_fmt_bytes(k->fmt);
    int use_pre = c->glob.prek && cand0 == 0;
    int64_t lk = p->seqlen_k[b];
    for (int64_t x0 = 0; x0 < ncand; x0 += BK) {
        int32_t n = (int32_t)imin(BK, ncand - x0);
        int32_t nkp = (int32_t)round_up(use_pre ? imin(BK, lk - x0) : n, k->key_align);
        PROF_T0();
        const void *kbuf = s->kbuf;
        if (use_pre) {
            kbuf = c->glob.prek +
                   (((size_t)b * p->num_kv_heads + g) * c->glob.pre_nblk + (size_t)(x0 / BK)) * c->glob.pre_blk_bytes;
        } else {
            for (int32_t x = 0; x < n; x++)
                s->kptr[x] = c->kb + kv_off(p, &p->k_strides, b, cand0 + x0 + x, g) * c->esize;
            k->pack_k(s->kbuf, s->kptr, n, nkp, p->dtype, D);
            PROF_MARK(thread, PROF_PACK_K);
        }
        for (int32_t r0 = 0; r0 < M; r0 += c->lay.sub_rows) {
            int32_t Ms = (int32_t)imin(c->lay.sub_rows, M - r0);
            int32_t Msp = (int32_t)round_up(Ms, k->row_align);
            k->qk(s->S, BK, (const char *)s->q + (size_t)r0 * qrow_bytes, kbuf, Msp, nkp, D);
            PROF_MARK(thread, PROF_QK);
            k->pool(pooled + x0, s->S, BK, s->lse2 + r0, Ms, n, c->c);
            PROF_MARK(thread, PROF_POOL);
        }
    }
}

/* ---------------------------------------------------------------- Top-k by radix selection */
static inline uint32_t order_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0xffffffffu; /* every NaN ranks first, NaNs tie */
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* larger float -> larger key */
}

/* The `count` largest of score[0..n) (ties: smaller index first), written ascending to out.
 * Three histogram passes (11 + 11 + 10 bits) find the count-th largest key; one more pass writes
 * the winners in index order. O(n), no sort. */
static void topk_select(const float *score, int64_t n, int64_t count, int32_t *out)
{
    if (count <= 0) return;
    if (count >= n) {
        for (int64_t j = 0; j < n; j++) out[j] = (int32_t)j;
        return;
    }
    uint32_t prefix = 0, mask = 0;
    int64_t need = count; /* how many still to take among keys matching prefix under mask */
    static const int shifts[3] = {21, 10, 0};
    static const int widths[3] = {11, 11, 10};
    for (int pass = 0; pass < 3; pass++) {
        int64_t hist[2048];
        int nb = 1 << widths[pass];
        memset(hist, 0, (size_t)nb * sizeof hist[0]);
        for (int64_t j = 0; j < n; j++) {
            uint32_t kk = order_key(score[j]);
            if ((kk & mask) == prefix) hist[(kk >> shifts[pass]) & (uint32_t)(nb - 1)]++;
        }
        int bucket = nb - 1;
        while (bucket > 0 && hist[bucket] < need) need -= hist[bucket--];
        prefix |= (uint32_t)bucket << shifts[pass];
        mask |= (uint32_t)(nb - 1) << shifts[pass];
    }
    /* threshold key = prefix; take every key above it and the first `need` equal to it */
    int64_t w = 0;
    for (int64_t j = 0; j < n; j++) {
        uint32_t kk = order_key(score[j]);
        if (kk > prefix || (kk == prefix && need > 0)) {
            if (kk == prefix) need--;
            out[w++] = (int32_t)j;
        }
    }
}

/* ---------------------------------------------------------------- prefill tasks */
/* task -> (b, g, key block): pack K (and V) once for every range pass of the call */
static void prepack_task(void *ctx, int64_t task, int32_t thread)
{
    cpu_call *c = ctx;
    const ksa_problem *p = c->p;
    cpu_scratch *s = &c->scratch[thread];
    int64_t blk = task % c->glob.pre_nblk, bg = task / c->glob.pre_nblk;
    int32_t b = (int32_t)(bg / p->num_kv_heads), g = (int32_t)(bg % p->num_kv_heads);
    int32_t BK = c->lay.BK, D = p->head_dim;
    int64_t j0 = blk * BK, lk = p->seqlen_k[b];
    if (j0 >= lk) return;
    int32_t n = (int32_t)imin(BK, lk - j0);
    int32_t nkp = (int32_t)round_up(n, c->k->key_align);
    size_t at = (size_t)task * c->glob.pre_blk_bytes;
    for (int32_t x = 0; x < n; x++) s->kptr[x] = c->kb + kv_off(p, &p->k_strides, b, j0 + x, g) * c->esize;
    c->k->pack_k(c->glob.prek + at, s->kptr, n, nkp, p->dtype, D);
    if (c->glob.prev) {
        for (int32_t x = 0; x < n; x++) s->vptr[x] = c->vb + kv_off(p, &p->v_strides, b, j0 + x, g) * c->esize;
        c->k->pack_v(c->glob.prev + at, s->vptr, n, nkp, p->dtype, D);
    }
}

/* task -> (b, g, block); blocks run longest-first (later query blocks see more keys). Head-major
 * (c->head_major): task = (b * Hkv + g) * nblocks + r, so the threads work through one KV head's
 * blocks together and share its K/V in the caches; otherwise g varies fastest. */
static void prefill_task_coords(const cpu_call *c, int64_t task, int64_t nblocks, int32_t *b, int32_t *g, int64_t *blk)
{
    int64_t bh, rblk;
    if (c->head_major) {
        bh = task / nblocks;
        rblk = task % nblocks;
    } else {
        rblk = task / ((int64_t)c->p->batch * c->p->num_kv_heads);
        bh = task % ((int64_t)c->p->batch * c->p->num_kv_heads);
    }
    *blk = nblocks - 1 - rblk;
    *b = (int32_t)(bh / c->p->num_kv_heads);
    *g = (int32_t)(bh % c->p->num_kv_heads);
}

static void dense_prefill_task(void *ctx, int64_t task, int32_t thread)
{
    cpu_call *c = ctx;
    const ksa_problem *p = c->p;
    cpu_scratch *s = &c->scratch[thread];
    int32_t b, g;
    int64_t blk;
    prefill_task_coords(c, task, c->qblocks, &b, &g, &blk);
    int64_t lq = p->seqlen_q[b], lk = p->seqlen_k[b];
    int64_t i0 = blk * c->cfg.block_q;
    if (i0 >= lq) return;
    int64_t i1 = imin(i0 + c->cfg.block_q, lq);
    int32_t G = p->group_size;
    int64_t rows = (i1 - i0) * G;
    for (int64_t r0 = 0; r0 < rows; r0 += c->lay.Mp) {
        int32_t M = (int32_t)imin(c->lay.Mp, rows - r0);
        setup_rows(c, s, b, i0, g * G, G, r0, M, lq, lk);
        load_q_rows(c, s, M);
        int64_t maxpos = s->row_pos[M - 1];
        for (int32_t m = 0; m < M; m++) maxpos = imax(maxpos, s->row_pos[m]);
        cpu_keys keys = {NULL, 0, maxpos + 1};
        flash(c, s, b, g, M, &keys, 1, thread, NULL, 0);
        PROF_T0();
        store_rows(c, s, b, M);
        PROF_MARK(thread, PROF_STORE);
    }
}

/* ANCHOR / REUSE prefill: one task per (sequence, KV head, tile). */
static void sparse_prefill_task(void *ctx, int64_t task, int32_t thread)
{
    cpu_call *c = ctx;
    const ksa_problem *p = c->p;
    cpu_scratch *s = &c->scratch[thread];
    int32_t b, g;
    int64_t t;
    prefill_task_coords(c, task, p->n_tiles, &b, &g, &t);
    int64_t lq = p->seqlen_q[b], lk = p->seqlen_k[b], T = p->topk.tile_size;
    int64_t ntiles_b = (lq + T - 1) / T;
    if (t >= ntiles_b) {
        if (p->mode == KSA_MODE_ANCHOR) {
            c->cnt[cnt_off(p, b, g, t)] = 0;
            for (int64_t x = 0; x < p->k_slots; x++) c->idx[idx_off(p, b, g, t, x)] = -1;
        }
        return;
    }
    int64_t i0 = t * T, i1 = imin(i0 + T, lq);
    int64_t start = lk - lq + i0; /* candidates are keys < start */
    int32_t G = p->group_size;
    int64_t rows = (i1 - i0) * G;
    int64_t own_end = lk - lq + i1; /* own keys start .. own_end - 1 */
    int64_t nsel = 0;
    if (p->mode == KSA_MODE_ANCHOR) {
        int64_t count = ksa_prefill_tile_count(&p->topk, lq, lk, t);
        int pooling = count > 0 && count < start;
        if (pooling) memset(s->pooled, 0, (size_t)start * sizeof(float));
        if (pooling || p->anchor_dense_output) {
            /* kept scores (s->kept: keep_scores, never with a dense output): rows in groups of
             * sub_rows, whose lse pass copies the raw candidate scores aside for the pooled sums
             * instead of a second Q K^T; the rows, their lse and the order of the groups' terms in
             * each pooled sum are those of the recomputing path, so the index sets are the same */
            const int keep = pooling && s->kept;
            const int64_t step = keep ? c->lay.sub_rows : c->lay.Mp;
            for (int64_t r0 = 0; r0 < rows; r0 += step) {
                int32_t M = (int32_t)imin(step, rows - r0);
                setup_rows(c, s, b, i0, g * G, G, r0, M, lq, lk);
                load_q_rows(c, s, M);
                cpu_keys keys = {NULL, 0, own_end};
                flash(c, s, b, g, M, &keys, p->anchor_dense_output, thread, keep ? s->kept : NULL, start);
                if (p->anchor_dense_output) store_rows(c, s, b, M);
                if (pooling) {
                    finish_lse2(s, M);
                    if (keep) {
                        PROF_T0();
                        c->k->pool(s->pooled, s->kept, (int32_t)start, s->lse2, M, (int32_t)start, c->c);
                        PROF_MARK(thread, PROF_POOL);
                    } else {
                        pool_pass(c, s, b, g, M, 0, start, s->pooled, thread);
                    }
                }
            }
        }
        PROF_T0();
        if (pooling) topk_select(s->pooled, start, count, s->list);
        else
            for (int64_t j = 0; j < count; j++) s->list[j] = (int32_t)j;
        PROF_MARK(thread, PROF_TOPK);
        nsel = count;
        c->cnt[cnt_off(p, b, g, t)] = (int32_t)count;
        for (int64_t x = 0; x < p->k_slots; x++) c->idx[idx_off(p, b, g, t, x)] = x < count ? s->list[x] : -1;
        if (p->anchor_dense_output) return;
    } else {
        int32_t src = p->head_map ? p->head_map[g] : g;
        int64_t given = c->cnt[cnt_off(p, b, src, t)];
        if (given < 0) given = 0;
        if (given > p->k_slots) given = p->k_slots;
        for (int64_t x = 0; x < given; x++) {
            int32_t j = c->idx[idx_off(p, b, src, t, x)];
            if (j >= 0 && j < start) s->list[nsel++] = j;
        }
    }
    /* sparse pass: the set, then the tile's own keys (ascending, masked causally) */
    int64_t n = nsel;
    for (int64_t j = start; j < own_end; j++) s->list[n++] = (int32_t)j;
    for (int64_t r0 = 0; r0 < rows; r0 += c->lay.Mp) {
        PROF_T0();
        int32_t M = (int32_t)imin(c->lay.Mp, rows - r0);
        setup_rows(c, s, b, i0, g * G, G, r0, M, lq, lk);
        load_q_rows(c, s, M);
        PROF_MARK(thread, PROF_ROWS);
        cpu_keys keys = {s->list, 0, n};
        flash(c, s, b, g, M, &keys, 1, thread, NULL, 0);
        PROF_RESTART(); /* flash's time is its own phases' */
        store_rows(c, s, b, M);
        PROF_MARK(thread, PROF_STORE);
    }
}

/* ---------------------------------------------------------------- decode */
/* Decode phases: chunk tasks over a per-(b, g) key source write partial states; the task that
 * finishes the last chunk of a (b, g) (a per-(b, g) atomic count) then merges them in chunk order,
 * so a phase is one pool job (each job costs the pool a wake-up and a join: bench/NOTES.md,
 * thirtieth session, calls 2-5). Which thread merges does not change the result. */
typedef struct decode_phase {
    cpu_call *c;
    int keys;    /* DECODE_KEYS_*: where a (b, g)'s keys come from */
    int write_o; /* the merge writes o (else only glob.lse2) */
} decode_phase;

enum {
    DECODE_KEYS_RANGE = 0,  /* 0 .. Lk - 1 */
    DECODE_KEYS_LISTS = 1,  /* glob.lists / glob.nlist (the anchor's own selection) */
    DECODE_KEYS_REUSE = 2   /* positions over the index set then the last W keys: each chunk writes its
                             * own part of glob.lists, dropping entries < 0 and those the window has */
};

static float *partial_at(cpu_call *c, int32_t b, int32_t g, int64_t chunk)
{
    int64_t G = c->p->group_size, D = c->p->head_dim;
    return c->glob.partials + (((int64_t)b * c->p->num_kv_heads + g) * c->lay.chunks + chunk) * G * (D + 2);
}

/* reuse decode: where (b, g)'s list positions come from, read once per chunk task */
typedef struct reuse_positions {
    int32_t src;          /* the KV head whose index entries (b, g) reads (its head map's source) */
    int64_t given;        /* index entries in use (the count, clamped to 0 .. k_slots) */
    int64_t W, wstart;    /* the window: keys wstart .. Lk - 1 */
} reuse_positions;

static reuse_positions reuse_positions_of(const cpu_call *c, int32_t b, int32_t g)
{
    const ksa_problem *p = c->p;
    reuse_positions r;
    r.src = p->head_map ? p->head_map[g] : g;
    int64_t lk = p->seqlen_k[b];
    r.W = p->topk.local_window > 0 ? imin(p->topk.local_window, lk) : 0;
    r.wstart = lk - r.W;
    int64_t n = c->cnt[cnt_off(p, b, r.src, 0)];
    r.given = n < 0 ? 0 : (n > p->k_slots ? p->k_slots : n);
    return r;
}

/* reuse decode: the keys of positions x0 .. x1 - 1 (given index entries, then the window) into list,
 * dropping entries < 0 and those the window has; returns how many */
static int64_t reuse_chunk_keys(const cpu_call *c, int32_t b, const reuse_positions *r, int64_t x0, int64_t x1,
                                int32_t *list)
{
    const ksa_problem *p = c->p;
    int64_t n = 0;
    for (int64_t x = x0; x < x1 && x < r->given; x++) {
        int32_t j = c->idx[idx_off(p, b, r->src, 0, x)];
        if (j >= 0 && j < r->wstart) list[n++] = j;
    }
    for (int64_t x = imax(x0, r->given); x < x1; x++) list[n++] = (int32_t)(r->wstart + (x - r->given));
    return n;
}

/* Merge the nchunks chunks of (b, g) in order; write o (when write_o) and the base-2 lse into glob.lse2. */
static void decode_combine(cpu_call *c, int32_t b, int32_t g, int64_t nchunks, int write_o, float *acc)
{
    const ksa_problem *p = c->p;
    int32_t G = p->group_size, D = p->head_dim;
    for (int32_t hl = 0; hl < G; hl++) {
        float M = -INFINITY;
        int nan_chunk = 0; /* a chunk whose sum is NaN makes the whole row NaN */
        for (int64_t ch = 0; ch < nchunks; ch++) {
            const float *part = partial_at(c, b, g, ch);
            float l = part[G * D + G + hl];
            if (isnan(l)) nan_chunk = 1;
            else if (l > 0.0f && part[G * D + hl] > M) M = part[G * D + hl];
        }
        float lsum = nan_chunk ? NAN : 0.0f;
        for (int32_t d = 0; d < D; d++) acc[d] = 0.0f;
        if (M > -INFINITY && !nan_chunk)
            for (int64_t ch = 0; ch < nchunks; ch++) {
                const float *part = partial_at(c, b, g, ch);
                float l = part[G * D + G + hl];
                if (!(l > 0.0f)) continue;
                float w = exp2f(part[G * D + hl] - M);
                lsum += l * w;
                const float *o = part + (int64_t)hl * D;
                for (int32_t d = 0; d < D; d++) acc[d] += o[d] * w;
            }
        int32_t h = g * G + hl;
        float lse2 = row_lse2(M, lsum);
        c->glob.lse2[(int64_t)b * p->num_q_heads + h] = lse2;
        if (!write_o) continue;
        float inv = row_inv(lsum);
        int64_t off = q_off(p, &p->o_strides, b, 0, h);
        c->k->store_row(c->o + off * c->esize, acc, inv, p->dtype, D);
        if (c->lse)
            c->lse[(int64_t)b * p->lse_stride_b + (int64_t)h * p->lse_stride_h + (int64_t)p->q_row0[b] * p->lse_stride_i] =
                (float)((double)lse2 * CPU_LN2);
    }
}

/* The chunk count of a (b, g) with n positions: the tasks that count towards its merge (at least
 * one, so that a (b, g) without keys still gets its row written). */
static int64_t decode_counted_chunks(const cpu_call *c, int64_t n)
{
    int64_t k = (n + c->cfg.decode_chunk - 1) / c->cfg.decode_chunk;
    return k > 0 ? k : 1;
}

/* true for the task that completed the last counted chunk of (b, g): it may read every chunk's
 * results (acquire-release on the count) */
static int decode_last_chunk(cpu_call *c, int64_t bg, int64_t counted)
{
    return atomic_fetch_add_explicit(&c->glob.done[bg], 1, memory_order_acq_rel) + 1 == counted;
}

static void decode_chunk_task(void *ctx, int64_t task, int32_t thread)
{
    decode_phase *ph = ctx;
    cpu_call *c = ph->c;
    const ksa_problem *p = c->p;
    cpu_scratch *s = &c->scratch[thread];
    int64_t chunk = task % c->lay.chunks;
    int64_t bg = task / c->lay.chunks;
    int32_t b = (int32_t)(bg / p->num_kv_heads), g = (int32_t)(bg % p->num_kv_heads);
    /* positions (keys before any are dropped) of (b, g)'s key source */
    reuse_positions rp = {0, 0, 0, 0};
    int64_t n;
    if (ph->keys == DECODE_KEYS_REUSE) {
        rp = reuse_positions_of(c, b, g);
        n = rp.given + rp.W;
    } else {
        n = ph->keys == DECODE_KEYS_LISTS ? c->glob.nlist[bg] : p->seqlen_k[b];
    }
    int64_t counted = decode_counted_chunks(c, n);
    if (chunk >= counted) return;
    int64_t x0 = chunk * c->cfg.decode_chunk;
    int32_t G = p->group_size, D = p->head_dim;
    float *part = partial_at(c, b, g, chunk);
    if (x0 < n) {
        int64_t x1 = imin(n, x0 + c->cfg.decode_chunk);
        int64_t lk = p->seqlen_k[b];
        cpu_keys keys;
        keys.list = ph->keys == DECODE_KEYS_RANGE ? NULL : c->glob.lists + bg * c->lay.list_max + x0;
        keys.base = ph->keys == DECODE_KEYS_RANGE ? x0 : 0;
        keys.n = ph->keys == DECODE_KEYS_REUSE ? reuse_chunk_keys(c, b, &rp, x0, x1, c->glob.lists + bg * c->lay.list_max + x0)
                                               : x1 - x0;
        for (int64_t r0 = 0; r0 < G; r0 += c->lay.Mp) {
            int32_t M = (int32_t)imin(c->lay.Mp, G - r0);
            if (keys.n == 0) { /* every entry of this reuse chunk was dropped: an empty partial state */
                for (int32_t m = 0; m < M; m++) {
                    part[G * D + r0 + m] = -INFINITY;
                    part[G * D + G + r0 + m] = 0.0f;
                }
                continue;
            }
            setup_rows(c, s, b, 0, g * G, G, r0, M, 1, lk);
            load_q_rows(c, s, M);
            flash(c, s, b, g, M, &keys, 1, thread, NULL, 0);
            for (int32_t m = 0; m < M; m++) {
                int64_t hl = r0 + m;
                memcpy(part + hl * D, s->O + (size_t)m * D, (size_t)D * sizeof(float));
                part[G * D + hl] = s->mx[m];
                part[G * D + G + hl] = s->l[m];
            }
        }
    }
    if (decode_last_chunk(c, bg, counted)) decode_combine(c, b, g, n > 0 ? counted : 0, ph->write_o, s->O);
}

/* anchor decode: pooled probabilities of chunk keys (lse from the dense pass); the task that
 * completes a (b, g)'s last chunk selects its Top-k (indices, counts and the sparse key list) */
static void decode_pool_task(void *ctx, int64_t task, int32_t thread)
{
    cpu_call *c = ctx;
    const ksa_problem *p = c->p;
    cpu_scratch *s = &c->scratch[thread];
    int64_t chunk = task % c->lay.chunks;
    int64_t bg = task / c->lay.chunks;
    int32_t b = (int32_t)(bg / p->num_kv_heads), g = (int32_t)(bg % p->num_kv_heads);
    int64_t lk = p->seqlen_k[b];
    int64_t counted = decode_counted_chunks(c, lk);
    if (chunk >= counted) return;
    int64_t x0 = chunk * c->cfg.decode_chunk;
    float *pooled = c->glob.pooled + bg * c->lay.Lmax;
    if (x0 < lk) {
        int64_t x1 = imin(lk, x0 + c->cfg.decode_chunk);
        int32_t G = p->group_size;
        memset(pooled + x0, 0, (size_t)(x1 - x0) * sizeof(float));
        for (int64_t r0 = 0; r0 < G; r0 += c->lay.Mp) {
            int32_t M = (int32_t)imin(c->lay.Mp, G - r0);
            setup_rows(c, s, b, 0, g * G, G, r0, M, 1, lk);
            load_q_rows(c, s, M);
            for (int32_t m = 0; m < M; m++) s->lse2[m] = c->glob.lse2[(int64_t)b * p->num_q_heads + s->row_h[m]];
            pool_pass(c, s, b, g, M, x0, x1 - x0, pooled + x0, thread);
        }
    }
    if (!decode_last_chunk(c, bg, counted)) return;
    int64_t count = ksa_decode_count(&p->topk, lk);
    int32_t *list = c->glob.lists + bg * c->lay.list_max;
    topk_select(pooled, lk, count, list);
    c->glob.nlist[bg] = (int32_t)count;
    c->cnt[cnt_off(p, b, g, 0)] = (int32_t)count;
    for (int64_t x = 0; x < p->k_slots; x++) c->idx[idx_off(p, b, g, 0, x)] = x < count ? list[x] : -1;
}

/* one phase: its per-(b, g) counts zeroed, then one pool job over (b, g, chunk) */
static void decode_job(cpu_call *c, cpu_task_fn fn, void *ctx)
{
    const ksa_problem *p = c->p;
    int64_t BH = (int64_t)p->batch * p->num_kv_heads;
    for (int64_t i = 0; i < BH; i++) atomic_store_explicit(&c->glob.done[i], 0, memory_order_relaxed);
    ksa_cpu_pool_run_placed(c->cfg.threads, BH * c->lay.chunks, p->num_kv_heads, c->lay.chunks, fn, ctx);
}

static void run_decode(cpu_call *c)
{
    const ksa_problem *p = c->p;
    if (p->mode == KSA_MODE_REUSE) {
        decode_phase reuse = {c, DECODE_KEYS_REUSE, 1};
        decode_job(c, decode_chunk_task, &reuse);
        return;
    }
    decode_phase dense = {c, DECODE_KEYS_RANGE, p->mode == KSA_MODE_DENSE || p->anchor_dense_output};
    decode_job(c, decode_chunk_task, &dense);
    if (p->mode == KSA_MODE_DENSE) return;
    decode_job(c, decode_pool_task, c);
    if (p->anchor_dense_output) return;
    decode_phase sparse = {c, DECODE_KEYS_LISTS, 1};
    decode_job(c, decode_chunk_task, &sparse);
}

/* the call number the AMX level compares with the one its thread last configured tiles for; calls
 * from several application threads may overlap here (the pool serialises only their jobs): a number
 * changed under a running call makes its threads load the same configuration once more, no harm */
static _Atomic uint64_t call_counter, call_now;

uint64_t ksa_cpu_call_number(void) { return atomic_load_explicit(&call_now, memory_order_relaxed); }

ksa_status ksa_cpu_attention_run(const ksa_problem *p, const cpu_config *cfg, const cpu_kernels *k)
{
    static _Thread_local cpu_call call; /* large (per-thread scratch pointers); one per caller thread */
    cpu_call *c = &call;
    c->p = p;
    c->k = k;
    c->cfg = *cfg;
    if (c->cfg.threads > CPU_MAX_THREADS) c->cfg.threads = CPU_MAX_THREADS;
    layout(p, &c->cfg, k, NULL, &c->lay, NULL, NULL);
    char *base = (char *)ksa_mem_addr(p->workspace);
    if (!base || p->workspace_size < c->lay.total)
        return ksa_error(KSA_STATUS_WORKSPACE_TOO_SMALL, "workspace: %zu bytes given, the cpu backend needs %zu",
                         base ? p->workspace_size : (size_t)0, c->lay.total);
    layout(p, &c->cfg, k, base, &c->lay, c->scratch, &c->glob);
    float scale = p->scale != 0.0f ? p->scale : 1.0f / sqrtf((float)p->head_dim);
    c->c = scale * CPU_LOG2E;
    c->q = (const char *)ksa_mem_addr(p->q.mem);
    c->kb = (const char *)ksa_mem_addr(p->k.mem);
    c->vb = (const char *)ksa_mem_addr(p->v.mem);
    c->o = (char *)ksa_mem_addr(p->o.mem);
    c->lse = p->lse.present ? (float *)ksa_mem_addr(p->lse.mem) : NULL;
    c->idx = p->indices.present ? (int32_t *)ksa_mem_addr(p->indices.mem) : NULL;
    c->cnt = p->counts.present ? (int32_t *)ksa_mem_addr(p->counts.mem) : NULL;
    c->esize = ksa_dtype_size(p->dtype);
    c->status = KSA_STATUS_SUCCESS;
    c->prefetch = p->phase == KSA_PHASE_DECODE || p->mode != KSA_MODE_DENSE;
    if (getenv("KSA_CPU_PREFETCH")) c->prefetch = atoi(getenv("KSA_CPU_PREFETCH"));
    c->head_major = 1; /* KSA_CPU_HEAD_MAJOR=0: the previous g-fastest order (development switch) */
    if (getenv("KSA_CPU_HEAD_MAJOR")) c->head_major = atoi(getenv("KSA_CPU_HEAD_MAJOR")) != 0;
    pthread_once(&prof_once, prof_init);
    /* published to the pool's workers by the job hand-off (release / acquire) */
    atomic_store_explicit(&call_now, atomic_fetch_add_explicit(&call_counter, 1, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (p->mode != KSA_MODE_DENSE && (!c->idx || !c->cnt))
        return ksa_error(KSA_STATUS_INTERNAL, "cpu: %s call without index/count tensors",
                         p->mode == KSA_MODE_ANCHOR ? "ANCHOR" : "REUSE");
    if (p->phase == KSA_PHASE_DECODE) {
        run_decode(c);
    } else if (p->mode == KSA_MODE_DENSE) {
        if (c->glob.prek)
            ksa_cpu_pool_run_placed(c->cfg.threads, (int64_t)p->batch * p->num_kv_heads * c->glob.pre_nblk,
                                    p->num_kv_heads, c->glob.pre_nblk, prepack_task, c);
        c->qblocks = (p->max_seqlen_q + c->cfg.block_q - 1) / c->cfg.block_q;
        ksa_cpu_pool_run_placed(c->cfg.threads, (int64_t)p->batch * p->num_kv_heads * c->qblocks, p->num_kv_heads,
                                c->head_major ? c->qblocks : 1, dense_prefill_task, c);
    } else {
        if (c->glob.prek)
            ksa_cpu_pool_run_placed(c->cfg.threads, (int64_t)p->batch * p->num_kv_heads * c->glob.pre_nblk,
                                    p->num_kv_heads, c->glob.pre_nblk, prepack_task, c);
        ksa_cpu_pool_run_placed(c->cfg.threads, (int64_t)p->batch * p->num_kv_heads * p->n_tiles, p->num_kv_heads,
                                c->head_major ? p->n_tiles : 1, sparse_prefill_task, c);
    }
    return c->status;
}
