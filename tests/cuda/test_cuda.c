/* test_cuda.c: the CUDA backend's own cases (libksa_cuda.so) against the reference through the
 * public API: the device's presence and info, the Llama-like shape class (GQA 4, D 128, T 32,
 * default Top-k) with multi-tile selection, prefill where one key's scores jump far above the rows'
 * running maxima, the tensor-core decode's 16- and 32-key chunks of
 * gathered lists and its in-cluster combine (sm_90), paged K/V in pages smaller than a chunk (one
 * TMA box per page), the shared copy of a page-table row, long splits over paged pools, dense keys
 * of contiguous and ragged caches and of pools in pages of a multiple of the chunk by cp.async, GQA
 * groups of 12 and 16 heads, device-side clamping of out-of-contract lengths under host bounds, and
 * the f32 refusal. The standard grid (every mode x
 * phase x layout at f16/bf16, head_dim 64/128/256) runs on every CUDA device in tests/backends.
 * Every case skips, saying why, when no CUDA device is present, and the program then exits with
 * ctest's skip code (ktest_run_group). KSA_TEST_QUICK=1 runs a small subset (used under
 * compute-sanitizer, with test_backends --quick). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ksa/ksa.h"
#include "test_util.h"

static ksa_device g_dev;

static void require_device(void)
{
    if (!g_dev) {
        ktest_skip("no CUDA device (the cuda backend is absent here)");
    }
}

/* compute capability 9.0, where plans use TMA and the in-cluster combine */
static int device_is_sm90(void)
{
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(g_dev, &info), KSA_STATUS_SUCCESS);
    return strcmp(info.isa, "sm_90") == 0;
}

static void test_presence(void **state)
{
    (void)state;
    ksa_context ctx = ktest_context();
    assert_non_null(ctx);
    ksa_device dev = NULL;
    ksa_status st = ksa_device_open(ctx, "cuda:0", &dev);
    if (st != KSA_STATUS_SUCCESS) {
        /* absent must be reported as NOT_FOUND with a reason, never a crash */
        assert_int_equal(st, KSA_STATUS_NOT_FOUND);
        assert_true(strlen(ksa_last_error()) > 0);
        ktest_skip("cuda:0 absent: %s", ksa_last_error());
    }
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(dev, &info), KSA_STATUS_SUCCESS);
    assert_int_equal(info.kind, KSA_DEVICE_CUDA);
    assert_string_equal(info.backend, "cuda");
    assert_true(info.compute_units > 0);
    printf("cuda:0 = %s (%s, %d SMs)\n", info.description, info.isa, info.compute_units);
}

/* the Llama-like class: GQA 4, D 128, T 32, default budget (min 128, multiple 128), several tiles
 * with real selections (Lk 1100 gives up to 96 selected keys per tile out of up to 1000 candidates) */
static void test_llama_class(void **state)
{
    (void)state;
    require_device();
    int failures = 0;
    const ksa_dtype dts[2] = {KSA_DTYPE_F16, KSA_DTYPE_BF16};
    for (int di = 0; di < (ktest_quick() ? 1 : 2); di++) {
        ktest_config base = ktest_config_default();
        base.dtype = dts[di];
        base.hq = 8;
        base.hkv = 2;
        base.head_dim = 128;
        base.batch = 1;
        base.seed = 77 + (uint64_t)di;
        ktest_config c;
        /* dense prefill, lse */
        c = base; c.lq = c.lk = 700; c.with_lse = 1;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        /* anchor prefill, sparse output, lse, non-rolling and rolling */
        c = base; c.mode = KSA_MODE_ANCHOR; c.lq = c.lk = 1100; c.with_lse = 1; c.topk_set = 1; c.topk = ksa_topk_default();
        c.topk.min_k = 64; c.topk.round_multiple = 32;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.topk.rolling = 0; c.seed++;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        /* chunked anchor prefill, paged */
        c = base; c.mode = KSA_MODE_ANCHOR; c.lq = 300; c.lk = 1500; c.kv = KTEST_KV_PAGED; c.page_size = 32;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        /* reuse prefill with a head map */
        c = base; c.mode = KSA_MODE_REUSE; c.lq = c.lk = 1100; c.use_head_map = 1; c.with_lse = 1;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        /* decode: dense (many splits), anchor, reuse with window, batch 4 varying lengths */
        c = base; c.phase = KSA_PHASE_DECODE; c.batch = 4; c.lk = 3000; c.vary_lengths = 1; c.with_lse = 1;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.mode = KSA_MODE_ANCHOR; c.seed++;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.mode = KSA_MODE_REUSE; c.use_head_map = 1; c.topk_set = 1; c.topk = ksa_topk_default(); c.topk.local_window = 64;
        c.kv = KTEST_KV_PAGED; c.seed++;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
    }
    assert_int_equal(failures, 0);
}

/* prefill where one key (Lk*2/3 of sequence 0, KV head 0) scores far above everything before it
 * for many rows (boost_key 64: the key's scores have a standard deviation of ~56 nats, so about a
 * fifth of the rows jump more than 58 log2 units): the online softmax's rescale in every pass, and
 * the sm_90a lse pass's fallback from its per-lane base; dense with lse, anchor (lse and pooled
 * passes, then the sparse pass) and reuse, f16 and bf16, head_dim 64 / 128 / 256 */
static void test_prefill_score_jumps(void **state)
{
    (void)state;
    require_device();
    int failures = 0;
    const ksa_dtype dts[2] = {KSA_DTYPE_F16, KSA_DTYPE_BF16};
    const int32_t dims[3] = {128, 64, 256};
    for (int di = 0; di < (ktest_quick() ? 1 : 2); di++)
        for (int hd = 0; hd < (ktest_quick() ? 1 : 3); hd++) {
            ktest_config c = ktest_config_default();
            c.dtype = dts[di];
            c.hq = 8;
            c.hkv = 2;
            c.head_dim = dims[hd];
            c.batch = 1;
            c.lq = c.lk = 1100;
            c.with_lse = 1;
            c.boost_key = 64.f;
            c.seed = 901 + (uint64_t)(di * 3 + hd);
            failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
            c.mode = KSA_MODE_ANCHOR;
            c.seed += 10;
            failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
            c.mode = KSA_MODE_REUSE;
            c.use_head_map = 1;
            c.seed += 10;
            failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        }
    assert_int_equal(failures, 0);
}

/* REUSE decode of `base`'s shape with a head map and index sets that end inside a chunk */
static ktest_config reuse_decode_case(const ktest_config *base)
{
    ktest_config c = *base;
    c.mode = KSA_MODE_REUSE;
    c.use_head_map = 1;
    c.topk_set = 1;
    c.topk = ksa_topk_default();
    c.topk.min_k = 40;
    c.topk.round_multiple = 8;
    return c;
}

/* dense decode of `batch` contiguous sequences (Hq 8, Hkv 2, lse written), lengths varying from the
 * second sequence on */
static ktest_config decode_case(ksa_dtype dtype, int head_dim, int batch, int lk, uint64_t seed)
{
    ktest_config c = ktest_config_default();
    c.dtype = dtype;
    c.hq = 8;
    c.hkv = 2;
    c.head_dim = head_dim;
    c.phase = KSA_PHASE_DECODE;
    c.batch = batch;
    c.lk = lk;
    c.vary_lengths = batch > 1;
    c.with_lse = 1;
    c.seed = seed;
    return c;
}

/* the same over a paged pool of page_size keys */
static ktest_config paged_decode_case(ksa_dtype dtype, int head_dim, int batch, int lk, int page_size, uint64_t seed)
{
    ktest_config c = decode_case(dtype, head_dim, batch, lk, seed);
    c.kv = KTEST_KV_PAGED;
    c.page_size = page_size;
    return c;
}

/* one case under a configuration override, reset afterwards; 1 when the case failed */
static int run_with_config(const ktest_config *c, const char *config)
{
    assert_int_equal(ksa_set_config_override(config), KSA_STATUS_SUCCESS);
    const int bad = ktest_run_and_check(g_dev, c) != KSA_STATUS_SUCCESS;
    assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
    return bad;
}

/* the tensor-core decode's chunk variants over index sets and paged K/V (TMA boxes inside a page
 * when the page size is a multiple of the chunk, whose rows past a sequence's end are NaN in the
 * test pool; else cp.async): 16- and 32-key chunks forced through the tunable, the automatic
 * choice at 64 (sequence, KV head) pairs, which takes 16, and at 128 pairs, where dense keys with V
 * (contiguous or paged) go in three buffers of 32-key chunks (16 at head_dim 256), one split, no
 * combine kernel (sm_90), and the anchor's K-only pass over pages of 16 by the affine paged copies */
static void test_decode_chunks(void **state)
{
    (void)state;
    require_device();
    int failures = 0;
    const char *forced[3] = {"decode_chunk=16", "decode_chunk=32", NULL};
    for (int fi = 0; fi < 3; fi++) {
        const ktest_config base = decode_case(fi == 1 ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, fi == 2 ? 64 : 128, fi == 2 ? 32 : 4,
                                              fi == 2 ? 700 : 3000, 300 + (uint64_t)fi);
        assert_int_equal(ksa_set_config_override(forced[fi]), KSA_STATUS_SUCCESS);
        ktest_config c = base;
        c.kv = KTEST_KV_PAGED; /* dense keys of a paged pool: TMA boxes inside a page where the chunk fits it */
        c.page_size = 16;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.page_size = 64;
        c.seed += 20;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.mode = KSA_MODE_ANCHOR;
        c.seed += 20;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c = base;
        c.mode = KSA_MODE_ANCHOR;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c = reuse_decode_case(&base);
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.topk.local_window = 20;
        c.kv = KTEST_KV_PAGED;
        c.page_size = 64;
        c.seed++;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
    }
    /* 128 lists: dense contiguous and paged, the anchor paged, varying lengths, head_dim 128 and 256 */
    for (int hi = 0; hi < (ktest_quick() ? 1 : 2); hi++) {
        const ksa_dtype dt = hi ? KSA_DTYPE_F16 : KSA_DTYPE_BF16;
        const int d = hi ? 256 : 128;
        ktest_config c = decode_case(dt, d, 64, 300, 330 + (uint64_t)hi);
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c = paged_decode_case(dt, d, 64, 300, 16, 340 + (uint64_t)hi);
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.mode = KSA_MODE_ANCHOR; /* its K-only pass by the affine paged copies at head_dim 128 */
        c.seed += 2;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
    }
    assert_int_equal(failures, 0);
}

/* workspace bytes of a created problem under a configuration override (the override is cleared
 * again before anything is asserted; a refused query prints the backend's sentence) */
static size_t problem_workspace(const ktest_problem *pr, const char *override)
{
    assert_int_equal(ksa_set_config_override(override), KSA_STATUS_SUCCESS);
    size_t bytes = 0;
    const ksa_status st = ksa_attention_workspace_size(g_dev, &pr->params, &pr->tensors, &bytes);
    if (st) printf("workspace under %s: %s\n", override ? override : "the built-in plan", ksa_last_error());
    assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
    assert_int_equal(st, KSA_STATUS_SUCCESS);
    return bytes;
}

/* workspace bytes of a decode problem under a configuration override */
static size_t decode_workspace(const ktest_config *c, const char *override)
{
    ktest_problem pr;
    assert_int_equal(ktest_problem_create(g_dev, c, &pr), KSA_STATUS_SUCCESS);
    const size_t bytes = problem_workspace(&pr, override);
    ktest_problem_destroy(&pr);
    return bytes;
}

/* The backend keeps the last plan a thread made, so the workspace query and the call plan once: a
 * query of the same problem (same tensors) under another configuration must not get the previous
 * configuration's plan. Split counts 2, 16, 2 with the combine kernel (whose partials grow with the
 * splits), then a call with 16 splits on a workspace sized for 2 must be refused before it runs. */
static void test_plan_follows_configuration(void **state)
{
    (void)state;
    require_device();
    ktest_config c = ktest_config_default();
    c.dtype = KSA_DTYPE_BF16;
    c.hq = 8;
    c.hkv = 2;
    c.head_dim = 128;
    c.phase = KSA_PHASE_DECODE;
    c.batch = 2;
    c.lk = 8192;
    c.seed = 650;
    ktest_problem pr;
    assert_int_equal(ktest_problem_create(g_dev, &c, &pr), KSA_STATUS_SUCCESS);
    const char *cfg[3] = {"decode_splits=2,decode_cluster=1", "decode_splits=16,decode_cluster=1",
                          "decode_splits=2,decode_cluster=1"};
    size_t bytes[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ksa_set_config_override(cfg[i]), KSA_STATUS_SUCCESS);
        bytes[i] = 0;
        assert_int_equal(ksa_attention_workspace_size(g_dev, &pr.params, &pr.tensors, &bytes[i]), KSA_STATUS_SUCCESS);
    }
    assert_true(bytes[1] > bytes[0]);
    assert_true(bytes[2] == bytes[0]);
    /* 16 splits on the 2-split workspace: WORKSPACE_TOO_SMALL, whichever plan was made last */
    ksa_buffer ws = NULL;
    assert_int_equal(ksa_buffer_alloc(g_dev, bytes[0], &ws), KSA_STATUS_SUCCESS);
    ksa_workspace w;
    memset(&w, 0, sizeof w);
    w.buffer = ws;
    w.size = bytes[0];
    assert_int_equal(ksa_set_config_override(cfg[1]), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_attention(g_dev, NULL, &pr.params, &pr.tensors, &w), KSA_STATUS_WORKSPACE_TOO_SMALL);
    assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
    ksa_buffer_free(ws);
    ktest_problem_destroy(&pr);
}

/* the tensor-core decode's in-cluster combine (compute capability 9.0): splits forced to run as one
 * cluster (2, 8 and the largest, 16) for dense keys (TMA), anchor (scores and lse merged in the
 * cluster) and reuse through paged K/V (gathered), against the reference with outputs poisoned
 * first; with the cluster no combine kernel runs, so a wrong merge cannot be hidden by one. The
 * plan must drop the global partials when the cluster merges them (smaller workspace). */
static void test_decode_cluster(void **state)
{
    (void)state;
    require_device();
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(g_dev, &info), KSA_STATUS_SUCCESS);
    if (strcmp(info.isa, "sm_90") != 0) ktest_skip("the in-cluster decode combine runs on compute capability 9.0 only (%s)", info.isa);
    int failures = 0;
    const int splits[3] = {2, 8, 16};
    for (int si = 0; si < (ktest_quick() ? 1 : 3); si++) {
        char on[96], off[96];
        snprintf(on, sizeof on, "decode_splits=%d,decode_cluster=2", splits[si]);
        snprintf(off, sizeof off, "decode_splits=%d,decode_cluster=1", splits[si]);
        const ktest_config base = decode_case(si == 1 ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, si == 2 ? 256 : si == 1 ? 64 : 128, 4, 3000,
                                              500 + (uint64_t)si);
        if (splits[si] == 16) assert_true(decode_workspace(&base, on) < decode_workspace(&base, off));
        assert_int_equal(ksa_set_config_override(on), KSA_STATUS_SUCCESS);
        ktest_config c = base;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c = base;
        c.mode = KSA_MODE_ANCHOR;
        c.seed++;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c = reuse_decode_case(&base);
        c.topk.local_window = 20;
        c.kv = KTEST_KV_PAGED;
        c.page_size = 16;
        c.seed += 2;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
    }
    assert_int_equal(failures, 0);
}

/* dense and anchor decode of few lists over pages smaller than the 32-key chunk (8 and 16 keys): on
 * compute capability 9.0 the chunk arrives as one TMA box per page (rows past a sequence's end are
 * NaN in the test pool, so a box that is not masked or zeroed shows), and dense decode of one
 * sequence takes the built-in 8 splits merged inside their cluster (no partials region: a smaller
 * workspace than with the combine kernel forced). Varying lengths, partial last chunks and pages;
 * then one long sequence, whose plans differ (cuda_vendor.c, few lists). */
static void test_decode_small_pages(void **state)
{
    (void)state;
    require_device();
    const int sm90 = device_is_sm90();
    int failures = 0;
    for (int ci = 0; ci < (ktest_quick() ? 1 : 4); ci++) {
        ktest_config c = paged_decode_case(ci % 2 ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, ci == 3 ? 64 : 128, ci < 2 ? 1 : 2,
                                           ci < 2 ? 3000 : 2500, ci == 1 ? 8 : 16, 800 + (uint64_t)ci);
        if (ci == 0 && sm90)
            assert_true(decode_workspace(&c, NULL) < decode_workspace(&c, "decode_cluster=1"));
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.mode = KSA_MODE_ANCHOR; /* the K-only dense pass over the same pages, then the gathered pass */
        c.seed += 10;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
    }
    /* one sequence of 21000 keys in pages of 16: the long-list plans of few lists (dense: 16 splits
     * merged in their cluster by the affine paged copies, and by TMA page by page with the combine
     * kernel; anchor: 16-key chunks, 3 stages; reuse: 16-key chunks for its 2100-key index sets) */
    ktest_config c = paged_decode_case(KSA_DTYPE_BF16, 128, 1, 21000, 16, 850);
    failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
    failures += run_with_config(&c, "decode_kernel=2");
    c.mode = KSA_MODE_ANCHOR;
    c.seed++;
    failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
    ktest_config r = reuse_decode_case(&c);
    r.seed++;
    failures += ktest_run_and_check(g_dev, &r) != KSA_STATUS_SUCCESS;
    assert_int_equal(failures, 0);
}

/* the tensor-core decode's shared copy of a sequence's page-table row (mma_decode.cu): the launcher
 * copies the row into shared memory where the grid is one wave of at most one CTA per SM and the row
 * has at most 2048 entries, and the gathered, affine paged and TMA copies then find each key's page
 * there. One sequence in pages of 8 keys (2 KV heads: a few CTAs), just under the cap (16376 keys,
 * 2047 entries) and over it (16400 keys, 2050 entries: the table stays in global memory), for dense,
 * anchor and reuse decode (window 20) against the reference; the pool's pages are a random
 * permutation, so a wrong entry reads another sequence's rows. */
static void test_decode_page_table_copy(void **state)
{
    (void)state;
    require_device();
    int failures = 0;
    const int lks[2] = {16376, 16400};
    for (int li = 0; li < 2; li++) {
        ktest_config c = paged_decode_case(li ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, 128, 1, lks[li], 8, 870 + (uint64_t)li);
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.mode = KSA_MODE_ANCHOR;
        c.seed += 10;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        ktest_config r = reuse_decode_case(&c);
        r.topk.local_window = 20;
        r.seed += 10;
        failures += ktest_run_and_check(g_dev, &r) != KSA_STATUS_SUCCESS;
        if (failures) printf("page-table copy: Lk %d failed\n", lks[li]);
    }
    assert_int_equal(failures, 0);
}

/* dense decode of one sequence in pages of 16 keys (compute capability 9.0, few lists): the built-in
 * plan takes the affine paged copies in three buffers of 32-key chunks, 8 splits merged inside their
 * cluster (each chunk two pages), and decode_chunk=16 the earlier 16-split plan of 16-key chunks; 8
 * KV heads x G 4 as the benchmarks, lengths that end inside a page and inside a chunk */
static void test_decode_one_sequence_pages16(void **state)
{
    (void)state;
    require_device();
    static const struct {
        int lk;
        ksa_dtype dtype;
        const char *config;
    } cases[] = {
        {8200, KSA_DTYPE_BF16, NULL},
        {16390, KSA_DTYPE_F16, NULL},
        {4104, KSA_DTYPE_BF16, "decode_chunk=16"},
    };
    int failures = 0;
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        ktest_config c = paged_decode_case(cases[i].dtype, 128, 1, cases[i].lk, 16, 930 + (uint64_t)i);
        c.hq = 32;
        c.hkv = 8;
        const int bad = run_with_config(&c, cases[i].config);
        if (bad) printf("one sequence in pages of 16: Lk %d (%s) failed\n", cases[i].lk,
                        cases[i].config ? cases[i].config : "built-in plan");
        failures += bad;
    }
    assert_int_equal(failures, 0);
}

/* long splits over a paged pool: one to four splits per list, so each warp takes dozens of chunks
 * (earlier cases have a few per warp), in pages of 8, 16 and 64 keys, 32- and 16-key chunks, dense
 * decode (TMA page by page on sm_90: each chunk's boxes located from the page table) and the
 * anchor's K-only pass, lengths that end inside a page, split counts that leave a short last split,
 * and the in-cluster combine */
static void test_decode_long_paged_splits(void **state)
{
    (void)state;
    require_device();
    static const struct {
        int page_size, head_dim;
        ksa_mode mode;
        const char *config;
    } cases[] = {
        {16, 128, KSA_MODE_DENSE, "decode_chunk=32,decode_splits=1"},
        {8, 128, KSA_MODE_DENSE, "decode_chunk=32,decode_splits=4"},
        {64, 128, KSA_MODE_ANCHOR, "decode_chunk=32,decode_splits=1"},
        {16, 128, KSA_MODE_ANCHOR, "decode_chunk=16,decode_splits=2"},
        {8, 128, KSA_MODE_DENSE, "decode_chunk=16,decode_splits=1"},
        {16, 64, KSA_MODE_DENSE, "decode_chunk=32,decode_splits=2,decode_cluster=2"},
    };
    int failures = 0;
    const int n = ktest_quick() ? 2 : (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        ktest_config c = paged_decode_case(i % 2 ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, cases[i].head_dim, 2, 9001 + 7 * i,
                                           cases[i].page_size, 900 + (uint64_t)i);
        c.mode = cases[i].mode;
        const int bad = run_with_config(&c, cases[i].config);
        if (bad) printf("long paged splits case %d (pages of %d, %s, %s) failed\n", i, cases[i].page_size,
                        cases[i].mode == KSA_MODE_DENSE ? "dense" : "anchor", cases[i].config);
        failures += bad;
    }
    assert_int_equal(failures, 0);
}

/* dense keys of a contiguous or ragged cache copied by cp.async (decode_kernel=3, as the built-in does
 * from 64 lists on): each lane computes its rows' addresses from the chunk's first row and the token
 * stride; full and partial chunks (lengths that end inside a chunk, short last splits), head_dim
 * 64/128/256, 16- and 32-key chunks, and the anchor's K-only pass over the same path */
static void test_decode_gathered_contiguous(void **state)
{
    (void)state;
    require_device();
    static const struct {
        ktest_kv_layout kv;
        int head_dim, batch, lk, vary;
        ksa_mode mode;
        const char *config;
    } cases[] = {
        {KTEST_KV_CONTIGUOUS, 128, 3, 2000, 1, KSA_MODE_DENSE, "decode_kernel=3,decode_chunk=32"},
        {KTEST_KV_RAGGED, 64, 3, 1500, 1, KSA_MODE_DENSE, "decode_kernel=3,decode_chunk=16"},
        {KTEST_KV_CONTIGUOUS, 256, 2, 1200, 1, KSA_MODE_ANCHOR, "decode_kernel=3"},
        {KTEST_KV_CONTIGUOUS, 128, 2, 1005, 0, KSA_MODE_DENSE, "decode_kernel=3,decode_splits=4,decode_stages=3"},
        {KTEST_KV_RAGGED, 128, 2, 900, 1, KSA_MODE_ANCHOR, "decode_kernel=3,decode_chunk=16"},
    };
    int failures = 0;
    const int n = ktest_quick() ? 2 : (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        ktest_config c = decode_case(i % 2 ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, cases[i].head_dim, cases[i].batch, cases[i].lk,
                                     950 + (uint64_t)i);
        c.kv = cases[i].kv;
        c.vary_lengths = cases[i].vary;
        c.mode = cases[i].mode;
        const int bad = run_with_config(&c, cases[i].config);
        if (bad) printf("gathered contiguous case %d (%s) failed\n", i, cases[i].config);
        failures += bad;
    }
    assert_int_equal(failures, 0);
}

/* the built-in split rule of dense decode by cp.async over at least three waves of whole lists of
 * more than 16K keys (compute capability 9.0, head_dim 128, one CTA per SM): 2 splits for 16500 keys
 * over exactly three waves, where the wave rule alone keeps one, seen through the workspace, which
 * holds the splits' partials (the built-in plan's size equals decode_splits=2's and exceeds
 * decode_splits=1's); then, except in quick runs (the sanitizers'; 3.3 GB of K/V), the call against
 * the reference with lengths varying and outputs poisoned first */
static void test_decode_long_lists_many_waves(void **state)
{
    (void)state;
    require_device();
    if (!device_is_sm90()) ktest_skip("the rule applies on compute capability 9.0 only");
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(g_dev, &info), KSA_STATUS_SUCCESS);
    if (info.compute_units % 2) ktest_skip("an odd SM count (%d): no batch gives exactly three waves", info.compute_units);
    ktest_config c = decode_case(KSA_DTYPE_BF16, 128, 3 * info.compute_units / 2, 16500, 1100);
    c.hq = 2;
    c.hkv = 2;
    ktest_problem pr; /* created once: filling 3.3 GB of K/V is the test's cost */
    assert_int_equal(ktest_problem_create(g_dev, &c, &pr), KSA_STATUS_SUCCESS);
    const char *cfg[3] = {NULL, "decode_splits=2", "decode_splits=1"};
    size_t bytes[3];
    for (int i = 0; i < 3; i++) bytes[i] = problem_workspace(&pr, cfg[i]);
    ktest_problem_destroy(&pr);
    printf("B%d: workspace built-in %zu, 2 splits %zu, 1 split %zu bytes\n", c.batch, bytes[0], bytes[1], bytes[2]);
    assert_true(bytes[0] == bytes[1]);
    assert_true(bytes[1] > bytes[2]);
    if (!ktest_quick()) assert_int_equal(ktest_run_and_check(g_dev, &c), KSA_STATUS_SUCCESS);
}

/* the three copy loops of gathered chunks (index sets, or dense keys by cp.async in pages that are
 * not a multiple of the chunk): every key present with K and V (reuse over contiguous and paged
 * caches, dense pages of 8 by decode_kernel=3), keys missing from a chunk (a local window that
 * overlaps the index set, lengths that end inside a chunk), and K without V (the anchor's K-only
 * pass over pages of 8 in 32-key chunks); head_dim 64/128/256, 16- and 32-key chunks. Pages of a
 * multiple of 16 keys go by the paged affine copies (test_decode_affine_paged). */
static void test_decode_gathered_paths(void **state)
{
    (void)state;
    require_device();
    static const struct {
        int head_dim, batch, lk, page_size, window;
        ksa_mode mode;
        const char *config;
    } cases[] = {
        {128, 2, 2100, 0, 0, KSA_MODE_REUSE, "decode_chunk=32"},
        {128, 3, 1700, 8, 0, KSA_MODE_ANCHOR, "decode_kernel=3,decode_chunk=32"},
        {64, 2, 1900, 64, 24, KSA_MODE_REUSE, "decode_chunk=16"},
        {256, 2, 1300, 8, 0, KSA_MODE_DENSE, "decode_kernel=3"},
        {128, 2, 2500, 0, 40, KSA_MODE_REUSE, "decode_chunk=16"},
        {64, 3, 1100, 8, 0, KSA_MODE_ANCHOR, "decode_kernel=3,decode_chunk=16"},
        {256, 2, 1500, 8, 0, KSA_MODE_ANCHOR, "decode_kernel=3"},
    };
    int failures = 0;
    const int n = ktest_quick() ? 3 : (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        const ktest_config base = decode_case(i % 2 ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, cases[i].head_dim, cases[i].batch, cases[i].lk,
                                              1010 + (uint64_t)i);
        ktest_config c = cases[i].mode == KSA_MODE_REUSE ? reuse_decode_case(&base) : base;
        c.mode = cases[i].mode;
        c.topk.local_window = cases[i].window;
        if (cases[i].page_size) {
            c.kv = KTEST_KV_PAGED;
            c.page_size = cases[i].page_size;
        }
        const int bad = run_with_config(&c, cases[i].config);
        if (bad) printf("gathered path case %d (%s) failed\n", i, cases[i].config);
        failures += bad;
    }
    assert_int_equal(failures, 0);
}

/* REUSE decode of one sequence whose lists hold 2048 entries or more, by the built-in plan (on an
 * sm_90a GPU: 16-key chunks and up to 16 splits per list merged inside their cluster, the plan the
 * K-dec row's B1 Lk32K point runs), against the reference: 8, 4 and 2 KV heads, contiguous and in
 * pages of 16 and 64, with and without a local window, head_dim 64 and 128, f16 and bf16. (A
 * one-wave form in 32-key chunks, 16 splits and the combine kernel passed this test on the H200 and
 * was not landed: bench/NOTES.md, fiftieth session, call 7.) */
static void test_decode_reuse_one_sequence(void **state)
{
    (void)state;
    require_device();
    static const struct {
        int head_dim, hq, hkv, lk, page_size, window;
        ksa_dtype dtype;
    } cases[] = {
        {128, 32, 8, 24000, 0, 0, KSA_DTYPE_BF16},
        {64, 8, 2, 22000, 16, 40, KSA_DTYPE_F16},
        {128, 32, 8, 21000, 64, 0, KSA_DTYPE_F16},
        {128, 16, 4, 30000, 16, 24, KSA_DTYPE_BF16},
    };
    int failures = 0;
    const int n = ktest_quick() ? 2 : (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        const ktest_config base = decode_case(cases[i].dtype, cases[i].head_dim, 1, cases[i].lk, 2050 + (uint64_t)i);
        ktest_config c = reuse_decode_case(&base);
        c.hq = cases[i].hq;
        c.hkv = cases[i].hkv;
        c.topk.local_window = cases[i].window;
        if (cases[i].page_size) {
            c.kv = KTEST_KV_PAGED;
            c.page_size = cases[i].page_size;
        }
        const int bad = ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        if (bad) printf("one-sequence reuse case %d failed\n", i);
        failures += bad;
    }
    assert_int_equal(failures, 0);
}

/* dense keys of a paged pool whose page size is a multiple of 16 keys, copied by cp.async
 * (decode_kernel=3; the built-in from 64 lists on for dense decode): one page-table read per chunk
 * (per 16-key half of a 32-key chunk in pages of 16 or 48), then each lane's rows at the token
 * stride inside the page. Shuffled pages whose rows past a sequence's end are NaN, lengths that end
 * inside a page and inside a chunk, 16- and 32-key chunks in pages of 16, 32, 48 and 64, head_dim
 * 64/128/256, dense and the anchor's K-only pass, long splits
 * (dozens of chunks per warp) and three stages; then the built-in plan of few lists (dense keys
 * by the affine copies, splits merged in their cluster), in pages of 16 and contiguous, and of the
 * anchor's K-only pass over one long sequence in pages of 16 (the affine copies, 32 splits) and
 * over few lists of 3841-8192 keys (the affine copies, 16 splits; head_dim 64 and 128, contiguous,
 * pages of 16 and 64), and over 32-63 lists at head_dim 64; dense keys with V over 17-63 lists of
 * 16K keys or more (head_dim 64 from 32 lists) by the affine copies in 16-key chunks */
static void test_decode_affine_paged(void **state)
{
    (void)state;
    require_device();
    const int sm90 = device_is_sm90();
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(g_dev, &info), KSA_STATUS_SUCCESS);
    static const struct {
        int head_dim, batch, lk, page_size;
        ksa_mode mode;
        const char *config;
    } cases[] = {
        {128, 3, 2001, 16, KSA_MODE_DENSE, "decode_kernel=3,decode_chunk=16"},
        {64, 3, 1500, 64, KSA_MODE_DENSE, "decode_kernel=3,decode_chunk=32,decode_stages=3"},
        {128, 2, 1005, 32, KSA_MODE_ANCHOR, "decode_kernel=3,decode_chunk=32,decode_splits=4"},
        {256, 2, 1201, 16, KSA_MODE_ANCHOR, "decode_kernel=3"},
        {128, 2, 6007, 64, KSA_MODE_DENSE, "decode_kernel=3,decode_chunk=16,decode_splits=1,decode_stages=3"},
        {256, 3, 999, 64, KSA_MODE_DENSE, "decode_kernel=3,decode_splits=2"},
        {64, 2, 3003, 16, KSA_MODE_ANCHOR, "decode_kernel=3,decode_chunk=16,decode_stages=3"},
        /* 32-key chunks over two pages (pages of 16 and 48): a page-table read per 16-key half;
         * lengths that end in a chunk's first half (1000 = 31 x 32 + 8) and in its second (2001) */
        {128, 3, 1000, 16, KSA_MODE_DENSE, "decode_kernel=3,decode_chunk=32,decode_stages=3"},
        {128, 2, 2001, 16, KSA_MODE_ANCHOR, "decode_kernel=3,decode_chunk=32"},
        {64, 2, 1500, 48, KSA_MODE_DENSE, "decode_kernel=3,decode_chunk=32,decode_splits=2"},
        {128, 2, 9000, 16, KSA_MODE_DENSE, NULL}, /* few lists: the built-in plan, 16 splits in a cluster on sm_90 */
        {128, 6, 5003, 0, KSA_MODE_DENSE, NULL},  /* 12 contiguous lists: 8 splits in a cluster on sm_90 */
        /* few lists of 16K keys or more: the anchor's K-only pass by the affine copies, 32 splits */
        {128, 1, 17001, 16, KSA_MODE_ANCHOR, NULL},
        /* few lists of 3841-8192 keys: the anchor's K-only pass by the affine copies, 16 splits */
        {128, 1, 6007, 16, KSA_MODE_ANCHOR, NULL},
        {128, 2, 8000, 64, KSA_MODE_ANCHOR, NULL},
        {128, 1, 5003, 0, KSA_MODE_ANCHOR, NULL},
        {64, 1, 7001, 16, KSA_MODE_ANCHOR, NULL},
        /* 32-63 lists at head_dim 64 (2 KV heads: batches 16-31): the anchor's K-only pass by the
         * affine copies in 16-key chunks under the split rule */
        {64, 16, 4500, 16, KSA_MODE_ANCHOR, NULL},
        {64, 20, 5000, 0, KSA_MODE_ANCHOR, NULL},
        {64, 31, 4100, 64, KSA_MODE_ANCHOR, NULL},
        /* dense keys with V over 17-63 lists of 16K keys or more (head_dim 64 from 32 lists): the
         * affine copies of K and V in 16-key chunks under the split rule */
        {128, 9, 16500, 16, KSA_MODE_DENSE, NULL},
        {64, 16, 16500, 0, KSA_MODE_DENSE, NULL},
        {128, 10, 16400, 64, KSA_MODE_DENSE, NULL},
    };
    int failures = 0;
    const int n = ktest_quick() ? 3 : (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        ktest_config c = paged_decode_case(i % 2 ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, cases[i].head_dim, cases[i].batch, cases[i].lk,
                                           cases[i].page_size, 1060 + (uint64_t)i);
        if (!cases[i].page_size) { /* a uniform contiguous batch */
            c.kv = KTEST_KV_CONTIGUOUS;
            c.vary_lengths = 0;
        }
        c.mode = cases[i].mode;
        const int few_lists = cases[i].batch * c.hkv * 8 <= info.compute_units; /* the planner's "few": 8 CTAs a list */
        /* the built-in plan of few lists merges its splits in their cluster: no partials region */
        if (!cases[i].config && sm90 && cases[i].mode == KSA_MODE_DENSE && few_lists)
            assert_true(decode_workspace(&c, NULL) < decode_workspace(&c, "decode_cluster=1"));
        /* ... and the anchor's over 3841-8192 keys is that configuration (for one sequence the split
         * rule alone would give 20-28 splits, a larger partials region; for B2 at 8000 keys it gives
         * 16 too, so there only the outputs tell the plans apart) */
        if (!cases[i].config && sm90 && cases[i].mode == KSA_MODE_ANCHOR && cases[i].lk <= 8192 && few_lists)
            assert_true(decode_workspace(&c, NULL) ==
                        decode_workspace(&c, "decode_splits=16,decode_stages=2,decode_kernel=3,decode_chunk=16,decode_cluster=1"));
        /* ... and over 17-63 lists, the copies in 16-key chunks forced (the split rule counts the
         * copies' occupancy, so the partials region follows the plan) */
        if (!cases[i].config && sm90 && !few_lists)
            assert_true(decode_workspace(&c, NULL) == decode_workspace(&c, "decode_kernel=3,decode_chunk=16"));
        const int bad = run_with_config(&c, cases[i].config);
        if (bad)
            printf("affine paged case %d (pages of %d, %s) failed\n", i, cases[i].page_size,
                   cases[i].config ? cases[i].config : "built-in");
        failures += bad;
    }
    assert_int_equal(failures, 0);
}

/* GQA groups of more than 8 heads (12 and 16): the heads fill MMA rows 8-15 too, which the decode
 * kernel skips for groups of up to 8; dense (affine cp.async copies, TMA, pages of 16), reuse and
 * anchor decode, f16 and bf16, head_dim 64/128/256 */
static void test_decode_wide_groups(void **state)
{
    (void)state;
    require_device();
    static const struct {
        int hq, hkv, head_dim, batch, lk, page_size;
        ksa_mode mode;
        const char *config;
    } cases[] = {
        {16, 1, 128, 2, 1500, 0, KSA_MODE_DENSE, "decode_kernel=3"},
        {16, 1, 64, 1, 3000, 0, KSA_MODE_DENSE, NULL},
        {24, 2, 128, 2, 2000, 0, KSA_MODE_REUSE, NULL},
        {16, 1, 128, 1, 2500, 0, KSA_MODE_ANCHOR, NULL},
        {24, 2, 256, 2, 1200, 16, KSA_MODE_DENSE, NULL},
        {16, 1, 128, 2, 1800, 0, KSA_MODE_REUSE, "decode_chunk=16"},
    };
    int failures = 0;
    const int n = ktest_quick() ? 3 : (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        ktest_config c = decode_case(i % 2 ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, cases[i].head_dim, cases[i].batch, cases[i].lk,
                                     980 + (uint64_t)i);
        c.hq = cases[i].hq;
        c.hkv = cases[i].hkv;
        c.mode = cases[i].mode;
        if (cases[i].page_size) {
            c.kv = KTEST_KV_PAGED;
            c.page_size = cases[i].page_size;
        }
        const int bad = run_with_config(&c, cases[i].config);
        if (bad) printf("wide group case %d (G %d, D %d, %s) failed\n", i, cases[i].hq / cases[i].hkv, cases[i].head_dim,
                        cases[i].config ? cases[i].config : "built-in plan");
        failures += bad;
    }
    assert_int_equal(failures, 0);
}

/* anchor decode with at least as many (sequence, KV head) lists as SMs: the Top-k pools the dense
 * pass's scores itself as it loads each list (no pooling kernel); varying and uniform lengths (the
 * K-only dense pass by cp.async, the built-in, and by TMA), and dense decode of the same size (TMA
 * with V); index sets and outputs against the reference */
static void test_decode_topk_pooling(void **state)
{
    (void)state;
    require_device();
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(g_dev, &info), KSA_STATUS_SUCCESS);
    int failures = 0;
    for (int di = 0; di < (ktest_quick() ? 1 : 2); di++) {
        ktest_config c = ktest_config_default();
        c.dtype = di ? KSA_DTYPE_F16 : KSA_DTYPE_BF16;
        c.mode = KSA_MODE_ANCHOR;
        c.phase = KSA_PHASE_DECODE;
        c.hq = 16;
        c.hkv = 4;
        c.head_dim = 64;
        c.batch = info.compute_units / 4 + 1; /* B x Hkv > SMs */
        c.lk = 1500;
        c.vary_lengths = 1;
        c.with_lse = 1;
        c.seed = 900 + (uint64_t)di;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.anchor_dense_output = 1;
        c.seed += 10;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        /* uniform lengths: the dense pass loads keys, K only, by cp.async (the built-in at 64 or
         * more lists and head_dim <= 128) and by TMA in 16-key chunks (decode_kernel=2); then dense
         * decode at D 128: the built-in copies its chunks with cp.async at 64 or more lists,
         * decode_kernel=2 takes TMA with V (32-key chunks, and 16 with decode_chunk=16) */
        c.anchor_dense_output = 0;
        c.vary_lengths = 0;
        c.lk = 2100;
        c.seed += 10;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.seed += 10;
        failures += run_with_config(&c, "decode_kernel=2");
        c.mode = KSA_MODE_DENSE;
        c.head_dim = 128;
        c.seed += 10;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        const char *tma[2] = {"decode_kernel=2", "decode_kernel=2,decode_chunk=16"};
        for (int ti = 0; ti < 2; ti++) {
            c.seed += 10;
            failures += run_with_config(&c, tma[ti]);
        }
    }
    assert_int_equal(failures, 0);
}

/* anchor decode's Top-k with exact ties across the whole list (key rows repeated with a period, so
 * every pooled score recurs about Lk / period times): few lists (on 9.0, one thread-block cluster
 * per list, whose parts must hand the tied keys on in key order) and more lists than SMs (one CTA
 * per list, pooling as it loads); index sets against the reference */
static void test_decode_topk_ties(void **state)
{
    (void)state;
    require_device();
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(g_dev, &info), KSA_STATUS_SUCCESS);
    int failures = 0;
    for (int ci = 0; ci < (ktest_quick() ? 1 : 2); ci++) {
        ktest_config c = ktest_config_default();
        c.dtype = ci ? KSA_DTYPE_F16 : KSA_DTYPE_BF16;
        c.mode = KSA_MODE_ANCHOR;
        c.phase = KSA_PHASE_DECODE;
        c.hq = 8;
        c.hkv = 2;
        c.head_dim = 128;
        c.batch = ci ? info.compute_units / 2 + 1 : 2;
        c.lk = ci ? 1500 : 5000;
        c.repeat_keys = 7;
        c.with_lse = 1;
        c.seed = 950 + (uint64_t)ci;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
        c.repeat_keys = 1; /* every key the same: the first k keys */
        c.seed += 10;
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
    }
    assert_int_equal(failures, 0);
}

/* the Top-k's sampled pivot (ksa_topk_sampled in backends/gpu/ksa_gpu_topk.cuh): lists of at least
 * twelve blocks' width held in shared memory whose Top-k is at most ~15% of the list take a pivot from
 * a sample and select among the scores above it. Anchor decode of SMs / 8 + 1 lists (too many for the
 * cluster Top-k, too few for pooling in the Top-k: one 1024-thread CTA per list after the pooling
 * kernel; lengths from 10000 to 20000 keys, so most lists take the pivot and some are too short for
 * it) with near-uniform scores (random inputs: the pivot's path) and all scores equal (too many
 * candidates: the full-list select over the cached list), in full mode also seven tied groups (ties
 * at the threshold and the pivot) and more lists than SMs at head_dim 64 (the Top-k pools as it
 * loads); chunked anchor prefill over 8K keys, rolling and not (the streamed Top-k, kg_topk_stream:
 * random scores take its pivot; all keys equal, and in full mode seven tied groups, its fallback over
 * the list in global memory or ties at the threshold), and one over 6400 keys whose Top-k launch
 * kg_topk and kg_topk_stream share; anchor decode of SMs / 8 + 1 sequences x 8 KV heads over 6400
 * keys (the streamed Top-k pooling as it streams; random, all equal, seven tied groups in full
 * mode); index sets and outputs against the reference. Sized for the quick set under compute-sanitizer: filling the K/V
 * cache with random values is most of the test's time. */
static void test_topk_sampled_pivot(void **state)
{
    (void)state;
    require_device();
    ksa_device_info info;
    assert_int_equal(ksa_device_get_info(g_dev, &info), KSA_STATUS_SUCCESS);
    int failures = 0;
    const int quick = ktest_quick();
    for (int ci = 0; ci < (quick ? 1 : 2); ci++) {
        ktest_config c = decode_case(ci ? KSA_DTYPE_F16 : KSA_DTYPE_BF16, 128, info.compute_units / 8 + 1, 20000,
                                     1400 + (uint64_t)ci);
        c.mode = KSA_MODE_ANCHOR;
        c.hq = 4;
        c.hkv = 1;
        const int repeats[3] = {0, 1, 7};
        for (int ri = 0; ri < (quick ? 2 : 3); ri++) {
            c.repeat_keys = repeats[ri];
            c.seed += 10;
            const int bad = ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
            if (bad) printf("sampled Top-k, decode, repeat_keys %d failed\n", c.repeat_keys);
            failures += bad;
        }
        { /* as many lists as SMs or more, uniform lengths: the streamed Top-k pools each key as it
           * streams by (kg_topk_stream<true>); all keys equal: its fallback pools the list into its
           * row first */
            ktest_config d = decode_case(c.dtype, 64, info.compute_units / 8 + 1, 6400, 1430 + (uint64_t)ci);
            d.mode = KSA_MODE_ANCHOR;
            d.hq = 16;
            d.hkv = 8;
            d.vary_lengths = 0;
            for (int ri = 0; ri < (quick ? 2 : 3); ri++) {
                d.repeat_keys = repeats[ri];
                d.seed += 10;
                const int bad = ktest_run_and_check(g_dev, &d) != KSA_STATUS_SUCCESS;
                if (bad) printf("sampled Top-k, decode pooled as it streams, repeat_keys %d failed\n", d.repeat_keys);
                failures += bad;
            }
        }
        if (!quick && ci == 0) {
            ktest_config f = decode_case(KSA_DTYPE_BF16, 64, info.compute_units / 2 + 1, 12800, 1420);
            f.mode = KSA_MODE_ANCHOR;
            f.vary_lengths = 0;
            const int bad = ktest_run_and_check(g_dev, &f) != KSA_STATUS_SUCCESS; /* B x Hkv > SMs */
            if (bad) printf("sampled Top-k, decode pooled in the Top-k failed\n");
            failures += bad;
        }
        ktest_config p = ktest_config_default();
        p.dtype = c.dtype;
        p.mode = KSA_MODE_ANCHOR;
        p.hq = 8;
        p.hkv = 2;
        p.head_dim = 128;
        p.lq = 64;
        p.lk = 8192;
        p.with_lse = 1;
        p.topk_set = 1;
        p.topk = ksa_topk_default();
        p.topk.rolling = ci;
        for (int ri = 0; ri < (quick ? 2 : 3); ri++) { /* the streamed prefill Top-k and its fallback (ties) */
            p.repeat_keys = repeats[ri];
            p.seed = 1450 + (uint64_t)(10 * ci + ri);
            const int bad = ktest_run_and_check(g_dev, &p) != KSA_STATUS_SUCCESS;
            if (bad) printf("sampled Top-k, chunked prefill, rolling %d, repeat_keys %d failed\n", ci, p.repeat_keys);
            failures += bad;
        }
        if (ci == 0) { /* one Top-k launch split at tile 8: lists of 5888.. keys, streamed from 6144 */
            ktest_config q = p;
            q.hq = 4;
            q.hkv = 1;
            q.head_dim = 64;
            q.lq = 512;
            q.lk = 6400;
            q.repeat_keys = 0;
            q.topk.rolling = 1;
            q.seed = 1470;
            const int bad2 = ktest_run_and_check(g_dev, &q) != KSA_STATUS_SUCCESS;
            if (bad2) printf("sampled Top-k, prefill launch split between kg_topk and kg_topk_stream failed\n");
            failures += bad2;
        }
    }
    assert_int_equal(failures, 0);
}

/* anchor decode over few lists on 9.0: the cluster Top-k pools the dense pass's scores as it loads them
 * (no pooling kernel) and, with a sparse output and splits merged by the combine kernel, merges each
 * head's splits' (m, l) into its lse itself (no lse-only combine runs); with a dense output, one
 * split, or splits merged inside their cluster, it reads the lse those wrote. The built-in plan runs
 * the sparse pass apart, in up to 16 splits merged in their cluster. Every way in, G 4 and
 * G 16 at 64 splits (the most it merges), ragged lengths, against the reference (index sets and
 * outputs, poisoned first); on 9.0 the plan drops the pooled-score region. */
static void test_decode_topk_cluster_pools(void **state)
{
    (void)state;
    require_device();
    static const struct {
        int batch, hq, hkv, lk, vary, dense_out;
        const char *config;
    } cases[] = {
        {1, 32, 8, 9000, 0, 0, NULL},                                /* built-in: merged here; the sparse pass in a cluster */
        {1, 32, 8, 9000, 0, 1, NULL},                                /* dense output: the combine ran, lse read */
        {1, 32, 8, 9000, 0, 0, "decode_splits=1"},                   /* one split: the decode wrote the lse */
        {1, 32, 8, 9000, 0, 0, "decode_splits=4,decode_cluster=2"}, /* splits merged in their cluster */
        {2, 16, 8, 3001, 1, 0, "decode_splits=8,decode_cluster=1"}, /* ragged, 16 lists */
        {1, 32, 2, 20000, 0, 0, "decode_splits=64,decode_cluster=1"}, /* G 16 x 64 splits */
    };
    const int sm90 = device_is_sm90();
    int failures = 0;
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        ktest_config c = ktest_config_default();
        c.dtype = i % 2 ? KSA_DTYPE_F16 : KSA_DTYPE_BF16;
        c.mode = KSA_MODE_ANCHOR;
        c.phase = KSA_PHASE_DECODE;
        c.batch = cases[i].batch;
        c.hq = cases[i].hq;
        c.hkv = cases[i].hkv;
        c.head_dim = 128;
        c.lk = cases[i].lk;
        c.vary_lengths = cases[i].vary;
        c.anchor_dense_output = cases[i].dense_out;
        c.with_lse = 1;
        c.seed = 1300 + (uint64_t)i;
        const int bad = run_with_config(&c, cases[i].config);
        if (bad) printf("cluster Top-k case %d (B %d, G %d, Lk %d, %s) failed\n", i, c.batch, c.hq / c.hkv, c.lk,
                        cases[i].config ? cases[i].config : "built-in plan");
        failures += bad;
    }
    if (sm90) {
        /* four splits with the combine kernel: the plan has no pooled-score region, which the portable
         * decode's plan of the same splits has (B x Hkv x Lk floats, far more than the regions'
         * alignment) */
        ktest_config c = ktest_config_default();
        c.dtype = KSA_DTYPE_BF16;
        c.mode = KSA_MODE_ANCHOR;
        c.phase = KSA_PHASE_DECODE;
        c.hq = 32;
        c.hkv = 8;
        c.head_dim = 128;
        c.lk = 9000;
        const size_t pooled = sizeof(float) * 8 * 9000;
        assert_true(decode_workspace(&c, "decode_splits=4,decode_cluster=1") + pooled <=
                    decode_workspace(&c, "decode_splits=4,decode_kernel=1"));
    }
    assert_int_equal(failures, 0);
}

/* Lengths only the device sees (host bounds given, nothing read back) are clamped by the kernels to
 * the bound and the capacity, at least one key (docs/SEMANTICS.md, "Length bounds"): a call whose
 * seq_lens_k holds out-of-contract values (above the bound, negative, zero) runs without a fault and
 * gives, bit for bit, the outputs of the clamped lengths, which the reference confirms. Dense and
 * anchor decode over pages of 16 (the memcheck run of the quick set covers the clamped reads). */
static void test_lengths_clamped_on_device(void **state)
{
    (void)state;
    require_device();
    ktest_lengths_clamped_on_device(g_dev, 128, 700);
}

/* block_q=192: dense prefill at head_dim 64 and 128 on the sm_90a flash kernel with three consumer
 * warpgroups (192 rows per CTA, chunks of the flattened (query, head) rows that cross query and
 * causal boundaries differently from the 128-row chunks; 64-key tiles at head_dim 128, so partial
 * and masked tiles fall elsewhere too), f16 and bf16 against the reference with outputs poisoned
 * first: GQA 4 with lse, GQA 1 and 8, a batch of varying lengths with a ragged q,
 * paged K/V (cp.async producer), chunked prefill (Lq < Lk), strided views, and row counts that are
 * not a multiple of 192. Elsewhere the value is refused with a status and a sentence. */
static void test_prefill_block_q192(void **state)
{
    (void)state;
    require_device();
    if (!device_is_sm90()) ktest_skip("block_q=192 runs on the sm_90a wgmma kernel only (compute capability 9.0)");
    int failures = 0;
    for (int di = 0; di < (ktest_quick() ? 2 : 4); di++) { /* quick: bf16 at head_dim 64 and 128 */
        ktest_config base = ktest_config_default();
        base.dtype = di < 2 ? KSA_DTYPE_BF16 : KSA_DTYPE_F16;
        base.hq = 8;
        base.hkv = 2;
        base.head_dim = di % 2 ? 128 : 64;
        base.batch = 1;
        base.seed = 1900 + 10 * (uint64_t)di;
        ktest_config c = base;
        c.lq = c.lk = 700; /* 2800 rows: 14 full chunks and one of 112 */
        c.with_lse = 1;
        failures += run_with_config(&c, "block_q=192");
        c = base; /* GQA 1: a chunk is 192 queries of one head */
        c.hq = c.hkv = 2;
        c.lq = c.lk = 450;
        c.seed++;
        failures += run_with_config(&c, "block_q=192");
        c = base; /* GQA 8, three sequences of varying lengths, ragged q */
        c.hq = 16;
        c.batch = 3;
        c.lq = c.lk = 330;
        c.vary_lengths = 1;
        c.ragged_q = 1;
        c.with_lse = 1;
        c.seed += 2;
        failures += run_with_config(&c, "block_q=192");
        c = base; /* chunked prefill over a paged pool: cp.async producer */
        c.lq = 300;
        c.lk = 1500;
        c.kv = KTEST_KV_PAGED;
        c.page_size = 16;
        c.seed += 3;
        failures += run_with_config(&c, "block_q=192,pingpong=0");
        c = base; /* padded strides, two sequences */
        c.batch = 2;
        c.lq = c.lk = 260;
        c.strided = 1;
        c.seed += 4;
        failures += run_with_config(&c, "block_q=192");
    }
    assert_int_equal(failures, 0);
    /* refused where the variant does not exist: head_dim 256 and anchor prefill, where 192 is not among
     * the values offered (INVALID_ARGUMENT), and with the mma.sync kernel (UNSUPPORTED) */
    const char *why[3] = {"head_dim 256", "anchor", "kernel=80"};
    for (int i = 0; i < 3; i++) {
        ktest_config c = ktest_config_default();
        c.dtype = KSA_DTYPE_BF16;
        c.head_dim = i == 0 ? 256 : 64;
        c.mode = i == 1 ? KSA_MODE_ANCHOR : KSA_MODE_DENSE;
        c.lq = c.lk = 200;
        c.seed = 1950 + (uint64_t)i;
        ktest_problem pr;
        assert_int_equal(ktest_problem_create(g_dev, &c, &pr), KSA_STATUS_SUCCESS);
        assert_int_equal(ksa_set_config_override(i == 2 ? "block_q=192,kernel=80" : "block_q=192"), KSA_STATUS_SUCCESS);
        size_t bytes = 0;
        const ksa_status st = ksa_attention_workspace_size(g_dev, &pr.params, &pr.tensors, &bytes);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ksa_last_error());
        const ksa_status st_call = ksa_attention(g_dev, NULL, &pr.params, &pr.tensors, &pr.workspace);
        assert_int_equal(ksa_set_config_override(NULL), KSA_STATUS_SUCCESS);
        ktest_problem_destroy(&pr);
        const ksa_status want = i == 2 ? KSA_STATUS_UNSUPPORTED : KSA_STATUS_INVALID_ARGUMENT;
        if (st != want || st_call != want || !strstr(msg, "block_q=192")) {
            printf("block_q=192 with %s: status %d / %d, '%s'\n", why[i], (int)st, (int)st_call, msg);
            fail();
        }
    }
}

/* The built-in's choice on a grid big enough for 192 rows per CTA at head_dim 64 (B32 Hq64/Hkv16
 * L100: 16 x 4 x 3200 = 204800 rows, 12 waves of 128-row CTAs on 132 SMs, past the built-in's 10),
 * contiguous (TMA) and paged (cp.async), with no override, against the reference with outputs
 * poisoned first. (The 128- and 192-row kernels do not give the same bits: a CTA of more queries
 * runs more key tiles that are wholly masked for its first rows, and each such tile's rescale
 * factor, exp2 of the rounding residual of m x scale, can be one ulp off 1.) */
static void test_prefill_block_q192_default_grid(void **state)
{
    (void)state;
    require_device();
    if (!device_is_sm90()) ktest_skip("block_q=192 runs on the sm_90a wgmma kernel only (compute capability 9.0)");
    int failures = 0;
    for (int v = 0; v < 2; v++) {
        ktest_config c = ktest_config_default();
        c.dtype = v ? KSA_DTYPE_F16 : KSA_DTYPE_BF16;
        c.hq = 64;
        c.hkv = 16;
        c.head_dim = 64;
        c.batch = 32;
        c.lq = c.lk = 100;
        c.with_lse = 1;
        c.seed = 1970 + (uint64_t)v;
        if (v) {
            c.kv = KTEST_KV_PAGED;
            c.page_size = 16;
        }
        failures += ktest_run_and_check(g_dev, &c) != KSA_STATUS_SUCCESS;
    }
    assert_int_equal(failures, 0);
}

static void test_f32_unsupported(void **state)
{
    (void)state;
    require_device();
    ktest_config c = ktest_config_default();
    c.dtype = KSA_DTYPE_F32;
    ksa_status st = ktest_run_and_check(g_dev, &c);
    assert_int_equal(st, KSA_STATUS_UNSUPPORTED);
    assert_non_null(strstr(ksa_last_error(), "f32"));
}

static int setup(void **state)
{
    (void)state;
    ksa_context ctx = ktest_context();
    if (ctx && ksa_device_open(ctx, "cuda:0", &g_dev) != KSA_STATUS_SUCCESS) g_dev = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presence),
        cmocka_unit_test(test_f32_unsupported),
        cmocka_unit_test(test_llama_class),
        cmocka_unit_test(test_prefill_score_jumps),
        cmocka_unit_test(test_prefill_block_q192),
        cmocka_unit_test(test_prefill_block_q192_default_grid),
        cmocka_unit_test(test_decode_chunks),
        cmocka_unit_test(test_decode_cluster),
        cmocka_unit_test(test_plan_follows_configuration),
        cmocka_unit_test(test_decode_small_pages),
        cmocka_unit_test(test_decode_page_table_copy),
        cmocka_unit_test(test_decode_one_sequence_pages16),
        cmocka_unit_test(test_decode_long_paged_splits),
        cmocka_unit_test(test_decode_affine_paged),
        cmocka_unit_test(test_decode_gathered_contiguous),
        cmocka_unit_test(test_decode_long_lists_many_waves),
        cmocka_unit_test(test_decode_gathered_paths),
        cmocka_unit_test(test_decode_reuse_one_sequence),
        cmocka_unit_test(test_decode_wide_groups),
        cmocka_unit_test(test_decode_topk_pooling),
        cmocka_unit_test(test_decode_topk_ties),
        cmocka_unit_test(test_decode_topk_cluster_pools),
        cmocka_unit_test(test_topk_sampled_pivot),
        cmocka_unit_test(test_lengths_clamped_on_device),
    };
    return ktest_run_group(tests, setup, NULL);
}
