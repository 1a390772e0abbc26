/* test_calib_files.c: calibration files. .npy round trips (int32/float32/float64, 0-4 dims, v1 and
 * v2 headers), hand-made malformed .npy files and random mutations of valid ones (status + sentence,
 * never a crash), the shipped head-map tables in tests/data (shapes, anchors from the file name,
 * identity anchor rows, applied to a ksa_schedule), and the text schedule file (round trip,
 * malformed cases, mutations). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ksa/ksa_calib.h"
#include "test_util.h"

static char tmp_dir[256];

static const char *tmp_path(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", tmp_dir, name);
    return buf;
}

static const char *data_path(const char *name, char *buf, size_t len)
{
    const char *dir = getenv("KSA_TEST_DATA");
    snprintf(buf, len, "%s/%s", dir && *dir ? dir : KSA_TEST_DATA_DIR, name);
    return buf;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

/* ---------------------------------------------------------------- .npy */
static void test_npy_round_trip(void **state)
{
    (void)state;
    char path[512];
    uint64_t rng = 31;
    const ksa_npy_dtype dts[3] = {KSA_NPY_I32, KSA_NPY_F32, KSA_NPY_F64};
    const int64_t shapes[5][4] = {{0}, {7}, {3, 5}, {2, 3, 4}, {2, 1, 3, 2}};
    for (int d = 0; d < 3; d++)
        for (int nd = 0; nd <= 4; nd++) {
            int64_t numel = 1;
            for (int i = 0; i < nd; i++) numel *= shapes[nd][i];
            size_t es = ksa_npy_dtype_size(dts[d]);
            unsigned char *data = malloc((size_t)numel * es);
            for (int64_t i = 0; i < numel; i++) {
                if (dts[d] == KSA_NPY_I32) ((int32_t *)data)[i] = (int32_t)(ktest_rand_u64(&rng) & 0xffffff) - 0x7fffff;
                if (dts[d] == KSA_NPY_F32) ((float *)data)[i] = (float)ktest_rand_uniform(&rng, -3, 3);
                if (dts[d] == KSA_NPY_F64) ((double *)data)[i] = ktest_rand_uniform(&rng, -3, 3);
            }
            tmp_path("rt.npy", path, sizeof path);
            assert_int_equal(ksa_npy_write(path, dts[d], nd, shapes[nd], data), KSA_STATUS_SUCCESS);
            size_t size;
            unsigned char *img = read_all(path, &size);
            /* NumPy's layout: magic, version 1.0, header padded so the data starts 64-byte aligned */
            assert_memory_equal(img, "\x93NUMPY\x01\x00", 8);
            size_t hlen = img[8] | (img[9] << 8);
            assert_int_equal((10 + hlen) % 64, 0);
            assert_int_equal(img[10 + hlen - 1], '\n');
            assert_int_equal(size, 10 + hlen + (size_t)numel * es);
            free(img);
            ksa_npy_array a;
            assert_int_equal(ksa_npy_read(path, &a), KSA_STATUS_SUCCESS);
            assert_int_equal(a.dtype, dts[d]);
            assert_int_equal(a.ndim, nd);
            assert_int_equal(a.numel, numel);
            for (int i = 0; i < nd; i++) assert_int_equal(a.shape[i], shapes[nd][i]);
            assert_memory_equal(a.data, data, (size_t)numel * es);
            ksa_npy_free(&a);
            assert_null(a.data);
            free(data);
        }
    /* the exact header NumPy writes for int32 (32, 8) */
    int32_t table[32 * 8];
    for (int i = 0; i < 256; i++) table[i] = i % 8;
    int64_t shape[2] = {32, 8};
    assert_int_equal(ksa_npy_write(tmp_path("hm.npy", path, sizeof path), KSA_NPY_I32, 2, shape, table), KSA_STATUS_SUCCESS);
    size_t size;
    unsigned char *img = read_all(path, &size);
    const char *expect = "{'descr': '<i4', 'fortran_order': False, 'shape': (32, 8), }";
    assert_memory_equal(img + 10, expect, strlen(expect));
    assert_int_equal(size, 128 + 1024);
    free(img);
}

/* Build a .npy image with header dict `dict` (version 1 or 2) and `data_bytes` bytes of payload. */
static unsigned char *make_npy(int version, const char *dict, size_t data_bytes, size_t *size)
{
    size_t pre = version == 1 ? 10 : 12;
    size_t dl = strlen(dict);
    size_t hlen = (pre + dl + 1 + 63) / 64 * 64 - pre;
    *size = pre + hlen + data_bytes;
    unsigned char *b = malloc(*size);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)version;
    b[7] = 0;
    if (version == 1) {
        b[8] = (unsigned char)(hlen & 0xff);
        b[9] = (unsigned char)(hlen >> 8);
    } else {
        for (int i = 0; i < 4; i++) b[8 + i] = (unsigned char)(hlen >> (8 * i));
    }
    memcpy(b + pre, dict, dl);
    memset(b + pre + dl, ' ', hlen - dl - 1);
    b[pre + hlen - 1] = '\n';
    for (size_t i = 0; i < data_bytes; i++) b[pre + hlen + i] = (unsigned char)(i * 7 + 1);
    return b;
}

static void test_npy_v2_and_variants(void **state)
{
    (void)state;
    size_t size;
    ksa_npy_array a;
    unsigned char *b = make_npy(2, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 48, &size);
    assert_int_equal(ksa_npy_parse(b, size, &a), KSA_STATUS_SUCCESS);
    assert_int_equal(a.dtype, KSA_NPY_F64);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[1], 3);
    ksa_npy_free(&a);
    free(b);
    /* key order, double quotes, no trailing comma, a 1-tuple and a scalar */
    b = make_npy(1, "{\"shape\": (5,), \"fortran_order\": False, \"descr\": \"<i4\"}", 20, &size);
    assert_int_equal(ksa_npy_parse(b, size, &a), KSA_STATUS_SUCCESS);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.shape[0], 5);
    ksa_npy_free(&a);
    free(b);
    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4, &size);
    assert_int_equal(ksa_npy_parse(b, size, &a), KSA_STATUS_SUCCESS);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(a.numel, 1);
    ksa_npy_free(&a);
    free(b);
}

static void test_npy_malformed(void **state)
{
    (void)state;
    struct {
        int version;
        const char *dict;
        size_t data;
        const char *needle; /* part of the expected sentence */
    } cases[] = {
        {1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", 8, "'>i4'"},
        {1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", 16, "'<i8'"},
        {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16, "Fortran"},
        {1, "{'descr': '<f4', 'fortran_order': False, }", 16, "no shape"},
        {1, "{'fortran_order': False, 'shape': (2,), }", 8, "no descr"},
        {1, "{'descr': '<f4', 'shape': (2,), }", 8, "no fortran_order"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 15, "truncated"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 17, "trailing"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 2), }", 16, "not a size"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (x), }", 16, "not a size"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", 16, "overflow"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4, "dimensions"},
        {1, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }", 4, "fortran_order"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", 4, "unknown key"},
        {1, "['descr', '<f4']", 4, "dictionary"},
        {1, "{'descr': '<f4' 'fortran_order': False}", 4, "malformed"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2), }", 4, "shape"},
        {1, "{'descr: '<f4', 'fortran_order': False, 'shape': (1,), }", 4, "header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t size;
        unsigned char *b = make_npy(cases[i].version, cases[i].dict, cases[i].data, &size);
        ksa_npy_array a;
        ksa_status st = ksa_npy_parse(b, size, &a);
        if (st != KSA_STATUS_INVALID_FILE || !strstr(ksa_last_error(), cases[i].needle))
            print_error("case %zu (%s): status %d, sentence '%s'\n", i, cases[i].dict, (int)st, ksa_last_error());
        assert_int_equal(st, KSA_STATUS_INVALID_FILE);
        assert_non_null(strstr(ksa_last_error(), cases[i].needle));
        assert_null(a.data);
        free(b);
    }
    /* broken preambles */
    ksa_npy_array a;
    assert_int_equal(ksa_npy_parse("\x93NUMPZ\x01\x00\x10\x00", 10, &a), KSA_STATUS_INVALID_FILE);
    assert_non_null(strstr(ksa_last_error(), "magic"));
    assert_int_equal(ksa_npy_parse("\x93NUMPY\x04\x00\x10\x00", 10, &a), KSA_STATUS_INVALID_FILE);
    assert_non_null(strstr(ksa_last_error(), "version 4"));
    assert_int_equal(ksa_npy_parse("\x93NUMPY\x01\x00\xff\x00{}", 12, &a), KSA_STATUS_INVALID_FILE);
    assert_non_null(strstr(ksa_last_error(), "past the end"));
    assert_int_equal(ksa_npy_parse("\x93NUMPY\x02\x00\x10\x00", 10, &a), KSA_STATUS_INVALID_FILE);
    assert_int_equal(ksa_npy_parse("", 0, &a), KSA_STATUS_INVALID_FILE);
    assert_int_equal(ksa_npy_parse(NULL, 0, &a), KSA_STATUS_INVALID_FILE);
    assert_int_equal(ksa_npy_read("/nonexistent/dir/x.npy", &a), KSA_STATUS_IO_ERROR);
    assert_non_null(strstr(ksa_last_error(), "/nonexistent/dir/x.npy"));
    assert_int_equal(ksa_npy_write("/nonexistent/dir/x.npy", KSA_NPY_I32, 0, NULL, "abcd"), KSA_STATUS_IO_ERROR);
    assert_int_equal(ksa_npy_write("/tmp/x.npy", KSA_NPY_INVALID, 0, NULL, "abcd"), KSA_STATUS_INVALID_ARGUMENT);
}

static void test_npy_fuzz(void **state)
{
    (void)state;
    char path[512];
    size_t size;
    unsigned char *img = read_all(data_path("Meta-Llama-3.1-8B-Instruct_layers_0_2_8_13_14.npy", path, sizeof path), &size);
    unsigned char *m = malloc(size);
    uint64_t rng = 4242;
    int ok = 0, bad = 0;
    for (int it = 0; it < 4000; it++) {
        memcpy(m, img, size);
        size_t len = size;
        int edits = 1 + (int)(ktest_rand_u64(&rng) % 4);
        for (int e = 0; e < edits; e++) {
            uint64_t r = ktest_rand_u64(&rng);
            size_t where = (size_t)(r >> 8) % 140; /* mostly the preamble and header */
            switch (r % 4) {
            case 0: m[where] = (unsigned char)(r >> 40); break;
            case 1: m[where] ^= (unsigned char)(1u << ((r >> 32) % 8)); break;
            case 2: len = (size_t)(r >> 16) % (size + 1); break;
            default: m[where] = "0123456789(),:'{} \n-"[(r >> 24) % 20]; break;
            }
        }
        ksa_npy_array a;
        ksa_status st = ksa_npy_parse(m, len, &a);
        assert_true(st == KSA_STATUS_SUCCESS || st == KSA_STATUS_INVALID_FILE);
        if (st == KSA_STATUS_SUCCESS) {
            ok++;
            assert_true(a.numel * (int64_t)ksa_npy_dtype_size(a.dtype) <= (int64_t)len);
            ksa_npy_free(&a);
        } else {
            bad++;
            assert_true(strlen(ksa_last_error()) > 10);
            assert_null(a.data);
        }
    }
    assert_true(bad > 1000);
    print_message("npy fuzz: %d accepted, %d rejected\n", ok, bad);
    free(m);
    free(img);
}

/* ---------------------------------------------------------------- shipped head-map tables */
static void check_shipped(const char *name, int32_t layers, const int32_t *anchors, int32_t n_anchors, const char *model)
{
    char path[512];
    ksa_calib_plan plan;
    ksa_status st = ksa_calib_plan_load_npy(data_path(name, path, sizeof path), NULL, 0, &plan);
    if (st) print_error("%s: %s\n", name, ksa_last_error());
    assert_int_equal(st, KSA_STATUS_SUCCESS);
    assert_int_equal(plan.num_layers, layers);
    assert_int_equal(plan.num_kv_heads, 8);
    assert_int_equal(plan.num_anchors, n_anchors);
    assert_memory_equal(plan.anchors, anchors, sizeof(int32_t) * (size_t)n_anchors);
    assert_string_equal(plan.model, model);
    assert_int_equal(plan.num_shards, 1); /* a .npy table carries no shard count */
    assert_int_equal(ksa_calib_plan_validate(&plan), KSA_STATUS_SUCCESS);
    for (int32_t i = 0; i < n_anchors; i++)
        for (int32_t g = 0; g < 8; g++) assert_int_equal(plan.head_maps[anchors[i] * 8 + g], g);
    /* the same table with explicit anchors; wrong anchors make the table inconsistent */
    ksa_calib_plan again;
    assert_int_equal(ksa_calib_plan_load_npy(path, anchors, n_anchors, &again), KSA_STATUS_SUCCESS);
    assert_memory_equal(again.head_maps, plan.head_maps, sizeof(int32_t) * (size_t)layers * 8);
    ksa_calib_plan_free(&again);
    const int32_t wrong[3] = {0, 1, 3};
    assert_int_equal(ksa_calib_plan_load_npy(path, wrong, 3, &again), KSA_STATUS_INVALID_FILE);
    assert_non_null(strstr(ksa_last_error(), "not the identity"));
    assert_null(again.head_maps);

    /* applied to a schedule: anchors are ANCHOR with the identity, the rest REUSE of the nearest anchor */
    ksa_device dev = ktest_open_device("reference");
    assert_non_null(dev);
    ksa_topk_params topk = ksa_topk_default();
    ksa_schedule sched;
    assert_int_equal(ksa_schedule_create(dev, layers, 8, &topk, &sched), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_plan_apply(&plan, sched), KSA_STATUS_SUCCESS);
    int32_t ai = 0, current = 0;
    for (int32_t l = 0; l < layers; l++) {
        ksa_layer_kind kind;
        int32_t anchor_layer = -3, map[8];
        assert_int_equal(ksa_schedule_get_layer(sched, l, &kind, &anchor_layer, map), KSA_STATUS_SUCCESS);
        int is_anchor = ai < n_anchors && anchors[ai] == l;
        if (is_anchor) {
            ai++;
            current = l;
        }
        assert_int_equal(kind, is_anchor ? KSA_LAYER_ANCHOR : KSA_LAYER_REUSE);
        assert_int_equal(anchor_layer, current);
        assert_memory_equal(map, plan.head_maps + l * 8, sizeof map);
    }
    ksa_schedule_destroy(sched);
    /* a schedule of the wrong size is refused */
    assert_int_equal(ksa_schedule_create(dev, layers + 1, 8, &topk, &sched), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_plan_apply(&plan, sched), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "layers"));
    ksa_schedule_destroy(sched);
    assert_int_equal(ksa_schedule_create(dev, layers, 4, &topk, &sched), KSA_STATUS_SUCCESS);
    assert_int_equal(ksa_calib_plan_apply(&plan, sched), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "KV heads"));
    ksa_schedule_destroy(sched);

    /* the schedule file round trip keeps everything */
    char spath[512];
    tmp_path("plan.ksched", spath, sizeof spath);
    assert_int_equal(ksa_calib_plan_save(&plan, spath), KSA_STATUS_SUCCESS);
    ksa_calib_plan back;
    assert_int_equal(ksa_calib_plan_load(spath, &back), KSA_STATUS_SUCCESS);
    assert_int_equal(back.num_layers, plan.num_layers);
    assert_int_equal(back.num_anchors, plan.num_anchors);
    assert_memory_equal(back.anchors, plan.anchors, sizeof(int32_t) * (size_t)n_anchors);
    assert_memory_equal(back.head_maps, plan.head_maps, sizeof(int32_t) * (size_t)layers * 8);
    assert_string_equal(back.model, plan.model);
    assert_int_equal(back.num_shards, 1);
    /* and the .npy written back is byte-identical to the shipped file */
    char npath[512];
    tmp_path("back.npy", npath, sizeof npath);
    assert_int_equal(ksa_calib_plan_save_npy(&back, npath), KSA_STATUS_SUCCESS);
    size_t s1, s2;
    unsigned char *b1 = read_all(path, &s1), *b2 = read_all(npath, &s2);
    assert_int_equal(s1, s2);
    assert_memory_equal(b1 + 128, b2 + 128, s1 - 128);
    free(b1);
    free(b2);
    ksa_calib_plan_free(&back);
    ksa_calib_plan_free(&plan);
}

static void test_shipped_tables(void **state)
{
    (void)state;
    const int32_t llama[5] = {0, 2, 8, 13, 14}, qwen[5] = {0, 2, 7, 14, 23};
    check_shipped("Meta-Llama-3.1-8B-Instruct_layers_0_2_8_13_14.npy", 32, llama, 5, "Meta-Llama-3.1-8B-Instruct");
    check_shipped("DeepSeek-R1-Distill-Llama-8B_layers_0_2_8_13_14.npy", 32, llama, 5, "DeepSeek-R1-Distill-Llama-8B");
    check_shipped("Qwen3-8B_layers_0_2_7_14_23.npy", 36, qwen, 5, "Qwen3-8B"); /* the Qwen3 table is [36, 8] */
    int32_t an[8], n;
    char model[64];
    assert_int_equal(ksa_calib_anchors_from_filename("/x/y/M_layers_0_4.npy", an, 8, &n, model, sizeof model), KSA_STATUS_SUCCESS);
    assert_int_equal(n, 2);
    assert_int_equal(an[1], 4);
    assert_string_equal(model, "M");
    assert_int_equal(ksa_calib_anchors_from_filename("plain.npy", an, 8, &n, NULL, 0), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_anchors_from_filename("M_layers_.npy", an, 8, &n, NULL, 0), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_anchors_from_filename("M_layers_0_x.npy", an, 8, &n, NULL, 0), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_anchors_from_filename("M_layers_0_1_2.npy", an, 2, &n, NULL, 0), KSA_STATUS_INVALID_ARGUMENT);
}

/* ---------------------------------------------------------------- schedule file */
static const char *good_text = "# a comment\n"
                               "ksa-schedule 1\n"
                               "model Tiny Model 1B\n"
                               "num_layers 4\n"
                               "num_kv_heads 2\n"
                               "anchors 0 2\n"
                               "\n"
                               "map 0 0 1\n"
                               "map 1 1 1   # trailing blanks are fine\n"
                               "map 2 0 1\n"
                               "map 3 0 0\n"
                               "end\n";

static void test_schedule_parse(void **state)
{
    (void)state;
    ksa_calib_plan plan;
    char text[1024];
    snprintf(text, sizeof text, "%s", good_text);
    assert_int_equal(ksa_calib_plan_parse(text, strlen(text), &plan), KSA_STATUS_SUCCESS);
    assert_string_equal(plan.model, "Tiny Model 1B");
    assert_int_equal(plan.num_shards, 1); /* no num_shards line: one shard */
    assert_int_equal(plan.num_layers, 4);
    assert_int_equal(plan.num_anchors, 2);
    assert_int_equal(plan.anchors[1], 2);
    assert_int_equal(plan.head_maps[1 * 2 + 0], 1);
    assert_int_equal(plan.head_maps[3 * 2 + 1], 0);
    ksa_calib_plan_free(&plan);

    struct {
        const char *from, *to, *needle;
    } edits[] = {
        {"ksa-schedule 1", "ksa-schedule 2", "version 2"},
        {"ksa-schedule 1", "kascade 1", "first line"},
        {"num_layers 4", "num_layers 0", "num_layers"},
        {"num_layers 4", "num_layers 99999999999", "num_layers"},
        {"num_kv_heads 2", "num_kv_heads 300", "num_kv_heads"},
        {"anchors 0 2", "anchors 1 2", "layer 0 must be an anchor"},
        {"anchors 0 2", "anchors 0 2 2", "strictly increasing"},
        {"anchors 0 2", "anchors 0 7", "anchor 1"},
        {"anchors 0 2", "anchors", "no layer"},
        {"map 2 0 1", "map 2 1 0", "not the identity"},
        {"map 3 0 0", "map 3 0 2", "map of layer 3"},
        {"map 3 0 0", "map 3 0", "map of layer 3"},
        {"map 3 0 0", "map 3 0 0 0", "more than"},
        {"map 3 0 0", "map 2 0 0", "expected"},
        {"map 3 0 0\n", "", "3 of 4"},
        {"end\n", "", "without an 'end'"},
        {"end\n", "end\nmap 4 0 0\n", "after 'end'"},
        {"end\n", "end now\n", "'end'"},
        {"model Tiny Model 1B", "flavour vanilla", "unknown keyword 'flavour'"},
        {"num_kv_heads 2\n", "", "must come before"},
        {"num_layers 4\n", "num_layers 4\nnum_layers 4\n", "twice"},
        {"map 0 0 1", "map 0 0 x", "map of layer 0"},
        {"map 0 0 1", "map 0 0 -1", "map of layer 0"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char src[1024], out[1024];
        snprintf(src, sizeof src, "%s", text);
        char *at = strstr(src, edits[i].from);
        assert_non_null(at);
        size_t pre = (size_t)(at - src);
        snprintf(out, sizeof out, "%.*s%s%s", (int)pre, src, edits[i].to, at + strlen(edits[i].from));
        ksa_status st = ksa_calib_plan_parse(out, strlen(out), &plan);
        if (st != KSA_STATUS_INVALID_FILE || !strstr(ksa_last_error(), edits[i].needle))
            print_error("edit %zu: status %d, sentence '%s'\n", i, (int)st, ksa_last_error());
        assert_int_equal(st, KSA_STATUS_INVALID_FILE);
        assert_non_null(strstr(ksa_last_error(), edits[i].needle));
        assert_null(plan.head_maps);
    }
    assert_int_equal(ksa_calib_plan_parse("", 0, &plan), KSA_STATUS_INVALID_FILE);
    assert_int_equal(ksa_calib_plan_parse("ksa-schedule 1\0 junk", 20, &plan), KSA_STATUS_INVALID_FILE);
    assert_int_equal(ksa_calib_plan_load("/nonexistent/plan.ksched", &plan), KSA_STATUS_IO_ERROR);
    /* file errors name the file */
    char path[512];
    FILE *f = fopen(tmp_path("bad.ksched", path, sizeof path), "w");
    fputs("ksa-schedule 1\nnum_layers 2\n", f);
    fclose(f);
    assert_int_equal(ksa_calib_plan_load(path, &plan), KSA_STATUS_INVALID_FILE);
    assert_non_null(strstr(ksa_last_error(), "bad.ksched"));

    /* random mutations of a valid file: a status and a sentence, never a crash */
    uint64_t rng = 8;
    size_t len0 = strlen(text);
    char *m = malloc(len0 + 1);
    int accepted = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(m, text, len0 + 1);
        size_t len = len0;
        for (int e = 0; e < 3; e++) {
            uint64_t r = ktest_rand_u64(&rng);
            size_t where = (size_t)(r >> 8) % len0;
            if (r % 3 == 0) m[where] = "0123456789 -\n#abemx"[(r >> 32) % 19];
            else if (r % 3 == 1) m[where] = (char)(r >> 40);
            else len = (size_t)(r >> 16) % (len0 + 1);
        }
        ksa_status st = ksa_calib_plan_parse(m, len, &plan);
        assert_true(st == KSA_STATUS_SUCCESS || st == KSA_STATUS_INVALID_FILE);
        if (st == KSA_STATUS_SUCCESS) {
            accepted++;
            assert_int_equal(ksa_calib_plan_validate(&plan), KSA_STATUS_SUCCESS);
            ksa_calib_plan_free(&plan);
        } else {
            assert_true(strlen(ksa_last_error()) > 10);
        }
    }
    print_message("schedule fuzz: %d of 3000 accepted\n", accepted);
    free(m);
}

static void test_plan_validate(void **state)
{
    (void)state;
    ksa_calib_plan p;
    assert_int_equal(ksa_calib_plan_init(&p, 6, 3, 2), KSA_STATUS_SUCCESS);
    p.anchors[1] = 3;
    assert_int_equal(ksa_calib_plan_validate(&p), KSA_STATUS_SUCCESS);
    p.head_maps[4 * 3 + 2] = 3;
    assert_int_equal(ksa_calib_plan_validate(&p), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "layer 4, KV head 2"));
    p.head_maps[4 * 3 + 2] = 0;
    p.head_maps[3 * 3 + 1] = 0;
    assert_int_equal(ksa_calib_plan_validate(&p), KSA_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(ksa_last_error(), "layer 3 is an anchor"));
    p.head_maps[3 * 3 + 1] = 1;
    p.anchors[1] = 0;
    assert_int_equal(ksa_calib_plan_validate(&p), KSA_STATUS_INVALID_ARGUMENT);
    snprintf(p.model, sizeof p.model, "two\nlines");
    p.anchors[1] = 3;
    char path[512];
    assert_int_equal(ksa_calib_plan_save(&p, tmp_path("x.ksched", path, sizeof path)), KSA_STATUS_INVALID_ARGUMENT);
    ksa_calib_plan_free(&p);
    assert_int_equal(ksa_calib_plan_init(&p, 4, 0, 1), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_plan_init(&p, 4, 2, 5), KSA_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ksa_calib_plan_validate(NULL), KSA_STATUS_INVALID_ARGUMENT);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/ksa_calib_files_XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"rt.npy", "hm.npy", "plan.ksched", "back.npy", "bad.ksched", "x.ksched"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) remove(tmp_path(names[i], path, sizeof path));
    rmdir(tmp_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_round_trip),  cmocka_unit_test(test_npy_v2_and_variants), cmocka_unit_test(test_npy_malformed),
        cmocka_unit_test(test_npy_fuzz),        cmocka_unit_test(test_shipped_tables),      cmocka_unit_test(test_schedule_parse),
        cmocka_unit_test(test_plan_validate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
