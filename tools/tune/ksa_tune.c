/* ksa_tune.c: the ksa-tune command. Tunes the backends' launch parameters for chosen ops, dtypes,
 * shapes and devices within a time budget and stores the winners in the tuning cache; --dry-run
 * lists what would be measured, --compare measures tuned vs built-in (benchmark P9), --show prints
 * the cache entries for a device, --export-shipped writes them as shipped (pre-tuned) entries.
 * A progress bar is drawn on stderr when it is a terminal. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autotune/ksa_autotune.h"
#include "ksa/ksa.h"
#include "ksa_internal.h"
#include "../ksa_cli.h"

#define MAX_ITEMS 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ksa-tune [options]\n"
            "Tune ksa's per-device launch parameters and store the winners in the tuning cache.\n\n"
            "  --device NAME       device to tune (repeatable; default auto): cpu, cuda:0, opencl:0.0, ...\n"
            "  --op LIST           comma list of dense, anchor, reuse, each optionally .prefill or .decode\n"
            "                      (default dense.prefill,anchor.prefill,reuse.prefill,dense.decode,reuse.decode)\n"
            "  --dtype LIST        comma list of f32, f16, bf16 (default bf16)\n"
            "  --shape SPEC        B=1,Hq=32,Hkv=8,D=128,L=4096 (L sets Lq and Lk; or Lq=.., Lk=..), repeatable;\n"
            "                      decode uses Lk and B\n"
            "  --preset NAME       ci (the shapes of ksa-bench --quick), small (CI-class CPU, D 128) or standard\n"
            "                      (bench/PERFORMANCE.md shapes at 8K-32K); default: standard on GPUs, small\n"
            "                      otherwise; ignored when --shape is given\n"
            "  --paged             paged K/V (page size 16) instead of contiguous\n"
            "  --budget SECONDS    total time budget, split evenly over the jobs (default 300)\n"
            "  --repeats N         timed samples per candidate, median taken (default 9)\n"
            "  --sample-calls N    calls per timed sample, back to back, one synchronisation: 0 (default) fills\n"
            "                      ~1 ms on a GPU (one call on the CPU); 1 = one call per synchronisation\n"
            "  --warmup N          untimed calls before timing (default 2)\n"
            "  --max-candidates N  exhaustive search up to N configurations, coordinate descent above (default 48)\n"
            "  --min-gain F        a winner must beat the built-in by this fraction, 0 <= F < 1 (default 0.03)\n"
            "  --rounds N          interleaved built-in/candidate rounds of the confirmation and of --compare,\n"
            "                      3..15 (default 5); the spread of the rounds' ratios is the noise band\n"
            "  --freeze LIST       comma list of parameters held at their default (e.g. threads, for shipped entries)\n"
            "  --cache PATH        tuning cache file (default $KSA_TUNE_CACHE, else $XDG_CACHE_HOME/ksa/tune-cache.txt)\n"
            "  --dry-run           list the jobs and candidate configurations; measure nothing\n"
            "  --compare           measure built-in vs tuned lookup for each job (benchmark P9); tune nothing:\n"
            "                      median speedup (built-in / tuned time, > 1: tuned faster) over the rounds,\n"
            "                      its noise band, the built-in's run-to-run band and a verdict (faster, same\n"
            "                      within noise, slower); exit status 3 when a tuned entry is slower beyond\n"
            "                      the band\n"
            "  --json              with --compare: one JSON object per measurement on stdout\n"
            "  --no-store          tune but do not write the cache\n"
            "  --show              print this device's cache entries and what the last load ignored\n"
            "  --export-shipped F  write this device's cache entries to F as shipped entries\n"
            "                      (signature reduced to backend, model name and ISA level;\n"
            "                      a \"threads\" parameter is left out: it depends on the core count)\n"
            "  --quiet             no progress bar\n"
            "  -h, --help          this text\n");
}

typedef struct job {
    ksa_device dev;
    ksa_tune_shape shape;
} job;

typedef struct progress_state {
    int enabled;
    int job, jobs;
    char label[160];
    double t0;
} progress_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress_cb(void *user, double fraction, const char *what)
{
    progress_state *ps = user;
    if (!ps->enabled) return;
    double overall = (ps->job + fraction) / (ps->jobs > 0 ? ps->jobs : 1);
    int width = 24, filled = (int)(overall * width + 0.5);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r\033[K[%s] %3.0f%% job %d/%d %s | %.40s | %.0fs", bar, overall * 100, ps->job + 1, ps->jobs, ps->label,
            what ? what : "", now_s() - ps->t0);
    fflush(stderr);
}

static void progress_clear(progress_state *ps)
{
    if (ps->enabled) fprintf(stderr, "\r\033[K");
}

static int parse_ops(const char *list, int *modes, int *phases, int max)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *dot = strchr(tok, '.');
        int ph0 = 0, ph1 = 1;
        if (dot) {
            *dot = '\0';
            if (!strcmp(dot + 1, "prefill")) ph1 = 0;
            else if (!strcmp(dot + 1, "decode")) ph0 = 1;
            else return -1;
        }
        int m = !strcmp(tok, "dense") ? 0 : !strcmp(tok, "anchor") ? 1 : !strcmp(tok, "reuse") ? 2 : -1;
        if (m < 0) return -1;
        for (int ph = ph0; ph <= ph1 && n < max; ph++) {
            modes[n] = m;
            phases[n] = ph;
            n++;
        }
    }
    return n;
}

static int parse_dtypes(const char *list, ksa_dtype *out, int max)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", list);
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "f32")) out[n++] = KSA_DTYPE_F32;
        else if (!strcmp(tok, "f16")) out[n++] = KSA_DTYPE_F16;
        else if (!strcmp(tok, "bf16")) out[n++] = KSA_DTYPE_BF16;
        else return -1;
    }
    return n;
}

typedef struct shape_spec {
    int32_t b, hq, hkv, d, lq, lk;
} shape_spec;

static int parse_shape(const char *spec, shape_spec *s)
{
    s->b = 1;
    s->hq = 32;
    s->hkv = 8;
    s->d = 128;
    s->lq = s->lk = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) return 0;
        *eq = '\0';
        char *end;
        long v = strtol(eq + 1, &end, 10);
        if (*end || v < 1 || v > (1L << 30)) return 0;
        if (!strcmp(tok, "B")) s->b = (int32_t)v;
        else if (!strcmp(tok, "Hq")) s->hq = (int32_t)v;
        else if (!strcmp(tok, "Hkv")) s->hkv = (int32_t)v;
        else if (!strcmp(tok, "D")) s->d = (int32_t)v;
        else if (!strcmp(tok, "L")) s->lq = s->lk = (int32_t)v;
        else if (!strcmp(tok, "Lq")) s->lq = (int32_t)v;
        else if (!strcmp(tok, "Lk")) s->lk = (int32_t)v;
        else return 0;
    }
    if (!s->lk) s->lk = s->lq ? s->lq : 4096;
    if (!s->lq) s->lq = s->lk;
    return 1;
}

/* Preset shapes: prefill shapes (used by prefill ops) and decode shapes (used by decode ops). */
static int preset_shapes(const char *name, int phase, shape_spec *out, int max)
{
    int n = 0;
#define ADD(B, HQ, HKV, D, LQ, LK)                                      \
    do {                                                                \
        if (n < max) out[n++] = (shape_spec){B, HQ, HKV, D, LQ, LK};    \
    } while (0)
    if (!strcmp(name, "ci")) { /* the CI-sized grid of ksa-bench --quick */
        if (phase == 0) {
            ADD(1, 8, 2, 64, 256, 256);
            ADD(1, 8, 2, 64, 512, 512);
            ADD(1, 8, 2, 64, 128, 512);
        } else {
            ADD(2, 8, 2, 64, 1, 1024);
            ADD(2, 8, 2, 64, 1, 4096);
        }
    } else if (!strcmp(name, "small")) {
        if (phase == 0) {
            ADD(1, 8, 2, 128, 1024, 1024);
            ADD(1, 8, 2, 128, 2048, 2048);
        } else {
            ADD(1, 32, 8, 128, 1, 8192);
            ADD(4, 32, 8, 128, 1, 8192);
        }
    } else if (!strcmp(name, "standard")) {
        if (phase == 0) {
            ADD(1, 32, 8, 128, 8192, 8192);
            ADD(1, 32, 8, 128, 16384, 16384);
            ADD(1, 32, 8, 128, 32768, 32768);
        } else { /* B1 Lk8K too: its best decode split differs from Lk32K's (bench/NOTES.md, 2026-11-30) */
            ADD(1, 32, 8, 128, 1, 8192);
            ADD(1, 32, 8, 128, 1, 32768);
            ADD(16, 32, 8, 128, 1, 32768);
            ADD(64, 32, 8, 128, 1, 32768);
        }
    } else {
        return -1;
    }
#undef ADD
    return n;
}

/* The signature of a shipped entry: any device of this model at this ISA level, whatever its core
 * count, driver or ksa version. */
static ksa_tune_signature shipped_signature(const ksa_device_info *info)
{
    ksa_tune_signature full, s;
    ksa_tune_signature_of(info, &full);
    memset(&s, 0, sizeof s);
    s.compute_units = -1;
    /* the model name stays: block sizes depend on the microarchitecture and its caches, which the
     * ISA level alone does not pin down (a Xeon forced to the avx512 level is not a Zen) */
    memcpy(s.backend, full.backend, sizeof s.backend);
    memcpy(s.isa, full.isa, sizeof s.isa);
    memcpy(s.description, full.description, sizeof s.description);
    return s;
}

static int show_or_export(ksa_device dev, const char *path, const char *export_path)
{
    ksa_device_info info;
    ksa_device_get_info(dev, &info);
    ksa_tune_signature dsig;
    ksa_tune_signature_of(&info, &dsig);
    ksa_tune_entry *e = NULL;
    int32_t n = 0;
    ksa_tune_parse_stats st;
    ksa_status s = ksa_tune_cache_read(path, &e, &n, &st);
    if (s) {
        fprintf(stderr, "ksa-tune: %s\n", ksa_last_error());
        return 1;
    }
    char sig[700], cls[256], line[2048];
    printf("cache %s: %d valid entr%s, %d corrupt line(s)%s%s\n", path, n, n == 1 ? "y" : "ies", st.lines_bad,
           st.first_problem[0] ? "; " : "", st.first_problem);
    printf("device %s: %s\n", info.name, ksa_tune_signature_string(&dsig, sig, sizeof sig));
    ksa_tune_entry *out = calloc((size_t)(n ? n : 1), sizeof *out);
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!ksa_tune_signature_matches(&e[i].sig, &dsig)) continue;
        size_t k = 0;
        snprintf(line, sizeof line, "%s", e[i].num_params ? "" : "builtin");
        for (int j = 0; j < e[i].num_params && k < sizeof line; j++)
            k += (size_t)snprintf(line + k, sizeof line - k, "%s%s=%d", j ? "," : "", e[i].names[j], e[i].values[j]);
        printf("  %s  %s  (%.1f us vs built-in %.1f us)\n", ksa_tune_class_string(&e[i].cls, cls, sizeof cls), line,
               e[i].tuned_us, e[i].builtin_us);
        if (out) {
            /* a thread count measured here means nothing on a machine with another core count:
             * shipped entries leave it to the backend's default */
            ksa_tune_entry se = e[i];
            se.num_params = 0;
            for (int k = 0; k < e[i].num_params; k++) {
                if (!strcmp(e[i].names[k], "threads")) continue;
                memcpy(se.names[se.num_params], e[i].names[k], sizeof se.names[0]);
                se.values[se.num_params++] = e[i].values[k];
            }
            se.sig = shipped_signature(&info);
            out[m++] = se; /* with no parameter left it says "use the built-in" */
        }
    }
    int rc = 0;
    if (export_path) {
        s = ksa_tune_cache_store(export_path, out, m);
        if (s) {
            fprintf(stderr, "ksa-tune: %s\n", ksa_last_error());
            rc = 1;
        } else {
            printf("wrote %d shipped entr%s to %s\n", m, m == 1 ? "y" : "ies", export_path);
        }
    }
    free(out);
    free(e);
    return rc;
}

/* The cache must be a file (existing or to be created), not a folder or something else: say so
 * before any work rather than "read error" after it. */
static int cache_path_usable(const char *path, const char *from)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return 1; /* created by the first store, folders included */
        fprintf(stderr, "ksa-tune: tuning cache %s (%s): %s\n", path, from, strerror(errno));
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        fprintf(stderr, "ksa-tune: tuning cache %s (%s) is a folder; name a file, e.g. %s/tune-cache.txt\n", path, from,
                path);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "ksa-tune: tuning cache %s (%s) is not a regular file\n", path, from);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    const char *devices[MAX_ITEMS];
    int ndev = 0;
    const char *ops = "dense.prefill,anchor.prefill,reuse.prefill,dense.decode,reuse.decode";
    const char *dtypes = "bf16";
    shape_spec shapes[MAX_ITEMS];
    int nshapes = 0;
    const char *preset = NULL;
    const char *cache_arg = NULL, *export_path = NULL;
    int paged = 0, dry = 0, compare = 0, json = 0, store = 1, show = 0, quiet = 0;
    ksa_tune_options opt = ksa_tune_options_default();
    double budget = 300;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE                                                      \
    do {                                                                \
        if (!val) {                                                     \
            fprintf(stderr, "ksa-tune: %s needs a value\n", a);         \
            return 2;                                                   \
        }                                                               \
        i++;                                                            \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--device")) {
            NEED_VALUE;
            if (ndev < MAX_ITEMS) devices[ndev++] = val;
        } else if (!strcmp(a, "--op")) {
            NEED_VALUE;
            ops = val;
        } else if (!strcmp(a, "--dtype")) {
            NEED_VALUE;
            dtypes = val;
        } else if (!strcmp(a, "--shape")) {
            NEED_VALUE;
            if (nshapes == MAX_ITEMS || !parse_shape(val, &shapes[nshapes])) {
                fprintf(stderr, "ksa-tune: --shape %s: expected B=..,Hq=..,Hkv=..,D=..,L=.. (or Lq=..,Lk=..)\n", val);
                return 2;
            }
            nshapes++;
        } else if (!strcmp(a, "--preset")) {
            NEED_VALUE;
            preset = val;
        } else if (!strcmp(a, "--paged")) {
            paged = 1;
        } else if (!strcmp(a, "--budget")) {
            NEED_VALUE;
            if (!ksa_cli_double("ksa-tune", a, val, 0, 1e7, KSA_CLI_LO_OPEN, &budget)) return 2;
        } else if (!strcmp(a, "--repeats")) {
            NEED_VALUE;
            if (!ksa_cli_int("ksa-tune", a, val, 1, 10000, &opt.repeats)) return 2;
        } else if (!strcmp(a, "--sample-calls")) {
            NEED_VALUE;
            if (!ksa_cli_int("ksa-tune", a, val, 0, 64, &opt.sample_calls)) return 2;
        } else if (!strcmp(a, "--warmup")) {
            NEED_VALUE;
            if (!ksa_cli_int("ksa-tune", a, val, 0, 10000, &opt.warmup)) return 2;
        } else if (!strcmp(a, "--max-candidates")) {
            NEED_VALUE;
            if (!ksa_cli_int("ksa-tune", a, val, 1, 1000000, &opt.max_candidates)) return 2;
        } else if (!strcmp(a, "--min-gain")) {
            NEED_VALUE;
            /* a fraction: -1 would turn the acceptance test around, 1 or more can never be met */
            if (!ksa_cli_double("ksa-tune", a, val, 0, 1, KSA_CLI_HI_OPEN, &opt.min_gain)) return 2;
        } else if (!strcmp(a, "--rounds")) {
            NEED_VALUE;
            if (!ksa_cli_int("ksa-tune", a, val, 3, KSA_TUNE_MAX_ROUNDS, &opt.confirm_rounds)) return 2;
        } else if (!strcmp(a, "--freeze")) {
            NEED_VALUE;
            opt.frozen = val;
        } else if (!strcmp(a, "--cache")) {
            NEED_VALUE;
            cache_arg = val;
        } else if (!strcmp(a, "--dry-run")) {
            dry = 1;
        } else if (!strcmp(a, "--compare")) {
            compare = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--no-store")) {
            store = 0;
        } else if (!strcmp(a, "--show")) {
            show = 1;
        } else if (!strcmp(a, "--export-shipped")) {
            NEED_VALUE;
            export_path = val;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else {
            fprintf(stderr, "ksa-tune: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
#undef NEED_VALUE
    }
    /* the cache path: --cache wins, and the library's lookup must see the same file */
    char path_buf[1024];
    const char *cache_path = cache_arg;
    if (cache_arg) setenv("KSA_TUNE_CACHE", cache_arg, 1);
    else cache_path = ksa_tune_cache_path(path_buf, sizeof path_buf);
    if (cache_path && !cache_path_usable(cache_path, cache_arg ? "--cache" : "KSA_TUNE_CACHE")) return 2;
    ksa_autotune_reload();

    int modes[16], phases[16];
    int nops = parse_ops(ops, modes, phases, 16);
    ksa_dtype dts[4];
    int ndt = parse_dtypes(dtypes, dts, 4);
    if (nops <= 0) {
        fprintf(stderr, "ksa-tune: --op %s: expected a comma list of dense, anchor, reuse[.prefill|.decode]\n", ops);
        return 2;
    }
    if (ndt <= 0) {
        fprintf(stderr, "ksa-tune: --dtype %s: expected a comma list of f32, f16, bf16\n", dtypes);
        return 2;
    }
    ksa_context ctx;
    ksa_status st = ksa_context_create(&ctx);
    if (st) {
        fprintf(stderr, "ksa-tune: cannot create a context: %s\n", ksa_last_error());
        return 1;
    }
    if (!ndev) devices[ndev++] = "auto";
    ksa_device devs[MAX_ITEMS];
    for (int d = 0; d < ndev; d++) {
        st = ksa_device_open(ctx, devices[d], &devs[d]);
        if (st) {
            fprintf(stderr, "ksa-tune: device %s: %s\n", devices[d], ksa_last_error());
            ksa_context_destroy(ctx);
            return 1;
        }
    }
    if (show || export_path) {
        int rc = 0;
        if (!cache_path) {
            fprintf(stderr, "ksa-tune: no cache path (KSA_TUNE_CACHE is off and no --cache)\n");
            rc = 1;
        }
        for (int d = 0; d < ndev && !rc; d++) rc = show_or_export(devs[d], cache_path, export_path);
        ksa_context_destroy(ctx);
        return rc;
    }

    /* the jobs: device x op x dtype x shape */
    static job jobs[4096];
    int njobs = 0;
    for (int d = 0; d < ndev; d++) {
        ksa_device_info info;
        ksa_device_get_info(devs[d], &info);
        const char *pre = preset ? preset : (info.host_memory ? "small" : "standard");
        for (int o = 0; o < nops; o++) {
            shape_spec ss[MAX_ITEMS];
            int ns = nshapes;
            if (nshapes) memcpy(ss, shapes, sizeof(shape_spec) * (size_t)nshapes);
            else ns = preset_shapes(pre, phases[o], ss, MAX_ITEMS);
            if (ns < 0) {
                fprintf(stderr, "ksa-tune: --preset %s: expected ci, small or standard\n", pre);
                ksa_context_destroy(ctx);
                return 2;
            }
            for (int t = 0; t < ndt; t++)
                for (int k = 0; k < ns && njobs < 4096; k++) {
                    job *j = &jobs[njobs++];
                    memset(j, 0, sizeof *j);
                    j->dev = devs[d];
                    j->shape.mode = (ksa_mode)modes[o];
                    j->shape.phase = (ksa_phase)phases[o];
                    j->shape.dtype = dts[t];
                    j->shape.batch = ss[k].b;
                    j->shape.hq = ss[k].hq;
                    j->shape.hkv = ss[k].hkv;
                    j->shape.head_dim = ss[k].d;
                    j->shape.lq = phases[o] == 1 ? 1 : ss[k].lq;
                    j->shape.lk = ss[k].lk;
                    j->shape.paged = paged;
                }
        }
    }
    opt.budget_s = budget / (njobs > 0 ? njobs : 1);
    progress_state ps;
    memset(&ps, 0, sizeof ps);
    ps.enabled = !quiet && !dry && isatty(STDERR_FILENO);
    ps.jobs = njobs;
    ps.t0 = now_s();
    opt.progress = progress_cb;
    opt.progress_user = &ps;
    if (!json) {
        printf("ksa-tune: %d job(s), %s, cache %s\n", njobs,
               dry ? "dry run" : compare ? "comparing built-in vs tuned" : "tuning", cache_path ? cache_path : "(none)");
        if (!dry && !compare) printf("budget %.0f s in all, %.1f s per job\n", budget, opt.budget_s);
    }
    int failures = 0, slower = 0, faster = 0, same_noise = 0, same_code = 0, tuned_shapes = 0;
    ksa_tune_rounds worst; /* the tuned shape with the lowest median speedup */
    memset(&worst, 0, sizeof worst);
    for (int i = 0; i < njobs; i++) {
        job *j = &jobs[i];
        ksa_device_info info;
        ksa_device_get_info(j->dev, &info);
        char shape[160];
        ksa_tune_shape_string(&j->shape, shape, sizeof shape);
        snprintf(ps.label, sizeof ps.label, "%s %s", info.name, shape);
        ps.job = i;
        if (dry) {
            static char configs[512][KSA_TUNE_CONFIG_MAX];
            ksa_tunable_space sp;
            int32_t n = 0, exhaustive = 1;
            st = ksa_tune_list_candidates(j->dev, &j->shape, &opt, &sp, configs, 512, &n, &exhaustive);
            if (st) {
                printf("%s %s: %s\n", info.name, shape, ksa_last_error());
                failures++;
                continue;
            }
            if (sp.num_params == 0) {
                printf("%s %s: backend %s has no tunable parameters for this op (built-in only)\n", info.name, shape,
                       info.backend);
                continue;
            }
            printf("%s %s: %d candidate(s)%s\n", info.name, shape, n,
                   exhaustive ? " (exhaustive)" : " (first coordinate-descent pass; later passes adapt)");
            for (int32_t c = 0; c < n && c < 512; c++) printf("    %s%s\n", configs[c], c == 0 ? "  (default values)" : "");
            continue;
        }
        if (compare) {
            ksa_tune_comparison c;
            st = ksa_tune_compare_rounds(j->dev, &j->shape, &opt, &c);
            progress_clear(&ps);
            if (st) {
                printf("%s %s: %s\n", info.name, shape, ksa_last_error());
                failures++;
                continue;
            }
            const ksa_tune_rounds *rd = &c.rounds;
            /* when the lookup gives the built-in, both sides run the same code: their difference is
             * the measurement's noise, shown but not counted */
            if (c.same_code) {
                same_code++;
            } else {
                tuned_shapes++;
                if (rd->verdict == KSA_TUNE_SLOWER) slower++;
                else if (rd->verdict == KSA_TUNE_FASTER) faster++;
                else same_noise++;
                if (tuned_shapes == 1 || rd->ratio < worst.ratio) worst = *rd;
            }
            const char *verdict = ksa_tune_verdict_name(rd->verdict);
            if (json) {
                char ratios[KSA_TUNE_MAX_ROUNDS * 12 + 4];
                size_t k = 0;
                for (int q = 0; q < rd->rounds && k < sizeof ratios; q++)
                    k += (size_t)snprintf(ratios + k, sizeof ratios - k, "%s%.4f", q ? "," : "", rd->round_ratio[q]);
                printf("{\"tool\":\"ksa-tune\",\"measure\":\"P9\",\"device\":\"%s\",\"backend\":\"%s\",\"op\":\"%s\",\"dtype\":\"%s\","
                       "\"B\":%d,\"Hq\":%d,\"Hkv\":%d,\"D\":%d,\"Lq\":%d,\"Lk\":%d,\"paged\":%d,\"builtin_ms\":%.4f,"
                       "\"tuned_ms\":%.4f,\"speedup\":%.4f,\"source\":\"%s\",\"config\":\"%s\",\"same_code\":%s,"
                       "\"ratio\":%.4f,\"ratio_low\":%.4f,\"ratio_high\":%.4f,\"builtin_band_low\":%.4f,"
                       "\"builtin_band_high\":%.4f,\"rounds\":%d,\"calls_per_round\":%d,\"calls_per_sample\":%d,\"round_ratios\":[%s],"
                       "\"verdict\":\"%s\"}\n",
                       info.name, info.backend, ksa_tune_op_name(j->shape.mode, j->shape.phase), ksa_dtype_name(j->shape.dtype),
                       j->shape.batch, j->shape.hq, j->shape.hkv, j->shape.head_dim, j->shape.lq, j->shape.lk, j->shape.paged,
                       c.builtin_ms, c.tuned_ms, c.tuned_ms > 0 ? c.builtin_ms / c.tuned_ms : 0, c.source, c.config,
                       c.same_code ? "true" : "false", rd->ratio, rd->ratio_low, rd->ratio_high, rd->builtin_low,
                       rd->builtin_high, rd->rounds, rd->calls_per_round, rd->calls_per_sample, ratios, verdict);
            } else {
                printf("%-8s %-52s built-in %9.3f ms  tuned %9.3f ms  speedup %.3fx band [%.3f, %.3f]  built-in run-to-run "
                       "[%.3f, %.3f]  %s%s  [%s%s%s]\n",
                       info.name, shape, c.builtin_ms, c.tuned_ms, rd->ratio, rd->ratio_low, rd->ratio_high, rd->builtin_low,
                       rd->builtin_high, verdict, c.same_code ? " (same code: noise)" : "", c.source, c.config[0] ? " " : "",
                       c.config);
            }
            fflush(stdout);
            continue;
        }
        ksa_tune_result r;
        st = ksa_tune_shape_run(j->dev, &j->shape, &opt, &r);
        progress_clear(&ps);
        if (st) {
            printf("%s %s: %s\n", info.name, shape, ksa_last_error());
            failures++;
            continue;
        }
        if (r.space.num_params == 0) {
            printf("%s %s: backend %s has no tunable parameters for this op (built-in %.3f ms)\n", info.name, shape, info.backend,
                   r.builtin_ms);
            continue;
        }
        char extra[400];
        char refused[48] = "";
        if (r.refused) snprintf(refused, sizeof refused, ", %d refused by the backend", r.refused);
        snprintf(extra, sizeof extra, "[%d candidate(s), %d measured, %d rejected%s%s%s%s]", r.num_candidates, r.measured,
                 r.rejected, r.rejected ? ": first " : "", r.rejected ? r.first_rejected : "", refused,
                 r.budget_exhausted ? ", budget exhausted" : "");
        if (r.improved) {
            printf("%s %s: winner %s  %.3f ms vs built-in %.3f ms (%.2fx faster; %d rounds, band [%.3f, %.3f]) %s\n", info.name,
                   shape, r.best_config, r.best_ms, r.builtin_ms, r.confirm.ratio, r.confirm.rounds, r.confirm.ratio_low,
                   r.confirm.ratio_high, extra);
            if (store && cache_path) {
                st = ksa_tune_cache_store(cache_path, &r.entry, 1);
                if (st) {
                    printf("  not stored: %s\n", ksa_last_error());
                    failures++;
                }
            }
        } else {
            char confirm[400] = "";
            if (r.confirmed_run)
                snprintf(confirm, sizeof confirm, "; %d interleaved rounds: built-in %.3f ms, candidate %.3f ms%s%s",
                         r.confirm.rounds, r.confirm_builtin_ms, r.confirm_best_ms, r.confirm_note[0] ? ": " : "",
                         r.confirm_note);
            printf("%s %s: built-in kept (%.3f ms; best candidate %s %.3f ms, not %.0f%% faster%s) %s\n", info.name, shape,
                   r.builtin_ms, r.best_config[0] ? r.best_config : "-", r.best_ms, opt.min_gain * 100, confirm, extra);
            if (r.builtin_marker && store && cache_path) {
                st = ksa_tune_cache_store(cache_path, &r.entry, 1);
                if (st) {
                    printf("  not stored: %s\n", ksa_last_error());
                    failures++;
                }
            }
        }
        if (r.probe_note[0])
            printf("  %s: built-in %.3f ms, winner %.3f ms\n", r.probe_note, r.probe_builtin_ms, r.probe_best_ms);
        if (r.rejected) printf("  rejected %s: %s\n", r.first_rejected, r.reject_reason);
        fflush(stdout);
    }
    if (compare && !json) {
        printf("P9: %d of %d tuned shape(s) slower than the built-in beyond the noise band, %d same within noise, %d faster",
               slower, tuned_shapes, same_noise, faster);
        if (tuned_shapes)
            printf(" (lowest speedup %.3f, band [%.3f, %.3f])", worst.ratio, worst.ratio_low, worst.ratio_high);
        printf("; %d shape(s) use the built-in itself\n", same_code);
    }
    ksa_context_destroy(ctx);
    return failures ? 1 : (compare && slower ? 3 : 0);
}
