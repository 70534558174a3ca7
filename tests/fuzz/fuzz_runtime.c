/* fuzz_runtime.c: libFuzzer harness for the runtime's file readers.
 *
 * The readers take paths, so each input is written to a file in a
 * per-process directory (mkdtemp under /dev/shm, else /tmp, removed at
 * exit) and read back.  An input is
 *
 *   byte 0     the target, byte % 6 (the seeds use '0'..'5')
 *   byte 1     flags: the target's options (below)
 *   byte 2...  the payload
 *
 *   0  nnrt_idx_read on the payload as it is (raw; a payload that starts
 *      with 1f 8b is read as gzip), ndims = 1 + flags % 4
 *   1  nnrt_idx_read on the payload gzip-compressed here, so that the
 *      fuzzer's mutations reach past the header; ndims = 1 + flags % 4;
 *      flags bits 2-3: 0 the stream as it is, 1 its last 1 + (flags >> 4
 *      & 7) bytes cut (a torn CRC/length trailer: must be refused), 2 a
 *      few bytes of text appended (must be refused), 3 a second gzip
 *      member appended
 *   2  nnrt_csv_read: header = bit 0, class ids in [0, 4) = bit 1, label column =
 *      (flags >> 2 & 7) - 4 (-4..3)
 *   3  nnrt_data_load of idx(images, labels): payload bytes 0-1 are the
 *      images file's length n (little-endian, clamped), then n bytes of
 *      images, then the labels file; in_dim = 1 + (flags & 15); labels by
 *      flags >> 4 & 3 (see LABELS); bit 6 normalize; bit 7 both files
 *      gzip-compressed.  Then the same files again as a test set, with
 *      the training set's figures.
 *   4  nnrt_data_load of csv(path): in_dim = 1 + (flags & 7); labels by
 *      flags >> 3 & 3; header = bit 5; label column 0 (bit 6) or -1;
 *      bit 7 normalize; then again as a test set
 *   5  nnrt_ckpt_load into a small model ("fuzz": W f32[3,2], b f32[2];
 *      bit 0 adds optimizer state opt.W.m, opt.b.m)
 *
 * Besides ASan and UBSan, the harness checks what nnrt.h promises: a
 * failure writes one line (not empty, no newline) and, for checkpoints,
 * changes nothing; a success hands over what it says: every byte, float
 * and row is read here (so a short buffer shows), data sets are not
 * empty, class ids are ids, normalising figures are finite.
 * NNRT_FUZZ_VERBOSE=1 prints each reader's verdict (to check the seeds).
 */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char dir[64];
static int verbose; /* NNRT_FUZZ_VERBOSE=1: each reader's verdict on stderr (checking seeds) */
static char path_a[96], path_b[96]; /* dir/a, dir/b */

static void cleanup(void)
{
    unlink(path_a);
    unlink(path_b);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/dev/shm/nnrt-fuzz.XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, "/tmp/nnrt-fuzz.XXXXXX");
        if (!mkdtemp(dir)) {
            perror("fuzz_runtime: mkdtemp");
            abort();
        }
    }
    verbose = getenv("NNRT_FUZZ_VERBOSE") != NULL;
    snprintf(path_a, sizeof path_a, "%s/a", dir);
    snprintf(path_b, sizeof path_b, "%s/b", dir);
    atexit(cleanup);
    return 0;
}

/* A harness failure (not the runtime's): stop loudly. */
static void broken(const char *what)
{
    fprintf(stderr, "fuzz_runtime: %s\n", what);
    abort();
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        broken("cannot write the input file");
}

/* The gzip stream of p[0..n), malloc'd; *out_len its length. */
static uint8_t *gzip(const uint8_t *p, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        broken("deflateInit2 failed");
    size_t cap = deflateBound(&z, (uLong)n);
    uint8_t *out = malloc(cap);
    if (!out)
        broken("out of memory");
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        broken("deflate did not finish");
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static void write_gzip(const char *path, const uint8_t *p, size_t n)
{
    size_t len;
    uint8_t *gz = gzip(p, n, &len);
    write_file(path, gz, len);
    free(gz);
}

/* What nnrt.h promises of a failure: one line in err. */
static void check_error(const char *err)
{
    if (verbose)
        fprintf(stderr, "fuzz_runtime: refused: %s\n", err);
    if (err[0] == '\0')
        broken("a reader failed without a message");
    if (strchr(err, '\n'))
        broken("a reader's error message is more than one line");
}

static void accepted(const char *what)
{
    if (verbose)
        fprintf(stderr, "fuzz_runtime: accepted by %s\n", what);
}

/* Reads every byte of p[0..n) (ASan checks the allocation holds them). */
static unsigned touch(const void *p, size_t n)
{
    const volatile unsigned char *b = p;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += b[i];
    return sum;
}

/* ---- 0, 1: IDX ------------------------------------------------------------ */
/* 1 when path was accepted (and its bytes all read), 0 when refused. */
static int idx_read(const char *path, int ndims)
{
    NnrtIdx x;
    char err[512] = "";
    if (nnrt_idx_read(path, ndims, 0, &x, err, sizeof err) < 0) {
        check_error(err);
        return 0;
    }
    uint64_t item = 1;
    for (int i = 1; i < ndims; i++)
        item *= x.dims[i];
    if (x.ndims != ndims || x.count != x.dims[0] || x.item != item || !x.bytes)
        broken("nnrt_idx_read: count and item do not match the dimensions");
    touch(x.bytes, x.count * x.item);
    nnrt_idx_free(&x);
    accepted("nnrt_idx_read");
    return 1;
}

/* The payload as a gzip stream, whole or with its end mangled.  A stream
 * whose CRC/length trailer is cut, or that has bytes after it which are
 * not another gzip member, must be refused. */
static void target_idx_gzip(uint8_t flags, const uint8_t *p, size_t n)
{
    static const uint8_t junk[] = "trailing bytes";
    size_t len;
    uint8_t *gz = gzip(p, n, &len);
    uint8_t *file = malloc(2 * len + sizeof junk);
    if (!file)
        broken("out of memory");
    memcpy(file, gz, len);
    size_t cut = 1 + (flags >> 4 & 7u), size = len; /* cut <= 8: only the trailer */
    int mode = flags >> 2 & 3;
    switch (mode) {
    case 0: break;
    case 1: size = len - cut; break;
    case 2: memcpy(file + len, junk, sizeof junk - 1); size = len + sizeof junk - 1; break;
    default: memcpy(file + len, gz, len); size = 2 * len; break;
    }
    write_file(path_a, file, size);
    free(file);
    free(gz);
    if (idx_read(path_a, 1 + flags % 4) && (mode == 1 || mode == 2))
        broken(mode == 1 ? "nnrt_idx_read: accepted a gzip stream whose CRC/length trailer is cut"
                         : "nnrt_idx_read: accepted bytes after the end of a gzip stream");
}

/* ---- 2: CSV ---------------------------------------------------------------- */
static void target_csv(uint8_t flags, const uint8_t *p, size_t n)
{
    int header = flags & 1, label = (int)(flags >> 2 & 7) - 4;
    size_t classes = flags >> 1 & 1 ? 4 : 0;
    NnrtCsv c;
    char err[512] = "";
    write_file(path_a, p, n);
    if (nnrt_csv_read(path_a, header, label, classes, &c, err, sizeof err) < 0) {
        check_error(err);
        return;
    }
    if (c.rows == 0 || c.cols == 0 || !c.x || !c.lab)
        broken("nnrt_csv_read: a success with no rows");
    touch(c.x, c.rows * (c.cols - 1) * sizeof(float));
    for (size_t i = 0; i < c.rows; i++) {
        float v = c.lab[i];
        if (classes && !(v >= 0.0f && v < (float)classes && v == floorf(v)))
            broken("nnrt_csv_read: a class id that is not a whole number in [0, 4)");
    }
    nnrt_csv_free(&c);
    accepted("nnrt_csv_read");
}

/* ---- 3, 4: data sets --------------------------------------------------------- */
/* The class count of the i32 label (LABELS[0]). */
#define FUZZ_CLASSES 4

/* LABELS[k]: the model's label, as (kind, width, one_hot). */
static const struct {
    int kind;
    size_t dim;
    int one_hot;
} LABELS[4] = {
    { NNRT_LABEL_CLASS, 1, 0 }, /* i32[B] class ids */
    { NNRT_LABEL_FLOAT, 1, 0 }, /* f32[B,1]: 0/1 targets */
    { NNRT_LABEL_FLOAT, 3, 0 }, /* f32[B,3]: one-hot from ids */
    { NNRT_LABEL_FLOAT, 4, 4 }, /* f32[B,4] with one_hot=4 */
};

/* Every row through nnrt_gather, and the loaded figures checked. */
static void check_data(const NnrtData *d, size_t in_dim, int kind, size_t dim)
{
    if (d->rows == 0)
        broken("nnrt_data_load: an empty data set was accepted");
    if (d->in_dim != in_dim || !!d->xb == !!d->xf)
        broken("nnrt_data_load: inputs do not match the model");
    if (d->normalized && !(isfinite(d->x_mean) && isfinite(d->x_std) && d->x_std > 0.0f))
        broken("nnrt_data_load: normalising figures are not finite");
    size_t t_size = kind == NNRT_LABEL_CLASS ? sizeof(int32_t) : dim * sizeof(float);
    if (kind == NNRT_LABEL_CLASS ? !d->tc : (!d->tf || d->t_dim != dim))
        broken("nnrt_data_load: labels do not match the model");
    float *x = malloc(in_dim * sizeof *x);
    void *t = malloc(t_size);
    if (!x || !t)
        broken("out of memory");
    for (size_t r = 0; r < d->rows; r++) {
        nnrt_gather(d, NULL, r, 1, x, t);
        if (kind == NNRT_LABEL_CLASS && (*(int32_t *)t < 0 || *(int32_t *)t >= FUZZ_CLASSES))
            broken("nnrt_data_load: a class id outside [0, FUZZ_CLASSES)");
    }
    free(x);
    free(t);
}

/* Loads s as a training set, then as a test set with its figures. */
static void data_load(const NnrtSource *s, size_t in_dim, int labels)
{
    int kind = LABELS[labels].kind;
    size_t dim = LABELS[labels].dim;
    NnrtData train, test;
    char err[512] = "";
    if (nnrt_data_load(s, in_dim, kind, dim, FUZZ_CLASSES, &train, NULL, err, sizeof err) < 0) {
        check_error(err);
        return;
    }
    check_data(&train, in_dim, kind, dim);
    if (nnrt_data_load(s, in_dim, kind, dim, FUZZ_CLASSES, &test, &train, err, sizeof err) < 0)
        broken("nnrt_data_load: the same files failed as a test set");
    check_data(&test, in_dim, kind, dim);
    if (train.normalized && (test.x_mean != train.x_mean || test.x_std != train.x_std))
        broken("nnrt_data_load: the test set did not take the training figures");
    nnrt_data_free(&test);
    nnrt_data_free(&train);
    accepted("nnrt_data_load");
}

static void target_data_idx(uint8_t flags, const uint8_t *p, size_t n)
{
    size_t split = n >= 2 ? (size_t)p[0] | (size_t)p[1] << 8 : 0;
    p += n >= 2 ? 2 : n;
    n -= n >= 2 ? 2 : n;
    if (split > n)
        split = n;
    void (*put)(const char *, const uint8_t *, size_t) = flags & 0x80 ? write_gzip : write_file;
    put(path_a, p, split);
    put(path_b, p + split, n - split);
    NnrtSource s;
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_IDX;
    s.images = path_a;
    s.labels = path_b;
    s.scale = 1.0f / 255.0f;
    s.normalize = flags >> 6 & 1;
    int labels = flags >> 4 & 3;
    s.one_hot = LABELS[labels].one_hot;
    data_load(&s, 1 + (flags & 15u), labels);
}

static void target_data_csv(uint8_t flags, const uint8_t *p, size_t n)
{
    write_file(path_a, p, n);
    NnrtSource s;
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_CSV;
    s.csv_path = path_a;
    s.csv_header = flags >> 5 & 1;
    s.csv_label = flags >> 6 & 1 ? 0 : -1;
    s.normalize = flags >> 7 & 1;
    int labels = flags >> 3 & 3;
    s.one_hot = LABELS[labels].one_hot;
    data_load(&s, 1 + (flags & 7u), labels);
}

/* ---- 5: safetensors checkpoints ------------------------------------------------ */
static void target_ckpt(uint8_t flags, const uint8_t *p, size_t n)
{
    enum { NUMEL = 6 + 2 };
    float vals[2 * NUMEL], before[2 * NUMEL];
    for (int i = 0; i < 2 * NUMEL; i++)
        vals[i] = (float)i + 0.25f;
    memcpy(before, vals, sizeof vals);
    NnrtTensor params[2] = {
        { "W", vals, NULL, 2, { 3, 2 }, 6 },
        { "b", vals + 6, NULL, 1, { 2 }, 2 },
    };
    NnrtTensor state[2] = {
        { "opt.W.m", vals + NUMEL, NULL, 2, { 3, 2 }, 6 },
        { "opt.b.m", vals + NUMEL + 6, NULL, 1, { 2 }, 2 },
    };
    write_file(path_a, p, n);
    long epoch = -7, step = -7;
    char err[512] = "";
    if (nnrt_ckpt_load(path_a, "fuzz", &epoch, &step, params, 2, state, flags & 1 ? 2 : 0,
                       err, sizeof err) < 0) {
        check_error(err);
        if (memcmp(vals, before, sizeof vals) != 0 || epoch != -7 || step != -7)
            broken("nnrt_ckpt_load: a failed load changed the model");
        return;
    }
    if (epoch < 0 || step < 0)
        broken("nnrt_ckpt_load: a negative epoch or step");
    touch(vals, sizeof vals);
    accepted("nnrt_ckpt_load");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t flags = data[1];
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    switch (data[0] % 6) {
    case 0:
        write_file(path_a, p, n);
        idx_read(path_a, 1 + flags % 4);
        break;
    case 1: target_idx_gzip(flags, p, n); break;
    case 2: target_csv(flags, p, n); break;
    case 3: target_data_idx(flags, p, n); break;
    case 4: target_data_csv(flags, p, n); break;
    default: target_ckpt(flags, p, n); break;
    }
    return 0;
}
