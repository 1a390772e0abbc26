/* hip_cases.c: the HIP backend's op cases (see hip_cases.h). */
#include "hip_cases.h"

#include <stdint.h>
#include <stdio.h>

#include "test_util.h"

int khip_backend_edges(ksa_device dev)
{
    ksa_topk_params small = ksa_topk_default();
    small.min_k = 16;
    small.round_multiple = 8;
    small.fraction = 0.1;
    small.tile_size = 16;
    ktest_config cases[10];
    int n = 0;
    ktest_config c;
    /* 70 sequences, ragged decode with lse (f16, head_dim 64: the shared split decode) */
    c = ktest_config_default(); c.phase = KSA_PHASE_DECODE; c.batch = 70; c.lk = 90; c.vary_lengths = 1;
    c.kv = KTEST_KV_RAGGED; c.with_lse = 1; c.dtype = KSA_DTYPE_F16; cases[n++] = c;
    /* 70 sequences, anchor decode at f32 (the kh_attend rows and kh_pool_topk) */
    c = ktest_config_default(); c.mode = KSA_MODE_ANCHOR; c.phase = KSA_PHASE_DECODE; c.batch = 70; c.lk = 300;
    c.vary_lengths = 1; c.hq = 4; c.hkv = 2; c.topk_set = 1; c.topk = small; cases[n++] = c;
    /* head_dim 80 (not a power of two), anchor prefill, bf16 */
    c = ktest_config_default(); c.mode = KSA_MODE_ANCHOR; c.head_dim = 80; c.lq = c.lk = 100; c.dtype = KSA_DTYPE_BF16;
    c.topk_set = 1; c.topk = small; c.with_lse = 1; cases[n++] = c;
    /* head_dim 512, dense chunked prefill f32 */
    c = ktest_config_default(); c.head_dim = 512; c.batch = 1; c.lq = 20; c.lk = 70; c.with_lse = 1; cases[n++] = c;
    /* long decode, GQA 8: anchor over 3000 keys (radix select over many candidates), f16 */
    c = ktest_config_default(); c.mode = KSA_MODE_ANCHOR; c.phase = KSA_PHASE_DECODE; c.batch = 2; c.hq = 16; c.hkv = 2;
    c.head_dim = 128; c.lk = 3000; c.dtype = KSA_DTYPE_F16; c.with_lse = 1; cases[n++] = c;
    /* many tiles: anchor chunked prefill with 12 tiles, paged, GQA 4, head_dim 256 */
    c = ktest_config_default(); c.mode = KSA_MODE_ANCHOR; c.hq = 8; c.hkv = 2; c.head_dim = 256; c.lq = 190; c.lk = 400;
    c.kv = KTEST_KV_PAGED; c.topk_set = 1; c.topk = small; c.dtype = KSA_DTYPE_F16; cases[n++] = c;
    /* reuse decode with a window longer than some sequences */
    c = ktest_config_default(); c.mode = KSA_MODE_REUSE; c.phase = KSA_PHASE_DECODE; c.batch = 3; c.lk = 60;
    c.vary_lengths = 1; c.topk_set = 1; c.topk = small; c.topk.local_window = 50; c.use_head_map = 1; cases[n++] = c;
    /* reuse prefill, bf16, head_dim 128, strided views, GQA 4 */
    c = ktest_config_default(); c.mode = KSA_MODE_REUSE; c.hq = 8; c.hkv = 2; c.head_dim = 128; c.lq = c.lk = 150;
    c.strided = 1; c.dtype = KSA_DTYPE_BF16; c.topk_set = 1; c.topk = small; c.use_head_map = 1; cases[n++] = c;
    int failures = 0;
    for (int i = 0; i < n; i++) {
        cases[i].seed = 9000u + (uint64_t)i;
        if (ktest_run_and_check(dev, &cases[i])) failures++;
    }
    printf("hip backend edges: %d cases, %d failed\n", n, failures);
    return failures;
}

int khip_created_stream(ksa_device dev)
{
    ktest_config c = ktest_config_default();
    c.mode = KSA_MODE_ANCHOR;
    c.dtype = KSA_DTYPE_F16;
    c.with_lse = 1;
    ktest_problem p;
    ksa_status st = ktest_problem_create(dev, &c, &p);
    if (st) {
        printf("FAIL created stream: create: %s\n", ksa_last_error());
        return 1;
    }
    ksa_stream s = NULL;
    char report[1024] = "";
    st = ksa_stream_create(dev, &s);
    if (!st) st = ksa_buffer_fill(p.tensors.o.buffer, 0, ksa_buffer_size(p.tensors.o.buffer), 0xff, s);
    if (!st) st = ksa_attention(dev, s, &p.params, &p.tensors, &p.workspace);
    if (!st) st = ksa_stream_synchronize(dev, s);
    if (st) {
        printf("FAIL created stream: %s: %s\n", ksa_status_string(st), ksa_last_error());
    } else {
        st = ktest_problem_check(&p, report, sizeof report);
        if (st) printf("FAIL created stream: check: %s\n", report);
    }
    if (s) ksa_stream_destroy(s);
    ktest_problem_destroy(&p);
    return st ? 1 : 0;
}
