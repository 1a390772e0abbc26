/* opencl_backend.c: the OpenCL backend plugin (libksa_opencl.so): its single exported entry point
 * ksa_plugin_backend(), platform/device discovery ("opencl:P.D"), cl_mem memory (allocation,
 * wrapping a caller's cl_mem, copies, fills), command queues (default in-order queue per device,
 * created queues, callers' queues and their contexts). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl_driver_quirks.h"
#include "ocl_internal.h"

/* One process-wide state: every ksa_context shares the plugin (dlopen returns the same image), so
 * init/shutdown are reference-counted. */
static ksa_ocl_state g_state;
static int g_refs;
static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;

ksa_ocl_state *ksa_ocl_state_of(ksa_backend *self) { return (ksa_ocl_state *)self->state; }

const char *ksa_ocl_error_name(cl_int err)
{
    switch (err) {
    case CL_SUCCESS: return "CL_SUCCESS";
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_CONTEXT: return "CL_INVALID_CONTEXT";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_BINARY: return "CL_INVALID_BINARY";
    case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_PROGRAM: return "CL_INVALID_PROGRAM";
    case CL_INVALID_PROGRAM_EXECUTABLE: return "CL_INVALID_PROGRAM_EXECUTABLE";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL: return "CL_INVALID_KERNEL";
    case CL_INVALID_ARG_INDEX: return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_DIMENSION: return "CL_INVALID_WORK_DIMENSION";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE: return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_OFFSET: return "CL_INVALID_GLOBAL_OFFSET";
    case CL_INVALID_EVENT_WAIT_LIST: return "CL_INVALID_EVENT_WAIT_LIST";
    case CL_INVALID_OPERATION: return "CL_INVALID_OPERATION";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case CL_MISALIGNED_SUB_BUFFER_OFFSET: return "CL_MISALIGNED_SUB_BUFFER_OFFSET";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "an unknown OpenCL error";
    }
}

#define OCL_FAIL(self, err, what)                                                                       \
    ksa_ocl_state_of(self)->host->set_error(KSA_STATUS_DEVICE_ERROR, "opencl: %s failed: %s (%d)", what, \
                                            ksa_ocl_error_name(err), (int)(err))

/* A device string, cut to fit `buf` when longer (device versions such as PoCL's "OpenCL 3.0 PoCL
 * HSTR: pthread-x86_64-pc-linux-gnu-skylake-avx512" can exceed the fields they are kept in). */
static void get_string(cl_device_id d, cl_device_info what, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t need = 0;
    if (clGetDeviceInfo(d, what, 0, NULL, &need) != CL_SUCCESS || need == 0) return;
    if (need <= len) {
        if (clGetDeviceInfo(d, what, len, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
    } else {
        char *whole = malloc(need);
        if (whole && clGetDeviceInfo(d, what, need, whole, NULL) == CL_SUCCESS) memcpy(buf, whole, len - 1);
        free(whole);
    }
    buf[len - 1] = '\0';
    /* trim trailing spaces some drivers leave */
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\n')) buf[--n] = '\0';
}

int ksa_ocl_is_pocl(const ksa_ocl_device *d) { return ksa_ocl_names_pocl(d->platform_version, d->version); }

static ksa_status ocl_init_once(ksa_backend *self, const ksa_host_api *host, char *why, size_t why_len)
{
    memset(&g_state, 0, sizeof g_state);
    g_state.host = host;
    self->state = &g_state;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err != CL_SUCCESS || np == 0) {
        snprintf(why, why_len,
                 "no OpenCL platform: the ICD loader found no vendor library (%s; see /etc/OpenCL/vendors or OCL_ICD_VENDORS)",
                 err != CL_SUCCESS ? ksa_ocl_error_name(err) : "0 platforms");
        return KSA_STATUS_NOT_FOUND;
    }
    cl_platform_id plats[16];
    if (np > 16) np = 16;
    if ((err = clGetPlatformIDs(np, plats, NULL)) != CL_SUCCESS) {
        snprintf(why, why_len, "clGetPlatformIDs failed: %s", ksa_ocl_error_name(err));
        return KSA_STATUS_NOT_FOUND;
    }
    int cap = 0;
    char skipped[256] = "";
    for (cl_uint pi = 0; pi < np; pi++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0) continue;
        cl_device_id devs[32];
        if (nd > 32) nd = 32;
        if (clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, nd, devs, NULL) != CL_SUCCESS) continue;
        for (cl_uint di = 0; di < nd; di++) {
            if (g_state.num_devices == cap) {
                int ncap = cap ? cap * 2 : 4;
                ksa_ocl_device *nd2 = realloc(g_state.devices, (size_t)ncap * sizeof *nd2);
                if (!nd2) break;
                g_state.devices = nd2;
                cap = ncap;
            }
            ksa_ocl_device *d = &g_state.devices[g_state.num_devices];
            memset(d, 0, sizeof *d);
            d->platform_index = (int)pi;
            d->device_index = (int)di;
            d->platform = plats[pi];
            d->device = devs[di];
            snprintf(d->name, sizeof d->name, "opencl:%u.%u", pi, di);
            get_string(devs[di], CL_DEVICE_NAME, d->description, sizeof d->description);
            get_string(devs[di], CL_DEVICE_VERSION, d->version, sizeof d->version);
            get_string(devs[di], CL_DRIVER_VERSION, d->driver, sizeof d->driver);
            if (clGetPlatformInfo(plats[pi], CL_PLATFORM_VERSION, sizeof d->platform_version, d->platform_version, NULL) !=
                CL_SUCCESS)
                d->platform_version[0] = '\0';
            d->platform_version[sizeof d->platform_version - 1] = '\0';
            clGetDeviceInfo(devs[di], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof d->compute_units, &d->compute_units, NULL);
            clGetDeviceInfo(devs[di], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof d->global_mem, &d->global_mem, NULL);
            clGetDeviceInfo(devs[di], CL_DEVICE_LOCAL_MEM_SIZE, sizeof d->local_mem, &d->local_mem, NULL);
            clGetDeviceInfo(devs[di], CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof d->max_wg, &d->max_wg, NULL);
            clGetDeviceInfo(devs[di], CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof d->base_addr_align_bits,
                            &d->base_addr_align_bits, NULL);
            char ext[4096];
            get_string(devs[di], CL_DEVICE_EXTENSIONS, ext, sizeof ext);
            d->has_fp16 = strstr(ext, "cl_khr_fp16") != NULL;
            const char *method = getenv("POCL_WORK_GROUP_METHOD"), *quirks = getenv("KSA_OPENCL_QUIRKS");
            d->avoid_two_vector_rows = ksa_ocl_avoid_two_vector_rows(d->platform_version, d->version, d->driver, method, quirks);
            const char *refusal = ksa_ocl_driver_refusal(d->platform_version, d->version, d->driver, method, quirks);
            if (refusal) { /* left out: its name stays free, the next device keeps its own */
                host->log("opencl: %s (%s, driver %s) left out: %s", d->name, d->description, d->driver, refusal);
                size_t l = strlen(skipped);
                snprintf(skipped + l, sizeof skipped - l, "%s%s (%s)", l ? "; " : "", d->name, refusal);
                continue;
            }
            cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)plats[pi], 0};
            cl_context c = clCreateContext(props, 1, &devs[di], NULL, NULL, &err);
            if (!c || err != CL_SUCCESS) {
                size_t l = strlen(skipped);
                snprintf(skipped + l, sizeof skipped - l, "%s%s (clCreateContext: %s)", l ? "; " : "", d->name,
                         ksa_ocl_error_name(err));
                continue;
            }
            cl_command_queue q = clCreateCommandQueue(c, devs[di], 0, &err);
            if (!q || err != CL_SUCCESS) {
                clReleaseContext(c);
                size_t l = strlen(skipped);
                snprintf(skipped + l, sizeof skipped - l, "%s%s (clCreateCommandQueue: %s)", l ? "; " : "", d->name,
                         ksa_ocl_error_name(err));
                continue;
            }
            d->ctx[0].context = c;
            d->ctx[0].queue = q;
            d->ctx[0].owned = 1;
            d->num_ctx = 1;
            pthread_mutex_init(&d->lock, NULL);
            g_state.num_devices++;
        }
    }
    if (g_state.num_devices == 0) {
        snprintf(why, why_len, "%u OpenCL platform(s) but no usable device%s%s", np, skipped[0] ? ": " : "", skipped);
        free(g_state.devices);
        g_state.devices = NULL;
        return KSA_STATUS_NOT_FOUND;
    }
    return KSA_STATUS_SUCCESS;
}

static ksa_status ocl_init(ksa_backend *self, const ksa_host_api *host, char *why, size_t why_len)
{
    pthread_mutex_lock(&g_init_lock);
    ksa_status st = KSA_STATUS_SUCCESS;
    if (g_refs == 0) st = ocl_init_once(self, host, why, why_len);
    if (st == KSA_STATUS_SUCCESS) g_refs++;
    pthread_mutex_unlock(&g_init_lock);
    return st;
}

static void ocl_shutdown(ksa_backend *self)
{
    ksa_ocl_state *s = ksa_ocl_state_of(self);
    if (!s) return;
    pthread_mutex_lock(&g_init_lock);
    if (g_refs > 1 || g_refs == 0) {
        if (g_refs > 0) g_refs--;
        pthread_mutex_unlock(&g_init_lock);
        return;
    }
    g_refs = 0;
    for (int i = 0; i < s->num_devices; i++) {
        ksa_ocl_device *d = &s->devices[i];
        for (int j = 0; j < KSA_OCL_STAGING_SLOTS; j++) {
            if (d->staging[j].done) {
                clWaitForEvents(1, &d->staging[j].done);
                clReleaseEvent(d->staging[j].done);
            }
            free(d->staging[j].host);
        }
        for (int c = 0; c < d->num_ctx; c++) {
            ksa_ocl_release_programs(&d->ctx[c]);
            if (d->ctx[c].queue) {
                clFinish(d->ctx[c].queue);
                clReleaseCommandQueue(d->ctx[c].queue);
            }
            if (d->ctx[c].context) clReleaseContext(d->ctx[c].context);
        }
        pthread_mutex_destroy(&d->lock);
    }
    free(s->devices);
    s->devices = NULL;
    s->num_devices = 0;
    pthread_mutex_unlock(&g_init_lock);
}

static int ocl_device_count(ksa_backend *self) { return ksa_ocl_state_of(self)->num_devices; }

static ksa_status ocl_device_info(ksa_backend *self, int device, ksa_device_info *out)
{
    ksa_ocl_device *d = &ksa_ocl_state_of(self)->devices[device];
    memset(out, 0, sizeof *out);
    out->kind = KSA_DEVICE_OPENCL;
    snprintf(out->name, sizeof out->name, "%s", d->name);
    snprintf(out->backend, sizeof out->backend, "opencl");
    snprintf(out->description, sizeof out->description, "%s", d->description);
    snprintf(out->isa, sizeof out->isa, "%s", d->version);
    out->compute_units = (int32_t)d->compute_units;
    out->host_memory = 0;
    out->memory_bytes = d->global_mem;
    snprintf(out->driver_version, sizeof out->driver_version, "%s", d->driver);
    return KSA_STATUS_SUCCESS;
}

/* Find (or adopt) the state of context `c` on device `d`. Called with d->lock held. */
static ksa_status ctx_state_for(ksa_backend *self, ksa_ocl_device *d, cl_context c, ksa_ocl_ctx **out)
{
    for (int i = 0; i < d->num_ctx; i++)
        if (d->ctx[i].context == c) {
            *out = &d->ctx[i];
            return KSA_STATUS_SUCCESS;
        }
    if (d->num_ctx >= KSA_OCL_MAX_CONTEXTS)
        return ksa_ocl_state_of(self)->host->set_error(
            KSA_STATUS_UNSUPPORTED, "opencl: device %s is already used through %d cl_contexts; this backend supports at most %d",
            d->name, d->num_ctx, KSA_OCL_MAX_CONTEXTS);
    ksa_ocl_ctx *x = &d->ctx[d->num_ctx++];
    memset(x, 0, sizeof *x);
    clRetainContext(c);
    x->context = c;
    x->owned = 0;
    *out = x;
    return KSA_STATUS_SUCCESS;
}

static ksa_status ensure_queue(ksa_backend *self, ksa_ocl_device *d, ksa_ocl_ctx *x)
{
    if (x->queue) return KSA_STATUS_SUCCESS;
    cl_int err;
    x->queue = clCreateCommandQueue(x->context, d->device, 0, &err);
    if (!x->queue || err != CL_SUCCESS) {
        x->queue = NULL;
        return OCL_FAIL(self, err, "clCreateCommandQueue (for a caller's context)");
    }
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_ocl_ctx_for_queue(ksa_backend *self, ksa_ocl_device *d, cl_command_queue queue, ksa_ocl_ctx **out,
                                 cl_command_queue *use_queue)
{
    if (!queue) {
        *out = &d->ctx[0];
        *use_queue = d->ctx[0].queue;
        return KSA_STATUS_SUCCESS;
    }
    cl_context c = NULL;
    cl_device_id qd = NULL;
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof c, &c, NULL);
    if (err == CL_SUCCESS) err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof qd, &qd, NULL);
    if (err != CL_SUCCESS)
        return ksa_ocl_state_of(self)->host->set_error(KSA_STATUS_INVALID_ARGUMENT,
                                                        "opencl: stream is not a valid cl_command_queue (%s)",
                                                        ksa_ocl_error_name(err));
    if (qd != d->device)
        return ksa_ocl_state_of(self)->host->set_error(KSA_STATUS_INVALID_ARGUMENT,
                                                        "opencl: the stream's cl_command_queue belongs to another device than %s",
                                                        d->name);
    cl_command_queue_properties props = 0;
    if (clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL) == CL_SUCCESS &&
        (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE))
        return ksa_ocl_state_of(self)->host->set_error(
            KSA_STATUS_UNSUPPORTED,
            "opencl: the stream is an out-of-order cl_command_queue; the backend's kernels of one call depend on each "
            "other in order, so it needs an in-order queue");
    *use_queue = queue;
    return ctx_state_for(self, d, c, out);
}

/* Queue for a memory operation: the caller's stream, else the default queue of the cl_mem's context. */
static ksa_status queue_for_mem(ksa_backend *self, ksa_ocl_device *d, void *stream, cl_mem mem, cl_command_queue *q)
{
    if (stream) {
        *q = (cl_command_queue)stream;
        return KSA_STATUS_SUCCESS;
    }
    cl_context c = NULL;
    cl_int err = clGetMemObjectInfo(mem, CL_MEM_CONTEXT, sizeof c, &c, NULL);
    if (err != CL_SUCCESS) return OCL_FAIL(self, err, "clGetMemObjectInfo(CL_MEM_CONTEXT)");
    if (c == d->ctx[0].context) {
        *q = d->ctx[0].queue;
        return KSA_STATUS_SUCCESS;
    }
    pthread_mutex_lock(&d->lock);
    ksa_ocl_ctx *x = NULL;
    ksa_status st = ctx_state_for(self, d, c, &x);
    if (!st) st = ensure_queue(self, d, x);
    if (!st) *q = x->queue;
    pthread_mutex_unlock(&d->lock);
    return st;
}

static ksa_status ocl_mem_alloc(ksa_backend *self, int device, size_t bytes, ksa_mem *out)
{
    ksa_ocl_device *d = &ksa_ocl_state_of(self)->devices[device];
    cl_int err;
    cl_mem m = clCreateBuffer(d->ctx[0].context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!m || err != CL_SUCCESS) {
        ksa_status st = (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
                         err == CL_OUT_OF_HOST_MEMORY || err == CL_INVALID_BUFFER_SIZE)
                            ? KSA_STATUS_OUT_OF_MEMORY
                            : KSA_STATUS_DEVICE_ERROR;
        return ksa_ocl_state_of(self)->host->set_error(st, "opencl: clCreateBuffer of %zu bytes on %s failed: %s", bytes,
                                                        d->name, ksa_ocl_error_name(err));
    }
    out->ptr = NULL;
    out->native = m;
    out->offset = 0;
    return KSA_STATUS_SUCCESS;
}

static void ocl_mem_free(ksa_backend *self, int device, ksa_mem mem)
{
    (void)self;
    (void)device;
    if (mem.native) clReleaseMemObject((cl_mem)mem.native);
}

static ksa_status ocl_mem_wrap(ksa_backend *self, int device, void *native, size_t bytes, ksa_mem *out)
{
    ksa_ocl_device *d = &ksa_ocl_state_of(self)->devices[device];
    cl_mem m = (cl_mem)native;
    size_t size = 0;
    cl_context c = NULL;
    cl_int err = clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err == CL_SUCCESS) err = clGetMemObjectInfo(m, CL_MEM_CONTEXT, sizeof c, &c, NULL);
    if (err != CL_SUCCESS)
        return ksa_ocl_state_of(self)->host->set_error(KSA_STATUS_INVALID_ARGUMENT,
                                                        "ksa_buffer_wrap: native is not a valid cl_mem (%s)",
                                                        ksa_ocl_error_name(err));
    if (bytes > size)
        return ksa_ocl_state_of(self)->host->set_error(KSA_STATUS_INVALID_ARGUMENT,
                                                        "ksa_buffer_wrap: bytes is %zu but the cl_mem holds only %zu", bytes, size);
    cl_uint nd = 0;
    cl_device_id devs[16];
    err = clGetContextInfo(c, CL_CONTEXT_NUM_DEVICES, sizeof nd, &nd, NULL);
    int found = 0;
    if (err == CL_SUCCESS && nd <= 16 && clGetContextInfo(c, CL_CONTEXT_DEVICES, sizeof devs, devs, NULL) == CL_SUCCESS)
        for (cl_uint i = 0; i < nd; i++) found |= devs[i] == d->device;
    if (!found)
        return ksa_ocl_state_of(self)->host->set_error(KSA_STATUS_INVALID_ARGUMENT,
                                                        "ksa_buffer_wrap: the cl_mem's context does not contain device %s", d->name);
    out->ptr = NULL;
    out->native = m;
    out->offset = 0;
    return KSA_STATUS_SUCCESS;
}

static ksa_status ocl_mem_write(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, const void *src,
                                size_t bytes)
{
    ksa_ocl_device *d = &ksa_ocl_state_of(self)->devices[device];
    cl_command_queue q = NULL;
    ksa_status st = queue_for_mem(self, d, stream, (cl_mem)dst.native, &q);
    if (st) return st;
    cl_int err = clEnqueueWriteBuffer(q, (cl_mem)dst.native, CL_TRUE, dst.offset + offset, bytes, src, 0, NULL, NULL);
    return err == CL_SUCCESS ? KSA_STATUS_SUCCESS : OCL_FAIL(self, err, "clEnqueueWriteBuffer");
}

static ksa_status ocl_mem_read(ksa_backend *self, int device, void *stream, void *dst, ksa_mem src, size_t offset,
                               size_t bytes)
{
    ksa_ocl_device *d = &ksa_ocl_state_of(self)->devices[device];
    cl_command_queue q = NULL;
    ksa_status st = queue_for_mem(self, d, stream, (cl_mem)src.native, &q);
    if (st) return st;
    cl_int err = clEnqueueReadBuffer(q, (cl_mem)src.native, CL_TRUE, src.offset + offset, bytes, dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? KSA_STATUS_SUCCESS : OCL_FAIL(self, err, "clEnqueueReadBuffer");
}

static ksa_status ocl_mem_fill(ksa_backend *self, int device, void *stream, ksa_mem dst, size_t offset, size_t bytes,
                               uint8_t value)
{
    ksa_ocl_device *d = &ksa_ocl_state_of(self)->devices[device];
    cl_command_queue q = NULL;
    ksa_status st = queue_for_mem(self, d, stream, (cl_mem)dst.native, &q);
    if (st) return st;
    cl_event ev = NULL;
    cl_int err = clEnqueueFillBuffer(q, (cl_mem)dst.native, &value, 1, dst.offset + offset, bytes, 0, NULL, &ev);
    if (err != CL_SUCCESS) return OCL_FAIL(self, err, "clEnqueueFillBuffer");
    err = clWaitForEvents(1, &ev);
    clReleaseEvent(ev);
    return err == CL_SUCCESS ? KSA_STATUS_SUCCESS : OCL_FAIL(self, err, "clWaitForEvents (fill)");
}

static ksa_status ocl_stream_create(ksa_backend *self, int device, void **native)
{
    ksa_ocl_device *d = &ksa_ocl_state_of(self)->devices[device];
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(d->ctx[0].context, d->device, 0, &err);
    if (!q || err != CL_SUCCESS) return OCL_FAIL(self, err, "clCreateCommandQueue");
    *native = q;
    return KSA_STATUS_SUCCESS;
}

static void ocl_stream_destroy(ksa_backend *self, int device, void *native)
{
    (void)self;
    (void)device;
    if (native) {
        clFinish((cl_command_queue)native);
        clReleaseCommandQueue((cl_command_queue)native);
    }
}

static ksa_status ocl_stream_sync(ksa_backend *self, int device, void *native)
{
    ksa_ocl_device *d = &ksa_ocl_state_of(self)->devices[device];
    cl_int err = clFinish(native ? (cl_command_queue)native : d->ctx[0].queue);
    return err == CL_SUCCESS ? KSA_STATUS_SUCCESS : OCL_FAIL(self, err, "clFinish");
}

static ksa_backend g_backend = {
    .abi_version = KSA_BACKEND_ABI_VERSION,
    .name = "opencl",
    .kind = KSA_DEVICE_OPENCL,
    .host_memory = 0,
    .device_lengths = 1, /* bounded length tensors are read by the ksa_meta kernel (ocl_attention.c, run_meta) */
    .state = NULL,
    .init = ocl_init,
    .shutdown = ocl_shutdown,
    .device_count = ocl_device_count,
    .device_info = ocl_device_info,
    .mem_alloc = ocl_mem_alloc,
    .mem_free = ocl_mem_free,
    .mem_wrap = ocl_mem_wrap,
    .mem_write = ocl_mem_write,
    .mem_read = ocl_mem_read,
    .mem_fill = ocl_mem_fill,
    .stream_create = ocl_stream_create,
    .stream_destroy = ocl_stream_destroy,
    .stream_sync = ocl_stream_sync,
    .attention_workspace = ksa_ocl_attention_workspace,
    .attention = ksa_ocl_attention,
    .tunables = ksa_ocl_tunables,
};

__attribute__((visibility("default"))) ksa_backend *ksa_plugin_backend(uint32_t abi_version)
{
    if (abi_version != KSA_BACKEND_ABI_VERSION) return NULL;
    return &g_backend;
}
