/* error.c: status names, the thread-local last-error sentence, KSA_LOG logging, the version query
 * and the host API table handed to backends and plugins. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksa_internal.h"

static _Thread_local char tls_error[1024];

const char *ksa_status_string(ksa_status status)
{
    switch (status) {
    case KSA_STATUS_SUCCESS: return "KSA_STATUS_SUCCESS";
    case KSA_STATUS_INVALID_ARGUMENT: return "KSA_STATUS_INVALID_ARGUMENT";
    case KSA_STATUS_UNSUPPORTED: return "KSA_STATUS_UNSUPPORTED";
    case KSA_STATUS_OUT_OF_MEMORY: return "KSA_STATUS_OUT_OF_MEMORY";
    case KSA_STATUS_DEVICE_ERROR: return "KSA_STATUS_DEVICE_ERROR";
    case KSA_STATUS_NOT_FOUND: return "KSA_STATUS_NOT_FOUND";
    case KSA_STATUS_CHECK_FAILED: return "KSA_STATUS_CHECK_FAILED";
    case KSA_STATUS_IO_ERROR: return "KSA_STATUS_IO_ERROR";
    case KSA_STATUS_INVALID_FILE: return "KSA_STATUS_INVALID_FILE";
    case KSA_STATUS_WORKSPACE_TOO_SMALL: return "KSA_STATUS_WORKSPACE_TOO_SMALL";
    case KSA_STATUS_INTERNAL: return "KSA_STATUS_INTERNAL";
    }
    return "KSA_STATUS_UNKNOWN";
}

const char *ksa_last_error(void) { return tls_error; }
void ksa_clear_error(void) { tls_error[0] = '\0'; }

static ksa_status vset_error(ksa_status status, const char *fmt, va_list ap)
{
    vsnprintf(tls_error, sizeof tls_error, fmt, ap);
    if (ksa_log_enabled()) fprintf(stderr, "ksa: error: %s: %s\n", ksa_status_string(status), tls_error);
    return status;
}

ksa_status ksa_error(ksa_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset_error(status, fmt, ap);
    va_end(ap);
    return status;
}

int ksa_env_flag(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0") != 0;
}

int ksa_log_enabled(void)
{
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        v = ksa_env_flag("KSA_LOG");
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}

static void vlog(const char *fmt, va_list ap)
{
    if (!ksa_log_enabled()) return;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "ksa: %s\n", line);
}

void ksa_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void ksa_warn(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ksa: warning: %s\n", line);
}

/* backends and plugins report and log through the same functions as dispatch */
static const ksa_host_api host_api = {KSA_BACKEND_ABI_VERSION, ksa_error, ksa_log, ksa_log_enabled};

const ksa_host_api *ksa_host_api_get(void) { return &host_api; }

int ksa_version(void) { return KSA_VERSION_NUMBER; }

#define KSA_STR2(x) #x
#define KSA_STR(x) KSA_STR2(x)
const char *ksa_version_string(void)
{
    return KSA_STR(KSA_VERSION_MAJOR) "." KSA_STR(KSA_VERSION_MINOR) "." KSA_STR(KSA_VERSION_PATCH);
}
