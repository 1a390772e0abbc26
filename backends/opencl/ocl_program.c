/* ocl_program.c: run-time compilation of the embedded OpenCL C source (the kernels folder, turned into
 * ksa_opencl_kernels.h at build time) with per-configuration -D options, and the on-disk cache of
 * compiled program binaries. A cache entry is keyed by a hash of (source, options, device name,
 * device and driver version, platform version); the file stores that whole key and a hash of the
 * binary, and is used only when both match and the driver accepts the binary; otherwise the
 * program is rebuilt from source and the entry rewritten (temp file + rename). Folder:
 * $KSA_OPENCL_CACHE, else $XDG_CACHE_HOME/ksa/opencl, else $HOME/.cache/ksa/opencl;
 * KSA_OPENCL_CACHE=off disables it. On PoCL the cache is off unless KSA_OPENCL_CACHE names a
 * folder: PoCL keeps compiled kernels itself, and reading a program's binary back makes it generate
 * native code for all four kernels at once (see pocl_keeps_programs). Compilation happens once per
 * configuration and context, at the first call that needs it (a one-time cost of ~0.1-2 s, logged
 * with KSA_LOG). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ksa_opencl_kernels.h"
#include "ocl_internal.h"

static const char *const kernel_names[KSA_OCL_NUM_KERNELS] = {"ksa_attend", "ksa_combine", "ksa_pool", "ksa_topk", "ksa_meta"};

#define CACHE_MAGIC "KSACLBIN"
#define CACHE_FORMAT 1u

static uint64_t fnv1a64(const void *data, size_t n, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}
#define FNV_SEED 14695981039346656037ull

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* PoCL caches compiled kernels itself (POCL_CACHE_DIR, default ~/.cache/pocl; on unless
 * POCL_KERNEL_CACHE=0), keyed by source and options, so a rebuild from source costs ~40 ms once its
 * cache is warm. Storing ksa's own entry needs CL_PROGRAM_BINARIES, for which PoCL generates native
 * code for every kernel of the program (measured 2026-11-30 on PoCL 3.1, 2 shared cores: 3.1 s per
 * program, against 0.7 s for the build; a launch then compiles only the kernels it uses): across
 * test_opencl's ~38 configurations that was 120 of its 193 cold seconds, to save ~36 ms per
 * program later. So on PoCL the default is no ksa cache. */
static int pocl_keeps_programs(const ksa_ocl_device *dev)
{
    if (!ksa_ocl_is_pocl(dev)) return 0;
    const char *kc = getenv("POCL_KERNEL_CACHE");
    return !(kc && strcmp(kc, "0") == 0);
}

int ksa_ocl_cache_dir(const ksa_ocl_device *dev, char *buf, size_t len)
{
    const char *env = getenv("KSA_OPENCL_CACHE");
    if (env && *env) {
        if (strcmp(env, "off") == 0 || strcmp(env, "0") == 0) return 0;
        snprintf(buf, len, "%s", env);
        return 1;
    }
    if (pocl_keeps_programs(dev)) return 0;
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) {
        snprintf(buf, len, "%s/ksa/opencl", xdg);
        return 1;
    }
    const char *home = getenv("HOME");
    if (home && *home) {
        snprintf(buf, len, "%s/.cache/ksa/opencl", home);
        return 1;
    }
    return 0;
}

static int mkdir_p(const char *dir)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* Read a cache file; returns a malloc'ed binary when the stored key and binary hash match. */
static unsigned char *cache_load(const char *path, const char *key, size_t *bin_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *bin = NULL;
    char magic[8];
    uint32_t fmt = 0;
    uint64_t key_len = 0, blen = 0, bhash = 0;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, CACHE_MAGIC, 8) != 0) goto bad;
    if (fread(&fmt, sizeof fmt, 1, f) != 1 || fmt != CACHE_FORMAT) goto bad;
    if (fread(&key_len, sizeof key_len, 1, f) != 1 || key_len != strlen(key) || key_len > 4096) goto bad;
    {
        char stored[4097];
        if (fread(stored, 1, (size_t)key_len, f) != key_len || memcmp(stored, key, (size_t)key_len) != 0) goto bad;
    }
    if (fread(&blen, sizeof blen, 1, f) != 1 || blen == 0 || blen > ((uint64_t)1 << 30)) goto bad;
    if (fread(&bhash, sizeof bhash, 1, f) != 1) goto bad;
    bin = malloc((size_t)blen);
    if (!bin || fread(bin, 1, (size_t)blen, f) != blen) goto bad;
    if (fnv1a64(bin, (size_t)blen, FNV_SEED) != bhash) goto bad;
    fclose(f);
    *bin_len = (size_t)blen;
    return bin;
bad:
    free(bin);
    fclose(f);
    return NULL;
}

static void cache_store(const ksa_host_api *host, const char *dir, const char *path, const char *key,
                        const unsigned char *bin, size_t blen)
{
    if (mkdir_p(dir) != 0) {
        host->log("opencl: program cache folder %s cannot be created (%s); not caching", dir, strerror(errno));
        return;
    }
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    uint32_t fmt = CACHE_FORMAT;
    uint64_t key_len = strlen(key), bl = blen, bhash = fnv1a64(bin, blen, FNV_SEED);
    int ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&fmt, sizeof fmt, 1, f) == 1 &&
             fwrite(&key_len, sizeof key_len, 1, f) == 1 && fwrite(key, 1, (size_t)key_len, f) == key_len &&
             fwrite(&bl, sizeof bl, 1, f) == 1 && fwrite(&bhash, sizeof bhash, 1, f) == 1 &&
             fwrite(bin, 1, blen, f) == blen;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        host->log("opencl: could not write program cache entry %s", path);
    }
}

static ksa_status build_log_error(const ksa_host_api *host, ksa_ocl_device *dev, cl_program prog, cl_int err,
                                  const char *options)
{
    char logbuf[1024] = "";
    size_t n = 0;
    clGetProgramBuildInfo(prog, dev->device, CL_PROGRAM_BUILD_LOG, sizeof logbuf - 1, logbuf, &n);
    logbuf[sizeof logbuf - 1] = '\0';
    for (char *p = logbuf; *p; p++)
        if (*p == '\n') *p = ' ';
    return host->set_error(KSA_STATUS_DEVICE_ERROR, "opencl: building the kernels for %s with \"%s\" failed: %s: %.400s",
                           dev->name, options, ksa_ocl_error_name(err), logbuf);
}

void ksa_ocl_release_programs(ksa_ocl_ctx *c)
{
    for (int i = 0; i < c->num_programs; i++) {
        for (int k = 0; k < KSA_OCL_NUM_KERNELS; k++)
            if (c->programs[i].kernels[k]) clReleaseKernel(c->programs[i].kernels[k]);
        if (c->programs[i].program) clReleaseProgram(c->programs[i].program);
    }
    c->num_programs = 0;
}

ksa_status ksa_ocl_get_program(ksa_backend *self, ksa_ocl_device *dev, ksa_ocl_ctx *c, const char *options,
                               ksa_ocl_program **out)
{
    const ksa_host_api *host = ksa_ocl_state_of(self)->host;
    for (int i = 0; i < c->num_programs; i++)
        if (strcmp(c->programs[i].options, options) == 0) {
            *out = &c->programs[i];
            return KSA_STATUS_SUCCESS;
        }
    if (c->num_programs >= KSA_OCL_MAX_PROGRAMS) {
        /* many configurations in one process (a tuning sweep): drop the oldest */
        ksa_ocl_program *p0 = &c->programs[0];
        for (int k = 0; k < KSA_OCL_NUM_KERNELS; k++)
            if (p0->kernels[k]) clReleaseKernel(p0->kernels[k]);
        if (p0->program) clReleaseProgram(p0->program);
        memmove(&c->programs[0], &c->programs[1], (size_t)(c->num_programs - 1) * sizeof c->programs[0]);
        c->num_programs--;
    }
    double t0 = now_ms();
    const char *src = ksa_opencl_source_ksa_attention;
    size_t src_len = strlen(src);
    char key[2048];
    snprintf(key, sizeof key, "ksa-opencl-program v1\nsource %016llx\noptions %s\ndevice %s\ndevice-version %s\ndriver %s\nplatform %s\n",
             (unsigned long long)fnv1a64(src, src_len, FNV_SEED), options, dev->description, dev->version, dev->driver,
             dev->platform_version);
    uint64_t key_hash = fnv1a64(key, strlen(key), FNV_SEED);
    char dir[1024], path[1100];
    int use_cache = ksa_ocl_cache_dir(dev, dir, sizeof dir);
    if (use_cache) snprintf(path, sizeof path, "%s/%016llx.bin", dir, (unsigned long long)key_hash);

    cl_int err;
    cl_program prog = NULL;
    const char *how = use_cache ? "compiled from source" : "compiled from source (ksa's program cache is off here)";
    if (use_cache) {
        size_t blen = 0;
        unsigned char *bin = cache_load(path, key, &blen);
        if (bin) {
            const unsigned char *bins[1] = {bin};
            cl_int bstatus = CL_SUCCESS;
            prog = clCreateProgramWithBinary(c->context, 1, &dev->device, &blen, bins, &bstatus, &err);
            if (prog && err == CL_SUCCESS && bstatus == CL_SUCCESS)
                err = clBuildProgram(prog, 1, &dev->device, options, NULL, NULL);
            if (!prog || err != CL_SUCCESS || bstatus != CL_SUCCESS) {
                host->log("opencl: cache entry %s was refused by the driver (%s); rebuilding", path, ksa_ocl_error_name(err));
                if (prog) clReleaseProgram(prog);
                prog = NULL;
            } else {
                how = "loaded from the program cache";
            }
            free(bin);
        } else if (access(path, F_OK) == 0) {
            host->log("opencl: cache entry %s is stale or corrupt; rebuilding", path);
        }
    }
    int built_from_source = 0;
    if (!prog) {
        prog = clCreateProgramWithSource(c->context, 1, &src, &src_len, &err);
        if (!prog || err != CL_SUCCESS)
            return host->set_error(KSA_STATUS_DEVICE_ERROR, "opencl: clCreateProgramWithSource failed: %s",
                                   ksa_ocl_error_name(err));
        err = clBuildProgram(prog, 1, &dev->device, options, NULL, NULL);
        if (err != CL_SUCCESS) {
            ksa_status st = build_log_error(host, dev, prog, err, options);
            clReleaseProgram(prog);
            return st;
        }
        built_from_source = 1;
    }
    ksa_ocl_program *P = &c->programs[c->num_programs];
    memset(P, 0, sizeof *P);
    snprintf(P->options, sizeof P->options, "%s", options);
    P->program = prog;
    for (int k = 0; k < KSA_OCL_NUM_KERNELS; k++) {
        P->kernels[k] = clCreateKernel(prog, kernel_names[k], &err);
        if (!P->kernels[k] || err != CL_SUCCESS) {
            for (int j = 0; j < k; j++) clReleaseKernel(P->kernels[j]);
            clReleaseProgram(prog);
            return host->set_error(KSA_STATUS_DEVICE_ERROR, "opencl: clCreateKernel(%s) failed: %s", kernel_names[k],
                                   ksa_ocl_error_name(err));
        }
    }
    c->num_programs++;
    if (built_from_source && use_cache) {
        size_t blen = 0;
        if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof blen, &blen, NULL) == CL_SUCCESS && blen > 0) {
            unsigned char *bin = malloc(blen);
            unsigned char *bins[1] = {bin};
            if (bin && clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
                cache_store(host, dir, path, key, bin, blen);
            free(bin);
        }
    }
    host->log("opencl: program for %s [%s] %s in %.1f ms", dev->name, options, how, now_ms() - t0);
    *out = P;
    return KSA_STATUS_SUCCESS;
}
