/* bench_model.c: work counting (FLOPs, minimum bytes), roofline floors, the built-in table of
 * device peaks, a small .npy reader for head-map tables and a JSON-line validator, for ksa-bench.
 * Nothing here touches a device. */
#include "bench_model.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksa_backend.h" /* ksa_budget, ksa_prefill_tile_count: the budget rules of SEMANTICS.md */

/* ---------------------------------------------------------------- counting */

/* visible (query, key) pairs of one sequence, per query head */
static double visible_pairs(int64_t lq, int64_t lk)
{
    if (lq == lk) return (double)lq * (double)lq / 2.0; /* causal prefill, the peers' convention */
    return (double)lq * (double)(lk - lq) + (double)lq * (double)(lq + 1) / 2.0;
}

bench_work bench_count(const bench_shape *s, ksa_mode mode, ksa_phase phase, const ksa_topk_params *topk,
                       ksa_dtype dtype)
{
    bench_work w;
    memset(&w, 0, sizeof w);
    double es = (double)ksa_dtype_size(dtype);
    double B = (double)s->B, Hq = (double)s->Hq, Hkv = (double)s->Hkv, D = (double)s->D;
    double q_bytes = B * (double)s->Lq * Hq * D * es; /* o is the same size */
    double kv_all = 2.0 * B * (double)s->Lk * Hkv * D * es;

    double dense = 0, sparse = 0, selected_rows = 0, index_entries = 0;
    if (phase == KSA_PHASE_DECODE) {
        int64_t k = ksa_decode_count(topk, s->Lk);
        if (topk->local_window > 0) {
            k += topk->local_window;
            if (k > s->Lk) k = s->Lk;
        }
        dense = (double)s->Lk;
        sparse = (double)k;
        selected_rows = (double)k;
        index_entries = (double)ksa_decode_count(topk, s->Lk);
    } else {
        dense = visible_pairs(s->Lq, s->Lk);
        int64_t T = topk->tile_size > 0 ? topk->tile_size : 32;
        int64_t n_tiles = (s->Lq + T - 1) / T;
        for (int64_t t = 0; t < n_tiles; t++) {
            double n_t = (double)((s->Lq - t * T) < T ? (s->Lq - t * T) : T);
            double c_t = (double)ksa_prefill_tile_count(topk, s->Lq, s->Lk, t);
            sparse += n_t * c_t + n_t * (n_t + 1.0) / 2.0;
            selected_rows += c_t + n_t;
            index_entries += c_t;
        }
    }
    double kv_selected = 2.0 * B * Hkv * selected_rows * D * es;
    if (kv_selected > kv_all) kv_selected = kv_all; /* a prefill tile's gathers overlap: each row once at best */
    double index_bytes = B * Hkv * index_entries * 4.0;

    switch (mode) {
    case KSA_MODE_DENSE:
        w.flops = 4.0 * D * Hq * B * dense;
        w.bytes = 2.0 * q_bytes + kv_all;
        w.attended_pairs = B * dense;
        w.scored_pairs = B * dense;
        break;
    case KSA_MODE_ANCHOR:
        w.flops = 2.0 * D * Hq * B * dense + 4.0 * D * Hq * B * sparse;
        w.bytes = 2.0 * q_bytes + kv_all + index_bytes;
        w.attended_pairs = B * sparse;
        w.scored_pairs = B * dense;
        break;
    case KSA_MODE_REUSE:
    default:
        w.flops = 4.0 * D * Hq * B * sparse;
        w.bytes = 2.0 * q_bytes + kv_selected + index_bytes;
        w.attended_pairs = B * sparse;
        w.scored_pairs = B * sparse;
        break;
    }
    return w;
}

double bench_floor_ms(const bench_work *w, const bench_peaks *pk, int *memory_bound)
{
    double tc = pk->tflops > 0 ? w->flops / (pk->tflops * 1e12) : 0;
    double tm = pk->bandwidth_gbs > 0 ? w->bytes / (pk->bandwidth_gbs * 1e9) : 0;
    if (memory_bound) *memory_bound = tm > tc;
    return 1e3 * (tm > tc ? tm : tc);
}

/* ---------------------------------------------------------------- peaks */

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return 0;
}

bench_peaks bench_peaks_builtin(const ksa_device_info *info)
{
    bench_peaks pk;
    memset(&pk, 0, sizeof pk);
    /* GPUs: measured figures where this project measured them (bench/PERFORMANCE.md, NOTES.md), else
     * datasheet dense 16-bit rates */
    static const struct {
        const char *needle;
        double tflops, gbs, cache_mb;
        const char *src;
    } gpus[] = {
        {"H100", 800, 3000, 50, "builtin: H100 measured (bf16 GEMM ~798 TFLOP/s, copy ~3.0 TB/s r+w)"},
        {"H200", 790, 4300, 60, "builtin: H200 measured (bf16 GEMM ~790 TFLOP/s, copy ~4.3 TB/s r+w)"},
        {"A100", 312, 1555, 40, "builtin: A100 datasheet"},
        {"MI300", 1307, 5300, 256, "builtin: MI300X datasheet"},
        {"MI250", 383, 3277, 16, "builtin: MI250X datasheet"},
        {"MI210", 181, 1638, 16, "builtin: MI210 datasheet"},
    };
    if (info->kind == KSA_DEVICE_REFERENCE) {
        pk.tflops = 0.02;
        pk.bandwidth_gbs = 5;
        pk.cache_bytes = 32e6;
        snprintf(pk.source, sizeof pk.source, "builtin: scalar float64 reference (nominal)");
        return pk;
    }
    for (size_t i = 0; i < sizeof gpus / sizeof gpus[0]; i++) {
        if (contains_ci(info->description, gpus[i].needle) || contains_ci(info->name, gpus[i].needle)) {
            pk.tflops = gpus[i].tflops;
            pk.bandwidth_gbs = gpus[i].gbs;
            pk.cache_bytes = gpus[i].cache_mb * 1e6;
            snprintf(pk.source, sizeof pk.source, "%s", gpus[i].src);
            return pk;
        }
    }
    if (info->kind == KSA_DEVICE_CPU || info->host_memory) {
        /* nominal: cores x 2.0 GHz x 16-bit FLOPs per cycle of the ISA level */
        double per_cycle = contains_ci(info->isa, "amx") ? 2048 : contains_ci(info->isa, "avx512") ? 128 : 32;
        double cores = info->compute_units > 0 ? info->compute_units : 1;
        pk.tflops = cores * 2.0e9 * per_cycle / 1e12;
        pk.bandwidth_gbs = 200;
        pk.cache_bytes = 64e6;
        snprintf(pk.source, sizeof pk.source, "builtin: nominal CPU, %g cores x 2.0 GHz x %g FLOP/cycle (%s)", cores,
                 per_cycle, info->isa);
        return pk;
    }
    pk.tflops = 100;
    pk.bandwidth_gbs = 1000;
    pk.cache_bytes = 32e6;
    snprintf(pk.source, sizeof pk.source, "builtin: unknown accelerator (guess)");
    return pk;
}

/* ---------------------------------------------------------------- .npy */

int bench_npy_read_i32(const char *path, int32_t **data, int64_t *rows, int64_t *cols, char *err, size_t err_len)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "cannot open %s", path);
        return -1;
    }
    unsigned char magic[10];
    int rc = -1;
    char *header = NULL;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "\x93NUMPY", 6) != 0) {
        snprintf(err, err_len, "%s is not a .npy file (bad magic)", path);
        goto done;
    }
    size_t hlen;
    if (magic[6] == 1) {
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2) goto truncated;
        hlen = (size_t)b[0] | ((size_t)b[1] << 8);
    } else {
        unsigned char b[4];
        if (fread(b, 1, 4, f) != 4) goto truncated;
        hlen = (size_t)b[0] | ((size_t)b[1] << 8) | ((size_t)b[2] << 16) | ((size_t)b[3] << 24);
    }
    if (hlen > 65536) {
        snprintf(err, err_len, "%s: header length %zu is implausible", path, hlen);
        goto done;
    }
    header = malloc(hlen + 1);
    if (!header || fread(header, 1, hlen, f) != hlen) goto truncated;
    header[hlen] = '\0';
    int elem = 0;
    if (strstr(header, "'<i4'")) elem = 4;
    else if (strstr(header, "'<i8'")) elem = 8;
    if (!elem) {
        snprintf(err, err_len, "%s: dtype is not little-endian int32 or int64", path);
        goto done;
    }
    if (strstr(header, "'fortran_order': True")) {
        snprintf(err, err_len, "%s: Fortran order is not supported", path);
        goto done;
    }
    const char *sh = strstr(header, "'shape':");
    long long r = 0, c = 0;
    if (!sh || sscanf(sh, "'shape': (%lld, %lld)", &r, &c) != 2 || r <= 0 || c <= 0 || r > 100000 || c > 100000) {
        snprintf(err, err_len, "%s: shape is not two positive dimensions", path);
        goto done;
    }
    size_t n = (size_t)r * (size_t)c;
    int32_t *out = malloc(n * sizeof *out);
    if (!out) goto truncated;
    for (size_t i = 0; i < n; i++) {
        unsigned char b[8];
        if (fread(b, 1, (size_t)elem, f) != (size_t)elem) {
            free(out);
            goto truncated;
        }
        int64_t v = 0;
        for (int k = elem - 1; k >= 0; k--) v = (v << 8) | b[k];
        if (elem == 4) v = (int32_t)(uint32_t)v;
        out[i] = (int32_t)v;
    }
    *data = out;
    *rows = r;
    *cols = c;
    rc = 0;
    goto done;
truncated:
    snprintf(err, err_len, "%s is truncated", path);
done:
    free(header);
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------- JSON validation */

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p)
{
    if (*p != '"') return NULL;
    p++;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20) return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)p[i])) return NULL;
                p += 4;
            } else if (!strchr("\"\\/bfnrt", *p) || !*p) {
                return NULL;
            }
        }
        p++;
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *json_number(const char *p)
{
    if (*p == '-') p++;
    if (*p == '0') p++;
    else if (isdigit((unsigned char)*p)) while (isdigit((unsigned char)*p)) p++;
    else return NULL;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return NULL;
        while (isdigit((unsigned char)*p)) p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return NULL;
        while (isdigit((unsigned char)*p)) p++;
    }
    return p;
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 32) return NULL;
    p = json_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int is_obj = *p == '{';
        p = json_ws(p + 1);
        if (*p == close) return p + 1;
        for (;;) {
            if (is_obj) {
                p = json_string(json_ws(p));
                if (!p) return NULL;
                p = json_ws(p);
                if (*p != ':') return NULL;
                p++;
            }
            p = json_value(p, depth + 1);
            if (!p) return NULL;
            p = json_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    if (*p == '"') return json_string(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    return json_number(p);
}

int bench_json_line_valid(const char *line)
{
    const char *p = json_ws(line);
    if (*p != '{') return 0;
    p = json_value(p, 0);
    return p && *json_ws(p) == '\0';
}
