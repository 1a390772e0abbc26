/* ksa_calibrate.c: the ksa-calibrate command. From statistics files (a coverage tensor and optional
 * layer importance, see calib/SCHEDULE-FORMAT.md) to anchors and head maps: importance-weighted
 * similarity, exact DP anchor selection, a sweep over the number of anchors, per-segment scores,
 * and the plan written as a head-map .npy and/or a schedule file. --shards N keeps every head map
 * inside its tensor-parallel shard of KV heads and reports the coverage this costs against the
 * unconstrained plan on the same statistics. Also checks and converts existing plans (.npy
 * head-map tables and schedule files), optionally against a shard count. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksa/ksa.h"
#include "ksa/ksa_calib.h"
#include "../ksa_cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ksa-calibrate --coverage FILE [--importance FILE] --anchors K [--sweep KMAX] [--shards N]\n"
            "                     [--model NAME] [--out-npy FILE] [--out-schedule FILE]\n"
            "       ksa-calibrate --check FILE [--anchor-list 0,2,8,...] [--shards N] [--out-npy FILE] [--out-schedule FILE]\n"
            "\n"
            "  --coverage FILE      float64 [N, N, H, H] .npy: M[a][b][h_b][h_a] (ksa_calib_collector_save)\n"
            "  --importance FILE    float64 [N] .npy: layer importance w_b (optional; default 1)\n"
            "  --anchors K          number of anchor layers to choose (layer 0 is always one)\n"
            "  --sweep KMAX         also print the best score and anchors for every K = 1..KMAX\n"
            "  --shards N           tensor parallelism over N ranks: KV heads in N equal contiguous blocks,\n"
            "                       every head map inside its block (default 1); with --check: the plan\n"
            "                       must respect N shards (a schedule file must record N)\n"
            "  --model NAME         model name stored in the schedule file\n"
            "  --out-npy FILE       write the head maps as int32 [N, H] .npy\n"
            "  --out-schedule FILE  write the plan as a schedule file (calib/SCHEDULE-FORMAT.md)\n"
            "  --check FILE         load and validate a plan: a schedule file, or a head-map .npy whose\n"
            "                       anchors come from its name (<model>_layers_0_2_8.npy) or --anchor-list\n");
}

static int fail(const char *what, ksa_status st)
{
    fprintf(stderr, "ksa-calibrate: %s: %s: %s\n", what, ksa_status_string(st), ksa_last_error());
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void print_plan(const ksa_calib_plan *p)
{
    char shards[32] = ""; /* named only when the plan is sharded */
    if (p->num_shards > 1) snprintf(shards, sizeof shards, "%d shards, ", p->num_shards);
    printf("plan: %s%s%d layers, %d KV heads, %s%d anchors:", p->model[0] ? p->model : "", p->model[0] ? ", " : "",
           p->num_layers, p->num_kv_heads, shards, p->num_anchors);
    for (int32_t i = 0; i < p->num_anchors; i++) printf(" %d", p->anchors[i]);
    printf("\n");
    for (int32_t l = 0, ai = 0; l < p->num_layers; l++) {
        int is_anchor = ai < p->num_anchors && p->anchors[ai] == l;
        if (is_anchor) ai++;
        printf("  layer %3d %-6s", l, is_anchor ? "anchor" : "reuse");
        for (int32_t g = 0; g < p->num_kv_heads; g++) printf(" %d", p->head_maps[(size_t)l * p->num_kv_heads + g]);
        printf("\n");
    }
}

static int write_outputs(const ksa_calib_plan *plan, const char *out_npy, const char *out_sched)
{
    ksa_status st;
    if (out_npy) {
        if ((st = ksa_calib_plan_save_npy(plan, out_npy))) return fail(out_npy, st);
        printf("wrote %s\n", out_npy);
    }
    if (out_sched) {
        if ((st = ksa_calib_plan_save(plan, out_sched))) return fail(out_sched, st);
        printf("wrote %s\n", out_sched);
    }
    return 0;
}

static int do_check(const char *path, const char *anchor_list, int32_t shards, const char *out_npy, const char *out_sched)
{
    ksa_calib_plan plan;
    ksa_status st;
    if (ends_with(path, ".npy")) {
        int32_t anchors[1024], n = 0;
        if (anchor_list) {
            const char *s = anchor_list;
            while (*s) {
                char *end;
                long v = strtol(s, &end, 10);
                if (end == s || v < 0 || v > 65535 || n >= 1024 || (*end && *end != ',')) {
                    fprintf(stderr, "ksa-calibrate: --anchor-list must be comma-separated layer numbers, not '%s'\n", anchor_list);
                    return 2;
                }
                anchors[n++] = (int32_t)v;
                s = *end ? end + 1 : end;
            }
        }
        st = ksa_calib_plan_load_npy(path, anchor_list ? anchors : NULL, n, &plan);
        if (!st && shards > 0) { /* a table carries no shard count: check it against the one given */
            plan.num_shards = shards;
            if ((st = ksa_calib_plan_validate(&plan))) ksa_calib_plan_free(&plan);
        }
    } else {
        st = ksa_calib_plan_load(path, &plan);
        if (!st && shards > 0 && plan.num_shards != shards) {
            fprintf(stderr, "ksa-calibrate: %s: the plan was made for %d shard%s, not the %d of --shards\n", path, plan.num_shards,
                    plan.num_shards == 1 ? "" : "s", shards);
            ksa_calib_plan_free(&plan);
            return 1;
        }
    }
    if (st) return fail(path, st);
    print_plan(&plan);
    printf("ok: %s is a valid plan\n", path);
    int rc = write_outputs(&plan, out_npy, out_sched);
    ksa_calib_plan_free(&plan);
    return rc;
}

static int do_solve(const char *cov_path, const char *imp_path, int32_t k, int32_t sweep, int32_t shards, const char *model,
                    const char *out_npy, const char *out_sched)
{
    ksa_npy_array cov, imp;
    memset(&imp, 0, sizeof imp);
    ksa_status st = ksa_npy_read(cov_path, &cov);
    if (st) return fail(cov_path, st);
    int rc = 1;
    double *sim = NULL, *free_sim = NULL, *scores = NULL, *free_scores = NULL, *seg = NULL;
    int32_t *table = NULL, *free_anchors = NULL;
    ksa_calib_plan plan;
    memset(&plan, 0, sizeof plan);
    if (cov.dtype != KSA_NPY_F64 || cov.ndim != 4 || cov.shape[0] != cov.shape[1] || cov.shape[2] != cov.shape[3] ||
        cov.shape[0] < 1 || cov.shape[0] > 65536 || cov.shape[2] < 1 || cov.shape[2] > 256) {
        fprintf(stderr, "ksa-calibrate: %s: the coverage file must be float64 [N, N, H, H]\n", cov_path);
        goto done;
    }
    int32_t n = (int32_t)cov.shape[0], h = (int32_t)cov.shape[2];
    if (imp_path) {
        if ((st = ksa_npy_read(imp_path, &imp))) {
            rc = fail(imp_path, st);
            goto done;
        }
        if (imp.dtype != KSA_NPY_F64 || imp.ndim != 1 || imp.shape[0] != n) {
            fprintf(stderr, "ksa-calibrate: %s: the importance file must be float64 [%d]\n", imp_path, n);
            goto done;
        }
    }
    if (k > n) {
        fprintf(stderr, "ksa-calibrate: --anchors %d is more than the %d layers\n", k, n);
        goto done;
    }
    if (sweep > n) sweep = n;
    const double *w = imp_path ? (const double *)imp.data : NULL;
    /* with shards > 1 the unconstrained similarity too: what sharding costs is measured against it
       (printed only then; with one shard sim is the unconstrained similarity) */
    const int sharded = shards > 1;
    sim = malloc(sizeof(double) * (size_t)n * n);
    seg = malloc(sizeof(double) * (size_t)k);
    if (sharded) {
        free_sim = malloc(sizeof(double) * (size_t)n * n);
        free_anchors = malloc(sizeof(int32_t) * (size_t)k);
    }
    if (!sim || !seg || (sharded && (!free_sim || !free_anchors))) {
        fprintf(stderr, "ksa-calibrate: out of memory\n");
        goto done;
    }
    if ((st = ksa_calib_similarity_sharded(cov.data, w, n, h, shards, sim)) ||
        (sharded && (st = ksa_calib_similarity(cov.data, w, n, h, free_sim)))) {
        rc = fail("similarity", st);
        goto done;
    }
    double best_possible = 0.0;
    for (int32_t b = 0; b < n; b++) best_possible += sim[(size_t)b * n + b];
    printf("ksa-calibrate: %s: %d layers, %d KV heads, importance %s\n", cov_path, n, h, w ? imp_path : "none (w = 1)");
    if (sharded)
        printf("shards: %d (KV heads in blocks of %d; every head map stays inside its block, anchors chosen for that)\n", shards,
               h / shards);
    if (w) {
        printf("importance:");
        for (int32_t b = 0; b < n; b++) printf(" %.4f", w[b]);
        printf("\n");
    }
    if (sweep > 0) {
        scores = malloc(sizeof(double) * (size_t)sweep);
        if (sharded) free_scores = malloc(sizeof(double) * (size_t)sweep);
        table = malloc(sizeof(int32_t) * (size_t)sweep * sweep);
        if (!scores || (sharded && !free_scores) || !table) {
            fprintf(stderr, "ksa-calibrate: out of memory\n");
            goto done;
        }
        if (sharded && (st = ksa_calib_select_anchors_range(free_sim, n, sweep, free_scores, table))) {
            rc = fail("unconstrained sweep", st);
            goto done;
        }
        if ((st = ksa_calib_select_anchors_range(sim, n, sweep, scores, table))) {
            rc = fail("sweep", st);
            goto done;
        }
        printf("sweep (score; all layers as anchors would score %.4f):\n", best_possible);
        for (int32_t kk = 1; kk <= sweep; kk++) {
            printf("  K=%-3d score %10.4f", kk, scores[kk - 1]);
            if (sharded) printf("  unconstrained %10.4f  lost %8.4f", free_scores[kk - 1], free_scores[kk - 1] - scores[kk - 1]);
            printf("  anchors");
            for (int32_t i = 0; i < kk; i++) printf(" %d", table[(size_t)(kk - 1) * sweep + i]);
            printf("\n");
        }
    }
    /* the unconstrained score comes from the tool's own search (which also gives its anchors), not
       from the library's solve */
    double score, free_score = 0.0;
    if ((st = ksa_calib_solve_sharded(cov.data, w, n, h, k, shards, &plan, &score, seg, NULL)) ||
        (sharded && (st = ksa_calib_select_anchors(free_sim, n, k, free_anchors, &free_score, NULL)))) {
        rc = fail("solve", st);
        goto done;
    }
    if (model) snprintf(plan.model, sizeof plan.model, "%s", model);
    printf("anchors (K=%d):", k);
    for (int32_t i = 0; i < k; i++) printf(" %d", plan.anchors[i]);
    printf("\nscore %.6f of %.6f (%.2f%%)\n", score, best_possible, best_possible > 0 ? 100.0 * score / best_possible : 0.0);
    if (sharded) {
        printf("unconstrained (1 shard) on the same statistics: score %.6f, anchors", free_score);
        for (int32_t i = 0; i < k; i++) printf(" %d", free_anchors[i]);
        printf("\nsharding cost: %.6f of the unconstrained score %.6f (%.2f%% lost)\n", free_score - score, free_score,
               free_score > 0 ? 100.0 * (free_score - score) / free_score : 0.0);
    }
    printf("segment  anchor  layers      score      mean/layer\n");
    for (int32_t i = 0; i < k; i++) {
        int32_t a = plan.anchors[i], e = i + 1 < k ? plan.anchors[i + 1] : n;
        char range[48];
        snprintf(range, sizeof range, "[%d, %d)", a, e);
        printf("  %-6d %-7d %-10s %10.6f %10.6f\n", i, a, range, seg[i], seg[i] / (double)(e - a));
    }
    print_plan(&plan);
    rc = write_outputs(&plan, out_npy, out_sched);
done:
    free(sim);
    free(free_sim);
    free(free_anchors);
    free(seg);
    free(scores);
    free(free_scores);
    free(table);
    ksa_calib_plan_free(&plan);
    ksa_npy_free(&cov);
    ksa_npy_free(&imp);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cov = NULL, *imp = NULL, *check = NULL, *anchor_list = NULL, *model = NULL, *out_npy = NULL, *out_sched = NULL;
    int32_t k = 0, sweep = 0, shards = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ksa-calibrate: '%s' needs a value (or is unknown)\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--coverage") == 0) cov = v;
        else if (strcmp(a, "--importance") == 0) imp = v;
        else if (strcmp(a, "--check") == 0) check = v;
        else if (strcmp(a, "--anchor-list") == 0) anchor_list = v;
        else if (strcmp(a, "--model") == 0) model = v;
        else if (strcmp(a, "--out-npy") == 0) out_npy = v;
        else if (strcmp(a, "--out-schedule") == 0) out_sched = v;
        else if (strcmp(a, "--anchors") == 0) {
            if (!ksa_cli_int("ksa-calibrate", "--anchors", v, 1, 65536, &k)) return 2;
        } else if (strcmp(a, "--sweep") == 0) {
            if (!ksa_cli_int("ksa-calibrate", "--sweep", v, 1, 65536, &sweep)) return 2;
        } else if (strcmp(a, "--shards") == 0) {
            if (!ksa_cli_int("ksa-calibrate", "--shards", v, 1, 256, &shards)) return 2;
        } else {
            fprintf(stderr, "ksa-calibrate: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (check && !cov) return do_check(check, anchor_list, shards, out_npy, out_sched);
    if (!cov || k < 1 || check) {
        fprintf(stderr, "ksa-calibrate: give either --coverage FILE with --anchors K, or --check FILE\n");
        usage(stderr);
        return 2;
    }
    return do_solve(cov, imp, k, sweep, shards > 0 ? shards : 1, model, out_npy, out_sched);
}
