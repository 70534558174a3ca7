/* csv.c: numeric CSV files, strictly.
 *
 *   file   = [header "\n"] { row "\n" | blank "\n" }
 *   row    = field { "," field }         every row has the first row's count
 *   field  = [spaces] number [spaces]    strtod must consume all of number
 *
 * The whole file is read into memory and cut in place (line ends and
 * commas become NULs), so parsing allocates only the result.  The label
 * column (an index; negative counts from the end) is split off into lab,
 * the other columns go to x in their order.  Errors give the file, the
 * line (1-based, counting the header and blank lines) and the column (the
 * 1-based field number).
 */
#include "nnrt.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Largest class id we take: floats hold every integer up to 2^24. */
#define NNRT_CSV_MAX_ID 16777216.0

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

typedef struct NnrtCsvCtx {
    const char *path;
    size_t cols, label;   /* field count, label column (0-based) */
    size_t first_line;    /* line that fixed cols */
    int class_ids;
    char *err; size_t errlen;
} NnrtCsvCtx;

/* Parses one data line into row r of out. */
static int nnrt_csv_row(const NnrtCsvCtx *c, char *line, size_t line_no, NnrtCsv *out)
{
    size_t nf = nnrt_count_fields(line);
    if (nf != c->cols)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu has %zu fields, expected %zu (as on line %zu)",
                         c->path, line_no, nf, c->cols, c->first_line);
    float *x = out->x + out->rows * (c->cols - 1);
    for (size_t col = 0; col < c->cols; col++) {
        char *comma = strchr(line, ',');
        if (comma)
            *comma = '\0';
        float v;
        if (nnrt_csv_number(line, &v) < 0)
            return nnrt_errf(c->err, c->errlen, "%s: line %zu, column %zu: '%.40s' is not a number",
                             c->path, line_no, col + 1, line);
        if (col == c->label) {
            if (c->class_ids && (v != floorf(v) || v < 0.0f || (double)v > NNRT_CSV_MAX_ID))
                return nnrt_errf(c->err, c->errlen,
                                 "%s: line %zu, column %zu: label '%.40s' is not a class id "
                                 "(an integer 0..16777216)", c->path, line_no, col + 1, line);
            out->lab[out->rows] = v;
        } else {
            *x++ = v;
        }
        line = comma ? comma + 1 : line + strlen(line);
    }
    out->rows++;
    return 0;
}

/* From the first data line: the column count, the label column, and room
 * for as many rows as the buffer has lines. */
static int nnrt_csv_setup(NnrtCsvCtx *c, const char *line, size_t line_no, int label_col,
                          size_t max_rows, NnrtCsv *out)
{
    c->cols = nnrt_count_fields(line);
    c->first_line = line_no;
    if (c->cols < 2)
        return nnrt_errf(c->err, c->errlen, "%s: line %zu has %zu field; need features and a label",
                         c->path, line_no, c->cols);
    long lc = label_col < 0 ? (long)c->cols + label_col : label_col;
    if (lc < 0 || lc >= (long)c->cols)
        return nnrt_errf(c->err, c->errlen, "%s: label column %d is out of range for %zu columns",
                         c->path, label_col, c->cols);
    c->label = (size_t)lc;
    out->cols = c->cols;
    out->x = malloc(max_rows * (c->cols - 1) * sizeof(float));
    out->lab = malloc(max_rows * sizeof(float));
    if (!out->x || !out->lab)
        return nnrt_errf(c->err, c->errlen, "%s: out of memory", c->path);
    return 0;
}

static size_t nnrt_count_lines(const char *buf, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    return n;
}

static int nnrt_csv_parse(NnrtCsvCtx *c, char *buf, size_t len, int header, int label_col,
                          NnrtCsv *out)
{
    size_t max_rows = nnrt_count_lines(buf, len);
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
        if (!out->x && nnrt_csv_setup(c, line, line_no, label_col, max_rows, out) < 0)
            return -1;
        if (nnrt_csv_row(c, line, line_no, out) < 0)
            return -1;
    }
    if (out->rows == 0)
        return nnrt_errf(c->err, c->errlen, "%s: no data rows", c->path);
    return 0;
}

int nnrt_csv_read(const char *path, int header, int label_col, int class_ids,
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
    NnrtCsvCtx c = { path, 0, 0, 0, class_ids, err, errlen };
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
