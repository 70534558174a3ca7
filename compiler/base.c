/* base.c: arena allocator, diagnostics with a quoted source line and a
 * caret, checked file reading and writing (OutFile: a temporary renamed
 * into place), and the edit distance behind "did you mean".
 */
#define _POSIX_C_SOURCE 200809L
#include "base.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- arena ---------------------------------------------------------- */
typedef union {
    long double ld;
    long long ll;
    void *p;
    double d;
} MaxAlign; /* C99 has no max_align_t */

struct ArenaBlock {
    ArenaBlock *next;
    size_t used, cap;
    MaxAlign data[]; /* cap bytes follow */
};

enum { ARENA_BLOCK = 64 * 1024 };

void arena_init(Arena *a) { a->head = NULL; }

void arena_free(Arena *a)
{
    while (a->head) {
        ArenaBlock *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

static ArenaBlock *arena_grow(Arena *a, size_t size)
{
    size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
    ArenaBlock *b = malloc(sizeof *b + cap);
    if (!b) {
        fprintf(stderr, "nnc: out of memory (asked for %zu bytes)\n", size);
        exit(1);
    }
    b->next = a->head;
    b->used = 0;
    b->cap = cap;
    a->head = b;
    return b;
}

void *arena_alloc(Arena *a, size_t size)
{
    size = (size + sizeof(MaxAlign) - 1) / sizeof(MaxAlign) * sizeof(MaxAlign);
    ArenaBlock *b = a->head;
    if (!b || b->cap - b->used < size)
        b = arena_grow(a, size);
    void *p = (char *)b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(Arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_printf(Arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void ptrvec_push(Arena *a, PtrVec *v, void *item)
{
    if (v->len == v->cap) {
        int cap = v->cap ? 2 * v->cap : 8;
        void **items = arena_alloc(a, (size_t)cap * sizeof *items);
        if (v->len)
            memcpy(items, v->items, (size_t)v->len * sizeof *items);
        v->items = items;
        v->cap = cap;
    }
    v->items[v->len++] = item;
}

/* ---- diagnostics ---------------------------------------------------- */
void diag_init(Diag *d, FILE *out, const char *file, const char *src, size_t len)
{
    memset(d, 0, sizeof *d);
    d->out = out;
    d->file = file;
    d->src = src;
    d->src_len = len;
}

/* Prints source line `line` (1-based) and a caret under [col, col+len). */
static void quote_line(Diag *d, int line, int col, int len)
{
    if (!d->src || line < 1)
        return;
    const char *p = d->src, *end = d->src + d->src_len;
    for (int l = 1; l < line && p < end; p++)
        if (*p == '\n')
            l++;
    const char *eol = p;
    while (eol < end && *eol != '\n')
        eol++;
    int width = (int)(eol - p);
    if (width > 200) /* a 10 MB line is quoted by its start only */
        width = 200;
    fprintf(d->out, "%.*s\n", width, p);
    if (col > width + 1)
        return;
    for (int i = 1; i < col; i++)
        fputc(p[i - 1] == '\t' ? '\t' : ' ', d->out);
    fputc('^', d->out);
    for (int i = 1; i < len && col + i <= width; i++)
        fputc('~', d->out);
    fputc('\n', d->out);
}

void vdiag_at(Diag *d, Loc loc, const char *kind, const char *fmt, va_list ap)
{
    fprintf(d->out, "%s:%d:%d: %s: ", loc.file ? loc.file : d->file, loc.line, loc.col, kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    quote_line(d, loc.line, loc.col, loc.len > 0 ? loc.len : 1);
}

void error_at(Diag *d, Loc loc, const char *fmt, ...)
{
    if (++d->errors > NNC_MAX_ERRORS) {
        d->suppressed++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vdiag_at(d, loc, "error", fmt, ap);
    va_end(ap);
}

void warn_at(Diag *d, Loc loc, const char *fmt, ...)
{
    d->warnings++;
    va_list ap;
    va_start(ap, fmt);
    vdiag_at(d, loc, "warning", fmt, ap);
    va_end(ap);
}

void note_at(Diag *d, Loc loc, const char *fmt, ...)
{
    if (d->errors > NNC_MAX_ERRORS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vdiag_at(d, loc, "note", fmt, ap);
    va_end(ap);
}

void diag_summary(Diag *d)
{
    if (d->suppressed)
        fprintf(d->out, "%s: %d more errors not shown\n", d->file, d->suppressed);
}

/* ---- files ---------------------------------------------------------- */
FILE *xfopen(const char *path, const char *mode)
{
    FILE *f = fopen(path, mode);
    if (!f)
        fprintf(stderr, "nnc: cannot open %s: %s\n", path, strerror(errno));
    return f;
}

char *read_file(Arena *a, const char *path, size_t *len)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "nnc: cannot read %s: it is a directory (give a .nn file)\n", path);
        return NULL;
    }
    FILE *f = xfopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        fprintf(stderr, "nnc: cannot read %s: %s\n", path, buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    char *text = arena_strndup(a, buf, n);
    free(buf);
    *len = n;
    return text;
}

/* ---- writing: a temporary renamed into place ------------------------ */
/* err 0: a buffered write failed earlier and its errno is gone. */
static int out_fail(const char *path, int err)
{
    fprintf(stderr, "nnc: cannot write %s: %s\n", path, err ? strerror(err) : "a write failed (is the disk full?)");
    return -1;
}

static const char *out_name(const OutFile *o)
{
    return o->f == stdout ? "standard output" : o->path;
}

int out_open(OutFile *o, const char *path)
{
    o->path = path;
    o->tmp[0] = '\0';
    if (strcmp(path, "-") == 0) {
        o->f = stdout;
        return 0;
    }
    o->f = NULL;
    if (snprintf(o->tmp, sizeof o->tmp, "%s.XXXXXX", path) >= (int)sizeof o->tmp) {
        o->tmp[0] = '\0';
        return out_fail(path, ENAMETOOLONG);
    }
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int err = errno;
        o->tmp[0] = '\0';
        return out_fail(path, err);
    }
    /* mkstemp makes the file 0600; the output gets what fopen would give */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || !(o->f = fdopen(fd, "w"))) {
        int err = errno;
        close(fd);
        out_discard(o);
        return out_fail(path, err);
    }
    return 0;
}

/* Flushes and closes (stdout: flushes); -1 if any write failed. */
int out_close(OutFile *o)
{
    if (!o->f)
        return 0;
    const char *name = out_name(o);
    int err = fflush(o->f) != 0 ? errno : ferror(o->f) ? -1 : 0;
    if (o->f != stdout && fclose(o->f) != 0 && !err)
        err = errno;
    o->f = NULL;
    if (err) {
        out_fail(name, err < 0 ? 0 : err);
        out_discard(o);
        return -1;
    }
    return 0;
}

int out_rename(OutFile *o)
{
    if (!o->tmp[0])
        return 0;
    if (rename(o->tmp, o->path) != 0) {
        int err = errno;
        out_discard(o);
        return out_fail(o->path, err);
    }
    o->tmp[0] = '\0';
    return 0;
}

int out_commit(OutFile *o)
{
    return out_close(o) < 0 ? -1 : out_rename(o);
}

void out_discard(OutFile *o)
{
    if (o->f && o->f != stdout)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp[0])
        remove(o->tmp);
    o->tmp[0] = '\0';
}

int out_check_stdout(void)
{
    int err = fflush(stdout) != 0 ? errno : ferror(stdout) ? -1 : 0;
    return err ? out_fail("standard output", err < 0 ? 0 : err) : 0;
}

/* ---- did you mean --------------------------------------------------- */
static int edit_distance(const char *s, const char *t)
{
    size_t m = strlen(s), n = strlen(t);
    if (m > 32 || n > 32)
        return 99;
    int row[33];
    for (size_t j = 0; j <= n; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= m; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= n; j++) {
            int up = row[j];
            int best = diag + (s[i - 1] != t[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[n];
}

const char *closest_name(const char *s, const char *const *cands, int n)
{
    const char *best = NULL;
    int best_d = 3;
    for (int i = 0; i < n; i++) {
        int dist = edit_distance(s, cands[i]);
        if (dist < best_d) {
            best_d = dist;
            best = cands[i];
        }
    }
    return best;
}
