/* test_rt_data.c: data sources, transforms and batching.
 *
 * Spiral and gates against their definitions; tables; IDX files written
 * here (raw and gzip) loaded back, kept as bytes and converted by the
 * gather with scale and normalize; every IDX and CSV error names its file
 * (and, for CSV, the line and column).
 *
 * Hostile files ("checks" cases): class ids against the model's class
 * count K in every source (CSV ids read exactly, IDX with byte offsets),
 * empty sets, gzip streams damaged in their trailer or followed by other
 * bytes, IDX headers that claim more than the file holds, and CSV files
 * whose line count times first-row width is huge.  The memory cases run
 * under an address-space limit (RLIMIT_AS, 1 GiB), so a loader that
 * allocates what a header claims fails them with "out of memory".
 */
#include "nnrt.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define ASSERT_FEQ(a, b) ck_assert_msg((a) == (b), "%.9g != %.9g", (double)(a), (double)(b))
#define ASSERT_HAS(s, sub) ck_assert_msg(strstr((s), (sub)) != NULL, "'%s' lacks '%s'", (s), (sub))

/* ---- temp files ------------------------------------------------------------ */
static char tmpdir[64];
static char paths[8][128];
static int npaths;

static void setup(void)
{
    strcpy(tmpdir, "/tmp/nnrt_data_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    npaths = 0;
}

static void teardown(void)
{
    for (int i = 0; i < npaths; i++)
        unlink(paths[i]);
    rmdir(tmpdir);
}

static const char *tpath(const char *name)
{
    ck_assert_int_lt(npaths, 8);
    snprintf(paths[npaths], sizeof paths[0], "%s/%s", tmpdir, name);
    return paths[npaths++];
}

static void write_bytes(const char *path, int gzip, const unsigned char *b, size_t n)
{
    if (gzip) {
        gzFile g = gzopen(path, "wb");
        ck_assert_ptr_nonnull(g);
        ck_assert_int_eq(gzwrite(g, b, (unsigned)n), (int)n);
        ck_assert_int_eq(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(b, 1, n, f), n);
        fclose(f);
    }
}

static void write_text(const char *path, const char *text)
{
    write_bytes(path, 0, (const unsigned char *)text, strlen(text));
}

/* The whole of a file, malloc'd; its length in *n. */
static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *b = malloc(1 << 20);
    ck_assert_ptr_nonnull(b);
    *n = fread(b, 1, 1 << 20, f);
    ck_assert(*n < (1 << 20));
    fclose(f);
    return b;
}

/* An address-space limit for the memory cases (restored by the caller
 * with the value returned); none under AddressSanitizer, which reserves
 * terabytes of shadow. */
static rlim_t limit_memory(rlim_t bytes)
{
    struct rlimit r;
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &r), 0);
    rlim_t old = r.rlim_cur;
#if !defined(__SANITIZE_ADDRESS__)
    r.rlim_cur = bytes < r.rlim_max ? bytes : r.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &r), 0);
#else
    (void)bytes;
#endif
    return old;
}

static void restore_memory(rlim_t old)
{
    struct rlimit r;
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &r), 0);
    r.rlim_cur = old;
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &r), 0);
}

/* An IDX file: 00 00 08 nd, big-endian dims, then the data (drop bytes cut
 * from the end to make it truncated). */
static void write_idx(const char *path, int gzip, int nd, const uint32_t *dims,
                      const unsigned char *data, size_t drop)
{
    unsigned char buf[4096];
    size_t n = 0, total = 1;
    buf[n++] = 0, buf[n++] = 0, buf[n++] = 8, buf[n++] = (unsigned char)nd;
    for (int i = 0; i < nd; i++) {
        for (int k = 3; k >= 0; k--)
            buf[n++] = (unsigned char)(dims[i] >> (8 * k));
        total *= dims[i];
    }
    memcpy(buf + n, data, total);
    write_bytes(path, gzip, buf, n + total - drop);
}

/* 5 images of 3x4 bytes (value 10*i + j) and labels 0..4 */
static unsigned char img_bytes[60], lab_bytes[5] = { 0, 1, 2, 3, 4 };
static const uint32_t img_dims[3] = { 5, 3, 4 }, lab_dims[1] = { 5 };

static void write_mnist_like(const char *im, const char *lb, int gzip)
{
    for (int i = 0; i < 60; i++)
        img_bytes[i] = (unsigned char)(10 * (i / 12) + i % 12 + 100);
    write_idx(im, gzip, 3, img_dims, img_bytes, 0);
    write_idx(lb, gzip, 1, lab_dims, lab_bytes, 0);
}

static NnrtSource idx_source(const char *im, const char *lb)
{
    NnrtSource s;
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_IDX;
    s.images = im;
    s.labels = lb;
    return s;
}

/* ---- spiral and gates --------------------------------------------------------- */
static NnrtSource spiral_source(uint64_t seed)
{
    NnrtSource s;
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_SPIRAL;
    s.classes = 3;
    s.points = 100;
    s.seed = seed;
    return s;
}

START_TEST(test_spiral_rows)
{
    NnrtSource s = spiral_source(1984);
    NnrtData d;
    char err[256];
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(d.rows, 300);
    ck_assert_int_eq(d.classes, 3);
    ck_assert_ptr_nonnull(d.xf);
    ck_assert_ptr_null(d.xb);
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 100; i++) {
            size_t row = (size_t)j * 100 + (size_t)i;
            double x = (double)d.xf[2 * row], y = (double)d.xf[2 * row + 1];
            double r = (double)i / 100.0;
            ck_assert_int_eq(d.tc[row], j);
            ck_assert_double_eq_tol(sqrt(x * x + y * y), r, 1e-6);
            if (i == 0)
                continue;
            /* angle = 4j + 4r + noise, noise = 0.2 N(0,1): well inside +-1.2 */
            double noise = remainder(atan2(x, y) - 4.0 * j - 4.0 * r, 2 * 3.14159265358979323846);
            ck_assert_double_lt(fabs(noise), 1.2);
        }
    /* the same points from the definition, with the normals drawn here */
    NnrtRng rng;
    nnrt_rng_seed(&rng, 1984);
    for (int row = 0; row < 300; row++) {
        int j = row / 100, i = row % 100;
        double r = i / 100.0, t = 4.0 * j + 4.0 * r + 0.2 * (double)nnrt_rng_normal(&rng);
        ASSERT_FEQ(d.xf[2 * row], (float)(r * sin(t)));
        ASSERT_FEQ(d.xf[2 * row + 1], (float)(r * cos(t)));
    }
    nnrt_data_free(&d);
}
END_TEST

START_TEST(test_normalize_floats)
{
    static const float x[6] = { 1, 2, 3, 4, 5, 6 }, t[3] = { 0, 1, 0 };
    NnrtSource s;
    NnrtData d;
    char err[256];
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_TABLE;
    s.table_x = x;
    s.table_t = t;
    s.table_rows = 3;
    s.normalize = 1;
    s.scale = 2.0f;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), 0);
    double mean = 7.0, std = sqrt(35.0 / 3.0); /* of 2,4,..,12 */
    ck_assert_double_eq_tol((double)d.x_mean, mean, 1e-6);
    ck_assert_double_eq_tol((double)d.x_std, std, 1e-6);
    float bx[6];
    int32_t bt[3];
    nnrt_gather(&d, NULL, 0, 3, bx, bt);
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq_tol((double)bx[i], (2.0 * (i + 1) - mean) / std, 1e-6);
    ck_assert_int_eq(bt[1], 1);
    nnrt_data_free(&d);
    static const float same[4] = { 3, 3, 3, 3 }; /* constant input: std taken as 1 */
    s.table_x = same;
    s.table_rows = 2;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), 0);
    ASSERT_FEQ(d.x_std, 1.0f);
    nnrt_gather(&d, NULL, 0, 1, bx, bt);
    ASSERT_FEQ(bx[0], 0.0f);
    nnrt_data_free(&d);
}
END_TEST

START_TEST(test_spiral_deterministic_and_seeded)
{
    float x1[600], x2[600], x3[600], l1[300], l2[300], l3[300];
    ck_assert_int_eq(nnrt_spiral(3, 100, 1984, x1, l1), 0);
    ck_assert_int_eq(nnrt_spiral(3, 100, 1984, x2, l2), 0);
    ck_assert_int_eq(nnrt_spiral(3, 100, 2020, x3, l3), 0);
    ck_assert_mem_eq(x1, x2, sizeof x1);
    ck_assert_mem_eq(l1, l2, sizeof l1);
    ck_assert(memcmp(x1, x3, sizeof x1) != 0);
    ck_assert_int_eq(nnrt_spiral(0, 100, 1, x1, l1), -1);
}
END_TEST

START_TEST(test_spiral_one_hot_and_shape_errors)
{
    NnrtSource s = spiral_source(1);
    NnrtData d;
    char err[256];
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 3, 0, &d, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(d.t_dim, 3);
    ck_assert_ptr_null(d.tc);
    for (size_t r = 0; r < d.rows; r++)
        for (size_t k = 0; k < 3; k++)
            ASSERT_FEQ(d.tf[r * 3 + k], k == r / 100 ? 1.0f : 0.0f);
    nnrt_data_free(&d);
    ck_assert_int_eq(nnrt_data_load(&s, 3, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "spiral(classes=3, points=100, seed=1)");
    ASSERT_HAS(err, "rows have 2 inputs, the model's input has 3");
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 2, 0, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "row 201: class id 2 is outside [0, 2) for a model with 2 classes; the labels run 0..2");
    s.one_hot = 3;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "one_hot=3");
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 4, 0, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "one_hot=3 does not match the model's label f32[B,4]");
}
END_TEST

START_TEST(test_gates)
{
    static const char *const names[] = { "and", "or", "nand", "xor" };
    static const float want[4][4] = { { 0, 0, 0, 1 }, { 0, 1, 1, 1 }, { 1, 1, 1, 0 }, { 0, 1, 1, 0 } };
    for (int g = 0; g < 4; g++) {
        NnrtSource s;
        NnrtData d;
        char err[256];
        nnrt_source_init(&s);
        s.kind = NNRT_SRC_GATE;
        s.gate = names[g];
        ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 1, 0, &d, NULL, err, sizeof err), 0);
        ck_assert_uint_eq(d.rows, 4);
        for (int i = 0; i < 4; i++) {
            ASSERT_FEQ(d.xf[2 * i], (float)(i >> 1));
            ASSERT_FEQ(d.xf[2 * i + 1], (float)(i & 1));
            ASSERT_FEQ(d.tf[i], want[g][i]);
        }
        nnrt_data_free(&d);
        ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), 0);
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(d.tc[i], (int)want[g][i]);
        nnrt_data_free(&d);
    }
}
END_TEST

START_TEST(test_xor_and_unknown_gate)
{
    NnrtSource s;
    NnrtData d;
    char err[256];
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_XOR;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), 0);
    ck_assert_int_eq(d.tc[0], 0);
    ck_assert_int_eq(d.tc[1], 1);
    ck_assert_int_eq(d.tc[2], 1);
    ck_assert_int_eq(d.tc[3], 0);
    nnrt_data_free(&d);
    s.kind = NNRT_SRC_GATE;
    s.gate = "nor";
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "gate(\"nor\"): unknown gate");
}
END_TEST

START_TEST(test_table_sources)
{
    static const float x[6] = { 1, 2, 3, 4, 5, 6 }, ids[3] = { 2, 0, 1 };
    static const float rows[6] = { 0.5f, 1, 0.25f, 0, 1, 1 };
    NnrtSource s;
    NnrtData d;
    char err[256];
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_TABLE;
    s.table_x = x;
    s.table_t = ids;
    s.table_rows = 3;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err), 0);
    ck_assert_int_eq(d.tc[0], 2);
    ck_assert_int_eq(d.classes, 3);
    nnrt_data_free(&d);
    s.table_t = rows;
    s.table_t_dim = 2;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 2, 0, &d, NULL, err, sizeof err), 0);
    ck_assert_mem_eq(d.tf, rows, sizeof rows);
    nnrt_data_free(&d);
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 3, 0, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "label rows have width 2, the model's label is f32[B,3]");
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "i32[B] class ids");
    s.table_t = x;
    s.table_t_dim = 1;
    static const float bad[3] = { 0.5f, 1, 2 };
    s.table_t = bad;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "row 1: label 0.5 is not a class id");
}
END_TEST

START_TEST(test_describe)
{
    NnrtSource s;
    char buf[256];
    nnrt_source_init(&s);
    nnrt_source_describe(&s, buf, sizeof buf);
    ck_assert_str_eq(buf, "none");
    s.kind = NNRT_SRC_IDX;
    s.images = "a.gz";
    s.labels = "b.gz";
    s.scale = 0.5f;
    s.normalize = 1;
    s.flatten = 1;
    s.one_hot = 10;
    nnrt_source_describe(&s, buf, sizeof buf);
    ck_assert_str_eq(buf, "idx(images=\"a.gz\", labels=\"b.gz\", scale=0.5, normalize=true, "
                          "flatten=true, one_hot=10)");
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_XOR;
    nnrt_source_describe(&s, buf, sizeof buf);
    ck_assert_str_eq(buf, "xor()");
    nnrt_source_describe(&s, buf, 3); /* truncates safely */
    ck_assert_str_eq(buf, "xo");
}
END_TEST

/* ---- IDX ---------------------------------------------------------------------- */
static void check_idx_load(int gzip)
{
    const char *im = tpath("im.idx"), *lb = tpath("lb.idx");
    write_mnist_like(im, lb, gzip);
    NnrtSource s = idx_source(im, lb);
    NnrtData d;
    char err[256];
    s.scale = 1.0f / 255.0f;
    ck_assert_int_eq(nnrt_data_load(&s, 12, NNRT_LABEL_CLASS, 1, 5, &d, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(d.rows, 5);
    ck_assert_ptr_nonnull(d.xb); /* bytes stay bytes */
    ck_assert_ptr_null(d.xf);
    ck_assert_mem_eq(d.xb, img_bytes, 60);
    ck_assert_int_eq(d.classes, 5);
    float x[24];
    int32_t t[2];
    uint32_t perm[5] = { 4, 2, 0, 1, 3 };
    nnrt_gather(&d, perm, 1, 2, x, t);
    ck_assert_int_eq(t[0], 2);
    ck_assert_int_eq(t[1], 0);
    for (int j = 0; j < 12; j++) {
        ASSERT_FEQ(x[j], (float)img_bytes[24 + j] * (1.0f / 255.0f));
        ASSERT_FEQ(x[12 + j], (float)img_bytes[j] * (1.0f / 255.0f));
    }
    nnrt_data_free(&d);
}

START_TEST(test_idx_raw)
{
    check_idx_load(0);
}
END_TEST

START_TEST(test_idx_gzip)
{
    check_idx_load(1);
}
END_TEST

START_TEST(test_idx_normalize_and_test_stats)
{
    const char *im = tpath("im.idx.gz"), *lb = tpath("lb.idx.gz");
    write_mnist_like(im, lb, 1);
    NnrtSource s = idx_source(im, lb);
    NnrtData d, t;
    char err[256];
    s.scale = 0.5f;
    s.normalize = 1;
    s.one_hot = 5;
    ck_assert_int_eq(nnrt_data_load(&s, 12, NNRT_LABEL_FLOAT, 5, 0, &d, NULL, err, sizeof err), 0);
    double sum = 0, sq = 0;
    for (int i = 0; i < 60; i++)
        sum += img_bytes[i] * 0.5;
    double mean = sum / 60;
    for (int i = 0; i < 60; i++)
        sq += (img_bytes[i] * 0.5 - mean) * (img_bytes[i] * 0.5 - mean);
    double std = sqrt(sq / 60);
    ck_assert_double_eq_tol((double)d.x_mean, mean, 1e-4);
    ck_assert_double_eq_tol((double)d.x_std, std, 1e-4);
    float x[60], y[25];
    nnrt_gather(&d, NULL, 0, 5, x, y);
    double m2 = 0, s2 = 0;
    for (int i = 0; i < 60; i++) {
        ck_assert_double_eq_tol((double)x[i], (img_bytes[i] * 0.5 - mean) / std, 1e-5);
        m2 += (double)x[i];
        s2 += (double)x[i] * (double)x[i];
    }
    ck_assert_double_eq_tol(m2 / 60, 0.0, 1e-5);
    ck_assert_double_eq_tol(s2 / 60, 1.0, 1e-4);
    for (int r = 0; r < 5; r++)
        for (int k = 0; k < 5; k++)
            ASSERT_FEQ(y[r * 5 + k], r == k ? 1.0f : 0.0f);
    /* a test set takes the training figures */
    s.scale = 0.5f;
    ck_assert_int_eq(nnrt_data_load(&s, 12, NNRT_LABEL_FLOAT, 5, 0, &t, &d, err, sizeof err), 0);
    ASSERT_FEQ(t.x_mean, d.x_mean);
    ASSERT_FEQ(t.x_std, d.x_std);
    nnrt_data_free(&t);
    d.x_mean = 1.0f; /* pretend the training set differed */
    ck_assert_int_eq(nnrt_data_load(&s, 12, NNRT_LABEL_FLOAT, 5, 0, &t, &d, err, sizeof err), 0);
    ASSERT_FEQ(t.x_mean, 1.0f);
    nnrt_data_free(&t);
    nnrt_data_free(&d);
}
END_TEST

/* Loads images im with labels lb for a model of in_dim; the error text. */
static const char *idx_error(const char *im, const char *lb, size_t in_dim)
{
    static char err[512];
    NnrtSource s = idx_source(im, lb);
    NnrtData d;
    ck_assert_int_eq(nnrt_data_load(&s, in_dim, NNRT_LABEL_CLASS, 1, 5, &d, NULL, err, sizeof err), -1);
    ck_assert_ptr_null(d.xb);
    ck_assert_ptr_null(d.tc);
    return err;
}

START_TEST(test_idx_missing_file)
{
    const char *im = tpath("im.idx"), *lb = tpath("lb.idx");
    write_mnist_like(im, lb, 0);
    const char *missing = tpath("nope.idx");
    const char *e = idx_error(missing, lb, 12);
    ASSERT_HAS(e, missing);
    ASSERT_HAS(e, "No such file");
    e = idx_error(im, missing, 12);
    ASSERT_HAS(e, missing);
}
END_TEST

START_TEST(test_idx_wrong_magic)
{
    const char *im = tpath("im.idx"), *lb = tpath("lb.idx"), *txt = tpath("x.txt");
    write_mnist_like(im, lb, 0);
    write_text(txt, "hello, this is not an idx file\n");
    const char *e = idx_error(lb, lb, 12); /* a labels file where images go */
    ASSERT_HAS(e, lb);
    ASSERT_HAS(e, "wrong IDX magic 0x00000801 (want 0x00000803 for images)");
    e = idx_error(im, im, 12);
    ASSERT_HAS(e, "wrong IDX magic 0x00000803 (want 0x00000801 for labels)");
    e = idx_error(txt, lb, 12);
    ASSERT_HAS(e, txt);
    ASSERT_HAS(e, "not an IDX file (magic 0x68656c6c");
    unsigned char f32[8] = { 0, 0, 0x0D, 3, 0, 0, 0, 0 };
    write_bytes(txt, 0, f32, 8);
    e = idx_error(txt, lb, 12);
    ASSERT_HAS(e, "IDX element type 0x0d is not supported");
}
END_TEST

START_TEST(test_idx_truncated)
{
    const char *im = tpath("im.idx.gz"), *lb = tpath("lb.idx"), *hd = tpath("hd.idx");
    write_mnist_like(im, lb, 1);
    write_idx(im, 1, 3, img_dims, img_bytes, 7); /* gzip, 7 bytes short */
    const char *e = idx_error(im, lb, 12);
    ASSERT_HAS(e, im);
    ASSERT_HAS(e, "truncated file (53 of 60 data bytes for 5x3x4)");
    write_idx(hd, 0, 3, img_dims, img_bytes, 60 + 5); /* cut inside the dims */
    e = idx_error(hd, lb, 12);
    ASSERT_HAS(e, hd);
    ASSERT_HAS(e, "truncated IDX header");
    write_bytes(hd, 0, (const unsigned char *)"\0\0", 2);
    e = idx_error(hd, lb, 12);
    ASSERT_HAS(e, "not an IDX file (only 2 bytes)");
}
END_TEST

START_TEST(test_idx_wrong_image_size)
{
    const char *im = tpath("im.idx"), *lb = tpath("lb.idx");
    write_mnist_like(im, lb, 0);
    const char *e = idx_error(im, lb, 100);
    ASSERT_HAS(e, im);
    ASSERT_HAS(e, "image size 3x4=12 does not match the model's input 100");
}
END_TEST

START_TEST(test_idx_label_count_mismatch)
{
    const char *im = tpath("im.idx"), *lb = tpath("lb.idx");
    write_mnist_like(im, lb, 0);
    uint32_t four[1] = { 4 };
    write_idx(lb, 0, 1, four, lab_bytes, 0);
    const char *e = idx_error(im, lb, 12);
    ASSERT_HAS(e, lb);
    ASSERT_HAS(e, "4 labels, but");
    ASSERT_HAS(e, "has 5 images");
}
END_TEST

START_TEST(test_idx_read_direct)
{
    const char *im = tpath("im.idx");
    write_idx(im, 0, 3, img_dims, img_bytes, 0);
    NnrtIdx x;
    char err[256];
    ck_assert_int_eq(nnrt_idx_read(im, 3, 0, &x, err, sizeof err), 0);
    ck_assert_uint_eq(x.count, 5);
    ck_assert_uint_eq(x.item, 12);
    ck_assert_uint_eq(x.dims[1], 3);
    ck_assert_uint_eq(x.dims[2], 4);
    nnrt_idx_free(&x);
    ck_assert_ptr_null(x.bytes);
}
END_TEST

START_TEST(test_idx_absurd_dims)
{
    const char *im = tpath("im.idx");
    unsigned char hdr[16] = { 0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                              0xFF, 0xFF, 0xFF, 0xFF };
    write_bytes(im, 0, hdr, 16);
    NnrtIdx x;
    char err[256];
    ck_assert_int_eq(nnrt_idx_read(im, 3, 0, &x, err, sizeof err), -1);
    ASSERT_HAS(err, "IDX dimensions too large");
}
END_TEST

/* ---- CSV ---------------------------------------------------------------------- */
static NnrtSource csv_source(const char *path, int label, int header)
{
    NnrtSource s;
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_CSV;
    s.csv_path = path;
    s.csv_label = label;
    s.csv_header = header;
    return s;
}

START_TEST(test_csv_good)
{
    const char *p = tpath("good.csv");
    write_text(p, "a,b,label\r\n1.5, 2 ,0\r\n\r\n-3,4e-1,2\n  \n5,6,1");
    NnrtSource s = csv_source(p, -1, 1);
    NnrtData d;
    char err[256];
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(d.rows, 3);
    ck_assert_int_eq(d.classes, 3);
    static const float want[6] = { 1.5f, 2, -3, 0.4f, 5, 6 };
    ck_assert_mem_eq(d.xf, want, sizeof want);
    ck_assert_int_eq(d.tc[0], 0);
    ck_assert_int_eq(d.tc[1], 2);
    ck_assert_int_eq(d.tc[2], 1);
    nnrt_data_free(&d);
    /* label first, as floats */
    s.csv_label = 0;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 1, 0, &d, NULL, err, sizeof err), 0);
    ASSERT_FEQ(d.tf[0], 1.5f);
    ASSERT_FEQ(d.xf[0], 2.0f);
    ASSERT_FEQ(d.xf[1], 0.0f);
    nnrt_data_free(&d);
    /* one_hot from the last column */
    s.csv_label = -1;
    s.one_hot = 3;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 3, 0, &d, NULL, err, sizeof err), 0);
    ASSERT_FEQ(d.tf[1 * 3 + 2], 1.0f);
    nnrt_data_free(&d);
}
END_TEST

/* An i32 input's ids (NnrtSource.ids = V): integers from their digits,
 * each in [0, V), else one line with the file, line and column; a table's
 * values the same; scale, normalize and other sources refused. */
START_TEST(test_csv_ids)
{
    const char *p = tpath("ids.csv");
    write_text(p, "w0,w1,t\n3,7.0,1\n0,19,0\n");
    NnrtSource s = csv_source(p, -1, 1);
    s.ids = 20;
    NnrtData d;
    char err[256];
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), 0);
    static const float want[4] = { 3, 7, 0, 19 };
    ck_assert_mem_eq(d.xf, want, sizeof want);
    nnrt_data_free(&d);
    static const struct { const char *text, *msg; } bad[] = {
        { "w0,w1,t\n3,7,1\n0,20,0\n", "line 3, column 2: id 20 is outside [0, 20)" },
        { "w0,w1,t\n3,-1,1\n", "line 2, column 2: id -1 is outside [0, 20)" },
        { "w0,w1,t\n3,7e0,1\n", "line 2, column 2: '7e0' is not an id" },
        { "w0,w1,t\n3,7.5,1\n", "line 2, column 2: '7.5' is not an id" },
        { "w0,w1,t\n99999999999999999999,1,1\n", "line 2, column 1: id 99999999999999999999 is outside" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(p, bad[i].text);
        ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), -1);
        ASSERT_HAS(err, p);
        ASSERT_HAS(err, bad[i].msg);
    }
    /* no scale or normalize on ids, and no more than 2^24 of them */
    write_text(p, "w0,w1,t\n3,7,1\n");
    s.normalize = NNRT_NORM_ALL;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "neither scaled nor normalized");
    s.normalize = NNRT_NORM_NONE;
    s.ids = ((size_t)1 << 24) + 1;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "at most 2^24");
    /* a table: integers in [0, V) */
    static const float tx[4] = { 1, 2, 3, 4 }, tt[2] = { 0, 1 };
    NnrtSource t;
    nnrt_source_init(&t);
    t.kind = NNRT_SRC_TABLE;
    t.table_x = tx;
    t.table_t = tt;
    t.table_rows = 2;
    t.ids = 5;
    ck_assert_int_eq(nnrt_data_load(&t, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), 0);
    nnrt_data_free(&d);
    t.ids = 4;
    ck_assert_int_eq(nnrt_data_load(&t, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "row 2, input 2: 4 is not an id in [0, 4)");
}
END_TEST

START_TEST(test_csv_no_header)
{
    const char *p = tpath("nh.csv");
    write_text(p, "1,2,3\n4,5,6\n");
    NnrtCsv c;
    char err[256];
    ck_assert_int_eq(nnrt_csv_read(p, 0, 1, 0, &c, err, sizeof err), 0);
    ck_assert_uint_eq(c.rows, 2);
    ck_assert_uint_eq(c.cols, 3);
    ASSERT_FEQ(c.lab[1], 5.0f);
    ASSERT_FEQ(c.x[2], 4.0f);
    ASSERT_FEQ(c.x[3], 6.0f);
    nnrt_csv_free(&c);
}
END_TEST

/* The error for CSV text loaded for a 2-input class model. */
static const char *csv_error(const char *path, const char *text, int label_kind)
{
    static char err[512];
    write_text(path, text);
    NnrtSource s = csv_source(path, -1, 1);
    NnrtData d;
    ck_assert_int_eq(nnrt_data_load(&s, 2, label_kind, 1, 3, &d, NULL, err, sizeof err), -1);
    ck_assert_ptr_null(d.xf);
    return err;
}

START_TEST(test_csv_errors)
{
    const char *p = tpath("bad.csv");
    const char *e = csv_error(p, "a,b,c\n1,2,0\n3,x4,1\n", NNRT_LABEL_CLASS);
    ASSERT_HAS(e, p);
    ASSERT_HAS(e, "line 3, column 2: 'x4' is not a number");
    e = csv_error(p, "a,b,c\n1,2,0\n\n3,1\n", NNRT_LABEL_CLASS);
    ASSERT_HAS(e, "line 4 has 2 fields, expected 3 (as on line 2)");
    e = csv_error(p, "a,b,c\n1,2,0.5\n", NNRT_LABEL_CLASS);
    ASSERT_HAS(e, "line 2, column 3: label '0.5' is not a class id");
    e = csv_error(p, "a,b,c\n1,2,0.5\n1,,1\n", NNRT_LABEL_FLOAT);
    ASSERT_HAS(e, "line 3, column 2: '' is not a number");
    e = csv_error(p, "a,b,c\n1,2,3 4\n", NNRT_LABEL_FLOAT);
    ASSERT_HAS(e, "line 2, column 3: '3 4' is not a number");
    e = csv_error(p, "a,b,c\n1,nan,1\n", NNRT_LABEL_FLOAT);
    ASSERT_HAS(e, "'nan' is not a number");
    e = csv_error(p, "a,b,c\n\n", NNRT_LABEL_FLOAT);
    ASSERT_HAS(e, "no data rows");
    e = csv_error(p, "a,b,c,d\n1,2,3,4\n", NNRT_LABEL_FLOAT);
    ASSERT_HAS(e, "rows have 3 features (and a label), the model's input has 2");
    e = csv_error(tpath("missing.csv"), "", NNRT_LABEL_FLOAT); /* written empty: no rows */
    ASSERT_HAS(e, "no data rows");
}
END_TEST

START_TEST(test_csv_missing_and_label_range)
{
    NnrtCsv c;
    char err[256];
    const char *p = tpath("none.csv");
    ck_assert_int_eq(nnrt_csv_read(p, 1, -1, 0, &c, err, sizeof err), -1);
    ASSERT_HAS(err, p);
    ASSERT_HAS(err, "No such file");
    const char *q = tpath("r.csv");
    write_text(q, "1,2\n");
    ck_assert_int_eq(nnrt_csv_read(q, 0, 2, 0, &c, err, sizeof err), -1);
    ASSERT_HAS(err, "label column 2 is out of range for 2 columns");
    ck_assert_int_eq(nnrt_csv_read(q, 0, -3, 0, &c, err, sizeof err), -1);
    write_text(q, "1\n");
    ck_assert_int_eq(nnrt_csv_read(q, 0, -1, 0, &c, err, sizeof err), -1);
    ASSERT_HAS(err, "need features and a label");
}
END_TEST

START_TEST(test_gather_labels_float_rows)
{
    static const float x[6] = { 1, 2, 3, 4, 5, 6 }, t[6] = { 1, 0, 0, 1, 1, 1 };
    NnrtSource s;
    NnrtData d;
    char err[256];
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_TABLE;
    s.table_x = x;
    s.table_t = t;
    s.table_rows = 3;
    s.table_t_dim = 2;
    s.scale = 2.0f;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 2, 0, &d, NULL, err, sizeof err), 0);
    float bx[4], bt[4];
    nnrt_gather(&d, NULL, 1, 2, bx, bt);
    ASSERT_FEQ(bx[0], 6.0f);
    ASSERT_FEQ(bx[3], 12.0f);
    ck_assert_mem_eq(bt, t + 2, sizeof bt);
    nnrt_gather(&d, NULL, 0, 1, bx, NULL); /* labels optional */
    ASSERT_FEQ(bx[0], 2.0f);
    nnrt_data_free(&d);
}
END_TEST

/* ---- hostile files ----------------------------------------------------------- */

/* The error for CSV text as an i32 class-id set of K classes, 2 inputs. */
static const char *csv_class_error(const char *path, const char *text, size_t K)
{
    static char err[512];
    write_text(path, text);
    NnrtSource s = csv_source(path, -1, 1);
    NnrtData d;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, K, &d, NULL, err, sizeof err), -1);
    ck_assert_ptr_null(d.tc);
    ck_assert_ptr_null(d.xf);
    return err;
}

START_TEST(test_csv_class_ids_against_k)
{
    const char *p = tpath("ids.csv");
    /* 1-based labels for 3 classes: the 3 on line 5 is out */
    const char *e = csv_class_error(p, "a,b,c\n1,2,1\n1,2,2\n\n1,2,3\n", 3);
    ASSERT_HAS(e, p);
    ASSERT_HAS(e, "line 5, column 3: class id 3 is outside [0, 3) for a model with 3 classes; "
                  "are the labels 1-based?");
    e = csv_class_error(p, "a,b,c\n1,2,0\n1,2,-1\n", 3);
    ASSERT_HAS(e, "line 3, column 3: class id -1 is outside [0, 3)");
    ASSERT_HAS(e, "class ids count from 0");
    e = csv_class_error(p, "a,b,c\n1,2,0\n1,2,7\n", 3);
    ASSERT_HAS(e, "line 3, column 3: class id 7 is outside [0, 3)");
    e = csv_class_error(p, "a,b,c\n1,2,0\n1,2,1e0\n", 3);
    ASSERT_HAS(e, "line 3, column 3: label '1e0' is not a class id (an integer in [0, 3))");
    e = csv_class_error(p, "a,b,c\n1,2,1.5\n", 3);
    ASSERT_HAS(e, "label '1.5' is not a class id");
    /* one-hot from ids: K is the label width */
    write_text(p, "a,b,c\n1,2,0\n1,2,3\n");
    NnrtSource s = csv_source(p, -1, 1);
    NnrtData d;
    char err[512];
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 3, 0, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "line 3, column 3: class id 3 is outside [0, 3)");
    /* regression labels (f32 of width 1) are numbers, not ids */
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 1, 0, &d, NULL, err, sizeof err), 0);
    ASSERT_FEQ(d.tf[1], 3.0f);
    nnrt_data_free(&d);
}
END_TEST

START_TEST(test_csv_class_ids_exact)
{
    /* 16777217 rounds to 16777216 in a float: read as an integer it is
     * 16777217, outside [0, 2^24) */
    const char *p = tpath("big.csv");
    const char *e = csv_class_error(p, "a,b,c\n1,2,0\n1,2,16777217\n", (size_t)1 << 24);
    ASSERT_HAS(e, "line 3, column 3: class id 16777217 is outside [0, 16777216)");
    e = csv_class_error(p, "a,b,c\n1,2,0\n1,2,99999999999999999999999\n", 3);
    ASSERT_HAS(e, "class id 99999999999999999999999 is outside [0, 3)");
    write_text(p, "a,b,c\n1,2, 16777215 \n1,2,+2.000\n1,2,-0\n");
    NnrtSource s = csv_source(p, -1, 1);
    NnrtData d;
    char err[512];
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, (size_t)1 << 24, &d, NULL, err,
                                    sizeof err), 0);
    ck_assert_int_eq(d.tc[0], 16777215);
    ck_assert_int_eq(d.tc[1], 2);
    ck_assert_int_eq(d.tc[2], 0);
    nnrt_data_free(&d);
    /* a class count past 2^24 cannot be held exactly: refused */
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, ((size_t)1 << 24) + 1, &d, NULL,
                                    err, sizeof err), -1);
    ASSERT_HAS(err, "class count 16777217 is outside [1, 2^24]");
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 0, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "class count 0");
}
END_TEST

START_TEST(test_builtin_class_ids_against_k)
{
    static const float x[6] = { 1, 2, 3, 4, 5, 6 }, ids[3] = { 1, 2, 3 };
    NnrtSource s;
    NnrtData d;
    char err[512];
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_TABLE;
    s.table_x = x;
    s.table_t = ids;
    s.table_rows = 3;
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "table(3 rows): row 3: class id 3 is outside [0, 3) for a model with 3 classes; "
                    "the labels run 1..3: are they 1-based?");
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 4, &d, NULL, err, sizeof err), 0);
    nnrt_data_free(&d);
    s = spiral_source(1); /* ids 0..2 */
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "row 201: class id 2 is outside [0, 2)");
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_XOR; /* ids 0, 1 */
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 1, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "xor(): row 2: class id 1 is outside [0, 1)");
}
END_TEST

START_TEST(test_idx_class_ids_against_k)
{
    for (int gz = 0; gz < 2; gz++) {
        const char *im = tpath(gz ? "im.gz" : "im.idx"), *lb = tpath(gz ? "lb.gz" : "lb.idx");
        static const unsigned char one_based[5] = { 1, 2, 3, 4, 5 };
        write_mnist_like(im, lb, gz);
        write_idx(lb, gz, 1, lab_dims, one_based, 0);
        NnrtSource s = idx_source(im, lb);
        NnrtData d;
        char err[512];
        ck_assert_int_eq(nnrt_data_load(&s, 12, NNRT_LABEL_CLASS, 1, 5, &d, NULL, err, sizeof err), -1);
        ASSERT_HAS(err, lb);
        ASSERT_HAS(err, gz ? "row 5 (byte 12 inflated): class id 5 is outside [0, 5) for a model with 5 "
                             "classes; the labels run 1..5: are they 1-based?"
                           : "row 5 (byte 12): class id 5 is outside [0, 5) for a model with 5 "
                             "classes; the labels run 1..5: are they 1-based?");
        ck_assert_ptr_null(d.xb);
        ck_assert_int_eq(nnrt_data_load(&s, 12, NNRT_LABEL_CLASS, 1, 6, &d, NULL, err, sizeof err), 0);
        ck_assert_int_eq(d.tc[4], 5);
        nnrt_data_free(&d);
        /* one-hot rows of width 5 from the same ids */
        ck_assert_int_eq(nnrt_data_load(&s, 12, NNRT_LABEL_FLOAT, 5, 0, &d, NULL, err, sizeof err), -1);
        ASSERT_HAS(err, "class id 5 is outside [0, 5)");
    }
}
END_TEST

START_TEST(test_empty_sets)
{
    const char *im = tpath("im.idx"), *lb = tpath("lb.idx");
    static const uint32_t none3[3] = { 0, 3, 4 }, none1[1] = { 0 };
    write_idx(im, 0, 3, none3, img_bytes, 0);
    write_idx(lb, 0, 1, none1, lab_bytes, 0);
    NnrtSource s = idx_source(im, lb);
    NnrtData d;
    char err[512];
    s.normalize = 1; /* a mean over no values would be NaN */
    ck_assert_int_eq(nnrt_data_load(&s, 12, NNRT_LABEL_CLASS, 1, 5, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, im);
    ASSERT_HAS(err, "no images (the IDX header's count is 0): an empty data set");
    ck_assert_ptr_null(d.xb);
    const char *e = csv_class_error(tpath("h.csv"), "a,b,c\n", 3); /* CSV: refused as before */
    ASSERT_HAS(e, "no data rows");
}
END_TEST

/* Images (5x3x4, gzip) into a file, then edited: the compressed bytes are
 * cut by `cut` at the end and `tail` is appended. */
static void write_gz_edited(const char *path, const char *spare, size_t cut,
                            const unsigned char *tail, size_t tail_n)
{
    write_mnist_like(path, spare, 1);
    size_t n;
    unsigned char *b = read_bytes(path, &n);
    ck_assert_uint_gt(n, cut);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n - cut, f), n - cut);
    if (tail_n)
        ck_assert_uint_eq(fwrite(tail, 1, tail_n, f), tail_n);
    fclose(f);
    free(b);
}

START_TEST(test_idx_gzip_to_the_end)
{
    const char *im = tpath("im.gz"), *lb = tpath("lb.gz");
    NnrtIdx x;
    char err[512];
    for (size_t cut = 1; cut <= 8; cut++) { /* the CRC/length trailer, torn */
        write_gz_edited(im, lb, cut, NULL, 0);
        ck_assert_int_eq(nnrt_idx_read(im, 3, 12, &x, err, sizeof err), -1);
        ASSERT_HAS(err, im);
        ASSERT_HAS(err, "truncated gzip stream");
        ck_assert_ptr_null(x.bytes);
    }
    write_gz_edited(im, lb, 0, (const unsigned char *)"garbage", 7);
    ck_assert_int_eq(nnrt_idx_read(im, 3, 12, &x, err, sizeof err), -1);
    ASSERT_HAS(err, "7 bytes of trailing data after the gzip stream ends at byte");
    write_gz_edited(im, lb, 0, (const unsigned char *)"\0\0\0\0", 4);
    ck_assert_int_eq(nnrt_idx_read(im, 3, 12, &x, err, sizeof err), -1);
    ASSERT_HAS(err, "4 bytes of trailing data");
    /* a wrong CRC (the trailer's first byte flipped) */
    write_gz_edited(im, lb, 0, NULL, 0);
    size_t n;
    unsigned char *b = read_bytes(im, &n);
    b[n - 8] ^= 0xFF;
    write_bytes(im, 0, b, n);
    ck_assert_int_eq(nnrt_idx_read(im, 3, 12, &x, err, sizeof err), -1);
    ASSERT_HAS(err, "corrupt gzip stream");
    ASSERT_HAS(err, "incorrect data check");
    free(b);
}
END_TEST

START_TEST(test_idx_gzip_members_and_extra_data)
{
    /* two gzip members, the header and part of the data in the first: a
     * valid gzip file, read whole */
    const char *im = tpath("im.gz"), *part = tpath("part.gz");
    unsigned char buf[128];
    size_t n = 0;
    for (int i = 0; i < 60; i++)
        img_bytes[i] = (unsigned char)(10 * (i / 12) + i % 12 + 100);
    buf[n++] = 0, buf[n++] = 0, buf[n++] = 8, buf[n++] = 3;
    for (int i = 0; i < 3; i++)
        for (int k = 3; k >= 0; k--)
            buf[n++] = (unsigned char)(img_dims[i] >> (8 * k));
    memcpy(buf + n, img_bytes, 60);
    write_bytes(im, 1, buf, n + 25);
    write_bytes(part, 1, buf + n + 25, 35);
    size_t a, b;
    unsigned char *first = read_bytes(im, &a), *second = read_bytes(part, &b);
    unsigned char *both = malloc(a + b);
    memcpy(both, first, a);
    memcpy(both + a, second, b);
    write_bytes(im, 0, both, a + b);
    NnrtIdx x;
    char err[512];
    ck_assert_int_eq(nnrt_idx_read(im, 3, 12, &x, err, sizeof err), 0);
    ck_assert_mem_eq(x.bytes, img_bytes, 60);
    nnrt_idx_free(&x);
    /* more inflated data than the header announces */
    buf[n + 60] = 7;
    write_bytes(im, 1, buf, n + 61);
    ck_assert_int_eq(nnrt_idx_read(im, 3, 12, &x, err, sizeof err), -1);
    ASSERT_HAS(err, "more data after the 60 data bytes the header (5x3x4) announces");
    write_bytes(im, 0, buf, n + 61); /* the same, raw */
    ck_assert_int_eq(nnrt_idx_read(im, 3, 12, &x, err, sizeof err), -1);
    ASSERT_HAS(err, "1 bytes after the data (the header says 5x3x4, 60 data bytes from byte 16)");
    free(first);
    free(second);
    free(both);
}
END_TEST

/* An IDX header (16 bytes, raw or gzip) claiming count x 28 x 28 images. */
static void write_claim(const char *path, int gzip, uint32_t count)
{
    const uint32_t dims[3] = { count, 28, 28 };
    unsigned char h[16] = { 0, 0, 8, 3 };
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++)
            h[4 + 4 * i + k] = (unsigned char)(dims[i] >> (24 - 8 * k));
    write_bytes(path, gzip, h, 16);
}

START_TEST(test_idx_header_checked_before_allocating)
{
    const char *im = tpath("huge.idx"), *gz = tpath("huge.gz");
    NnrtIdx x;
    char err_raw[512], err_gz[512], err_item[512];
    uint32_t count = (uint32_t)((((uint64_t)1 << 34) - 1) / 784); /* 16 GiB of images */
    write_claim(im, 0, count);
    write_claim(gz, 1, count);
    rlim_t old = limit_memory((rlim_t)1 << 30);
    int rc_raw = nnrt_idx_read(im, 3, 784, &x, err_raw, sizeof err_raw);
    int rc_gz = nnrt_idx_read(gz, 3, 784, &x, err_gz, sizeof err_gz);
    int rc_item = nnrt_idx_read(im, 3, 100, &x, err_item, sizeof err_item);
    restore_memory(old);
    char want[128];
    ck_assert_int_eq(rc_raw, -1);
    snprintf(want, sizeof want, "truncated file (0 of %llu data bytes for %ux28x28)",
             (unsigned long long)count * 784, (unsigned)count);
    ASSERT_HAS(err_raw, want);
    ck_assert_int_eq(rc_gz, -1);
    snprintf(want, sizeof want, "the header says %ux28x28 (%llu data bytes), more than a gzip file of",
             (unsigned)count, (unsigned long long)count * 784);
    ASSERT_HAS(err_gz, want);
    ck_assert_int_eq(rc_item, -1); /* the model's input is checked first */
    ASSERT_HAS(err_item, "image size 28x28=784 does not match the model's input 100");
}
END_TEST

START_TEST(test_idx_gzip_buffer_grows_with_the_data)
{
    /* 2 MiB of incompressible bytes under a header claiming 2 GiB of
     * images: within deflate's 1032:1, so only the data that arrives may
     * be allocated (under a 1 GiB limit) */
    const char *gz = tpath("claim.gz");
    size_t body = (size_t)2 << 20;
    unsigned char *buf = malloc(16 + body);
    uint32_t count = (uint32_t)(((uint64_t)2 << 30) / 784), state = 12345;
    const uint32_t dims[3] = { count, 28, 28 };
    buf[0] = 0, buf[1] = 0, buf[2] = 8, buf[3] = 3;
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++)
            buf[4 + 4 * i + k] = (unsigned char)(dims[i] >> (24 - 8 * k));
    for (size_t i = 0; i < body; i++) {
        state = state * 1664525u + 1013904223u;
        buf[16 + i] = (unsigned char)(state >> 24);
    }
    write_bytes(gz, 1, buf, 16 + body);
    free(buf);
    NnrtIdx x;
    char err[512];
    rlim_t old = limit_memory((rlim_t)1 << 30);
    int rc = nnrt_idx_read(gz, 3, 784, &x, err, sizeof err);
    restore_memory(old);
    char want[128];
    snprintf(want, sizeof want, "truncated file (%zu of %llu data bytes for %ux28x28)", body,
             (unsigned long long)count * 784, (unsigned)count);
    ck_assert_int_eq(rc, -1);
    ASSERT_HAS(err, want);
}
END_TEST

/* IDX through a pipe (a FIFO a child writes the file into): no size to
 * check and no rewinding, the bytes read to tell gzip apart are kept. */
START_TEST(test_idx_from_a_pipe)
{
    const char *src = tpath("src.idx"), *fifo = tpath("fifo");
    for (int gz = 0; gz < 2; gz++) {
        write_mnist_like(src, tpath(gz ? "lb1" : "lb0"), gz);
        size_t n;
        unsigned char *b = read_bytes(src, &n);
        unlink(fifo);
        ck_assert_int_eq(mkfifo(fifo, 0600), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            FILE *f = fopen(fifo, "wb");
            _exit(f && fwrite(b, 1, n, f) == n && fclose(f) == 0 ? 0 : 1);
        }
        NnrtIdx x;
        char err[512];
        int rc = nnrt_idx_read(fifo, 3, 12, &x, err, sizeof err);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(rc == 0, "%s", err);
        ck_assert_int_eq(x.gzip, gz);
        ck_assert_mem_eq(x.bytes, img_bytes, 60);
        nnrt_idx_free(&x);
        free(b);
    }
}
END_TEST

START_TEST(test_csv_memory_follows_the_rows)
{
    /* a first row of 10,000 fields and 330,000 blank lines: 350 KB that a
     * reader sizing lines x fields would want 13 GB for */
    const char *p = tpath("wide.csv");
    size_t fields = 10000, blanks = 330000, n = 0;
    char *text = malloc(2 + 2 * fields + blanks + 1);
    n += (size_t)sprintf(text, "h\n");
    for (size_t i = 0; i < fields; i++)
        text[n++] = '0', text[n++] = i + 1 < fields ? ',' : '\n';
    memset(text + n, '\n', blanks);
    text[n + blanks] = '\0';
    write_text(p, text);
    free(text);
    NnrtCsv c;
    char err[512];
    rlim_t old = limit_memory((rlim_t)1 << 30);
    int rc = nnrt_csv_read(p, 1, -1, 0, &c, err, sizeof err);
    restore_memory(old);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(c.rows, 1);
    ck_assert_uint_eq(c.cols, fields);
    nnrt_csv_free(&c);
    /* many rows: the arrays grow and keep every row */
    text = malloc(5000 * 24);
    n = 0;
    for (int r = 0; r < 5000; r++)
        n += (size_t)sprintf(text + n, "%d,%d.5,%d\n", r, -r, r % 7);
    write_text(p, text);
    free(text);
    ck_assert_int_eq(nnrt_csv_read(p, 0, -1, 7, &c, err, sizeof err), 0);
    ck_assert_uint_eq(c.rows, 5000);
    for (int r = 0; r < 5000; r += 499) {
        ASSERT_FEQ(c.x[2 * r], (float)r);
        ASSERT_FEQ(c.x[2 * r + 1], r ? (float)-r - 0.5f : 0.5f); /* "-0.5" is written "0.5" */
        ASSERT_FEQ(c.lab[r], (float)(r % 7));
    }
    nnrt_csv_free(&c);
}
END_TEST

/* ---- quoting, class names, the header warning --------------------------------- */

START_TEST(test_csv_quoted_fields)
{
    const char *p = tpath("q.csv");
    /* a header with a quoted comma and a doubled quote; quoted numbers;
     * spaces outside and inside the quotes; an empty quoted feature is not
     * a number */
    write_text(p, "\"width, cm\",\"say \"\"hi\"\"\",label\n\"1.5\", 2 ,\"0\"\n  \" -3\" ,4e-1,\"2\"\r\n");
    NnrtCsv c;
    char err[512];
    ck_assert_msg(nnrt_csv_read(p, 1, -1, 3, &c, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(c.rows, 2);
    ck_assert_uint_eq(c.cols, 3);
    static const float want[4] = { 1.5f, 2, -3, 0.4f };
    ck_assert_mem_eq(c.x, want, sizeof want);
    ASSERT_FEQ(c.lab[0], 0.0f);
    ASSERT_FEQ(c.lab[1], 2.0f);
    ck_assert_ptr_null(c.names); /* numbers, quoted or not: class ids */
    nnrt_csv_free(&c);
    static const struct { const char *text, *want; } bad[] = {
        { "a,b,c\n1,2,0\n1,\"2,0\n", "line 3, column 2: a quoted field is not closed on its line" },
        { "a,b,c\n1,\"2\"x,0\n", "line 2, column 2: text after a closing quote" },
        { "a,b,c\n1,2\"5,0\n", "line 2, column 2: a quote inside an unquoted field" },
        { "a,b,c\n1,\"\",0\n", "line 2, column 2: '' is not a number" },
        { "a,b,c\n1,\"2,5\",0\n", "line 2, column 2: '2,5' is not a number" },
        { "a,b,c\n1,2,0\n\"1,2\",0\n", "line 3 has 2 fields, expected 3 (as on line 2)" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(p, bad[i].text);
        ck_assert_int_eq(nnrt_csv_read(p, 1, -1, 3, &c, err, sizeof err), -1);
        ASSERT_HAS(err, p);
        ASSERT_HAS(err, bad[i].want);
        ck_assert_ptr_null(c.x);
    }
}
END_TEST

START_TEST(test_csv_class_names)
{
    const char *p = tpath("names.csv"), *q = tpath("names_test.csv");
    write_text(p, "x1,x2,species\n1,2,setosa\n3,4,\"Iris virginica\"\n\n5,6, setosa \n"
                  "7,8,\"a, \"\"b\"\"\"\n");
    NnrtSource s = csv_source(p, -1, 1);
    NnrtData d, t;
    char err[512];
    ck_assert_msg(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(d.rows, 4);
    ck_assert_int_eq(d.tc[0], 0);
    ck_assert_int_eq(d.tc[1], 1);
    ck_assert_int_eq(d.tc[2], 0);
    ck_assert_int_eq(d.tc[3], 2);
    ck_assert_uint_eq(d.n_class_names, 3);
    ck_assert_str_eq(d.class_names[0], "setosa");
    ck_assert_str_eq(d.class_names[1], "Iris virginica");
    ck_assert_str_eq(d.class_names[2], "a, \"b\"");
    /* a test set maps through the training names, in the training order */
    write_text(q, "x1,x2,species\n1,1,\"a, \"\"b\"\"\"\n2,2,setosa\n");
    NnrtSource ts = csv_source(q, -1, 1);
    ck_assert_msg(nnrt_data_load(&ts, 2, NNRT_LABEL_CLASS, 1, 3, &t, &d, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_int_eq(t.tc[0], 2);
    ck_assert_int_eq(t.tc[1], 0);
    nnrt_data_free(&t);
    /* a name the training set does not have: file, line and the name */
    write_text(q, "x1,x2,species\n1,1,setosa\n2,2,Setosa\n");
    ck_assert_int_eq(nnrt_data_load(&ts, 2, NNRT_LABEL_CLASS, 1, 3, &t, &d, err, sizeof err), -1);
    ASSERT_HAS(err, q);
    ASSERT_HAS(err, "line 3, column 3: class name 'Setosa' is not one of the training set's 3 "
                    "(setosa, Iris virginica, a, \"b\")");
    /* numbers in a test file are names too when the training labels were */
    write_text(q, "x1,x2,species\n1,1,0\n");
    ck_assert_int_eq(nnrt_data_load(&ts, 2, NNRT_LABEL_CLASS, 1, 3, &t, &d, err, sizeof err), -1);
    ASSERT_HAS(err, "line 2, column 3: class name '0' is not one of the training set's 3");
    /* one-hot rows from names */
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 3, 0, &t, NULL, err, sizeof err), 0);
    ASSERT_FEQ(t.tf[3 * 3 + 2], 1.0f);
    ck_assert_uint_eq(t.n_class_names, 3);
    nnrt_data_free(&t);
    nnrt_data_free(&d);
}
END_TEST

START_TEST(test_csv_class_name_errors)
{
    const char *p = tpath("n.csv"), *q = tpath("n_test.csv");
    NnrtData d, t;
    char err[512];
    /* more names than classes: the name, the count and the output width */
    write_text(p, "a,b,c\n1,2,cat\n1,2,dog\n1,2,cat\n1,2,emu\n");
    NnrtSource s = csv_source(p, -1, 1);
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, p);
    ASSERT_HAS(err, "line 5, column 3: class name 'emu' is name number 3, but the model has 2 "
                    "classes (an output of width 2)");
    ck_assert_ptr_null(d.class_names);
    /* one name makes the whole column names: "1" is a name here */
    write_text(p, "a,b,c\n1,2,1\n1,2,0\n1,2,x\n");
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err), 0);
    ck_assert_int_eq(d.tc[0], 0);
    ck_assert_int_eq(d.tc[1], 1);
    ck_assert_int_eq(d.tc[2], 2);
    ck_assert_str_eq(d.class_names[0], "1");
    nnrt_data_free(&d);
    /* an empty label in a names column */
    write_text(p, "a,b,c\n1,2,x\n1,2,\"\"\n");
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "line 3, column 3: the label is empty");
    /* regression labels stay numbers: a name is not one */
    write_text(p, "a,b,c\n1,2,x\n");
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_FLOAT, 1, 0, &d, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "line 2, column 3: 'x' is not a number");
    /* numeric training labels: a test file of names is refused */
    write_text(p, "a,b,c\n1,2,0\n1,2,1\n");
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), 0);
    ck_assert_ptr_null(d.class_names);
    write_text(q, "a,b,c\n1,2,1\n1,2,dog\n");
    NnrtSource ts = csv_source(q, -1, 1);
    ck_assert_int_eq(nnrt_data_load(&ts, 2, NNRT_LABEL_CLASS, 1, 2, &t, &d, err, sizeof err), -1);
    ASSERT_HAS(err, q);
    ASSERT_HAS(err, "line 3, column 3: label 'dog' is a name, but the training set's labels are "
                    "class ids");
    nnrt_data_free(&d);
}
END_TEST

/* What fn wrote to stderr while it ran (at most 1 KB). */
static const char *stderr_of(int (*fn)(const char *), const char *arg, int *rc)
{
    static char buf[1024];
    const char *log = tpath("stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(log, "w+");
    ck_assert_ptr_nonnull(f);
    dup2(fileno(f), 2);
    *rc = fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int read_with_header(const char *path)
{
    NnrtCsv c;
    char err[512];
    int rc = nnrt_csv_read(path, 1, -1, 0, &c, err, sizeof err) == 0 ? (int)c.rows : -1;
    nnrt_csv_free(&c);
    return rc;
}

static int read_names_with_header(const char *path)
{
    NnrtCsv c;
    char err[512];
    int rc = nnrt_csv_read(path, 1, -1, 3, &c, err, sizeof err) == 0 ? (int)c.rows : -1;
    nnrt_csv_free(&c);
    return rc;
}

START_TEST(test_csv_header_warning)
{
    const char *p = tpath("h.csv");
    int rows;
    /* a first row of numbers under header=true: one warning, row skipped */
    write_text(p, "\n1, 2,\"3\"\n4,5,6\n7,8,9\n");
    const char *out = stderr_of(read_with_header, p, &rows);
    ck_assert_int_eq(rows, 2);
    char want[512];
    snprintf(want, sizeof want, "nnrt: %s: line 2 looks like data, not a header; it was skipped: "
             "use header=false if it is data\n", p);
    ck_assert_str_eq(out, want);
    /* a real header: nothing */
    write_text(p, "a,b,\"c, d\"\n4,5,6\n");
    out = stderr_of(read_with_header, p, &rows);
    ck_assert_int_eq(rows, 1);
    ck_assert_str_eq(out, "");
    /* one name among numbers is a header */
    write_text(p, "1,2,label\n4,5,6\n");
    out = stderr_of(read_with_header, p, &rows);
    ck_assert_str_eq(out, "");
    /* labels that are class names: a first row of numbers and a name is data */
    write_text(p, "5.1,3.5,setosa\n4.9,3.0,\"Iris virginica\"\n");
    out = stderr_of(read_names_with_header, p, &rows);
    ck_assert_int_eq(rows, 1);
    snprintf(want, sizeof want, "nnrt: %s: line 1 looks like data, not a header; it was skipped: "
             "use header=false if it is data\n", p);
    ck_assert_str_eq(out, want);
    write_text(p, "a,b,species\n4.9,3.0,setosa\n");
    out = stderr_of(read_names_with_header, p, &rows);
    ck_assert_str_eq(out, "");
}
END_TEST

/* ---- per-column normalization ------------------------------------------------- */

#define ASSERT_NEAR(a, b) ck_assert_msg(fabs((double)(a) - (double)(b)) < 1e-6, "%.9g != %.9g", \
                                        (double)(a), (double)(b))

static NnrtSource table_source(const float *x, const float *t, size_t rows)
{
    NnrtSource s;
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_TABLE;
    s.table_x = x;
    s.table_t = t;
    s.table_rows = rows;
    return s;
}

START_TEST(test_normalize_columns)
{
    /* scale 0.5: column 0 is 0.5 1.5 2.5 3.5 (mean 2, population variance
     * (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25), column 1 is 5 four times
     * (std 0: taken as 1, so it is only centred), column 2 is 2.5 .. 5.5
     * (mean 4, variance 1.25) */
    static const float x[12] = { 1, 10, 5, 3, 10, 7, 5, 10, 9, 7, 10, 11 }, t[4] = { 0, 1, 0, 1 };
    static const float tx[3] = { 9, 4, 1 }, tt[1] = { 1 };
    NnrtSource s = table_source(x, t, 4);
    s.scale = 0.5f;
    s.normalize = NNRT_NORM_COLUMN;
    NnrtData d, e;
    char err[256], desc[256];
    ck_assert_int_eq(nnrt_data_load(&s, 3, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), 0);
    ck_assert_int_eq(d.normalized, NNRT_NORM_COLUMN);
    ASSERT_NEAR(d.col_mean[0], 2.0);
    ASSERT_NEAR(d.col_std[0], sqrt(1.25));
    ASSERT_NEAR(d.col_mean[1], 5.0);
    ASSERT_FEQ(d.col_std[1], 1.0f);
    ASSERT_NEAR(d.col_mean[2], 4.0);
    ASSERT_NEAR(d.col_std[2], sqrt(1.25));
    float bx[6];
    nnrt_gather(&d, NULL, 0, 2, bx, NULL);
    ASSERT_NEAR(bx[0], -1.5 / sqrt(1.25));
    ASSERT_FEQ(bx[1], 0.0f);
    ASSERT_NEAR(bx[2], -1.5 / sqrt(1.25));
    ASSERT_NEAR(bx[3], -0.5 / sqrt(1.25));
    /* a test set uses the training figures, not its own (one row: its
     * own std would be 0 everywhere) */
    NnrtSource ts = table_source(tx, tt, 1);
    ts.scale = 0.5f;
    ts.normalize = NNRT_NORM_COLUMN;
    ck_assert_int_eq(nnrt_data_load(&ts, 3, NNRT_LABEL_CLASS, 1, 2, &e, &d, err, sizeof err), 0);
    ASSERT_FEQ(e.col_mean[0], d.col_mean[0]);
    nnrt_gather(&e, NULL, 0, 1, bx, NULL);
    ASSERT_NEAR(bx[0], 2.5 / sqrt(1.25));
    ASSERT_NEAR(bx[1], -3.0);
    ASSERT_NEAR(bx[2], -3.5 / sqrt(1.25));
    nnrt_data_free(&e);
    nnrt_source_describe(&s, desc, sizeof desc);
    ck_assert_str_eq(desc, "table(4 rows, scale=0.5, normalize=\"column\")");
    /* normalize=true stays two scalars over every value */
    s.normalize = NNRT_NORM_ALL;
    ck_assert_int_eq(nnrt_data_load(&s, 3, NNRT_LABEL_CLASS, 1, 2, &e, NULL, err, sizeof err), 0);
    ck_assert_ptr_null(e.col_mean);
    ASSERT_NEAR(e.x_mean, (8.0 + 20.0 + 16.0) / 12.0);
    nnrt_data_free(&e);
    nnrt_data_free(&d);
    s.normalize = 3;
    ck_assert_int_eq(nnrt_data_load(&s, 3, NNRT_LABEL_CLASS, 1, 2, &e, NULL, err, sizeof err), -1);
    ASSERT_HAS(err, "normalize mode 3");
}
END_TEST

START_TEST(test_normalize_columns_bytes)
{
    /* IDX images (bytes) normalized per pixel: 3 images of 2x2 */
    static const unsigned char img[12] = { 0, 10, 200, 7, 2, 10, 100, 7, 4, 10, 0, 7 };
    static const unsigned char lab[3] = { 0, 1, 2 };
    const char *pi = tpath("i.idx"), *pl = tpath("l.idx");
    static const uint32_t idims[3] = { 3, 2, 2 }, ldims[1] = { 3 };
    write_idx(pi, 0, 3, idims, img, 0);
    write_idx(pl, 0, 1, ldims, lab, 0);
    NnrtSource s;
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_IDX;
    s.images = pi;
    s.labels = pl;
    s.normalize = NNRT_NORM_COLUMN;
    NnrtData d;
    char err[256];
    ck_assert_msg(nnrt_data_load(&s, 4, NNRT_LABEL_CLASS, 1, 3, &d, NULL, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_ptr_nonnull(d.xb);
    /* pixel 0: 0 2 4 (mean 2, std sqrt(8/3)); pixel 2: 200 100 0 (mean 100,
     * std sqrt(20000/3)); pixels 1 and 3 constant */
    ASSERT_NEAR(d.col_mean[0], 2.0);
    ASSERT_NEAR(d.col_std[0], sqrt(8.0 / 3.0));
    ck_assert_msg(fabs((double)d.col_std[2] - sqrt(20000.0 / 3.0)) < 1e-3, "%g", (double)d.col_std[2]);
    ASSERT_FEQ(d.col_std[1], 1.0f);
    float bx[4];
    nnrt_gather(&d, NULL, 2, 1, bx, NULL);
    ASSERT_NEAR(bx[0], 2.0 / sqrt(8.0 / 3.0));
    ASSERT_FEQ(bx[1], 0.0f);
    ck_assert_msg(fabs((double)bx[2] + 100.0 / sqrt(20000.0 / 3.0)) < 1e-6, "%g", (double)bx[2]);
    nnrt_data_free(&d);
}
END_TEST

/* ---- a validation split ------------------------------------------------------- */

/* The rows of d, by their first input (row ids), into ids[]. */
static void row_ids(const NnrtData *d, int *ids)
{
    float x[2];
    for (size_t i = 0; i < d->rows; i++) {
        nnrt_gather(d, NULL, i, 1, x, NULL);
        ids[i] = (int)x[0];
    }
}

/* 20 rows: x = (i, 2i), label i % 3; split with seed. */
static void split20(uint64_t seed, double fraction, NnrtData *d, NnrtData *v)
{
    static float x[40], t[20];
    for (int i = 0; i < 20; i++) {
        x[2 * i] = (float)i;
        x[2 * i + 1] = (float)(2 * i);
        t[i] = (float)(i % 3);
    }
    NnrtSource s = table_source(x, t, 20);
    char err[256];
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 3, d, NULL, err, sizeof err), 0);
    ck_assert_msg(nnrt_data_split(d, fraction, seed, v, err, sizeof err) == 0, "%s", err);
}

START_TEST(test_validation_split)
{
    NnrtData d, v, d2, v2;
    int a[20], b[20], seen[20] = { 0 };
    split20(7, 0.25, &d, &v);
    ck_assert_uint_eq(d.rows, 15);
    ck_assert_uint_eq(v.rows, 5);
    row_ids(&d, a);
    row_ids(&v, b);
    /* disjoint, together every row once, each side in file order, labels
     * travel with their rows */
    for (size_t i = 0; i < d.rows; i++) {
        seen[a[i]]++;
        ck_assert_int_eq(d.tc[i], a[i] % 3);
        ck_assert(i == 0 || a[i] > a[i - 1]);
    }
    for (size_t i = 0; i < v.rows; i++) {
        seen[b[i]]++;
        ck_assert_int_eq(v.tc[i], b[i] % 3);
        ck_assert(i == 0 || b[i] > b[i - 1]);
    }
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(seen[i], 1);
    /* the same seed holds out the same rows; another seed other rows */
    split20(7, 0.25, &d2, &v2);
    int c[20];
    row_ids(&v2, c);
    ck_assert_mem_eq(b, c, 5 * sizeof(int));
    nnrt_data_free(&d2);
    nnrt_data_free(&v2);
    split20(8, 0.25, &d2, &v2);
    row_ids(&v2, c);
    ck_assert_msg(memcmp(b, c, 5 * sizeof(int)) != 0, "seeds 7 and 8 held out the same rows");
    nnrt_data_free(&d2);
    nnrt_data_free(&v2);
    nnrt_data_free(&d);
    nnrt_data_free(&v);
    /* rounding: 0.1 of 20 is 2 rows, 0.12 is 2.4 -> 2, 0.13 is 2.6 -> 3 */
    split20(1, 0.12, &d, &v);
    ck_assert_uint_eq(v.rows, 2);
    nnrt_data_free(&d);
    nnrt_data_free(&v);
    split20(1, 0.13, &d, &v);
    ck_assert_uint_eq(v.rows, 3);
    nnrt_data_free(&d);
    nnrt_data_free(&v);
}
END_TEST

START_TEST(test_validation_split_normalizes_on_what_remains)
{
    static float x[40], t[20];
    for (int i = 0; i < 20; i++) {
        x[2 * i] = (float)i;
        x[2 * i + 1] = (float)(i * i);
        t[i] = 0;
    }
    NnrtSource s = table_source(x, t, 20);
    s.normalize = NNRT_NORM_COLUMN;
    NnrtData d, v;
    char err[256];
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 1, &d, NULL, err, sizeof err), 0);
    ck_assert_int_eq(nnrt_data_split(&d, 0.3, 5, &v, err, sizeof err), 0);
    /* the figures of the 14 rows kept, computed here from the rows' ids */
    double sum[2] = { 0, 0 }, sq[2] = { 0, 0 };
    for (size_t i = 0; i < d.rows; i++) {
        double id = (double)d.xf[2 * i];
        sum[0] += id;
        sum[1] += id * id;
    }
    double mean[2] = { sum[0] / 14.0, sum[1] / 14.0 };
    for (size_t i = 0; i < d.rows; i++) {
        double id = (double)d.xf[2 * i];
        sq[0] += (id - mean[0]) * (id - mean[0]);
        sq[1] += (id * id - mean[1]) * (id * id - mean[1]);
    }
    ck_assert_uint_eq(d.rows, 14);
    for (int j = 0; j < 2; j++) {
        ck_assert_msg(fabs((double)d.col_mean[j] - mean[j]) < 1e-4 * (1 + mean[j]), "mean %d", j);
        ck_assert_msg(fabs((double)d.col_std[j] - sqrt(sq[j] / 14.0)) < 1e-4 * (1 + mean[j]), "std %d", j);
        /* all 20 rows would give 9.5 and 123.5 */
        ck_assert(fabs((double)d.col_mean[j] - (j ? 123.5 : 9.5)) > 1e-3);
        ASSERT_FEQ(v.col_mean[j], d.col_mean[j]);
        ASSERT_FEQ(v.col_std[j], d.col_std[j]);
    }
    nnrt_data_free(&d);
    nnrt_data_free(&v);
}
END_TEST

START_TEST(test_validation_split_refused)
{
    static const float x[8] = { 0, 0, 0, 1, 1, 0, 1, 1 }, t[4] = { 0, 0, 0, 1 };
    NnrtSource s = table_source(x, t, 4);
    NnrtData d, v;
    char err[256];
    ck_assert_int_eq(nnrt_data_load(&s, 2, NNRT_LABEL_CLASS, 1, 2, &d, NULL, err, sizeof err), 0);
    ck_assert_int_eq(nnrt_data_split(&d, 0.1, 0, &v, err, sizeof err), -1);
    ck_assert_str_eq(err, "validation=0.1 of 4 training rows holds out 0 and leaves 4 to train on: "
                          "each side needs at least 1 row (a larger data set, or another fraction)");
    ck_assert_ptr_null(v.xf);
    ck_assert_int_eq(nnrt_data_split(&d, 0.9, 0, &v, err, sizeof err), -1);
    ASSERT_HAS(err, "holds out 4 and leaves 0 to train on");
    ck_assert_int_eq(nnrt_data_split(&d, 1.0, 0, &v, err, sizeof err), -1);
    ASSERT_HAS(err, "validation=1: the fraction of training rows to hold out must lie in (0, 1)");
    ck_assert_uint_eq(d.rows, 4);
    ck_assert_int_eq(nnrt_data_split(&d, 0.25, 0, &v, err, sizeof err), 0);
    ck_assert_uint_eq(d.rows, 3);
    ck_assert_uint_eq(v.rows, 1);
    nnrt_data_free(&d);
    nnrt_data_free(&v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_data");
    TCase *src = tcase_create("sources");
    tcase_add_test(src, test_spiral_rows);
    tcase_add_test(src, test_spiral_deterministic_and_seeded);
    tcase_add_test(src, test_spiral_one_hot_and_shape_errors);
    tcase_add_test(src, test_gates);
    tcase_add_test(src, test_xor_and_unknown_gate);
    tcase_add_test(src, test_table_sources);
    tcase_add_test(src, test_describe);
    tcase_add_test(src, test_gather_labels_float_rows);
    tcase_add_test(src, test_normalize_floats);
    tcase_add_test(src, test_normalize_columns);
    tcase_add_test(src, test_validation_split);
    tcase_add_test(src, test_validation_split_normalizes_on_what_remains);
    tcase_add_test(src, test_validation_split_refused);
    suite_add_tcase(s, src);
    TCase *idx = tcase_create("idx");
    tcase_add_checked_fixture(idx, setup, teardown);
    tcase_add_test(idx, test_idx_raw);
    tcase_add_test(idx, test_idx_gzip);
    tcase_add_test(idx, test_idx_normalize_and_test_stats);
    tcase_add_test(idx, test_normalize_columns_bytes);
    tcase_add_test(idx, test_idx_missing_file);
    tcase_add_test(idx, test_idx_wrong_magic);
    tcase_add_test(idx, test_idx_truncated);
    tcase_add_test(idx, test_idx_wrong_image_size);
    tcase_add_test(idx, test_idx_label_count_mismatch);
    tcase_add_test(idx, test_idx_read_direct);
    tcase_add_test(idx, test_idx_absurd_dims);
    suite_add_tcase(s, idx);
    TCase *csv = tcase_create("csv");
    tcase_add_checked_fixture(csv, setup, teardown);
    tcase_add_test(csv, test_csv_good);
    tcase_add_test(csv, test_csv_ids);
    tcase_add_test(csv, test_csv_no_header);
    tcase_add_test(csv, test_csv_errors);
    tcase_add_test(csv, test_csv_missing_and_label_range);
    tcase_add_test(csv, test_csv_quoted_fields);
    tcase_add_test(csv, test_csv_class_names);
    tcase_add_test(csv, test_csv_class_name_errors);
    tcase_add_test(csv, test_csv_header_warning);
    suite_add_tcase(s, csv);
    TCase *checks = tcase_create("checks");
    tcase_add_checked_fixture(checks, setup, teardown);
    tcase_set_timeout(checks, 30);
    tcase_add_test(checks, test_csv_class_ids_against_k);
    tcase_add_test(checks, test_csv_class_ids_exact);
    tcase_add_test(checks, test_builtin_class_ids_against_k);
    tcase_add_test(checks, test_idx_class_ids_against_k);
    tcase_add_test(checks, test_empty_sets);
    tcase_add_test(checks, test_idx_gzip_to_the_end);
    tcase_add_test(checks, test_idx_gzip_members_and_extra_data);
    tcase_add_test(checks, test_idx_header_checked_before_allocating);
    tcase_add_test(checks, test_idx_gzip_buffer_grows_with_the_data);
    tcase_add_test(checks, test_csv_memory_follows_the_rows);
    tcase_add_test(checks, test_idx_from_a_pipe);
    suite_add_tcase(s, checks);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
