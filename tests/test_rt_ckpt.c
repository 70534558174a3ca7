/* test_rt_ckpt.c: safetensors checkpoints.
 *
 * Round trip; the exact bytes of a tiny file (header parsed here with
 * plain string functions, data as little-endian bytes); a file written by
 * hand in another key order, with escapes and extra metadata; every
 * rejection (other model, other shape, missing tensor, dtype, truncated
 * data, garbage) leaves the model untouched; PATH.tmp never survives.
 */
#include "nnrt.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ASSERT_HAS(s, sub) ck_assert_msg(strstr((s), (sub)) != NULL, "'%s' lacks '%s'", (s), (sub))

static char tmpdir[64];
static char ckpt[128], tmp_path[160];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/nnrt_ckpt_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(ckpt, sizeof ckpt, "%s/m.safetensors", tmpdir);
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", ckpt);
}

static void teardown(void)
{
    unlink(ckpt);
    rmdir(ckpt); /* one test makes it a directory */
    unlink(tmp_path);
    rmdir(tmpdir);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len + 1);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    b[*len] = 0;
    return b;
}

static void spit(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* A small model: W1 [2,3], b1 [3], and their momentum state. */
static float W1[6], b1[3], vW1[6], vb1[3];
static NnrtTensor params[2] = {
    { "W1", W1, NULL, 2, { 2, 3 }, 6 },
    { "b1", b1, NULL, 1, { 3 }, 3 },
};
static NnrtTensor state[2] = {
    { "opt.W1.v", vW1, NULL, 2, { 2, 3 }, 6 },
    { "opt.b1.v", vb1, NULL, 1, { 3 }, 3 },
};

static void fill_model(float base)
{
    for (int i = 0; i < 6; i++) {
        W1[i] = base + (float)i * 0.25f;
        vW1[i] = -base - (float)i;
    }
    for (int i = 0; i < 3; i++) {
        b1[i] = base * 3.0f + (float)i;
        vb1[i] = 1e-20f * (float)(i + 1);
    }
}

/* The model's floats, for comparing before and after. */
static void snapshot(float out[18])
{
    memcpy(out, W1, sizeof W1);
    memcpy(out + 6, b1, sizeof b1);
    memcpy(out + 9, vW1, sizeof vW1);
    memcpy(out + 15, vb1, sizeof vb1);
}

static void save_model(const char *model, long epoch, long step)
{
    char err[256];
    ck_assert_msg(nnrt_ckpt_save(ckpt, model, epoch, step, params, 2, state, 2, err, sizeof err) == 0,
                  "%s", err);
}

START_TEST(test_round_trip)
{
    float before[18], after[18];
    fill_model(1.5f);
    snapshot(before);
    save_model("twolayer", 3, 30);
    ck_assert(exists(ckpt));
    ck_assert(!exists(tmp_path));
    fill_model(-7.0f);
    long epoch = -1, step = -1;
    char err[256];
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, "twolayer", &epoch, &step, params, 2, state, 2, err, sizeof err), 0);
    snapshot(after);
    ck_assert_mem_eq(before, after, sizeof before);
    ck_assert_int_eq(epoch, 3);
    ck_assert_int_eq(step, 30);
}
END_TEST

START_TEST(test_tiny_file_bytes)
{
    float w[2] = { 1.0f, -2.5f };
    NnrtTensor t[1] = { { "w", w, NULL, 1, { 2 }, 2 } };
    char err[256];
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "tiny", 3, 30, t, 1, NULL, 0, err, sizeof err), 0);
    size_t len;
    unsigned char *b = slurp(ckpt, &len);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--)
        h = h << 8 | b[i];
    ck_assert_uint_eq(h % 8, 0);
    ck_assert_uint_eq(len, 8 + h + 8);
    const char *want = "{\"__metadata__\":{\"model\":\"tiny\",\"epoch\":\"3\",\"step\":\"30\"},"
                       "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t wl = strlen(want);
    ck_assert_uint_ge(h, wl);
    ck_assert_int_eq(memcmp(b + 8, want, wl), 0);
    for (size_t i = 8 + wl; i < 8 + h; i++)
        ck_assert_int_eq(b[i], ' ');
    /* the same facts found with plain string functions */
    char *hdr = (char *)b + 8;
    hdr[h] = '\0'; /* clobbers the first data byte, checked below from a copy */
    const char *w_entry = strstr(hdr, "\"w\":{");
    ck_assert_ptr_nonnull(w_entry);
    unsigned shape = 0, o0 = 9, o1 = 9;
    ck_assert_int_eq(sscanf(strstr(w_entry, "\"shape\":["), "\"shape\":[%u]", &shape), 1);
    ck_assert_int_eq(sscanf(strstr(w_entry, "\"data_offsets\":["), "\"data_offsets\":[%u,%u]", &o0, &o1), 2);
    ck_assert_uint_eq(shape, 2);
    ck_assert_uint_eq(o0, 0);
    ck_assert_uint_eq(o1, 8);
    free(b);
    b = slurp(ckpt, &len);
    /* 1.0f = 0x3F800000, -2.5f = 0xC0200000, little-endian */
    static const unsigned char data[8] = { 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0 };
    ck_assert_mem_eq(b + 8 + h, data, 8);
    free(b);
}
END_TEST

/* A file written by hand: other key order, spaces, an escaped name,
 * extra metadata, a scalar. */
START_TEST(test_hand_written_file)
{
    const char *hdr = "{ \"h\\u002eW\" : {\"shape\":[1,2], \"dtype\":\"F32\", \"data_offsets\":[4,12]},\n"
                      "  \"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                      "  \"__metadata__\":{\"format\":\"pt\",\"model\":\"m\\\"q\",\"step\":\"7\"}}";
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    unsigned char buf[512];
    memset(buf, ' ', sizeof buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    static const unsigned char data[12] = { 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40 };
    memcpy(buf + 8 + padded, data, 12);
    spit(ckpt, buf, 8 + padded + 12);
    float hw[2] = { 0, 0 }, s = 0;
    NnrtTensor t[2] = { { "h.W", hw, NULL, 2, { 1, 2 }, 2 }, { "s", &s, NULL, 0, { 0 }, 1 } };
    long epoch = -1, step = -1;
    char err[256];
    ck_assert_msg(nnrt_ckpt_load(ckpt, "m\"q", &epoch, &step, t, 2, NULL, 0, err, sizeof err) == 0, "%s", err);
    ck_assert(s == 1.0f && hw[0] == 2.0f && hw[1] == 3.0f);
    ck_assert_int_eq(epoch, 0);
    ck_assert_int_eq(step, 7);
}
END_TEST

/* Loads ckpt as model into the model; expects failure with nothing changed. */
static const char *load_fails(const char *model)
{
    static char err[512];
    float before[18], after[18];
    fill_model(42.0f);
    snapshot(before);
    long epoch = -5, step = -5;
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, model, &epoch, &step, params, 2, state, 2, err, sizeof err), -1);
    snapshot(after);
    ck_assert_mem_eq(before, after, sizeof before);
    ck_assert_int_eq(epoch, -5);
    ck_assert_int_eq(step, -5);
    return err;
}

START_TEST(test_wrong_model_rejected)
{
    fill_model(1.0f);
    save_model("xor", 1, 1);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, ckpt);
    ASSERT_HAS(e, "was written by model 'xor', not 'twolayer'");
}
END_TEST

START_TEST(test_wrong_shape_rejected)
{
    float big[30] = { 0 }, bb[3] = { 0 };
    NnrtTensor other[2] = { { "W1", big, NULL, 2, { 3, 10 }, 30 }, { "b1", bb, NULL, 1, { 3 }, 3 } };
    char err[256];
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "twolayer", 1, 1, other, 2, state, 2, err, sizeof err), 0);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, "checkpoint ");
    ASSERT_HAS(e, ckpt);
    ASSERT_HAS(e, ": W1 has shape [3,10], the model wants [2,3]");
}
END_TEST

START_TEST(test_late_error_changes_nothing)
{
    /* W1 and b1 fit, the state does not: W1 must not be half-loaded */
    float v[5] = { 0 };
    NnrtTensor st[2] = { { "opt.W1.v", vW1, NULL, 2, { 2, 3 }, 6 }, { "opt.b1.v", v, NULL, 1, { 5 }, 5 } };
    char err[256];
    fill_model(9.0f);
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "twolayer", 1, 1, params, 2, st, 2, err, sizeof err), 0);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, "opt.b1.v has shape [5], the model wants [3]");
}
END_TEST

START_TEST(test_missing_tensor_and_extra_ignored)
{
    char err[256];
    fill_model(2.0f);
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "twolayer", 1, 1, params, 2, NULL, 0, err, sizeof err), 0);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, "has no tensor 'opt.W1.v'");
    /* a file with more tensors than the model loads the ones it has */
    fill_model(2.0f);
    save_model("twolayer", 2, 4);
    fill_model(0.0f);
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, "twolayer", NULL, NULL, params, 2, NULL, 0, err, sizeof err), 0);
    ck_assert(W1[1] == 2.25f);
}
END_TEST

START_TEST(test_corrupt_files_rejected)
{
    size_t len;
    fill_model(1.0f);
    save_model("twolayer", 1, 1);
    unsigned char *b = slurp(ckpt, &len);
    spit(ckpt, b, len - 4); /* data cut short */
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, "opt.b1.v has data_offsets [60,72]");
    spit(ckpt, b, 5);
    e = load_fails("twolayer");
    ASSERT_HAS(e, "too short to be a safetensors file");
    unsigned char bad[16] = { 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, '{', '}' };
    spit(ckpt, bad, sizeof bad);
    e = load_fails("twolayer");
    ASSERT_HAS(e, "header length 4294967295 does not fit");
    char *model = strstr((char *)b + 8, "\"model\"");
    model[5] = '1'; /* "mode1": still JSON, but no model name */
    spit(ckpt, b, len);
    e = load_fails("twolayer");
    ASSERT_HAS(e, "has no model name");
    model[5] = 'l';
    b[8 + 1] = ':'; /* breaks the JSON */
    spit(ckpt, b, len);
    e = load_fails("twolayer");
    ASSERT_HAS(e, "bad JSON header near byte 9");
    free(b);
    e = load_fails("twolayer"); /* still the broken file */
    unlink(ckpt);
    e = load_fails("twolayer");
    ASSERT_HAS(e, "cannot open checkpoint");
    ASSERT_HAS(e, "No such file");
}
END_TEST

START_TEST(test_wrong_dtype_rejected)
{
    size_t len;
    fill_model(1.0f);
    save_model("twolayer", 1, 1);
    unsigned char *b = slurp(ckpt, &len);
    char *f32 = strstr((char *)b + 8, "F32");
    f32[1] = '1';
    f32[2] = '6';
    spit(ckpt, b, len);
    free(b);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, "W1 has dtype F16, the model wants F32");
}
END_TEST

START_TEST(test_tmp_and_rename)
{
    char err[256];
    fill_model(1.0f);
    save_model("twolayer", 1, 1);
    fill_model(2.0f);
    save_model("twolayer", 2, 2); /* replaces the old file */
    ck_assert(!exists(tmp_path));
    fill_model(0.0f);
    long epoch;
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, "twolayer", &epoch, NULL, params, 2, state, 2, err, sizeof err), 0);
    ck_assert_int_eq(epoch, 2);
    ck_assert(W1[0] == 2.0f);
    /* rename onto a directory fails: an error naming the file, no .tmp left */
    unlink(ckpt);
    ck_assert_int_eq(mkdir(ckpt, 0700), 0);
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "twolayer", 1, 1, params, 2, state, 2, err, sizeof err), -1);
    ASSERT_HAS(err, "cannot write checkpoint ");
    ASSERT_HAS(err, ckpt);
    ck_assert(!exists(tmp_path));
    /* an unwritable place */
    ck_assert_int_eq(nnrt_ckpt_save("/nonexistent/dir/x.safetensors", "m", 0, 0, params, 2, NULL, 0,
                                    err, sizeof err), -1);
    ASSERT_HAS(err, "/nonexistent/dir/x.safetensors.tmp");
}
END_TEST

START_TEST(test_bad_tensors_refused_on_save)
{
    char err[256];
    float x[2];
    NnrtTensor t[2] = { { "a", x, NULL, 1, { 2 }, 3 }, { "b", x, NULL, 1, { 2 }, 2 } };
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "m", 0, 0, t, 1, NULL, 0, err, sizeof err), -1);
    ASSERT_HAS(err, "shape and numel 3 disagree");
    t[0].numel = 2;
    t[1].name = "a";
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "m", 0, 0, t, 2, NULL, 0, err, sizeof err), -1);
    ASSERT_HAS(err, "two tensors are named 'a'");
    ck_assert(!exists(ckpt));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_ckpt");
    TCase *tc = tcase_create("safetensors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_tiny_file_bytes);
    tcase_add_test(tc, test_hand_written_file);
    tcase_add_test(tc, test_wrong_model_rejected);
    tcase_add_test(tc, test_wrong_shape_rejected);
    tcase_add_test(tc, test_late_error_changes_nothing);
    tcase_add_test(tc, test_missing_tensor_and_extra_ignored);
    tcase_add_test(tc, test_corrupt_files_rejected);
    tcase_add_test(tc, test_wrong_dtype_rejected);
    tcase_add_test(tc, test_tmp_and_rename);
    tcase_add_test(tc, test_bad_tensors_refused_on_save);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
