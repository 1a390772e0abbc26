/* cache.c: the persistent tuning cache. Shape classes and device signatures, the versioned
 * line-based file format of autotune/FORMAT.md (one checksummed line per entry), reading,
 * locked merge + atomic rewrite, and the call-time lookup that dispatch uses (cache file, then
 * the compiled-in shipped table; exact class, then nearest bucket). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autotune/ksa_autotune.h"
#include "ksa_internal.h"

#define HEADER_TAG "ksa-tune-cache"

/* ---------------------------------------------------------------- classes and signatures */
int64_t ksa_tune_bucket(int64_t v)
{
    int64_t b = 1;
    while (b < v && b < ((int64_t)1 << 40)) b <<= 1;
    return b;
}

static int log2i(int64_t v)
{
    int l = 0;
    while (v > 1) {
        v >>= 1;
        l++;
    }
    return l;
}

void ksa_tune_class_of(const ksa_problem *p, const char *backend, ksa_tune_class *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; backend && backend[i] && i + 1 < sizeof out->backend; i++) out->backend[i] = backend[i];
    out->mode = (int32_t)p->mode;
    out->phase = (int32_t)p->phase;
    out->dtype = (int32_t)p->dtype;
    out->head_dim = p->head_dim;
    out->group = p->group_size;
    out->layout = (int32_t)p->kv_layout;
    out->lk_bucket = ksa_tune_bucket(p->max_seqlen_k);
    out->batch_bucket = ksa_tune_bucket(p->batch);
}

/* Field values may not contain the format's separators; they are replaced by '_'. */
static void sanitize_copy(char *dst, size_t len, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < len; i++) {
        char c = src[i];
        dst[i] = (c == ';' || c == '=' || c == '\t' || c == '\n' || c == '\r' || c == ',' || (unsigned char)c < 32) ? '_' : c;
    }
    if (len) dst[i] = '\0';
}

void ksa_tune_signature_of(const ksa_device_info *info, ksa_tune_signature *out)
{
    memset(out, 0, sizeof *out);
    sanitize_copy(out->backend, sizeof out->backend, info->backend);
    sanitize_copy(out->description, sizeof out->description, info->description);
    sanitize_copy(out->isa, sizeof out->isa, info->isa);
    out->compute_units = info->compute_units;
    sanitize_copy(out->driver, sizeof out->driver, info->driver_version);
    sanitize_copy(out->ksa_version, sizeof out->ksa_version, ksa_version_string());
}

int ksa_tune_signature_matches(const ksa_tune_signature *e, const ksa_tune_signature *d)
{
    if (e->backend[0] && strcmp(e->backend, d->backend)) return 0;
    if (e->description[0] && strcmp(e->description, d->description)) return 0;
    if (e->isa[0] && strcmp(e->isa, d->isa)) return 0;
    if (e->compute_units >= 0 && e->compute_units != d->compute_units) return 0;
    if (e->driver[0] && strcmp(e->driver, d->driver)) return 0;
    if (e->ksa_version[0] && strcmp(e->ksa_version, d->ksa_version)) return 0;
    return 1;
}

static int signature_equal(const ksa_tune_signature *a, const ksa_tune_signature *b)
{
    return !strcmp(a->backend, b->backend) && !strcmp(a->description, b->description) && !strcmp(a->isa, b->isa) &&
           a->compute_units == b->compute_units && !strcmp(a->driver, b->driver) && !strcmp(a->ksa_version, b->ksa_version);
}

static int class_equal(const ksa_tune_class *a, const ksa_tune_class *b)
{
    return !strcmp(a->backend, b->backend) && a->mode == b->mode && a->phase == b->phase && a->dtype == b->dtype &&
           a->head_dim == b->head_dim && a->group == b->group && a->layout == b->layout && a->lk_bucket == b->lk_bucket &&
           a->batch_bucket == b->batch_bucket;
}

const char *ksa_tune_op_name(int32_t mode, int32_t phase)
{
    static const char *const names[3][2] = {{"dense.prefill", "dense.decode"},
                                            {"anchor.prefill", "anchor.decode"},
                                            {"reuse.prefill", "reuse.decode"}};
    if (mode < 0 || mode > 2 || phase < 0 || phase > 1) return "?";
    return names[mode][phase];
}

static const char *layout_name(int32_t l)
{
    return l == KSA_KV_CONTIGUOUS ? "contiguous" : l == KSA_KV_RAGGED ? "ragged" : l == KSA_KV_PAGED ? "paged" : "?";
}

static const char *dtype_text(int32_t d)
{
    return d == KSA_DTYPE_F32 ? "f32" : d == KSA_DTYPE_F16 ? "f16" : d == KSA_DTYPE_BF16 ? "bf16" : "?";
}

const char *ksa_tune_class_string(const ksa_tune_class *c, char *buf, size_t len)
{
    snprintf(buf, len, "backend=%s;op=%s;dtype=%s;d=%d;g=%d;lk=%lld;b=%lld;layout=%s", c->backend,
             ksa_tune_op_name(c->mode, c->phase), dtype_text(c->dtype), c->head_dim, c->group, (long long)c->lk_bucket,
             (long long)c->batch_bucket, layout_name(c->layout));
    return buf;
}

const char *ksa_tune_signature_string(const ksa_tune_signature *s, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
#define ADD(key, val)                                                                            \
    do {                                                                                         \
        if (n < len) n += (size_t)snprintf(buf + n, len - n, "%s%s=%s", n ? ";" : "", key, val); \
    } while (0)
    if (s->backend[0]) ADD("backend", s->backend);
    if (s->description[0]) ADD("desc", s->description);
    if (s->isa[0]) ADD("isa", s->isa);
    if (s->compute_units >= 0) {
        char cu[16];
        snprintf(cu, sizeof cu, "%d", s->compute_units);
        ADD("cu", cu);
    }
    if (s->driver[0]) ADD("driver", s->driver);
    if (s->ksa_version[0]) ADD("ksa", s->ksa_version);
#undef ADD
    return buf;
}

/* ---------------------------------------------------------------- line format */
static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

int ksa_tune_format_entry(const ksa_tune_entry *e, char *buf, size_t len)
{
    char body[1400], sig[700], cls[256], cfg[KSA_TUNE_CONFIG_MAX * 2];
    size_t n = 0;
    snprintf(cfg, sizeof cfg, "%s", e->num_params == 0 ? "builtin" : "");
    for (int i = 0; i < e->num_params && n < sizeof cfg; i++)
        n += (size_t)snprintf(cfg + n, sizeof cfg - n, "%s%s=%d", i ? "," : "", e->names[i], e->values[i]);
    int bl = snprintf(body, sizeof body, "%s\t%s\t%s\t%.3f\t%.3f\t%lld", ksa_tune_signature_string(&e->sig, sig, sizeof sig),
                      ksa_tune_class_string(&e->cls, cls, sizeof cls), cfg, e->tuned_us, e->builtin_us,
                      (long long)e->timestamp);
    if (bl < 0 || (size_t)bl >= sizeof body) return -1;
    int w = snprintf(buf, len, "%08x\t%s\n", fnv1a(body, (size_t)bl), body);
    if (w < 0 || (size_t)w >= len) return -1;
    return w;
}

/* Split `s` at `sep` into at most `max` fields in place; returns the number of fields. */
static int split(char *s, char sep, char **fields, int max)
{
    int n = 0;
    fields[n++] = s;
    for (char *c = s; *c; c++) {
        if (*c == sep) {
            if (n == max) return max + 1; /* too many */
            *c = '\0';
            fields[n++] = c + 1;
        }
    }
    return n;
}

static int parse_int64(const char *s, int64_t *out)
{
    if (!*s) return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno) return 0;
    *out = v;
    return 1;
}

static int parse_double(const char *s, double *out)
{
    if (!*s) return 0;
    char *end;
    double v = strtod(s, &end);
    if (*end) return 0;
    *out = v;
    return 1;
}

static int parse_signature(char *s, ksa_tune_signature *sig)
{
    memset(sig, 0, sizeof *sig);
    sig->compute_units = -1;
    char *f[8];
    int n = split(s, ';', f, 7);
    if (n > 7) return 0;
    for (int i = 0; i < n; i++) {
        char *eq = strchr(f[i], '=');
        if (!eq) return 0;
        *eq = '\0';
        const char *k = f[i], *v = eq + 1;
        if (!strcmp(k, "backend") && strlen(v) < sizeof sig->backend) strcpy(sig->backend, v);
        else if (!strcmp(k, "desc") && strlen(v) < sizeof sig->description) strcpy(sig->description, v);
        else if (!strcmp(k, "isa") && strlen(v) < sizeof sig->isa) strcpy(sig->isa, v);
        else if (!strcmp(k, "driver") && strlen(v) < sizeof sig->driver) strcpy(sig->driver, v);
        else if (!strcmp(k, "ksa") && strlen(v) < sizeof sig->ksa_version) strcpy(sig->ksa_version, v);
        else if (!strcmp(k, "cu")) {
            int64_t cu;
            if (!parse_int64(v, &cu) || cu < 0 || cu > 1 << 24) return 0;
            sig->compute_units = (int32_t)cu;
        } else {
            return 0;
        }
    }
    return sig->backend[0] != '\0'; /* the backend is always named */
}

static int parse_class(char *s, ksa_tune_class *c)
{
    memset(c, 0, sizeof *c);
    char *f[10];
    int n = split(s, ';', f, 9);
    if (n != 8) return 0;
    static const char *const keys[8] = {"backend", "op", "dtype", "d", "g", "lk", "b", "layout"};
    for (int i = 0; i < 8; i++) {
        char *eq = strchr(f[i], '=');
        if (!eq) return 0;
        *eq = '\0';
        if (strcmp(f[i], keys[i])) return 0;
        const char *v = eq + 1;
        int64_t x = 0;
        switch (i) {
        case 0:
            if (!*v || strlen(v) >= sizeof c->backend) return 0;
            strcpy(c->backend, v);
            break;
        case 1: {
            int ok = 0;
            for (int m = 0; m < 3 && !ok; m++)
                for (int ph = 0; ph < 2 && !ok; ph++)
                    if (!strcmp(v, ksa_tune_op_name(m, ph))) {
                        c->mode = m;
                        c->phase = ph;
                        ok = 1;
                    }
            if (!ok) return 0;
            break;
        }
        case 2:
            if (!strcmp(v, "f32")) c->dtype = KSA_DTYPE_F32;
            else if (!strcmp(v, "f16")) c->dtype = KSA_DTYPE_F16;
            else if (!strcmp(v, "bf16")) c->dtype = KSA_DTYPE_BF16;
            else return 0;
            break;
        case 3:
        case 4:
            if (!parse_int64(v, &x) || x < 1 || x > 65536) return 0;
            if (i == 3) c->head_dim = (int32_t)x;
            else c->group = (int32_t)x;
            break;
        case 5:
        case 6:
            if (!parse_int64(v, &x) || x < 1 || (x & (x - 1))) return 0; /* a power of two */
            if (i == 5) c->lk_bucket = x;
            else c->batch_bucket = x;
            break;
        case 7:
            if (!strcmp(v, "contiguous")) c->layout = KSA_KV_CONTIGUOUS;
            else if (!strcmp(v, "ragged")) c->layout = KSA_KV_RAGGED;
            else if (!strcmp(v, "paged")) c->layout = KSA_KV_PAGED;
            else return 0;
            break;
        }
    }
    return 1;
}

static int parse_config(char *s, ksa_tune_entry *e)
{
    if (!strcmp(s, "builtin")) { /* the built-in heuristic measured best for this class */
        e->num_params = 0;
        return 1;
    }
    char *f[KSA_MAX_TUNABLES + 1];
    int n = split(s, ',', f, KSA_MAX_TUNABLES);
    if (n > KSA_MAX_TUNABLES || !*s) return 0;
    for (int i = 0; i < n; i++) {
        char *eq = strchr(f[i], '=');
        if (!eq || eq == f[i] || (size_t)(eq - f[i]) >= sizeof e->names[0]) return 0;
        *eq = '\0';
        int64_t v;
        if (!parse_int64(eq + 1, &v) || v < INT32_MIN || v > INT32_MAX) return 0;
        strcpy(e->names[i], f[i]);
        e->values[i] = (int32_t)v;
    }
    e->num_params = n;
    return 1;
}

/* One entry line (without its newline). Returns 1 when valid. `why` gets the reason otherwise. */
static int parse_line(const char *line, size_t len, ksa_tune_entry *e, const char **why)
{
    char buf[2048];
    if (len >= sizeof buf) {
        *why = "line too long";
        return 0;
    }
    memcpy(buf, line, len);
    buf[len] = '\0';
    if (len < 10 || buf[8] != '\t') {
        *why = "no checksum field";
        return 0;
    }
    char hex[9];
    memcpy(hex, buf, 8);
    hex[8] = '\0';
    char *end;
    unsigned long sum = strtoul(hex, &end, 16);
    if (*end) {
        *why = "checksum is not hexadecimal";
        return 0;
    }
    if ((uint32_t)sum != fnv1a(buf + 9, len - 9)) {
        *why = "checksum mismatch (corrupt or truncated line)";
        return 0;
    }
    char *f[8];
    int n = split(buf + 9, '\t', f, 7);
    if (n != 6) {
        *why = "wrong number of fields";
        return 0;
    }
    memset(e, 0, sizeof *e);
    int64_t ts;
    if (!parse_signature(f[0], &e->sig)) *why = "bad device signature";
    else if (!parse_class(f[1], &e->cls)) *why = "bad shape class";
    else if (!parse_config(f[2], e)) *why = "bad configuration";
    else if (!parse_double(f[3], &e->tuned_us) || !parse_double(f[4], &e->builtin_us)) *why = "bad time";
    else if (!parse_int64(f[5], &ts)) *why = "bad timestamp";
    else {
        e->timestamp = ts;
        if (strcmp(e->sig.backend, e->cls.backend)) {
            *why = "signature and class name different backends";
            return 0;
        }
        return 1;
    }
    return 0;
}

ksa_status ksa_tune_parse(const char *text, size_t len, ksa_tune_entry **entries, int32_t *count,
                          ksa_tune_parse_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    *entries = NULL;
    *count = 0;
    if (len == 0) return KSA_STATUS_SUCCESS;
    /* header: the first line */
    size_t hl = 0;
    while (hl < len && text[hl] != '\n') hl++;
    char header[64];
    size_t hc = hl < sizeof header - 1 ? hl : sizeof header - 1;
    memcpy(header, text, hc);
    header[hc] = '\0';
    if (hc && header[hc - 1] == '\r') header[--hc] = '\0';
    size_t tag = strlen(HEADER_TAG);
    if (strncmp(header, HEADER_TAG " ", tag + 1) != 0) {
        stats->bad_header = 1;
        snprintf(stats->first_problem, sizeof stats->first_problem, "line 1 is not a \"%s <version>\" header", HEADER_TAG);
        return KSA_STATUS_SUCCESS;
    }
    int64_t version;
    if (!parse_int64(header + tag + 1, &version)) {
        stats->bad_header = 1;
        snprintf(stats->first_problem, sizeof stats->first_problem, "line 1: the format version is not a number");
        return KSA_STATUS_SUCCESS;
    }
    if (version != KSA_TUNE_FORMAT_VERSION) {
        stats->bad_version = 1;
        snprintf(stats->first_problem, sizeof stats->first_problem, "format version %lld, this ksa reads version %d",
                 (long long)version, KSA_TUNE_FORMAT_VERSION);
        return KSA_STATUS_SUCCESS;
    }
    int32_t cap = 0;
    ksa_tune_entry *arr = NULL;
    int line_no = 1;
    size_t pos = hl < len ? hl + 1 : len;
    while (pos < len) {
        line_no++;
        size_t e = pos;
        while (e < len && text[e] != '\n') e++;
        size_t l = e - pos;
        if (l && text[pos + l - 1] == '\r') l--;
        const char *line = text + pos;
        pos = e < len ? e + 1 : len;
        if (l == 0 || line[0] == '#') continue;
        ksa_tune_entry ent;
        const char *why = "";
        if (!parse_line(line, l, &ent, &why)) {
            if (!stats->lines_bad) {
                stats->first_bad_line = line_no;
                snprintf(stats->first_problem, sizeof stats->first_problem, "line %d: %s", line_no, why);
            }
            stats->lines_bad++;
            continue;
        }
        if (*count == cap) {
            int32_t nc = cap ? cap * 2 : 16;
            ksa_tune_entry *na = realloc(arr, (size_t)nc * sizeof *na);
            if (!na) {
                free(arr);
                return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "tuning cache: out of memory reading %d entries", cap);
            }
            arr = na;
            cap = nc;
        }
        arr[(*count)++] = ent;
    }
    stats->entries = *count;
    *entries = arr;
    return KSA_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------- files */
const char *ksa_tune_cache_path(char *buf, size_t len)
{
    const char *env = getenv("KSA_TUNE_CACHE");
    if (env) {
        if (!*env || !strcmp(env, "off")) return NULL;
        snprintf(buf, len, "%s", env);
        return buf;
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) {
        snprintf(buf, len, "%s/ksa/tune-cache.txt", xdg);
        return buf;
    }
    const char *home = getenv("HOME");
    if (home && *home) {
        snprintf(buf, len, "%s/.cache/ksa/tune-cache.txt", home);
        return buf;
    }
    return NULL;
}

static ksa_status read_file(const char *path, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return KSA_STATUS_SUCCESS;
        return ksa_error(KSA_STATUS_IO_ERROR, "tuning cache %s: cannot open: %s", path, strerror(errno));
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "tuning cache %s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap > ((size_t)1 << 30)) break; /* refuse absurd files: read the first GiB */
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "tuning cache %s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return ksa_error(KSA_STATUS_IO_ERROR, "tuning cache %s: read error", path);
    }
    *text = buf;
    *len = n;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_tune_cache_read(const char *path, ksa_tune_entry **entries, int32_t *count, ksa_tune_parse_stats *stats)
{
    char *text;
    size_t len;
    memset(stats, 0, sizeof *stats);
    *entries = NULL;
    *count = 0;
    ksa_status s = read_file(path, &text, &len);
    if (s || !text) return s;
    s = ksa_tune_parse(text, len, entries, count, stats);
    free(text);
    return s;
}

static ksa_status make_parent_dirs(const char *path)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return KSA_STATUS_SUCCESS;
    *slash = '\0';
    for (char *c = dir + 1; *c; c++) {
        if (*c != '/') continue;
        *c = '\0';
        if (mkdir(dir, 0755) && errno != EEXIST)
            return ksa_error(KSA_STATUS_IO_ERROR, "tuning cache: cannot create folder %s: %s", dir, strerror(errno));
        *c = '/';
    }
    if (mkdir(dir, 0755) && errno != EEXIST)
        return ksa_error(KSA_STATUS_IO_ERROR, "tuning cache: cannot create folder %s: %s", dir, strerror(errno));
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_tune_cache_store(const char *path, const ksa_tune_entry *entries, int32_t count)
{
    if (!path || !*path) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "tuning cache: path is empty");
    if (count < 0 || (count && !entries)) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "tuning cache: entries is NULL");
    if (strlen(path) > 1000) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "tuning cache: path is too long");
    ksa_status s = make_parent_dirs(path);
    if (s) return s;
    char lock_path[1100], tmp_path[1100];
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp.%ld", path, (long)getpid());
    int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) return ksa_error(KSA_STATUS_IO_ERROR, "tuning cache: cannot open lock file %s: %s", lock_path, strerror(errno));
    while (flock(lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int e = errno;
            close(lock_fd);
            return ksa_error(KSA_STATUS_IO_ERROR, "tuning cache: cannot lock %s: %s", lock_path, strerror(e));
        }
    }
    ksa_tune_entry *old = NULL;
    int32_t n_old = 0;
    ksa_tune_parse_stats st;
    s = ksa_tune_cache_read(path, &old, &n_old, &st);
    if (!s && st.bad_version)
        s = ksa_error(KSA_STATUS_INVALID_FILE, "tuning cache %s: %s; not overwriting it (remove it or set KSA_TUNE_CACHE)",
                      path, st.first_problem);
    if (!s && st.bad_header) {
        struct stat sb;
        if (stat(path, &sb) == 0 && sb.st_size > 0)
            s = ksa_error(KSA_STATUS_INVALID_FILE,
                          "tuning cache %s is not a ksa tuning cache (%s); not overwriting it (remove it or set KSA_TUNE_CACHE)",
                          path, st.first_problem);
    }
    FILE *f = NULL;
    if (!s) {
        f = fopen(tmp_path, "wb");
        if (!f) s = ksa_error(KSA_STATUS_IO_ERROR, "tuning cache: cannot create %s: %s", tmp_path, strerror(errno));
    }
    if (!s) {
        char line[2048];
        int ok = fprintf(f, "%s %d\n# ksa tuning cache: one checksummed entry per line, see autotune/FORMAT.md\n", HEADER_TAG,
                         KSA_TUNE_FORMAT_VERSION) > 0;
        for (int32_t i = 0; i < n_old && ok; i++) {
            int replaced = 0;
            for (int32_t j = 0; j < count && !replaced; j++)
                replaced = signature_equal(&old[i].sig, &entries[j].sig) && class_equal(&old[i].cls, &entries[j].cls);
            if (replaced) continue;
            int w = ksa_tune_format_entry(&old[i], line, sizeof line);
            ok = w > 0 && fputs(line, f) >= 0;
        }
        for (int32_t j = 0; j < count && ok; j++) {
            int dup = 0; /* a later entry with the same key wins */
            for (int32_t k = j + 1; k < count && !dup; k++)
                dup = signature_equal(&entries[k].sig, &entries[j].sig) && class_equal(&entries[k].cls, &entries[j].cls);
            if (dup) continue;
            int w = ksa_tune_format_entry(&entries[j], line, sizeof line);
            ok = w > 0 && fputs(line, f) >= 0;
        }
        if (ok) ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
        if (fclose(f) != 0) ok = 0;
        if (!ok) {
            s = ksa_error(KSA_STATUS_IO_ERROR, "tuning cache: writing %s failed: %s", tmp_path, strerror(errno));
            unlink(tmp_path);
        } else if (rename(tmp_path, path) != 0) {
            s = ksa_error(KSA_STATUS_IO_ERROR, "tuning cache: cannot rename %s to %s: %s", tmp_path, path, strerror(errno));
            unlink(tmp_path);
        }
    }
    free(old);
    flock(lock_fd, LOCK_UN);
    close(lock_fd);
    return s;
}

/* ---------------------------------------------------------------- call-time lookup */
/* What identifies the cache file's content without reading it. */
typedef struct file_id {
    int64_t mtime_ns, size, ino;
    int32_t exists;
} file_id;

static file_id file_identity(const char *path)
{
    file_id id;
    memset(&id, 0, sizeof id);
    struct stat sb;
    if (path && path[0] && stat(path, &sb) == 0) {
        id.exists = 1;
        id.mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        id.size = (int64_t)sb.st_size;
        id.ino = (int64_t)sb.st_ino;
    }
    return id;
}

typedef struct lookup_table {
    int32_t loaded;
    uint64_t generation; /* bumped by every load: the per-thread lookup memo keys on it */
    file_id id; /* of the cache file when it was read */
    ksa_tune_entry *cache;
    int32_t n_cache;
    ksa_tune_entry *shipped;
    int32_t n_shipped;
    ksa_tune_load_info info;
    int32_t warned_incompatible;
    int32_t warned_foreign;
} lookup_table;

static pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;
static lookup_table table;
static _Thread_local int tls_disabled;
static const char *shipped_override; /* tests: replaces the compiled-in table when set */

void ksa_autotune_set_shipped_text(const char *text)
{
    pthread_rwlock_wrlock(&table_lock);
    shipped_override = text;
    pthread_rwlock_unlock(&table_lock);
    ksa_autotune_reload();
}

void ksa_autotune_set_enabled(int enabled) { tls_disabled = !enabled; }

static void warn(lookup_table *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void warn(lookup_table *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->info.last_warning, sizeof t->info.last_warning, fmt, ap);
    va_end(ap);
    t->info.warnings++;
    ksa_log("warning: %s", t->info.last_warning);
}

/* Called with the writer lock held. */
static void load_table(lookup_table *t)
{
    memset(&t->info, 0, sizeof t->info);
    t->warned_incompatible = 0;
    t->warned_foreign = 0;
    char path[1024];
    const char *pp = ksa_tune_cache_path(path, sizeof path);
    ksa_tune_parse_stats st;
    memset(&st, 0, sizeof st);
    if (pp) {
        snprintf(t->info.path, sizeof t->info.path, "%s", pp);
        t->id = file_identity(pp); /* before reading: a change during the read shows next time */
        ksa_status s = ksa_tune_cache_read(pp, &t->cache, &t->n_cache, &st);
        if (s) {
            warn(t, "tuning cache %s not used: %s", pp, ksa_last_error());
            ksa_clear_error();
        }
        t->info.cache_entries = t->n_cache;
        t->info.bad_lines = st.lines_bad;
        t->info.bad_file = st.bad_header || st.bad_version;
        int32_t foreign = 0;
        char ver[16];
        sanitize_copy(ver, sizeof ver, ksa_version_string());
        for (int32_t i = 0; i < t->n_cache; i++)
            if (strcmp(t->cache[i].sig.ksa_version, ver)) foreign++;
        t->info.foreign_entries = foreign;
        if (t->info.bad_file)
            warn(t, "tuning cache %s ignored: %s", pp, st.first_problem);
        else if (st.lines_bad)
            warn(t, "tuning cache %s: %d corrupt or truncated line(s) ignored (first: %s)", pp, st.lines_bad, st.first_problem);
        if (foreign) warn(t, "tuning cache %s: %d entr%s from another ksa version ignored", pp, foreign, foreign == 1 ? "y" : "ies");
    }
    size_t slen = 0;
    const char *stext = shipped_override;
    if (stext) slen = strlen(stext);
    else stext = ksa_tune_shipped_text(&slen);
    ksa_tune_parse_stats ss;
    if (ksa_tune_parse(stext, slen, &t->shipped, &t->n_shipped, &ss) == KSA_STATUS_SUCCESS) {
        t->info.shipped_entries = t->n_shipped;
        if (ss.lines_bad || ss.bad_header || ss.bad_version) {
            t->info.bad_lines += ss.lines_bad;
            warn(t, "shipped tuning table: %s", ss.first_problem);
        }
    } else {
        ksa_clear_error();
    }
    /* atomic stores (under the writer lock): the lookup memo reads both without the lock */
    __atomic_store_n(&t->generation, t->generation + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&t->loaded, 1, __ATOMIC_RELEASE);
}

void ksa_autotune_reload(void)
{
    pthread_rwlock_wrlock(&table_lock);
    free(table.cache);
    free(table.shipped);
    table.cache = table.shipped = NULL;
    table.n_cache = table.n_shipped = 0;
    __atomic_store_n(&table.loaded, 0, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&table_lock);
}

/* Returns with the reader lock held and the table loaded (a reload between dropping the writer
 * lock and taking the reader lock is caught by the loop). */
static void ensure_loaded_read_locked(void)
{
    for (;;) {
        pthread_rwlock_rdlock(&table_lock);
        if (table.loaded) return;
        pthread_rwlock_unlock(&table_lock);
        pthread_rwlock_wrlock(&table_lock);
        if (!table.loaded) load_table(&table);
        pthread_rwlock_unlock(&table_lock);
    }
}

void ksa_autotune_load_info(ksa_tune_load_info *out)
{
    ensure_loaded_read_locked();
    *out = table.info;
    pthread_rwlock_unlock(&table_lock);
}

/* Map an entry's named values onto the backend's space: 1 when every name exists and every value
 * is allowed (parameters the entry does not name keep their default). */
static int map_entry(const ksa_tune_entry *e, const ksa_tunable_space *space, int32_t *values)
{
    for (int i = 0; i < space->num_params; i++) values[i] = space->params[i].default_value;
    for (int k = 0; k < e->num_params; k++) {
        int found = -1;
        for (int i = 0; i < space->num_params && found < 0; i++)
            if (space->params[i].name && !strcmp(space->params[i].name, e->names[k])) found = i;
        if (found < 0) return 0;
        int ok = 0;
        for (int v = 0; v < space->params[found].num_values && !ok; v++) ok = space->params[found].values[v] == e->values[k];
        if (!ok) return 0;
        values[found] = e->values[k];
    }
    return 1;
}

/* Distance between classes in buckets; -1 when too far for a fallback. Only the key-length
 * bucket (up to 2 away) and the batch bucket (up to 1 away) may differ: measurements on this
 * machine showed a configuration tuned at batch 1 losing 15% at batch 4 (autotune/NOTES-autotune.md). */
static int class_distance(const ksa_tune_class *a, const ksa_tune_class *b)
{
    if (strcmp(a->backend, b->backend) || a->mode != b->mode || a->phase != b->phase || a->dtype != b->dtype ||
        a->head_dim != b->head_dim || a->group != b->group || a->layout != b->layout)
        return -1;
    int dl = abs(log2i(a->lk_bucket) - log2i(b->lk_bucket)), db = abs(log2i(a->batch_bucket) - log2i(b->batch_bucket));
    if (dl > 2 || db > 1) return -1;
    return dl + 2 * db;
}

/* Best entry of `arr` for the device and class: exact when *distance == 0. */
static const ksa_tune_entry *best_entry(const ksa_tune_entry *arr, int32_t n, const ksa_tune_signature *dev_sig,
                                        const ksa_tune_class *cls, const ksa_tunable_space *space, int32_t *scratch,
                                        int *distance, int *incompatible, int *foreign)
{
    const ksa_tune_entry *best = NULL;
    int best_d = 1 << 30;
    for (int32_t i = 0; i < n; i++) {
        const ksa_tune_entry *e = &arr[i];
        if (!ksa_tune_signature_matches(&e->sig, dev_sig)) {
            if (!strcmp(e->sig.backend, dev_sig->backend) && !strcmp(e->sig.ksa_version, dev_sig->ksa_version)) (*foreign)++;
            continue;
        }
        int d = class_distance(&e->cls, cls);
        if (d < 0 || d >= best_d) continue;
        if (!map_entry(e, space, scratch)) {
            (*incompatible)++;
            continue;
        }
        best = e;
        best_d = d;
        if (d == 0) break;
    }
    *distance = best_d;
    return best;
}

/* At most once a second (one thread does it): stat the cache file and reload the table when the
 * file was replaced or changed, so a long-running process picks up a new ksa-tune run. */
static int64_t last_check_ms;

static void maybe_reload(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t last = __atomic_load_n(&last_check_ms, __ATOMIC_RELAXED);
    if (now - last < 1000) return;
    if (!__atomic_compare_exchange_n(&last_check_ms, &last, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return;
    char path[sizeof table.info.path];
    file_id had;
    pthread_rwlock_rdlock(&table_lock);
    int loaded = table.loaded;
    memcpy(path, table.info.path, sizeof path);
    had = table.id;
    pthread_rwlock_unlock(&table_lock);
    if (!loaded || !path[0]) return;
    file_id now_id = file_identity(path);
    if (now_id.exists != had.exists || now_id.mtime_ns != had.mtime_ns || now_id.size != had.size || now_id.ino != had.ino)
        ksa_autotune_reload();
}

/* Per-thread memo of recent lookups: a lookup scans every cache and shipped entry (about a
 * microsecond, a few percent of a small decode call), and a decode loop asks the same question
 * every step. Keyed by device, table generation, shape class and the tunable space: each
 * parameter's name (the backend's string literal, compared by address), value list (compared by
 * content) and default. A space with a longer value list than MEMO_VALUES is not memoised. */
#define LOOKUP_MEMO 8
#define MEMO_VALUES 16
typedef struct memo_space {
    int32_t num_params;
    const char *name[KSA_MAX_TUNABLES];
    int32_t num_values[KSA_MAX_TUNABLES];
    int32_t default_value[KSA_MAX_TUNABLES];
    int32_t values[KSA_MAX_TUNABLES][MEMO_VALUES];
} memo_space;
typedef struct lookup_memo {
    ksa_device dev;
    uint64_t generation;
    ksa_tune_class cls;
    memo_space space;
    int32_t result;
    const char *source;
    int32_t values[KSA_MAX_TUNABLES];
} lookup_memo;
static _Thread_local lookup_memo tls_memo[LOOKUP_MEMO];
static _Thread_local int32_t tls_memo_used, tls_memo_next;

/* 1 when the space fits a memo entry */
static int memo_space_fits(const ksa_tunable_space *space)
{
    if (space->num_params > KSA_MAX_TUNABLES) return 0;
    for (int32_t i = 0; i < space->num_params; i++)
        if (space->params[i].num_values < 0 || space->params[i].num_values > MEMO_VALUES) return 0;
    return 1;
}

static int memo_space_equal(const memo_space *m, const ksa_tunable_space *space)
{
    if (m->num_params != space->num_params) return 0;
    for (int32_t i = 0; i < space->num_params; i++) {
        const ksa_tunable_param *q = &space->params[i];
        if (m->name[i] != q->name || m->num_values[i] != q->num_values || m->default_value[i] != q->default_value ||
            (q->num_values > 0 && memcmp(m->values[i], q->values, (size_t)q->num_values * sizeof q->values[0])))
            return 0;
    }
    return 1;
}

static const lookup_memo *memo_find(ksa_device dev, uint64_t gen, const ksa_tune_class *cls, const ksa_tunable_space *space)
{
    for (int32_t i = 0; i < tls_memo_used; i++) {
        const lookup_memo *m = &tls_memo[i];
        if (m->dev == dev && m->generation == gen && !memcmp(&m->cls, cls, sizeof *cls) && memo_space_equal(&m->space, space))
            return m;
    }
    return NULL;
}

static void memo_store(ksa_device dev, uint64_t gen, const ksa_tune_class *cls, const ksa_tunable_space *space,
                       int32_t result, const char *source, const int32_t *values)
{
    lookup_memo *m = &tls_memo[tls_memo_next];
    tls_memo_next = (tls_memo_next + 1) % LOOKUP_MEMO;
    if (tls_memo_used < LOOKUP_MEMO) tls_memo_used++;
    m->dev = dev;
    m->generation = gen;
    m->cls = *cls;
    m->space.num_params = space->num_params;
    for (int32_t i = 0; i < space->num_params; i++) {
        const ksa_tunable_param *q = &space->params[i];
        m->space.name[i] = q->name;
        m->space.num_values[i] = q->num_values;
        m->space.default_value[i] = q->default_value;
        if (q->num_values > 0) memcpy(m->space.values[i], q->values, (size_t)q->num_values * sizeof q->values[0]);
    }
    m->result = result;
    m->source = source;
    if (result) memcpy(m->values, values, (size_t)space->num_params * sizeof values[0]);
}

static int lookup_uncached(ksa_device dev, const ksa_tune_class *cls_in, const ksa_tunable_space *space, int32_t *values,
                           const char **source);

/* the loaded table's generation, 0 while none is loaded (no lock: a reload racing with this read
 * makes at most this one call answer from the table it started with) */
static uint64_t current_generation(void)
{
    if (!__atomic_load_n(&table.loaded, __ATOMIC_ACQUIRE)) return 0;
    return __atomic_load_n(&table.generation, __ATOMIC_ACQUIRE);
}

int ksa_autotune_lookup(ksa_device dev, const ksa_problem *p, const ksa_tunable_space *space, int32_t *values,
                        const char **source)
{
    if (tls_disabled || !dev || !p || !space || !values || space->num_params <= 0) return 0;
    maybe_reload();
    ksa_tune_class cls;
    ksa_tune_class_of(p, dev->backend->name, &cls); /* zeroes the padding too: the memo compares bytes */
    const int memo_ok = memo_space_fits(space);
    uint64_t gen = current_generation();
    const lookup_memo *m = gen && memo_ok ? memo_find(dev, gen, &cls, space) : NULL;
    if (m) {
        if (m->result) memcpy(values, m->values, (size_t)space->num_params * sizeof values[0]);
        if (source && m->source) *source = m->source;
        return m->result;
    }
    const char *src = NULL;
    int r = lookup_uncached(dev, &cls, space, values, &src);
    uint64_t gen_after = current_generation();
    if (memo_ok && gen_after && gen_after == gen) memo_store(dev, gen, &cls, space, r, src, values);
    if (source && src) *source = src;
    return r;
}

static int lookup_uncached(ksa_device dev, const ksa_tune_class *cls_in, const ksa_tunable_space *space, int32_t *values,
                           const char **source)
{
    ksa_tune_signature dsig;
    ksa_tune_signature_of(&dev->info, &dsig);
    ksa_tune_class cls = *cls_in;
    int32_t scratch[KSA_MAX_TUNABLES];
    ensure_loaded_read_locked();
    int dc = 1 << 30, ds = 1 << 30, incompatible = 0, foreign = 0, foreign_shipped = 0;
    const ksa_tune_entry *ec =
        best_entry(table.cache, table.n_cache, &dsig, &cls, space, scratch, &dc, &incompatible, &foreign);
    const ksa_tune_entry *es =
        best_entry(table.shipped, table.n_shipped, &dsig, &cls, space, scratch, &ds, &incompatible, &foreign_shipped);
    const ksa_tune_entry *use = NULL;
    const char *src = NULL;
    if (ec && dc == 0) use = ec, src = "cache:exact";
    else if (es && ds == 0) use = es, src = "shipped:exact";
    else if (ec) use = ec, src = "cache:nearest";
    else if (es) use = es, src = "shipped:nearest";
    int is_builtin = use && use->num_params == 0; /* a measured "the built-in is best here" */
    if (use && !is_builtin) map_entry(use, space, values);
    int warn_incompatible = incompatible && !__atomic_exchange_n(&table.warned_incompatible, 1, __ATOMIC_RELAXED);
    int warn_foreign = foreign && !__atomic_exchange_n(&table.warned_foreign, 1, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&table_lock);
    if (warn_incompatible || warn_foreign) { /* once per load each; rare, so the writer lock is fine */
        pthread_rwlock_wrlock(&table_lock);
        if (warn_incompatible) {
            table.info.incompatible += incompatible;
            warn(&table, "tuning cache: %d entr%s for backend %s name parameters or values it does not have (stale); ignored",
                 incompatible, incompatible == 1 ? "y" : "ies", dev->backend->name);
        }
        if (warn_foreign) {
            table.info.foreign_entries += foreign;
            warn(&table, "tuning cache %s: %d %s entr%s for another device, driver or core count ignored (this device: %s)",
                 table.info.path, foreign, dev->backend->name, foreign == 1 ? "y" : "ies", dev->info.description);
        }
        pthread_rwlock_unlock(&table_lock);
    }
    if (!use) return 0;
    if (is_builtin) {
        if (source) *source = !strcmp(src, "cache:exact")     ? "cache:exact:builtin"
                              : !strcmp(src, "shipped:exact") ? "shipped:exact:builtin"
                              : !strcmp(src, "cache:nearest") ? "cache:nearest:builtin"
                                                              : "shipped:nearest:builtin";
        return 0;
    }
    if (source) *source = src;
    return 1;
}
