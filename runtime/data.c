/* data.c: data sets, from a train block's source to batches of floats.
 *
 * Loading is four steps, each with its own checks:
 *   0. the labels the model wants, before any file is read: K, the class
 *      count class ids must stay below (the model's classes for i32 ids,
 *      the label width for one-hot rows; 0 when labels are plain numbers),
 *      at most 2^24 so that every id is exact in a float;
 *   1. read the source into a NnrtRaw: inputs (bytes or floats, one row of
 *      feat values per sample) and labels as floats of width lab_w.  The
 *      readers check class ids against K where they still know the place
 *      (CSV: line and column, read as integers; IDX: row and byte offset);
 *      an empty set is refused;
 *   2. fit the labels to what the model declares: int32 class ids, float
 *      rows of width K (one-hot from ids), or 0/1 floats of width 1; every
 *      id is checked against K again, whatever the source;
 *   3. the input transforms: x = (raw * scale - mean) / std, with mean and
 *      std (population, over every input value of the training set after
 *      scale) only when normalize is on; a test set reuses the training
 *      figures.  The formula is applied by nnrt_gather, a batch at a time,
 *      so IDX images stay bytes in memory.
 *
 * Built-in sources: spiral (DeZero's get_spiral layout, rows class by
 * class, not shuffled: training shuffles), the logic gates, and tables.
 */
#include "nnrt.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define NNRT_WHAT 512

typedef struct NnrtRaw {
    size_t rows, feat;
    uint8_t *xb; float *xf;     /* owned until moved into NnrtData */
    float *lab; size_t lab_w;   /* rows * lab_w */
    char **names; size_t n_names; /* a CSV file's class names (owned until moved) */
    char what[NNRT_WHAT];       /* the source, for messages about inputs */
    char lab_what[NNRT_WHAT];   /* the same for labels (IDX: the labels file) */
} NnrtRaw;

static void nnrt_raw_free(NnrtRaw *r)
{
    free(r->xb);
    free(r->xf);
    free(r->lab);
    for (size_t i = 0; i < r->n_names; i++)
        free(r->names[i]);
    free(r->names);
    r->xb = NULL;
    r->xf = NULL;
    r->lab = NULL;
    r->names = NULL;
    r->n_names = 0;
}

void nnrt_source_init(NnrtSource *s)
{
    memset(s, 0, sizeof *s);
    s->kind = NNRT_SRC_NONE;
    s->scale = 1.0f;
    s->csv_label = -1;
    s->csv_header = 1;
}

/* Largest class count: ids up to 2^24 are exact in the float labels. */
#define NNRT_MAX_CLASSES ((size_t)1 << 24)

/* ---- describing a source ---------------------------------------------- */
static void nnrt_cat(char *buf, size_t len, size_t *used, const char *fmt, ...) NNRT_PRINTF(4, 5);

static void nnrt_cat(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    if (*used >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n;
}

static void nnrt_describe_base(const NnrtSource *s, char *buf, size_t len, size_t *u)
{
    switch (s->kind) {
    case NNRT_SRC_NONE: nnrt_cat(buf, len, u, "none"); return;
    case NNRT_SRC_SPIRAL:
        nnrt_cat(buf, len, u, "spiral(classes=%d, points=%d, seed=%llu", s->classes, s->points,
                 (unsigned long long)s->seed);
        return;
    case NNRT_SRC_XOR: nnrt_cat(buf, len, u, "xor("); return;
    case NNRT_SRC_GATE: nnrt_cat(buf, len, u, "gate(\"%s\"", s->gate ? s->gate : "?"); return;
    case NNRT_SRC_TABLE: nnrt_cat(buf, len, u, "table(%zu rows", s->table_rows); return;
    case NNRT_SRC_IDX:
        nnrt_cat(buf, len, u, "idx(images=\"%s\", labels=\"%s\"", s->images ? s->images : "",
                 s->labels ? s->labels : "");
        return;
    case NNRT_SRC_CSV:
        nnrt_cat(buf, len, u, "csv(\"%s\", label=%d, header=%s", s->csv_path ? s->csv_path : "",
                 s->csv_label, s->csv_header ? "true" : "false");
        return;
    }
}

void nnrt_source_describe(const NnrtSource *s, char *buf, size_t len)
{
    size_t u = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    nnrt_describe_base(s, buf, len, &u);
    if (s->kind == NNRT_SRC_NONE)
        return;
    const char *sep = s->kind == NNRT_SRC_XOR ? "" : ", ";
    if (s->scale != 1.0f && s->scale != 0.0f) {
        nnrt_cat(buf, len, &u, "%sscale=%g", sep, (double)s->scale);
        sep = ", ";
    }
    if (s->normalize) {
        nnrt_cat(buf, len, &u, "%snormalize=%s", sep,
                 s->normalize == NNRT_NORM_COLUMN ? "\"column\"" : "true");
        sep = ", ";
    }
    if (s->flatten) {
        nnrt_cat(buf, len, &u, "%sflatten=true", sep);
        sep = ", ";
    }
    if (s->one_hot > 0)
        nnrt_cat(buf, len, &u, "%sone_hot=%d", sep, s->one_hot);
    nnrt_cat(buf, len, &u, ")");
}

/* ---- built-in sources ---------------------------------------------------- */

/* Point i of class j (row j*points + i): r = i/points,
 * t = 4j + 4r + 0.2 N(0,1),  x = (r sin t, r cos t),  label j.
 * The normals come from an NnrtRng seeded with seed, drawn in row order. */
int nnrt_spiral(int classes, int points, uint64_t seed, float *x, float *lab)
{
    if (classes < 1 || points < 1)
        return -1;
    NnrtRng rng;
    nnrt_rng_seed(&rng, seed);
    for (int j = 0; j < classes; j++) {
        for (int i = 0; i < points; i++) {
            size_t row = (size_t)j * (size_t)points + (size_t)i;
            double r = (double)i / (double)points;
            double t = 4.0 * j + 4.0 * r + 0.2 * (double)nnrt_rng_normal(&rng);
            x[2 * row] = (float)(r * sin(t));
            x[2 * row + 1] = (float)(r * cos(t));
            lab[row] = (float)j;
        }
    }
    return 0;
}

/* Rows (0,0) (0,1) (1,0) (1,1) and the gate's output for each. */
int nnrt_gate_table(const char *gate, float x[8], float lab[4])
{
    static const char *const names[] = { "and", "or", "nand", "xor" };
    static const float outs[4][4] = { { 0, 0, 0, 1 }, { 0, 1, 1, 1 }, { 1, 1, 1, 0 }, { 0, 1, 1, 0 } };
    for (int g = 0; g < 4; g++) {
        if (!gate || strcmp(gate, names[g]) != 0)
            continue;
        for (int i = 0; i < 4; i++) {
            x[2 * i] = (float)(i >> 1);
            x[2 * i + 1] = (float)(i & 1);
            lab[i] = outs[g][i];
        }
        return 0;
    }
    return -1;
}

/* Room for rows x feat float inputs and rows x lab_w float labels. */
static int nnrt_raw_alloc(NnrtRaw *r, size_t rows, size_t feat, size_t lab_w, char *err,
                          size_t errlen)
{
    r->rows = rows;
    r->feat = feat;
    r->lab_w = lab_w;
    r->xf = malloc((rows * feat > 0 ? rows * feat : 1) * sizeof(float));
    r->lab = malloc((rows * lab_w > 0 ? rows * lab_w : 1) * sizeof(float));
    if (!r->xf || !r->lab)
        return nnrt_errf(err, errlen, "%s: out of memory for %zu rows", r->what, rows);
    return 0;
}

static int nnrt_load_spiral(const NnrtSource *s, NnrtRaw *r, char *err, size_t errlen)
{
    if (s->classes < 1 || s->points < 1 || (long long)s->classes * s->points > 100000000LL)
        return nnrt_errf(err, errlen, "%s: classes and points must be >= 1 (and their product "
                         "at most 1e8)", r->what);
    size_t rows = (size_t)s->classes * (size_t)s->points;
    if (nnrt_raw_alloc(r, rows, 2, 1, err, errlen) < 0)
        return -1;
    return nnrt_spiral(s->classes, s->points, s->seed, r->xf, r->lab);
}

static int nnrt_load_gate(const NnrtSource *s, NnrtRaw *r, char *err, size_t errlen)
{
    const char *gate = s->kind == NNRT_SRC_XOR ? "xor" : s->gate;
    if (nnrt_raw_alloc(r, 4, 2, 1, err, errlen) < 0)
        return -1;
    if (nnrt_gate_table(gate, r->xf, r->lab) < 0)
        return nnrt_errf(err, errlen, "%s: unknown gate (want and, or, nand or xor)", r->what);
    return 0;
}

static int nnrt_load_table(const NnrtSource *s, size_t in_dim, NnrtRaw *r, char *err,
                           size_t errlen)
{
    size_t w = s->table_t_dim ? s->table_t_dim : 1;
    if (s->table_rows == 0 || !s->table_x || !s->table_t)
        return nnrt_errf(err, errlen, "%s: the table has no rows", r->what);
    if (nnrt_raw_alloc(r, s->table_rows, in_dim, w, err, errlen) < 0)
        return -1;
    memcpy(r->xf, s->table_x, s->table_rows * in_dim * sizeof(float));
    memcpy(r->lab, s->table_t, s->table_rows * w * sizeof(float));
    for (size_t i = 0; s->ids && i < s->table_rows * in_dim; i++) {
        float v = r->xf[i]; /* an id: an integer in [0, V), V <= 2^24 */
        if (!(v >= 0.0f && v < (float)s->ids && v == floorf(v)))
            return nnrt_errf(err, errlen, "%s: row %zu, input %zu: %g is not an id in [0, %zu), "
                             "the rows of the model's embedding table", r->what, i / in_dim + 1,
                             i % in_dim + 1, (double)v, s->ids);
    }
    return 0;
}

/* Why class id `id` is outside [0, K), from the range lo..hi of all the
 * set's labels: the likely cause, for the message. */
static void nnrt_id_hint(char *buf, size_t len, double id, size_t K, double lo, double hi)
{
    if (id < 0)
        snprintf(buf, len, "class ids count from 0");
    else if (lo >= 1 && hi == (double)K)
        snprintf(buf, len, "the labels run %.0f..%.0f: are they 1-based?", lo, hi);
    else
        snprintf(buf, len, "the labels run %.0f..%.0f: is the model's class count right?", lo, hi);
}

/* IDX labels (bytes, exact) against K: label i sits at byte 8 + i of the
 * (inflated) file. */
static int nnrt_idx_ids(const NnrtIdx *lb, const char *path, size_t K, char *err, size_t errlen)
{
    unsigned lo = 255, hi = 0;
    char hint[128];
    for (size_t i = 0; i < lb->count; i++) {
        lo = lb->bytes[i] < lo ? lb->bytes[i] : lo;
        hi = lb->bytes[i] > hi ? lb->bytes[i] : hi;
    }
    for (size_t i = 0; K && i < lb->count; i++) {
        if (lb->bytes[i] < K)
            continue;
        nnrt_id_hint(hint, sizeof hint, lb->bytes[i], K, lo, hi);
        return nnrt_errf(err, errlen, "%s: row %zu (byte %zu%s): class id %u is outside [0, %zu) "
                         "for a model with %zu classes; %s", path, i + 1, 8 + i,
                         lb->gzip ? " inflated" : "", (unsigned)lb->bytes[i], K, K, hint);
    }
    return 0;
}

/* IDX images (kept as bytes) and labels (to floats), counts checked; the
 * image size is checked against in_dim before the data is read. */
static int nnrt_load_idx(const NnrtSource *s, size_t in_dim, size_t K, NnrtRaw *r, char *err,
                         size_t errlen)
{
    if (!s->images || !s->labels)
        return nnrt_errf(err, errlen, "%s: idx needs an images path and a labels path", r->what);
    snprintf(r->what, sizeof r->what, "%s", s->images);
    snprintf(r->lab_what, sizeof r->lab_what, "%s", s->labels);
    NnrtIdx im, lb;
    if (nnrt_idx_read(s->images, 3, in_dim, &im, err, errlen) < 0)
        return -1;
    r->xb = im.bytes; /* ownership moves to r */
    r->rows = im.count;
    r->feat = im.item;
    if (im.count == 0)
        return nnrt_errf(err, errlen, "%s: no images (the IDX header's count is 0): an empty data "
                         "set", s->images);
    if (nnrt_idx_read(s->labels, 1, 0, &lb, err, errlen) < 0)
        return -1;
    int rc = 0;
    if (lb.count != im.count)
        rc = nnrt_errf(err, errlen, "%s: %zu labels, but %s has %zu images", s->labels,
                       lb.count, s->images, im.count);
    else if (nnrt_idx_ids(&lb, s->labels, K, err, errlen) < 0)
        rc = -1;
    else if (!(r->lab = malloc(lb.count * sizeof(float))))
        rc = nnrt_errf(err, errlen, "%s: out of memory", s->labels);
    for (size_t i = 0; rc == 0 && i < lb.count; i++)
        r->lab[i] = (float)lb.bytes[i];
    r->lab_w = 1;
    nnrt_idx_free(&lb);
    return rc;
}

/* A CSV file; a test set's labels are read through the training set's
 * class names (train NULL: the file's own). */
static int nnrt_load_csv(const NnrtSource *s, size_t in_dim, size_t K, const NnrtData *train,
                         NnrtRaw *r, char *err, size_t errlen)
{
    NnrtCsv c;
    int rc;
    if (!s->csv_path)
        return nnrt_errf(err, errlen, "%s: csv needs a path", r->what);
    snprintf(r->what, sizeof r->what, "%s", s->csv_path);
    snprintf(r->lab_what, sizeof r->lab_what, "%s", s->csv_path);
    rc = nnrt_csv_read_ids(s->csv_path, s->csv_header, s->csv_label, K, s->ids, train != NULL,
                           train ? train->class_names : NULL, train ? train->n_class_names : 0,
                           &c, err, errlen);
    if (rc < 0)
        return -1;
    r->xf = c.x;
    r->lab = c.lab;
    r->names = c.names;
    r->n_names = c.n_names;
    r->rows = c.rows;
    r->feat = c.cols - 1;
    r->lab_w = 1;
    if (r->feat != in_dim)
        return nnrt_errf(err, errlen, "%s: rows have %zu features (and a label), the model's "
                         "input has %zu (f32[B,%zu])", s->csv_path, r->feat, in_dim, in_dim);
    return 0;
}

/* Step 1: any source into a NnrtRaw whose rows have in_dim inputs (the
 * readers check class ids against K where K > 0). */
static int nnrt_load_raw(const NnrtSource *s, size_t in_dim, size_t K, const NnrtData *train,
                         NnrtRaw *r, char *err, size_t errlen)
{
    nnrt_source_describe(s, r->what, sizeof r->what);
    memcpy(r->lab_what, r->what, sizeof r->what);
    int rc = -1;
    switch (s->kind) {
    case NNRT_SRC_NONE: return nnrt_errf(err, errlen, "no data source");
    case NNRT_SRC_SPIRAL: rc = nnrt_load_spiral(s, r, err, errlen); break;
    case NNRT_SRC_XOR:
    case NNRT_SRC_GATE: rc = nnrt_load_gate(s, r, err, errlen); break;
    case NNRT_SRC_TABLE: return nnrt_load_table(s, in_dim, r, err, errlen);
    case NNRT_SRC_IDX: return nnrt_load_idx(s, in_dim, K, r, err, errlen);
    case NNRT_SRC_CSV: return nnrt_load_csv(s, in_dim, K, train, r, err, errlen);
    }
    if (rc < 0)
        return -1;
    /* spiral and gates have 2 inputs a row */
    if (r->feat != in_dim)
        return nnrt_errf(err, errlen, "%s: rows have %zu inputs, the model's input has %zu "
                         "(f32[B,%zu])", r->what, r->feat, in_dim, in_dim);
    return 0;
}

/* ---- step 0: what the labels must be ------------------------------------- */

/* K for a model with labels of label_kind (see nnrt_data_load): checked
 * before any file is read.  0, or -1 with one line in err. */
static int nnrt_label_plan(const NnrtSource *s, int kind, size_t label_dim, size_t classes,
                           size_t *K, char *err, size_t errlen)
{
    char what[NNRT_WHAT];
    nnrt_source_describe(s, what, sizeof what);
    *K = 0;
    if (kind == NNRT_LABEL_CLASS) {
        if (s->one_hot > 0)
            return nnrt_errf(err, errlen, "%s: one_hot=%d makes f32[B,%d] labels, but the "
                             "model's label is i32[B] class ids", what, s->one_hot, s->one_hot);
        *K = classes;
    } else {
        if (label_dim == 0)
            return nnrt_errf(err, errlen, "%s: the model's label width is 0", what);
        if (s->one_hot > 0 && (size_t)s->one_hot != label_dim)
            return nnrt_errf(err, errlen, "%s: one_hot=%d does not match the model's label "
                             "f32[B,%zu]", what, s->one_hot, label_dim);
        if (s->one_hot > 0 || label_dim > 1)
            *K = label_dim; /* ids become one-hot rows of this width */
    }
    if (kind == NNRT_LABEL_CLASS && (classes == 0 || classes > NNRT_MAX_CLASSES))
        return nnrt_errf(err, errlen, "%s: the model's class count %zu is outside [1, 2^24]", what,
                         classes);
    if (*K > NNRT_MAX_CLASSES)
        return nnrt_errf(err, errlen, "%s: one-hot labels of width %zu: more than 2^24 classes",
                         what, *K);
    return 0;
}

/* ---- step 2: labels ------------------------------------------------------ */

/* v as a class id below K, or -1 (floats hold every id below 2^24). */
static long nnrt_class_id(float v, size_t K)
{
    if (!(v >= 0.0f) || v != floorf(v) || (double)v >= (double)K)
        return -1;
    return (long)v;
}

/* "row R: ..." for a label that is not a class id below K. */
static int nnrt_id_error(const NnrtRaw *r, size_t i, size_t K, char *err, size_t errlen)
{
    double v = (double)r->lab[i], lo = v, hi = v;
    char hint[128];
    if (!isfinite(v) || v != floor(v))
        return nnrt_errf(err, errlen, "%s: row %zu: label %g is not a class id (an integer in "
                         "[0, %zu))", r->lab_what, i + 1, v, K);
    for (size_t j = 0; j < r->rows; j++) {
        double w = (double)r->lab[j];
        lo = w < lo ? w : lo;
        hi = w > hi ? w : hi;
    }
    nnrt_id_hint(hint, sizeof hint, v, K, lo, hi);
    return nnrt_errf(err, errlen, "%s: row %zu: class id %.0f is outside [0, %zu) for a model "
                     "with %zu classes; %s", r->lab_what, i + 1, v, K, K, hint);
}

static int nnrt_labels_to_ids(const NnrtRaw *r, size_t K, NnrtData *out, char *err,
                              size_t errlen)
{
    if (r->lab_w != 1)
        return nnrt_errf(err, errlen, "%s: label rows have width %zu, the model's label is "
                         "i32[B] class ids", r->lab_what, r->lab_w);
    out->tc = malloc(r->rows * sizeof(int32_t));
    if (!out->tc)
        return nnrt_errf(err, errlen, "%s: out of memory", r->lab_what);
    for (size_t i = 0; i < r->rows; i++) {
        long id = nnrt_class_id(r->lab[i], K);
        if (id < 0)
            return nnrt_id_error(r, i, K, err, errlen);
        out->tc[i] = (int32_t)id;
        if (id + 1 > out->classes)
            out->classes = (int)id + 1;
    }
    out->t_dim = 1;
    return 0;
}

/* ids -> rows of K: t[i][id] = 1, the rest 0. */
static int nnrt_labels_one_hot(const NnrtRaw *r, size_t K, NnrtData *out, char *err,
                               size_t errlen)
{
    if (r->rows > SIZE_MAX / sizeof(float) / K)
        return nnrt_errf(err, errlen, "%s: %zu rows of %zu one-hot labels: too large",
                         r->lab_what, r->rows, K);
    out->tf = calloc(r->rows * K, sizeof(float));
    if (!out->tf)
        return nnrt_errf(err, errlen, "%s: out of memory", r->lab_what);
    for (size_t i = 0; i < r->rows; i++) {
        long id = nnrt_class_id(r->lab[i], K);
        if (id < 0)
            return nnrt_id_error(r, i, K, err, errlen);
        out->tf[i * K + (size_t)id] = 1.0f;
    }
    out->t_dim = K;
    out->classes = (int)K;
    return 0;
}

static int nnrt_labels_copy(NnrtRaw *r, NnrtData *out)
{
    out->tf = r->lab;
    r->lab = NULL;
    out->t_dim = r->lab_w;
    out->classes = r->lab_w > 1 ? (int)r->lab_w : 0;
    for (size_t i = 0; r->lab_w == 1 && i < r->rows; i++) {
        long id = nnrt_class_id(out->tf[i], NNRT_MAX_CLASSES);
        if (id < 0) {
            out->classes = 0;
            break;
        }
        if (id + 1 > out->classes)
            out->classes = (int)id + 1;
    }
    return 0;
}

/* Step 2: the labels the model declared, K from step 0. */
static int nnrt_fit_labels(const NnrtSource *s, NnrtRaw *r, int kind, size_t label_dim,
                           size_t K, NnrtData *out, char *err, size_t errlen)
{
    out->label_kind = kind;
    if (kind == NNRT_LABEL_CLASS)
        return nnrt_labels_to_ids(r, K, out, err, errlen);
    if (r->lab_w == label_dim && s->one_hot <= 0)
        return nnrt_labels_copy(r, out);
    if (r->lab_w == 1 && K > 0)
        return nnrt_labels_one_hot(r, K, out, err, errlen);
    return nnrt_errf(err, errlen, "%s: label rows have width %zu, the model's label is "
                     "f32[B,%zu]", r->lab_what, r->lab_w, label_dim);
}

/* ---- step 3: inputs ------------------------------------------------------ */

/* A std that can divide: 0 (a constant input), a value below the smallest
 * normal float, or one that overflows a float becomes 1 (the input is then
 * only centred, as scikit-learn's StandardScaler does). */
static float nnrt_usable_std(double std)
{
    return std >= (double)FLT_MIN && (float)std < INFINITY ? (float)std : 1.0f;
}

/* Population mean and std of every raw*scale value, in double; a constant
 * input, or one whose std is below the smallest normal float, gets std 1
 * so that normalising never divides by zero or overflows. */
static void nnrt_input_stats(const NnrtData *d, double *mean, double *std)
{
    size_t n = d->rows * d->in_dim;
    double sum = 0.0, sq = 0.0;
    if (d->xb) { /* 256 possible values: count them, exact and fast */
        double count[256] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[d->xb[i]] += 1.0;
        for (int b = 0; b < 256; b++)
            sum += count[b] * (double)((float)b * d->x_scale);
        *mean = sum / (double)n;
        for (int b = 0; b < 256; b++) {
            double v = (double)((float)b * d->x_scale) - *mean;
            sq += count[b] * v * v;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            sum += (double)(d->xf[i] * d->x_scale);
        *mean = sum / (double)n;
        for (size_t i = 0; i < n; i++) {
            double v = (double)(d->xf[i] * d->x_scale) - *mean;
            sq += v * v;
        }
    }
    *std = (double)nnrt_usable_std(sqrt(sq / (double)n)); /* 1e-45 would overflow x / std */
}

/* One stored input value times scale, as nnrt_gather computes it. */
static double nnrt_raw_scaled(const NnrtData *d, size_t i)
{
    return d->xb ? (double)((float)d->xb[i] * d->x_scale) : (double)(d->xf[i] * d->x_scale);
}

/* Per input column j, over the rows:  mean_j = sum_i v_ij / rows,
 * std_j = sqrt(sum_i (v_ij - mean_j)^2 / rows)  (population), v = raw * scale,
 * in double, two passes.  -1 when out of memory. */
static int nnrt_column_stats(NnrtData *d)
{
    size_t w = d->in_dim, n = d->rows;
    double *m = calloc(2 * w, sizeof(double)), *q = m + w;
    if (!m)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < w; j++)
            m[j] += nnrt_raw_scaled(d, i * w + j);
    for (size_t j = 0; j < w; j++)
        m[j] /= (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < w; j++) {
            double v = nnrt_raw_scaled(d, i * w + j) - m[j];
            q[j] += v * v;
        }
    for (size_t j = 0; j < w; j++) {
        d->col_mean[j] = (float)m[j];
        d->col_std[j] = nnrt_usable_std(sqrt(q[j] / (double)n));
    }
    free(m);
    return 0;
}

/* The normalizing figures of d's own rows, in d->normalized's mode
 * (col_mean and col_std allocated for COLUMN). */
static int nnrt_fit_stats(NnrtData *d)
{
    if (d->normalized == NNRT_NORM_ALL) {
        double mean, std;
        nnrt_input_stats(d, &mean, &std);
        d->x_mean = (float)mean;
        d->x_std = (float)std;
        return 0;
    }
    return d->normalized == NNRT_NORM_COLUMN ? nnrt_column_stats(d) : 0;
}

/* d takes the figures of t (the training set), same mode. */
static void nnrt_copy_stats(NnrtData *d, const NnrtData *t)
{
    d->x_mean = t->x_mean;
    d->x_std = t->x_std;
    if (d->normalized != NNRT_NORM_COLUMN)
        return;
    memcpy(d->col_mean, t->col_mean, d->in_dim * sizeof(float));
    memcpy(d->col_std, t->col_std, d->in_dim * sizeof(float));
}

/* Step 3: scale, and the normalizing figures: the training set's when
 * train_stats has them in this mode, else this set's own. */
static int nnrt_fit_inputs(const NnrtSource *s, NnrtData *out, const NnrtData *train_stats,
                           char *err, size_t errlen)
{
    out->x_scale = s->scale == 0.0f ? 1.0f : s->scale;
    out->x_mean = 0.0f;
    out->x_std = 1.0f;
    out->normalized = s->normalize;
    if (s->normalize < NNRT_NORM_NONE || s->normalize > NNRT_NORM_COLUMN)
        return nnrt_errf(err, errlen, "normalize mode %d is not one of 0 (none), 1 (all values), "
                         "2 (per column)", s->normalize);
    if (s->normalize == NNRT_NORM_COLUMN) {
        out->col_mean = malloc(out->in_dim * sizeof(float));
        out->col_std = malloc(out->in_dim * sizeof(float));
        if (!out->col_mean || !out->col_std)
            return nnrt_errf(err, errlen, "out of memory for %zu column figures", out->in_dim);
    }
    if (train_stats && train_stats->normalized == s->normalize) {
        nnrt_copy_stats(out, train_stats);
        return 0;
    }
    if (nnrt_fit_stats(out) < 0)
        return nnrt_errf(err, errlen, "out of memory for %zu column figures", out->in_dim);
    return 0;
}

/* An id model's source (s->ids = V > 0): CSV or a table, its values as they
 * are (no scale, no normalize: an id is a row number), V <= 2^24 so that
 * every id is exact in the float rows.  0, or -1 with one line in err. */
static int nnrt_ids_plan(const NnrtSource *s, char *err, size_t errlen)
{
    char what[NNRT_WHAT];
    if (!s->ids)
        return 0;
    nnrt_source_describe(s, what, sizeof what);
    if (s->ids > (size_t)1 << 24)
        return nnrt_errf(err, errlen, "%s: ids in [0, %zu): at most 2^24 rows of an embedding "
                         "table are supported", what, s->ids);
    if (s->kind != NNRT_SRC_CSV && s->kind != NNRT_SRC_TABLE)
        return nnrt_errf(err, errlen, "%s: the model's input is i32 ids, read from a CSV file or a "
                         "table only", what);
    if ((s->scale != 0.0f && s->scale != 1.0f) || s->normalize != NNRT_NORM_NONE)
        return nnrt_errf(err, errlen, "%s: the model's input is i32 ids, which are neither scaled "
                         "nor normalized; drop scale and normalize", what);
    return 0;
}

int nnrt_data_load(const NnrtSource *s, size_t in_dim, int label_kind, size_t label_dim,
                   size_t classes, NnrtData *out, const NnrtData *train_stats, char *err,
                   size_t errlen)
{
    NnrtRaw r;
    size_t K;
    memset(&r, 0, sizeof r);
    memset(out, 0, sizeof *out);
    if (in_dim == 0)
        return nnrt_errf(err, errlen, "the model's input width is 0");
    int rc = nnrt_ids_plan(s, err, errlen);
    if (rc == 0)
        rc = nnrt_label_plan(s, label_kind, label_dim, classes, &K, err, errlen);
    if (rc == 0)
        rc = nnrt_load_raw(s, in_dim, K, train_stats, &r, err, errlen);
    if (rc == 0 && r.rows == 0)
        rc = nnrt_errf(err, errlen, "%s: no rows: an empty data set", r.what);
    if (rc == 0 && r.rows > 0xFFFFFFFFu)
        rc = nnrt_errf(err, errlen, "%s: %zu rows is more than 2^32-1", r.what, r.rows);
    if (rc == 0)
        rc = nnrt_fit_labels(s, &r, label_kind, label_dim, K, out, err, errlen);
    if (rc == 0) {
        out->rows = r.rows;
        out->in_dim = in_dim;
        out->xb = r.xb;
        out->xf = r.xf;
        out->class_names = r.names;
        out->n_class_names = r.n_names;
        r.xb = NULL;
        r.xf = NULL;
        r.names = NULL;
        r.n_names = 0;
        rc = nnrt_fit_inputs(s, out, train_stats, err, errlen);
    }
    nnrt_raw_free(&r);
    if (rc < 0)
        nnrt_data_free(out);
    return rc;
}

size_t nnrt_model_classes(const NnrtModel *m)
{
    if (m->label_kind != NNRT_LABEL_CLASS)
        return 0;
    return m->classes ? m->classes : m->out_dim;
}

void nnrt_data_free(NnrtData *d)
{
    free(d->xb);
    free(d->xf);
    free(d->tc);
    free(d->tf);
    free(d->col_mean);
    free(d->col_std);
    for (size_t i = 0; i < d->n_class_names; i++)
        free(d->class_names[i]);
    free(d->class_names);
    memset(d, 0, sizeof *d);
}

/* ---- batching -------------------------------------------------------------- */

/* One row, normalized per column: x_j = (raw_j * scale - mean_j) / std_j. */
static void nnrt_gather_columns(const NnrtData *d, size_t row, float *x)
{
    size_t w = d->in_dim;
    float s = d->x_scale;
    for (size_t j = 0; j < w; j++) {
        float v = d->xb ? (float)d->xb[row * w + j] : d->xf[row * w + j];
        x[j] = (v * s - d->col_mean[j]) / d->col_std[j];
    }
}

/* One row of inputs, converted: x = (raw * scale - mean) / std.  The loop
 * over bytes vectorizes (the runtime is built with -O3). */
static void nnrt_gather_x(const NnrtData *d, size_t row, float *x)
{
    size_t w = d->in_dim;
    float s = d->x_scale, m = d->x_mean, sd = d->x_std;
    if (d->col_mean) {
        nnrt_gather_columns(d, row, x);
    } else if (d->xb) {
        const uint8_t *b = d->xb + row * w;
        for (size_t j = 0; j < w; j++)
            x[j] = ((float)b[j] * s - m) / sd;
    } else if (s == 1.0f && m == 0.0f && sd == 1.0f) {
        memcpy(x, d->xf + row * w, w * sizeof(float));
    } else {
        const float *f = d->xf + row * w;
        for (size_t j = 0; j < w; j++)
            x[j] = (f[j] * s - m) / sd;
    }
}

typedef struct NnrtGatherJob {
    const NnrtData *d;
    const uint32_t *perm;
    size_t start, n;
    float *x;
    void *t;
} NnrtGatherJob;

/* Asks for row `row` of d's stored inputs (a shuffled row is a cache miss
 * each 64 bytes; asked for two rows ahead, it arrives while the rows
 * between are converted: an epoch's gather of Fashion-MNIST measured about
 * 15% faster). */
static void nnrt_prefetch_row(const NnrtData *d, size_t row)
{
#ifdef __GNUC__
    size_t w = d->in_dim, bytes = d->xb ? w : w * sizeof(float);
    const char *p = d->xb ? (const char *)(d->xb + row * w) : (const char *)(d->xf + row * w);
    for (size_t q = 0; q < bytes; q += 64)
        __builtin_prefetch(p + q);
#else
    (void)d, (void)row;
#endif
}

/* Rows [n·part/parts, n·(part+1)/parts) of the batch. */
static void nnrt_gather_part(void *ctx, int part, int parts)
{
    const NnrtGatherJob *j = ctx;
    const NnrtData *d = j->d;
    size_t i1 = j->n * (size_t)(part + 1) / (size_t)parts;
    int ahead = j->perm && d->in_dim >= 64; /* rows of a cache line or two arrive with the first miss */
    for (size_t i = j->n * (size_t)part / (size_t)parts; i < i1; i++) {
        size_t row = j->perm ? j->perm[j->start + i] : j->start + i;
        if (ahead && i + 2 < i1)
            nnrt_prefetch_row(d, j->perm[j->start + i + 2]);
        nnrt_gather_x(d, row, j->x + i * d->in_dim);
        if (!j->t)
            continue;
        if (d->tc)
            ((int32_t *)j->t)[i] = d->tc[row];
        else
            memcpy((float *)j->t + i * d->t_dim, d->tf + row * d->t_dim, d->t_dim * sizeof(float));
    }
}

/* The batch's rows, split over the threads when there are 2^16 values or more. */
void nnrt_gather(const NnrtData *d, const uint32_t *perm, size_t start, size_t n,
                 float *x, void *t)
{
    NnrtGatherJob j = {d, perm, start, n, x, t};
    if (n * d->in_dim >= ((size_t)1 << 16) && nnrt_threads() > 1)
        nnrt_parallel(nnrt_gather_part, &j);
    else
        nnrt_gather_part(&j, 0, 1);
}

/* ---- a validation split ------------------------------------------------------ */

/* Rows held out: round(fraction * rows), refused unless both sides keep a row. */
static int nnrt_split_count(size_t rows, double fraction, size_t *held, char *err, size_t errlen)
{
    if (!(fraction > 0.0 && fraction < 1.0))
        return nnrt_errf(err, errlen, "validation=%g: the fraction of training rows to hold out "
                         "must lie in (0, 1), such as 0.1", fraction);
    *held = (size_t)floor(fraction * (double)rows + 0.5);
    if (*held >= 1 && *held < rows)
        return 0;
    return nnrt_errf(err, errlen, "validation=%g of %zu training rows holds out %zu and leaves %zu "
                     "to train on: each side needs at least 1 row (a larger data set, or another "
                     "fraction)", fraction, rows, *held, rows - *held);
}

/* Room in v for rows like d's: inputs in d's stored type, labels likewise. */
static int nnrt_split_alloc(const NnrtData *d, size_t rows, NnrtData *v)
{
    size_t w = d->in_dim, t = d->tc ? 1 : d->t_dim;
    v->rows = rows;
    v->in_dim = w;
    v->xb = d->xb ? malloc(rows * w) : NULL;
    v->xf = d->xf ? malloc(rows * w * sizeof(float)) : NULL;
    v->tc = d->tc ? malloc(rows * sizeof(int32_t)) : NULL;
    v->tf = d->tf ? malloc(rows * t * sizeof(float)) : NULL;
    if (d->normalized == NNRT_NORM_COLUMN) {
        v->col_mean = malloc(w * sizeof(float));
        v->col_std = malloc(w * sizeof(float));
    }
    return (d->xb && !v->xb) || (d->xf && !v->xf) || (d->tc && !v->tc) || (d->tf && !v->tf) ||
           (d->normalized == NNRT_NORM_COLUMN && (!v->col_mean || !v->col_std)) ? -1 : 0;
}

/* Row i of from to row j of to (inputs and labels); memmove: to may be from. */
static void nnrt_copy_row(const NnrtData *from, size_t i, NnrtData *to, size_t j)
{
    size_t w = from->in_dim, t = from->tc ? 1 : from->t_dim;
    if (from->xb)
        memmove(to->xb + j * w, from->xb + i * w, w);
    else
        memmove(to->xf + j * w, from->xf + i * w, w * sizeof(float));
    if (from->tc)
        to->tc[j] = from->tc[i];
    else
        memmove(to->tf + j * t, from->tf + i * t, t * sizeof(float));
}

/* Moves the rows marked in held to v and closes up d; both keep row order. */
static void nnrt_split_rows(NnrtData *d, const uint8_t *held, NnrtData *v)
{
    size_t kept = 0, out = 0;
    for (size_t i = 0; i < d->rows; i++) {
        if (held[i])
            nnrt_copy_row(d, i, v, out++);
        else
            nnrt_copy_row(d, i, d, kept++);
    }
    d->rows = kept;
}

int nnrt_data_split(NnrtData *d, double fraction, uint64_t seed, NnrtData *val, char *err,
                    size_t errlen)
{
    size_t n = d->rows, nv = 0;
    memset(val, 0, sizeof *val);
    if (nnrt_split_count(n, fraction, &nv, err, errlen) < 0)
        return -1;
    uint32_t *perm = malloc(n * sizeof *perm);
    uint8_t *held = calloc(n, 1);
    int rc = !perm || !held || nnrt_split_alloc(d, nv, val) < 0 ? -1 : 0;
    if (rc == 0) {
        NnrtRng rng;
        for (size_t i = 0; i < n; i++)
            perm[i] = (uint32_t)i;
        nnrt_rng_seed_stream(&rng, seed, NNRT_STREAM_VALIDATION);
        nnrt_shuffle(perm, n, &rng);
        for (size_t i = 0; i < nv; i++)
            held[perm[i]] = 1;
        nnrt_split_rows(d, held, val);
        val->x_scale = d->x_scale;
        val->normalized = d->normalized;
        val->label_kind = d->label_kind;
        val->t_dim = d->t_dim;
        val->classes = d->classes;
        rc = nnrt_fit_stats(d);
        if (rc == 0)
            nnrt_copy_stats(val, d);
    }
    free(perm);
    free(held);
    if (rc < 0) {
        nnrt_data_free(val);
        return nnrt_errf(err, errlen, "out of memory for a validation split of %zu rows", nv);
    }
    return 0;
}
