/* test_rt_ckpt.c: safetensors checkpoints.
 *
 * Round trip; the exact bytes of a tiny file (header parsed here with
 * plain string functions, data as little-endian bytes); a file written by
 * hand in another key order, with escapes and extra metadata; every
 * rejection (other model, other shape, missing tensor, dtype, truncated
 * data, garbage) leaves the model untouched; PATH.tmp never survives.
 * Files made by hand (st_file), each one defect away from a good one: a
 * header length a byte short, overlapping, gapped or misaligned offsets,
 * bytes after the last tensor, a name or __metadata__ twice, and a table
 * of malformed headers, each refused with its message; a file laid out as
 * the reference library writes it loads.  The metadata prediction needs
 * (scale, normalize and its figures, class names): bit-exact round trips
 * of extreme floats and of names with commas, quotes and UTF-8; a file
 * without it loads; a table of hostile values (NaN or zero std, counts
 * other than in_dim, hex, keys that do not go with the mode, names that
 * are not a JSON array, repeated or too many) each refused naming the key.
 */
#include "nnrt.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
    ck_assert_msg(nnrt_ckpt_save(ckpt, model, epoch, step, NULL, params, 2, state, 2, err, sizeof err) == 0,
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
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, "twolayer", &epoch, &step, NULL, params, 2, state, 2, err, sizeof err), 0);
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
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "tiny", 3, 30, NULL, t, 1, NULL, 0, err, sizeof err), 0);
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
    ck_assert_msg(nnrt_ckpt_load(ckpt, "m\"q", &epoch, &step, NULL, t, 2, NULL, 0, err, sizeof err) == 0, "%s", err);
    ck_assert(s == 1.0f && hw[0] == 2.0f && hw[1] == 3.0f);
    ck_assert_int_eq(epoch, 0);
    ck_assert_int_eq(step, 7);
}
END_TEST

/* Loads ckpt as model into the model; expects failure with nothing changed. */
/* A mid-epoch position: "batch" is written only when > 0 and comes back;
 * a file without it loads as batch 0; a malformed one is refused. */
START_TEST(test_position_round_trip)
{
    char err[256];
    long epoch = -1, step = -1;
    fill_model(2.0f);
    NnrtCkptMeta meta, got;
    memset(&meta, 0, sizeof meta);
    meta.batch = 7;
    ck_assert_msg(nnrt_ckpt_save(ckpt, "twolayer", 4, 47, &meta, params, 2, state, 2, err, sizeof err) == 0,
                  "%s", err);
    size_t len;
    unsigned char *b = slurp(ckpt, &len);
    ASSERT_HAS((const char *)b + 8, "\"epoch\":\"4\",\"step\":\"47\",\"batch\":\"7\"}");
    free(b);
    memset(&got, 0, sizeof got);
    got.in_dim = 2;
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, "twolayer", &epoch, &step, &got, params, 2, state, 2, err, sizeof err), 0);
    ck_assert_int_eq(epoch, 4);
    ck_assert_int_eq(step, 47);
    ck_assert_int_eq(got.batch, 7);
    nnrt_ckpt_meta_free(&got);
    save_model("twolayer", 5, 50);
    b = slurp(ckpt, &len);
    ck_assert_ptr_null(strstr((const char *)b + 8, "batch"));
    free(b);
    memset(&got, 0, sizeof got);
    got.in_dim = 2;
    got.batch = 99;
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, "twolayer", &epoch, &step, &got, params, 2, state, 2, err, sizeof err), 0);
    ck_assert_int_eq(got.batch, 0);
    ck_assert_int_eq(epoch, 5);
    nnrt_ckpt_meta_free(&got);
}
END_TEST

static const char *load_fails(const char *model)
{
    static char err[512];
    float before[18], after[18];
    fill_model(42.0f);
    snapshot(before);
    long epoch = -5, step = -5;
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, model, &epoch, &step, NULL, params, 2, state, 2, err, sizeof err), -1);
    snapshot(after);
    ck_assert_mem_eq(before, after, sizeof before);
    ck_assert_int_eq(epoch, -5);
    ck_assert_int_eq(step, -5);
    return err;
}

/* ---- files written by hand, one defect each ---------------------------------------- */

/* The model's metadata and a tensor entry, as the writer spells them. */
#define META "\"__metadata__\":{\"model\":\"twolayer\",\"epoch\":\"1\",\"step\":\"1\"}"
#define F32(name, shape, b, e) \
    "\"" name "\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"
#define MODEL_JSON(W1b, W1e, b1b, b1e, vWb, vWe, vbb, vbe) \
    "{" META "," F32("W1", "[2,3]", W1b, W1e) "," F32("b1", "[3]", b1b, b1e) "," \
    F32("opt.W1.v", "[2,3]", vWb, vWe) "," F32("opt.b1.v", "[3]", vbb, vbe) "}"

/* Writes ckpt: the length of json padded with spaces to a multiple of 8,
 * plus adjust; the padded json; data_len bytes whose floats are 0.5 k at
 * data byte 4 k. */
static void st_file(const char *json, long adjust, size_t data_len)
{
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    unsigned char *b = malloc(8 + padded + data_len + 4);
    ck_assert_ptr_nonnull(b);
    uint64_t n = (uint64_t)((long)padded + adjust);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(n >> (8 * i));
    memset(b + 8, ' ', padded);
    memcpy(b + 8, json, jl);
    for (size_t k = 0; 4 * k < data_len; k++) {
        float v = 0.5f * (float)k;
        uint32_t u;
        memcpy(&u, &v, 4);
        for (int i = 0; i < 4; i++)
            b[8 + padded + 4 * k + (size_t)i] = (unsigned char)(u >> (8 * i));
    }
    spit(ckpt, b, 8 + padded + data_len);
    free(b);
}

START_TEST(test_bad_batch_refused)
{
    st_file("{\"__metadata__\":{\"model\":\"twolayer\",\"epoch\":\"1\",\"step\":\"3\",\"batch\":\"-2\"},"
            F32("W1", "[2,3]", 0, 24) "," F32("b1", "[3]", 24, 36) "," F32("opt.W1.v", "[2,3]", 36, 60) ","
            F32("opt.b1.v", "[3]", 60, 72) "}", 0, 72);
    ASSERT_HAS(load_fails("twolayer"), "epoch, step and batch must be whole numbers");
}
END_TEST

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
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "twolayer", 1, 1, NULL, other, 2, state, 2, err, sizeof err), 0);
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
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "twolayer", 1, 1, NULL, params, 2, st, 2, err, sizeof err), 0);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, "opt.b1.v has shape [5], the model wants [3]");
}
END_TEST

START_TEST(test_missing_tensor_and_extra_ignored)
{
    char err[256];
    fill_model(2.0f);
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "twolayer", 1, 1, NULL, params, 2, NULL, 0, err, sizeof err), 0);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, "has no tensor 'opt.W1.v'");
    /* a file with more tensors than the model loads the ones it has */
    fill_model(2.0f);
    save_model("twolayer", 2, 4);
    fill_model(0.0f);
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, "twolayer", NULL, NULL, NULL, params, 2, NULL, 0, err, sizeof err), 0);
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
    ASSERT_HAS(e, "tensor 'opt.b1.v': data_offsets [60,72] run past the end of the data (68 bytes");
    ASSERT_HAS(e, "truncated");
    spit(ckpt, b, 5);
    e = load_fails("twolayer");
    ASSERT_HAS(e, "too short to be a safetensors file");
    unsigned char bad[16] = { 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, '{', '}' };
    spit(ckpt, bad, sizeof bad);
    e = load_fails("twolayer");
    ASSERT_HAS(e, "header length 4294967295 is over the limit of 100000000 bytes");
    bad[0] = 9; /* 9 bytes of header in a 16-byte file */
    bad[1] = bad[2] = bad[3] = 0;
    spit(ckpt, bad, sizeof bad);
    e = load_fails("twolayer");
    ASSERT_HAS(e, "header length 9 does not fit a file of 16 bytes");
    char *model = strstr((char *)b + 8, "\"model\"");
    model[5] = '1'; /* "mode1": still JSON, but no model name */
    spit(ckpt, b, len);
    e = load_fails("twolayer");
    ASSERT_HAS(e, "has no model name");
    model[5] = 'l';
    b[8 + 1] = ':'; /* breaks the JSON */
    spit(ckpt, b, len);
    e = load_fails("twolayer");
    ASSERT_HAS(e, ", byte 9: expected a string, found ':'");
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
    spit(ckpt, b, len); /* F16 now, but still 4 bytes an element */
    free(b);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, "tensor 'W1': data_offsets [0,24] hold 24 bytes, but shape [2,3] of F16 needs 12");
    /* a well-formed F16 tensor: the format allows it, the model does not */
    st_file("{" META ",\"W1\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[60,72]},"
            F32("b1", "[3]", 0, 12) "," F32("opt.W1.v", "[2,3]", 12, 36) ","
            F32("opt.b1.v", "[3]", 36, 48) ",\"z\":{\"dtype\":\"F32\",\"shape\":[3],"
            "\"data_offsets\":[48,60]}}", 0, 72);
    e = load_fails("twolayer");
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
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, "twolayer", &epoch, NULL, NULL, params, 2, state, 2, err, sizeof err), 0);
    ck_assert_int_eq(epoch, 2);
    ck_assert(W1[0] == 2.0f);
    /* rename onto a directory fails: an error naming the file, no .tmp left */
    unlink(ckpt);
    ck_assert_int_eq(mkdir(ckpt, 0700), 0);
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "twolayer", 1, 1, NULL, params, 2, state, 2, err, sizeof err), -1);
    ASSERT_HAS(err, "cannot write checkpoint ");
    ASSERT_HAS(err, ckpt);
    ck_assert(!exists(tmp_path));
    /* an unwritable place */
    ck_assert_int_eq(nnrt_ckpt_save("/nonexistent/dir/x.safetensors", "m", 0, 0, NULL, params, 2, NULL, 0,
                                    err, sizeof err), -1);
    ASSERT_HAS(err, "/nonexistent/dir/x.safetensors.tmp");
}
END_TEST

/* Files in tmpdir other than the checkpoint: what a killed save left. */
static int stray_files(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep -v '^m.safetensors$' | grep -v '^m.safetensors.tmp$')\"",
             tmpdir);
    return system(cmd) != 0;
}

/* A child saving an 8 MB checkpoint over and over is killed (SIGKILL) at
 * 20 moments: every time, the file is absent or whole, and no temporary
 * is left but a whole one (the temporary is unnamed until the link, and
 * renamed by the next call: a kill between the two leaves it whole). */
START_TEST(test_killed_save_leaves_nothing)
{
    enum { BIG = 2 * 1024 * 1024 };
    float *data = calloc(BIG, sizeof(float));
    ck_assert_ptr_nonnull(data);
    NnrtTensor big[1] = { { "W", data, NULL, 2, { 1024, 2048 }, BIG } };
    char err[256];
    for (int round = 0; round < 20; round++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            for (long i = 0;; i++) {
                data[0] = (float)i;
                if (nnrt_ckpt_save(ckpt, "big", i, i, NULL, big, 1, NULL, 0, err, sizeof err) < 0)
                    _exit(2);
            }
        }
        struct timespec wait = { 0, 2000000L + 3000000L * round }; /* 2 to 59 ms */
        nanosleep(&wait, NULL);
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status), "round %d: the saving child exited by itself", round);
        ck_assert_msg(!stray_files(), "round %d: a killed save left a file behind", round);
        if (exists(ckpt))
            ck_assert_msg(nnrt_ckpt_load(ckpt, "big", NULL, NULL, NULL, big, 1, NULL, 0, err, sizeof err) == 0,
                          "round %d: a torn checkpoint: %s", round, err);
        char tmp[sizeof ckpt + 4];
        snprintf(tmp, sizeof tmp, "%s.tmp", ckpt);
        if (exists(tmp)) {
            ck_assert_msg(nnrt_ckpt_load(tmp, "big", NULL, NULL, NULL, big, 1, NULL, 0, err, sizeof err) == 0,
                          "round %d: a torn temporary: %s", round, err);
            ck_assert_int_eq(remove(tmp), 0);
        }
    }
    free(data);
}
END_TEST

START_TEST(test_bad_tensors_refused_on_save)
{
    char err[256];
    float x[2];
    NnrtTensor t[2] = { { "a", x, NULL, 1, { 2 }, 3 }, { "b", x, NULL, 1, { 2 }, 2 } };
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "m", 0, 0, NULL, t, 1, NULL, 0, err, sizeof err), -1);
    ASSERT_HAS(err, "shape and numel 3 disagree");
    t[0].numel = 2;
    t[1].name = "a";
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "m", 0, 0, NULL, t, 2, NULL, 0, err, sizeof err), -1);
    ASSERT_HAS(err, "two tensors are named 'a'");
    ck_assert(!exists(ckpt));
}
END_TEST

/* The well-formed file the defect tests below each spoil in one way. */
START_TEST(test_hand_layout_loads)
{
    st_file(MODEL_JSON(0, 24, 24, 36, 36, 60, 60, 72), 0, 72);
    char err[512];
    fill_model(3.0f);
    ck_assert_msg(nnrt_ckpt_load(ckpt, "twolayer", NULL, NULL, NULL, params, 2, state, 2, err, sizeof err) == 0,
                  "%s", err);
    ck_assert(W1[1] == 0.5f && b1[0] == 3.0f && vW1[0] == 4.5f && vb1[2] == 8.5f);
}
END_TEST

/* A length one byte short used to load every weight shifted by a byte. */
START_TEST(test_header_length_short_refused)
{
    size_t len;
    fill_model(1.0f);
    save_model("twolayer", 1, 1);
    unsigned char *b = slurp(ckpt, &len);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--)
        h = h << 8 | b[i];
    ck_assert_int_eq(b[8 + h - 1], ' '); /* the JSON itself stays whole */
    h--;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(h >> (8 * i));
    spit(ckpt, b, len);
    free(b);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, ckpt);
    ASSERT_HAS(e, "1 byte after the last tensor");
    ASSERT_HAS(e, "header length");
}
END_TEST

START_TEST(test_overlapping_offsets_refused)
{
    st_file(MODEL_JSON(0, 24, 20, 32, 32, 56, 56, 68), 0, 68);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, ckpt);
    ASSERT_HAS(e, "tensor 'b1': data_offsets [20,32] overlap 'W1', which ends at 24");
}
END_TEST

START_TEST(test_gapped_offsets_refused)
{
    st_file(MODEL_JSON(0, 24, 28, 40, 40, 64, 64, 76), 0, 76);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, ckpt);
    ASSERT_HAS(e, "tensor 'b1': data_offsets [28,40] leave data bytes 24..27 unused");
    ASSERT_HAS(e, "gap after 'W1'");
    st_file(MODEL_JSON(4, 28, 28, 40, 40, 64, 64, 76), 0, 76);
    e = load_fails("twolayer");
    ASSERT_HAS(e, "tensor 'W1': data_offsets [4,28] leave data bytes 0..3 unused");
    ASSERT_HAS(e, "gap before the first tensor");
}
END_TEST

/* Contiguous, but W1 starts inside a float: a U8 tensor of 2 bytes first. */
START_TEST(test_unaligned_offsets_refused)
{
    st_file("{" META ",\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
            F32("W1", "[2,3]", 2, 26) "," F32("b1", "[3]", 26, 38) ","
            F32("opt.W1.v", "[2,3]", 38, 62) "," F32("opt.b1.v", "[3]", 62, 74) "}", 0, 74);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, ckpt);
    ASSERT_HAS(e, "tensor 'W1': data_offsets [2,26] start at data byte 2, not a multiple of F32's 4");
}
END_TEST

START_TEST(test_bytes_after_last_tensor_refused)
{
    size_t len;
    fill_model(1.0f);
    save_model("twolayer", 1, 1);
    unsigned char *b = slurp(ckpt, &len);
    unsigned char *more = malloc(len + 4);
    memcpy(more, b, len);
    memcpy(more + len, "junk", 4);
    spit(ckpt, more, len + 4);
    free(more);
    free(b);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, ckpt);
    ASSERT_HAS(e, "4 bytes after the last tensor");
}
END_TEST

START_TEST(test_duplicate_tensor_refused)
{
    st_file("{" META "," F32("W1", "[2,3]", 0, 24) "," F32("b1", "[3]", 24, 36) ","
            F32("opt.W1.v", "[2,3]", 36, 60) "," F32("opt.b1.v", "[3]", 60, 72) ","
            F32("W1", "[2,3]", 72, 96) "}", 0, 96);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, ckpt);
    ASSERT_HAS(e, "tensor 'W1' appears twice");
}
END_TEST

START_TEST(test_repeated_metadata_refused)
{
    st_file("{" META "," F32("W1", "[2,3]", 0, 24) "," F32("b1", "[3]", 24, 36) ","
            "\"__metadata__\":{\"model\":\"twolayer\",\"epoch\":\"9\"},"
            F32("opt.W1.v", "[2,3]", 36, 60) "," F32("opt.b1.v", "[3]", 60, 72) "}", 0, 72);
    const char *e = load_fails("twolayer");
    ASSERT_HAS(e, ckpt);
    ASSERT_HAS(e, "__metadata__ appears twice");
}
END_TEST

/* The header's every rule: each case spoils the well-formed file of
 * test_hand_layout_loads in one way. */
#define REST "," F32("b1", "[3]", 24, 36) "," F32("opt.W1.v", "[2,3]", 36, 60) "," \
    F32("opt.b1.v", "[3]", 60, 72) "}"
#define W1_IS(v) "{" META ",\"W1\":" v REST
#define W1_WITH(fields) W1_IS("{\"dtype\":\"F32\"," fields "}")

static const struct {
    const char *json;
    long adjust;
    const char *want;
} bad_headers[] = {
    { "[]", 0, ", byte 8: the header must be a JSON object, found '['" },
    { MODEL_JSON(0, 24, 24, 36, 36, 60, 60, 72) "x", 0, "'x' after the header's closing '}'" },
    { MODEL_JSON(0, 24, 24, 36, 36, 60, 60, 72) "\x01", 0, "byte 0x01 after the header's closing '}'" },
    { MODEL_JSON(0, 24, 24, 36, 36, 60, 60, 72), 1, "byte 0x00 after the header's closing '}', "
                                                    "where only spaces may follow (header length too long?)" },
    { "{" META ",\"W1\":{\"dtype\":\"F3", 0, "tensor 'W1': the string that starts here has no closing quote" },
    { "{" META ",", 0, "expected a string, found the end of the header (header length too short?)" },
    { "{" META "," F32("W1", "[2,3]", 0, 24) "," REST, 0, "expected a string, found ','" },
    { "{" META " \"W1\":{}}", 0, "expected ',' or '}', found '\"'" },
    { W1_WITH("\"shape\":[2,3],\"data_offsets\":[0,24],\"x\":1"), 0,
      "tensor 'W1': unknown field 'x' (want exactly dtype, shape and data_offsets)" },
    { W1_WITH("\"shape\":[2,3]"), 0, "tensor 'W1': no data_offsets" },
    { W1_WITH("\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]"), 0,
      "tensor 'W1': field dtype appears twice" },
    { W1_IS("5"), 0, "tensor 'W1': expected an object of dtype, shape and data_offsets, found '5'" },
    { W1_IS("{\"dtype\":\"F33\",\"shape\":[2,3],\"data_offsets\":[0,24]}"), 0,
      "tensor 'W1': unknown dtype 'F33'" },
    { W1_IS("{\"dtype\":32,\"shape\":[2,3],\"data_offsets\":[0,24]}"), 0, "expected a string, found '3'" },
    { W1_WITH("\"shape\":[-2,3],\"data_offsets\":[0,24]"), 0, "byte 97: tensor 'W1': a shape dimension is negative" },
    { W1_WITH("\"shape\":[2.0,3],\"data_offsets\":[0,24]"), 0, "a shape dimension is not a whole number" },
    { W1_WITH("\"shape\":[2e0,3],\"data_offsets\":[0,24]"), 0, "a shape dimension is not a whole number" },
    { W1_WITH("\"shape\":[02,3],\"data_offsets\":[0,24]"), 0, "a shape dimension has a leading zero" },
    { W1_WITH("\"shape\":[\"2\",3],\"data_offsets\":[0,24]"), 0, "expected a shape dimension (a non-negative integer), found '\"'" },
    { W1_WITH("\"shape\":6,\"data_offsets\":[0,24]"), 0, "expected '[' to open a shape, found '6'" },
    { W1_WITH("\"shape\":[18446744073709551616],\"data_offsets\":[0,24]"), 0, "a shape dimension is over 2^64 - 1" },
    { W1_WITH("\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,24]"), 0,
      "tensor 'W1': shape [4294967296,4294967296,4] of F32 holds more bytes than 64 bits count" },
    { W1_WITH("\"shape\":[4611686018427387904],\"data_offsets\":[0,24]"), 0,
      "tensor 'W1': shape [4611686018427387904] of F32 holds more bytes than 64 bits count" },
    { W1_WITH("\"shape\":[2,3],\"data_offsets\":[24,0]"), 0, "tensor 'W1': data_offsets [24,0] end before they begin" },
    { W1_WITH("\"shape\":[2,3],\"data_offsets\":[0,24,24]"), 0, "expected ']' after data_offsets' end" },
    { W1_WITH("\"shape\":[2,3],\"data_offsets\":[0]"), 0, "expected ',' after data_offsets' begin, found ']'" },
    { W1_WITH("\"shape\":[2,3],\"data_offsets\":[0,20]"), 0,
      "tensor 'W1': data_offsets [0,20] hold 20 bytes, but shape [2,3] of F32 needs 24" },
    { "{" META ",\"f\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[72,74]}"
      "," F32("W1", "[2,3]", 0, 24) REST, 0, "tensor 'f': shape [3] of F4 is 12 bits, not a whole number of bytes" },
    { "{\"__metadata__\":\"twolayer\"," F32("W1", "[2,3]", 0, 24) REST, 0,
      "__metadata__ must be an object of strings, found '\"'" },
    { "{\"__metadata__\":{\"model\":\"twolayer\",\"epoch\":1}," F32("W1", "[2,3]", 0, 24) REST, 0,
      "__metadata__ 'epoch' must be a string, found '1'" },
    { "{\"__metadata__\":{\"model\":\"twolayer\",\"model\":\"other\"}," F32("W1", "[2,3]", 0, 24) REST, 0,
      "'model' appears twice in __metadata__ (first at byte 25)" },
    { "{" META "," F32("W\xff", "[2,3]", 0, 24) REST, 0, "the header is not valid UTF-8" },
    { "{" META "," F32("W\xc0\xb1", "[2,3]", 0, 24) REST, 0, "the header is not valid UTF-8" },  /* overlong */
    { "{" META "," F32("W\xed\xa0\x80", "[2,3]", 0, 24) REST, 0, "the header is not valid UTF-8" }, /* surrogate */
    { "{" META "," F32("W\xf4\x90\x80\x80", "[2,3]", 0, 24) REST, 0, "the header is not valid UTF-8" }, /* > 10FFFF */
    { "{" META "," F32("W\x01", "[2,3]", 0, 24) REST, 0, "control character 0x01 inside a string" },
    { "{" META "," F32("W\\q", "[2,3]", 0, 24) REST, 0, "bad escape in a string" },
    { "{" META "," F32("W\\u0000", "[2,3]", 0, 24) REST, 0, "bad escape in a string" },
    { "{" META "," F32("W\\ud800", "[2,3]", 0, 24) REST, 0, "bad escape in a string" },
    { "{" META "," F32("W\\udc00", "[2,3]", 0, 24) REST, 0, "bad escape in a string" },
    { "{" META "," F32("W\\u12", "[2,3]", 0, 24) REST, 0, "bad escape in a string" },
};

START_TEST(test_bad_headers_refused)
{
    const char *json = bad_headers[_i].json;
    size_t jl = strlen(json);
    st_file(json, bad_headers[_i].adjust, 72);
    const char *e = load_fails("twolayer");
    ck_assert_msg(strstr(e, ckpt) && strstr(e, bad_headers[_i].want) && !strchr(e, '\n'),
                  "case %d (%.*s...): '%s' lacks '%s'", _i, (int)(jl < 60 ? jl : 60), json, e,
                  bad_headers[_i].want);
}
END_TEST

/* Laid out as the reference library writes: __metadata__ first, tensors
 * by dtype (largest first) then name, offsets contiguous, the header
 * padded with spaces; other dtypes, a rank-10 tensor, an empty one and an
 * escaped non-ASCII name among the model's own. */
START_TEST(test_reference_layout_loads)
{
    st_file("{\"__metadata__\":{\"format\":\"pt\",\"model\":\"twolayer\"},"
            "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
            F32("W1", "[2,3]", 16, 40) "," F32("b1", "[3]", 40, 52) ","
            F32("big", "[1,1,1,1,1,1,1,1,1,2]", 52, 60) "," F32("e", "[0,3]", 60, 60) ","
            F32("opt.W1.v", "[2,3]", 60, 84) "," F32("opt.b1.v", "[3]", 84, 96) ","
            "\"i\":{\"dtype\":\"I16\",\"shape\":[3],\"data_offsets\":[96,102]},"
            "\"u\\ud83d\\ude00\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[102,105]},"
            "\"z\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[105,106]}}", 0, 106);
    char err[512];
    long epoch = -1, step = -1;
    fill_model(3.0f);
    ck_assert_msg(nnrt_ckpt_load(ckpt, "twolayer", &epoch, &step, NULL, params, 2, state, 2, err, sizeof err) == 0,
                  "%s", err);
    /* the data's floats are 0.5 k at byte 4 k */
    ck_assert(W1[0] == 2.0f && W1[5] == 4.5f && b1[0] == 5.0f && vW1[0] == 7.5f && vb1[2] == 11.5f);
    ck_assert_int_eq(epoch, 0);
    ck_assert_int_eq(step, 0);
    /* the rank-10 tensor is there, and its shape is told */
    float x[2];
    NnrtTensor big[1] = { { "big", x, NULL, 2, { 1, 2 }, 2 } };
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, "twolayer", NULL, NULL, NULL, big, 1, NULL, 0, err, sizeof err), -1);
    ASSERT_HAS(err, "big has shape [1,1,1,1,1,1,1,1,...], the model wants [1,2]");
}
END_TEST


/* ---- the figures prediction needs (nnrt.h's metadata) ------------------------------ */

/* Saves the model with meta, loads it back into *got (in_dim, at most
 * max_classes names). */
static void meta_round_trip(const NnrtCkptMeta *meta, size_t in_dim, size_t max_classes,
                            NnrtCkptMeta *got)
{
    char err[512];
    fill_model(1.0f);
    ck_assert_msg(nnrt_ckpt_save(ckpt, "twolayer", 2, 20, meta, params, 2, state, 2, err, sizeof err) == 0,
                  "%s", err);
    memset(got, 0, sizeof *got);
    got->in_dim = in_dim;
    got->max_classes = max_classes;
    ck_assert_msg(nnrt_ckpt_load(ckpt, "twolayer", NULL, NULL, got, params, 2, state, 2, err, sizeof err) == 0,
                  "%s", err);
}

static int same_float(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* normalize "all" and class names that JSON and CSV both have to escape:
 * every bit back, every byte of every name back. */
START_TEST(test_meta_all_and_names_round_trip)
{
    char n0[] = "cat", n1[] = "dog, \"big\"", n2[] = "na\xc3\xafve \xe2\x98\x83", n3[] = "tab\there",
         n4[] = "[x]", n5[] = "back\\slash", n6[] = "";
    char *names[] = { n0, n1, n2, n3, n4, n5, n6 };
    NnrtCkptMeta m = { 0 }, got;
    m.in_dim = 3;
    m.has_inputs = 1;
    m.scale = 1.0f / 255.0f;
    m.normalize = NNRT_NORM_ALL;
    m.mean = 0.1307f;
    m.std = 0.30810001f;
    m.class_names = names;
    m.n_class_names = 7;
    meta_round_trip(&m, 3, 7, &got);
    ck_assert(got.has_inputs && got.normalize == NNRT_NORM_ALL);
    ck_assert(same_float(got.scale, m.scale) && same_float(got.mean, m.mean) && same_float(got.std, m.std));
    ck_assert_ptr_null(got.col_mean);
    ck_assert_uint_eq(got.n_class_names, 7);
    for (int i = 0; i < 7; i++)
        ck_assert_str_eq(got.class_names[i], names[i]);
    nnrt_ckpt_meta_free(&got);
    ck_assert_ptr_null(got.class_names);
}
END_TEST

/* normalize "column": extreme floats (the largest, the smallest normal, a
 * denormal, one that needs all 9 digits) come back bit for bit; the file
 * says what nnrt.h says it says. */
START_TEST(test_meta_column_round_trip)
{
    float mean[4] = { 0.1f, -3.40282347e38f, 1.17549435e-38f, -1e-45f };
    float sd[4] = { 1e-45f, 2.5f, 3.0e38f, 16777217.0f };
    NnrtCkptMeta m = { 0 }, got;
    m.in_dim = 4;
    m.has_inputs = 1;
    m.scale = 0.5f;
    m.normalize = NNRT_NORM_COLUMN;
    m.col_mean = mean;
    m.col_std = sd;
    meta_round_trip(&m, 4, 0, &got);
    ck_assert(got.has_inputs && got.normalize == NNRT_NORM_COLUMN && same_float(got.scale, 0.5f));
    for (int i = 0; i < 4; i++)
        ck_assert_msg(same_float(got.col_mean[i], mean[i]) && same_float(got.col_std[i], sd[i]),
                      "column %d: %.9g %.9g", i, (double)got.col_mean[i], (double)got.col_std[i]);
    ck_assert_uint_eq(got.n_class_names, 0);
    nnrt_ckpt_meta_free(&got);
    size_t len;
    char *b = (char *)slurp(ckpt, &len);
    ASSERT_HAS(b + 8, "\"scale\":\"0.5\",\"normalize\":\"column\",\"col_mean\":\"0.100000001,"
                      "-3.40282347e+38,1.17549435e-38,-1.40129846e-45\",\"col_std\":\"1.40129846e-45,"
                      "2.5,3.00000001e+38,16777216\"");
    free(b);
}
END_TEST

/* A checkpoint from before the figures were kept loads, with none. */
START_TEST(test_meta_absent_loads)
{
    NnrtCkptMeta got;
    meta_round_trip(NULL, 3, 3, &got);
    ck_assert(!got.has_inputs && !got.col_mean && !got.class_names && got.n_class_names == 0);
    NnrtCkptMeta none = { 0 };
    none.in_dim = 3; /* has_inputs 0: only model, epoch and step */
    meta_round_trip(&none, 3, 3, &got);
    ck_assert(!got.has_inputs);
    size_t len;
    char *b = (char *)slurp(ckpt, &len);
    ck_assert_ptr_null(strstr(b + 8, "scale"));
    free(b);
}
END_TEST

/* What the loader would refuse is not written. */
START_TEST(test_meta_bad_refused_on_save)
{
    float mean[2] = { 0, 0 }, sd[2] = { 1, 0 };
    char a1[] = "a", a2[] = "a", *dup[2] = { a1, a2 }, err[256];
    NnrtCkptMeta m = { 0 };
    m.in_dim = 2;
    m.has_inputs = 1;
    m.scale = 1;
    m.normalize = NNRT_NORM_ALL;
    m.std = NAN;
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "twolayer", 1, 1, &m, params, 2, state, 2, err, sizeof err), -1);
    ASSERT_HAS(err, "not finite (or a std is not > 0)");
    m.normalize = NNRT_NORM_COLUMN;
    m.col_mean = mean;
    m.col_std = sd;
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "twolayer", 1, 1, &m, params, 2, state, 2, err, sizeof err), -1);
    m.has_inputs = 0;
    m.class_names = dup;
    m.n_class_names = 2;
    ck_assert_int_eq(nnrt_ckpt_save(ckpt, "twolayer", 1, 1, &m, params, 2, state, 2, err, sizeof err), -1);
    ASSERT_HAS(err, "class names 0 and 1 are the same");
    ck_assert(!exists(ckpt) && !exists(tmp_path));
}
END_TEST

/* The metadata of a model with in_dim 3 and 3 classes, spoiled one way
 * each: refused with a message naming the key, whether the caller asks
 * for the figures or not, and nothing changes. */
#define META_WITH(extra) "{\"__metadata__\":{\"model\":\"twolayer\",\"epoch\":\"1\",\"step\":\"1\"," \
    extra "}," F32("W1", "[2,3]", 0, 24) REST
#define SN(mode) "\"scale\":\"1\",\"normalize\":\"" mode "\""
#define NAMES(v) "\"class_names\":\"" v "\""

static const struct {
    const char *json, *want;
    const char *want_null; /* with no figures asked for (no in_dim, no class count): NULL the
                              same message, "" the file loads */
} bad_meta[] = {
    { META_WITH("\"scale\":\"1\""), "'normalize' is missing (scale and normalize come together)", NULL },
    { META_WITH("\"normalize\":\"none\""), "'scale' is missing", NULL },
    { META_WITH(SN("zscore")), "'normalize' is 'zscore', not none, all or column", NULL },
    { META_WITH("\"scale\":\"0\",\"normalize\":\"none\""), "'scale' is 0", NULL },
    { META_WITH("\"scale\":\"nan\",\"normalize\":\"none\""), "'scale' 'nan' is not a finite decimal number", NULL },
    { META_WITH("\"scale\":\"0x1p3\",\"normalize\":\"none\""), "'scale' '0x1p3' is not a finite decimal number", NULL },
    { META_WITH("\"scale\":\"1e39\",\"normalize\":\"none\""), "'scale' '1e39' is not a finite decimal number", NULL },
    { META_WITH("\"scale\":\" 1\",\"normalize\":\"none\""), "'scale' ' 1' is not a finite decimal number", NULL },
    { META_WITH("\"scale\":\"\",\"normalize\":\"none\""), "'scale' '' is not a finite decimal number", NULL },
    { META_WITH(SN("all") ",\"mean\":\"0\""), "'std' is missing (normalize is \"all\")", NULL },
    { META_WITH(SN("all") ",\"mean\":\"0\",\"std\":\"NaN\""), "'std' 'NaN' is not a finite decimal number > 0", NULL },
    { META_WITH(SN("all") ",\"mean\":\"0\",\"std\":\"nan\""), "'std' 'nan' is not a finite decimal number > 0", NULL },
    { META_WITH(SN("all") ",\"mean\":\"0\",\"std\":\"0\""), "'std' '0' is not a finite decimal number > 0", NULL },
    { META_WITH(SN("all") ",\"mean\":\"0\",\"std\":\"-1\""), "'std' '-1' is not a finite decimal number > 0", NULL },
    { META_WITH(SN("all") ",\"mean\":\"0\",\"std\":\"1e-50\""), "'std' '1e-50' is not a finite decimal number > 0", NULL },
    { META_WITH(SN("all") ",\"mean\":\"inf\",\"std\":\"1\""), "'mean' 'inf' is not a finite decimal number", NULL },
    { META_WITH(SN("all") ",\"mean\":\"0\",\"std\":\"1\",\"col_mean\":\"1,2,3\""),
      "'col_mean' does not go with normalize \"all\"", NULL },
    { META_WITH(SN("none") ",\"mean\":\"0\""), "'mean' does not go with normalize \"none\"", NULL },
    { META_WITH("\"std\":\"1\""), "'std' is there without scale and normalize", NULL },
    { META_WITH(SN("column") ",\"col_mean\":\"1,2\",\"col_std\":\"1,1,1\""),
      "'col_mean' has 2 values, the model's input has 3 columns", "'col_std' has 3 values, col_mean 2" },
    { META_WITH(SN("column") ",\"col_mean\":\"1,2,3,4\",\"col_std\":\"1,1,1\""),
      "'col_mean' has 4 values, the model's input has 3 columns", "'col_std' has 3 values, col_mean 4" },
    { META_WITH(SN("column") ",\"col_mean\":\"1,2,3,\",\"col_std\":\"1,1,1\""), "'col_mean' has 4 values",
      "'col_mean' value 4 '' is not a finite decimal number" },
    { META_WITH(SN("column") ",\"col_mean\":\"1,2,3\""), "'col_std' is missing (normalize is \"column\")", NULL },
    { META_WITH(SN("column") ",\"col_mean\":\"1,2,3\",\"col_std\":\"1,nan,1\""),
      "'col_std' value 2 'nan' is not a finite decimal number > 0", NULL },
    { META_WITH(SN("column") ",\"col_mean\":\"1,2,3\",\"col_std\":\"1,1,0\""),
      "'col_std' value 3 '0' is not a finite decimal number > 0", NULL },
    { META_WITH(SN("column") ",\"col_mean\":\"1,,3\",\"col_std\":\"1,1,1\""),
      "'col_mean' value 2 '' is not a finite decimal number", NULL },
    { META_WITH(SN("column") ",\"col_mean\":\"1,2,3\",\"col_std\":\"1,1,1\",\"std\":\"1\""),
      "'std' does not go with normalize \"column\"", NULL },
    { META_WITH(NAMES("cat")), "'class_names' is not a JSON array of one or more strings", NULL },
    { META_WITH(NAMES("[]")), "'class_names' is not a JSON array of one or more strings", NULL },
    { META_WITH(NAMES("[\\\"a\\\",1]")), "'class_names' is not a JSON array of one or more strings", NULL },
    { META_WITH(NAMES("[\\\"a\\\"] x")), "'class_names' is not a JSON array of one or more strings", NULL },
    { META_WITH(NAMES("[\\\"a\\\\u0000\\\"]")), "'class_names' is not a JSON array of one or more strings", NULL },
    { META_WITH(NAMES("[\\\"a\\\"")), "'class_names' is not a JSON array of one or more strings", NULL },
    { META_WITH(NAMES("[\\\"a\\\",\\\"b\\\",\\\"a\\\"]")), "'class_names' names 'a' twice", NULL },
    { META_WITH(NAMES("[\\\"a\\\",\\\"b\\\",\\\"c\\\",\\\"d\\\"]")),
      "'class_names' has more than 3 names, the model's class count", "" },
};

START_TEST(test_bad_meta_refused)
{
    const char *want_null = bad_meta[_i].want_null ? bad_meta[_i].want_null : bad_meta[_i].want;
    char err[512];
    st_file(bad_meta[_i].json, 0, 72);
    if (*want_null) {
        const char *e = load_fails("twolayer");
        ck_assert_msg(strstr(e, want_null) && strstr(e, ckpt) && !strchr(e, '\n'),
                      "case %d without figures: '%s' lacks '%s'", _i, e, want_null);
    } else {
        ck_assert_msg(nnrt_ckpt_load(ckpt, "twolayer", NULL, NULL, NULL, params, 2, state, 2, err,
                                     sizeof err) == 0, "case %d without figures: %s", _i, err);
    }
    NnrtCkptMeta got = { 0 };
    got.in_dim = 3;
    got.max_classes = 3;
    ck_assert_int_eq(nnrt_ckpt_load(ckpt, "twolayer", NULL, NULL, &got, params, 2, state, 2, err,
                                    sizeof err), -1);
    ck_assert_msg(strstr(err, bad_meta[_i].want), "case %d: '%s' lacks '%s'", _i, err, bad_meta[_i].want);
    ck_assert(!got.has_inputs && !got.col_mean && !got.col_std && !got.class_names);
}
END_TEST

/* The good versions of those files load (the table's defects are the
 * only ones). */
START_TEST(test_good_meta_loads)
{
    static const char *const good[] = {
        META_WITH(SN("none")),
        META_WITH(SN("all") ",\"mean\":\"-0.5\",\"std\":\"2e-3\""),
        META_WITH(SN("column") ",\"col_mean\":\"1,2,3\",\"col_std\":\"1,+1.5,1E2\""),
        META_WITH(NAMES("[\\\"a\\\", \\\"b\\\\u00e9\\\"]") ",\"format\":\"pt\""),
    };
    for (int i = 0; i < 4; i++) {
        char err[512];
        NnrtCkptMeta got = { 0 };
        got.in_dim = 3;
        got.max_classes = 3;
        st_file(good[i], 0, 72);
        ck_assert_msg(nnrt_ckpt_load(ckpt, "twolayer", NULL, NULL, &got, params, 2, state, 2, err,
                                     sizeof err) == 0, "case %d: %s", i, err);
        if (i == 2)
            ck_assert(got.col_std[1] == 1.5f && got.col_std[2] == 100.0f && got.col_mean[2] == 3.0f);
        if (i == 3)
            ck_assert(got.n_class_names == 2 && strcmp(got.class_names[1], "b\xc3\xa9") == 0);
        nnrt_ckpt_meta_free(&got);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_ckpt");
    TCase *tc = tcase_create("safetensors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_position_round_trip);
    tcase_add_test(tc, test_bad_batch_refused);
    tcase_add_test(tc, test_tiny_file_bytes);
    tcase_add_test(tc, test_hand_written_file);
    tcase_add_test(tc, test_wrong_model_rejected);
    tcase_add_test(tc, test_wrong_shape_rejected);
    tcase_add_test(tc, test_late_error_changes_nothing);
    tcase_add_test(tc, test_missing_tensor_and_extra_ignored);
    tcase_add_test(tc, test_corrupt_files_rejected);
    tcase_add_test(tc, test_wrong_dtype_rejected);
    tcase_add_test(tc, test_tmp_and_rename);
    tcase_add_test(tc, test_killed_save_leaves_nothing);
    tcase_add_test(tc, test_bad_tensors_refused_on_save);
    tcase_add_test(tc, test_hand_layout_loads);
    tcase_add_test(tc, test_header_length_short_refused);
    tcase_add_test(tc, test_overlapping_offsets_refused);
    tcase_add_test(tc, test_gapped_offsets_refused);
    tcase_add_test(tc, test_unaligned_offsets_refused);
    tcase_add_test(tc, test_bytes_after_last_tensor_refused);
    tcase_add_test(tc, test_duplicate_tensor_refused);
    tcase_add_test(tc, test_repeated_metadata_refused);
    tcase_add_loop_test(tc, test_bad_headers_refused, 0, (int)(sizeof bad_headers / sizeof bad_headers[0]));
    tcase_add_test(tc, test_reference_layout_loads);
    tcase_add_test(tc, test_meta_all_and_names_round_trip);
    tcase_add_test(tc, test_meta_column_round_trip);
    tcase_add_test(tc, test_meta_absent_loads);
    tcase_add_test(tc, test_meta_bad_refused_on_save);
    tcase_add_loop_test(tc, test_bad_meta_refused, 0, (int)(sizeof bad_meta / sizeof bad_meta[0]));
    tcase_add_test(tc, test_good_meta_loads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
