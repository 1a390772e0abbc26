/* fake_plugin.c: a tiny test plugin that proves the dlopen loader. Built three times: with the
 * right backend ABI (one host-memory device "fake:0" whose attention returns UNSUPPORTED with a
 * sentence); with -DFAKE_WRONG_ABI, speaking another ABI number so the loader must refuse it; and
 * with -DFAKE_AS_CUDA as libksa_cuda.so posing as a GPU ("cuda:0", kind CUDA), so that tests can
 * see which device "auto" (and ksa-demo) picks when a GPU is present. */
#ifdef FAKE_AS_CUDA
#define FAKE_NAME "cuda"
#define FAKE_DEVICE "cuda:0"
#define FAKE_KIND KSA_DEVICE_CUDA
#else
#define FAKE_NAME "fake"
#define FAKE_DEVICE "fake:0"
#define FAKE_KIND KSA_DEVICE_CPU
#endif
#include <stdlib.h>
#include <string.h>

#include "ksa_backend.h"

static const ksa_host_api *host;

static ksa_status fake_init(ksa_backend *self, const ksa_host_api *h, char *why, size_t why_len)
{
    host = h;
    return KSA_STATUS_SUCCESS;
}
static int fake_count(ksa_backend *self) { return 1; }
static ksa_status fake_info(ksa_backend *self, int device, ksa_device_info *out)
{
    memset(out, 0, sizeof *out);
    strcpy(out->name, FAKE_DEVICE);
    strcpy(out->description, "test plugin device");
    strcpy(out->isa, "none");
    out->compute_units = 1;
    return KSA_STATUS_SUCCESS;
}
static ksa_status fake_alloc(ksa_backend *self, int device, size_t bytes, ksa_mem *out)
{
    memset(out, 0, sizeof *out);
    out->ptr = malloc(bytes);
    return out->ptr ? KSA_STATUS_SUCCESS : KSA_STATUS_OUT_OF_MEMORY;
}
static void fake_free(ksa_backend *self, int device, ksa_mem m) { free(m.ptr); }
static ksa_status fake_write(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t off, const void *src, size_t n)
{
    memcpy((char *)ksa_mem_addr(dst) + off, src, n);
    return KSA_STATUS_SUCCESS;
}
static ksa_status fake_read(ksa_backend *self, int device, void *stream, void *dst, ksa_mem src, size_t off, size_t n)
{
    memcpy(dst, (char *)ksa_mem_addr(src) + off, n);
    return KSA_STATUS_SUCCESS;
}
static ksa_status fake_fill(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t off, size_t n, uint8_t v)
{
    memset((char *)ksa_mem_addr(dst) + off, v, n);
    return KSA_STATUS_SUCCESS;
}
static ksa_status fake_attention(ksa_backend *self, int device, void *stream, const ksa_problem *p, ksa_call_info *info)
{
    return host->set_error(KSA_STATUS_UNSUPPORTED, "the fake test backend computes no attention");
}

static ksa_backend fake = {
#ifdef FAKE_WRONG_ABI
    KSA_BACKEND_ABI_VERSION + 100u,
#else
    KSA_BACKEND_ABI_VERSION,
#endif
    FAKE_NAME, FAKE_KIND, 0, NULL, fake_init, NULL, fake_count, fake_info, fake_alloc, fake_free, NULL, fake_write,
    fake_read, fake_fill, NULL, NULL, NULL, NULL, fake_attention, NULL};

__attribute__((visibility("default"))) ksa_backend *ksa_plugin_backend(uint32_t abi_version)
{
    (void)abi_version;
    return &fake; /* deliberately ignores the argument so the loader's own check is exercised */
}
