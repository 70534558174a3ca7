/* fuzz_runtime.c: libFuzzer harness for the runtime's file readers.
 *
 * The readers take paths, so each input is written to a file in a
 * per-process directory (/dev/shm/nnrt-fuzz.PID.XXXXXX, else under /tmp;
 * removed at exit, or by the next run when this one died) and read back.
 * An input is
 *
 *   byte 0     the target, byte % 6 (the seeds use '0'..'5')
 *   byte 1     flags: the target's options (below)
 *   byte 2...  the payload
 *
 *   0  nnrt_idx_read on the payload as it is (raw; a payload that starts
 *      with 1f 8b is read as gzip), ndims = 1 + flags % 4, item = flags >> 2
 *      (the row size asked for; 0: any)
 *   1  nnrt_idx_read on the payload gzip-compressed here, so that the
 *      fuzzer's mutations reach past the header; ndims = 1 + flags % 4;
 *      flags bits 2-3: 0 the stream as it is, 1 its last 1 + (flags >> 4
 *      & 7) bytes cut (a torn CRC/length trailer: must be refused), 2 a
 *      few bytes of text appended (must be refused), 3 a second gzip
 *      member appended; bit 7 asks for rows of 4 bytes
 *   2  nnrt_csv_read: header = bit 0, label column = (flags >> 2 & 7) - 4
 *      (-4..3); bit 1 class ids, below K = 1 + (flags >> 5) (K = 8 means
 *      2^24, the largest); a file of class names is read again through
 *      its own names (nnrt_csv_read_known) and must give the same ids.
 *      nnrt_csv_read_inputs on the same file: with the header found out
 *      and in_dim 1 + (flags >> 5 & 3); and, where nnrt_csv_read took the
 *      file, with its header and cols - 1 inputs, which must be its x;
 *      and the id readers (nnrt_csv_read_ids, nnrt_csv_read_inputs_ids)
 *      with ids below 2 + (flags >> 4 & 15): every id a whole number below
 *      that bound
 *   3  nnrt_data_load of idx(images, labels): payload bytes 0-1 are the
 *      images file's length n (little-endian, clamped), byte 2 the model's
 *      class count (0..255), then n bytes of images, then the labels file;
 *      in_dim = 1 + (flags & 15); labels by flags >> 4 & 3 (see LABELS);
 *      bit 6 normalize; bit 7 both files gzip-compressed.  Then the same
 *      files again as a test set, with the training set's figures.
 *   4  nnrt_data_load of csv(path): payload byte 0 the class count (its
 *      bit 7: normalize per column), then the file; in_dim = 1 +
 *      (flags & 7); labels by flags >> 3 & 3; header = bit 5; label column
 *      0 (bit 6) or -1; bit 7 normalize; then again as a test set; and
 *      (targets 3 and 4) a validation split of half the training rows
 *   5  nnrt_ckpt_load into a small model ("fuzz": W f32[3,2], b f32[2];
 *      bit 0 adds optimizer state opt.W.m, opt.b.m); bit 1: the payload is
 *      JSON, NUL, data, and the header length is written here (padded to
 *      a multiple of 8 with bit 2); the metadata's figures are asked for
 *      (in_dim 3; at most 2 class names with bit 3, else 2^24); what loads
 *      is saved and loaded again, figures and all; the same file is also
 *      loaded by nnrt_ckpt_load_params (--init-from)
 *
 * Besides ASan and UBSan, the harness checks what nnrt.h promises: a
 * failure writes one line (not empty, no newline), keeps nothing and, for
 * checkpoints, changes nothing; a success hands over what it says: every
 * byte, float and row is read here (so a short buffer shows); an IDX file
 * has nothing after its data, a torn gzip stream is refused; data sets
 * are not empty, class ids lie in [0, classes), one-hot rows are one-hot,
 * normalising figures are finite; an accepted checkpoint passes an
 * independent check of the safetensors format, and saved back it passes
 * that check again and loads back the same.
 * NNRT_FUZZ_VERBOSE=1 prints each reader's verdict (to check the seeds).
 */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char dir[64];
static char path_a[96], path_b[96]; /* dir/a, dir/b */
static int verbose; /* NNRT_FUZZ_VERBOSE=1: each reader's verdict on stderr (checking seeds) */

/* Removes dir/a, dir/b and dir. */
static void remove_dir(const char *d)
{
    char f[128];
    snprintf(f, sizeof f, "%s/a", d);
    unlink(f);
    snprintf(f, sizeof f, "%s/b", d);
    unlink(f);
    rmdir(d);
}

/* The directories of runs that died without cleaning up (a crash, a
 * timeout, a fork job killed): nnrt-fuzz.PID.* whose PID is gone. */
static void sweep(const char *base)
{
    DIR *d = opendir(base);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        long pid;
        char rest[32], path[128];
        if (sscanf(e->d_name, "nnrt-fuzz.%ld.%31s", &pid, rest) != 2 || pid <= 0)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        remove_dir(path);
    }
    if (d)
        closedir(d);
}

static void cleanup(void) { remove_dir(dir); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *bases[] = { "/dev/shm", "/tmp" };
    for (int i = 0; i < 2 && !dir[0]; i++) {
        sweep(bases[i]);
        snprintf(dir, sizeof dir, "%s/nnrt-fuzz.%ld.XXXXXX", bases[i], (long)getpid());
        if (!mkdtemp(dir))
            dir[0] = '\0';
    }
    if (!dir[0]) {
        perror("fuzz_runtime: mkdtemp");
        abort();
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
/* Reads path; 1 when it was accepted (and its bytes all read), 0 when
 * refused.  *bytes: the header and data bytes it holds. */
static int idx_read(const char *path, int ndims, size_t want_item, int *gz, uint64_t *bytes)
{
    NnrtIdx x;
    char err[512] = "";
    if (nnrt_idx_read(path, ndims, want_item, &x, err, sizeof err) < 0) {
        check_error(err);
        if (x.bytes)
            broken("nnrt_idx_read: a refused file kept its bytes");
        return 0;
    }
    uint64_t item = 1;
    for (int i = 1; i < ndims; i++)
        item *= x.dims[i];
    if (x.ndims != ndims || x.count != x.dims[0] || x.item != item || !x.bytes)
        broken("nnrt_idx_read: count and item do not match the dimensions");
    if (want_item && x.item != want_item)
        broken("nnrt_idx_read: rows of the wrong size were accepted");
    touch(x.bytes, x.count * x.item);
    *gz = x.gzip;
    *bytes = 4 + 4 * (uint64_t)ndims + (uint64_t)x.count * x.item;
    nnrt_idx_free(&x);
    accepted("nnrt_idx_read");
    return 1;
}

static void target_idx(uint8_t flags, const uint8_t *p, size_t n)
{
    int gz;
    uint64_t bytes;
    write_file(path_a, p, n);
    if (!idx_read(path_a, 1 + flags % 4, flags >> 2, &gz, &bytes))
        return;
    if (gz != (n >= 2 && p[0] == 0x1f && p[1] == 0x8b))
        broken("nnrt_idx_read: took a raw file for gzip or the other way round");
    if (!gz && bytes != n)
        broken("nnrt_idx_read: accepted a raw file whose size is not the header's");
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
    int was_gz;
    uint64_t bytes;
    if (!idx_read(path_a, 1 + flags % 4, flags & 0x80 ? 4 : 0, &was_gz, &bytes))
        return;
    if (mode == 1 || mode == 2)
        broken(mode == 1 ? "nnrt_idx_read: accepted a gzip stream whose CRC/length trailer is cut"
                         : "nnrt_idx_read: accepted bytes after the end of a gzip stream");
    if (!was_gz)
        broken("nnrt_idx_read: took a gzip file for raw");
    if (mode == 0 && bytes != n)
        broken("nnrt_idx_read: accepted a gzip file whose data is not the header's size");
}

/* ---- 2: CSV ---------------------------------------------------------------- */
/* A file of class names read again through its own names: the same ids. */
static void csv_known_again(int header, int label, size_t classes, const NnrtCsv *c)
{
    NnrtCsv k;
    char err[512] = "";
    if (nnrt_csv_read_known(path_a, header, label, classes, c->names, c->n_names, &k, err,
                            sizeof err) < 0)
        broken("nnrt_csv_read_known: refused a file through its own names");
    if (k.rows != c->rows || k.names || memcmp(k.lab, c->lab, c->rows * sizeof(float)) != 0)
        broken("nnrt_csv_read_known: other ids through the file's own names");
    nnrt_csv_free(&k);
}

/* nnrt_csv_read_inputs (prediction's reader) on the same file: rows of
 * in_dim inputs, or in_dim and a label skipped unread.  A refusal keeps
 * nothing; a success has rows of in_dim floats and no labels.  With
 * want_x (nnrt_csv_read's inputs of the same file, read with the same
 * header and label column) the inputs must be the same, bit for bit. */
static void csv_inputs(int header, int label, size_t in_dim, const float *want_x, size_t want_rows)
{
    NnrtCsv c;
    char err[512] = "";
    if (nnrt_csv_read_inputs(path_a, header, in_dim, label, &c, err, sizeof err) < 0) {
        check_error(err);
        if (c.x || c.lab || c.names)
            broken("nnrt_csv_read_inputs: a refused file kept its rows");
        if (want_x)
            broken("nnrt_csv_read_inputs: refused a file nnrt_csv_read reads");
        return;
    }
    if (c.rows == 0 || !c.x || c.lab || c.names || (c.cols != in_dim && c.cols != in_dim + 1))
        broken("nnrt_csv_read_inputs: a success without rows of in_dim inputs, or with labels");
    touch(c.x, c.rows * in_dim * sizeof(float));
    if (want_x && (c.rows != want_rows || memcmp(c.x, want_x, c.rows * in_dim * sizeof(float)) != 0))
        broken("nnrt_csv_read_inputs: inputs other than nnrt_csv_read's");
    nnrt_csv_free(&c);
    accepted("nnrt_csv_read_inputs");
}

/* Every one of count inputs a whole number in [0, ids). */
static void check_ids(const float *x, size_t count, size_t ids, const char *who)
{
    for (size_t i = 0; i < count; i++)
        if (!(x[i] >= 0.0f && (double)x[i] < (double)ids && x[i] == floorf(x[i])))
            broken(who);
}

/* The id readers (a model whose input is i32 ids below ids) on the same
 * file: a refusal keeps nothing; a success has rows whose every input is
 * a whole number in [0, ids). */
static void csv_ids(int header, int label, size_t classes, size_t in_dim, size_t ids)
{
    NnrtCsv c;
    char err[512] = "";
    if (nnrt_csv_read_ids(path_a, header, label, classes, ids, 0, NULL, 0, &c, err, sizeof err) < 0) {
        check_error(err);
        if (c.x || c.lab || c.names)
            broken("nnrt_csv_read_ids: a refused file kept its rows");
    } else {
        if (c.rows == 0 || c.cols < 2 || !c.x || !c.lab)
            broken("nnrt_csv_read_ids: a success with no rows");
        check_ids(c.x, c.rows * (c.cols - 1), ids, "nnrt_csv_read_ids: an id that is not a whole number in [0, ids)");
        nnrt_csv_free(&c);
        accepted("nnrt_csv_read_ids");
    }
    if (nnrt_csv_read_inputs_ids(path_a, -1, in_dim, label, ids, &c, err, sizeof err) < 0) {
        check_error(err);
        if (c.x || c.lab || c.names)
            broken("nnrt_csv_read_inputs_ids: a refused file kept its rows");
        return;
    }
    if (c.rows == 0 || !c.x || c.lab)
        broken("nnrt_csv_read_inputs_ids: a success without rows, or with labels");
    check_ids(c.x, c.rows * in_dim, ids, "nnrt_csv_read_inputs_ids: an id that is not a whole number in [0, ids)");
    nnrt_csv_free(&c);
    accepted("nnrt_csv_read_inputs_ids");
}

static void target_csv(uint8_t flags, const uint8_t *p, size_t n)
{
    int header = flags & 1, label = (int)(flags >> 2 & 7) - 4;
    size_t k = (size_t)(flags >> 5) + 1, classes = flags & 2 ? (k == 8 ? (size_t)1 << 24 : k) : 0;
    NnrtCsv c;
    char err[512] = "";
    write_file(path_a, p, n);
    csv_inputs(-1, label, 1 + (flags >> 5 & 3), NULL, 0); /* the header found out */
    csv_ids(header, label, classes, 1 + (flags >> 5 & 3), 2 + (size_t)(flags >> 4 & 15));
    if (nnrt_csv_read(path_a, header, label, classes, &c, err, sizeof err) < 0) {
        check_error(err);
        if (c.x || c.lab || c.names)
            broken("nnrt_csv_read: a refused file kept its rows");
        return;
    }
    csv_inputs(header, label, c.cols - 1, c.x, c.rows);
    if (c.rows == 0 || c.cols == 0 || !c.x || !c.lab)
        broken("nnrt_csv_read: a success with no rows");
    touch(c.x, c.rows * (c.cols - 1) * sizeof(float));
    if ((c.n_names > 0) != (c.names != NULL) || (c.names && (!classes || c.n_names > classes)))
        broken("nnrt_csv_read: class names without a class count, or more than it");
    for (size_t i = 0; i < c.n_names; i++)
        for (size_t j = 0; j < i && c.n_names <= 64; j++)
            if (strcmp(c.names[i], c.names[j]) == 0)
                broken("nnrt_csv_read: a class name twice");
    for (size_t i = 0; i < c.rows; i++) {
        float v = c.lab[i];
        if (classes && !(v >= 0.0f && (double)v < (double)classes && v == floorf(v)))
            broken("nnrt_csv_read: a class id that is not a whole number in [0, classes)");
        if (c.names && !((double)v < (double)c.n_names))
            broken("nnrt_csv_read: a class id past the names");
    }
    if (c.names)
        csv_known_again(header, label, classes, &c);
    nnrt_csv_free(&c);
    accepted("nnrt_csv_read");
}

/* ---- 3, 4: data sets --------------------------------------------------------- */
/* LABELS[k]: the model's label, as (kind, width, one_hot). */
static const struct {
    int kind;
    size_t dim;
    int one_hot;
} LABELS[4] = {
    { NNRT_LABEL_CLASS, 1, 0 }, /* i32[B] class ids, below the class count */
    { NNRT_LABEL_FLOAT, 1, 0 }, /* f32[B,1]: 0/1 targets */
    { NNRT_LABEL_FLOAT, 3, 0 }, /* f32[B,3]: one-hot from ids */
    { NNRT_LABEL_FLOAT, 4, 4 }, /* f32[B,4] with one_hot=4 */
};

static void check_kept_nothing(const NnrtData *d)
{
    if (d->xb || d->xf || d->tc || d->tf)
        broken("nnrt_data_load: a refused set kept its arrays");
}

/* Every row through nnrt_gather, and the loaded figures checked. */
static void check_data(const NnrtData *d, size_t in_dim, int labels, size_t classes)
{
    int kind = LABELS[labels].kind;
    size_t dim = LABELS[labels].dim;
    if (d->rows == 0)
        broken("nnrt_data_load: an empty data set was accepted");
    if (d->in_dim != in_dim || !!d->xb == !!d->xf)
        broken("nnrt_data_load: inputs do not match the model");
    if (d->normalized && !(isfinite(d->x_mean) && isfinite(d->x_std) && d->x_std >= FLT_MIN))
        broken("nnrt_data_load: normalising figures are not finite");
    if ((d->normalized == NNRT_NORM_COLUMN) != (d->col_mean != NULL && d->col_std != NULL))
        broken("nnrt_data_load: per-column figures without per-column normalizing, or none with it");
    for (size_t j = 0; d->col_mean && j < in_dim; j++)
        if (!(isfinite(d->col_mean[j]) && isfinite(d->col_std[j]) && d->col_std[j] >= FLT_MIN))
            broken("nnrt_data_load: a column's normalising figures are not finite");
    size_t t_size = kind == NNRT_LABEL_CLASS ? sizeof(int32_t) : dim * sizeof(float);
    if (kind == NNRT_LABEL_CLASS ? !d->tc : (!d->tf || d->t_dim != dim))
        broken("nnrt_data_load: labels do not match the model");
    float *x = malloc(in_dim * sizeof *x);
    void *t = malloc(t_size);
    if (!x || !t)
        broken("out of memory");
    for (size_t r = 0; r < d->rows; r++) {
        nnrt_gather(d, NULL, r, 1, x, t);
        if (kind == NNRT_LABEL_CLASS) {
            int32_t id = *(int32_t *)t;
            if (id < 0 || (size_t)id >= classes)
                broken("nnrt_data_load: a class id outside [0, classes)");
        } else if (dim > 1) { /* one-hot from ids: one 1, the rest 0 */
            const float *row = t;
            size_t ones = 0, zeros = 0;
            for (size_t j = 0; j < dim; j++) {
                ones += row[j] == 1.0f;
                zeros += row[j] == 0.0f;
            }
            if (ones != 1 || zeros != dim - 1)
                broken("nnrt_data_load: a one-hot label row is not one-hot");
        }
    }
    free(x);
    free(t);
}

/* A validation split of half the rows: the two parts add up to the set,
 * both pass check_data, and the held-out part takes the figures of the
 * rows left; refused only when a part would be empty. */
static void data_split(NnrtData *train, size_t in_dim, int labels, size_t classes)
{
    NnrtData val;
    char err[512] = "";
    size_t rows = train->rows;
    if (nnrt_data_split(train, 0.5, rows, &val, err, sizeof err) < 0) {
        check_error(err);
        if (rows >= 2 || val.xf || val.xb)
            broken("nnrt_data_split: refused half of two or more rows, or kept rows");
        return;
    }
    if (train->rows + val.rows != rows || val.rows != (rows + 1) / 2)
        broken("nnrt_data_split: the parts do not add up to the set");
    check_data(train, in_dim, labels, classes);
    check_data(&val, in_dim, labels, classes);
    if (val.x_mean != train->x_mean || val.x_std != train->x_std ||
        (val.col_mean && memcmp(val.col_mean, train->col_mean, in_dim * sizeof(float)) != 0))
        broken("nnrt_data_split: the held-out rows did not take the training figures");
    nnrt_data_free(&val);
}

/* Loads s as a training set, then as a test set with its figures. */
static void data_load(const NnrtSource *s, size_t in_dim, int labels, size_t classes)
{
    int kind = LABELS[labels].kind;
    size_t dim = LABELS[labels].dim;
    NnrtData train, test;
    char err[512] = "";
    if (nnrt_data_load(s, in_dim, kind, dim, classes, &train, NULL, err, sizeof err) < 0) {
        check_error(err);
        check_kept_nothing(&train);
        return;
    }
    check_data(&train, in_dim, labels, classes);
    if (nnrt_data_load(s, in_dim, kind, dim, classes, &test, &train, err, sizeof err) < 0)
        broken("nnrt_data_load: the same files failed as a test set");
    check_data(&test, in_dim, labels, classes);
    if (train.normalized && (test.x_mean != train.x_mean || test.x_std != train.x_std))
        broken("nnrt_data_load: the test set did not take the training figures");
    if (train.col_mean && (memcmp(test.col_mean, train.col_mean, in_dim * sizeof(float)) != 0 ||
                           memcmp(test.col_std, train.col_std, in_dim * sizeof(float)) != 0))
        broken("nnrt_data_load: the test set did not take the training set's column figures");
    nnrt_data_free(&test);
    data_split(&train, in_dim, labels, classes);
    nnrt_data_free(&train);
    accepted("nnrt_data_load");
}

static void target_data_idx(uint8_t flags, const uint8_t *p, size_t n)
{
    if (n < 3)
        return;
    size_t split = (size_t)p[0] | (size_t)p[1] << 8, classes = p[2];
    p += 3;
    n -= 3;
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
    data_load(&s, 1 + (flags & 15u), labels, classes);
}

static void target_data_csv(uint8_t flags, const uint8_t *p, size_t n)
{
    if (n < 1)
        return;
    size_t classes = p[0] & 0x7f;
    write_file(path_a, p + 1, n - 1);
    NnrtSource s;
    nnrt_source_init(&s);
    s.kind = NNRT_SRC_CSV;
    s.csv_path = path_a;
    s.csv_header = flags >> 5 & 1;
    s.csv_label = flags >> 6 & 1 ? 0 : -1;
    s.normalize = flags >> 7 & 1 ? (p[0] & 0x80 ? NNRT_NORM_COLUMN : NNRT_NORM_ALL) : NNRT_NORM_NONE;
    int labels = flags >> 3 & 3;
    s.one_hot = LABELS[labels].one_hot;
    data_load(&s, 1 + (flags & 7u), labels, classes);
}

/* ---- 5: safetensors checkpoints ------------------------------------------------ */
/* The model a checkpoint is loaded into: params W [3,2], b [2] in vals[0..8),
 * optimizer state in vals[8..16). */
enum { CK_NUMEL = 6 + 2 };

static void ckpt_model(float *vals, NnrtTensor params[2], NnrtTensor state[2])
{
    NnrtTensor t[4] = {
        { "W", vals, NULL, 2, { 3, 2 }, 6 },
        { "b", vals + 6, NULL, 1, { 2 }, 2 },
        { "opt.W.m", vals + CK_NUMEL, NULL, 2, { 3, 2 }, 6 },
        { "opt.b.m", vals + CK_NUMEL + 6, NULL, 1, { 2 }, 2 },
    };
    memcpy(params, t, 2 * sizeof *t);
    memcpy(state, t + 2, 2 * sizeof *t);
}

/* ---- an independent check of a checkpoint the reader accepted ---------------
 * The safetensors format, checked here without the runtime's code:
 *   u64 H (little-endian), 8 + H <= file size, H <= 100 MB;
 *   H bytes of JSON: one object, then only JSON spaces; its keys distinct
 *   (compared decoded); "__metadata__" an object of strings; every other
 *   key a tensor: an object with exactly "dtype" (a format dtype),
 *   "shape" (unsigned integers) and "data_offsets" ([begin, end]);
 *   end - begin = the shape's bytes; the tensors, ordered by offset, tile
 *   the data from 0 to the end of the file.
 * Where the format leaves room (UTF-8 validity, lone surrogates, the
 * alignment of tensors) this check is the laxer one, so that everything
 * it refuses the format refuses too. */
typedef struct Js {
    const uint8_t *p, *end;
    char *out; /* decoded strings go here, one after another */
} Js;

typedef struct JsTensor {
    const char *name;
    uint64_t begin, end;
} JsTensor;

static void js_ws(Js *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int js_eat(Js *j, char c)
{
    js_ws(j);
    if (j->p >= j->end || *j->p != (uint8_t)c)
        return 0;
    j->p++;
    return 1;
}

static int js_hex4(Js *j, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++, j->p++) {
        if (j->p >= j->end)
            return 0;
        int c = *j->p, d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return 0;
        *v = *v << 4 | (unsigned)d;
    }
    return 1;
}

/* A string, decoded (escapes to UTF-8) into j->out; NULL if malformed. */
static const char *js_string(Js *j)
{
    if (!js_eat(j, '"'))
        return NULL;
    char *start = j->out;
    while (j->p < j->end && *j->p != '"') {
        unsigned c = *j->p++;
        if (c < 0x20)
            return NULL;
        if (c != '\\') {
            *j->out++ = (char)c;
            continue;
        }
        if (j->p >= j->end)
            return NULL;
        c = *j->p++;
        const char *plain = strchr("\"\\/bfnrt", (int)c), *to = "\"\\/\b\f\n\r\t";
        if (c && plain) {
            *j->out++ = to[plain - "\"\\/bfnrt"];
            continue;
        }
        unsigned u;
        if (c != 'u' || !js_hex4(j, &u))
            return NULL;
        if (u >= 0xD800 && u < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
            const uint8_t *back = j->p;
            unsigned lo;
            j->p += 2;
            if (js_hex4(j, &lo) && lo >= 0xDC00 && lo < 0xE000)
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            else
                j->p = back;
        }
        if (u < 0x80) {
            *j->out++ = (char)u;
        } else if (u < 0x800) {
            *j->out++ = (char)(0xC0 | u >> 6);
            *j->out++ = (char)(0x80 | (u & 0x3F));
        } else if (u < 0x10000) {
            *j->out++ = (char)(0xE0 | u >> 12);
            *j->out++ = (char)(0x80 | (u >> 6 & 0x3F));
            *j->out++ = (char)(0x80 | (u & 0x3F));
        } else {
            *j->out++ = (char)(0xF0 | u >> 18);
            *j->out++ = (char)(0x80 | (u >> 12 & 0x3F));
            *j->out++ = (char)(0x80 | (u >> 6 & 0x3F));
            *j->out++ = (char)(0x80 | (u & 0x3F));
        }
    }
    if (j->p >= j->end)
        return NULL;
    j->p++;
    *j->out++ = '\0';
    return start;
}

/* An unsigned integer as JSON writes it (no sign, fraction, exponent or
 * leading zero) that fits 64 bits. */
static int js_u64(Js *j, uint64_t *v)
{
    js_ws(j);
    if (j->p >= j->end || *j->p < '0' || *j->p > '9' || (*j->p == '0' && j->end - j->p > 1 && j->p[1] >= '0' && j->p[1] <= '9'))
        return 0;
    *v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        unsigned d = (unsigned)(*j->p++ - '0');
        if (*v > (UINT64_MAX - d) / 10)
            return 0;
        *v = *v * 10 + d;
    }
    return j->p >= j->end || (*j->p != '.' && *j->p != 'e' && *j->p != 'E');
}

/* [u64, ...] into v (up to max; *n the count; more than max: refused). */
static int js_u64s(Js *j, uint64_t *v, int max, int *n)
{
    *n = 0;
    if (!js_eat(j, '['))
        return 0;
    if (js_eat(j, ']'))
        return 1;
    do {
        if (*n == max || !js_u64(j, &v[(*n)++]))
            return 0;
    } while (js_eat(j, ','));
    return js_eat(j, ']');
}

/* The dtype's element size in bits, or 0 for a name the format lacks. */
static unsigned js_dtype_bits(const char *s)
{
    static const struct { const char *name; unsigned bits; } dt[] = {
        { "BOOL", 8 }, { "U8", 8 }, { "I8", 8 }, { "F8_E5M2", 8 }, { "F8_E4M3", 8 }, { "F8_E8M0", 8 },
        { "F8_E4M3FNUZ", 8 }, { "F8_E5M2FNUZ", 8 }, { "F4", 4 }, { "F6_E2M3", 6 }, { "F6_E3M2", 6 },
        { "I16", 16 }, { "U16", 16 }, { "F16", 16 }, { "BF16", 16 }, { "I32", 32 }, { "U32", 32 },
        { "F32", 32 }, { "I64", 64 }, { "U64", 64 }, { "F64", 64 }, { "C64", 64 },
    };
    for (size_t i = 0; i < sizeof dt / sizeof dt[0]; i++)
        if (strcmp(dt[i].name, s) == 0)
            return dt[i].bits;
    return 0;
}

/* One tensor's object: 1 if it holds exactly the three keys, consistent. */
static int js_tensor(Js *j, JsTensor *t)
{
    const char *dtype = NULL;
    uint64_t shape[64], off[2];
    int rank = -1, n_off = -1;
    if (!js_eat(j, '{'))
        return 0;
    do {
        const char *k = js_string(j);
        if (!k || !js_eat(j, ':'))
            return 0;
        if (strcmp(k, "dtype") == 0 && !dtype) {
            if (!(dtype = js_string(j)))
                return 0;
        } else if (strcmp(k, "shape") == 0 && rank < 0) {
            if (!js_u64s(j, shape, 64, &rank))
                return 0;
        } else if (strcmp(k, "data_offsets") == 0 && n_off < 0) {
            if (!js_u64s(j, off, 2, &n_off) || n_off != 2)
                return 0;
        } else {
            return 0;
        }
    } while (js_eat(j, ','));
    if (!js_eat(j, '}') || !dtype || rank < 0 || n_off != 2)
        return 0;
    unsigned bits = js_dtype_bits(dtype);
    uint64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] && numel > UINT64_MAX / shape[i])
            return 0;
        numel *= shape[i];
    }
    if (!bits || numel > UINT64_MAX / bits || numel * bits % 8 || off[0] > off[1] ||
        off[1] - off[0] != numel * bits / 8)
        return 0;
    t->begin = off[0];
    t->end = off[1];
    return 1;
}

/* "__metadata__": an object of strings (or null). */
static int js_metadata(Js *j)
{
    js_ws(j);
    if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
        j->p += 4;
        return 1;
    }
    if (!js_eat(j, '{'))
        return 0;
    if (js_eat(j, '}'))
        return 1;
    do {
        if (!js_string(j) || !js_eat(j, ':') || !js_string(j))
            return 0;
    } while (js_eat(j, ','));
    return js_eat(j, '}');
}

static int js_by_offset(const void *a, const void *b)
{
    const JsTensor *x = a, *y = b;
    return x->begin != y->begin ? (x->begin < y->begin ? -1 : 1) : (x->end > y->end) - (x->end < y->end);
}

static int js_by_name(const void *a, const void *b)
{
    return strcmp(((const JsTensor *)a)->name, ((const JsTensor *)b)->name);
}

/* The header's members after '{': tensors into t (at most cap). */
static int js_members(Js *j, JsTensor *t, size_t cap, size_t *n)
{
    int meta = 0;
    *n = 0;
    if (js_eat(j, '}'))
        return 1;
    do {
        const char *k = js_string(j);
        if (!k || !js_eat(j, ':'))
            return 0;
        if (strcmp(k, "__metadata__") == 0) {
            if (meta++ || !js_metadata(j))
                return 0;
            continue;
        }
        if (*n == cap || !js_tensor(j, &t[*n]))
            return 0;
        t[(*n)++].name = k;
    } while (js_eat(j, ','));
    return js_eat(j, '}');
}

/* 1 when f[0..size) is a checkpoint the format accepts. */
static int st_valid(const uint8_t *f, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--)
        h = h << 8 | f[i];
    if (h > size - 8 || h > 100000000)
        return 0;
    char *strings = malloc((size_t)h + 1);
    size_t cap = (size_t)h / 8 + 1, n = 0;
    JsTensor *t = malloc(cap * sizeof *t);
    if (!strings || !t)
        broken("out of memory");
    Js j = { f + 8, f + 8 + h, strings };
    int ok = js_eat(&j, '{') && js_members(&j, t, cap, &n);
    js_ws(&j);
    ok = ok && j.p == j.end;
    if (ok && n > 1) { /* names distinct; offsets tile the data */
        qsort(t, n, sizeof *t, js_by_name);
        for (size_t i = 1; i < n && ok; i++)
            ok = strcmp(t[i - 1].name, t[i].name) != 0;
        qsort(t, n, sizeof *t, js_by_offset);
    }
    uint64_t at = 0;
    for (size_t i = 0; i < n && ok; i++) {
        ok = t[i].begin == at;
        at = t[i].end;
    }
    ok = ok && at == size - 8 - h;
    free(strings);
    free(t);
    return ok;
}

/* The file: the payload as it is, or (bit 1) framed here: the payload is
 * the JSON header, a NUL, then the data, and the 8-byte length is written
 * to match the header (padded with spaces to a multiple of 8 with bit 2),
 * so that mutations of the JSON keep the file's framing.  Returns the
 * file's bytes (malloc'd) and *len. */
static uint8_t *ckpt_file(uint8_t flags, const uint8_t *p, size_t n, size_t *len)
{
    const uint8_t *nul = flags & 2 ? memchr(p, 0, n) : NULL;
    size_t h = nul ? (size_t)(nul - p) : 0, pad = nul && flags & 4 ? (8 - h % 8) % 8 : 0;
    *len = nul ? 8 + h + pad + (n - h - 1) : n;
    uint8_t *f = malloc(*len + 1);
    if (!f)
        broken("out of memory");
    if (!nul) {
        memcpy(f, p, n);
    } else {
        for (int i = 0; i < 8; i++)
            f[i] = (uint8_t)((uint64_t)(h + pad) >> (8 * i));
        memcpy(f + 8, p, h);
        memset(f + 8 + h, ' ', pad);
        memcpy(f + 8 + h + pad, nul + 1, n - h - 1);
    }
    write_file(path_a, f, *len);
    return f;
}

/* The bytes of path (malloc'd), *len their count. */
static uint8_t *read_back(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    size_t cap = 0;
    *len = 0;
    if (!f)
        broken("cannot read a saved checkpoint back");
    for (;;) {
        if (*len == cap) {
            cap = cap ? 2 * cap : 4096;
            if (!(b = realloc(b, cap)))
                broken("out of memory");
        }
        size_t got = fread(b + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    return b;
}

/* Figures as nnrt.h promises them after a load: finite, std > 0, names
 * within the count and distinct. */
static void meta_check(const NnrtCkptMeta *m, size_t max_names)
{
    int ok = !m->has_inputs || (isfinite(m->scale) && m->scale != 0.0f);
    if (m->has_inputs && m->normalize == NNRT_NORM_ALL)
        ok = ok && isfinite(m->mean) && isfinite(m->std) && m->std > 0.0f;
    for (size_t i = 0; m->has_inputs && m->normalize == NNRT_NORM_COLUMN && i < m->in_dim; i++)
        ok = ok && isfinite(m->col_mean[i]) && isfinite(m->col_std[i]) && m->col_std[i] > 0.0f;
    ok = ok && m->n_class_names <= max_names && (m->n_class_names == 0) == !m->class_names;
    for (size_t i = 0; ok && i < m->n_class_names; i++)
        for (size_t k = 0; ok && k < i; k++)
            ok = strcmp(m->class_names[i], m->class_names[k]) != 0;
    if (!ok)
        broken("nnrt_ckpt_load: figures nnrt.h does not allow (not finite, std <= 0, names)");
}

/* Two loads' figures are the same, bit for bit. */
static int meta_same(const NnrtCkptMeta *a, const NnrtCkptMeta *b)
{
    int same = a->has_inputs == b->has_inputs && a->n_class_names == b->n_class_names;
    if (same && a->has_inputs)
        same = a->normalize == b->normalize && memcmp(&a->scale, &b->scale, 4) == 0 &&
               (a->normalize != NNRT_NORM_ALL || (memcmp(&a->mean, &b->mean, 4) == 0 &&
                                                 memcmp(&a->std, &b->std, 4) == 0));
    if (same && a->has_inputs && a->normalize == NNRT_NORM_COLUMN)
        same = memcmp(a->col_mean, b->col_mean, 4 * a->in_dim) == 0 &&
               memcmp(a->col_std, b->col_std, 4 * a->in_dim) == 0;
    for (size_t i = 0; same && i < a->n_class_names; i++)
        same = strcmp(a->class_names[i], b->class_names[i]) == 0;
    return same;
}

/* The same file through nnrt_ckpt_load_params (--init-from: params only,
 * any model name, F64/F16/BF16 converted): a failure changes nothing and
 * is one line; a success is a file the format accepts, every param float
 * is read, and the note is at most one line. */
static void ckpt_params_only(const uint8_t *file, size_t len)
{
    float vals[2 * CK_NUMEL], before[2 * CK_NUMEL];
    NnrtTensor params[2], state[2];
    for (int i = 0; i < 2 * CK_NUMEL; i++)
        vals[i] = (float)i - 0.75f;
    memcpy(before, vals, sizeof vals);
    ckpt_model(vals, params, state);
    char err[512] = "", note[1024] = "x";
    if (nnrt_ckpt_load_params(path_a, params, 2, note, sizeof note, err, sizeof err) < 0) {
        check_error(err);
        if (memcmp(vals, before, sizeof vals) != 0)
            broken("nnrt_ckpt_load_params: a failed load changed the params");
        return;
    }
    if (!st_valid(file, len))
        broken("nnrt_ckpt_load_params: accepted a file the safetensors format refuses");
    if (memcmp(vals + CK_NUMEL, before + CK_NUMEL, CK_NUMEL * sizeof(float)) != 0)
        broken("nnrt_ckpt_load_params: changed the optimizer state");
    if (strchr(note, '\n') || !memchr(note, 0, sizeof note))
        broken("nnrt_ckpt_load_params: the note is not one line");
    touch(vals, sizeof vals);
    accepted("nnrt_ckpt_load_params");
}

/* A load into the model; a failure changes nothing, a success is a file
 * the format accepts.  What loaded is saved with nnrt_ckpt_save (a file
 * the format accepts) and loaded again: the same values, bit for bit. */
static void target_ckpt(uint8_t flags, const uint8_t *p, size_t n)
{
    float vals[2 * CK_NUMEL], before[2 * CK_NUMEL], again[2 * CK_NUMEL];
    NnrtTensor params[2], state[2], params2[2], state2[2];
    int n_state = flags & 1 ? 2 : 0;
    for (int i = 0; i < 2 * CK_NUMEL; i++)
        vals[i] = (float)i + 0.25f;
    memcpy(before, vals, sizeof vals);
    memcpy(again, vals, sizeof vals);
    ckpt_model(vals, params, state);
    ckpt_model(again, params2, state2);
    size_t len;
    uint8_t *file = ckpt_file(flags, p, n, &len);
    long epoch = -7, step = -7, epoch2 = -7, step2 = -7;
    char err[512] = "";
    size_t max_names = flags & 8 ? 2 : (size_t)1 << 24;
    NnrtCkptMeta meta, meta2;
    memset(&meta, 0, sizeof meta);
    meta.in_dim = 3;
    meta.max_classes = flags & 8 ? 2 : 0;
    meta2 = meta;
    int rc = nnrt_ckpt_load(path_a, "fuzz", &epoch, &step, &meta, params, 2, state, n_state, err, sizeof err);
    int valid = rc == 0 && st_valid(file, len);
    ckpt_params_only(file, len);
    free(file);
    if (rc < 0) {
        check_error(err);
        if (memcmp(vals, before, sizeof vals) != 0 || epoch != -7 || step != -7)
            broken("nnrt_ckpt_load: a failed load changed the model");
        if (meta.has_inputs || meta.col_mean || meta.col_std || meta.class_names)
            broken("nnrt_ckpt_load: a failed load handed over figures");
        return;
    }
    meta_check(&meta, max_names);
    if (!valid)
        broken("nnrt_ckpt_load: accepted a file the safetensors format refuses");
    if (epoch < 0 || step < 0)
        broken("nnrt_ckpt_load: a negative epoch or step");
    touch(vals, sizeof vals);
    if (nnrt_ckpt_save(path_b, "fuzz", epoch, step, &meta, params, 2, state, n_state, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_runtime: %s\n", err);
        broken("nnrt_ckpt_save: cannot save what was loaded");
    }
    uint8_t *saved = read_back(path_b, &len);
    valid = st_valid(saved, len);
    free(saved);
    if (!valid)
        broken("nnrt_ckpt_save: wrote a file the safetensors format refuses");
    if (nnrt_ckpt_load(path_b, "fuzz", &epoch2, &step2, &meta2, params2, 2, state2, n_state, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_runtime: %s\n", err);
        broken("nnrt_ckpt_load: refused a checkpoint nnrt_ckpt_save wrote");
    }
    if (memcmp(vals, again, sizeof vals) != 0 || epoch2 != epoch || step2 != step || !meta_same(&meta, &meta2))
        broken("nnrt_ckpt_load: a saved checkpoint did not load back the same");
    nnrt_ckpt_meta_free(&meta);
    nnrt_ckpt_meta_free(&meta2);
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
    case 0: target_idx(flags, p, n); break;
    case 1: target_idx_gzip(flags, p, n); break;
    case 2: target_csv(flags, p, n); break;
    case 3: target_data_idx(flags, p, n); break;
    case 4: target_data_csv(flags, p, n); break;
    default: target_ckpt(flags, p, n); break;
    }
    return 0;
}
