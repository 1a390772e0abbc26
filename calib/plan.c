/* plan.c: the Kascade plan (anchors + head-map table + tensor-parallel shard count): validation,
 * the .npy head-map tables of the shipped calibrations (anchors from the "_layers_0_2_8_13_14" file
 * name), the text schedule file of calib/SCHEDULE-FORMAT.md (reader and writer), and applying a
 * plan to a ksa_schedule (the whole model or one rank's shard of KV heads). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_internal.h"

#define MAX_LAYERS 65536

ksa_status ksa_calib_plan_init(ksa_calib_plan *plan, int32_t n, int32_t h, int32_t k)
{
    if (!plan) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_init: plan is NULL");
    memset(plan, 0, sizeof *plan);
    if (n < 1 || n > MAX_LAYERS)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_init: num_layers is %d; it must be in 1..%d", n, MAX_LAYERS);
    if (h < 1 || h > KSA_MAX_KV_HEADS)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_init: num_kv_heads is %d; it must be in 1..%d", h,
                         KSA_MAX_KV_HEADS);
    if (k < 1 || k > n)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_init: num_anchors is %d; it must be in 1..%d", k, n);
    plan->anchors = malloc(sizeof(int32_t) * (size_t)k);
    plan->head_maps = malloc(sizeof(int32_t) * (size_t)n * (size_t)h);
    if (!plan->anchors || !plan->head_maps) {
        ksa_calib_plan_free(plan);
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa_calib_plan_init: cannot allocate a plan of %d layers", n);
    }
    plan->num_layers = n;
    plan->num_kv_heads = h;
    plan->num_anchors = k;
    plan->num_shards = 1;
    for (int32_t i = 0; i < k; i++) plan->anchors[i] = i; /* a valid placeholder until filled */
    for (int32_t l = 0; l < n; l++)
        for (int32_t g = 0; g < h; g++) plan->head_maps[(size_t)l * h + g] = g;
    return KSA_STATUS_SUCCESS;
}

void ksa_calib_plan_free(ksa_calib_plan *plan)
{
    if (!plan) return;
    free(plan->anchors);
    free(plan->head_maps);
    memset(plan, 0, sizeof *plan);
}

/* The plan's shard count (0, the value of a plan zeroed by hand, means 1). */
static int32_t plan_shards(const ksa_calib_plan *p) { return p->num_shards == 0 ? 1 : p->num_shards; }

/* Validation shared by the public call (INVALID_ARGUMENT) and the readers (INVALID_FILE). */
static ksa_status validate_as(const ksa_calib_plan *p, ksa_status code, const char *what)
{
    if (!p) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: plan is NULL", what);
    if (p->num_layers < 1 || p->num_layers > MAX_LAYERS)
        return ksa_error(code, "%s: num_layers is %d; it must be in 1..%d", what, p->num_layers, MAX_LAYERS);
    if (p->num_kv_heads < 1 || p->num_kv_heads > KSA_MAX_KV_HEADS)
        return ksa_error(code, "%s: num_kv_heads is %d; it must be in 1..%d", what, p->num_kv_heads, KSA_MAX_KV_HEADS);
    if (p->num_anchors < 1 || p->num_anchors > p->num_layers)
        return ksa_error(code, "%s: num_anchors is %d; it must be in 1..%d", what, p->num_anchors, p->num_layers);
    if (!p->anchors || !p->head_maps) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: the plan has no arrays", what);
    if (p->anchors[0] != 0) return ksa_error(code, "%s: the first anchor is layer %d; layer 0 must be an anchor", what, p->anchors[0]);
    for (int32_t i = 1; i < p->num_anchors; i++)
        if (p->anchors[i] <= p->anchors[i - 1] || p->anchors[i] >= p->num_layers)
            return ksa_error(code, "%s: anchor %d is layer %d; anchors must be strictly increasing layers below %d", what, i,
                             p->anchors[i], p->num_layers);
    int32_t h = p->num_kv_heads, shards = plan_shards(p);
    ksa_status st = ksa_calib_check_shards(what, h, shards, code);
    if (st) return st;
    int32_t shard_size = h / shards;
    int32_t ai = 0;
    for (int32_t l = 0; l < p->num_layers; l++) {
        int is_anchor = ai < p->num_anchors && p->anchors[ai] == l;
        if (is_anchor) ai++;
        for (int32_t g = 0; g < h; g++) {
            int32_t m = p->head_maps[(size_t)l * h + g];
            if (m < 0 || m >= h)
                return ksa_error(code, "%s: head map of layer %d, KV head %d is %d; it must be in 0..%d", what, l, g, m, h - 1);
            if (is_anchor && m != g)
                return ksa_error(code, "%s: layer %d is an anchor but its head-map row is not the identity (KV head %d -> %d)",
                                 what, l, g, m);
            int32_t first = ksa_calib_shard_first(g, shard_size);
            if (m < first || m >= first + shard_size)
                return ksa_error(code,
                                 "%s: head map of layer %d, KV head %d is %d, outside its shard (KV heads %d..%d of %d shards); "
                                 "a sharded plan keeps every map inside its shard",
                                 what, l, g, m, first, first + shard_size - 1, shards);
        }
    }
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_plan_validate(const ksa_calib_plan *plan)
{
    ksa_clear_error();
    return validate_as(plan, KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_validate");
}

/* ---------------------------------------------------------------- .npy head-map tables */
ksa_status ksa_calib_anchors_from_filename(const char *path, int32_t *anchors, int32_t max_anchors, int32_t *n_anchors,
                                           char *model, size_t model_len)
{
    static const char *fn = "ksa_calib_anchors_from_filename";
    if (!path || !anchors || !n_anchors) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: path, anchors or n_anchors is NULL", fn);
    *n_anchors = 0;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    /* the last "_layers_" in the base name */
    const char *tag = NULL;
    for (const char *s = strstr(base, "_layers_"); s; s = strstr(s + 1, "_layers_")) tag = s;
    if (!tag) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: '%s' has no '_layers_<a>_<b>...' part naming the anchors", fn, base);
    const char *s = tag + 8;
    int32_t n = 0;
    for (;;) {
        if (!isdigit((unsigned char)*s)) break;
        long v = 0;
        while (isdigit((unsigned char)*s)) {
            v = v * 10 + (*s - '0');
            if (v > MAX_LAYERS) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: '%s' names a layer beyond %d", fn, base, MAX_LAYERS);
            s++;
        }
        if (n >= max_anchors) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: '%s' names more than %d anchors", fn, base, max_anchors);
        anchors[n++] = (int32_t)v;
        if (*s == '_') {
            s++;
            continue;
        }
        break;
    }
    if (n == 0 || (*s != '\0' && *s != '.'))
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: '%s': the '_layers_' part is not a list of layer numbers", fn, base);
    *n_anchors = n;
    if (model && model_len) {
        size_t len = (size_t)(tag - base);
        if (len >= model_len) len = model_len - 1;
        memcpy(model, base, len);
        model[len] = '\0';
    }
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_plan_load_npy(const char *path, const int32_t *anchors, int32_t n_anchors, ksa_calib_plan *out)
{
    ksa_clear_error();
    static const char *fn = "ksa_calib_plan_load_npy";
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!path) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: path is NULL", fn);
    int32_t parsed[1024];
    char model[KSA_CALIB_MODEL_MAX] = "";
    if (!anchors) {
        ksa_status st = ksa_calib_anchors_from_filename(path, parsed, 1024, &n_anchors, model, sizeof model);
        if (st) return st;
        anchors = parsed;
    }
    ksa_npy_array a;
    ksa_status st = ksa_npy_read(path, &a);
    if (st) return st;
    if (a.dtype != KSA_NPY_I32 || a.ndim != 2) {
        ksa_npy_free(&a);
        return ksa_error(KSA_STATUS_INVALID_FILE, "%s: a head-map table is int32 [layers, kv_heads]; this file is not", path);
    }
    if (a.shape[0] < 1 || a.shape[0] > MAX_LAYERS || a.shape[1] < 1 || a.shape[1] > KSA_MAX_KV_HEADS) {
        ksa_npy_free(&a);
        return ksa_error(KSA_STATUS_INVALID_FILE, "%s: shape [%lld, %lld] is outside 1..%d layers, 1..%d KV heads", path,
                         (long long)a.shape[0], (long long)a.shape[1], MAX_LAYERS, KSA_MAX_KV_HEADS);
    }
    int32_t n = (int32_t)a.shape[0], h = (int32_t)a.shape[1];
    if (n_anchors < 1 || n_anchors > n) {
        ksa_npy_free(&a);
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: %d anchors for a table of %d layers", path, n_anchors, n);
    }
    st = ksa_calib_plan_init(out, n, h, n_anchors);
    if (st) {
        ksa_npy_free(&a);
        return st;
    }
    memcpy(out->anchors, anchors, sizeof(int32_t) * (size_t)n_anchors);
    memcpy(out->head_maps, a.data, sizeof(int32_t) * (size_t)n * (size_t)h);
    snprintf(out->model, sizeof out->model, "%s", model);
    ksa_npy_free(&a);
    /* bad anchors given by the caller are the caller's; a table that disagrees is the file's */
    for (int32_t i = 0; i < n_anchors; i++)
        if (anchors[i] < 0 || anchors[i] >= n || (i && anchors[i] <= anchors[i - 1]) || anchors[0] != 0) {
            ksa_calib_plan_free(out);
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                             "%s: anchors[%d] = %d: anchors must start at 0 and be strictly increasing layers below %d", path, i,
                             anchors[i], n);
        }
    st = validate_as(out, KSA_STATUS_INVALID_FILE, path);
    if (st) ksa_calib_plan_free(out);
    return st;
}

ksa_status ksa_calib_plan_save_npy(const ksa_calib_plan *plan, const char *path)
{
    ksa_clear_error();
    ksa_status st = validate_as(plan, KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_save_npy");
    if (st) return st;
    int64_t shape[2] = {plan->num_layers, plan->num_kv_heads};
    return ksa_npy_write(path, KSA_NPY_I32, 2, shape, plan->head_maps);
}

/* ---------------------------------------------------------------- schedule file */
typedef struct line_reader {
    const char *s;
    size_t n, i;
    int32_t lineno;
    char line[8192];
} line_reader;

/* Next line with content after removing comments ('#' to the end of the line) and leading and
 * trailing blanks; 0 at end of text, -1 when a line is too long or holds a NUL byte. */
static int next_line(line_reader *r)
{
    while (r->i < r->n) {
        size_t start = r->i;
        while (r->i < r->n && r->s[r->i] != '\n') r->i++;
        size_t end = r->i;
        if (r->i < r->n) r->i++;
        r->lineno++;
        if (memchr(r->s + start, '\0', end - start)) return -1;
        const char *hash = memchr(r->s + start, '#', end - start); /* a comment runs to the end of the line */
        if (hash) end = (size_t)(hash - r->s);
        while (start < end && isspace((unsigned char)r->s[start])) start++;
        while (end > start && isspace((unsigned char)r->s[end - 1])) end--;
        if (start == end) continue;
        if (end - start >= sizeof r->line) return -1;
        memcpy(r->line, r->s + start, end - start);
        r->line[end - start] = '\0';
        return 1;
    }
    return 0;
}

/* Parse a decimal int in [lo, hi] from *p (skipping blanks); advances *p. */
static int parse_int(const char **p, long lo, long hi, int32_t *v)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t') s++;
    if (!(isdigit((unsigned char)*s) || (*s == '-' && isdigit((unsigned char)s[1])))) return 0;
    errno = 0;
    char *end;
    long x = strtol(s, &end, 10);
    if (errno || x < lo || x > hi) return 0;
    if (*end != '\0' && *end != ' ' && *end != '\t') return 0;
    *v = (int32_t)x;
    *p = end;
    return 1;
}

static int at_end(const char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    return *p == '\0';
}

/* Keyword at the start of the line followed by a blank or the end; returns the rest. */
static const char *keyword(const char *line, const char *kw)
{
    size_t n = strlen(kw);
    if (strncmp(line, kw, n) != 0) return NULL;
    if (line[n] != '\0' && line[n] != ' ' && line[n] != '\t') return NULL;
    return line + n;
}

#define FILE_ERR(...) \
    do { \
        st = ksa_error(KSA_STATUS_INVALID_FILE, __VA_ARGS__); \
        goto fail; \
    } while (0)

ksa_status ksa_calib_plan_parse(const char *text, size_t len, ksa_calib_plan *out)
{
    ksa_clear_error();
    static const char *fn = "schedule file";
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!text && len) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_parse: text is NULL");
    line_reader *r = calloc(1, sizeof *r);
    int32_t *anchors = NULL;
    if (!r) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa_calib_plan_parse: cannot allocate a line buffer");
    r->s = text;
    r->n = len;
    ksa_status st = KSA_STATUS_SUCCESS;
    int32_t n = -1, h = -1, k = -1, shards = -1, next_map = 0;
    char model[KSA_CALIB_MODEL_MAX] = "";
    int rc = next_line(r);
    if (rc < 0) FILE_ERR("%s: line %d is too long or holds a NUL byte", fn, r->lineno);
    if (rc == 0) FILE_ERR("%s: empty; the first line must be 'ksa-schedule 1'", fn);
    {
        const char *p = keyword(r->line, "ksa-schedule");
        int32_t version;
        if (!p) FILE_ERR("%s: line %d: the first line must be 'ksa-schedule 1'", fn, r->lineno);
        if (!parse_int(&p, 0, 1000000, &version) || !at_end(p))
            FILE_ERR("%s: line %d: 'ksa-schedule' takes one version number", fn, r->lineno);
        if (version != 1) FILE_ERR("%s: line %d: format version %d is not supported (this library reads 1)", fn, r->lineno, version);
    }
    for (;;) {
        rc = next_line(r);
        if (rc < 0) FILE_ERR("%s: line %d is too long or holds a NUL byte", fn, r->lineno);
        if (rc == 0) FILE_ERR("%s: ends without an 'end' line (truncated?)", fn);
        const char *line = r->line, *p;
        int32_t ln = r->lineno;
        if ((p = keyword(line, "end"))) {
            if (!at_end(p)) FILE_ERR("%s: line %d: 'end' takes nothing after it", fn, ln);
            break;
        } else if ((p = keyword(line, "model"))) {
            while (*p == ' ' || *p == '\t') p++;
            if (strlen(p) >= sizeof model) FILE_ERR("%s: line %d: the model name is longer than %d characters", fn, ln, KSA_CALIB_MODEL_MAX - 1);
            snprintf(model, sizeof model, "%s", p);
        } else if ((p = keyword(line, "num_layers"))) {
            if (n >= 0) FILE_ERR("%s: line %d: num_layers given twice", fn, ln);
            if (!parse_int(&p, 1, MAX_LAYERS, &n) || !at_end(p)) FILE_ERR("%s: line %d: num_layers must be one number in 1..%d", fn, ln, MAX_LAYERS);
        } else if ((p = keyword(line, "num_kv_heads"))) {
            if (h >= 0) FILE_ERR("%s: line %d: num_kv_heads given twice", fn, ln);
            if (!parse_int(&p, 1, KSA_MAX_KV_HEADS, &h) || !at_end(p))
                FILE_ERR("%s: line %d: num_kv_heads must be one number in 1..%d", fn, ln, KSA_MAX_KV_HEADS);
        } else if ((p = keyword(line, "num_shards"))) {
            if (shards >= 0) FILE_ERR("%s: line %d: num_shards given twice", fn, ln);
            if (next_map > 0) FILE_ERR("%s: line %d: num_shards must come before the maps", fn, ln);
            if (!parse_int(&p, 1, KSA_MAX_KV_HEADS, &shards) || !at_end(p))
                FILE_ERR("%s: line %d: num_shards must be one number in 1..%d", fn, ln, KSA_MAX_KV_HEADS);
        } else if ((p = keyword(line, "anchors"))) {
            if (k >= 0) FILE_ERR("%s: line %d: anchors given twice", fn, ln);
            if (n < 0) FILE_ERR("%s: line %d: num_layers must come before anchors", fn, ln);
            anchors = malloc(sizeof(int32_t) * (size_t)n);
            if (!anchors) {
                st = ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate %d anchors", fn, n);
                goto fail;
            }
            k = 0;
            while (!at_end(p)) {
                if (k >= n) FILE_ERR("%s: line %d: more anchors than layers (%d)", fn, ln, n);
                if (!parse_int(&p, 0, n - 1, &anchors[k])) FILE_ERR("%s: line %d: anchor %d is not a layer in 0..%d", fn, ln, k, n - 1);
                k++;
            }
            if (k == 0) FILE_ERR("%s: line %d: 'anchors' lists no layer", fn, ln);
        } else if ((p = keyword(line, "map"))) {
            if (n < 0 || h < 0 || k < 0) FILE_ERR("%s: line %d: num_layers, num_kv_heads and anchors must come before the maps", fn, ln);
            if (!out->head_maps) {
                st = ksa_calib_plan_init(out, n, h, k);
                if (st) goto fail;
                memcpy(out->anchors, anchors, sizeof(int32_t) * (size_t)k);
            }
            int32_t l;
            if (!parse_int(&p, 0, n - 1, &l)) FILE_ERR("%s: line %d: 'map' must start with a layer in 0..%d", fn, ln, n - 1);
            if (l != next_map) FILE_ERR("%s: line %d: map of layer %d where layer %d's was expected (one per layer, in order)", fn, ln, l, next_map);
            for (int32_t g = 0; g < h; g++)
                if (!parse_int(&p, 0, h - 1, &out->head_maps[(size_t)l * h + g]))
                    FILE_ERR("%s: line %d: map of layer %d needs %d KV heads in 0..%d", fn, ln, l, h, h - 1);
            if (!at_end(p)) FILE_ERR("%s: line %d: map of layer %d has more than %d entries", fn, ln, l, h);
            next_map++;
        } else {
            char word[32];
            snprintf(word, sizeof word, "%s", line);
            for (char *c = word; *c; c++)
                if (*c == ' ' || *c == '\t') *c = '\0';
            FILE_ERR("%s: line %d: unknown keyword '%s'", fn, ln, word);
        }
    }
    if (n < 0 || h < 0 || k < 0) FILE_ERR("%s: num_layers, num_kv_heads or anchors is missing", fn);
    if (next_map != n) FILE_ERR("%s: %d of %d layers have a map line", fn, next_map, n);
    while ((rc = next_line(r)) != 0)
        FILE_ERR("%s: line %d: text after 'end'", fn, r->lineno);
    snprintf(out->model, sizeof out->model, "%s", model);
    out->num_shards = shards < 0 ? 1 : shards; /* files from before tensor parallelism: 1 shard */
    st = validate_as(out, KSA_STATUS_INVALID_FILE, fn);
    if (st) goto fail;
    free(anchors);
    free(r);
    return KSA_STATUS_SUCCESS;
fail:
    free(anchors);
    free(r);
    ksa_calib_plan_free(out);
    return st;
}

ksa_status ksa_calib_plan_load(const char *path, ksa_calib_plan *out)
{
    ksa_clear_error();
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_load: path is NULL");
    char *text;
    size_t size;
    ksa_status st = ksa_calib_read_file(path, &text, &size);
    if (st) return st;
    st = ksa_calib_plan_parse(text, size, out);
    free(text);
    if (st == KSA_STATUS_INVALID_FILE) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ksa_last_error());
        return ksa_error(st, "%s: %s", path, msg);
    }
    return st;
}

ksa_status ksa_calib_plan_save(const ksa_calib_plan *plan, const char *path)
{
    ksa_clear_error();
    ksa_status st = validate_as(plan, KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_save");
    if (st) return st;
    if (!path) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_save: path is NULL");
    for (const char *c = plan->model; *c; c++)
        if (*c == '\n' || *c == '\r')
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_calib_plan_save: the model name holds a line break");
    FILE *f = fopen(path, "w");
    if (!f) return ksa_error(KSA_STATUS_IO_ERROR, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "ksa-schedule 1\n# Kascade plan written by ksa %s (calib/SCHEDULE-FORMAT.md)\n", ksa_version_string());
    if (plan->model[0]) fprintf(f, "model %s\n", plan->model);
    fprintf(f, "num_layers %d\nnum_kv_heads %d\nnum_shards %d\nanchors", plan->num_layers, plan->num_kv_heads,
            plan_shards(plan));
    for (int32_t i = 0; i < plan->num_anchors; i++) fprintf(f, " %d", plan->anchors[i]);
    fprintf(f, "\n");
    for (int32_t l = 0; l < plan->num_layers; l++) {
        fprintf(f, "map %d", l);
        for (int32_t g = 0; g < plan->num_kv_heads; g++) fprintf(f, " %d", plan->head_maps[(size_t)l * plan->num_kv_heads + g]);
        fprintf(f, "\n");
    }
    fprintf(f, "end\n");
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad) return ksa_error(KSA_STATUS_IO_ERROR, "%s: write failed", path);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_calib_plan_apply(const ksa_calib_plan *plan, ksa_schedule sched)
{
    ksa_clear_error();
    static const char *fn = "ksa_calib_plan_apply";
    ksa_status st = validate_as(plan, KSA_STATUS_INVALID_ARGUMENT, fn);
    if (st) return st;
    if (!sched) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: sched is NULL", fn);
    int32_t n = 0, h = 0, offset = 0, count = 0;
    if ((st = ksa_schedule_get_shape(sched, &n, &h))) return st;
    if ((st = ksa_schedule_get_head_range(sched, &offset, &count))) return st;
    if (n != plan->num_layers || h != plan->num_kv_heads)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                         "%s: the schedule has %d layers and %d KV heads, the plan %d layers and %d KV heads", fn, n, h,
                         plan->num_layers, plan->num_kv_heads);
    /* the schedule's range must be exactly one of the plan's shards */
    int32_t shards = plan_shards(plan), shard_size = h / shards;
    if (count != shard_size || offset % shard_size != 0) {
        char range[96];
        if (count == h) snprintf(range, sizeof range, "all %d KV heads (1 shard)", h);
        else if (h % count == 0 && offset % count == 0)
            snprintf(range, sizeof range, "KV heads %d..%d of %d (one of %d shards)", offset, offset + count - 1, h, h / count);
        else snprintf(range, sizeof range, "KV heads %d..%d of %d (not one of equal shards)", offset, offset + count - 1, h);
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT,
                         "%s: the plan's head maps were made for %d shard%s of %d KV heads, but the schedule runs %s; "
                         "calibrate with ksa-calibrate --shards matching the tensor-parallel size",
                         fn, shards, shards == 1 ? "" : "s", shard_size, range);
    }
    return ksa_schedule_set_kascade(sched, plan->anchors, plan->num_anchors, plan->head_maps);
}
