/* safetensors.c: checkpoints in the safetensors format.
 *
 *   u64 H (little-endian) | H bytes of JSON, space-padded so 8+H is a
 *   multiple of 8 | tensor data, f32 little-endian, in header order
 *
 *   {"__metadata__":{"model":"twolayer","epoch":"3","step":"30"},
 *    "W1":{"dtype":"F32","shape":[2,10],"data_offsets":[0,80]}, ...}
 *
 * Offsets are relative to the start of the data block.  Values are
 * converted to little-endian byte by byte, so files move between hosts of
 * either byte order.
 *
 * Saving writes PATH.tmp, flushes it to disk and renames it over PATH:
 * readers see the old file or the new one, never half of one.  Loading
 * reads and checks everything (model name, each tensor's dtype, shape and
 * offsets) into temporary memory and copies into the model only when all
 * of it is right, so a failed load changes nothing.  The JSON reader is
 * strict and knows only what safetensors uses: objects, strings, and
 * arrays of non-negative integers.
 */
#include "nnrt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NNRT_ST_MAX_HEADER (100u << 20) /* 100 MiB, as the reference library */
#define NNRT_ST_MAX_RANK 8

/* ---- a growable string ------------------------------------------------------ */
typedef struct NnrtStr {
    char *p;
    size_t len, cap;
    int oom;
} NnrtStr;

static void nnrt_str_add(NnrtStr *s, const char *fmt, ...) NNRT_PRINTF(2, 3);

static void nnrt_str_add(NnrtStr *s, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !s->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->p ? s->p + s->len : NULL, s->p ? s->cap - s->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            s->oom = 1;
            return;
        }
        if (s->p && s->len + (size_t)n < s->cap) {
            s->len += (size_t)n;
            return;
        }
        size_t cap = (s->cap + (size_t)n + 1) * 2;
        char *p = realloc(s->p, cap);
        if (!p) {
            s->oom = 1;
            return;
        }
        s->p = p;
        s->cap = cap;
    }
}

/* A JSON string: quotes, \" \\ and control characters escaped. */
static void nnrt_str_json(NnrtStr *s, const char *v)
{
    nnrt_str_add(s, "\"");
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '"' || c == '\\')
            nnrt_str_add(s, "\\%c", c);
        else if (c < 0x20)
            nnrt_str_add(s, "\\u%04x", c);
        else
            nnrt_str_add(s, "%c", c);
    }
    nnrt_str_add(s, "\"");
}

/* ---- saving ------------------------------------------------------------------ */

static int nnrt_shape_numel(const NnrtTensor *t, size_t *numel)
{
    size_t n = 1;
    if (t->rank < 0 || t->rank > NNRT_MAX_RANK)
        return -1;
    for (int i = 0; i < t->rank; i++) {
        if (t->shape[i] < 0)
            return -1;
        n *= (size_t)t->shape[i];
    }
    *numel = n;
    return 0;
}

/* ,"NAME":{"dtype":"F32","shape":[..],"data_offsets":[B,E]} */
static void nnrt_header_tensor(NnrtStr *s, const NnrtTensor *t, size_t *offset)
{
    nnrt_str_add(s, ",");
    nnrt_str_json(s, t->name);
    nnrt_str_add(s, ":{\"dtype\":\"F32\",\"shape\":[");
    for (int i = 0; i < t->rank; i++)
        nnrt_str_add(s, i ? ",%d" : "%d", t->shape[i]);
    size_t end = *offset + t->numel * 4;
    nnrt_str_add(s, "],\"data_offsets\":[%zu,%zu]}", *offset, end);
    *offset = end;
}

/* The whole header, padded with spaces so that 8 + len is a multiple of 8. */
static int nnrt_header_build(NnrtStr *s, const char *model, long epoch, long step,
                             const NnrtTensor *params, int np, const NnrtTensor *state, int ns)
{
    size_t offset = 0;
    nnrt_str_add(s, "{\"__metadata__\":{\"model\":");
    nnrt_str_json(s, model);
    nnrt_str_add(s, ",\"epoch\":\"%ld\",\"step\":\"%ld\"}", epoch, step);
    for (int i = 0; i < np; i++)
        nnrt_header_tensor(s, &params[i], &offset);
    for (int i = 0; i < ns; i++)
        nnrt_header_tensor(s, &state[i], &offset);
    nnrt_str_add(s, "}");
    while (!s->oom && s->len % 8 != 0)
        nnrt_str_add(s, " ");
    return s->oom ? -1 : 0;
}

/* Every tensor's shape agrees with its numel and no two share a name. */
static int nnrt_tensors_check(const NnrtTensor *t, int n, const NnrtTensor *u, int nu,
                              char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        size_t numel;
        if (!t[i].name || nnrt_shape_numel(&t[i], &numel) < 0 || numel != t[i].numel)
            return nnrt_errf(err, errlen, "tensor %d ('%s'): shape and numel %zu disagree", i,
                             t[i].name ? t[i].name : "?", t[i].numel);
        for (int j = 0; j < nu; j++)
            if (&u[j] != &t[i] && u[j].name && strcmp(u[j].name, t[i].name) == 0)
                return nnrt_errf(err, errlen, "two tensors are named '%s'", t[i].name);
    }
    return 0;
}

static void nnrt_put_u64le(unsigned char b[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* n floats as little-endian bytes, through a small buffer. */
static int nnrt_write_f32le(FILE *f, const float *v, size_t n)
{
    unsigned char buf[4096];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++)
            buf[used++] = (unsigned char)(u >> (8 * k));
        if (used == sizeof buf || i + 1 == n) {
            if (fwrite(buf, 1, used, f) != used)
                return -1;
            used = 0;
        }
    }
    return 0;
}

static int nnrt_ckpt_write(FILE *f, const NnrtStr *h, const NnrtTensor *params, int np,
                           const NnrtTensor *state, int ns)
{
    unsigned char len[8];
    nnrt_put_u64le(len, h->len);
    if (fwrite(len, 1, 8, f) != 8 || fwrite(h->p, 1, h->len, f) != h->len)
        return -1;
    for (int i = 0; i < np; i++)
        if (nnrt_write_f32le(f, params[i].data, params[i].numel) < 0)
            return -1;
    for (int i = 0; i < ns; i++)
        if (nnrt_write_f32le(f, state[i].data, state[i].numel) < 0)
            return -1;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        return -1;
    return 0;
}

/* Writes tmp, then renames it to path; removes tmp on any failure. */
static int nnrt_ckpt_commit(const char *path, const char *tmp, const NnrtStr *h,
                            const NnrtTensor *params, int np, const NnrtTensor *state, int ns,
                            char *err, size_t errlen)
{
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return nnrt_errf(err, errlen, "cannot write checkpoint %s: %s", tmp, strerror(errno));
    int rc = nnrt_ckpt_write(f, h, params, np, state, ns);
    int saved = errno;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        saved = errno;
    }
    if (rc < 0) {
        remove(tmp);
        return nnrt_errf(err, errlen, "cannot write checkpoint %s: %s", path, strerror(saved));
    }
    return 0;
}

int nnrt_ckpt_save(const char *path, const char *model, long epoch, long step,
                   const NnrtTensor *params, int n_params,
                   const NnrtTensor *state, int n_state, char *err, size_t errlen)
{
    if (nnrt_tensors_check(params, n_params, params, n_params, err, errlen) < 0 ||
        nnrt_tensors_check(state, n_state, params, n_params, err, errlen) < 0 ||
        nnrt_tensors_check(state, n_state, state, n_state, err, errlen) < 0)
        return -1;
    NnrtStr h = { NULL, 0, 0, 0 };
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    int rc = -1;
    if (!tmp || nnrt_header_build(&h, model, epoch, step, params, n_params, state, n_state) < 0)
        nnrt_errf(err, errlen, "cannot write checkpoint %s: out of memory", path);
    else {
        memcpy(tmp, path, plen);
        memcpy(tmp + plen, ".tmp", 5);
        rc = nnrt_ckpt_commit(path, tmp, &h, params, n_params, state, n_state, err, errlen);
    }
    free(tmp);
    free(h.p);
    return rc;
}

/* ---- a strict little JSON reader ------------------------------------------------ */
typedef struct NnrtJson {
    char *p, *end;      /* the header, NUL-terminated at end */
} NnrtJson;

static void nnrt_json_ws(NnrtJson *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* Skips spaces, then consumes c; -1 if the next character is not c. */
static int nnrt_json_eat(NnrtJson *j, char c)
{
    nnrt_json_ws(j);
    if (j->p >= j->end || *j->p != c)
        return -1;
    j->p++;
    return 0;
}

static int nnrt_json_peek(NnrtJson *j, char c)
{
    nnrt_json_ws(j);
    return j->p < j->end && *j->p == c;
}

static int nnrt_hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        *v = *v * 16 + (unsigned)d;
    }
    return 0;
}

/* \uXXXX (one code unit, no surrogates) as UTF-8 at *dst. */
static int nnrt_utf8(unsigned v, char **dst)
{
    unsigned char *d = (unsigned char *)*dst;
    if (v >= 0xD800 && v <= 0xDFFF)
        return -1;
    if (v < 0x80) {
        *d++ = (unsigned char)v;
    } else if (v < 0x800) {
        *d++ = (unsigned char)(0xC0 | v >> 6);
        *d++ = (unsigned char)(0x80 | (v & 0x3F));
    } else {
        *d++ = (unsigned char)(0xE0 | v >> 12);
        *d++ = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
        *d++ = (unsigned char)(0x80 | (v & 0x3F));
    }
    *dst = (char *)d;
    return 0;
}

/* One escape after the backslash at *src; the result goes to *dst. */
static int nnrt_json_escape(char **src, char *end, char **dst)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char c = **src;
    const char *k = c ? strchr(from, c) : NULL;
    if (k) {
        *(*dst)++ = to[k - from];
        (*src)++;
        return 0;
    }
    unsigned v;
    if (c != 'u' || end - *src < 5 || nnrt_hex4(*src + 1, &v) < 0 || v == 0)
        return -1;
    *src += 5;
    return nnrt_utf8(v, dst);
}

/* A string, unescaped in place (never longer than its source) and
 * NUL-terminated; NULL on a syntax error. */
static char *nnrt_json_string(NnrtJson *j)
{
    if (nnrt_json_eat(j, '"') < 0)
        return NULL;
    char *start = j->p, *dst = j->p;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20)
            return NULL;
        j->p++;
        if (c != '\\')
            *dst++ = (char)c;
        else if (nnrt_json_escape(&j->p, j->end, &dst) < 0)
            return NULL;
    }
    if (j->p >= j->end)
        return NULL;
    j->p++;        /* the closing quote; dst is at or before it */
    *dst = '\0';
    return start;
}

/* A non-negative integer without sign, fraction or leading zeros. */
static int nnrt_json_u64(NnrtJson *j, uint64_t *v)
{
    nnrt_json_ws(j);
    if (j->p >= j->end || *j->p < '0' || *j->p > '9')
        return -1;
    if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
        return -1;
    *v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        uint64_t d = (uint64_t)(*j->p++ - '0');
        if (*v > (UINT64_MAX - d) / 10)
            return -1;
        *v = *v * 10 + d;
    }
    return 0;
}

/* [n, n, ...] with at most max entries. */
static int nnrt_json_u64s(NnrtJson *j, uint64_t *v, int max, int *n)
{
    *n = 0;
    if (nnrt_json_eat(j, '[') < 0)
        return -1;
    if (nnrt_json_peek(j, ']'))
        return nnrt_json_eat(j, ']');
    do {
        if (*n >= max || nnrt_json_u64(j, &v[*n]) < 0)
            return -1;
        (*n)++;
    } while (nnrt_json_eat(j, ',') == 0);
    return nnrt_json_eat(j, ']');
}

/* ---- the header ---------------------------------------------------------------- */
typedef struct NnrtStEntry {
    const char *name, *dtype;
    int rank, n_offsets;
    uint64_t shape[NNRT_ST_MAX_RANK];
    uint64_t offsets[2];
} NnrtStEntry;

typedef struct NnrtStHeader {
    const char *model, *epoch, *step;
    NnrtStEntry *entries;
    int n, cap;
} NnrtStHeader;

/* {"model":"..","epoch":"..",...}: string values only. */
static int nnrt_st_metadata(NnrtJson *j, NnrtStHeader *h)
{
    if (nnrt_json_eat(j, '{') < 0)
        return -1;
    if (nnrt_json_peek(j, '}'))
        return nnrt_json_eat(j, '}');
    do {
        char *key = nnrt_json_string(j);
        char *val = key && nnrt_json_eat(j, ':') == 0 ? nnrt_json_string(j) : NULL;
        if (!val)
            return -1;
        if (strcmp(key, "model") == 0)
            h->model = val;
        else if (strcmp(key, "epoch") == 0)
            h->epoch = val;
        else if (strcmp(key, "step") == 0)
            h->step = val;
    } while (nnrt_json_eat(j, ',') == 0);
    return nnrt_json_eat(j, '}');
}

/* {"dtype":"F32","shape":[..],"data_offsets":[b,e]}, all three required. */
static int nnrt_st_entry(NnrtJson *j, NnrtStEntry *e)
{
    int seen = 0;
    if (nnrt_json_eat(j, '{') < 0)
        return -1;
    do {
        char *key = nnrt_json_string(j);
        if (!key || nnrt_json_eat(j, ':') < 0)
            return -1;
        if (strcmp(key, "dtype") == 0 && !(seen & 1)) {
            seen |= 1;
            if (!(e->dtype = nnrt_json_string(j)))
                return -1;
        } else if (strcmp(key, "shape") == 0 && !(seen & 2)) {
            seen |= 2;
            if (nnrt_json_u64s(j, e->shape, NNRT_ST_MAX_RANK, &e->rank) < 0)
                return -1;
        } else if (strcmp(key, "data_offsets") == 0 && !(seen & 4)) {
            seen |= 4;
            if (nnrt_json_u64s(j, e->offsets, 2, &e->n_offsets) < 0 || e->n_offsets != 2)
                return -1;
        } else {
            return -1;
        }
    } while (nnrt_json_eat(j, ',') == 0);
    return seen == 7 ? nnrt_json_eat(j, '}') : -1;
}

static NnrtStEntry *nnrt_st_push(NnrtStHeader *h)
{
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        NnrtStEntry *e = realloc(h->entries, (size_t)cap * sizeof *e);
        if (!e)
            return NULL;
        h->entries = e;
        h->cap = cap;
    }
    NnrtStEntry *e = &h->entries[h->n++];
    memset(e, 0, sizeof *e);
    return e;
}

/* The whole header: one object, then nothing but spaces. */
static int nnrt_st_parse(NnrtJson *j, NnrtStHeader *h)
{
    if (nnrt_json_eat(j, '{') < 0)
        return -1;
    if (!nnrt_json_peek(j, '}')) {
        do {
            char *key = nnrt_json_string(j);
            if (!key || nnrt_json_eat(j, ':') < 0)
                return -1;
            if (strcmp(key, "__metadata__") == 0) {
                if (nnrt_st_metadata(j, h) < 0)
                    return -1;
                continue;
            }
            NnrtStEntry *e = nnrt_st_push(h);
            if (!e || nnrt_st_entry(j, e) < 0)
                return -1;
            e->name = key;
        } while (nnrt_json_eat(j, ',') == 0);
    }
    if (nnrt_json_eat(j, '}') < 0)
        return -1;
    nnrt_json_ws(j);
    return j->p == j->end ? 0 : -1;
}

/* ---- loading -------------------------------------------------------------------- */

/* "[2,10]" */
static void nnrt_shape_str(const uint64_t *d, int rank, char *buf, size_t len)
{
    size_t u = 0;
    buf[0] = '\0';
    for (int i = 0; i <= rank && u < len; i++) {
        int n = i == rank ? snprintf(buf + u, len - u, "]")
                          : snprintf(buf + u, len - u, i ? ",%llu" : "[%llu", (unsigned long long)d[i]);
        if (n < 0)
            return;
        u += (size_t)n;
    }
    if (rank == 0)
        snprintf(buf, len, "[]");
}

static const NnrtStEntry *nnrt_st_find(const NnrtStHeader *h, const char *name)
{
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->entries[i].name, name) == 0)
            return &h->entries[i];
    return NULL;
}

/* e (the entry named like t, or NULL) is F32, has t's shape, and its
 * offsets lie inside data_len. */
static int nnrt_st_match(const char *path, const NnrtStEntry *e, const NnrtTensor *t,
                         uint64_t data_len, char *err, size_t errlen)
{
    if (!e)
        return nnrt_errf(err, errlen, "checkpoint %s has no tensor '%s'", path, t->name);
    if (strcmp(e->dtype, "F32") != 0)
        return nnrt_errf(err, errlen, "checkpoint %s: %s has dtype %s, the model wants F32",
                         path, t->name, e->dtype);
    int same = e->rank == t->rank;
    uint64_t want[NNRT_MAX_RANK];
    for (int i = 0; i < t->rank; i++) {
        want[i] = (uint64_t)t->shape[i];
        same = same && e->shape[i] == want[i];
    }
    if (!same) {
        char got[128], wanted[128];
        nnrt_shape_str(e->shape, e->rank, got, sizeof got);
        nnrt_shape_str(want, t->rank, wanted, sizeof wanted);
        return nnrt_errf(err, errlen, "checkpoint %s: %s has shape %s, the model wants %s",
                         path, t->name, got, wanted);
    }
    uint64_t b = e->offsets[0], end = e->offsets[1];
    if (b > end || end > data_len || end - b != (uint64_t)t->numel * 4)
        return nnrt_errf(err, errlen, "checkpoint %s: %s has data_offsets [%llu,%llu], which "
                         "do not hold %zu floats inside %llu data bytes", path, t->name,
                         (unsigned long long)b, (unsigned long long)end, t->numel,
                         (unsigned long long)data_len);
    return 0;
}

/* numel little-endian floats at byte pos of f into v. */
static int nnrt_read_f32le(FILE *f, long pos, float *v, size_t numel)
{
    unsigned char buf[4096];
    if (fseek(f, pos, SEEK_SET) != 0)
        return -1;
    for (size_t done = 0; done < numel;) {
        size_t n = numel - done < sizeof buf / 4 ? numel - done : sizeof buf / 4;
        if (fread(buf, 4, n, f) != n)
            return -1;
        for (size_t i = 0; i < n; i++) {
            const unsigned char *b = buf + 4 * i;
            uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            memcpy(&v[done + i], &u, 4);
        }
        done += n;
    }
    return 0;
}

/* Everything a load needs, freed by nnrt_st_close. */
typedef struct NnrtStFile {
    FILE *f;
    char *header;
    uint64_t hlen, data_len;
    NnrtStHeader h;
    float *tmp;
} NnrtStFile;

static void nnrt_st_close(NnrtStFile *s)
{
    if (s->f)
        fclose(s->f);
    free(s->header);
    free(s->h.entries);
    free(s->tmp);
}

/* Opens path, reads and parses the header. */
static int nnrt_st_open(const char *path, NnrtStFile *s, char *err, size_t errlen)
{
    unsigned char len[8];
    if (!(s->f = fopen(path, "rb")))
        return nnrt_errf(err, errlen, "cannot open checkpoint %s: %s", path, strerror(errno));
    if (fseek(s->f, 0, SEEK_END) != 0)
        return nnrt_errf(err, errlen, "cannot read checkpoint %s: %s", path, strerror(errno));
    long size = ftell(s->f);
    if (size < 8 || fseek(s->f, 0, SEEK_SET) != 0 || fread(len, 1, 8, s->f) != 8)
        return nnrt_errf(err, errlen, "checkpoint %s: too short to be a safetensors file", path);
    for (int i = 7; i >= 0; i--)
        s->hlen = s->hlen << 8 | len[i];
    if (s->hlen > (uint64_t)size - 8 || s->hlen > NNRT_ST_MAX_HEADER)
        return nnrt_errf(err, errlen, "checkpoint %s: header length %llu does not fit a file "
                         "of %ld bytes (not a safetensors file?)", path,
                         (unsigned long long)s->hlen, size);
    s->data_len = (uint64_t)size - 8 - s->hlen;
    if (!(s->header = malloc((size_t)s->hlen + 1)))
        return nnrt_errf(err, errlen, "checkpoint %s: out of memory", path);
    if (fread(s->header, 1, (size_t)s->hlen, s->f) != s->hlen)
        return nnrt_errf(err, errlen, "cannot read checkpoint %s: %s", path, strerror(errno));
    s->header[s->hlen] = '\0';
    NnrtJson j = { s->header, s->header + s->hlen };
    if (nnrt_st_parse(&j, &s->h) < 0)
        return nnrt_errf(err, errlen, "checkpoint %s: bad JSON header near byte %ld", path,
                         8 + (long)(j.p - s->header));
    return 0;
}

/* A decimal metadata value ("3") or 0 when absent; -1 when malformed. */
static int nnrt_st_long(const char *s, long *v)
{
    char *end;
    if (!s) {
        *v = 0;
        return 0;
    }
    errno = 0;
    *v = strtol(s, &end, 10);
    return end == s || *end || errno || *v < 0 ? -1 : 0;
}

/* Checks model name and metadata, then reads every tensor into s->tmp. */
static int nnrt_st_read_all(const char *path, const char *model, NnrtStFile *s,
                            NnrtTensor *const sets[2], const int counts[2], long meta[2],
                            char *err, size_t errlen)
{
    if (!s->h.model)
        return nnrt_errf(err, errlen, "checkpoint %s has no model name in __metadata__", path);
    if (strcmp(s->h.model, model) != 0)
        return nnrt_errf(err, errlen, "checkpoint %s was written by model '%s', not '%s'",
                         path, s->h.model, model);
    if (nnrt_st_long(s->h.epoch, &meta[0]) < 0 || nnrt_st_long(s->h.step, &meta[1]) < 0)
        return nnrt_errf(err, errlen, "checkpoint %s: epoch and step must be whole numbers", path);
    size_t total = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < counts[k]; i++)
            total += sets[k][i].numel;
    if (!(s->tmp = malloc((total ? total : 1) * sizeof(float))))
        return nnrt_errf(err, errlen, "checkpoint %s: out of memory", path);
    float *dst = s->tmp;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < counts[k]; i++) {
            const NnrtTensor *t = &sets[k][i];
            const NnrtStEntry *e = nnrt_st_find(&s->h, t->name);
            if (nnrt_st_match(path, e, t, s->data_len, err, errlen) < 0 || !e)
                return -1;
            if (nnrt_read_f32le(s->f, (long)(8 + s->hlen + e->offsets[0]), dst, t->numel) < 0)
                return nnrt_errf(err, errlen, "cannot read checkpoint %s: %s", path,
                                 feof(s->f) ? "truncated file" : strerror(errno));
            dst += t->numel;
        }
    }
    return 0;
}

int nnrt_ckpt_load(const char *path, const char *model, long *epoch, long *step,
                   NnrtTensor *params, int n_params,
                   NnrtTensor *state, int n_state, char *err, size_t errlen)
{
    NnrtStFile s;
    memset(&s, 0, sizeof s);
    NnrtTensor *const sets[2] = { params, state };
    const int counts[2] = { n_params, n_state };
    long meta[2] = { 0, 0 };
    int rc = nnrt_st_open(path, &s, err, errlen);
    if (rc == 0)
        rc = nnrt_st_read_all(path, model, &s, sets, counts, meta, err, errlen);
    if (rc == 0) { /* everything checked out: now change the model */
        const float *src = s.tmp;
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < counts[k]; i++) {
                memcpy(sets[k][i].data, src, sets[k][i].numel * sizeof(float));
                src += sets[k][i].numel;
            }
        if (epoch)
            *epoch = meta[0];
        if (step)
            *step = meta[1];
    }
    nnrt_st_close(&s);
    return rc;
}
