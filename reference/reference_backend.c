/* reference_backend.c: the vtable of device "reference": one host device, 64-byte aligned host
 * allocations, memcpy/memset copies, no-op streams, and the attention op of
 * reference_attention.c run strictly inside the workspace it asked for. No tunables. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ksa_internal.h"
#include "reference/ksa_reference.h"

#define REF_MEM_ALIGN 64

static ksa_status ref_init(ksa_backend *self, const ksa_host_api *host, char *why, size_t why_len)
{
    if (why && why_len) why[0] = '\0';
    return KSA_STATUS_SUCCESS;
}

static void ref_shutdown(ksa_backend *self) {}

static int ref_device_count(ksa_backend *self) { return 1; }

static ksa_status ref_device_info(ksa_backend *self, int device, ksa_device_info *out)
{
    if (device != 0) return ksa_error(KSA_STATUS_NOT_FOUND, "reference: no device %d (it has one device)", device);
    memset(out, 0, sizeof *out);
    out->kind = KSA_DEVICE_REFERENCE;
    snprintf(out->name, sizeof out->name, "reference");
    snprintf(out->backend, sizeof out->backend, "reference");
    snprintf(out->description, sizeof out->description, "scalar float64 reference");
    snprintf(out->isa, sizeof out->isa, "scalar");
    out->compute_units = 1;
    out->host_memory = 1;
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    out->memory_bytes = pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size : 0;
    return KSA_STATUS_SUCCESS;
}

static ksa_status ref_mem_alloc(ksa_backend *self, int device, size_t bytes, ksa_mem *out)
{
    memset(out, 0, sizeof *out);
    if (bytes > SIZE_MAX - REF_MEM_ALIGN)
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "reference: cannot allocate %zu bytes", bytes);
    size_t rounded = (bytes + REF_MEM_ALIGN - 1) / REF_MEM_ALIGN * REF_MEM_ALIGN;
    void *m = aligned_alloc(REF_MEM_ALIGN, rounded ? rounded : REF_MEM_ALIGN);
    if (!m) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "reference: cannot allocate %zu bytes", bytes);
    out->ptr = m;
    out->native = m; /* owned: mem_free releases it */
    return KSA_STATUS_SUCCESS;
}

static void ref_mem_free(ksa_backend *self, int device, ksa_mem mem) { free(mem.native); }

static ksa_status ref_mem_wrap(ksa_backend *self, int device, void *native, size_t bytes, ksa_mem *out)
{
    memset(out, 0, sizeof *out);
    out->ptr = native; /* native stays NULL: wrapped memory is the caller's */
    return KSA_STATUS_SUCCESS;
}

static ksa_status ref_mem_write(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, const void *src,
                                size_t bytes)
{
    if (bytes) memcpy((char *)ksa_mem_addr(dst) + offset, src, bytes);
    return KSA_STATUS_SUCCESS;
}

static ksa_status ref_mem_read(ksa_backend *self, int device, void *stream, void *dst, ksa_mem src, size_t offset,
                               size_t bytes)
{
    if (bytes) memcpy(dst, (const char *)ksa_mem_addr(src) + offset, bytes);
    return KSA_STATUS_SUCCESS;
}

static ksa_status ref_mem_fill(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, size_t bytes,
                               uint8_t value)
{
    if (bytes) memset((char *)ksa_mem_addr(dst) + offset, value, bytes);
    return KSA_STATUS_SUCCESS;
}

static ksa_status ref_stream_create(ksa_backend *self, int device, void **native)
{
    *native = NULL; /* the reference runs synchronously on the calling thread */
    return KSA_STATUS_SUCCESS;
}

static void ref_stream_destroy(ksa_backend *self, int device, void *native) {}

static ksa_status ref_stream_sync(ksa_backend *self, int device, void *native) { return KSA_STATUS_SUCCESS; }

static ksa_status ref_attention_workspace(ksa_backend *self, int device, const ksa_problem *p, size_t *bytes)
{
    *bytes = ksa_reference_workspace_bytes(p);
    return KSA_STATUS_SUCCESS;
}

static ksa_status ref_attention(ksa_backend *self, int device, void *stream, const ksa_problem *p, ksa_call_info *info)
{
    return ksa_reference_attention_in_workspace(p, info);
}

static ksa_backend reference_backend = {
    .abi_version = KSA_BACKEND_ABI_VERSION,
    .name = "reference",
    .kind = KSA_DEVICE_REFERENCE,
    .host_memory = 1,
    .state = NULL,
    .init = ref_init,
    .shutdown = ref_shutdown,
    .device_count = ref_device_count,
    .device_info = ref_device_info,
    .mem_alloc = ref_mem_alloc,
    .mem_free = ref_mem_free,
    .mem_wrap = ref_mem_wrap,
    .mem_write = ref_mem_write,
    .mem_read = ref_mem_read,
    .mem_fill = ref_mem_fill,
    .stream_create = ref_stream_create,
    .stream_destroy = ref_stream_destroy,
    .stream_sync = ref_stream_sync,
    .attention_workspace = ref_attention_workspace,
    .attention = ref_attention,
    .tunables = NULL,
};

ksa_backend *ksa_reference_backend(void) { return &reference_backend; }
