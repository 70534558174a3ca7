/* csv.c: numeric CSV files, strictly.
 *
 *   file   = [header "\n"] { row "\n" | blank "\n" }
 *   row    = field { "," field }         every row has the first row's count
 *   field  = [spaces] number [spaces]    strtod must consume all of number
 *   id     = [spaces] ["+"|"-"] digits ["." {"0"}] [spaces]   a class id
 *
 * The whole file is read into memory and cut in place (line ends and
 * commas become NULs).  The label column (an index; negative counts from
 * the end) is split off into lab, the other columns go to x in their
 * order.  x and lab grow (doubling) as rows are parsed, so memory follows
 * the rows actually there: a row of c fields holds at least 2c - 1 bytes,
 * so x never exceeds about 4 bytes per byte of the file.  With a class
 * count K the label is a class id, read as an integer from its digits (no
 * float rounding: 16777217 stays 16777217) and refused outside [0, K).
 * Errors give the file, the line (1-based, counting the header and blank
 * lines) and the column (the 1-based field number).
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

static int nnrt_is_blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0';
}

/* Cuts the line that starts at p: returns it NUL-terminated (no \r\n) and
 * sets *next to the following line (NULL at the end of the buffer). */
static char *nnrt_cut_line(char *p, char *end, char **next)
{
    char *nl = memchr(p, '\n', (size_t)(end - p));
    *next = nl ? nl + 1 : NULL;
    char *stop = nl ? nl : end;
    if (stop > p && stop[-1] == '\r')
        stop--;
    *stop = '\0';
    return p;
}

/* Fields in a NUL-terminated line: commas + 1. */
static size_t nnrt_count_fields(const char *line)
{
    size_t n = 1;
    for (; *line; line++)
        n += *line == ',';
    return n;
}

/* One field to a finite number: spaces allowed around, nothing else. */
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

typedef struct NnrtCsvCtx {
    const char *path;
    size_t cols, label;   /* field count (0: not yet known), label column (0-based) */
    size_t first_line;    /* line that fixed cols */
    size_t cap;           /* rows out->x and out->lab have room for */
    size_t classes;       /* K: labels are class ids in [0, K); 0: numbers */
    char *err; size_t errlen;
} NnrtCsvCtx;

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

/* Room for one more row: x and lab double when full.  Sizes are checked
 * against SIZE_MAX; cols - 1 >= 1. */
static int nnrt_csv_room(NnrtCsvCtx *c, NnrtCsv *out)
{
    if (out->rows < c->cap)
        return 0;
    size_t feat = c->cols - 1, cap = c->cap ? c->cap * 2 : 64;
    if (cap < c->cap || cap > SIZE_MAX / sizeof(float) / feat)
        return nnrt_errf(c->err, c->errlen, "%s: too many rows (%zu) for memory", c->path, out->rows);
    float *x = realloc(out->x, cap * feat * sizeof(float));
    if (x)
        out->x = x;
    float *lab = x ? realloc(out->lab, cap * sizeof(float)) : NULL;
    if (lab)
        out->lab = lab;
    if (!x || !lab)
        return nnrt_errf(c->err, c->errlen, "%s: out of memory for %zu rows of %zu fields", c->path,
                         cap, c->cols);
    c->cap = cap;
    return 0;
}

/* Parses one data line into row out->rows. */
static int nnrt_csv_row(NnrtCsvCtx *c, char *line, size_t line_no, NnrtCsv *out)
{
    size_t nf = nnrt_count_fields(line);
    if (nf != c->cols)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu has %zu fields, expected %zu (as on line %zu)",
                         c->path, line_no, nf, c->cols, c->first_line);
    if (nnrt_csv_room(c, out) < 0)
        return -1;
    float *x = out->x + out->rows * (c->cols - 1);
    for (size_t col = 0; col < c->cols; col++) {
        char *comma = strchr(line, ',');
        if (comma)
            *comma = '\0';
        float v = 0.0f;
        if (col == c->label && c->classes) {
            if (nnrt_csv_label_id(c, line, line_no, &v) < 0)
                return -1;
        } else if (nnrt_csv_number(line, &v) < 0) {
            return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: '%.40s' is not a number",
                             c->path, line_no, col + 1, line);
        }
        if (col == c->label)
            out->lab[out->rows] = v;
        else
            *x++ = v;
        line = comma ? comma + 1 : line + strlen(line);
    }
    out->rows++;
    return 0;
}

/* From the first data line: the column count and the label column. */
static int nnrt_csv_setup(NnrtCsvCtx *c, const char *line, size_t line_no, int label_col,
                          NnrtCsv *out)
{
    size_t cols = nnrt_count_fields(line);
    c->first_line = line_no;
    if (cols < 2)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu has %zu field; need features and a label",
                         c->path, line_no, cols);
    long long lc = label_col < 0 ? (long long)cols + label_col : label_col;
    if (lc < 0 || (unsigned long long)lc >= cols)
        return nnrt_errf(c->err, c->errlen, "%s: label column %d is out of range for %zu columns",
                         c->path, label_col, cols);
    c->cols = cols;
    c->label = (size_t)lc;
    out->cols = cols;
    return 0;
}

static int nnrt_csv_parse(NnrtCsvCtx *c, char *buf, size_t len, int header, int label_col,
                          NnrtCsv *out)
{
    int skip_header = header;
    char *next = buf, *end = buf + len;
    for (size_t line_no = 1; next; line_no++) {
        char *line = nnrt_cut_line(next, end, &next);
        if (nnrt_is_blank(line))
            continue;
        if (skip_header) {
            skip_header = 0;
            continue;
        }
        if (!c->cols && nnrt_csv_setup(c, line, line_no, label_col, out) < 0)
            return -1;
        if (nnrt_csv_row(c, line, line_no, out) < 0)
            return -1;
    }
    if (out->rows == 0)
        return nnrt_errf(c->err, c->errlen, "%s: no data rows", c->path);
    return 0;
}

int nnrt_csv_read(const char *path, int header, int label_col, size_t classes,
                  NnrtCsv *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t len = 0;
    char *buf = nnrt_slurp(path, &len, err, errlen);
    if (!buf)
        return -1;
    if (memchr(buf, '\0', len)) {
        free(buf);
        return nnrt_errf(err, errlen, "%s: not a text file (it holds NUL bytes)", path);
    }
    NnrtCsvCtx c = { path, 0, 0, 0, 0, classes, err, errlen };
    int rc = nnrt_csv_parse(&c, buf, len, header, label_col, out);
    free(buf);
    if (rc < 0)
        nnrt_csv_free(out);
    return rc;
}

void nnrt_csv_free(NnrtCsv *c)
{
    free(c->x);
    free(c->lab);
    memset(c, 0, sizeof *c);
}
