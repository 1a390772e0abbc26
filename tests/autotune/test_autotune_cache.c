/* test_autotune_cache.c: the tuning cache. Round trip through the file format, lookup fallbacks
 * (cache exact -> shipped exact -> cache nearest -> shipped nearest -> none), corruption (truncated
 * file, flipped byte, garbage, foreign device, other ksa version, other format version, stale
 * parameter names: each ignored with a warning), refusing to overwrite a foreign file, and two
 * processes writing the cache at once without losing an entry; lookups from several threads while
 * the table is reloaded; a replaced cache file is picked up by a running process. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autotune/ksa_autotune.h"
#include "fake_backend.h"

static char tmpdir[256];

static void path_in_tmp(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", tmpdir, name); }

static ksa_tune_entry make_entry(int64_t lk_bucket, int32_t head_dim, int32_t block, int32_t unroll)
{
    ksa_tune_entry e;
    memset(&e, 0, sizeof e);
    ksa_tune_signature_of(&fake_device()->info, &e.sig);
    snprintf(e.cls.backend, sizeof e.cls.backend, "fake");
    e.cls.mode = KSA_MODE_DENSE;
    e.cls.phase = KSA_PHASE_PREFILL;
    e.cls.dtype = KSA_DTYPE_BF16;
    e.cls.head_dim = head_dim;
    e.cls.group = 4;
    e.cls.layout = KSA_KV_CONTIGUOUS;
    e.cls.lk_bucket = lk_bucket;
    e.cls.batch_bucket = 1;
    e.num_params = 2;
    strcpy(e.names[0], "block");
    strcpy(e.names[1], "unroll");
    e.values[0] = block;
    e.values[1] = unroll;
    e.tuned_us = 123.5;
    e.builtin_us = 200.25;
    e.timestamp = 1790000000;
    return e;
}

/* A resolved-problem stand-in: the fields the shape class reads. */
static ksa_problem make_problem(int64_t lk, int32_t head_dim)
{
    ksa_problem p;
    memset(&p, 0, sizeof p);
    p.mode = KSA_MODE_DENSE;
    p.phase = KSA_PHASE_PREFILL;
    p.dtype = KSA_DTYPE_BF16;
    p.batch = 1;
    p.num_q_heads = 8;
    p.num_kv_heads = 2;
    p.group_size = 4;
    p.head_dim = head_dim;
    p.kv_layout = KSA_KV_CONTIGUOUS;
    p.max_seqlen_q = lk;
    p.max_seqlen_k = lk;
    return p;
}

static ksa_tunable_space fake_space(void)
{
    ksa_tunable_space sp;
    fake_device()->backend->tunables(fake_device()->backend, 0, NULL, &sp);
    return sp;
}

/* lookup on the fake device; returns 1 and fills values/source when an entry applies */
static int lookup(int64_t lk, int32_t head_dim, int32_t *values, const char **source)
{
    ksa_problem p = make_problem(lk, head_dim);
    ksa_tunable_space sp = fake_space();
    *source = NULL;
    return ksa_autotune_lookup(fake_device(), &p, &sp, values, source);
}

static void use_cache(const char *name)
{
    char path[512];
    path_in_tmp(path, sizeof path, name);
    setenv("KSA_TUNE_CACHE", path, 1);
    ksa_autotune_reload();
}

static void write_text(const char *name, const char *text, size_t len)
{
    char path[512];
    path_in_tmp(path, sizeof path, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static char *read_text(const char *name, size_t *len)
{
    char path[512];
    path_in_tmp(path, sizeof path, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void test_round_trip(void **state)
{
    char path[512];
    path_in_tmp(path, sizeof path, "sub/dir/rt.txt"); /* folders are created */
    ksa_tune_entry in[3] = {make_entry(1024, 128, 16, 1), make_entry(4096, 128, 32, 2), make_entry(1024, 64, 64, 1)};
    assert_int_equal(ksa_tune_cache_store(path, in, 3), KSA_STATUS_SUCCESS);
    ksa_tune_entry *out = NULL;
    int32_t n = 0;
    ksa_tune_parse_stats st;
    assert_int_equal(ksa_tune_cache_read(path, &out, &n, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(n, 3);
    assert_int_equal(st.lines_bad, 0);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(out[i].sig.description, "Fake Device 9000_ rev_2"); /* separators sanitised */
        assert_string_equal(out[i].sig.isa, "fake1");
        assert_int_equal(out[i].sig.compute_units, 3);
        assert_string_equal(out[i].sig.driver, "1.2");
        assert_string_equal(out[i].sig.ksa_version, ksa_version_string());
        assert_int_equal(out[i].cls.lk_bucket, in[i].cls.lk_bucket);
        assert_int_equal(out[i].cls.head_dim, in[i].cls.head_dim);
        assert_int_equal(out[i].cls.group, 4);
        assert_int_equal(out[i].num_params, 2);
        assert_string_equal(out[i].names[0], "block");
        assert_int_equal(out[i].values[0], in[i].values[0]);
        assert_int_equal(out[i].values[1], in[i].values[1]);
        assert_true(out[i].tuned_us == 123.5 && out[i].builtin_us == 200.25);
        assert_int_equal(out[i].timestamp, 1790000000);
    }
    free(out);
    /* storing the same key again replaces the entry instead of adding one */
    ksa_tune_entry again = make_entry(1024, 128, 32, 2);
    assert_int_equal(ksa_tune_cache_store(path, &again, 1), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_tune_cache_read(path, &out, &n, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(n, 3);
    int found = 0;
    for (int i = 0; i < n; i++)
        if (out[i].cls.lk_bucket == 1024 && out[i].cls.head_dim == 128) {
            assert_int_equal(out[i].values[0], 32);
            found++;
        }
    assert_int_equal(found, 1);
    free(out);
}

static void test_reload_on_change(void **state)
{
    char path[512];
    path_in_tmp(path, sizeof path, "live.txt");
    ksa_tune_entry a = make_entry(1024, 128, 16, 1);
    assert_int_equal(ksa_tune_cache_store(path, &a, 1), KSA_STATUS_SUCCESS);
    use_cache("live.txt");
    int32_t v[KSA_MAX_TUNABLES];
    const char *src;
    assert_int_equal(lookup(1024, 128, v, &src), 1);
    assert_int_equal(v[0], 16);
    /* another ksa-tune run replaces the file: a lookup more than a second later sees it */
    ksa_tune_entry b = make_entry(1024, 128, 32, 2);
    assert_int_equal(ksa_tune_cache_store(path, &b, 1), KSA_STATUS_SUCCESS);
    usleep(1100 * 1000);
    assert_int_equal(lookup(1024, 128, v, &src), 1); /* this call notices and reloads */
    assert_int_equal(lookup(1024, 128, v, &src), 1);
    assert_int_equal(v[0], 32);
    assert_int_equal(v[1], 2);
}

/* the per-thread lookup memo (8 slots): ten classes looked up in turn, three times, each time the
 * class's own entry (so evicted slots are refilled right), and a reload with a changed entry is
 * seen by the very next lookup of a memoised class */
static void test_lookup_memo(void **state)
{
    char path[512];
    path_in_tmp(path, sizeof path, "memo.txt");
    static const int32_t blocks[3] = {16, 32, 64};
    ksa_tune_entry in[10];
    for (int i = 0; i < 10; i++) in[i] = make_entry((int64_t)1024 << i, 128, blocks[i % 3], 1 + (i / 3) % 2);
    assert_int_equal(ksa_tune_cache_store(path, in, 10), KSA_STATUS_SUCCESS);
    use_cache("memo.txt");
    int32_t v[KSA_MAX_TUNABLES];
    const char *src;
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < 10; i++) {
            memset(v, 0xff, sizeof v);
            assert_int_equal(lookup((int64_t)1024 << i, 128, v, &src), 1);
            assert_string_equal(src, "cache:exact");
            assert_int_equal(v[0], blocks[i % 3]);
            assert_int_equal(v[1], 1 + (i / 3) % 2);
        }
    /* the class of bucket 1024 is memoised now; a new file and an explicit reload replace it */
    ksa_tune_entry b = make_entry(1024, 128, 64, 2);
    assert_int_equal(ksa_tune_cache_store(path, &b, 1), KSA_STATUS_SUCCESS);
    ksa_autotune_reload();
    assert_int_equal(lookup(1024, 128, v, &src), 1);
    assert_int_equal(v[0], 64);
    assert_int_equal(v[1], 2);
    /* a value list that changes in place (same address, other contents) is a different space */
    {
        ksa_problem p = make_problem(1024 << 1, 128);
        ksa_tunable_space sp = fake_space();
        int32_t allowed[3] = {16, 32, 64};
        sp.params[0].values = allowed;
        assert_int_equal(ksa_autotune_lookup(fake_device(), &p, &sp, v, &src), 1);
        assert_int_equal(v[0], blocks[1 % 3]);
        assert_int_equal(ksa_autotune_lookup(fake_device(), &p, &sp, v, &src), 1); /* from the memo */
        allowed[1] = 48; /* the entry's block=32 is no longer allowed: a neighbouring bucket's applies */
        assert_int_equal(ksa_autotune_lookup(fake_device(), &p, &sp, v, &src), 1);
        assert_string_equal(src, "cache:nearest");
        assert_true(v[0] == 16 || v[0] == 64);
    }
    /* the store merged into the file: the other classes keep their own entries */
    assert_int_equal(lookup((int64_t)1024 << 9, 128, v, &src), 1);
    assert_int_equal(v[0], blocks[9 % 3]);
    assert_int_equal(v[1], 1 + (9 / 3) % 2);
}

static void test_lookup_fallbacks(void **state)
{
    char path[512];
    path_in_tmp(path, sizeof path, "fallback.txt");
    ksa_tune_entry in[2] = {make_entry(1024, 128, 16, 2), make_entry(16384, 64, 32, 2)};
    assert_int_equal(ksa_tune_cache_store(path, in, 2), KSA_STATUS_SUCCESS);
    use_cache("fallback.txt");
    int32_t v[KSA_MAX_TUNABLES];
    const char *src;
    /* exact: Lk 1000 falls in the 1024 bucket */
    assert_int_equal(lookup(1000, 128, v, &src), 1);
    assert_string_equal(src, "cache:exact");
    assert_int_equal(v[0], 16);
    assert_int_equal(v[1], 2);
    /* nearest: Lk 2000 (bucket 2048) has no entry; the 1024 bucket is one away */
    assert_int_equal(lookup(2000, 128, v, &src), 1);
    assert_string_equal(src, "cache:nearest");
    assert_int_equal(v[0], 16);
    /* two buckets away still applies, three do not */
    assert_int_equal(lookup(4000, 128, v, &src), 1);
    assert_int_equal(lookup(8000, 128, v, &src), 0);
    /* none: head_dim 256 has no entry at any bucket */
    assert_int_equal(lookup(1000, 256, v, &src), 0);
    /* disabled on this thread: the built-in is measured */
    ksa_autotune_set_enabled(0);
    assert_int_equal(lookup(1000, 128, v, &src), 0);
    ksa_autotune_set_enabled(1);

    /* shipped entries: a wildcard signature (backend + isa) for D 256 at 2048, D 128 at 2048 */
    ksa_tune_entry sh[2] = {make_entry(2048, 256, 64, 1), make_entry(2048, 128, 32, 1)};
    static char shipped[4096];
    size_t n = (size_t)snprintf(shipped, sizeof shipped, "ksa-tune-cache 1\n# test table\n");
    for (int i = 0; i < 2; i++) {
        memset(&sh[i].sig, 0, sizeof sh[i].sig);
        sh[i].sig.compute_units = -1;
        strcpy(sh[i].sig.backend, "fake");
        strcpy(sh[i].sig.isa, "fake1");
        n += (size_t)ksa_tune_format_entry(&sh[i], shipped + n, sizeof shipped - n);
    }
    ksa_autotune_set_shipped_text(shipped);
    /* cache exact still wins */
    assert_int_equal(lookup(1000, 128, v, &src), 1);
    assert_string_equal(src, "cache:exact");
    /* shipped exact beats cache nearest */
    assert_int_equal(lookup(2000, 128, v, &src), 1);
    assert_string_equal(src, "shipped:exact");
    assert_int_equal(v[0], 32);
    assert_int_equal(v[1], 1);
    /* shipped nearest when the cache has nothing for D 256 */
    assert_int_equal(lookup(5000, 256, v, &src), 1);
    assert_string_equal(src, "shipped:nearest");
    assert_int_equal(v[0], 64);
    /* a shipped entry for another ISA does not apply */
    strcpy(sh[0].sig.isa, "fake2");
    n = (size_t)snprintf(shipped, sizeof shipped, "ksa-tune-cache 1\n");
    n += (size_t)ksa_tune_format_entry(&sh[0], shipped + n, sizeof shipped - n);
    ksa_autotune_set_shipped_text(shipped);
    assert_int_equal(lookup(2048, 256, v, &src), 0);
    ksa_autotune_set_shipped_text(NULL);
    ksa_tune_load_info info;
    ksa_autotune_load_info(&info);
    assert_int_equal(info.bad_lines, 0);
}

static void test_builtin_markers_and_limits(void **state)
{
    char path[512];
    path_in_tmp(path, sizeof path, "markers.txt");
    ksa_tune_entry winner = make_entry(1024, 128, 16, 2);
    ksa_tune_entry marker = make_entry(2048, 128, 0, 0);
    marker.num_params = 0; /* "the built-in measured best at 2048" */
    ksa_tune_entry batch1 = make_entry(8192, 128, 64, 1);
    ksa_tune_entry all[3] = {winner, marker, batch1};
    assert_int_equal(ksa_tune_cache_store(path, all, 3), KSA_STATUS_SUCCESS);
    size_t len;
    assert_non_null(strstr(read_text("markers.txt", &len), "\tbuiltin\t"));
    use_cache("markers.txt");
    int32_t v[KSA_MAX_TUNABLES];
    const char *src;
    assert_int_equal(lookup(1024, 128, v, &src), 1);
    assert_string_equal(src, "cache:exact");
    /* the marker is exact for 2048: built-in, not the 1024 neighbour */
    src = NULL;
    assert_int_equal(lookup(2048, 128, v, &src), 0);
    assert_non_null(src);
    assert_string_equal(src, "cache:exact:builtin");
    /* 4096 is one from the marker and from the 8192 entry: equal distance, file order picks the marker */
    assert_int_equal(lookup(4096, 128, v, &src), 0);
    assert_string_equal(src, "cache:nearest:builtin");
    /* batch: one bucket away applies, two do not */
    ksa_problem p = make_problem(8192, 128);
    ksa_tunable_space sp = fake_space();
    p.batch = 2;
    assert_int_equal(ksa_autotune_lookup(fake_device(), &p, &sp, v, &src), 1);
    assert_string_equal(src, "cache:nearest");
    assert_int_equal(v[0], 64);
    p.batch = 4;
    assert_int_equal(ksa_autotune_lookup(fake_device(), &p, &sp, v, &src), 0);
    /* another group size or layout is never a neighbour */
    p.batch = 1;
    p.group_size = 8;
    assert_int_equal(ksa_autotune_lookup(fake_device(), &p, &sp, v, &src), 0);
    p.group_size = 4;
    p.kv_layout = KSA_KV_PAGED;
    assert_int_equal(ksa_autotune_lookup(fake_device(), &p, &sp, v, &src), 0);
    ksa_tune_load_info info;
    ksa_autotune_load_info(&info);
    assert_int_equal(info.warnings, 0);
}

/* Write three good entries, then damage the text, and look up. */
static void test_truncated(void **state)
{
    char path[512];
    path_in_tmp(path, sizeof path, "trunc.txt");
    ksa_tune_entry in[3] = {make_entry(1024, 128, 16, 1), make_entry(2048, 128, 16, 2), make_entry(4096, 128, 32, 2)};
    assert_int_equal(ksa_tune_cache_store(path, in, 3), KSA_STATUS_SUCCESS);
    size_t len;
    char *text = read_text("trunc.txt", &len);
    assert_true(len > 40);
    write_text("trunc.txt", text, len - 25); /* cut inside the last line */
    use_cache("trunc.txt");
    int32_t v[KSA_MAX_TUNABLES];
    const char *src;
    assert_int_equal(lookup(1024, 128, v, &src), 1);
    assert_string_equal(src, "cache:exact");
    assert_int_equal(lookup(2048, 128, v, &src), 1);
    assert_string_equal(src, "cache:exact");
    assert_int_equal(v[1], 2);
    /* the truncated 4096 entry is gone: nearest (2048) instead */
    assert_int_equal(lookup(4096, 128, v, &src), 1);
    assert_string_equal(src, "cache:nearest");
    assert_int_equal(v[0], 16);
    ksa_tune_load_info info;
    ksa_autotune_load_info(&info);
    assert_int_equal(info.cache_entries, 2);
    assert_int_equal(info.bad_lines, 1);
    assert_int_equal(info.warnings, 1);
    assert_non_null(strstr(info.last_warning, "corrupt or truncated"));
}

static void test_flipped_byte(void **state)
{
    char path[512];
    path_in_tmp(path, sizeof path, "flip.txt");
    ksa_tune_entry in[2] = {make_entry(1024, 128, 16, 1), make_entry(2048, 128, 16, 2)};
    assert_int_equal(ksa_tune_cache_store(path, in, 2), KSA_STATUS_SUCCESS);
    size_t len;
    char *text = read_text("flip.txt", &len);
    char *first = strstr(text, "block=16,unroll=1");
    assert_non_null(first);
    first[6] = '3'; /* block=36: a value change the checksum must catch */
    write_text("flip.txt", text, len);
    use_cache("flip.txt");
    int32_t v[KSA_MAX_TUNABLES];
    const char *src;
    assert_int_equal(lookup(1024, 128, v, &src), 1);
    assert_string_equal(src, "cache:nearest"); /* from the intact 2048 line */
    assert_int_equal(v[1], 2);
    ksa_tune_load_info info;
    ksa_autotune_load_info(&info);
    assert_int_equal(info.bad_lines, 1);
    assert_true(info.warnings >= 1);
    assert_non_null(strstr(info.last_warning, "checksum"));
}

static void test_garbage_and_versions(void **state)
{
    int32_t v[KSA_MAX_TUNABLES];
    const char *src;
    ksa_tune_load_info info;
    /* random bytes */
    char junk[3000];
    uint64_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        junk[i] = (char)(x >> 56);
    }
    write_text("garbage.txt", junk, sizeof junk);
    use_cache("garbage.txt");
    assert_int_equal(lookup(1024, 128, v, &src), 0);
    ksa_autotune_load_info(&info);
    assert_int_equal(info.bad_file, 1);
    assert_int_equal(info.warnings, 1);
    assert_non_null(strstr(info.last_warning, "ignored"));
    /* and ksa-tune refuses to overwrite it */
    char path[512];
    path_in_tmp(path, sizeof path, "garbage.txt");
    ksa_tune_entry e = make_entry(1024, 128, 16, 1);
    assert_int_equal(ksa_tune_cache_store(path, &e, 1), KSA_STATUS_INVALID_FILE);
    assert_non_null(strstr(ksa_last_error(), "not a ksa tuning cache"));

    /* a future format version: valid-looking lines, but nothing is read */
    char line[2048];
    int n = ksa_tune_format_entry(&e, line, sizeof line);
    assert_true(n > 0);
    char text[4096];
    int len = snprintf(text, sizeof text, "ksa-tune-cache 2\n%s", line);
    write_text("v2.txt", text, (size_t)len);
    use_cache("v2.txt");
    assert_int_equal(lookup(1024, 128, v, &src), 0);
    ksa_autotune_load_info(&info);
    assert_int_equal(info.bad_file, 1);
    assert_non_null(strstr(info.last_warning, "format version 2"));
    path_in_tmp(path, sizeof path, "v2.txt");
    assert_int_equal(ksa_tune_cache_store(path, &e, 1), KSA_STATUS_INVALID_FILE);
    /* version 1 with the same line is accepted */
    len = snprintf(text, sizeof text, "ksa-tune-cache 1\n%s", line);
    write_text("v1.txt", text, (size_t)len);
    use_cache("v1.txt");
    assert_int_equal(lookup(1024, 128, v, &src), 1);
    ksa_autotune_load_info(&info);
    assert_int_equal(info.warnings, 0);
    /* an empty file is an empty cache, no warning */
    write_text("empty.txt", "", 0);
    use_cache("empty.txt");
    assert_int_equal(lookup(1024, 128, v, &src), 0);
    ksa_autotune_load_info(&info);
    assert_int_equal(info.warnings, 0);
    /* a missing file too */
    use_cache("does-not-exist.txt");
    assert_int_equal(lookup(1024, 128, v, &src), 0);
    ksa_autotune_load_info(&info);
    assert_int_equal(info.warnings, 0);
}

static void test_foreign_entries(void **state)
{
    char path[512];
    path_in_tmp(path, sizeof path, "foreign.txt");
    ksa_tune_entry other_dev = make_entry(1024, 128, 16, 1);
    strcpy(other_dev.sig.description, "Another Device");
    ksa_tune_entry other_driver = make_entry(2048, 128, 16, 1);
    strcpy(other_driver.sig.driver, "9.9");
    ksa_tune_entry other_cores = make_entry(4096, 128, 16, 1);
    other_cores.sig.compute_units = 64;
    ksa_tune_entry other_version = make_entry(8192, 128, 16, 1);
    strcpy(other_version.sig.ksa_version, "0.0.1");
    ksa_tune_entry all[4] = {other_dev, other_driver, other_cores, other_version};
    assert_int_equal(ksa_tune_cache_store(path, all, 4), KSA_STATUS_SUCCESS);
    use_cache("foreign.txt");
    int32_t v[KSA_MAX_TUNABLES];
    const char *src;
    for (int64_t lk = 1024; lk <= 8192; lk *= 2) assert_int_equal(lookup(lk, 128, v, &src), 0);
    ksa_tune_load_info info;
    ksa_autotune_load_info(&info);
    assert_int_equal(info.cache_entries, 4);
    assert_int_equal(info.foreign_entries, 4); /* 1 other version at load + 3 other devices at lookup */
    assert_int_equal(info.warnings, 2);
    assert_non_null(strstr(info.last_warning, "another device"));
    /* storing keeps the other devices' entries */
    ksa_tune_entry mine = make_entry(1024, 128, 32, 1);
    assert_int_equal(ksa_tune_cache_store(path, &mine, 1), KSA_STATUS_SUCCESS);
    ksa_tune_entry *out;
    int32_t n;
    ksa_tune_parse_stats st;
    assert_int_equal(ksa_tune_cache_read(path, &out, &n, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(n, 5);
    free(out);
    ksa_autotune_reload();
    assert_int_equal(lookup(1024, 128, v, &src), 1);
    assert_int_equal(v[0], 32);
}

static void test_stale_parameters(void **state)
{
    char path[512];
    path_in_tmp(path, sizeof path, "stale.txt");
    ksa_tune_entry unknown_name = make_entry(1024, 128, 16, 1);
    strcpy(unknown_name.names[1], "warps"); /* the backend has no such parameter any more */
    ksa_tune_entry bad_value = make_entry(2048, 128, 48, 1); /* 48 is not an allowed block */
    ksa_tune_entry all[2] = {unknown_name, bad_value};
    assert_int_equal(ksa_tune_cache_store(path, all, 2), KSA_STATUS_SUCCESS);
    use_cache("stale.txt");
    int32_t v[KSA_MAX_TUNABLES];
    const char *src;
    assert_int_equal(lookup(1024, 128, v, &src), 0);
    assert_int_equal(lookup(2048, 128, v, &src), 0);
    ksa_tune_load_info info;
    ksa_autotune_load_info(&info);
    assert_int_equal(info.warnings, 1); /* once per load */
    assert_non_null(strstr(info.last_warning, "stale"));
}

static void test_concurrent_writers(void **state)
{
    char path[512];
    path_in_tmp(path, sizeof path, "concurrent.txt");
    enum { PER_WRITER = 40 };
    pid_t pids[2];
    for (int w = 0; w < 2; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            for (int i = 0; i < PER_WRITER; i++) {
                /* distinct keys: writer w uses head_dim 64 or 128, lk bucket 2^i */
                ksa_tune_entry e = make_entry((int64_t)1 << (i % 40), w ? 128 : 64, 16, 1 + (i & 1));
                e.cls.batch_bucket = (int64_t)1 << (i / 40);
                if (ksa_tune_cache_store(path, &e, 1) != KSA_STATUS_SUCCESS) _exit(1);
            }
            _exit(0);
        }
    }
    for (int w = 0; w < 2; w++) {
        int status = 0;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    ksa_tune_entry *out;
    int32_t n;
    ksa_tune_parse_stats st;
    assert_int_equal(ksa_tune_cache_read(path, &out, &n, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(st.lines_bad, 0);
    assert_int_equal(n, 2 * PER_WRITER); /* a lost update would drop some */
    int per_dim[2] = {0, 0};
    for (int i = 0; i < n; i++) per_dim[out[i].cls.head_dim == 128]++;
    assert_int_equal(per_dim[0], PER_WRITER);
    assert_int_equal(per_dim[1], PER_WRITER);
    free(out);
    /* no temp files left behind */
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) assert_null(strstr(de->d_name, ".tmp."));
    closedir(d);
}

typedef struct lookup_worker {
    int reloads; /* this worker also drops the table now and then */
    int wrong;
} lookup_worker;

static void *lookup_thread(void *arg)
{
    lookup_worker *w = arg;
    for (int i = 0; i < 3000; i++) {
        int32_t v[KSA_MAX_TUNABLES];
        const char *src;
        int64_t lk = (i & 1) ? 1000 : 3000;
        if (!lookup(lk, 128, v, &src) || v[0] != ((i & 1) ? 16 : 32) || strcmp(src, "cache:exact")) w->wrong++;
        if (lookup(1000, 256, v, &src)) w->wrong++;
        if (w->reloads && i % 100 == 0) ksa_autotune_reload();
    }
    return NULL;
}

static void test_concurrent_lookups(void **state)
{
    char path[512];
    path_in_tmp(path, sizeof path, "threads.txt");
    ksa_tune_entry in[2] = {make_entry(1024, 128, 16, 1), make_entry(4096, 128, 32, 2)};
    assert_int_equal(ksa_tune_cache_store(path, in, 2), KSA_STATUS_SUCCESS);
    use_cache("threads.txt");
    enum { N = 4 };
    pthread_t th[N];
    lookup_worker w[N];
    memset(w, 0, sizeof w);
    w[0].reloads = 1;
    for (int i = 0; i < N; i++) assert_int_equal(pthread_create(&th[i], NULL, lookup_thread, &w[i]), 0);
    for (int i = 0; i < N; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < N; i++) assert_int_equal(w[i].wrong, 0);
}

static void test_cache_path(void **state)
{
    char buf[1024];
    const char *saved_home = getenv("HOME");
    char home[512];
    snprintf(home, sizeof home, "%s", saved_home ? saved_home : "");
    setenv("KSA_TUNE_CACHE", "/some/where/c.txt", 1);
    assert_string_equal(ksa_tune_cache_path(buf, sizeof buf), "/some/where/c.txt");
    setenv("KSA_TUNE_CACHE", "off", 1);
    assert_null(ksa_tune_cache_path(buf, sizeof buf));
    setenv("KSA_TUNE_CACHE", "", 1);
    assert_null(ksa_tune_cache_path(buf, sizeof buf));
    unsetenv("KSA_TUNE_CACHE");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    assert_string_equal(ksa_tune_cache_path(buf, sizeof buf), "/xdg/ksa/tune-cache.txt");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    assert_string_equal(ksa_tune_cache_path(buf, sizeof buf), "/home/u/.cache/ksa/tune-cache.txt");
    unsetenv("HOME");
    assert_null(ksa_tune_cache_path(buf, sizeof buf));
    if (home[0]) setenv("HOME", home, 1);
    /* with KSA_TUNE_CACHE off, lookups still see the shipped table and warn about nothing */
    setenv("KSA_TUNE_CACHE", "off", 1);
    ksa_autotune_reload();
    ksa_tune_load_info info;
    ksa_autotune_load_info(&info);
    assert_int_equal(info.path[0], '\0');
    assert_int_equal(info.warnings, 0);
    assert_int_equal(info.cache_entries, 0);
}

static void test_bucket_and_strings(void **state)
{
    assert_int_equal(ksa_tune_bucket(1), 1);
    assert_int_equal(ksa_tune_bucket(1000), 1024);
    assert_int_equal(ksa_tune_bucket(1024), 1024);
    assert_int_equal(ksa_tune_bucket(1025), 2048);
    ksa_tune_entry e = make_entry(4096, 128, 16, 2);
    char buf[512];
    assert_string_equal(ksa_tune_class_string(&e.cls, buf, sizeof buf),
                        "backend=fake;op=dense.prefill;dtype=bf16;d=128;g=4;lk=4096;b=1;layout=contiguous");
    /* a parse of one formatted line gives the entry back */
    char text[2048];
    int n = snprintf(text, sizeof text, "ksa-tune-cache 1\n");
    n += ksa_tune_format_entry(&e, text + n, sizeof text - (size_t)n);
    ksa_tune_entry *out;
    int32_t count;
    ksa_tune_parse_stats st;
    assert_int_equal(ksa_tune_parse(text, (size_t)n, &out, &count, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(count, 1);
    assert_int_equal(out[0].values[1], 2);
    free(out);
    /* the compiled-in shipped table parses cleanly */
    size_t slen;
    const char *stext = ksa_tune_shipped_text(&slen);
    assert_int_equal(ksa_tune_parse(stext, slen, &out, &count, &st), KSA_STATUS_SUCCESS);
    assert_int_equal(st.lines_bad, 0);
    assert_int_equal(st.bad_header, 0);
    assert_int_equal(st.bad_version, 0);
    /* ... and holds entries for every device tuned for shipping: the lent H200, the lent AMX Xeon and
     * the CI-class AVX-512 EPYC (autotune/DEVICE.md), each for its own signature. The Xeon's come
     * from the thirtieth session's final run, tuned on its one-job-per-phase decode driver
     * (bench/results/2026-12-02-s30: three winners, six markers); the H200's from the eighth
     * session's (bench/results/2026-11-30-s8): three winners (dense decode B1 Lk8K and Lk32K, anchor
     * decode B1 Lk32K, all split clusters) and twelve built-in markers, bf16 only. */
    int h200 = 0, xeon_amx = 0, epyc_avx512 = 0;
    for (int32_t i = 0; i < count; i++) {
        const ksa_tune_signature *g = &out[i].sig;
        if (!strcmp(g->backend, "cuda") && strstr(g->description, "H200") && !strcmp(g->isa, "sm_90")) h200++;
        if (!strcmp(g->backend, "cpu") && strstr(g->description, "Xeon") && !strcmp(g->isa, "amx+bf16")) xeon_amx++;
        if (!strcmp(g->backend, "cpu") && strstr(g->description, "EPYC") && !strcmp(g->isa, "avx512+bf16")) epyc_avx512++;
        assert_string_equal(g->backend, out[i].cls.backend);
    }
    assert_int_equal(h200, 15);
    assert_int_equal(xeon_amx, 9);
    assert_int_equal(epyc_avx512, 24);
    assert_int_equal(count, h200 + xeon_amx + epyc_avx512);
    free(out);
}

static int setup(void **state)
{
    if (atest_make_tmpdir(tmpdir, sizeof tmpdir, "ksa-tune-test")) return -1;
    return 0;
}

static int teardown(void **state) { return atest_remove_tmpdir(tmpdir); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_and_strings),  cmocka_unit_test(test_cache_path),
        cmocka_unit_test(test_round_trip),          cmocka_unit_test(test_reload_on_change),
        cmocka_unit_test(test_lookup_fallbacks),    cmocka_unit_test(test_builtin_markers_and_limits),
        cmocka_unit_test(test_lookup_memo),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_flipped_byte),        cmocka_unit_test(test_garbage_and_versions),
        cmocka_unit_test(test_foreign_entries),     cmocka_unit_test(test_stale_parameters),
        cmocka_unit_test(test_concurrent_writers),  cmocka_unit_test(test_concurrent_lookups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
