/* npy.c: reader and writer for the subset of NumPy's .npy format that calibration needs
 * (little-endian int32/float32/float64, C order, format versions 1-3). The parser works on an
 * in-memory image, checks every length against the bytes it has, and turns anything unexpected
 * into KSA_STATUS_INVALID_FILE with a sentence. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_internal.h"

size_t ksa_npy_dtype_size(ksa_npy_dtype dtype)
{
    switch (dtype) {
    case KSA_NPY_I32: return 4;
    case KSA_NPY_F32: return 4;
    case KSA_NPY_F64: return 8;
    default: return 0;
    }
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

void ksa_npy_free(ksa_npy_array *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- header dictionary parsing */
typedef struct hdr_cursor {
    const char *s;
    size_t n, i;
} hdr_cursor;

static void skip_ws(hdr_cursor *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r')) c->i++;
}

static int eat(hdr_cursor *c, char ch)
{
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == ch) {
        c->i++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "..."), copied into out (at most out_len - 1 chars). */
static int read_quoted(hdr_cursor *c, char *out, size_t out_len)
{
    skip_ws(c);
    if (c->i >= c->n || (c->s[c->i] != '\'' && c->s[c->i] != '"')) return 0;
    char q = c->s[c->i++];
    size_t k = 0;
    while (c->i < c->n && c->s[c->i] != q) {
        if (k + 1 >= out_len) return 0;
        out[k++] = c->s[c->i++];
    }
    if (c->i >= c->n) return 0;
    c->i++;
    out[k] = '\0';
    return 1;
}

static int read_word(hdr_cursor *c, char *out, size_t out_len)
{
    skip_ws(c);
    size_t k = 0;
    while (c->i < c->n && ((c->s[c->i] >= 'A' && c->s[c->i] <= 'Z') || (c->s[c->i] >= 'a' && c->s[c->i] <= 'z'))) {
        if (k + 1 >= out_len) return 0;
        out[k++] = c->s[c->i++];
    }
    out[k] = '\0';
    return k > 0;
}

static int read_int64(hdr_cursor *c, int64_t *v)
{
    skip_ws(c);
    int64_t x = 0;
    size_t start = c->i;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
        int d = c->s[c->i] - '0';
        if (x > (INT64_MAX - d) / 10) return 0;
        x = x * 10 + d;
        c->i++;
    }
    if (c->i < c->n && c->s[c->i] == 'L') c->i++; /* Python 2 long suffix */
    *v = x;
    return c->i > start;
}

#define BAD(...) ksa_error(KSA_STATUS_INVALID_FILE, __VA_ARGS__)

static ksa_status parse_header(const char *what, const char *h, size_t n, ksa_npy_array *out)
{
    hdr_cursor c = {h, n, 0};
    int have_descr = 0, have_order = 0, have_shape = 0;
    if (!eat(&c, '{')) return BAD("%s: the .npy header is not a dictionary (no '{')", what);
    for (;;) {
        if (eat(&c, '}')) break;
        char key[32];
        if (!read_quoted(&c, key, sizeof key)) return BAD("%s: the .npy header has a malformed key", what);
        if (!eat(&c, ':')) return BAD("%s: the .npy header has no ':' after key '%s'", what, key);
        if (strcmp(key, "descr") == 0) {
            char d[16];
            if (!read_quoted(&c, d, sizeof d)) return BAD("%s: the .npy header's descr is not a short string", what);
            if (strcmp(d, "<i4") == 0)
                out->dtype = KSA_NPY_I32;
            else if (strcmp(d, "<f4") == 0)
                out->dtype = KSA_NPY_F32;
            else if (strcmp(d, "<f8") == 0)
                out->dtype = KSA_NPY_F64;
            else
                return BAD("%s: dtype '%s' is not supported (only little-endian '<i4', '<f4', '<f8')", what, d);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            char w[8];
            if (!read_word(&c, w, sizeof w)) return BAD("%s: the .npy header's fortran_order is not True/False", what);
            if (strcmp(w, "True") == 0) return BAD("%s: Fortran-order arrays are not supported; save in C order", what);
            if (strcmp(w, "False") != 0) return BAD("%s: the .npy header's fortran_order is '%s', not True/False", what, w);
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!eat(&c, '(')) return BAD("%s: the .npy header's shape is not a tuple", what);
            int32_t nd = 0;
            int64_t numel = 1;
            for (;;) {
                if (eat(&c, ')')) break;
                int64_t v;
                if (!read_int64(&c, &v)) return BAD("%s: the .npy header's shape holds something that is not a size", what);
                if (nd >= KSA_NPY_MAX_DIMS) return BAD("%s: more than %d dimensions", what, KSA_NPY_MAX_DIMS);
                if (v > 0 && numel > INT64_MAX / v) return BAD("%s: the shape's element count overflows", what);
                numel *= v;
                out->shape[nd++] = v;
                if (eat(&c, ',')) continue;
                if (eat(&c, ')')) break;
                return BAD("%s: the .npy header's shape tuple is malformed", what);
            }
            out->ndim = nd;
            out->numel = numel;
            have_shape = 1;
        } else {
            return BAD("%s: unknown key '%s' in the .npy header", what, key);
        }
        if (eat(&c, ',')) continue;
        if (eat(&c, '}')) break;
        return BAD("%s: the .npy header dictionary is malformed after key '%s'", what, key);
    }
    if (!have_descr) return BAD("%s: the .npy header has no descr", what);
    if (!have_order) return BAD("%s: the .npy header has no fortran_order", what);
    if (!have_shape) return BAD("%s: the .npy header has no shape", what);
    return KSA_STATUS_SUCCESS;
}

static ksa_status parse_named(const char *what, const void *bytes, size_t size, ksa_npy_array *out)
{
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_npy_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!bytes && size) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_npy_parse: bytes is NULL");
    if (!host_is_little_endian())
        return ksa_error(KSA_STATUS_UNSUPPORTED, "%s: .npy reading is implemented for little-endian hosts only", what);
    const unsigned char *b = (const unsigned char *)bytes;
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size < 10 || memcmp(b, magic, 6) != 0) return BAD("%s: not a .npy file (no \\x93NUMPY magic)", what);
    unsigned major = b[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return BAD("%s: truncated .npy header", what);
        hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        hstart = 12;
    } else {
        return BAD("%s: .npy format version %u.%u is not supported (1, 2 or 3)", what, major, (unsigned)b[7]);
    }
    if (hlen > size - hstart) return BAD("%s: the .npy header length %zu runs past the end of the file", what, hlen);
    ksa_npy_array a;
    memset(&a, 0, sizeof a);
    ksa_status st = parse_header(what, (const char *)b + hstart, hlen, &a);
    if (st) return st;
    size_t es = ksa_npy_dtype_size(a.dtype);
    size_t avail = size - hstart - hlen;
    if ((uint64_t)a.numel > (uint64_t)SIZE_MAX / es)
        return BAD("%s: %lld elements do not fit in memory", what, (long long)a.numel);
    size_t need = (size_t)a.numel * es;
    if (avail < need)
        return BAD("%s: the data is truncated: %zu bytes for %lld elements of %zu bytes", what, avail, (long long)a.numel, es);
    if (avail > need) return BAD("%s: %zu bytes of trailing data after the array", what, avail - need);
    a.data = malloc(need ? need : 1);
    if (!a.data) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", what, need);
    if (need) memcpy(a.data, b + hstart + hlen, need);
    *out = a;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_npy_parse(const void *bytes, size_t size, ksa_npy_array *out)
{
    return parse_named("ksa_npy_parse", bytes, size, out);
}

ksa_status ksa_calib_read_file(const char *path, char **bytes, size_t *size)
{
    *bytes = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ksa_error(KSA_STATUS_IO_ERROR, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate a read buffer", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap > SIZE_MAX / 4) break;
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, cap * 2);
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
        return ksa_error(KSA_STATUS_IO_ERROR, "%s: read error", path);
    }
    buf[n] = '\0';
    *bytes = buf;
    *size = n;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_npy_read(const char *path, ksa_npy_array *out)
{
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_npy_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_npy_read: path is NULL");
    char *bytes;
    size_t size;
    ksa_status st = ksa_calib_read_file(path, &bytes, &size);
    if (st) return st;
    st = parse_named(path, bytes, size, out);
    free(bytes);
    return st;
}

ksa_status ksa_npy_write(const char *path, ksa_npy_dtype dtype, int32_t ndim, const int64_t *shape, const void *data)
{
    if (!path) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_npy_write: path is NULL");
    size_t es = ksa_npy_dtype_size(dtype);
    if (!es) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_npy_write: dtype %d is not a ksa_npy_dtype", (int)dtype);
    if (ndim < 0 || ndim > KSA_NPY_MAX_DIMS)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_npy_write: ndim is %d; it must be in 0..%d", ndim, KSA_NPY_MAX_DIMS);
    if (ndim > 0 && !shape) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_npy_write: shape is NULL");
    if (!host_is_little_endian())
        return ksa_error(KSA_STATUS_UNSUPPORTED, "ksa_npy_write: implemented for little-endian hosts only");
    int64_t numel = 1;
    for (int32_t i = 0; i < ndim; i++) {
        if (shape[i] < 0) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_npy_write: shape[%d] is negative", i);
        if (shape[i] > 0 && numel > INT64_MAX / shape[i] / (int64_t)es)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_npy_write: the shape's size overflows");
        numel *= shape[i];
    }
    if (numel > 0 && !data) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_npy_write: data is NULL");
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       dtype == KSA_NPY_I32 ? "<i4" : dtype == KSA_NPY_F32 ? "<f4" : "<f8");
    for (int32_t i = 0; i < ndim; i++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld,%s", (long long)shape[i], (i + 1 < ndim) ? " " : "");
    if (ndim > 1) len--; /* NumPy writes "(32, 8)" and "(32,)" */
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    /* pad with spaces + '\n' so that 10 + header length is a multiple of 64 */
    size_t total = 10 + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - 10;
    unsigned char head[10 + 600];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)len);
    memset(head + 10 + len, ' ', hlen - (size_t)len - 1);
    head[padded - 1] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f) return ksa_error(KSA_STATUS_IO_ERROR, "%s: cannot create: %s", path, strerror(errno));
    int ok = fwrite(head, 1, padded, f) == padded;
    if (ok && numel > 0) ok = fwrite(data, es, (size_t)numel, f) == (size_t)numel;
    if (fclose(f) != 0) ok = 0;
    if (!ok) return ksa_error(KSA_STATUS_IO_ERROR, "%s: write failed", path);
    return KSA_STATUS_SUCCESS;
}
