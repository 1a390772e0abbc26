/* tuner.c: the measuring driver behind ksa-tune. For one shape it builds random inputs on the
 * device (several sets, rotated between timed calls so caches do not flatter), times the
 * backend's built-in heuristic, then every candidate configuration of the backend's tunable space
 * (exhaustive when small, coordinate descent when large) through the normal ksa_attention() path
 * with ksa_set_config_override(). Before a candidate may win it must pass the reference check on a
 * capped shape of the same class and agree with the built-in's output on the full shape: a fast
 * wrong configuration never wins. A winner is only reported when it beats the built-in by a
 * margin in repeated interleaved confirmation rounds, with the pessimistic edge of the rounds'
 * noise band still faster (ksa_tune_rounds in ksa_autotune.h), so that a tuned entry is not
 * slower than the default run after run. ksa_tune_compare measures P9 with the same rounds. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autotune/ksa_autotune.h"
#include "ksa_half.h"
#include "ksa_internal.h"

#define MAX_SETS 4
#define MAX_BUFS 10
#define MAX_REPEATS 256
#define TUNE_SAMPLE_MS 1.0       /* a timed sample's target length, automatic sample_calls */
#define TUNE_MAX_SAMPLE_CALLS 64 /* calls per sample at most */
#define TUNE_FLUSH_BYTES ((size_t)64 << 20) /* filled before each call of a GPU sample: more than an H100/H200 L2 (50 MB) */
#define MAX_SEARCH 512

ksa_tune_options ksa_tune_options_default(void)
{
    ksa_tune_options o;
    memset(&o, 0, sizeof o);
    o.budget_s = 60.0;
    o.warmup = 2;
    o.repeats = 9;
    o.max_candidates = 48;
    o.min_gain = 0.03;
    o.check_max_len = 300;
    o.seed = 20261123u;
    o.confirm_rounds = 5;
    return o;
}

/* The rounds an options struct asks for (0: the default 5), or INVALID_ARGUMENT with a sentence. */
static ksa_status rounds_of(const ksa_tune_options *o, const char *fn, int32_t *rounds)
{
    int32_t n = o->confirm_rounds ? o->confirm_rounds : 5;
    if (n < 3 || n > KSA_TUNE_MAX_ROUNDS)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                         "%s: confirm_rounds %d is outside 3..%d (fewer than 3 rounds give no noise band)", fn,
                         (int)o->confirm_rounds, KSA_TUNE_MAX_ROUNDS);
    if (!(o->min_gain >= 0 && o->min_gain < 1))
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: min_gain %g is outside [0, 1)", fn, o->min_gain);
    if (o->sample_calls < 0 || o->sample_calls > TUNE_MAX_SAMPLE_CALLS)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: sample_calls %d is outside 0 (automatic) .. %d", fn,
                         (int)o->sample_calls, TUNE_MAX_SAMPLE_CALLS);
    *rounds = n;
    return KSA_STATUS_SUCCESS;
}

const char *ksa_tune_shape_string(const ksa_tune_shape *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s B%d Hq%d Hkv%d D%d Lq%d Lk%d%s", ksa_tune_op_name(s->mode, s->phase), ksa_dtype_name(s->dtype),
             s->batch, s->hq, s->hkv, s->head_dim, s->phase == KSA_PHASE_DECODE ? 1 : s->lq, s->lk, s->paged ? " paged" : "");
    return buf;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static ksa_tune_clock_fn call_clock; /* tests: a simulated clock; NULL: now_s */

void ksa_tune_set_clock(ksa_tune_clock_fn clock) { call_clock = clock; }

static double call_clock_s(void) { return call_clock ? call_clock() : now_s(); }

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---------------------------------------------------------------- judging rounds (ksa_tune_rounds) */
/* The largest rank j >= 1 whose order-statistic interval [x_(j), x_(n+1-j)] of n samples holds
 * their distribution's median with probability >= 0.90: 1 - 2 P(Binomial(n, 1/2) <= j - 1). */
static int band_rank(int n)
{
    int j = 1;
    double below = 1.0; /* sum of C(n, i) for i < j + 1, as the loop moves j up */
    double binom = 1.0; /* C(n, i) */
    double total = ldexp(1.0, n);
    for (int k = 2; 2 * k <= n + 1; k++) {
        binom = binom * (n - (k - 2)) / (k - 1); /* C(n, k - 1) */
        below += binom;                        /* sum of C(n, i), i <= k - 1 */
        if (1.0 - 2.0 * below / total < 0.90) break;
        j = k;
    }
    return j;
}

static void sorted_copy(const double *v, int n, double *out)
{
    memcpy(out, v, sizeof *out * (size_t)n);
    qsort(out, (size_t)n, sizeof *out, cmp_double);
}

static double median_of(const double *v, int n)
{
    double tmp[KSA_TUNE_MAX_ROUNDS];
    memcpy(tmp, v, sizeof *tmp * (size_t)n);
    return median(tmp, n);
}

ksa_status ksa_tune_rounds_summarize(ksa_tune_rounds *r, double min_gain)
{
    if (!r) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_tune_rounds_summarize: r is NULL");
    int n = r->rounds;
    if (n < 1 || n > KSA_TUNE_MAX_ROUNDS)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_tune_rounds_summarize: rounds %d is outside 1..%d", n,
                         KSA_TUNE_MAX_ROUNDS);
    if (!(min_gain >= 0 && min_gain < 1))
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_tune_rounds_summarize: min_gain %g is outside [0, 1)", min_gain);
    for (int i = 0; i < n; i++)
        if (!(r->builtin_ms[i] > 0) || !(r->other_ms[i] > 0))
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                             "ksa_tune_rounds_summarize: round %d has a time that is not positive (builtin_ms %g, other_ms %g)",
                             i, r->builtin_ms[i], r->other_ms[i]);
    double gain_ratio = 1.0 / (1.0 - min_gain);
    r->rounds_gaining = 0;
    for (int i = 0; i < n; i++) {
        r->round_ratio[i] = r->builtin_ms[i] / r->other_ms[i];
        if (r->round_ratio[i] >= gain_ratio) r->rounds_gaining++;
    }
    r->builtin_median_ms = median_of(r->builtin_ms, n);
    r->other_median_ms = median_of(r->other_ms, n);
    r->ratio = median_of(r->round_ratio, n);
    int j = band_rank(n);
    r->band_rank = j;
    double sorted[KSA_TUNE_MAX_ROUNDS];
    sorted_copy(r->round_ratio, n, sorted);
    r->ratio_low = sorted[j - 1];
    r->ratio_high = sorted[n - j];
    sorted_copy(r->builtin_ms, n, sorted);
    r->builtin_low = sorted[j - 1] / r->builtin_median_ms;
    r->builtin_high = sorted[n - j] / r->builtin_median_ms;
    r->verdict = r->ratio_low > 1.0 ? KSA_TUNE_FASTER : r->ratio_high < 1.0 ? KSA_TUNE_SLOWER : KSA_TUNE_SAME;
    return KSA_STATUS_SUCCESS;
}

int ksa_tune_rounds_accept(const ksa_tune_rounds *r, double min_gain, char *why, size_t why_len)
{
    char note[256];
    int ok = 0;
    int needed = r && r->rounds > 1 ? r->rounds - 1 : 1;
    if (!r || r->rounds < 1)
        snprintf(note, sizeof note, "no confirmation rounds were measured");
    else if (!(r->other_median_ms < r->builtin_median_ms * (1.0 - min_gain)))
        snprintf(note, sizeof note, "median of the round medians %.4g ms vs the built-in's %.4g ms: not %.1f%% faster",
                 r->other_median_ms, r->builtin_median_ms, min_gain * 100);
    else if (r->rounds_gaining < needed)
        snprintf(note, sizeof note, "the %.1f%% gain held in %d of %d rounds (%d needed; speedup %.3f, band [%.3f, %.3f])",
                 min_gain * 100, r->rounds_gaining, r->rounds, needed, r->ratio, r->ratio_low, r->ratio_high);
    else if (!(r->ratio_low > 1.0))
        snprintf(note, sizeof note, "the noise band of the speedup [%.3f, %.3f] reaches 1: not faster at its pessimistic edge",
                 r->ratio_low, r->ratio_high);
    else
        ok = 1;
    if (why && why_len) snprintf(why, why_len, "%s", ok ? "" : note);
    return ok;
}

const char *ksa_tune_verdict_name(int32_t verdict)
{
    switch (verdict) {
    case KSA_TUNE_FASTER: return "faster";
    case KSA_TUNE_SLOWER: return "slower";
    case KSA_TUNE_SAME: return "same within noise";
    default: return "unknown";
    }
}

/* ---------------------------------------------------------------- inputs on the device */
typedef struct tune_set {
    ksa_buffer bufs[MAX_BUFS];
    int nbufs;
    ksa_attention_tensors t;
} tune_set;

typedef struct tune_inputs {
    ksa_device dev;
    ksa_tune_shape shape;
    ksa_attention_params params;
    tune_set sets[MAX_SETS];
    int nsets;
    ksa_buffer ws;
    size_t ws_size;
    int calls_per_sample; /* back-to-back calls closed by one synchronisation per timed sample (0: 1) */
    ksa_buffer flush;     /* on a queued device with several calls per sample: filled before each call */
} tune_inputs;

static ksa_status new_tensor(ksa_device dev, tune_set *set, ksa_dtype dt, int ndim, const int64_t *shape, const void *host,
                             uint64_t *rng, ksa_tensor *out)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    size_t bytes = (size_t)n * ksa_dtype_size(dt);
    if (set->nbufs == MAX_BUFS) return ksa_error(KSA_STATUS_INTERNAL, "ksa-tune: too many buffers");
    ksa_buffer buf;
    ksa_status s = ksa_buffer_alloc(dev, bytes ? bytes : 1, &buf);
    if (s) return s;
    set->bufs[set->nbufs++] = buf;
    if (host) {
        s = ksa_buffer_write(buf, 0, host, bytes, NULL);
    } else if (rng) {
        /* random values in [-2, 2], never zero: a pool of up to 4M fresh values per tensor,
         * written in 1M-element chunks taken from pseudo-random offsets of the pool, so a
         * multi-GB tensor costs a copy rather than billions of generator calls */
        enum { CHUNK = 1 << 20, POOL = 1 << 22 };
        size_t es = ksa_dtype_size(dt);
        int64_t pool_n = n < POOL ? n : POOL;
        void *pool = malloc((size_t)pool_n * es);
        if (!pool) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa-tune: out of host memory");
        for (int64_t i = 0; i < pool_n; i++) {
            float x = (float)rng_uniform(rng, -2.0, 2.0);
            if (fabsf(x) < 1e-3f) x = 1e-3f;
            if (dt == KSA_DTYPE_F32) ((float *)pool)[i] = x;
            else if (dt == KSA_DTYPE_F16) ((uint16_t *)pool)[i] = ksa_f32_to_f16(x);
            else ((uint16_t *)pool)[i] = ksa_f32_to_bf16(x);
        }
        for (int64_t off = 0; off < n && !s; off += CHUNK) {
            int64_t m = n - off < CHUNK ? n - off : CHUNK;
            int64_t start = off == 0 ? 0 : (int64_t)(rng_next(rng) % (uint64_t)(pool_n - m + 1));
            s = ksa_buffer_write(buf, (size_t)off * es, (const char *)pool + (size_t)start * es, (size_t)m * es, NULL);
        }
        free(pool);
    } else {
        s = ksa_buffer_fill(buf, 0, bytes, 0xff, NULL);
    }
    if (s) return s;
    *out = ksa_tensor_from_buffer(buf, 0, dt, ndim, shape);
    return KSA_STATUS_SUCCESS;
}

static void inputs_destroy(tune_inputs *in)
{
    for (int s = 0; s < in->nsets; s++)
        for (int i = 0; i < in->sets[s].nbufs; i++) ksa_buffer_free(in->sets[s].bufs[i]);
    if (in->ws) ksa_buffer_free(in->ws);
    if (in->flush) ksa_buffer_free(in->flush);
    memset(in, 0, sizeof *in);
}

static ksa_attention_params params_of(const ksa_tune_shape *s)
{
    ksa_attention_params p = ksa_attention_params_default(s->mode, s->phase);
    if (s->topk_fraction > 0) p.topk.fraction = s->topk_fraction;
    return p;
}

/* Bytes of one input set, for choosing how many sets to rotate. */
static double set_bytes(const ksa_tune_shape *s)
{
    double es = (double)ksa_dtype_size(s->dtype);
    double lq = s->phase == KSA_PHASE_DECODE ? 1 : s->lq;
    return es * s->batch * s->head_dim * (2.0 * lq * s->hq + 2.0 * (double)s->lk * s->hkv);
}

static ksa_status run_config(tune_inputs *in, int set, const char *config, int builtin, double *ms);

static ksa_status build_set(tune_inputs *in, tune_set *set, uint64_t *rng)
{
    const ksa_tune_shape *s = &in->shape;
    ksa_device dev = in->dev;
    ksa_attention_tensors *t = &set->t;
    memset(t, 0, sizeof *t);
    int32_t B = s->batch, lq = s->phase == KSA_PHASE_DECODE ? 1 : s->lq;
    int64_t qshape[4] = {B, lq, s->hq, s->head_dim};
    ksa_status st = new_tensor(dev, set, s->dtype, 4, qshape, NULL, rng, &t->q);
    if (!st) st = new_tensor(dev, set, s->dtype, 4, qshape, NULL, NULL, &t->o);
    if (st) return st;
    if (s->paged) {
        int32_t ps = s->page_size > 0 ? s->page_size : 16;
        int64_t per_seq = (s->lk + ps - 1) / ps, pages = per_seq * B;
        int32_t *table = malloc(sizeof(int32_t) * (size_t)pages), *lens = malloc(sizeof(int32_t) * (size_t)B);
        if (!table || !lens) {
            free(table);
            free(lens);
            return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa-tune: out of host memory");
        }
        for (int64_t i = 0; i < pages; i++) table[i] = (int32_t)i;
        for (int64_t i = pages - 1; i > 0; i--) { /* shuffled pages, as a real cache has them */
            int64_t j = (int64_t)(rng_next(rng) % (uint64_t)(i + 1));
            int32_t x = table[i];
            table[i] = table[j];
            table[j] = x;
        }
        for (int32_t b = 0; b < B; b++) lens[b] = s->lk;
        int64_t kshape[4] = {pages, ps, s->hkv, s->head_dim};
        int64_t tshape[2] = {B, per_seq}, lshape[1] = {B};
        st = new_tensor(dev, set, s->dtype, 4, kshape, NULL, rng, &t->k);
        if (!st) st = new_tensor(dev, set, s->dtype, 4, kshape, NULL, rng, &t->v);
        if (!st) st = new_tensor(dev, set, KSA_DTYPE_I32, 2, tshape, table, NULL, &t->page_table);
        if (!st) st = new_tensor(dev, set, KSA_DTYPE_I32, 1, lshape, lens, NULL, &t->seq_lens_k);
        free(table);
        free(lens);
    } else {
        int64_t kshape[4] = {B, s->lk, s->hkv, s->head_dim};
        st = new_tensor(dev, set, s->dtype, 4, kshape, NULL, rng, &t->k);
        if (!st) st = new_tensor(dev, set, s->dtype, 4, kshape, NULL, rng, &t->v);
    }
    if (st) return st;
    if (s->mode != KSA_MODE_DENSE) {
        int64_t n_tiles, k_slots;
        st = ksa_attention_index_shape(dev, &in->params, t, &n_tiles, &k_slots);
        if (st) return st;
        if (s->phase == KSA_PHASE_DECODE) {
            int64_t ishape[3] = {B, s->hkv, k_slots}, cshape[2] = {B, s->hkv};
            st = new_tensor(dev, set, KSA_DTYPE_I32, 3, ishape, NULL, NULL, &t->indices);
            if (!st) st = new_tensor(dev, set, KSA_DTYPE_I32, 2, cshape, NULL, NULL, &t->counts);
        } else {
            int64_t ishape[4] = {B, s->hkv, n_tiles, k_slots}, cshape[3] = {B, s->hkv, n_tiles};
            st = new_tensor(dev, set, KSA_DTYPE_I32, 4, ishape, NULL, NULL, &t->indices);
            if (!st) st = new_tensor(dev, set, KSA_DTYPE_I32, 3, cshape, NULL, NULL, &t->counts);
        }
    }
    return st;
}

static ksa_status inputs_create(ksa_device dev, const ksa_tune_shape *s, int nsets, uint64_t seed, tune_inputs *in)
{
    memset(in, 0, sizeof *in);
    in->dev = dev;
    in->shape = *s;
    if (in->shape.phase == KSA_PHASE_DECODE) in->shape.lq = 1;
    in->params = params_of(&in->shape);
    uint64_t rng = seed * 6364136223846793005ull + 1442695040888963407ull;
    ksa_status st = KSA_STATUS_SUCCESS;
    for (int i = 0; i < nsets && !st; i++) {
        in->nsets++;
        st = build_set(in, &in->sets[i], &rng);
    }
    if (!st && s->mode == KSA_MODE_REUSE) {
        /* realistic index sets: the backend's own ANCHOR (built-in configuration) on the same inputs */
        ksa_attention_params reuse = in->params;
        in->params.mode = KSA_MODE_ANCHOR;
        for (int i = 0; i < in->nsets && !st; i++) st = run_config(in, i, NULL, 1, NULL);
        in->params = reuse;
    }
    if (st) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", ksa_last_error());
        inputs_destroy(in);
        ksa_error(st, "%s", saved);
    }
    return st;
}

/* Run one timed sample with `config` (NULL: built-in when `builtin`, else whatever dispatch
 * chooses): in->calls_per_sample calls from input set `set` on (rotating over the sets), then one
 * stream synchronisation. With a flush buffer each call follows a fill of it, as peer_torch.py and
 * Triton's do_bench zero a buffer before each call (the call starts on a cold L2, after another
 * kernel, so one attention call cannot overlap the next), and a second sample of the fills alone is
 * subtracted. `ms` (optional) gets the time per call, without the workspace query; NULL: one
 * untimed call. */
static ksa_status run_config(tune_inputs *in, int set, const char *config, int builtin, double *ms)
{
    ksa_status st = ksa_set_config_override(config);
    if (st) return st;
    ksa_autotune_set_enabled(!builtin);
    int calls = ms && in->calls_per_sample > 1 ? in->calls_per_sample : 1;
    ksa_buffer flush = calls > 1 ? in->flush : NULL;
    size_t need = 0; /* the sets share one shape, so one query sizes every call of the sample */
    st = ksa_attention_workspace_size(in->dev, &in->params, &in->sets[set].t, &need);
    if (!st && need > in->ws_size) {
        if (in->ws) ksa_buffer_free(in->ws);
        in->ws = NULL;
        in->ws_size = 0;
        st = ksa_buffer_alloc(in->dev, need, &in->ws);
        if (!st) in->ws_size = need;
    }
    if (!st) {
        ksa_workspace ws;
        memset(&ws, 0, sizeof ws);
        ws.buffer = in->ws;
        ws.size = in->ws_size;
        double t0 = call_clock_s();
        for (int c = 0; c < calls && !st; c++) {
            if (flush) st = ksa_buffer_fill(flush, 0, TUNE_FLUSH_BYTES, (uint8_t)c, NULL);
            if (!st) st = ksa_attention(in->dev, NULL, &in->params, &in->sets[(set + c) % in->nsets].t, in->ws ? &ws : NULL);
        }
        if (!st) st = ksa_stream_synchronize(in->dev, NULL);
        double t = call_clock_s() - t0;
        if (flush && !st) {
            double f0 = call_clock_s();
            for (int c = 0; c < calls && !st; c++) st = ksa_buffer_fill(flush, 0, TUNE_FLUSH_BYTES, (uint8_t)c, NULL);
            if (!st) st = ksa_stream_synchronize(in->dev, NULL);
            t -= call_clock_s() - f0;
        }
        if (ms) *ms = t * 1e3 / calls;
    }
    char saved[1024];
    if (st) snprintf(saved, sizeof saved, "%s", ksa_last_error());
    ksa_set_config_override(NULL);
    ksa_autotune_set_enabled(1);
    if (st) ksa_error(st, "%s", saved);
    return st;
}

/* How many calls one timed sample holds, from one call's time `one_ms` (call and synchronisation).
 * On a backend whose calls are queued on a stream (a GPU's), a single call closed by its own
 * synchronisation carries the launch and synchronisation latency (~10-20 us on the lent H200), a
 * fifth of a 60-us decode call, and a candidate had to be ~4% faster per kernel to clear a 3% bar;
 * so short calls are queued back to back, about TUNE_SAMPLE_MS of calls per sample, each after an L2
 * flush (run_config). Plain back-to-back calls, the way ksa-bench times, measured something else:
 * there the next call's launch overlaps the end of the previous one, and the H200 ranked decode
 * configurations differently from the per-call timing of peer_torch.py (bench/NOTES.md, thirty-fourth
 * session). Calls on host memory (reference, cpu) run synchronously: one call per sample, no flush.
 * sample_calls (ksa_tune_options) > 0 sets the count instead. */
static double set_calls_per_sample(tune_inputs *in, double one_ms, int32_t sample_calls)
{
    int calls = 1;
    if (sample_calls > 0) {
        calls = sample_calls > TUNE_MAX_SAMPLE_CALLS ? TUNE_MAX_SAMPLE_CALLS : sample_calls;
    } else if (!in->dev->backend->host_memory) {
        double want = one_ms > 0 ? TUNE_SAMPLE_MS / one_ms : TUNE_MAX_SAMPLE_CALLS;
        calls = want >= TUNE_MAX_SAMPLE_CALLS ? TUNE_MAX_SAMPLE_CALLS : want > 1 ? (int)ceil(want) : 1;
    }
    in->calls_per_sample = calls;
    double fill_ms = 0;
    if (calls > 1 && !in->dev->backend->host_memory && !in->flush) {
        if (ksa_buffer_alloc(in->dev, TUNE_FLUSH_BYTES, &in->flush)) {
            ksa_clear_error(); /* no room for the flush buffer: samples without it */
            in->flush = NULL;
        } else {
            double t0 = call_clock_s();
            if (ksa_buffer_fill(in->flush, 0, TUNE_FLUSH_BYTES, 1, NULL) || ksa_stream_synchronize(in->dev, NULL))
                ksa_clear_error(); /* a failing fill fails the first sample with its sentence */
            fill_ms = (call_clock_s() - t0) * 1e3;
        }
    }
    /* a sample's wall time, for fitting samples into the budget: each call, and with the flush two
     * fills per call (the sample's and the subtracted one) */
    return calls * (one_ms + 2.0 * fill_ms);
}

/* Median time (ms) of `repeats` calls rotated over the sets, after `warmup` untimed calls. */
static ksa_status time_config(tune_inputs *in, const char *config, int builtin, int warmup, int repeats, double *ms)
{
    double samples[MAX_REPEATS];
    if (repeats > MAX_REPEATS) repeats = MAX_REPEATS;
    if (repeats < 1) repeats = 1;
    for (int i = 0; i < warmup; i++) {
        ksa_status st = run_config(in, i % in->nsets, config, builtin, NULL);
        if (st) return st;
    }
    for (int r = 0; r < repeats; r++) {
        ksa_status st = run_config(in, r % in->nsets, config, builtin, &samples[r]);
        if (st) return st;
    }
    *ms = median(samples, repeats);
    return KSA_STATUS_SUCCESS;
}

static ksa_status poison_outputs(tune_set *set, ksa_mode mode)
{
    ksa_attention_tensors *t = &set->t;
    ksa_status st = ksa_buffer_fill(t->o.buffer, 0, ksa_buffer_size(t->o.buffer), 0xff, NULL);
    if (!st && mode == KSA_MODE_ANCHOR) {
        st = ksa_buffer_fill(t->indices.buffer, 0, ksa_buffer_size(t->indices.buffer), 0xee, NULL);
        if (!st) st = ksa_buffer_fill(t->counts.buffer, 0, ksa_buffer_size(t->counts.buffer), 0xee, NULL);
    }
    return st;
}

/* Reference check of `config` on set 0 of `in`. SUCCESS, CHECK_FAILED (report filled) or the
 * call's own error. */
static ksa_status check_reference(tune_inputs *in, const char *config, int builtin, char *report, size_t len)
{
    ksa_status st = poison_outputs(&in->sets[0], in->params.mode);
    if (!st) st = run_config(in, 0, config, builtin, NULL);
    if (st) {
        snprintf(report, len, "the call failed: %s: %s", ksa_status_string(st), ksa_last_error());
        return st;
    }
    st = ksa_check_against_reference(in->dev, NULL, &in->params, &in->sets[0].t, report, len);
    if (st && !report[0]) snprintf(report, len, "%s", ksa_last_error());
    return st;
}

/* Host copy of set 0's output (and counts) after a call. */
typedef struct host_out {
    void *o;
    size_t o_bytes;
    int32_t *counts;
    size_t c_bytes;
} host_out;

static ksa_status read_outputs(tune_inputs *in, host_out *h)
{
    ksa_attention_tensors *t = &in->sets[0].t;
    h->o_bytes = ksa_buffer_size(t->o.buffer);
    h->o = malloc(h->o_bytes);
    if (!h->o) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa-tune: out of host memory");
    ksa_status st = ksa_buffer_read(h->o, t->o.buffer, 0, h->o_bytes, NULL);
    if (!st && in->params.mode == KSA_MODE_ANCHOR) {
        h->c_bytes = ksa_buffer_size(t->counts.buffer);
        h->counts = malloc(h->c_bytes);
        if (!h->counts) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa-tune: out of host memory");
        st = ksa_buffer_read(h->counts, t->counts.buffer, 0, h->c_bytes, NULL);
    }
    return st;
}

static void host_out_free(host_out *h)
{
    free(h->o);
    free(h->counts);
    memset(h, 0, sizeof *h);
}

static double elem(const void *base, ksa_dtype dt, size_t i)
{
    if (dt == KSA_DTYPE_F32) return ((const float *)base)[i];
    if (dt == KSA_DTYPE_F16) return ksa_f16_to_f32(((const uint16_t *)base)[i]);
    return ksa_bf16_to_f32(((const uint16_t *)base)[i]);
}

/* Candidate vs built-in on the full shape: outputs within twice the dtype's tolerance (both are
 * within one tolerance of the reference), counts identical. */
static int agrees(const host_out *cand, const host_out *ref, ksa_dtype dt, char *report, size_t len)
{
    ksa_tolerance tol = ksa_tolerance_for(dt);
    size_t n = ref->o_bytes / ksa_dtype_size(dt);
    for (size_t i = 0; i < n; i++) {
        double x = elem(cand->o, dt, i), y = elem(ref->o, dt, i);
        if (!(fabs(x - y) <= 2.0 * (tol.atol + tol.rtol * fabs(y)))) {
            snprintf(report, len, "full shape: o[%zu] = %.6g but the built-in configuration gives %.6g", i, x, y);
            return 0;
        }
    }
    if (ref->counts && memcmp(cand->counts, ref->counts, ref->c_bytes) != 0) {
        snprintf(report, len, "full shape: index counts differ from the built-in configuration's");
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- the search space */
static void format_config(const ksa_tunable_space *sp, const int32_t *v, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < sp->num_params && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s=%d", i ? "," : "", sp->params[i].name, v[i]);
}

static int is_default(const ksa_tunable_space *sp, const int32_t *v)
{
    for (int i = 0; i < sp->num_params; i++)
        if (v[i] != sp->params[i].default_value) return 0;
    return 1;
}

static double space_size(const ksa_tunable_space *sp)
{
    double n = 1;
    for (int i = 0; i < sp->num_params; i++) n *= sp->params[i].num_values > 0 ? sp->params[i].num_values : 1;
    return n;
}

/* Exhaustive list (default first) into cand[][KSA_MAX_TUNABLES]; returns the count. */
static int enumerate_all(const ksa_tunable_space *sp, int32_t (*cand)[KSA_MAX_TUNABLES], int max)
{
    int n = 0;
    for (int i = 0; i < sp->num_params; i++) cand[0][i] = sp->params[i].default_value;
    n = 1;
    int idx[KSA_MAX_TUNABLES] = {0};
    for (;;) {
        int32_t v[KSA_MAX_TUNABLES];
        for (int i = 0; i < sp->num_params; i++) v[i] = sp->params[i].values[idx[i]];
        if (!is_default(sp, v) && n < max) {
            memcpy(cand[n], v, sizeof v);
            n++;
        }
        int i = 0;
        while (i < sp->num_params && ++idx[i] == sp->params[i].num_values) idx[i++] = 0;
        if (i == sp->num_params) break;
    }
    return n;
}

/* The backend's space for `p`; parameters named in `frozen` (comma list) keep only their default. */
static ksa_status tunable_space(ksa_device dev, const ksa_problem *p, const char *frozen, ksa_tunable_space *sp)
{
    memset(sp, 0, sizeof *sp);
    ksa_backend *be = dev->backend;
    if (!be->tunables) return KSA_STATUS_SUCCESS;
    ksa_status st = be->tunables(be, dev->index, p, sp);
    if (sp->num_params > KSA_MAX_TUNABLES) sp->num_params = KSA_MAX_TUNABLES;
    for (int i = 0; frozen && i < sp->num_params; i++) {
        size_t n = strlen(sp->params[i].name);
        for (const char *f = frozen; *f;) {
            size_t len = strcspn(f, ",");
            if (len == n && !strncmp(f, sp->params[i].name, n)) {
                sp->params[i].values = &sp->params[i].default_value; /* lives as long as *sp */
                sp->params[i].num_values = 1;
            }
            f += len;
            if (*f == ',') f++;
        }
    }
    return st;
}

/* A resolved problem for a shape without device memory (dry run): the fields tunables() reads. */
static void synthetic_problem(const ksa_tune_shape *s, ksa_problem *p, int32_t *lens_q, int32_t *lens_k, int32_t *zeros)
{
    memset(p, 0, sizeof *p);
    ksa_attention_params ap = params_of(s);
    int32_t lq = s->phase == KSA_PHASE_DECODE ? 1 : s->lq;
    p->mode = s->mode;
    p->phase = s->phase;
    p->dtype = s->dtype;
    p->scale = 1.0f / sqrtf((float)s->head_dim);
    p->topk = ap.topk;
    p->batch = s->batch;
    p->num_q_heads = s->hq;
    p->num_kv_heads = s->hkv;
    p->group_size = s->hkv > 0 ? s->hq / s->hkv : 1;
    p->head_dim = s->head_dim;
    p->kv_layout = s->paged ? KSA_KV_PAGED : KSA_KV_CONTIGUOUS;
    p->page_size = s->paged ? (s->page_size > 0 ? s->page_size : 16) : 0;
    for (int32_t b = 0; b < s->batch; b++) {
        lens_q[b] = lq;
        lens_k[b] = s->lk;
        zeros[b] = 0;
    }
    p->seqlen_q = lens_q;
    p->seqlen_k = lens_k;
    p->q_row0 = zeros;
    p->k_row0 = zeros;
    p->max_seqlen_q = lq;
    p->max_seqlen_k = s->lk;
    p->total_q = (int64_t)lq * s->batch;
    p->n_tiles = s->phase == KSA_PHASE_DECODE ? 1 : (lq + p->topk.tile_size - 1) / p->topk.tile_size;
    int64_t slots = ksa_index_slots(&p->topk, s->phase, s->lk);
    p->k_slots = slots > 0 ? slots : 1;
}

static ksa_status validate_shape(const ksa_tune_shape *s)
{
    if (s->batch < 1 || s->hq < 1 || s->hkv < 1 || s->head_dim < 1 || s->lk < 1 || (s->phase == KSA_PHASE_PREFILL && s->lq < 1))
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa-tune: shape sizes must be positive");
    if (s->hq % s->hkv) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa-tune: Hq %d is not a multiple of Hkv %d", s->hq, s->hkv);
    if (s->phase == KSA_PHASE_PREFILL && s->lq > s->lk)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa-tune: Lq %d exceeds Lk %d", s->lq, s->lk);
    if (s->batch > 4096) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa-tune: batch %d is too large", s->batch);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_tune_list_candidates(ksa_device dev, const ksa_tune_shape *s, const ksa_tune_options *o,
                                    ksa_tunable_space *space, char (*configs)[KSA_TUNE_CONFIG_MAX], int32_t max_configs,
                                    int32_t *count, int32_t *exhaustive)
{
    ksa_clear_error();
    if (!dev || !s || !space || !count) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_tune_list_candidates: NULL argument");
    ksa_status st = validate_shape(s);
    if (st) return st;
    ksa_tune_options opt = o ? *o : ksa_tune_options_default();
    int32_t *lens = malloc(sizeof(int32_t) * 3 * (size_t)s->batch);
    if (!lens) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa-tune: out of host memory");
    ksa_problem p;
    synthetic_problem(s, &p, lens, lens + s->batch, lens + 2 * s->batch);
    st = tunable_space(dev, &p, opt.frozen, space);
    free(lens);
    *count = 0;
    if (exhaustive) *exhaustive = 1;
    if (st || space->num_params == 0) return st;
    int32_t cand[MAX_SEARCH][KSA_MAX_TUNABLES];
    int32_t cur[KSA_MAX_TUNABLES] = {0};
    int n;
    if (space_size(space) <= opt.max_candidates && space_size(space) <= MAX_SEARCH) {
        n = enumerate_all(space, cand, MAX_SEARCH);
    } else {
        /* first coordinate-descent pass from the defaults */
        if (exhaustive) *exhaustive = 0;
        for (int i = 0; i < space->num_params; i++) cur[i] = space->params[i].default_value;
        memcpy(cand[0], cur, sizeof cur);
        n = 1;
        for (int i = 0; i < space->num_params; i++)
            for (int v = 0; v < space->params[i].num_values && n < MAX_SEARCH; v++) {
                if (space->params[i].values[v] == cur[i]) continue;
                memcpy(cand[n], cur, sizeof cur);
                cand[n][i] = space->params[i].values[v];
                n++;
            }
    }
    for (int i = 0; i < n && i < max_configs; i++) format_config(space, cand[i], configs[i], KSA_TUNE_CONFIG_MAX);
    *count = n;
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- tuning one shape */
typedef struct search_state {
    tune_inputs full, check;
    int check_is_full;
    host_out builtin_out;
    ksa_tune_result *r;
    const ksa_tune_options *o;
    int warmup, repeats;
    double one_call_s; /* one timed sample of the built-in (full.calls_per_sample calls), before the search */
    double t_start;
    int done, total_estimate;
} search_state;

static void progress(search_state *ss, const char *what)
{
    if (!ss->o->progress) return;
    double f1 = ss->total_estimate > 0 ? (double)ss->done / ss->total_estimate : 0;
    double f2 = ss->o->budget_s > 0 ? (now_s() - ss->t_start) / ss->o->budget_s : 0;
    double f = f1 > f2 ? f1 : f2;
    ss->o->progress(ss->o->progress_user, f > 1 ? 1 : f, what);
}

/* Check and time one candidate. Returns 1 with *ms when it passed, 0 when rejected or failed. */
static int try_candidate(search_state *ss, const ksa_tunable_space *sp, const int32_t *v, double *ms)
{
    char cfg[KSA_TUNE_CONFIG_MAX], report[512];
    format_config(sp, v, cfg, sizeof cfg);
    ksa_tune_result *r = ss->r;
    progress(ss, cfg);
    report[0] = '\0';
    int ok = 1;
    /* 1: the reference, on the capped shape of the same class */
    ksa_status st = check_reference(&ss->check, cfg, 0, report, sizeof report);
    if (st == KSA_STATUS_INVALID_ARGUMENT && !ss->check_is_full) {
        /* the capped shape's space does not admit this value: the full-shape comparison with the
         * (reference-checked) built-in below still guards it */
        ksa_clear_error();
        st = KSA_STATUS_SUCCESS;
    }
    /* a backend refusing a combination of values (UNSUPPORTED, INVALID_ARGUMENT) is not a wrong
     * result: it is counted apart */
    int refused = 0;
    if (st) {
        ok = 0;
        refused = st == KSA_STATUS_UNSUPPORTED || st == KSA_STATUS_INVALID_ARGUMENT;
    }
    /* 2: the full shape, against the built-in's output */
    if (ok) {
        host_out h;
        memset(&h, 0, sizeof h);
        st = poison_outputs(&ss->full.sets[0], ss->full.params.mode);
        if (!st) st = run_config(&ss->full, 0, cfg, 0, NULL);
        if (!st) st = read_outputs(&ss->full, &h);
        if (st) {
            snprintf(report, sizeof report, "the call failed: %s: %s", ksa_status_string(st), ksa_last_error());
            ok = 0;
            refused = st == KSA_STATUS_UNSUPPORTED || st == KSA_STATUS_INVALID_ARGUMENT;
        } else if (!agrees(&h, &ss->builtin_out, ss->full.shape.dtype, report, sizeof report)) {
            ok = 0;
        }
        host_out_free(&h);
    }
    if (ok) {
        st = time_config(&ss->full, cfg, 0, ss->warmup, ss->repeats, ms);
        if (st) {
            snprintf(report, sizeof report, "the call failed: %s: %s", ksa_status_string(st), ksa_last_error());
            ok = 0;
        }
    }
    ss->done++;
    if (!ok && refused) {
        if (!r->refused) snprintf(r->first_refused, sizeof r->first_refused, "%s: %s", cfg, report);
        r->refused++;
        ksa_log("ksa-tune: candidate %s refused by the backend: %s", cfg, report);
        ksa_clear_error();
        return 0;
    }
    if (!ok) {
        if (!r->rejected) {
            snprintf(r->first_rejected, sizeof r->first_rejected, "%s", cfg);
            snprintf(r->reject_reason, sizeof r->reject_reason, "%s", report);
        }
        r->rejected++;
        ksa_log("ksa-tune: candidate %s rejected: %s", cfg, report);
        ksa_clear_error();
        return 0;
    }
    r->measured++;
    return 1;
}

/* `rounds` rounds of the built-in against `config` (NULL: whatever dispatch picks with the lookup
 * on), `calls` timed calls per side and round after `warmup` untimed calls per side. Within a round
 * the sides alternate call by call, which one goes first swapping every pair and every round; the
 * input sets rotate call pair by call pair across the rounds. Summarized with min_gain. */
static ksa_status measure_rounds(tune_inputs *in, const char *config, int rounds, int calls, int warmup, double min_gain,
                                 ksa_tune_rounds *out)
{
    double tb[MAX_REPEATS], tc[MAX_REPEATS];
    if (calls > MAX_REPEATS) calls = MAX_REPEATS;
    if (calls < 1) calls = 1;
    if (rounds > KSA_TUNE_MAX_ROUNDS) rounds = KSA_TUNE_MAX_ROUNDS;
    if (rounds < 1) rounds = 1;
    memset(out, 0, sizeof *out);
    ksa_status st = KSA_STATUS_SUCCESS;
    for (int i = 0; i < warmup && !st; i++) {
        st = run_config(in, i % in->nsets, NULL, 1, NULL);
        if (!st) st = run_config(in, i % in->nsets, config, 0, NULL);
    }
    int pair = 0;
    for (int round = 0; round < rounds && !st; round++) {
        for (int i = 0; i < calls && !st; i++, pair++) {
            int set = pair % in->nsets;
            if ((i + round) & 1) {
                st = run_config(in, set, config, 0, &tc[i]);
                if (!st) st = run_config(in, set, NULL, 1, &tb[i]);
            } else {
                st = run_config(in, set, NULL, 1, &tb[i]);
                if (!st) st = run_config(in, set, config, 0, &tc[i]);
            }
            /* a clock too coarse for one call reads 0: count it as 1 ns */
            if (tb[i] <= 0) tb[i] = 1e-6;
            if (tc[i] <= 0) tc[i] = 1e-6;
        }
        if (st) break;
        out->builtin_ms[round] = median(tb, calls);
        out->other_ms[round] = median(tc, calls);
    }
    if (st) return st;
    out->rounds = rounds;
    out->calls_per_round = calls;
    out->calls_per_sample = in->calls_per_sample > 1 ? in->calls_per_sample : 1;
    return ksa_tune_rounds_summarize(out, min_gain);
}

ksa_status ksa_tune_shape_run(ksa_device dev, const ksa_tune_shape *s_in, const ksa_tune_options *o_in, ksa_tune_result *r)
{
    ksa_clear_error();
    if (!dev || !s_in || !r) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_tune_shape_run: NULL argument");
    memset(r, 0, sizeof *r);
    ksa_status st = validate_shape(s_in);
    if (st) return st;
    ksa_tune_options o = o_in ? *o_in : ksa_tune_options_default();
    int32_t rounds = 0;
    st = rounds_of(&o, "ksa_tune_shape_run", &rounds);
    if (st) return st;
    if (o.check_max_len < 32) o.check_max_len = 32;
    ksa_tune_shape s = *s_in;
    if (s.phase == KSA_PHASE_DECODE) s.lq = 1;
    search_state ss;
    memset(&ss, 0, sizeof ss);
    ss.r = r;
    ss.o = &o;
    ss.t_start = now_s();
    ss.warmup = o.warmup;
    ss.repeats = o.repeats;

    /* inputs: rotate up to 4 sets within ~512 MB */
    double sb = set_bytes(&s);
    int nsets = sb > 0 ? (int)(512e6 / sb) : MAX_SETS;
    if (nsets > MAX_SETS) nsets = MAX_SETS;
    if (nsets < 1) nsets = 1;
    st = inputs_create(dev, &s, nsets, o.seed, &ss.full);
    if (st) return st;
    /* the capped check shape: same class except the lengths (and batch) */
    ksa_tune_shape cs = s;
    int cap = o.check_max_len;
    if (s.phase == KSA_PHASE_DECODE) {
        if (cs.lk > 8 * cap) cs.lk = 8 * cap;
        if (cs.batch > 4) cs.batch = 4;
    } else {
        if (cs.lk > cap) cs.lk = cap;
        if (cs.lq > cs.lk) cs.lq = cs.lk;
        if (cs.batch > 2) cs.batch = 2;
    }
    ss.check_is_full = cs.lk == s.lk && cs.lq == s.lq && cs.batch == s.batch;
    st = inputs_create(dev, &cs, 1, o.seed + 1, &ss.check);
    if (st) {
        inputs_destroy(&ss.full);
        return st;
    }
    ss.t_start = now_s(); /* the budget covers measuring, not building the inputs */
    ksa_problem p;
    ksa_problem_storage storage;
    memset(&storage, 0, sizeof storage);
    st = ksa_resolve_problem(dev, NULL, &ss.full.params, &ss.full.sets[0].t, &p, &storage);
    if (!st) st = tunable_space(dev, &p, o.frozen, &r->space);
    if (!st) {
        ksa_tune_signature_of(&dev->info, &r->entry.sig);
        ksa_tune_class_of(&p, dev->backend->name, &r->entry.cls);
    }
    ksa_problem_storage_release(&storage);
    char report[512];
    report[0] = '\0';
    /* the built-in must itself pass the reference check */
    if (!st) {
        st = check_reference(&ss.check, NULL, 1, report, sizeof report);
        if (st)
            st = ksa_error(st, "ksa-tune: the built-in configuration of backend %s fails the reference check: %s",
                           dev->backend->name, report);
    }
    if (!st) {
        st = poison_outputs(&ss.full.sets[0], ss.full.params.mode);
        if (!st) st = run_config(&ss.full, 0, NULL, 1, NULL);
        if (!st) st = read_outputs(&ss.full, &ss.builtin_out);
    }
    if (!st) {
        /* one untimed call tells how long a call takes: fit the repeats into the budget */
        double one_ms = 0;
        st = run_config(&ss.full, 0, NULL, 1, &one_ms);
        double one = st ? 0 : set_calls_per_sample(&ss.full, one_ms, o.sample_calls) * 1e-3; /* one timed sample */
        ss.one_call_s = one;
        int calls = o.budget_s > 0 && one > 0 ? (int)(0.1 * o.budget_s / one) : ss.repeats;
        if (calls < ss.repeats) ss.repeats = calls < 3 ? 3 : calls;
        if (one > 0.5 && ss.warmup > 1) ss.warmup = 1;
    }
    if (!st) st = time_config(&ss.full, NULL, 1, ss.warmup, ss.repeats, &r->builtin_ms);
    if (st || r->space.num_params == 0) {
        host_out_free(&ss.builtin_out);
        inputs_destroy(&ss.full);
        inputs_destroy(&ss.check);
        r->best_ms = r->builtin_ms;
        return st;
    }

    int32_t cand[MAX_SEARCH][KSA_MAX_TUNABLES];
    int32_t best[KSA_MAX_TUNABLES];
    int have_best = 0;
    double best_ms = 0;
    const ksa_tunable_space *sp = &r->space;
    double size = space_size(sp);
    if (size <= o.max_candidates && size <= MAX_SEARCH) {
        int n = enumerate_all(sp, cand, MAX_SEARCH);
        r->num_candidates = n;
        ss.total_estimate = n;
        for (int i = 0; i < n; i++) {
            if (now_s() - ss.t_start > o.budget_s) {
                r->budget_exhausted = 1;
                break;
            }
            double ms;
            if (try_candidate(&ss, sp, cand[i], &ms) && (!have_best || ms < best_ms)) {
                memcpy(best, cand[i], sizeof best);
                best_ms = ms;
                have_best = 1;
            }
        }
    } else {
        /* coordinate descent from the defaults, at most 3 passes */
        int32_t cur[KSA_MAX_TUNABLES] = {0};
        for (int i = 0; i < sp->num_params; i++) cur[i] = sp->params[i].default_value;
        int per_pass = 0;
        for (int i = 0; i < sp->num_params; i++) per_pass += sp->params[i].num_values - 1;
        r->num_candidates = 1 + per_pass;
        ss.total_estimate = 1 + 2 * per_pass;
        double ms;
        if (try_candidate(&ss, sp, cur, &ms)) {
            memcpy(best, cur, sizeof best);
            best_ms = ms;
            have_best = 1;
        }
        for (int pass = 0; pass < 3 && !r->budget_exhausted; pass++) {
            int improved = 0;
            for (int i = 0; i < sp->num_params && !r->budget_exhausted; i++) {
                int32_t base[KSA_MAX_TUNABLES];
                memcpy(base, have_best ? best : cur, sizeof base);
                for (int v = 0; v < sp->params[i].num_values; v++) {
                    if (sp->params[i].values[v] == base[i]) continue;
                    if (now_s() - ss.t_start > o.budget_s) {
                        r->budget_exhausted = 1;
                        break;
                    }
                    int32_t c[KSA_MAX_TUNABLES];
                    memcpy(c, base, sizeof c);
                    c[i] = sp->params[i].values[v];
                    if (pass > 0) r->num_candidates++;
                    if (try_candidate(&ss, sp, c, &ms) && (!have_best || ms < best_ms)) {
                        memcpy(best, c, sizeof best);
                        best_ms = ms;
                        have_best = 1;
                        improved = 1;
                    }
                }
            }
            if (!improved) break;
        }
    }
    r->best_ms = r->builtin_ms;
    if (have_best) {
        r->best_ms = best_ms;
        format_config(sp, best, r->best_config, sizeof r->best_config);
    }
    /* confirmation: rounds of interleaved built-in vs winner; record only a gain that holds round
     * after round (ksa_tune_rounds_accept), and only when the winner is not slower at the lower
     * edge of the class's buckets either */
    if (have_best && best_ms < r->builtin_ms * (1.0 - o.min_gain)) {
        /* calls per side and round: the search's repeats, fewer when the rounds would take more
         * than a quarter of the budget (at least 3) */
        int calls = ss.repeats;
        if (o.budget_s > 0 && ss.one_call_s > 0) {
            double fit = 0.25 * o.budget_s / (ss.one_call_s * 2.0 * rounds);
            if (fit < calls) calls = fit < 3 ? 3 : (int)fit;
        }
        char what[KSA_TUNE_CONFIG_MAX + 16];
        snprintf(what, sizeof what, "confirming %s", r->best_config);
        progress(&ss, what);
        st = measure_rounds(&ss.full, r->best_config, rounds, calls, ss.warmup, o.min_gain, &r->confirm);
        int ok = 0;
        if (!st) {
            r->confirmed_run = 1;
            r->confirm_builtin_ms = r->confirm.builtin_median_ms;
            r->confirm_best_ms = r->confirm.other_median_ms;
            ok = ksa_tune_rounds_accept(&r->confirm, o.min_gain, r->confirm_note, sizeof r->confirm_note);
        } else {
            snprintf(r->confirm_note, sizeof r->confirm_note, "the confirmation failed: %s", ksa_last_error());
        }
        double mb = r->confirm.builtin_median_ms, mw = r->confirm.other_median_ms;
        ksa_tune_shape probe = s;
        int64_t lk_edge = ksa_tune_bucket(s.lk) / 2 + 1, b_edge = ksa_tune_bucket(s.batch) / 2 + 1;
        if (lk_edge < 1) lk_edge = 1;
        if (s.lk > 1 && lk_edge < (int64_t)s.lk * 9 / 10) {
            probe.lk = (int32_t)lk_edge;
            if (s.phase == KSA_PHASE_PREFILL) {
                probe.lq = (int32_t)((int64_t)s.lq * lk_edge / s.lk);
                if (probe.lq < 1) probe.lq = 1;
            }
        }
        if (s.batch > 1 && b_edge < s.batch) probe.batch = (int32_t)b_edge;
        if (ok && (probe.lk != s.lk || probe.batch != s.batch)) {
            tune_inputs pin;
            char shape[160];
            ksa_tune_shape_string(&probe, shape, sizeof shape);
            snprintf(what, sizeof what, "lower edge %s", shape);
            progress(&ss, what);
            st = inputs_create(dev, &probe, 2, o.seed + 3, &pin);
            if (!st) {
                double one_ms = 0;
                st = run_config(&pin, 0, NULL, 1, &one_ms);
                if (!st) set_calls_per_sample(&pin, one_ms, o.sample_calls);
                if (!st) st = measure_rounds(&pin, r->best_config, rounds, calls, ss.warmup, o.min_gain, &r->probe);
                inputs_destroy(&pin);
            }
            /* refused: a failed call, a median more than min_gain / 2 slower, or slower beyond the
             * noise band (what ksa-tune --compare would call "slower" there) */
            const ksa_tune_rounds *pr = &r->probe;
            if (st || pr->other_median_ms > pr->builtin_median_ms * (1.0 + 0.5 * o.min_gain) || pr->verdict == KSA_TUNE_SLOWER) {
                ok = 0;
                if (st)
                    snprintf(r->probe_note, sizeof r->probe_note, "at the bucket's lower edge (%s) the winner failed", shape);
                else
                    snprintf(r->probe_note, sizeof r->probe_note,
                             "at the bucket's lower edge (%s) the winner is slower (speedup %.3f, band [%.3f, %.3f])", shape,
                             pr->ratio, pr->ratio_low, pr->ratio_high);
            }
            r->probe_builtin_ms = pr->builtin_median_ms;
            r->probe_best_ms = pr->other_median_ms;
        }
        if (ok) {
            r->improved = 1;
            r->builtin_ms = mb;
            r->best_ms = mw;
            ksa_tune_entry *e = &r->entry;
            e->num_params = sp->num_params;
            for (int i = 0; i < sp->num_params; i++) {
                snprintf(e->names[i], sizeof e->names[i], "%s", sp->params[i].name);
                e->values[i] = best[i];
            }
            e->tuned_us = mw * 1e3;
            e->builtin_us = mb * 1e3;
            e->timestamp = (int64_t)time(NULL);
        }
        ksa_clear_error();
        st = KSA_STATUS_SUCCESS;
    }
    if (!r->improved && r->measured > 0) {
        /* record that the built-in won here, so no neighbouring class's winner is used instead */
        r->builtin_marker = 1;
        r->entry.num_params = 0;
        r->entry.tuned_us = r->entry.builtin_us = r->builtin_ms * 1e3;
        r->entry.timestamp = (int64_t)time(NULL);
    }
    progress(&ss, "done");
    host_out_free(&ss.builtin_out);
    inputs_destroy(&ss.full);
    inputs_destroy(&ss.check);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_tune_compare_rounds(ksa_device dev, const ksa_tune_shape *s_in, const ksa_tune_options *o_in,
                                   ksa_tune_comparison *out)
{
    ksa_clear_error();
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_tune_compare_rounds: dev is NULL");
    if (!s_in) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_tune_compare_rounds: shape is NULL");
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_tune_compare_rounds: out is NULL");
    memset(out, 0, sizeof *out);
    out->source = "builtin";
    ksa_status st = validate_shape(s_in);
    if (st) return st;
    ksa_tune_options o = o_in ? *o_in : ksa_tune_options_default();
    int32_t rounds = 0;
    st = rounds_of(&o, "ksa_tune_compare", &rounds);
    if (st) return st;
    ksa_tune_shape s = *s_in;
    double sb = set_bytes(&s);
    int nsets = sb > 0 ? (int)(512e6 / sb) : MAX_SETS;
    if (nsets > MAX_SETS) nsets = MAX_SETS;
    if (nsets < 1) nsets = 1;
    tune_inputs in;
    st = inputs_create(dev, &s, nsets, o.seed + 7, &in);
    if (st) return st;
    /* what the lookup chooses for this problem */
    const char *src = "builtin";
    ksa_problem p;
    ksa_problem_storage storage;
    memset(&storage, 0, sizeof storage);
    ksa_tunable_space sp;
    st = ksa_resolve_problem(dev, NULL, &in.params, &in.sets[0].t, &p, &storage);
    if (!st) st = tunable_space(dev, &p, NULL, &sp);
    if (!st && sp.num_params > 0) {
        int32_t v[KSA_MAX_TUNABLES];
        const char *ls = NULL;
        if (ksa_autotune_lookup(dev, &p, &sp, v, &ls)) {
            src = ls;
            format_config(&sp, v, out->config, sizeof out->config);
        } else if (ls) {
            src = ls; /* a "built-in is best" marker */
        }
    }
    ksa_problem_storage_release(&storage);
    /* calls per side and round: at least the repeats, more for short calls (about 50 ms per side
     * and round), so that short calls are not judged on a few samples */
    int calls = o.repeats;
    if (!st) {
        double one = 0;
        st = run_config(&in, 0, NULL, 1, &one);
        if (!st) one = set_calls_per_sample(&in, one, o.sample_calls); /* one timed sample */
        double want = one > 0 ? 50.0 / one : 0;
        if (!st && want > calls) calls = want > MAX_REPEATS ? MAX_REPEATS : (int)want;
    }
    /* config NULL with the lookup enabled: what dispatch picks (tuned, or built-in if none) */
    if (!st) st = measure_rounds(&in, NULL, rounds, calls, o.warmup, o.min_gain, &out->rounds);
    if (!st) {
        out->source = src;
        out->same_code = !strcmp(src, "builtin") || strstr(src, ":builtin") != NULL;
        out->builtin_ms = out->rounds.builtin_median_ms;
        out->tuned_ms = out->rounds.other_median_ms;
    }
    char saved[1024];
    if (st) snprintf(saved, sizeof saved, "%s", ksa_last_error());
    inputs_destroy(&in);
    if (st) ksa_error(st, "%s", saved);
    return st;
}

ksa_status ksa_tune_compare(ksa_device dev, const ksa_tune_shape *s_in, const ksa_tune_options *o_in, double *builtin_ms,
                            double *tuned_ms, char *config, size_t config_len, const char **source)
{
    if (!builtin_ms || !tuned_ms)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_tune_compare: %s is NULL", builtin_ms ? "tuned_ms" : "builtin_ms");
    ksa_tune_comparison c;
    ksa_status st = ksa_tune_compare_rounds(dev, s_in, o_in, &c);
    if (st) return st;
    *builtin_ms = c.builtin_ms;
    *tuned_ms = c.tuned_ms;
    if (config && config_len) snprintf(config, config_len, "%s", c.config);
    if (source) *source = c.source;
    return KSA_STATUS_SUCCESS;
}
