/* test_budget_table.c: the selection sizes of docs/SEMANTICS.md as a table computed by hand (each
 * row's comment shows the arithmetic), never by the library's own helpers, and the check that a
 * device's ANCHOR calls write exactly these counts. tests/dispatch checks the rule header against
 * the table; ktest_run_standard_grid runs ktest_check_counts_on_device on every device it gets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "dispatch/ksa_internal.h"

/* Columns: decode, lq, lk, t, fraction, top_k, min_k, multiple, T, rolling, count.
 * k = k(lk) = min(lk, round_up(max(min_k, floor(f lk)), m)) (or min(lk, top_k));
 * prefill count = clamp(min(k - T, r_t), 0, pos) with pos = lk - lq + tT and
 * r_t = round_up(max(min_k, floor(f pos)), m) when rolling, clamp(k - T, 0, pos) otherwise. */
const ktest_count_case ktest_count_cases[] = {
    /* the worked example: f 10%, T 32, min_k 128, m 1, L 4096: k = 409, k - T = 377 */
    {0, 4096, 4096, 100, 0.10, 0, 128, 1, 32, 1, 320}, /* pos 3200: r = 320 < 377 */
    {0, 4096, 4096, 127, 0.10, 0, 128, 1, 32, 1, 377}, /* pos 4064: r = 406 > 377 */
    {0, 4096, 4096, 10, 0.10, 0, 128, 1, 32, 1, 128},  /* pos 320: r = max(128, 32) = 128 */
    {0, 4096, 4096, 0, 0.10, 0, 128, 1, 32, 1, 0},     /* pos 0: no candidates */
    {0, 4096, 4096, 1, 0.10, 0, 128, 1, 32, 1, 32},    /* pos 32: r = 128, only 32 candidates */
    {0, 4096, 4096, 4, 0.10, 0, 128, 1, 32, 1, 128},   /* pos 128: r = 128 = every candidate */
    {0, 4096, 4096, 5, 0.10, 0, 128, 1, 32, 1, 128},   /* pos 160: r = 128 */
    {0, 4096, 4096, 118, 0.10, 0, 128, 1, 32, 1, 377}, /* pos 3776: r = 377 = k - T */
    {0, 4096, 4096, 117, 0.10, 0, 128, 1, 32, 1, 374}, /* pos 3744: r = 374 */
    /* the defaults (m 128): k = round_up(409, 128) = 512, k - T = 480 */
    {0, 4096, 4096, 100, 0.10, 0, 128, 128, 32, 1, 384}, /* pos 3200: floor 320 -> r = 384 */
    {0, 4096, 4096, 127, 0.10, 0, 128, 128, 32, 1, 480}, /* pos 4064: 406 -> r = 512 > 480 */
    {0, 4096, 4096, 10, 0.10, 0, 128, 128, 32, 1, 128},  /* pos 320: r = 128 */
    {0, 4096, 4096, 40, 0.10, 0, 128, 128, 32, 1, 128},  /* pos 1280: floor 128 -> r = 128 */
    {0, 4096, 4096, 41, 0.10, 0, 128, 128, 32, 1, 256},  /* pos 1312: floor 131 -> r = 256 */
    /* non-rolling, the defaults otherwise: count = min(480, pos) */
    {0, 4096, 4096, 100, 0.10, 0, 128, 128, 32, 0, 480},
    {0, 4096, 4096, 1, 0.10, 0, 128, 128, 32, 0, 32},
    {0, 4096, 4096, 15, 0.10, 0, 128, 128, 32, 0, 480}, /* pos 480 */
    {0, 4096, 4096, 14, 0.10, 0, 128, 128, 32, 0, 448}, /* pos 448 */
    /* chunked prefill, Lq 64 of Lk 4096: pos = 4032 + 32 t; k - T = 480 */
    {0, 64, 4096, 0, 0.10, 0, 128, 128, 32, 1, 480}, /* pos 4032: 403 -> r = 512 */
    {0, 64, 4096, 1, 0.10, 0, 128, 128, 32, 1, 480}, /* pos 4064: 406 -> r = 512 */
    /* f 50%, min_k 16, m 8, T 32, L 100: k = round_up(50, 8) = 56, k - T = 24; last tile partial */
    {0, 100, 100, 1, 0.50, 0, 16, 8, 32, 1, 16}, /* pos 32: floor 16 -> r = 16 */
    {0, 100, 100, 2, 0.50, 0, 16, 8, 32, 1, 24}, /* pos 64: r = 32 > 24 */
    {0, 100, 100, 3, 0.50, 0, 16, 8, 32, 1, 24}, /* pos 96: r = 48 > 24 */
    {0, 100, 100, 1, 0.50, 0, 16, 8, 32, 0, 24}, /* non-rolling: min(24, 32) */
    /* f 10%, min_k 16, m 8, T 32, L 100: k = 16 < T: nothing selected */
    {0, 100, 100, 3, 0.10, 0, 16, 8, 32, 1, 0},
    /* the test grid's small budget: f 20%, min_k 16, m 8, T 16, L 600: k = 120, k - T = 104 */
    {0, 600, 600, 10, 0.20, 0, 16, 8, 16, 1, 32},  /* pos 160: floor 32 -> r = 32 */
    {0, 600, 600, 30, 0.20, 0, 16, 8, 16, 1, 96},  /* pos 480: r = 96 */
    {0, 600, 600, 37, 0.20, 0, 16, 8, 16, 1, 104}, /* pos 592: floor 118 -> r = 120 > 104 */
    {0, 600, 600, 2, 0.20, 0, 16, 8, 16, 1, 16},   /* pos 32: r = 16 */
    /* f 100%, min_k 1, m 1, T 16, L 64: k = 64, k - T = 48: every candidate while pos <= 48 */
    {0, 64, 64, 1, 1.00, 0, 1, 1, 16, 1, 16},
    {0, 64, 64, 3, 1.00, 0, 1, 1, 16, 1, 48},
    /* fixed top_k 100 (rolling ignored), T 32, L 4096: k - T = 68 */
    {0, 4096, 4096, 100, 0.10, 100, 128, 128, 32, 1, 68},
    {0, 4096, 4096, 2, 0.10, 100, 128, 128, 32, 1, 64}, /* pos 64 */
    {0, 4096, 4096, 3, 0.10, 100, 128, 128, 32, 1, 68}, /* pos 96 */
    /* decode: k(Lk) */
    {1, 1, 4096, 0, 0.10, 0, 128, 128, 32, 1, 512},  /* 409 -> 512 */
    {1, 1, 4096, 0, 0.10, 0, 128, 1, 32, 1, 409},
    {1, 1, 1300, 0, 0.10, 0, 128, 128, 32, 1, 256},  /* 130 -> 256 */
    {1, 1, 100, 0, 0.10, 0, 128, 128, 32, 1, 100},   /* k capped at L */
    {1, 1, 4096, 0, 0.10, 24, 128, 128, 32, 1, 24},  /* fixed top_k */
};
const int ktest_num_count_cases = (int)(sizeof ktest_count_cases / sizeof ktest_count_cases[0]);

ksa_topk_params ktest_count_case_topk(const ktest_count_case *c)
{
    ksa_topk_params k = ksa_topk_default();
    k.fraction = c->fraction;
    k.top_k = c->top_k;
    k.min_k = c->min_k;
    k.round_multiple = c->multiple;
    k.tile_size = c->tile;
    k.rolling = c->rolling;
    return k;
}

static int same_call(const ktest_count_case *a, const ktest_count_case *b)
{
    return a->decode == b->decode && a->lq == b->lq && a->lk == b->lk && a->fraction == b->fraction &&
           a->top_k == b->top_k && a->min_k == b->min_k && a->multiple == b->multiple && a->tile == b->tile &&
           a->rolling == b->rolling;
}

/* One ANCHOR call (B 1, Hq = Hkv = 1, D 64, f32) for the rows of case `first`'s call; compares the
 * counts written with every row of that call. Returns the number of mismatches (a failed call
 * counts once), printing each; *ran is set when the call ran. */
static int check_one_call(ksa_device dev, int first, int *ran)
{
    const ktest_count_case *c = &ktest_count_cases[first];
    ktest_config cfg = ktest_config_default();
    cfg.mode = KSA_MODE_ANCHOR;
    cfg.phase = c->decode ? KSA_PHASE_DECODE : KSA_PHASE_PREFILL;
    cfg.batch = 1;
    cfg.hq = cfg.hkv = 1;
    cfg.head_dim = 64;
    cfg.lq = c->lq;
    cfg.lk = c->lk;
    cfg.topk_set = 1;
    cfg.topk = ktest_count_case_topk(c);
    cfg.seed = 4242u + (uint64_t)first;
    ktest_problem p;
    ksa_status st = ktest_problem_create(dev, &cfg, &p);
    if (st == KSA_STATUS_SUCCESS) st = ktest_problem_run(&p);
    if (st == KSA_STATUS_UNSUPPORTED) {
        printf("ktest selection-size table row %d: unsupported on this device: %s\n", first, ksa_last_error());
        ktest_problem_destroy(&p);
        return 0;
    }
    *ran = 1;
    if (st) {
        printf("FAIL counts table row %d: the ANCHOR call failed: %s\n", first, ksa_last_error());
        ktest_problem_destroy(&p);
        return 1;
    }
    int64_t tiles = p.tensors.counts.ndim == 3 ? p.tensors.counts.shape[2] : 1;
    int32_t *counts = malloc(sizeof(int32_t) * (size_t)tiles);
    int bad = 0, readable = 1;
    if (!counts || ksa_buffer_read(counts, p.tensors.counts.buffer, 0, sizeof(int32_t) * (size_t)tiles, NULL)) {
        printf("FAIL counts table row %d: cannot read the counts back\n", first);
        bad = 1;
        readable = 0;
    }
    for (int i = first; i < ktest_num_count_cases && readable; i++) {
        const ktest_count_case *r = &ktest_count_cases[i];
        if (!same_call(c, r)) continue;
        int32_t got = r->t < tiles ? counts[r->t] : -1;
        if (got != r->count) {
            printf("FAIL counts table row %d (%s lq %d lk %d tile %d f %.2f top_k %d min_k %d m %d T %d rolling %d): "
                   "the device wrote %d, the table says %lld\n",
                   i, r->decode ? "decode" : "prefill", r->lq, r->lk, r->t, r->fraction, r->top_k, r->min_k, r->multiple,
                   r->tile, r->rolling, got, (long long)r->count);
            bad++;
        }
    }
    free(counts);
    ktest_problem_destroy(&p);
    return bad;
}

int ktest_check_counts_on_device(ksa_device dev)
{
    int failures = 0, calls = 0;
    for (int i = 0; i < ktest_num_count_cases; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = same_call(&ktest_count_cases[i], &ktest_count_cases[j]);
        if (seen) continue; /* that call was checked with its first row */
        /* a fixed top_k above the key count is refused by ANCHOR (documented): header-only rows */
        if (ktest_count_cases[i].top_k > ktest_count_cases[i].lk) continue;
        int ran = 0;
        failures += check_one_call(dev, i, &ran);
        calls += ran;
    }
    printf("ktest selection-size table on %s: %d ANCHOR calls, %d mismatches\n", dev ? dev->info.name : "?", calls, failures);
    return failures;
}
