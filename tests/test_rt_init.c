/* test_rt_init.c: params from any safetensors file (nnrt_ckpt_load_params,
 * --init-from).
 *
 * Files written here byte by byte (a header and raw little-endian data):
 * no __metadata__ and names a PyTorch model's buffers would have; another
 * model's checkpoint with its optimizer state (params loaded, state left
 * alone, the extras named in the note); F64, F16 and BF16 converted to
 * f32 (subnormals, infinities); every refusal (a missing param, another
 * shape with the transpose hinted, an integer dtype, an F64 past f32's
 * range, a malformed file) leaves the params as they were; more than 10
 * extra tensors are counted, not all named.
 */
#include "nnrt.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ASSERT_HAS(s, sub) ck_assert_msg(strstr((s), (sub)) != NULL, "'%s' lacks '%s'", (s), (sub))
#define ASSERT_LACKS(s, sub) ck_assert_msg(strstr((s), (sub)) == NULL, "'%s' has '%s'", (s), (sub))

static char tmpdir[64], path[128];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/nnrt_init_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(path, sizeof path, "%s/p.safetensors", tmpdir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(tmpdir);
}

/* The model: W1 [2,3], b1 [3]; optimizer state beside them. */
static float W1[6], b1[3], vW1[6], vb1[3];
static NnrtTensor params[2] = {
    { "W1", W1, NULL, 2, { 2, 3 }, 6 },
    { "b1", b1, NULL, 1, { 3 }, 3 },
};
static NnrtTensor state[2] = {
    { "opt.W1.v", vW1, NULL, 2, { 2, 3 }, 6 },
    { "opt.b1.v", vb1, NULL, 1, { 3 }, 3 },
};

static void fill(float v)
{
    for (int i = 0; i < 6; i++)
        W1[i] = vW1[i] = v;
    for (int i = 0; i < 3; i++)
        b1[i] = vb1[i] = v;
}

/* path = u64 length | json padded with spaces to a multiple of 8 | data */
static void st_raw(const char *json, const void *data, size_t data_len)
{
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(len, 1, 8, f), 8);
    ck_assert_uint_eq(fwrite(json, 1, jl, f), jl);
    for (size_t i = jl; i < padded; i++)
        fputc(' ', f);
    if (data_len)
        ck_assert_uint_eq(fwrite(data, 1, data_len, f), data_len);
    ck_assert_int_eq(fclose(f), 0);
}

/* n floats 1, 2, 3, ... as little-endian bytes into b (the host is LE) */
static void counting(float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (float)(i + 1);
}

#define ENTRY(name, dtype, shape, b, e) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

/* Expects the load to fail with the params and state as they were. */
static const char *load_fails(void)
{
    static char err[512];
    char note[256] = "unchanged";
    fill(7.0f);
    ck_assert_int_eq(nnrt_ckpt_load_params(path, params, 2, note, sizeof note, err, sizeof err), -1);
    for (int i = 0; i < 6; i++)
        ck_assert(W1[i] == 7.0f && vW1[i] == 7.0f);
    for (int i = 0; i < 3; i++)
        ck_assert(b1[i] == 7.0f);
    ck_assert_msg(!strchr(err, '\n'), "two lines: %s", err);
    ASSERT_HAS(err, path);
    return err;
}

/* As safetensors.torch.save_file writes a PyTorch model's state_dict: no
 * __metadata__, tensors by name, a buffer the model has no param for. */
START_TEST(test_no_metadata_loads)
{
    float data[12];
    counting(data, 12);
    st_raw("{" ENTRY("W1", "F32", "[2,3]", 0, 24) "," ENTRY("b1", "F32", "[3]", 24, 36) ","
           ENTRY("bn.running_mean", "F32", "[3]", 36, 48) "}", data, sizeof data);
    char note[256], err[256];
    fill(0.0f);
    ck_assert_msg(nnrt_ckpt_load_params(path, params, 2, note, sizeof note, err, sizeof err) == 0,
                  "%s", err);
    for (int i = 0; i < 6; i++)
        ck_assert(W1[i] == (float)(i + 1));
    ck_assert(b1[0] == 7.0f && b1[2] == 9.0f);
    ck_assert(vW1[0] == 0.0f);
    ASSERT_HAS(note, path);
    ASSERT_HAS(note, "1 tensor is not a param of the model, not loaded: bn.running_mean [3]");
}
END_TEST

/* Another model's checkpoint: model name, epoch and step are not asked
 * about; its optimizer state is named in the note and not loaded. */
START_TEST(test_other_models_checkpoint_loads)
{
    char err[256], note[256];
    fill(2.5f);
    ck_assert_int_eq(nnrt_ckpt_save(path, "some_other_model", 40, 400, NULL, params, 2, state, 2, err,
                                    sizeof err), 0);
    fill(0.0f);
    ck_assert_msg(nnrt_ckpt_load_params(path, params, 2, note, sizeof note, err, sizeof err) == 0,
                  "%s", err);
    ck_assert(W1[5] == 2.5f && b1[1] == 2.5f);
    ck_assert(vW1[0] == 0.0f && vb1[0] == 0.0f);
    ASSERT_HAS(note, "2 tensors are not params of the model, not loaded: opt.W1.v [2,3], opt.b1.v [3]");
    /* exactly the params: no note */
    ck_assert_int_eq(nnrt_ckpt_save(path, "m", 0, 0, NULL, params, 2, NULL, 0, err, sizeof err), 0);
    ck_assert_int_eq(nnrt_ckpt_load_params(path, params, 2, note, sizeof note, err, sizeof err), 0);
    ck_assert_str_eq(note, "");
    ck_assert_int_eq(nnrt_ckpt_load_params(path, params, 2, NULL, 0, err, sizeof err), 0);
}
END_TEST

/* F64, F16 and BF16 become f32, laid out as the reference writer orders
 * them (F64, then F32, then BF16 and F16). */
START_TEST(test_float_dtypes_converted)
{
    unsigned char data[48 + 6 + 6];
    double w[6] = { 0.1, -1.5, 1e-40, 3.0e38, -0.0, 65504.0 };
    memcpy(data, w, sizeof w);
    /* BF16 (unused by the model) then F16 for b1: 1.5, 2^-24 (the least
     * subnormal), -inf */
    uint16_t bf[3] = { 0x3FC0, 0x0000, 0xC000 }, h[3] = { 0x3E00, 0x0001, 0xFC00 };
    memcpy(data + 48, bf, sizeof bf);
    memcpy(data + 54, h, sizeof h);
    st_raw("{" ENTRY("W1", "F64", "[2,3]", 0, 48) "," ENTRY("x", "BF16", "[3]", 48, 54) ","
           ENTRY("b1", "F16", "[3]", 54, 60) "}", data, sizeof data);
    char note[256], err[256];
    ck_assert_msg(nnrt_ckpt_load_params(path, params, 2, note, sizeof note, err, sizeof err) == 0,
                  "%s", err);
    for (int i = 0; i < 6; i++)
        ck_assert_msg(W1[i] == (float)w[i], "W1[%d] = %g, want %g", i, (double)W1[i], w[i]);
    ck_assert(b1[0] == 1.5f && b1[1] == 5.9604644775390625e-8f && isinf(b1[2]) && b1[2] < 0);
    ASSERT_HAS(note, "x [3]");
    /* BF16 for b1: its bits are an f32's top half */
    st_raw("{" ENTRY("W1", "F64", "[2,3]", 0, 48) "," ENTRY("b1", "BF16", "[3]", 48, 54) "}", data, 54);
    ck_assert_msg(nnrt_ckpt_load_params(path, params, 2, note, sizeof note, err, sizeof err) == 0,
                  "%s", err);
    ck_assert(b1[0] == 1.5f && b1[1] == 0.0f && b1[2] == -2.0f);
}
END_TEST

START_TEST(test_f64_out_of_range_refused)
{
    double w[6] = { 0, 0, 0, 0, 1e300, 0 };
    float b[3] = { 0 };
    unsigned char data[60];
    memcpy(data, w, 48);
    memcpy(data + 48, b, 12);
    st_raw("{" ENTRY("W1", "F64", "[2,3]", 0, 48) "," ENTRY("b1", "F32", "[3]", 48, 60) "}", data, 60);
    ASSERT_HAS(load_fails(), "tensor 'W1': element 4, an F64 value, is outside f32's range");
}
END_TEST

START_TEST(test_missing_param_refused)
{
    float data[12];
    counting(data, 12);
    st_raw("{" ENTRY("W1", "F32", "[2,3]", 0, 24) "," ENTRY("fc.bias", "F32", "[3]", 24, 36) ","
           ENTRY("fc.x", "F32", "[3]", 36, 48) "}", data, sizeof data);
    const char *e = load_fails();
    ASSERT_HAS(e, "has no tensor 'b1' for the model's param b1 [3] (the file's other tensors: "
               "fc.bias [3], fc.x [3]); tensors are matched to params by name");
}
END_TEST

START_TEST(test_other_shape_refused)
{
    float data[9];
    counting(data, 9);
    st_raw("{" ENTRY("W1", "F32", "[3,2]", 0, 24) "," ENTRY("b1", "F32", "[3]", 24, 36) "}", data,
           sizeof data);
    const char *e = load_fails();
    ASSERT_HAS(e, "tensor 'W1' has shape [3,2], the model's param W1 is [2,3] (its transpose: "
               "a PyTorch nn.Linear weight is [out, in]");
    st_raw("{" ENTRY("W1", "F32", "[6]", 0, 24) "," ENTRY("b1", "F32", "[3]", 24, 36) "}", data,
           sizeof data);
    e = load_fails();
    ASSERT_HAS(e, "tensor 'W1' has shape [6], the model's param W1 is [2,3]");
    ASSERT_LACKS(e, "transpose");
}
END_TEST

START_TEST(test_integer_dtype_refused)
{
    float data[9];
    counting(data, 9);
    st_raw("{" ENTRY("W1", "I32", "[2,3]", 0, 24) "," ENTRY("b1", "F32", "[3]", 24, 36) "}", data,
           sizeof data);
    ASSERT_HAS(load_fails(), "tensor 'W1' is I32; the param W1 needs floats (F32, or F64, F16, "
               "BF16, which are converted)");
}
END_TEST

/* The format is checked whole, as for --load: here bytes after the last
 * tensor, and a gap. */
START_TEST(test_malformed_file_refused)
{
    float data[10];
    counting(data, 10);
    st_raw("{" ENTRY("W1", "F32", "[2,3]", 0, 24) "," ENTRY("b1", "F32", "[3]", 24, 36) "}", data,
           40);
    ASSERT_HAS(load_fails(), "4 bytes after the last tensor unread");
    st_raw("{" ENTRY("W1", "F32", "[2,3]", 0, 24) "," ENTRY("b1", "F32", "[3]", 28, 40) "}", data,
           40);
    ASSERT_HAS(load_fails(), "unused");
}
END_TEST

/* 15 tensors besides the params: the note names 10 and counts the rest. */
START_TEST(test_many_extras_counted)
{
    char json[4096] = "{" ENTRY("W1", "F32", "[2,3]", 0, 24) "," ENTRY("b1", "F32", "[3]", 24, 36);
    float data[9 + 15];
    counting(data, 24);
    for (int i = 0; i < 15; i++) {
        size_t u = strlen(json);
        snprintf(json + u, sizeof json - u, ",\"extra%02d\":{\"dtype\":\"F32\",\"shape\":[1],"
                 "\"data_offsets\":[%d,%d]}", i, 36 + 4 * i, 40 + 4 * i);
    }
    strcat(json, "}");
    st_raw(json, data, sizeof data);
    char note[1024], err[256];
    ck_assert_msg(nnrt_ckpt_load_params(path, params, 2, note, sizeof note, err, sizeof err) == 0,
                  "%s", err);
    ASSERT_HAS(note, "15 tensors are not params of the model, not loaded: extra00 [1], extra01 [1]");
    ASSERT_HAS(note, "extra09 [1] and 5 more");
    ASSERT_LACKS(note, "extra10");
    ck_assert(!strchr(note, '\n'));
}
END_TEST

/* nnrt_init_from: the note as one warning line; the optimizer untouched. */
START_TEST(test_init_from_warns)
{
    char err[256], buf[1024] = "";
    fill(1.25f);
    ck_assert_int_eq(nnrt_ckpt_save(path, "m", 3, 30, NULL, params, 2, state, 2, err, sizeof err), 0);
    fill(0.0f);
    NnrtModel m;
    memset(&m, 0, sizeof m);
    m.name = "m";
    m.params = params;
    m.n_params = 2;
    m.state = state;
    m.n_state = 2;
    FILE *warn = fmemopen(buf, sizeof buf, "w");
    ck_assert_ptr_nonnull(warn);
    ck_assert_msg(nnrt_init_from(&m, path, warn, err, sizeof err) == 0, "%s", err);
    fclose(warn);
    ck_assert(W1[0] == 1.25f && vW1[0] == 0.0f);
    ck_assert_msg(strncmp(buf, "nnrt: warning: checkpoint ", 26) == 0, "%s", buf);
    ASSERT_HAS(buf, "opt.W1.v [2,3], opt.b1.v [3]\n");
    ck_assert_ptr_eq(strchr(buf, '\n'), buf + strlen(buf) - 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_init");
    TCase *tc = tcase_create("init_from");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_no_metadata_loads);
    tcase_add_test(tc, test_other_models_checkpoint_loads);
    tcase_add_test(tc, test_float_dtypes_converted);
    tcase_add_test(tc, test_f64_out_of_range_refused);
    tcase_add_test(tc, test_missing_param_refused);
    tcase_add_test(tc, test_other_shape_refused);
    tcase_add_test(tc, test_integer_dtype_refused);
    tcase_add_test(tc, test_malformed_file_refused);
    tcase_add_test(tc, test_many_extras_counted);
    tcase_add_test(tc, test_init_from_warns);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
