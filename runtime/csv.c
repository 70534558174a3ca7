/* csv.c: CSV files of numbers, with a label column of numbers or names.
 *
 *   file   = [header "\n"] { row "\n" | blank "\n" }
 *   row    = field { "," field }          every row has the first row's count
 *   field  = [spaces] (quoted | bare) [spaces]
 *   quoted = '"' { char | '""' } '"'      RFC 4180, on one line: '""' is a '"'
 *   bare   = { char but ',' and '"' }
 *   number = a field whose text strtod consumes whole (finite, float range)
 *   id     = [spaces] ["+"|"-"] digits ["." {"0"}] [spaces]   a class id
 *
 * A field's text is what lies between its quotes (doubled quotes undone),
 * or a bare field without the spaces around it; numbers and names are read
 * from that text, so "1.5" and 1.5 are the same number and "a, b" is one
 * field.  A quoted field must close on its line: a line break inside
 * quotes is refused (rows are lines, and errors name them).
 *
 * The whole file is read into memory and left as it is; each field's text
 * is copied into one scratch buffer (as long as the longest line) to be
 * read.  The label column (an index; negative counts from the end) is
 * split off into lab, the other columns go to x in their order.  x and lab
 * grow (doubling) as rows are parsed, so memory follows the rows actually
 * there: a row of c fields holds at least 2c - 1 bytes, so x never exceeds
 * about 4 bytes per byte of the file.
 *
 * Labels.  With a class count K = 0 a label is any number.  With K > 0 it
 * is a class id, and the file decides how ids are written (a first pass
 * over the label column): when every label is a number, each is a class
 * id read as an integer from its digits (no float rounding: 16777217 stays
 * 16777217) and refused outside [0, K); when any label is not a number,
 * the column holds class names, and each distinct name gets the next id in
 * order of first appearance (names are found through a hash table; more
 * than K names is an error).  nnrt_csv_read_known reads a file through
 * another file's names instead (a test set through its training set's).
 *
 * Errors give the file, the line (1-based, counting the header and blank
 * lines) and the column (the 1-based field number).
 *
 * Prediction's inputs (nnrt_csv_read_inputs): the same files, rows of the
 * model's in_dim inputs, or of in_dim inputs and the label (a training
 * file): the first data line's field count says which, and the label
 * column is skipped without being read (a number or a name, whatever it
 * holds).  The header can be found out: a first line one of whose input
 * fields is not a number.
 */
#include "nnrt.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The whole file, NUL-terminated, in a malloc'd buffer. */
static char *nnrt_slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        nnrt_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, used = 0;
    char *buf = malloc(cap);
    while (buf) {
        used += fread(buf + used, 1, cap - 1 - used, f);
        if (used < cap - 1)
            break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        nnrt_errf(err, errlen, "cannot read %s: %s", path, buf ? strerror(errno) : "out of memory");
        free(buf);
        return NULL;
    }
    buf[used] = '\0';
    *len = used;
    return buf;
}

/* ---- class names: a list in id order and a hash table over it ---------------- */

/* names[id] for ids 0..n-1; slot[h] = id + 1 (0: empty), nslot a power of
 * two at least twice n, probed linearly from the name's FNV-1a hash. */
typedef struct NnrtCsvNames {
    char **names;
    size_t n, cap;
    uint32_t *slot;
    size_t nslot;
    int owned;          /* the strings are this table's (else borrowed) */
} NnrtCsvNames;

static uint64_t nnrt_name_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void nnrt_names_free(NnrtCsvNames *t)
{
    for (size_t i = 0; t->owned && i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

/* The id of name, or -1. */
static long nnrt_names_find(const NnrtCsvNames *t, const char *name)
{
    if (t->nslot == 0)
        return -1;
    for (size_t h = (size_t)nnrt_name_hash(name) & (t->nslot - 1);; h = (h + 1) & (t->nslot - 1)) {
        uint32_t s = t->slot[h];
        if (s == 0)
            return -1;
        if (strcmp(t->names[s - 1], name) == 0)
            return (long)s - 1;
    }
}

static void nnrt_names_place(NnrtCsvNames *t, size_t id)
{
    size_t h = (size_t)nnrt_name_hash(t->names[id]) & (t->nslot - 1);
    while (t->slot[h])
        h = (h + 1) & (t->nslot - 1);
    t->slot[h] = (uint32_t)(id + 1);
}

/* Room for one more name: the list and the table double.  n < 2^24. */
static int nnrt_names_room(NnrtCsvNames *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **names = realloc(t->names, cap * sizeof *names);
        if (!names)
            return -1;
        t->names = names;
        t->cap = cap;
    }
    if (2 * (t->n + 1) <= t->nslot)
        return 0;
    size_t nslot = t->nslot ? t->nslot * 2 : 32;
    uint32_t *slot = calloc(nslot, sizeof *slot);
    if (!slot)
        return -1;
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
    for (size_t i = 0; i < t->n; i++)
        nnrt_names_place(t, i);
    return 0;
}

/* Appends name (copied when the table owns its strings, else borrowed);
 * -1 when out of memory. */
static int nnrt_names_add(NnrtCsvNames *t, const char *name)
{
    if (nnrt_names_room(t) < 0)
        return -1;
    char *s = t->owned ? strdup(name) : (char *)(uintptr_t)name;
    if (!s)
        return -1;
    t->names[t->n] = s;
    nnrt_names_place(t, t->n++);
    return 0;
}

/* ---- lines and fields -------------------------------------------------------- */

typedef struct NnrtCsvCtx {
    const char *path;
    const char *buf, *end;  /* the file, untouched */
    char *fld;              /* the text of the field at hand, NUL-terminated */
    size_t fld_cap;
    size_t cols, label;     /* field count (0: not yet known), label column (0-based) */
    size_t first_line;      /* line that fixed cols */
    size_t cap;             /* rows out->x and out->lab have room for */
    size_t classes;         /* K: labels are class ids in [0, K); 0: numbers */
    int by_name;            /* the labels are class names */
    size_t in_dim;          /* nnrt_csv_read_inputs: the inputs a row (else 0); the label, */
                            /*   when the rows have one, is skipped: lab stays NULL */
    int known;              /* the names are another file's (nnrt_csv_read_known) */
    size_t ids;             /* V > 0: input fields are ids, integers in [0, V); 0: numbers */
    NnrtCsvNames names;
    char *err; size_t errlen;
} NnrtCsvCtx;

/* The line from *next to its end (\n, \r\n or the buffer's end): sets
 * *stop past its last character and *next to the following line (NULL at
 * the end of the buffer). */
static const char *nnrt_csv_line(const char **next, const char *end, const char **stop)
{
    const char *p = *next, *nl = memchr(p, '\n', (size_t)(end - p));
    *next = nl ? nl + 1 : NULL;
    const char *e = nl ? nl : end;
    if (e > p && e[-1] == '\r')
        e--;
    *stop = e;
    return p;
}

static int nnrt_is_blank(const char *s, const char *stop)
{
    while (s < stop && (*s == ' ' || *s == '\t'))
        s++;
    return s == stop;
}

/* Fields in a line: commas outside quotes + 1; *open: the line ends
 * inside quotes. */
static size_t nnrt_count_fields(const char *s, const char *stop, int *open)
{
    size_t n = 1;
    int quoted = 0;
    for (; s < stop; s++) {
        if (*s == '"')
            quoted = !quoted;
        else if (*s == ',' && !quoted)
            n++;
    }
    *open = quoted;
    return n;
}

/* Ways a field can be malformed (nnrt_csv_field's results). */
enum { NNRT_FLD_OK = 0, NNRT_FLD_OPEN = -1, NNRT_FLD_AFTER = -2, NNRT_FLD_BARE_QUOTE = -3 };

static const char *nnrt_csv_quoted(const char *s, const char *stop, char **o)
{
    for (s++; s < stop; s++) {
        if (*s != '"') {
            *(*o)++ = *s;
        } else if (s + 1 < stop && s[1] == '"') {
            *(*o)++ = '"';
            s++;
        } else {
            return s + 1;
        }
    }
    return NULL; /* not closed on its line */
}

/* The field at *p on a line that ends at stop: its text into c->fld (which
 * has room for the line), *p past its comma (at stop after the last
 * field).  NNRT_FLD_OK or what is wrong with it. */
static int nnrt_csv_field(NnrtCsvCtx *c, const char **p, const char *stop)
{
    const char *s = *p;
    char *o = c->fld;
    while (s < stop && (*s == ' ' || *s == '\t'))
        s++;
    if (s < stop && *s == '"') {
        if (!(s = nnrt_csv_quoted(s, stop, &o)))
            return NNRT_FLD_OPEN;
        while (s < stop && (*s == ' ' || *s == '\t'))
            s++;
        if (s < stop && *s != ',')
            return NNRT_FLD_AFTER;
    } else {
        const char *b = s, *e;
        while (s < stop && *s != ',' && *s != '"')
            s++;
        if (s < stop && *s == '"')
            return NNRT_FLD_BARE_QUOTE;
        for (e = s; e > b && (e[-1] == ' ' || e[-1] == '\t'); e--)
            ;
        memcpy(o, b, (size_t)(e - b));
        o += e - b;
    }
    *o = '\0';
    *p = s < stop ? s + 1 : stop;
    return NNRT_FLD_OK;
}

static int nnrt_csv_field_error(const NnrtCsvCtx *c, int why, size_t line_no, size_t col)
{
    const char *what = why == NNRT_FLD_OPEN ? "a quoted field is not closed on its line (a field "
                                              "cannot span lines)"
                     : why == NNRT_FLD_AFTER ? "text after a closing quote (a quote inside a quoted "
                                               "field is written twice: \"\")"
                     : "a quote inside an unquoted field (quote the whole field and write the "
                       "quote twice: \"a \"\"b\"\"\")";
    return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: %s", c->path, line_no, col, what);
}

/* The error of a line that ends inside quotes, at the field it is in. */
static int nnrt_csv_bad_quote(NnrtCsvCtx *c, const char *line, const char *stop, size_t line_no)
{
    size_t col = 1;
    for (;; col++) {
        int why = nnrt_csv_field(c, &line, stop);
        if (why != NNRT_FLD_OK)
            return nnrt_csv_field_error(c, why, line_no, col);
        if (line == stop) /* (an odd count of quotes always fails a field) */
            break;
    }
    return nnrt_csv_field_error(c, NNRT_FLD_OPEN, line_no, col);
}

/* Room in c->fld for any field of a line of n bytes. */
static int nnrt_csv_fld_room(NnrtCsvCtx *c, size_t n)
{
    if (n < c->fld_cap)
        return 0;
    size_t cap = c->fld_cap ? c->fld_cap : 256;
    while (cap <= n)
        cap *= 2;
    char *f = realloc(c->fld, cap);
    if (!f)
        return nnrt_errf(c->err, c->errlen, "%s: out of memory for a line of %zu bytes", c->path, n);
    c->fld = f;
    c->fld_cap = cap;
    return 0;
}

/* ---- values -------------------------------------------------------------------- */

/* One field's text to a finite number: spaces allowed around, nothing else. */
static int nnrt_csv_number(const char *field, float *v)
{
    char *end;
    errno = 0;
    double d = strtod(field, &end);
    if (end == field || !isfinite(d) || fabs(d) > 3.4028234663852886e38)
        return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0')
        return -1;
    *v = (float)d;
    return 0;
}

/* One field as a class id: its digits read as an integer, exactly (values
 * past 2^62 saturate, which is outside any class count).  -1: not an
 * integer. */
static int nnrt_csv_int(const char *field, long long *id)
{
    const char *p = field;
    int neg = 0;
    long long v = 0;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v > (LLONG_MAX >> 1) / 10 ? LLONG_MAX >> 1 : v * 10 + (*p - '0');
    if (*p == '.')
        for (p++; *p == '0'; p++)
            ;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0')
        return -1;
    *id = neg ? -v : v;
    return 0;
}

/* The label field of a class-id file: an integer in [0, K), or one line
 * saying which it is not and the likely cause. */
static int nnrt_csv_label_id(const NnrtCsvCtx *c, const char *field, size_t line_no, float *v)
{
    long long id;
    size_t K = c->classes;
    if (nnrt_csv_int(field, &id) < 0)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: label '%.40s' is not a class "
                         "id (an integer in [0, %zu))", c->path, line_no, c->label + 1, field, K);
    if (id >= 0 && (unsigned long long)id < K) {
        *v = (float)id; /* K <= 2^24 (data.c): exact */
        return 0;
    }
    const char *hint = id < 0 ? "class ids count from 0"
                       : (unsigned long long)id == K ? "are the labels 1-based?"
                       : "is this the label column, and does the model have enough outputs?";
    field += strspn(field, " \t");
    int n = (int)strcspn(field, " \t");
    return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: class id %.*s is outside [0, %zu) "
                     "for a model with %zu classes; %s", c->path, line_no, c->label + 1,
                     n < 40 ? n : 40, field, K, K, hint);
}

/* An input field of an id model: an integer in [0, V), read from its
 * digits (V <= 2^24: exact as a float), or one line saying which it is not. */
static int nnrt_csv_input_id(const NnrtCsvCtx *c, const char *field, size_t line_no, size_t col,
                             float *v)
{
    long long id;
    if (nnrt_csv_int(field, &id) < 0)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: '%.40s' is not an id (an "
                         "integer in [0, %zu)); the model's input is i32 ids", c->path, line_no,
                         col, field, c->ids);
    if (id < 0 || (unsigned long long)id >= c->ids) {
        field += strspn(field, " \t"); /* the id as written (a huge one saturated in id) */
        int n = (int)strcspn(field, " \t");
        return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: id %.*s is outside [0, %zu), "
                         "the rows of the model's embedding table; %s", c->path, line_no, col,
                         n < 40 ? n : 40, field, c->ids,
                         id < 0 ? "ids count from 0" : "is the vocabulary larger than the model's?");
    }
    *v = (float)id;
    return 0;
}

/* "setosa, versicolor, virginica" (the first few of the known names). */
static void nnrt_csv_name_list(const NnrtCsvNames *t, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < t->n && i < 8 && used < len; i++) {
        int k = snprintf(buf + used, len - used, "%s%.30s", i ? ", " : "", t->names[i]);
        used += k > 0 ? (size_t)k : 0;
    }
    if (t->n > 8 && used < len)
        snprintf(buf + used, len - used, ", ...");
}

/* A label of a file of class names: its id, a new one for a name not seen
 * before (its own names), or an error for a name outside the known ones. */
static int nnrt_csv_label_name(NnrtCsvCtx *c, const char *field, size_t line_no, float *v)
{
    char list[300];
    if (field[0] == '\0')
        return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: the label is empty (a class "
                         "name is needed)", c->path, line_no, c->label + 1);
    long id = nnrt_names_find(&c->names, field);
    if (id < 0 && c->known) {
        nnrt_csv_name_list(&c->names, list, sizeof list);
        return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: class name '%.40s' is not "
                         "one of the training set's %zu (%s)", c->path, line_no, c->label + 1, field,
                         c->names.n, list);
    }
    if (id < 0 && c->names.n >= c->classes)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: class name '%.40s' is name "
                         "number %zu, but the model has %zu classes (an output of width %zu); is "
                         "this the label column?", c->path, line_no, c->label + 1, field,
                         c->names.n + 1, c->classes, c->classes);
    if (id < 0) {
        if (nnrt_names_add(&c->names, field) < 0)
            return nnrt_errf(c->err, c->errlen, "%s: out of memory for class names", c->path);
        id = (long)c->names.n - 1;
    }
    *v = (float)id; /* id < K <= 2^24: exact */
    return 0;
}

/* The label field (its text in field). */
static int nnrt_csv_label(NnrtCsvCtx *c, const char *field, size_t line_no, float *v)
{
    if (c->by_name)
        return nnrt_csv_label_name(c, field, line_no, v);
    if (c->classes == 0 && nnrt_csv_number(field, v) < 0)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: '%.40s' is not a number",
                         c->path, line_no, c->label + 1, field);
    if (c->classes == 0)
        return 0;
    float unused;
    if (c->known && nnrt_csv_number(field, &unused) < 0)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: label '%.40s' is a name, but "
                         "the training set's labels are class ids (numbers)", c->path, line_no,
                         c->label + 1, field);
    return nnrt_csv_label_id(c, field, line_no, v);
}

/* ---- rows ------------------------------------------------------------------------- */

/* Inputs a row: in_dim for prediction, else every column but the label. */
static size_t nnrt_csv_feat(const NnrtCsvCtx *c)
{
    return c->in_dim ? c->in_dim : c->cols - 1;
}

/* Room for one more row: x and lab (none for prediction) double when
 * full.  Sizes are checked against SIZE_MAX; the inputs a row >= 1. */
static int nnrt_csv_room(NnrtCsvCtx *c, NnrtCsv *out)
{
    if (out->rows < c->cap)
        return 0;
    size_t feat = nnrt_csv_feat(c), cap = c->cap ? c->cap * 2 : 64;
    if (cap < c->cap || cap > SIZE_MAX / sizeof(float) / feat)
        return nnrt_errf(c->err, c->errlen, "%s: too many rows (%zu) for memory", c->path, out->rows);
    float *x = realloc(out->x, cap * feat * sizeof(float));
    if (x)
        out->x = x;
    float *lab = x && !c->in_dim ? realloc(out->lab, cap * sizeof(float)) : NULL;
    if (lab)
        out->lab = lab;
    if (!x || (!lab && !c->in_dim))
        return nnrt_errf(c->err, c->errlen, "%s: out of memory for %zu rows of %zu fields", c->path,
                         cap, c->cols);
    c->cap = cap;
    return 0;
}

/* Parses one data line [line, stop) into row out->rows. */
static int nnrt_csv_row(NnrtCsvCtx *c, const char *line, const char *stop, size_t line_no,
                        NnrtCsv *out)
{
    int open;
    size_t nf = nnrt_count_fields(line, stop, &open);
    if (open)
        return nnrt_csv_bad_quote(c, line, stop, line_no);
    if (nf != c->cols)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu has %zu fields, expected %zu (as on line %zu)",
                         c->path, line_no, nf, c->cols, c->first_line);
    if (nnrt_csv_room(c, out) < 0)
        return -1;
    float *x = out->x + out->rows * nnrt_csv_feat(c);
    for (size_t col = 0; col < c->cols; col++) {
        int why = nnrt_csv_field(c, &line, stop);
        float v = 0.0f;
        if (why != NNRT_FLD_OK)
            return nnrt_csv_field_error(c, why, line_no, col + 1);
        if (col == c->label && c->in_dim) {
            continue; /* prediction: the label is not read */
        } else if (col == c->label) {
            if (nnrt_csv_label(c, c->fld, line_no, &v) < 0)
                return -1;
            out->lab[out->rows] = v;
        } else if (c->ids) {
            if (nnrt_csv_input_id(c, c->fld, line_no, col + 1, &v) < 0)
                return -1;
            *x++ = v;
        } else if (nnrt_csv_number(c->fld, &v) < 0) {
            return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: '%.40s' is not a number",
                             c->path, line_no, col + 1, c->fld);
        } else {
            *x++ = v;
        }
    }
    out->rows++;
    return 0;
}

/* The first pass of a class-id file: is any label not a number?  Lines
 * that are malformed are left for the second pass to report. */
static void nnrt_csv_classify(NnrtCsvCtx *c, const char *line, const char *stop)
{
    int open;
    if (nnrt_count_fields(line, stop, &open) != c->cols || open)
        return;
    for (size_t col = 0; col <= c->label; col++)
        if (nnrt_csv_field(c, &line, stop) != NNRT_FLD_OK)
            return;
    float v;
    if (c->fld[0] != '\0' && nnrt_csv_number(c->fld, &v) < 0)
        c->by_name = 1;
}

/* A header line that reads as a data row is likely data: one warning.  It
 * does when every field is a number, the label's aside in a file whose
 * labels are class names (a row of data has a name there). */
static void nnrt_csv_header_check(NnrtCsvCtx *c, const char *line, const char *stop, size_t line_no)
{
    int open;
    size_t n = nnrt_count_fields(line, stop, &open);
    int skip_label = c->by_name && n == c->cols;
    float v;
    for (size_t i = 0; i < n; i++) {
        if (nnrt_csv_field(c, &line, stop) != NNRT_FLD_OK)
            return;
        if (!(skip_label && i == c->label) && nnrt_csv_number(c->fld, &v) < 0)
            return;
    }
    fprintf(stderr, "nnrt: %s: line %zu looks like data, not a header; it was skipped: use "
            "header=false if it is data\n", c->path, line_no);
}

/* Prediction's first data line: in_dim fields (no label: c->label is
 * past the last column) or in_dim + 1 (the label at label_col). */
static int nnrt_csv_setup_inputs(NnrtCsvCtx *c, size_t cols, size_t line_no, int label_col)
{
    size_t in = c->in_dim;
    if (cols != in && cols != in + 1)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu has %zu field%s; the model takes rows of "
                         "%zu inputs, or %zu inputs and the label (%zu fields)", c->path, line_no,
                         cols, cols == 1 ? "" : "s", in, in, in + 1);
    long long lc = label_col < 0 ? (long long)cols + label_col : label_col;
    if (cols == in + 1 && (lc < 0 || (unsigned long long)lc >= cols))
        return nnrt_errf(c->err, c->errlen, "%s: label column %d is out of range for %zu columns",
                         c->path, label_col, cols);
    c->cols = cols;
    c->label = cols == in ? cols : (size_t)lc;
    return 0;
}

/* From the first data line: the column count and the label column. */
static int nnrt_csv_setup(NnrtCsvCtx *c, const char *line, const char *stop, size_t line_no,
                          int label_col)
{
    int open;
    size_t cols = nnrt_count_fields(line, stop, &open);
    c->first_line = line_no;
    if (c->in_dim)
        return nnrt_csv_setup_inputs(c, cols, line_no, label_col);
    if (cols < 2)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu has %zu field; need features and a label",
                         c->path, line_no, cols);
    long long lc = label_col < 0 ? (long long)cols + label_col : label_col;
    if (lc < 0 || (unsigned long long)lc >= cols)
        return nnrt_errf(c->err, c->errlen, "%s: label column %d is out of range for %zu columns",
                         c->path, label_col, cols);
    c->cols = cols;
    c->label = (size_t)lc;
    return 0;
}

/* One pass over the file: pass 0 classifies the label column (and stops
 * at the first name), pass 1 reads the rows into out. */
static int nnrt_csv_pass(NnrtCsvCtx *c, int pass, int header, int label_col, NnrtCsv *out)
{
    int skip_header = header;
    const char *next = c->buf, *stop;
    for (size_t line_no = 1; next; line_no++) {
        const char *line = nnrt_csv_line(&next, c->end, &stop);
        if (nnrt_is_blank(line, stop))
            continue;
        if (nnrt_csv_fld_room(c, (size_t)(stop - line)) < 0)
            return -1;
        if (skip_header) {
            skip_header = 0;
            if (pass == 1)
                nnrt_csv_header_check(c, line, stop, line_no);
            continue;
        }
        if (!c->cols && nnrt_csv_setup(c, line, stop, line_no, label_col) < 0)
            return -1;
        if (pass == 0) {
            nnrt_csv_classify(c, line, stop);
            if (c->by_name)
                return 0;
        } else if (nnrt_csv_row(c, line, stop, line_no, out) < 0) {
            return -1;
        }
    }
    if (pass == 1 && out->rows == 0)
        return nnrt_errf(c->err, c->errlen, "%s: no data rows", c->path);
    return 0;
}

/* Both passes; the names go to out (a file's own names). */
static int nnrt_csv_parse(NnrtCsvCtx *c, int header, int label_col, NnrtCsv *out)
{
    if (c->classes > 0 && !c->known && nnrt_csv_pass(c, 0, header, label_col, out) < 0)
        return -1;
    if (nnrt_csv_pass(c, 1, header, label_col, out) < 0)
        return -1;
    out->cols = c->cols;
    if (c->by_name && !c->known) {
        out->names = c->names.names;
        out->n_names = c->names.n;
        free(c->names.slot);
        memset(&c->names, 0, sizeof c->names);
    }
    return 0;
}

static int nnrt_csv_read_ctx(NnrtCsvCtx *c, int header, int label_col, NnrtCsv *out)
{
    size_t len = 0;
    char *buf = nnrt_slurp(c->path, &len, c->err, c->errlen);
    if (!buf)
        return -1;
    int rc = 0;
    if (memchr(buf, '\0', len)) {
        rc = nnrt_errf(c->err, c->errlen, "%s: not a text file (it holds NUL bytes)", c->path);
    } else {
        c->buf = buf;
        c->end = buf + len;
        rc = nnrt_csv_parse(c, header, label_col, out);
    }
    free(buf);
    free(c->fld);
    nnrt_names_free(&c->names);
    if (rc < 0)
        nnrt_csv_free(out);
    return rc;
}

/* nnrt_csv_read (known 0) and nnrt_csv_read_known (known 1), inputs ids
 * in [0, ids) where ids > 0. */
static int nnrt_csv_read_any(const char *path, int header, int label_col, size_t classes,
                             size_t ids, int known, char *const *names, size_t n_names,
                             NnrtCsv *out, char *err, size_t errlen)
{
    NnrtCsvCtx c;
    memset(out, 0, sizeof *out);
    memset(&c, 0, sizeof c);
    c.path = path;
    c.classes = classes;
    c.ids = ids;
    c.known = known;
    c.names.owned = !known;
    c.by_name = known && n_names > 0;
    c.err = err;
    c.errlen = errlen;
    if (known && n_names > classes)
        return nnrt_errf(err, errlen, "%s: %zu class names for a model with %zu classes", path,
                         n_names, classes);
    for (size_t i = 0; known && i < n_names; i++) {
        if (nnrt_names_add(&c.names, names[i]) < 0) {
            nnrt_names_free(&c.names);
            return nnrt_errf(err, errlen, "%s: out of memory for class names", path);
        }
    }
    return nnrt_csv_read_ctx(&c, header, label_col, out);
}

int nnrt_csv_read(const char *path, int header, int label_col, size_t classes,
                  NnrtCsv *out, char *err, size_t errlen)
{
    return nnrt_csv_read_any(path, header, label_col, classes, 0, 0, NULL, 0, out, err, errlen);
}

int nnrt_csv_read_known(const char *path, int header, int label_col, size_t classes,
                        char *const *known, size_t n_known, NnrtCsv *out, char *err,
                        size_t errlen)
{
    return nnrt_csv_read_any(path, header, label_col, classes, 0, 1, known, n_known, out, err,
                             errlen);
}

int nnrt_csv_read_ids(const char *path, int header, int label_col, size_t classes, size_t ids,
                      int known, char *const *names, size_t n_names, NnrtCsv *out, char *err,
                      size_t errlen)
{
    return nnrt_csv_read_any(path, header, label_col, classes, ids, known, names, n_names, out,
                             err, errlen);
}

/* Prediction's header, when not told: the first non-blank line is one
 * when one of its input fields (the label's aside, where its field count
 * says there is a label) is not a number. */
static int nnrt_csv_sniff(NnrtCsvCtx *c, int label_col)
{
    const char *next = c->buf, *stop = NULL, *line = NULL;
    while (next && nnrt_is_blank(line = nnrt_csv_line(&next, c->end, &stop), stop))
        line = NULL;
    if (!line || nnrt_csv_fld_room(c, (size_t)(stop - line)) < 0)
        return 0; /* no rows, or no memory: the reading says so */
    int open;
    size_t n = nnrt_count_fields(line, stop, &open);
    long long lc = n != c->in_dim + 1 ? -1 : label_col < 0 ? (long long)n + label_col : label_col;
    float v;
    for (size_t col = 0; col < n && !open; col++) {
        if (nnrt_csv_field(c, &line, stop) != NNRT_FLD_OK)
            return 0;
        if ((long long)col != lc && nnrt_csv_number(c->fld, &v) < 0)
            return 1;
    }
    return 0;
}

int nnrt_csv_read_inputs(const char *path, int header, size_t in_dim, int label_col,
                         NnrtCsv *out, char *err, size_t errlen)
{
    return nnrt_csv_read_inputs_ids(path, header, in_dim, label_col, 0, out, err, errlen);
}

int nnrt_csv_read_inputs_ids(const char *path, int header, size_t in_dim, int label_col,
                             size_t ids, NnrtCsv *out, char *err, size_t errlen)
{
    NnrtCsvCtx c;
    memset(out, 0, sizeof *out);
    memset(&c, 0, sizeof c);
    c.path = path;
    c.in_dim = in_dim;
    c.ids = ids;
    c.err = err;
    c.errlen = errlen;
    if (in_dim == 0)
        return nnrt_errf(err, errlen, "%s: the model's input width is 0", path);
    size_t len = 0;
    char *buf = nnrt_slurp(path, &len, err, errlen);
    if (!buf)
        return -1;
    int rc = 0;
    if (memchr(buf, '\0', len)) {
        rc = nnrt_errf(err, errlen, "%s: not a text file (it holds NUL bytes)", path);
    } else {
        c.buf = buf;
        c.end = buf + len;
        if (header < 0)
            header = nnrt_csv_sniff(&c, label_col);
        rc = nnrt_csv_pass(&c, 1, header, label_col, out);
        out->cols = c.cols;
    }
    free(buf);
    free(c.fld);
    if (rc < 0)
        nnrt_csv_free(out);
    return rc;
}

void nnrt_csv_free(NnrtCsv *c)
{
    free(c->x);
    free(c->lab);
    for (size_t i = 0; i < c->n_names; i++)
        free(c->names[i]);
    free(c->names);
    memset(c, 0, sizeof *c);
}
