/* attention.c: the public attention entry points (parameter defaults, index shape and workspace
 * queries, ksa_attention) and the per-call machinery around the backend: configuration choice
 * (thread-local override, tuning cache, built-in), KSA_LOG lines with timing, KSA_CHECK
 * cross-checking against the reference. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ksa_internal.h"
#if defined(KSA_HAVE_AUTOTUNE) && KSA_HAVE_AUTOTUNE
#include "autotune/ksa_autotune.h"
#endif

ksa_topk_params ksa_topk_default(void)
{
    ksa_topk_params k;
    memset(&k, 0, sizeof k);
    k.fraction = 0.10;
    k.top_k = 0;
    k.min_k = 128;
    k.round_multiple = 128;
    k.tile_size = 32;
    k.rolling = 1;
    k.local_window = 0;
    return k;
}

ksa_attention_params ksa_attention_params_default(ksa_mode mode, ksa_phase phase)
{
    ksa_attention_params p;
    memset(&p, 0, sizeof p);
    p.mode = mode;
    p.phase = phase;
    p.scale = 0.0f;
    p.topk = ksa_topk_default();
    return p;
}

/* one reusable storage per thread: steady-state calls do not allocate; its host arrays are freed
 * when the thread exits (a pthread key destructor: _Thread_local alone would leak them) */
static _Thread_local ksa_problem_storage tls_storage;
static _Thread_local int tls_storage_registered;
static _Thread_local char tls_override[256];
static pthread_key_t storage_key;
static pthread_once_t storage_key_once = PTHREAD_ONCE_INIT;
static int storage_key_ok;

static void storage_thread_exit(void *storage) { ksa_problem_storage_release(storage); }
static void storage_key_create(void) { storage_key_ok = pthread_key_create(&storage_key, storage_thread_exit) == 0; }

static ksa_problem_storage *thread_storage(void)
{
    if (!tls_storage_registered) {
        pthread_once(&storage_key_once, storage_key_create);
        if (storage_key_ok) pthread_setspecific(storage_key, &tls_storage);
        tls_storage_registered = 1;
    }
    return &tls_storage;
}

ksa_status ksa_set_config_override(const char *config)
{
    ksa_clear_error();
    if (!config) {
        tls_override[0] = '\0';
        return KSA_STATUS_SUCCESS;
    }
    if (strlen(config) >= sizeof tls_override)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "ksa_set_config_override: config is longer than %zu characters",
                         sizeof tls_override - 1);
    snprintf(tls_override, sizeof tls_override, "%s", config);
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_attention_index_shape(ksa_device dev, const ksa_attention_params *params,
                                     const ksa_attention_tensors *tensors, int64_t *n_tiles, int64_t *k_slots)
{
    ksa_clear_error();
    if (!n_tiles) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "n_tiles is NULL");
    if (!k_slots) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "k_slots is NULL");
    if (!params) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "params is NULL");
    if (!tensors) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "tensors is NULL");
    /* resolve as DENSE (indices not needed to compute their own shape) */
    ksa_attention_params dp = *params;
    dp.mode = KSA_MODE_DENSE;
    ksa_attention_tensors t = *tensors;
    memset(&t.indices, 0, sizeof t.indices);
    memset(&t.counts, 0, sizeof t.counts);
    ksa_problem p;
    ksa_status s = ksa_resolve_problem(dev, NULL, &dp, &t, &p, thread_storage());
    if (s) return s;
    if (params->topk.tile_size < 1 || params->topk.tile_size > 1024)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "params.topk.tile_size is %d; it must be in 1..1024", params->topk.tile_size);
    int64_t slots = ksa_index_slots(&params->topk, params->phase, p.max_seqlen_k);
    *n_tiles = params->phase == KSA_PHASE_DECODE ? 1 : p.n_tiles;
    *k_slots = slots > 0 ? slots : 1;
    return KSA_STATUS_SUCCESS;
}

ksa_status ksa_choose_config(ksa_device dev, ksa_problem *p, ksa_problem_storage *st)
{
    p->config = NULL;
    p->config_count = 0;
    st->config_tuned = 0;
    snprintf(st->config_source, sizeof st->config_source, "builtin");
    ksa_backend *be = dev->backend;
    if (!be->tunables) {
        if (tls_override[0])
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "config override \"%s\": backend %s has no tunable parameters",
                             tls_override, be->name);
        return KSA_STATUS_SUCCESS;
    }
    ksa_tunable_space space;
    memset(&space, 0, sizeof space);
    ksa_status s = be->tunables(be, dev->index, p, &space);
    if (s) return s;
    if (space.num_params <= 0) {
        if (tls_override[0])
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "config override \"%s\": backend %s tunes nothing for this op",
                             tls_override, be->name);
        return KSA_STATUS_SUCCESS;
    }
    if (space.num_params > KSA_MAX_TUNABLES) space.num_params = KSA_MAX_TUNABLES;
    if (tls_override[0]) {
        for (int i = 0; i < space.num_params; i++) st->config[i] = space.params[i].default_value;
        char buf[256];
        snprintf(buf, sizeof buf, "%s", tls_override);
        char *save = NULL;
        for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            if (!eq) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "config override: \"%s\" is not name=value", kv);
            *eq = '\0';
            char *end;
            long val = strtol(eq + 1, &end, 10);
            if (*end || end == eq + 1)
                return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "config override: value of %s is not an integer", kv);
            int found = -1;
            for (int i = 0; i < space.num_params; i++)
                if (strcmp(space.params[i].name, kv) == 0) found = i;
            if (found < 0) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "config override: backend %s does not tune \"%s\"", be->name, kv);
            int ok = 0;
            for (int v = 0; v < space.params[found].num_values; v++)
                if (space.params[found].values[v] == val) ok = 1;
            if (!ok)
                return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "config override: %s=%ld is not an allowed value for backend %s", kv,
                                 val, be->name);
            st->config[found] = (int32_t)val;
        }
        p->config = st->config;
        p->config_count = space.num_params;
        snprintf(st->config_source, sizeof st->config_source, "override");
        return KSA_STATUS_SUCCESS;
    }
#if defined(KSA_HAVE_AUTOTUNE) && KSA_HAVE_AUTOTUNE
    const char *source = NULL;
    if (ksa_autotune_lookup(dev, p, &space, st->config, &source)) {
        p->config = st->config;
        p->config_count = space.num_params;
        st->config_tuned = 1;
        snprintf(st->config_source, sizeof st->config_source, "%s", source ? source : "cache");
    } else if (source) {
        /* a measured "the built-in is best" entry: say so in KSA_LOG */
        snprintf(st->config_source, sizeof st->config_source, "%s", source);
    }
#endif
    return KSA_STATUS_SUCCESS;
}

static ksa_status resolve_memory(const ksa_workspace *ws, ksa_device dev, ksa_mem *mem, size_t *size)
{
    memset(mem, 0, sizeof *mem);
    *size = 0;
    if (!ws) return KSA_STATUS_SUCCESS;
    if (ws->buffer) {
        if (ws->data) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "workspace: set either data or buffer, not both");
        if (!ksa_devices_share_memory(ws->buffer->device, dev))
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "workspace: its buffer lives on device %s but the call runs on %s",
                             ws->buffer->device->info.name, dev->info.name);
        if (ws->offset > ws->buffer->size || ws->size > ws->buffer->size - ws->offset)
            return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "workspace: offset %zu + size %zu exceed its %zu-byte buffer",
                             ws->offset, ws->size, ws->buffer->size);
        *mem = ws->buffer->mem;
        mem->offset += ws->offset;
    } else {
        if (ws->size && !ws->data) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "workspace: size is %zu but data is NULL", ws->size);
        mem->ptr = ws->data;
    }
    *size = ws->size;
    return KSA_STATUS_SUCCESS;
}

/* Workspace bytes the backend needs for `p` with the configuration p->config names. */
static ksa_status backend_workspace(ksa_device dev, const ksa_problem *p, size_t *need)
{
    *need = 0;
    if (!dev->backend->attention_workspace) return KSA_STATUS_SUCCESS;
    return dev->backend->attention_workspace(dev->backend, dev->index, p, need);
}

/* A tuned configuration can change under a caller: another process stores a new winner and this
 * one reloads its cache. So that a size once reported stays valid, ksa_attention_workspace_size
 * reports the larger of the tuned and the built-in configuration's needs, and a call whose tuned
 * configuration does not fit the workspace it is given runs the built-in configuration instead
 * (which fits). An explicit override (ksa_set_config_override) is the caller's choice and gets
 * no fallback. */
static ksa_status builtin_workspace(ksa_device dev, const ksa_problem *p, size_t *need)
{
    ksa_problem builtin = *p;
    builtin.config = NULL;
    builtin.config_count = 0;
    return backend_workspace(dev, &builtin, need);
}

ksa_status ksa_attention_workspace_size(ksa_device dev, const ksa_attention_params *params,
                                        const ksa_attention_tensors *tensors, size_t *bytes)
{
    ksa_clear_error();
    if (!bytes) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "bytes is NULL");
    ksa_problem p;
    ksa_problem_storage *st = thread_storage();
    ksa_status s = ksa_resolve_problem(dev, NULL, params, tensors, &p, st);
    if (s) return s;
    s = ksa_choose_config(dev, &p, st);
    if (s) return s;
    size_t need = 0;
    s = backend_workspace(dev, &p, &need);
    if (s) return s;
    if (st->config_tuned) {
        size_t need_builtin = 0;
        s = builtin_workspace(dev, &p, &need_builtin);
        if (s) return s;
        if (need_builtin > need) need = need_builtin;
    }
    *bytes = need;
    return KSA_STATUS_SUCCESS;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static const char *mode_name(ksa_mode m)
{
    return m == KSA_MODE_DENSE ? "dense" : m == KSA_MODE_ANCHOR ? "anchor" : "reuse";
}

ksa_status ksa_attention(ksa_device dev, ksa_stream stream, const ksa_attention_params *params,
                         const ksa_attention_tensors *tensors, const ksa_workspace *workspace)
{
    ksa_clear_error();
    if (!dev) return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "dev is NULL");
    if (stream && stream->device != dev)
        return ksa_error(KSA_STATUS_INVALID_ARGUMENT, "stream belongs to device %s but the call runs on %s",
                         stream->device->info.name, dev->info.name);
    void *native = stream ? stream->native : NULL;
    /* KSA_CHECK validates the caller's index tensors before the backend runs on them */
    int checking = ksa_env_flag("KSA_CHECK") && dev->backend->kind != KSA_DEVICE_REFERENCE;
    ksa_problem p;
    ksa_problem_storage *st = thread_storage();
    ksa_status s = checking ? ksa_check_resolve(dev, native, params, tensors, &p, st)
                            : ksa_resolve_problem(dev, native, params, tensors, &p, st);
    if (s) return s;
    s = ksa_choose_config(dev, &p, st);
    if (s) return s;
    ksa_backend *be = dev->backend;
    size_t need = 0;
    s = backend_workspace(dev, &p, &need);
    if (s) return s;
    s = resolve_memory(workspace, dev, &p.workspace, &p.workspace_size);
    if (s) return s;
    if (p.workspace_size < need && st->config_tuned) {
        size_t need_builtin = 0;
        s = builtin_workspace(dev, &p, &need_builtin);
        if (s) return s;
        if (p.workspace_size >= need_builtin) {
            ksa_log("attention: the tuned configuration needs %zu workspace bytes, %zu given: running the built-in one",
                    need, p.workspace_size);
            p.config = NULL;
            p.config_count = 0;
            need = need_builtin;
            snprintf(st->config_source, sizeof st->config_source, "builtin:fallback");
        }
    }
    if (p.workspace_size < need)
        return ksa_error(KSA_STATUS_WORKSPACE_TOO_SMALL,
                         "workspace: %zu bytes given, this call needs %zu (ksa_attention_workspace_size)", p.workspace_size,
                         need);
    int logging = ksa_log_enabled();
    ksa_call_info info;
    memset(&info, 0, sizeof info);
    double t0 = 0;
    if (logging) {
        if (be->stream_sync) be->stream_sync(be, dev->index, native);
        t0 = now_ms();
    }
    s = be->attention(be, dev->index, native, &p, &info);
    if (logging) {
        if (s == KSA_STATUS_SUCCESS && be->stream_sync) s = be->stream_sync(be, dev->index, native);
        double ms = now_ms() - t0;
        ksa_log("attention backend=%s device=%s kernel=%s config=%s(%s) mode=%s phase=%s dtype=%s B=%d Hq=%d Hkv=%d D=%d "
                "Lq=%lld Lk=%lld status=%s time=%.3f ms",
                be->name, dev->info.name, info.kernel[0] ? info.kernel : "-", info.config[0] ? info.config : "-",
                st->config_source, mode_name(p.mode), p.phase == KSA_PHASE_DECODE ? "decode" : "prefill",
                ksa_dtype_name(p.dtype), p.batch, p.num_q_heads, p.num_kv_heads, p.head_dim, (long long)p.max_seqlen_q,
                (long long)p.max_seqlen_k, ksa_status_string(s), ms);
    }
    if (s != KSA_STATUS_SUCCESS) return s;
    if (checking) {
        char report[512];
        s = ksa_check_against_reference(dev, stream, params, tensors, report, sizeof report);
        if (s != KSA_STATUS_SUCCESS) return s;
    }
    return KSA_STATUS_SUCCESS;
}
