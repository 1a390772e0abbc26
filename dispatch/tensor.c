/* tensor.c: dtype names and sizes, tensor descriptor constructors (overflow-safe stride
 * computation), and the span/overflow helpers the validator uses. */
#include <string.h>

#include "ksa_internal.h"

size_t ksa_dtype_size(ksa_dtype dtype)
{
    switch (dtype) {
    case KSA_DTYPE_F32: return 4;
    case KSA_DTYPE_F16: return 2;
    case KSA_DTYPE_BF16: return 2;
    case KSA_DTYPE_I32: return 4;
    default: return 0;
    }
}

const char *ksa_dtype_name(ksa_dtype dtype)
{
    switch (dtype) {
    case KSA_DTYPE_F32: return "f32";
    case KSA_DTYPE_F16: return "f16";
    case KSA_DTYPE_BF16: return "bf16";
    case KSA_DTYPE_I32: return "i32";
    default: return "invalid";
    }
}

static void fill_contiguous(ksa_tensor *t, ksa_dtype dtype, int ndim, const int64_t *shape)
{
    t->dtype = dtype;
    t->ndim = (ndim >= 0 && ndim <= KSA_MAX_DIMS) ? ndim : 0;
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->stride[i] = s;
        /* checked before multiplying: a product past INT64_MAX saturates (no overflow), and the
         * validator then refuses the shape ("the product of its sizes overflows") */
        if (__builtin_mul_overflow(s, shape[i] > 0 ? shape[i] : 1, &s)) s = INT64_MAX;
    }
}

ksa_tensor ksa_tensor_make(ksa_device dev, void *data, ksa_dtype dtype, int ndim, const int64_t *shape)
{
    ksa_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.device = dev;
    if (shape) fill_contiguous(&t, dtype, ndim, shape);
    return t;
}

ksa_tensor ksa_tensor_from_buffer(ksa_buffer buf, size_t offset, ksa_dtype dtype, int ndim, const int64_t *shape)
{
    ksa_tensor t;
    memset(&t, 0, sizeof t);
    t.buffer = buf;
    t.offset = offset;
    t.device = buf ? buf->device : NULL;
    if (shape) fill_contiguous(&t, dtype, ndim, shape);
    return t;
}

int ksa_tensor_present(const ksa_tensor *t) { return t && (t->data != NULL || t->buffer != NULL); }

int64_t ksa_tensor_numel(const ksa_tensor *t)
{
    if (!t || t->ndim <= 0 || t->ndim > KSA_MAX_DIMS) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0) return 0;
        if (__builtin_mul_overflow(n, t->shape[i], &n)) return -1;
    }
    return n;
}

int64_t ksa_view_span(int ndim, const int64_t *shape, const int64_t *stride)
{
    int64_t span = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) return 0;
        int64_t term;
        if (__builtin_mul_overflow(shape[i] - 1, stride[i], &term)) return -1;
        if (__builtin_add_overflow(span, term, &span)) return -1;
    }
    return span;
}

ksa_status ksa_tensor_memory(const ksa_tensor *t, const char *name, ksa_mem *mem, ksa_device *owner)
{
    memset(mem, 0, sizeof *mem);
    *owner = NULL;
    if (t->buffer) {
        if (t->data)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: set either data or buffer, not both", name);
        if (t->device && t->device != t->buffer->device)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: device %s differs from its buffer's device %s", name,
                             t->device->info.name, t->buffer->device->info.name);
        if (t->offset > t->buffer->size)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: offset %zu is past the end of its %zu-byte buffer", name,
                             t->offset, t->buffer->size);
        *mem = t->buffer->mem;
        mem->offset += t->offset;
        *owner = t->buffer->device;
        return KSA_STATUS_SUCCESS;
    }
    mem->ptr = t->data;
    *owner = t->device;
    return KSA_STATUS_SUCCESS;
}
