/* context.c: the context and its backend registry (built-in reference and cpu backends, dlopen
 * plugins with an ABI check), device enumeration and naming ("auto", "cpu", "cuda:0", ...),
 * streams and buffers. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksa_internal.h"

#ifndef KSA_PLUGIN_INSTALL_SUBDIR
#define KSA_PLUGIN_INSTALL_SUBDIR "ksa"
#endif

/* Backends that ship as plugins; listed as absent (with the reason) when their file is missing. */
static const char *const known_plugins[] = {"cuda", "hip", "opencl"};

static void add_entry_builtin(ksa_context ctx, ksa_backend *be)
{
    ksa_backend_entry *e = &ctx->entries[ctx->num_entries++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", be->name);
    e->builtin = 1;
    char why[256] = "";
    ksa_status st = be->init ? be->init(be, ksa_host_api_get(), why, sizeof why) : KSA_STATUS_SUCCESS;
    if (st == KSA_STATUS_SUCCESS) {
        e->backend = be;
    } else {
        snprintf(e->why, sizeof e->why, "%s", why[0] ? why : ksa_status_string(st));
        ksa_log("backend %s absent: %s", e->name, e->why);
    }
}

static ksa_backend_entry *find_entry(ksa_context ctx, const char *name)
{
    for (int i = 0; i < ctx->num_entries; i++)
        if (strcmp(ctx->entries[i].name, name) == 0) return &ctx->entries[i];
    return NULL;
}

/* Try to load one plugin file. Records the outcome in an entry named after the file. */
static void load_plugin(ksa_context ctx, const char *path, const char *name)
{
    ksa_backend_entry *e = find_entry(ctx, name);
    if (e && e->backend) return; /* an earlier directory already provided it */
    if (!e) {
        if (ctx->num_entries >= KSA_MAX_BACKENDS) return;
        e = &ctx->entries[ctx->num_entries++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", name);
    }
    snprintf(e->path, sizeof e->path, "%s", path);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *msg = dlerror();
        snprintf(e->why, sizeof e->why, "cannot load %s: %s", path, msg ? msg : "unknown dlopen error");
        ksa_log("plugin %s absent: %s", name, e->why);
        return;
    }
    ksa_plugin_entry_fn entry = (ksa_plugin_entry_fn)(uintptr_t)dlsym(h, KSA_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(e->why, sizeof e->why, "%s has no symbol %s", path, KSA_PLUGIN_ENTRY_SYMBOL);
        ksa_log("plugin %s refused: %s", name, e->why);
        dlclose(h);
        return;
    }
    ksa_backend *be = entry(KSA_BACKEND_ABI_VERSION);
    if (!be || be->abi_version != KSA_BACKEND_ABI_VERSION) {
        snprintf(e->why, sizeof e->why, "%s speaks backend ABI %u, this libksa expects %u", path,
                 be ? be->abi_version : 0u, KSA_BACKEND_ABI_VERSION);
        ksa_log("plugin %s refused: %s", name, e->why);
        dlclose(h);
        return;
    }
    char why[256] = "";
    ksa_status st = be->init ? be->init(be, ksa_host_api_get(), why, sizeof why) : KSA_STATUS_SUCCESS;
    if (st != KSA_STATUS_SUCCESS) {
        snprintf(e->why, sizeof e->why, "%s", why[0] ? why : ksa_status_string(st));
        ksa_log("plugin %s loaded from %s but has no device: %s", name, path, e->why);
        dlclose(h);
        return;
    }
    e->backend = be;
    e->dl_handle = h;
    e->why[0] = '\0';
    ksa_log("plugin %s loaded from %s (%d device(s))", name, path, be->device_count ? be->device_count(be) : 0);
}

static void scan_dir(ksa_context ctx, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char names[64][64];
    int n = 0;
    while ((de = readdir(d)) != NULL && n < 64) {
        const char *fn = de->d_name;
        size_t len = strlen(fn);
        if (len > 10 && strncmp(fn, "libksa_", 7) == 0 && strcmp(fn + len - 3, ".so") == 0 && len - 10 < 63) {
            memcpy(names[n], fn + 7, len - 10);
            names[n][len - 10] = '\0';
            n++;
        }
    }
    closedir(d);
    /* deterministic order */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char tmp[64];
                memcpy(tmp, names[i], 64);
                memcpy(names[i], names[j], 64);
                memcpy(names[j], tmp, 64);
            }
    for (int i = 0; i < n; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/libksa_%s.so", dir, names[i]);
        load_plugin(ctx, path, names[i]);
    }
}

static void load_plugins(ksa_context ctx, char *searched, size_t searched_len)
{
    const char *env = getenv("KSA_PLUGIN_PATH");
    searched[0] = '\0';
    if (env && *env) {
        char buf[2048];
        snprintf(buf, sizeof buf, "%s", env);
        char *save = NULL;
        for (char *dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
            scan_dir(ctx, dir);
            size_t l = strlen(searched);
            snprintf(searched + l, searched_len - l, "%s%s", l ? ", " : "", dir);
        }
    }
    /* next to libksa, and in its ksa/ subfolder (the install layout) */
    Dl_info info;
    if (dladdr((void *)(uintptr_t)&ksa_context_create, &info) && info.dli_fname) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", info.dli_fname);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            /* beside the binary that holds libksa, its ksa/ subfolder, and ../lib(/ksa) for
             * programs in bin/ that link ksa statically (ksa-info, tests) */
            static const char *const rel[] = {"", "/" KSA_PLUGIN_INSTALL_SUBDIR, "/../lib", "/../lib/" KSA_PLUGIN_INSTALL_SUBDIR};
            for (size_t r = 0; r < sizeof rel / sizeof rel[0]; r++) {
                char sub[1100];
                snprintf(sub, sizeof sub, "%s%s", dir, rel[r]);
                scan_dir(ctx, sub);
                size_t l = strlen(searched);
                snprintf(searched + l, searched_len - l, "%s%s", l ? ", " : "", sub);
            }
        }
    }
}

ksa_status ksa_context_create(ksa_context *out)
{
    ksa_clear_error();
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_context_create: out is NULL");
    *out = NULL;
    ksa_context ctx = calloc(1, sizeof *ctx);
    if (!ctx) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa_context_create: out of host memory");
#if defined(KSA_HAVE_CPU_BACKEND) && KSA_HAVE_CPU_BACKEND
    add_entry_builtin(ctx, ksa_cpu_backend());
#endif
    add_entry_builtin(ctx, ksa_reference_backend());
    char searched[2048];
    load_plugins(ctx, searched, sizeof searched);
    for (size_t i = 0; i < sizeof known_plugins / sizeof known_plugins[0]; i++) {
        if (find_entry(ctx, known_plugins[i]) || ctx->num_entries >= KSA_MAX_BACKENDS) continue;
        ksa_backend_entry *e = &ctx->entries[ctx->num_entries++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", known_plugins[i]);
        snprintf(e->why, sizeof e->why, "plugin libksa_%s.so not found (searched: %s)", known_plugins[i],
                 searched[0] ? searched : "nothing");
    }
    /* devices */
    int total = 0;
    for (int i = 0; i < ctx->num_entries; i++) {
        ksa_backend *be = ctx->entries[i].backend;
        if (be && be->device_count) total += be->device_count(be);
    }
    ctx->devices = calloc(total > 0 ? (size_t)total : 1, sizeof *ctx->devices);
    if (!ctx->devices) {
        ksa_context_destroy(ctx);
        return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa_context_create: out of host memory");
    }
    for (int i = 0; i < ctx->num_entries; i++) {
        ksa_backend *be = ctx->entries[i].backend;
        if (!be || !be->device_count) continue;
        int n = be->device_count(be);
        for (int d = 0; d < n; d++) {
            struct ksa_device_s *dev = &ctx->devices[ctx->num_devices];
            dev->ctx = ctx;
            dev->backend = be;
            dev->index = d;
            if (be->device_info(be, d, &dev->info) != KSA_STATUS_SUCCESS) continue;
            snprintf(dev->info.backend, sizeof dev->info.backend, "%s", be->name);
            dev->info.kind = be->kind;
            dev->info.host_memory = be->host_memory;
            ctx->num_devices++;
        }
    }
    *out = ctx;
    return KSA_STATUS_SUCCESS;
}

void ksa_context_destroy(ksa_context ctx)
{
    if (!ctx) return;
    for (int i = 0; i < ctx->num_entries; i++) {
        ksa_backend_entry *e = &ctx->entries[i];
        if (e->backend && e->backend->shutdown && !e->builtin) e->backend->shutdown(e->backend);
        /* Plugins stay mapped: a CUDA runtime torn down by dlclose at exit is a known source of
         * crashes, and a plugin may hold process-wide state. */
    }
    free(ctx->devices);
    free(ctx);
}

int ksa_context_backend_count(ksa_context ctx) { return ctx ? ctx->num_entries : 0; }
const ksa_backend_entry *ksa_context_backend_entry(ksa_context ctx, int i)
{
    return (ctx && i >= 0 && i < ctx->num_entries) ? &ctx->entries[i] : NULL;
}

ksa_status ksa_device_count(ksa_context ctx, int *count)
{
    ksa_clear_error();
    if (!ctx) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_device_count: ctx is NULL");
    if (!count) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_device_count: count is NULL");
    *count = ctx->num_devices;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_device_get(ksa_context ctx, int index, ksa_device *out)
{
    ksa_clear_error();
    if (!ctx) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_device_get: ctx is NULL");
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_device_get: out is NULL");
    if (index < 0 || index >= ctx->num_devices)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_device_get: index %d is outside 0..%d", index,
                         ctx->num_devices - 1);
    *out = &ctx->devices[index];
    return KSA_STATUS_SUCCESS;
}

static ksa_device find_device(ksa_context ctx, const char *name)
{
    for (int i = 0; i < ctx->num_devices; i++)
        if (strcmp(ctx->devices[i].info.name, name) == 0) return &ctx->devices[i];
    /* a bare backend name means its first device */
    for (int i = 0; i < ctx->num_devices; i++)
        if (strcmp(ctx->devices[i].info.backend, name) == 0) return &ctx->devices[i];
    return NULL;
}

ksa_status ksa_device_open(ksa_context ctx, const char *name, ksa_device *out)
{
    ksa_clear_error();
    if (!ctx) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_device_open: ctx is NULL");
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_device_open: out is NULL");
    if (!name) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_device_open: name is NULL");
    *out = NULL;
    const char *want = name;
    if (strcmp(name, "auto") == 0) {
        const char *env = getenv("KSA_BACKEND");
        if (env && *env && strcmp(env, "auto") != 0) {
            want = env;
        } else {
            static const char *const order[] = {"cuda", "hip", "cpu", "opencl", "reference"};
            for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
                ksa_device d = find_device(ctx, order[i]);
                if (d) {
                    *out = d;
                    return KSA_STATUS_SUCCESS;
                }
            }
            return ksa_error(KSA_STATUS_NOT_FOUND, "ksa_device_open: no device found at all");
        }
    }
    ksa_device d = find_device(ctx, want);
    if (!d) {
        /* say why, when the backend is known but absent */
        char backend[32];
        snprintf(backend, sizeof backend, "%s", want);
        char *colon = strchr(backend, ':');
        if (colon) *colon = '\0';
        ksa_backend_entry *e = find_entry(ctx, backend);
        if (e && !e->backend)
            return ksa_error(KSA_STATUS_NOT_FOUND, "ksa_device_open: device \"%s\"%s is not available: backend %s is absent (%s)",
                             want, want == name ? "" : " (from KSA_BACKEND)", backend, e->why);
        return ksa_error(KSA_STATUS_NOT_FOUND, "ksa_device_open: no device named \"%s\"%s", want,
                         want == name ? "" : " (from KSA_BACKEND)");
    }
    *out = d;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_device_get_info(ksa_device dev, ksa_device_info *out)
{
    ksa_clear_error();
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_device_get_info: dev is NULL");
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_device_get_info: out is NULL");
    *out = dev->info;
    return KSA_STATUS_SUCCESS;
}

int ksa_devices_share_memory(ksa_device a, ksa_device b)
{
    if (a == b) return 1;
    if (!a || !b) return 0;
    return a->backend->host_memory && b->backend->host_memory;
}

/* ---------------------------------------------------------------- streams */
ksa_status ksa_stream_create(ksa_device dev, ksa_stream *out)
{
    ksa_clear_error();
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_stream_create: dev is NULL");
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_stream_create: out is NULL");
    *out = NULL;
    ksa_stream s = calloc(1, sizeof *s);
    if (!s) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa_stream_create: out of host memory");
    s->device = dev;
    s->owned = 1;
    if (dev->backend->stream_create) {
        ksa_status st = dev->backend->stream_create(dev->backend, dev->index, &s->native);
        if (st != KSA_STATUS_SUCCESS) {
            free(s);
            return st;
        }
    }
    *out = s;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_stream_wrap(ksa_device dev, void *native_stream, ksa_stream *out)
{
    ksa_clear_error();
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_stream_wrap: dev is NULL");
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_stream_wrap: out is NULL");
    *out = NULL;
    ksa_stream s = calloc(1, sizeof *s);
    if (!s) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa_stream_wrap: out of host memory");
    s->device = dev;
    s->native = native_stream;
    s->owned = 0;
    *out = s;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_stream_synchronize(ksa_device dev, ksa_stream stream)
{
    ksa_clear_error();
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_stream_synchronize: dev is NULL");
    if (stream && stream->device != dev)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_stream_synchronize: stream belongs to device %s, not %s",
                         stream->device->info.name, dev->info.name);
    if (!dev->backend->stream_sync) return KSA_STATUS_SUCCESS;
    return dev->backend->stream_sync(dev->backend, dev->index, stream ? stream->native : NULL);
}

void ksa_stream_destroy(ksa_stream stream)
{
    if (!stream) return;
    ksa_device dev = stream->device;
    if (stream->owned && dev->backend->stream_destroy) dev->backend->stream_destroy(dev->backend, dev->index, stream->native);
    free(stream);
}

/* ---------------------------------------------------------------- buffers */
ksa_status ksa_buffer_alloc(ksa_device dev, size_t bytes, ksa_buffer *out)
{
    ksa_clear_error();
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_buffer_alloc: dev is NULL");
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_buffer_alloc: out is NULL");
    *out = NULL;
    if (bytes == 0) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_buffer_alloc: bytes is 0");
    ksa_buffer b = calloc(1, sizeof *b);
    if (!b) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa_buffer_alloc: out of host memory");
    ksa_status st = dev->backend->mem_alloc(dev->backend, dev->index, bytes, &b->mem);
    if (st != KSA_STATUS_SUCCESS) {
        free(b);
        return st;
    }
    b->device = dev;
    b->size = bytes;
    b->owned = 1;
    *out = b;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_buffer_wrap(ksa_device dev, void *native, size_t bytes, ksa_buffer *out)
{
    ksa_clear_error();
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_buffer_wrap: dev is NULL");
    if (!out) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_buffer_wrap: out is NULL");
    if (!native) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_buffer_wrap: native is NULL");
    *out = NULL;
    ksa_buffer b = calloc(1, sizeof *b);
    if (!b) return ksa_error(KSA_STATUS_OUT_OF_MEMORY, "ksa_buffer_wrap: out of host memory");
    if (dev->backend->mem_wrap) {
        ksa_status st = dev->backend->mem_wrap(dev->backend, dev->index, native, bytes, &b->mem);
        if (st != KSA_STATUS_SUCCESS) {
            free(b);
            return st;
        }
    } else {
        b->mem.ptr = native;
    }
    b->device = dev;
    b->size = bytes;
    b->owned = 0;
    *out = b;
    return KSA_STATUS_SUCCESS;
}

void ksa_buffer_free(ksa_buffer buf)
{
    if (!buf) return;
    if (buf->owned) buf->device->backend->mem_free(buf->device->backend, buf->device->index, buf->mem);
    free(buf);
}

size_t ksa_buffer_size(ksa_buffer buf) { return buf ? buf->size : 0; }
void *ksa_buffer_data(ksa_buffer buf) { return buf ? ksa_mem_addr(buf->mem) : NULL; }

static ksa_status check_copy(const char *fn, ksa_buffer buf, size_t offset, size_t bytes, const void *host,
                             ksa_stream stream)
{
    if (!buf) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: buffer is NULL", fn);
    if (!host && bytes) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: host pointer is NULL", fn);
    if (offset > buf->size || bytes > buf->size - offset)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: range [%zu, %zu + %zu) exceeds the buffer's %zu bytes", fn,
                         offset, offset, bytes, buf->size);
    if (stream && stream->device != buf->device)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "%s: stream belongs to device %s, the buffer to %s", fn,
                         stream->device->info.name, buf->device->info.name);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_buffer_write(ksa_buffer dst, size_t dst_offset, const void *src, size_t bytes, ksa_stream stream)
{
    ksa_clear_error();
    ksa_status st = check_copy("ksa_buffer_write", dst, dst_offset, bytes, src, stream);
    if (st != KSA_STATUS_SUCCESS || bytes == 0) return st;
    ksa_device d = dst->device;
    return d->backend->mem_write(d->backend, d->index, stream ? stream->native : NULL, dst->mem, dst_offset, src, bytes);
}

ksa_status ksa_buffer_read(void *dst, ksa_buffer src, size_t src_offset, size_t bytes, ksa_stream stream)
{
    ksa_clear_error();
    ksa_status st = check_copy("ksa_buffer_read", src, src_offset, bytes, dst, stream);
    if (st != KSA_STATUS_SUCCESS || bytes == 0) return st;
    ksa_device d = src->device;
    return d->backend->mem_read(d->backend, d->index, stream ? stream->native : NULL, dst, src->mem, src_offset, bytes);
}

ksa_status ksa_buffer_fill(ksa_buffer dst, size_t offset, size_t bytes, uint8_t value, ksa_stream stream)
{
    ksa_clear_error();
    ksa_status st = check_copy("ksa_buffer_fill", dst, offset, bytes, "", stream);
    if (st != KSA_STATUS_SUCCESS || bytes == 0) return st;
    ksa_device d = dst->device;
    return d->backend->mem_fill(d->backend, d->index, stream ? stream->native : NULL, dst->mem, offset, bytes, value);
}
