/* safetensors.c: checkpoints in the safetensors format.
 *
 *   u64 H (little-endian) | H bytes of JSON, space-padded so 8+H is a
 *   multiple of 8 | tensor data, f32 little-endian, in header order
 *
 *   {"__metadata__":{"model":"twolayer","epoch":"3","step":"30",["batch":"7",]
 *                    "scale":"1","normalize":"all","mean":"0.5","std":"2"},
 *    "W1":{"dtype":"F32","shape":[2,10],"data_offsets":[0,80]}, ...}
 *
 * Offsets are relative to the start of the data block.  Values are
 * converted to little-endian byte by byte, so files move between hosts of
 * either byte order.
 *
 * Saving goes through NnrtOutFile (outfile.c): a temporary file, flushed
 * to disk and renamed over PATH, so readers see the old file or the new
 * one, never half of one, and a save killed at any moment leaves nothing
 * behind (on Linux the temporary has no name until just before the
 * rename).  Loading
 * reads and checks everything (model name, each tensor's dtype, shape and
 * offsets) into temporary memory and copies into the model only when all
 * of it is right, so a failed load changes nothing.  The JSON reader is
 * strict and knows only what safetensors uses: objects, strings, and
 * arrays of non-negative integers; and, inside one metadata value
 * (class_names), an array of strings.
 *
 * The metadata that prediction needs (nnrt.h: the input scale, the
 * normalization figures, the class names) is hostile input like the rest:
 * every number decimal and finite, each std > 0, the per-column lists
 * exactly in_dim long (counted before anything is allocated), the class
 * names at most the model's class count and distinct.
 */
#include "nnrt.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NNRT_ST_MAX_HEADER 100000000u /* bytes, the reference library's limit */
#define NNRT_ST_KEEP 8                /* dims of a shape kept for messages and matching */

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

/* The first bad byte of UTF-8 text s[0, n), or n. */
static size_t nnrt_utf8_bad(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (len == 0 || n - i < len)
            return i;
        /* the second byte's range excludes overlong forms, surrogates and
         * code points past 0x10FFFF */
        unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
        unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        for (size_t k = 1; k < len; k++)
            if (s[i + k] < (k == 1 ? lo : 0x80) || s[i + k] > (k == 1 ? hi : 0xBF))
                return i;
        i += len;
    }
    return n;
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

/* ,"KEY":"v1,v2,..." : n floats as "%.9g" (each round-trips) */
static void nnrt_header_floats(NnrtStr *s, const char *key, const float *v, size_t n)
{
    nnrt_str_add(s, ",\"%s\":\"", key);
    for (size_t i = 0; i < n; i++)
        nnrt_str_add(s, i ? ",%.9g" : "%.9g", (double)v[i]);
    nnrt_str_add(s, "\"");
}

/* ,"class_names":"[\"a\",\"b\"]" : a JSON array of strings, as a string */
static void nnrt_header_names(NnrtStr *s, char *const *names, size_t n)
{
    NnrtStr arr = { NULL, 0, 0, 0 };
    nnrt_str_add(&arr, "[");
    for (size_t i = 0; i < n; i++) {
        nnrt_str_add(&arr, i ? "," : "");
        nnrt_str_json(&arr, names[i]);
    }
    nnrt_str_add(&arr, "]");
    nnrt_str_add(s, ",\"class_names\":");
    if (arr.oom)
        s->oom = 1;
    else
        nnrt_str_json(s, arr.p);
    free(arr.p);
}

/* What prediction needs (nnrt.h): scale, normalize and its figures, the
 * class names.  meta was checked by nnrt_meta_check. */
static void nnrt_header_meta(NnrtStr *s, const NnrtCkptMeta *meta, size_t in_dim)
{
    static const char *const modes[] = { "none", "all", "column" };
    if (meta && meta->has_inputs) {
        nnrt_str_add(s, ",\"scale\":\"%.9g\",\"normalize\":\"%s\"", (double)meta->scale,
                     modes[meta->normalize]);
        if (meta->normalize == NNRT_NORM_ALL)
            nnrt_str_add(s, ",\"mean\":\"%.9g\",\"std\":\"%.9g\"", (double)meta->mean,
                         (double)meta->std);
        if (meta->normalize == NNRT_NORM_COLUMN) {
            nnrt_header_floats(s, "col_mean", meta->col_mean, in_dim);
            nnrt_header_floats(s, "col_std", meta->col_std, in_dim);
        }
    }
    if (meta && meta->n_class_names)
        nnrt_header_names(s, meta->class_names, meta->n_class_names);
}

/* The whole header, padded with spaces so that 8 + len is a multiple of 8. */
static int nnrt_header_build(NnrtStr *s, const char *model, long epoch, long step,
                             const NnrtCkptMeta *meta, const NnrtTensor *params, int np,
                             const NnrtTensor *state, int ns)
{
    size_t offset = 0;
    nnrt_str_add(s, "{\"__metadata__\":{\"model\":");
    nnrt_str_json(s, model);
    nnrt_str_add(s, ",\"epoch\":\"%ld\",\"step\":\"%ld\"", epoch, step);
    if (meta && meta->batch > 0) /* mid-epoch (an interrupted run); absent at an epoch boundary */
        nnrt_str_add(s, ",\"batch\":\"%ld\"", meta->batch);
    nnrt_header_meta(s, meta, meta ? meta->in_dim : 0);
    nnrt_str_add(s, "}");
    for (int i = 0; i < np; i++)
        nnrt_header_tensor(s, &params[i], &offset);
    for (int i = 0; i < ns; i++)
        nnrt_header_tensor(s, &state[i], &offset);
    nnrt_str_add(s, "}");
    while (!s->oom && s->len % 8 != 0)
        nnrt_str_add(s, " ");
    return s->oom ? -1 : 0;
}

/* Every tensor's shape agrees with its numel, its name is UTF-8 and not
 * __metadata__, and no two share a name: what the reader asks. */
static int nnrt_tensors_check(const NnrtTensor *t, int n, const NnrtTensor *u, int nu,
                              char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        size_t numel;
        if (!t[i].name || nnrt_shape_numel(&t[i], &numel) < 0 || numel != t[i].numel)
            return nnrt_errf(err, errlen, "tensor %d ('%s'): shape and numel %zu disagree", i,
                             t[i].name ? t[i].name : "?", t[i].numel);
        size_t len = strlen(t[i].name);
        if (nnrt_utf8_bad((const unsigned char *)t[i].name, len) < len ||
            strcmp(t[i].name, "__metadata__") == 0)
            return nnrt_errf(err, errlen, "tensor %d: the name '%s' cannot be saved (not UTF-8, "
                             "or the format's own key)", i, t[i].name);
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
    return 0;
}

/* Writes the checkpoint through NnrtOutFile: PATH is the old file or the
 * new one, whole, whatever happens. */
static int nnrt_ckpt_commit(const char *path, const NnrtStr *h, const NnrtTensor *params, int np,
                            const NnrtTensor *state, int ns, char *err, size_t errlen)
{
    NnrtOutFile o;
    if (nnrt_out_open(&o, path, "checkpoint", err, errlen) < 0)
        return -1;
    if (nnrt_ckpt_write(o.f, h, params, np, state, ns) < 0) {
        int saved = errno;
        nnrt_out_discard(&o);
        return nnrt_errf(err, errlen, "cannot write checkpoint %s: %s", path,
                         saved ? strerror(saved) : "a write failed (is the disk full?)");
    }
    return nnrt_out_commit(&o, err, errlen);
}

/* What nnrt_header_meta writes is what the loader accepts: finite
 * figures, std > 0, a known mode, UTF-8 class names, distinct. */
static int nnrt_meta_check(const char *path, const NnrtCkptMeta *m, char *err, size_t errlen)
{
    int bad = 0;
    if (m->has_inputs) {
        bad = !isfinite(m->scale) || m->scale == 0.0f || m->normalize < NNRT_NORM_NONE ||
              m->normalize > NNRT_NORM_COLUMN;
        if (!bad && m->normalize == NNRT_NORM_ALL)
            bad = !isfinite(m->mean) || !isfinite(m->std) || !(m->std > 0.0f);
        if (!bad && m->normalize == NNRT_NORM_COLUMN)
            bad = m->in_dim == 0 || !m->col_mean || !m->col_std;
        for (size_t i = 0; !bad && m->normalize == NNRT_NORM_COLUMN && i < m->in_dim; i++)
            bad = !isfinite(m->col_mean[i]) || !isfinite(m->col_std[i]) || !(m->col_std[i] > 0.0f);
    }
    if (bad)
        return nnrt_errf(err, errlen, "cannot write checkpoint %s: the input scale or "
                         "normalization figures are not finite (or a std is not > 0)", path);
    for (size_t i = 0; i < m->n_class_names; i++) {
        const char *name = m->class_names[i];
        size_t len = name ? strlen(name) : 0;
        if (!name || nnrt_utf8_bad((const unsigned char *)name, len) < len)
            return nnrt_errf(err, errlen, "cannot write checkpoint %s: class name %zu is not "
                             "UTF-8", path, i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->class_names[k], name) == 0)
                return nnrt_errf(err, errlen, "cannot write checkpoint %s: class names %zu and "
                                 "%zu are the same", path, k, i);
    }
    return 0;
}

int nnrt_ckpt_save(const char *path, const char *model, long epoch, long step,
                   const NnrtCkptMeta *meta, const NnrtTensor *params, int n_params,
                   const NnrtTensor *state, int n_state, char *err, size_t errlen)
{
    if (nnrt_tensors_check(params, n_params, params, n_params, err, errlen) < 0 ||
        nnrt_tensors_check(state, n_state, params, n_params, err, errlen) < 0 ||
        nnrt_tensors_check(state, n_state, state, n_state, err, errlen) < 0 ||
        (meta && nnrt_meta_check(path, meta, err, errlen) < 0))
        return -1;
    size_t mlen = strlen(model);
    if (nnrt_utf8_bad((const unsigned char *)model, mlen) < mlen)
        return nnrt_errf(err, errlen, "cannot write checkpoint %s: the model name is not UTF-8", path);
    NnrtStr h = { NULL, 0, 0, 0 };
    int rc = -1;
    if (nnrt_header_build(&h, model, epoch, step, meta, params, n_params, state, n_state) < 0)
        nnrt_errf(err, errlen, "cannot write checkpoint %s: out of memory", path);
    else if (h.len > NNRT_ST_MAX_HEADER)
        nnrt_errf(err, errlen, "cannot write checkpoint %s: its header of %zu bytes is over the "
                  "format's limit of %u (too many tensors)", path, h.len, NNRT_ST_MAX_HEADER);
    else
        rc = nnrt_ckpt_commit(path, &h, params, n_params, state, n_state, err, errlen);
    free(h.p);
    return rc;
}

/* ---- reading: the header's JSON ------------------------------------------------- *
 * Only what a header holds: objects, strings, arrays of non-negative
 * integers.  JSON's rules otherwise: whitespace between tokens; escapes
 * \" \\ \/ \b \f \n \r \t \uXXXX, a surrogate pair joined into one code
 * point (a lone surrogate and \u0000 are refused: names are C strings).
 * Strings are unescaped in place (never longer than their source).  Each
 * error is formatted where it is found, at its byte in the file. */
typedef struct NnrtJson {
    char *p, *end, *base;   /* cursor; end and first byte of the header */
    const char *path;
    char *err;
    size_t errlen;
    const char *tensor;     /* the entry being read, named in its errors */
    char found[24];         /* what nnrt_json_found last described */
} NnrtJson;

/* The byte of the file that p points at (the header starts at byte 8). */
static uint64_t nnrt_json_at(const NnrtJson *j, const char *p)
{
    return 8 + (uint64_t)(p - j->base);
}

/* s for a message: control characters as \xNN, cut after about len - 8
 * bytes, at a character's start, with "..." after. */
static const char *nnrt_st_q(const char *s, char *buf, size_t len)
{
    const unsigned char *c = (const unsigned char *)s;
    size_t u = 0;
    for (; *c; c++) {
        if ((*c & 0xC0) != 0x80 && u + 8 >= len)
            break;
        if (*c < 0x20 || *c == 0x7F)
            u += (size_t)snprintf(buf + u, len - u, "\\x%02x", *c);
        else
            buf[u++] = (char)*c;
    }
    if (*c) {
        memcpy(buf + u, "...", 3);
        u += 3;
    }
    buf[u] = '\0';
    return buf;
}

/* "checkpoint PATH[, byte AT]: [tensor 'NAME': ]WHAT"; returns -1.
 * at 0 means no byte (the header never starts before byte 8); name NULL,
 * the entry being read, if any. */
static int nnrt_st_fail(const NnrtJson *j, uint64_t at, const char *name, const char *fmt, ...)
    NNRT_PRINTF(4, 5);

static int nnrt_st_fail(const NnrtJson *j, uint64_t at, const char *name, const char *fmt, ...)
{
    char what[384], where[32] = "", q[80];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (at)
        snprintf(where, sizeof where, ", byte %llu", (unsigned long long)at);
    if (!name)
        name = j->tensor;
    if (!name)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s%s: %s", j->path, where, what);
    return nnrt_errf(j->err, j->errlen, "checkpoint %s%s: tensor '%s': %s", j->path, where,
                     nnrt_st_q(name, q, sizeof q), what);
}

/* What the cursor is at, for "expected X, found Y". */
static const char *nnrt_json_found(NnrtJson *j)
{
    unsigned char c = j->p < j->end ? (unsigned char)*j->p : 0;
    if (j->p >= j->end)
        return "the end of the header (header length too short?)";
    if (c > 0x20 && c < 0x7F)
        snprintf(j->found, sizeof j->found, "'%c'", c);
    else
        snprintf(j->found, sizeof j->found, "byte 0x%02x", c);
    return j->found;
}

static void nnrt_json_ws(NnrtJson *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* Skips whitespace; 1 if the next character is c (not consumed). */
static int nnrt_json_peek(NnrtJson *j, char c)
{
    nnrt_json_ws(j);
    return j->p < j->end && *j->p == c;
}

/* Skips whitespace and consumes c, or fails saying what was wanted. */
static int nnrt_json_expect(NnrtJson *j, char c, const char *what)
{
    if (nnrt_json_peek(j, c)) {
        j->p++;
        return 0;
    }
    return nnrt_st_fail(j, nnrt_json_at(j, j->p), NULL, "expected %s, found %s", what,
                        nnrt_json_found(j));
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

/* Code point v (1 to 0x10FFFF, no surrogates) as UTF-8 at *dst. */
static void nnrt_utf8_put(unsigned long v, char **dst)
{
    unsigned char *d = (unsigned char *)*dst;
    if (v < 0x80) {
        *d++ = (unsigned char)v;
    } else if (v < 0x800) {
        *d++ = (unsigned char)(0xC0 | v >> 6);
        *d++ = (unsigned char)(0x80 | (v & 0x3F));
    } else if (v < 0x10000) {
        *d++ = (unsigned char)(0xE0 | v >> 12);
        *d++ = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
        *d++ = (unsigned char)(0x80 | (v & 0x3F));
    } else {
        *d++ = (unsigned char)(0xF0 | v >> 18);
        *d++ = (unsigned char)(0x80 | ((v >> 12) & 0x3F));
        *d++ = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
        *d++ = (unsigned char)(0x80 | (v & 0x3F));
    }
    *dst = (char *)d;
}

/* One escape, j->p just after its backslash; the result goes to *dst.
 * \uD8xx-\uDBxx must be followed by \uDCxx-\uDFxx: one code point. */
static int nnrt_json_escape(NnrtJson *j, char **dst)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char c = j->p < j->end ? *j->p : '\0';
    const char *k = c ? strchr(from, c) : NULL;
    if (k) {
        *(*dst)++ = to[k - from];
        j->p++;
        return 0;
    }
    unsigned v, lo;
    if (c != 'u' || j->end - j->p < 5 || nnrt_hex4(j->p + 1, &v) < 0)
        return -1;
    j->p += 5;
    unsigned long cp = v;
    if (v >= 0xDC00 && v <= 0xDFFF)
        return -1;
    if (v >= 0xD800 && v <= 0xDBFF) {
        if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || nnrt_hex4(j->p + 2, &lo) < 0 ||
            lo < 0xDC00 || lo > 0xDFFF)
            return -1;
        j->p += 6;
        cp = 0x10000 + ((unsigned long)(v - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0)
        return -1;
    nnrt_utf8_put(cp, dst);
    return 0;
}

/* string = '"' { char | '\' escape } '"', unescaped in place and
 * NUL-terminated into *out. */
static int nnrt_json_string(NnrtJson *j, char **out)
{
    if (nnrt_json_expect(j, '"', "a string") < 0)
        return -1;
    char *open = j->p - 1, *dst = j->p;
    *out = j->p;
    for (;;) {
        if (j->p >= j->end)
            return nnrt_st_fail(j, nnrt_json_at(j, open), NULL,
                                "the string that starts here has no closing quote "
                                "(header length too short?)");
        unsigned char c = (unsigned char)*j->p;
        if (c == '"')
            break;
        if (c < 0x20)
            return nnrt_st_fail(j, nnrt_json_at(j, j->p), NULL, "control character 0x%02x "
                                "inside a string (JSON wants it escaped)", c);
        char *esc = j->p++;
        if (c != '\\')
            *dst++ = (char)c;
        else if (nnrt_json_escape(j, &dst) < 0)
            return nnrt_st_fail(j, nnrt_json_at(j, esc), NULL, "bad escape in a string (not "
                                "JSON, a lone surrogate, or \\u0000, which names cannot hold)");
    }
    j->p++;
    *dst = '\0'; /* at or before the closing quote */
    return 0;
}

/* A non-negative integer: digits, no sign, fraction, exponent or leading
 * zero, at most 2^64 - 1. */
static int nnrt_json_u64(NnrtJson *j, uint64_t *v, const char *what)
{
    nnrt_json_ws(j);
    char *s = j->p;
    uint64_t at = nnrt_json_at(j, s);
    if (s < j->end && *s == '-')
        return nnrt_st_fail(j, at, NULL, "%s is negative", what);
    if (s >= j->end || *s < '0' || *s > '9')
        return nnrt_st_fail(j, at, NULL, "expected %s (a non-negative integer), found %s", what,
                            nnrt_json_found(j));
    if (*s == '0' && s + 1 < j->end && s[1] >= '0' && s[1] <= '9')
        return nnrt_st_fail(j, at, NULL, "%s has a leading zero (not JSON)", what);
    *v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        uint64_t d = (uint64_t)(*j->p++ - '0');
        if (*v > (UINT64_MAX - d) / 10)
            return nnrt_st_fail(j, at, NULL, "%s is over 2^64 - 1", what);
        *v = *v * 10 + d;
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return nnrt_st_fail(j, at, NULL, "%s is not a whole number", what);
    return 0;
}

/* The next member of an object whose '{' was read: 1 with its key in *key
 * (the ':' consumed) and the key's byte in *at, 0 at the closing '}'. */
static int nnrt_json_member(NnrtJson *j, int *count, char **key, uint64_t *at)
{
    if (nnrt_json_peek(j, '}')) {
        j->p++;
        return 0;
    }
    if (*count > 0 && nnrt_json_expect(j, ',', "',' or '}'") < 0)
        return -1;
    nnrt_json_ws(j);
    *at = nnrt_json_at(j, j->p);
    if (nnrt_json_string(j, key) < 0 || nnrt_json_expect(j, ':', "':' after a key") < 0)
        return -1;
    (*count)++;
    return 1;
}

/* ---- reading: the header's meaning ------------------------------------------------ */

/* The dtypes of the format, with their element sizes in bits. */
static const struct NnrtStDtype {
    const char *name;
    unsigned bits;
} nnrt_st_dtypes[] = {
    { "BOOL", 8 }, { "F4", 4 }, { "F6_E2M3", 6 }, { "F6_E3M2", 6 }, { "U8", 8 }, { "I8", 8 },
    { "F8_E5M2", 8 }, { "F8_E4M3", 8 }, { "F8_E8M0", 8 }, { "F8_E4M3FNUZ", 8 },
    { "F8_E5M2FNUZ", 8 }, { "I16", 16 }, { "U16", 16 }, { "F16", 16 }, { "BF16", 16 },
    { "I32", 32 }, { "U32", 32 }, { "F32", 32 }, { "C64", 64 }, { "F64", 64 }, { "I64", 64 },
    { "U64", 64 },
};
#define NNRT_ST_N_DTYPES (int)(sizeof nnrt_st_dtypes / sizeof nnrt_st_dtypes[0])

typedef struct NnrtStEntry {
    const char *name;
    uint64_t at;                      /* byte of its key in the file */
    int dtype;                        /* into nnrt_st_dtypes */
    int rank;                         /* shape[] holds the first NNRT_ST_KEEP dims */
    int too_many;                     /* the element count passed 2^64 - 1 */
    uint64_t shape[NNRT_ST_KEEP], numel;
    uint64_t begin, end;              /* data_offsets, from the first data byte */
} NnrtStEntry;

typedef struct NnrtStMeta {
    const char *key;
    char *val;                        /* in the header buffer (class_names is parsed in place) */
    uint64_t at;
} NnrtStMeta;

typedef struct NnrtStHeader {
    NnrtStEntry *entries;
    NnrtStMeta *meta;
    size_t n, cap, n_meta, cap_meta;
    int has_meta;
    NnrtStEntry **byname;             /* sorted by name: duplicates, look-ups */
    NnrtStEntry **byoff;              /* sorted by data_offsets: the layout */
} NnrtStHeader;

/* Room for one more of size bytes in *p (holding n, room for *cap). */
static int nnrt_st_grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 16;
    void *q = c > SIZE_MAX / size ? NULL : realloc(*p, c * size);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* metadata = '{' { string ':' string } '}' */
static int nnrt_st_metadata(NnrtJson *j, NnrtStHeader *h, uint64_t at)
{
    if (h->has_meta)
        return nnrt_st_fail(j, at, NULL, "__metadata__ appears twice (only one is allowed; "
                            "a corrupt or hand-edited header?)");
    h->has_meta = 1;
    if (!nnrt_json_peek(j, '{'))
        return nnrt_st_fail(j, nnrt_json_at(j, j->p), NULL, "__metadata__ must be an object "
                            "of strings, found %s", nnrt_json_found(j));
    j->p++;
    int count = 0, r;
    char *key, *val;
    uint64_t kat;
    char q[80];
    while ((r = nnrt_json_member(j, &count, &key, &kat)) == 1) {
        if (!nnrt_json_peek(j, '"'))
            return nnrt_st_fail(j, nnrt_json_at(j, j->p), NULL, "__metadata__ '%s' must be a "
                                "string, found %s", nnrt_st_q(key, q, sizeof q), nnrt_json_found(j));
        if (nnrt_json_string(j, &val) < 0)
            return -1;
        if (nnrt_st_grow((void **)&h->meta, &h->cap_meta, h->n_meta, sizeof *h->meta) < 0)
            return nnrt_st_fail(j, 0, NULL, "out of memory");
        h->meta[h->n_meta++] = (NnrtStMeta){ key, val, kat };
    }
    return r;
}

/* "dtype": a name from nnrt_st_dtypes */
static int nnrt_st_dtype(NnrtJson *j, NnrtStEntry *e)
{
    nnrt_json_ws(j);
    uint64_t at = nnrt_json_at(j, j->p);
    char *s, q[80];
    if (nnrt_json_string(j, &s) < 0)
        return -1;
    for (e->dtype = 0; e->dtype < NNRT_ST_N_DTYPES; e->dtype++)
        if (strcmp(nnrt_st_dtypes[e->dtype].name, s) == 0)
            return 0;
    return nnrt_st_fail(j, at, e->name, "unknown dtype '%s' (not a safetensors dtype)",
                        nnrt_st_q(s, q, sizeof q));
}

/* "shape": '[' [ n { ',' n } ] ']'; the element count as the product,
 * flagged when it passes 2^64 - 1. */
static int nnrt_st_shape(NnrtJson *j, NnrtStEntry *e)
{
    if (nnrt_json_expect(j, '[', "'[' to open a shape") < 0)
        return -1;
    e->numel = 1;
    if (nnrt_json_peek(j, ']')) {
        j->p++;
        return 0;
    }
    for (;;) {
        uint64_t d;
        if (nnrt_json_u64(j, &d, "a shape dimension") < 0)
            return -1;
        if (e->rank < NNRT_ST_KEEP)
            e->shape[e->rank] = d;
        e->rank++;
        if (d && e->numel > UINT64_MAX / d)
            e->too_many = 1;
        e->numel *= d;
        if (!nnrt_json_peek(j, ','))
            break;
        j->p++;
    }
    return nnrt_json_expect(j, ']', "',' or ']' in a shape");
}

/* "data_offsets": '[' begin ',' end ']' */
static int nnrt_st_offsets(NnrtJson *j, NnrtStEntry *e)
{
    if (nnrt_json_expect(j, '[', "'[' to open data_offsets [begin, end]") < 0 ||
        nnrt_json_u64(j, &e->begin, "data_offsets' begin") < 0 ||
        nnrt_json_expect(j, ',', "',' after data_offsets' begin") < 0 ||
        nnrt_json_u64(j, &e->end, "data_offsets' end") < 0)
        return -1;
    return nnrt_json_expect(j, ']', "']' after data_offsets' end (want exactly [begin, end])");
}

/* "[2,10]", "[]", or "[2,...]" past NNRT_ST_KEEP dims. */
static void nnrt_shape_str(const uint64_t *d, int rank, char *buf, size_t len)
{
    size_t u = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < rank && i < NNRT_ST_KEEP && u < len; i++)
        u += (size_t)snprintf(buf + u, len - u, i ? ",%llu" : "%llu", (unsigned long long)d[i]);
    if (u < len)
        snprintf(buf + u, len - u, rank > NNRT_ST_KEEP ? ",...]" : "]");
}

/* One entry on its own: begin <= end; count x element size (64 bits, no
 * overflow) whole bytes and equal to end - begin; begin a multiple of the
 * element size (the layout the reference writer makes: largest dtypes
 * first). */
static int nnrt_st_entry_check(NnrtJson *j, const NnrtStEntry *e)
{
    const struct NnrtStDtype *dt = &nnrt_st_dtypes[e->dtype];
    unsigned long long b = e->begin, end = e->end;
    char shape[96];
    nnrt_shape_str(e->shape, e->rank, shape, sizeof shape);
    if (b > end)
        return nnrt_st_fail(j, e->at, e->name, "data_offsets [%llu,%llu] end before they begin "
                            "(a corrupt or hand-edited header?)", b, end);
    if (e->too_many || e->numel > UINT64_MAX / dt->bits)
        return nnrt_st_fail(j, e->at, e->name, "shape %s of %s holds more bytes than 64 bits "
                            "count (a corrupt header?)", shape, dt->name);
    uint64_t bits = e->numel * dt->bits;
    if (bits % 8 != 0)
        return nnrt_st_fail(j, e->at, e->name, "shape %s of %s is %llu bits, not a whole number "
                            "of bytes", shape, dt->name, (unsigned long long)bits);
    if (end - b != bits / 8)
        return nnrt_st_fail(j, e->at, e->name, "data_offsets [%llu,%llu] hold %llu bytes, but "
                            "shape %s of %s needs %llu (header and data disagree: a corrupt or "
                            "hand-edited header?)", b, end, end - b, shape, dt->name,
                            (unsigned long long)(bits / 8));
    if (dt->bits >= 8 && b % (dt->bits / 8) != 0)
        return nnrt_st_fail(j, e->at, e->name, "data_offsets [%llu,%llu] start at data byte %llu, "
                            "not a multiple of %s's %u-byte elements (misaligned: a writer that "
                            "does not order tensors by alignment?)", b, end, b, dt->name, dt->bits / 8);
    return 0;
}

/* entry = '{' "dtype": s, "shape": [..], "data_offsets": [b, e] '}',
 * each exactly once, in any order, nothing else. */
static int nnrt_st_entry(NnrtJson *j, NnrtStHeader *h, const char *name, uint64_t at)
{
    static const char *const fields[3] = { "dtype", "shape", "data_offsets" };
    if (nnrt_st_grow((void **)&h->entries, &h->cap, h->n, sizeof *h->entries) < 0)
        return nnrt_st_fail(j, 0, NULL, "out of memory");
    NnrtStEntry *e = &h->entries[h->n++];
    memset(e, 0, sizeof *e);
    e->name = j->tensor = name;
    e->at = at;
    if (!nnrt_json_peek(j, '{'))
        return nnrt_st_fail(j, nnrt_json_at(j, j->p), name, "expected an object of dtype, shape "
                            "and data_offsets, found %s", nnrt_json_found(j));
    j->p++;
    int count = 0, seen = 0, r, f;
    char *key, q[80];
    uint64_t kat;
    while ((r = nnrt_json_member(j, &count, &key, &kat)) == 1) {
        for (f = 0; f < 3 && strcmp(key, fields[f]) != 0; f++)
            ;
        if (f == 3)
            return nnrt_st_fail(j, kat, name, "unknown field '%s' (want exactly dtype, shape "
                                "and data_offsets)", nnrt_st_q(key, q, sizeof q));
        if (seen & 1 << f)
            return nnrt_st_fail(j, kat, name, "field %s appears twice", fields[f]);
        seen |= 1 << f;
        if ((f == 0 ? nnrt_st_dtype(j, e) : f == 1 ? nnrt_st_shape(j, e) : nnrt_st_offsets(j, e)) < 0)
            return -1;
    }
    if (r < 0)
        return -1;
    for (f = 0; f < 3; f++)
        if (!(seen & 1 << f))
            return nnrt_st_fail(j, at, name, "no %s (want exactly dtype, shape and "
                                "data_offsets)", fields[f]);
    j->tensor = NULL;
    return nnrt_st_entry_check(j, e);
}

/* header = ws '{' { string ':' ( metadata | entry ) } '}' ws, and
 * nothing after it: the writer pads with spaces. */
static int nnrt_st_parse(NnrtJson *j, NnrtStHeader *h)
{
    if (!nnrt_json_peek(j, '{'))
        return nnrt_st_fail(j, nnrt_json_at(j, j->p), NULL, "the header must be a JSON object, "
                            "found %s (not a safetensors file?)", nnrt_json_found(j));
    j->p++;
    int count = 0, r;
    char *key;
    uint64_t at;
    while ((r = nnrt_json_member(j, &count, &key, &at)) == 1)
        if ((strcmp(key, "__metadata__") == 0 ? nnrt_st_metadata(j, h, at)
                                              : nnrt_st_entry(j, h, key, at)) < 0)
            return -1;
    if (r < 0)
        return -1;
    nnrt_json_ws(j);
    if (j->p < j->end)
        return nnrt_st_fail(j, nnrt_json_at(j, j->p), NULL, "%s after the header's closing '}', "
                            "where only spaces may follow (header length too long?)",
                            nnrt_json_found(j));
    return 0;
}

/* ---- reading: the layout ---------------------------------------------------------- */

static int nnrt_st_cmp_name(const void *a, const void *b)
{
    const NnrtStEntry *x = *(NnrtStEntry *const *)a, *y = *(NnrtStEntry *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

static int nnrt_st_cmp_off(const void *a, const void *b)
{
    const NnrtStEntry *x = *(NnrtStEntry *const *)a, *y = *(NnrtStEntry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->at > y->at) - (x->at < y->at);
}

static int nnrt_st_cmp_meta(const void *a, const void *b)
{
    const NnrtStMeta *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* No name twice, among tensors or among __metadata__'s keys. */
static int nnrt_st_unique(NnrtJson *j, NnrtStHeader *h)
{
    char q[80];
    qsort(h->byname, h->n, sizeof *h->byname, nnrt_st_cmp_name);
    for (size_t i = 1; i < h->n; i++)
        if (strcmp(h->byname[i - 1]->name, h->byname[i]->name) == 0)
            return nnrt_st_fail(j, h->byname[i]->at, NULL, "tensor '%s' appears twice (first at "
                                "byte %llu; which one is meant is unclear: a corrupt or "
                                "hand-edited header?)", nnrt_st_q(h->byname[i]->name, q, sizeof q),
                                (unsigned long long)h->byname[i - 1]->at);
    if (h->n_meta > 1)
        qsort(h->meta, h->n_meta, sizeof *h->meta, nnrt_st_cmp_meta);
    for (size_t i = 1; i < h->n_meta; i++)
        if (strcmp(h->meta[i - 1].key, h->meta[i].key) == 0)
            return nnrt_st_fail(j, h->meta[i].at, NULL, "'%s' appears twice in __metadata__ "
                                "(first at byte %llu)", nnrt_st_q(h->meta[i].key, q, sizeof q),
                                (unsigned long long)h->meta[i - 1].at);
    return 0;
}

/* Taken in order of their offsets, the tensors tile [0, data_len): each
 * begins where the one before ends, the last ends at data_len. */
static int nnrt_st_tiling(NnrtJson *j, NnrtStHeader *h, uint64_t hlen, uint64_t data_len)
{
    qsort(h->byoff, h->n, sizeof *h->byoff, nnrt_st_cmp_off);
    uint64_t pos = 0;
    const NnrtStEntry *prev = NULL;
    char q[80];
    for (size_t i = 0; i < h->n; i++) {
        const NnrtStEntry *e = h->byoff[i];
        unsigned long long b = e->begin, end = e->end;
        if (b > pos && prev)
            return nnrt_st_fail(j, 0, e->name, "data_offsets [%llu,%llu] leave data bytes %llu..%llu "
                                "unused (a gap after '%s': a corrupt or hand-edited header?)", b,
                                end, (unsigned long long)pos, b - 1, nnrt_st_q(prev->name, q, sizeof q));
        if (b > pos)
            return nnrt_st_fail(j, 0, e->name, "data_offsets [%llu,%llu] leave data bytes 0..%llu "
                                "unused (a gap before the first tensor: a corrupt or hand-edited "
                                "header?)", b, end, b - 1);
        if (b < pos)
            return nnrt_st_fail(j, 0, e->name, "data_offsets [%llu,%llu] overlap '%s', which ends "
                                "at %llu (two tensors share bytes: a corrupt or hand-edited "
                                "header?)", b, end, nnrt_st_q(prev->name, q, sizeof q),
                                (unsigned long long)pos);
        if (end > data_len)
            return nnrt_st_fail(j, 0, e->name, "data_offsets [%llu,%llu] run past the end of the "
                                "data (%llu bytes after the header: a truncated file?)", b, end,
                                (unsigned long long)data_len);
        pos = end;
        prev = e;
    }
    if (pos < data_len)
        return nnrt_st_fail(j, 8 + hlen + pos, NULL, "the tensors end at data byte %llu, leaving "
                            "%llu byte%s after the last tensor unread (the header length %llu too "
                            "short, or bytes appended to the file?)", (unsigned long long)pos,
                            (unsigned long long)(data_len - pos), data_len - pos == 1 ? "" : "s",
                            (unsigned long long)hlen);
    return 0;
}

/* ---- loading -------------------------------------------------------------------- */

static const NnrtStEntry *nnrt_st_find(const NnrtStHeader *h, const char *name)
{
    NnrtStEntry key, *kp = &key;
    key.name = name;
    key.at = 0;
    size_t lo = 0, hi = h->n; /* the first entry not below name */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nnrt_st_cmp_name(&h->byname[mid], &kp) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->n && strcmp(h->byname[lo]->name, name) == 0 ? h->byname[lo] : NULL;
}

/* e (the entry named like t, or NULL) is F32 and has t's shape. */
static int nnrt_st_match(NnrtJson *j, const NnrtStEntry *e, const NnrtTensor *t)
{
    if (!e)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s has no tensor '%s'", j->path, t->name);
    if (strcmp(nnrt_st_dtypes[e->dtype].name, "F32") != 0)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: %s has dtype %s, the model wants F32",
                         j->path, t->name, nnrt_st_dtypes[e->dtype].name);
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
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: %s has shape %s, the model wants %s",
                         j->path, t->name, got, wanted);
    }
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
    NnrtJson j;
    NnrtStHeader h;
    float *tmp;
} NnrtStFile;

static void nnrt_st_close(NnrtStFile *s)
{
    if (s->f)
        fclose(s->f);
    free(s->header);
    free(s->h.entries);
    free(s->h.meta);
    free(s->h.byname);
    free(s->h.byoff);
    free(s->tmp);
}

/* The 8-byte length N, checked against the limit and the file size before
 * anything is allocated, then N bytes of header. */
static int nnrt_st_read_header(const char *path, NnrtStFile *s)
{
    NnrtJson *j = &s->j;
    unsigned char len[8];
    if (!(s->f = fopen(path, "rb")))
        return nnrt_errf(j->err, j->errlen, "cannot open checkpoint %s: %s", path, strerror(errno));
    if (fseek(s->f, 0, SEEK_END) != 0)
        return nnrt_errf(j->err, j->errlen, "cannot read checkpoint %s: %s", path, strerror(errno));
    long size = ftell(s->f);
    if (size < 8 || fseek(s->f, 0, SEEK_SET) != 0 || fread(len, 1, 8, s->f) != 8)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: too short to be a safetensors file", path);
    for (int i = 7; i >= 0; i--)
        s->hlen = s->hlen << 8 | len[i];
    if (s->hlen > NNRT_ST_MAX_HEADER)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: header length %llu is over the limit of "
                         "%u bytes (not a safetensors file?)", path, (unsigned long long)s->hlen,
                         NNRT_ST_MAX_HEADER);
    if (s->hlen > (uint64_t)size - 8)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: header length %llu does not fit a file "
                         "of %ld bytes (truncated, or not a safetensors file?)", path,
                         (unsigned long long)s->hlen, size);
    s->data_len = (uint64_t)size - 8 - s->hlen;
    if (!(s->header = malloc((size_t)s->hlen + 1)))
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: out of memory", path);
    if (fread(s->header, 1, (size_t)s->hlen, s->f) != s->hlen)
        return nnrt_errf(j->err, j->errlen, "cannot read checkpoint %s: %s", path,
                         feof(s->f) ? "file shrank while reading" : strerror(errno));
    s->header[s->hlen] = '\0';
    return 0;
}

/* Opens path and checks the whole header: UTF-8, JSON, every entry, the
 * names unique, the data tiled exactly. */
static int nnrt_st_open(const char *path, NnrtStFile *s)
{
    NnrtJson *j = &s->j;
    if (nnrt_st_read_header(path, s) < 0)
        return -1;
    j->p = j->base = s->header;
    j->end = s->header + s->hlen;
    size_t bad = nnrt_utf8_bad((const unsigned char *)s->header, (size_t)s->hlen);
    if (bad < s->hlen)
        return nnrt_st_fail(j, 8 + (uint64_t)bad, NULL, "the header is not valid UTF-8 "
                            "(a corrupt header, or not a safetensors file?)");
    if (nnrt_st_parse(j, &s->h) < 0)
        return -1;
    NnrtStHeader *h = &s->h;
    h->byname = malloc((h->n ? h->n : 1) * sizeof *h->byname);
    h->byoff = malloc((h->n ? h->n : 1) * sizeof *h->byoff);
    if (!h->byname || !h->byoff)
        return nnrt_st_fail(j, 0, NULL, "out of memory");
    for (size_t i = 0; i < h->n; i++)
        h->byname[i] = h->byoff[i] = &h->entries[i];
    if (nnrt_st_unique(j, h) < 0)
        return -1;
    return nnrt_st_tiling(j, h, s->hlen, s->data_len);
}

/* __metadata__'s value for key, or NULL. */
static char *nnrt_st_meta(const NnrtStHeader *h, const char *key)
{
    for (size_t i = 0; i < h->n_meta; i++)
        if (strcmp(h->meta[i].key, key) == 0)
            return h->meta[i].val;
    return NULL;
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

/* ---- loading: the figures prediction needs ------------------------------------ */

/* "checkpoint PATH: __metadata__ 'KEY' WHAT; a corrupt or hand-edited
 * header?"; returns -1. */
static int nnrt_meta_fail(const NnrtJson *j, const char *key, const char *fmt, ...)
    NNRT_PRINTF(3, 4);

static int nnrt_meta_fail(const NnrtJson *j, const char *key, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return nnrt_errf(j->err, j->errlen, "checkpoint %s: __metadata__ '%s' %s (a corrupt or "
                     "hand-edited header?)", j->path, key, what);
}

/* One decimal number, the whole of s[0, n): digits, sign, point,
 * exponent only (no hex, inf, nan, spaces), finite as a float. */
static int nnrt_meta_number(const char *s, size_t n, float *v)
{
    char buf[64], *end;
    if (n == 0 || n >= sizeof buf || strspn(s, "0123456789+-.eE") < n)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    double d = strtod(buf, &end);
    /* from FLT_MAX + half its ulp up, the float would be infinite */
    if (end != buf + n || !isfinite(d) || fabs(d) >= (double)FLT_MAX + 0x1p103)
        return -1;
    *v = (float)d;
    return 0;
}

/* The number under key: finite; positive > 0 when asked (a std). */
static int nnrt_meta_float(const NnrtJson *j, const NnrtStHeader *h, const char *key,
                           int positive, float *v)
{
    const char *s = nnrt_st_meta(h, key);
    char q[80];
    if (!s)
        return nnrt_meta_fail(j, key, "is missing");
    if (nnrt_meta_number(s, strlen(s), v) < 0 || (positive && !(*v > 0.0f)))
        return nnrt_meta_fail(j, key, "'%s' is not a finite decimal number%s",
                              nnrt_st_q(s, q, sizeof q), positive ? " > 0" : "");
    return 0;
}

/* key's comma-separated numbers: want of them (0: any number, then
 * *count says how many); each finite, > 0 when positive.  out (room for
 * want) may be NULL: checked only. */
static int nnrt_meta_list(const NnrtJson *j, const NnrtStHeader *h, const char *key,
                          int positive, size_t want, float *out, size_t *count)
{
    const char *s = nnrt_st_meta(h, key);
    char q[80];
    if (!s)
        return nnrt_meta_fail(j, key, "is missing (normalize is \"column\")");
    size_t n = 1;
    for (const char *c = s; *c; c++)
        n += *c == ',';
    if (want && n != want)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: __metadata__ '%s' has %zu value%s, the "
                         "model's input has %zu columns (a checkpoint of another model?)", j->path,
                         key, n, n == 1 ? "" : "s", want);
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(s, ",");
        float v;
        if (nnrt_meta_number(s, len, &v) < 0 || (positive && !(v > 0.0f))) {
            char field[64];
            snprintf(field, sizeof field, "%.*s", (int)(len < 40 ? len : 40), s);
            return nnrt_meta_fail(j, key, "value %zu '%s' is not a finite decimal number%s", i + 1,
                                  nnrt_st_q(field, q, sizeof q), positive ? " > 0" : "");
        }
        if (out)
            out[i] = v;
        s += len + (s[len] == ',');
    }
    *count = n;
    return 0;
}

/* normalize "column": col_mean and col_std, in_dim each (or, with in_dim
 * 0, as many as each other); stored in m when keep. */
static int nnrt_meta_columns(const NnrtJson *j, const NnrtStHeader *h, NnrtCkptMeta *m, int keep)
{
    size_t n_mean = 0, n_std = 0, want = m->in_dim;
    if (keep && want && (!(m->col_mean = malloc(want * sizeof(float))) ||
                         !(m->col_std = malloc(want * sizeof(float)))))
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: out of memory", j->path);
    if (nnrt_meta_list(j, h, "col_mean", 0, want, keep ? m->col_mean : NULL, &n_mean) < 0 ||
        nnrt_meta_list(j, h, "col_std", 1, want, keep ? m->col_std : NULL, &n_std) < 0)
        return -1;
    if (n_mean != n_std)
        return nnrt_meta_fail(j, "col_std", "has %zu values, col_mean %zu", n_std, n_mean);
    return 0;
}

/* The keys normalize mode `mode` must have, and those it must not. */
static int nnrt_meta_norm_keys(const NnrtJson *j, const NnrtStHeader *h, int mode)
{
    static const char *const keys[4] = { "mean", "std", "col_mean", "col_std" };
    static const char *const names[3] = { "none", "all", "column" };
    for (int k = 0; k < 4; k++) {
        int wanted = mode == NNRT_NORM_ALL ? k < 2 : mode == NNRT_NORM_COLUMN ? k >= 2 : 0;
        int there = nnrt_st_meta(h, keys[k]) != NULL;
        if (there && !wanted && mode < 0)
            return nnrt_meta_fail(j, keys[k], "is there without scale and normalize");
        if (there && !wanted)
            return nnrt_meta_fail(j, keys[k], "does not go with normalize \"%s\"", names[mode]);
        if (!there && wanted)
            return nnrt_meta_fail(j, keys[k], "is missing (normalize is \"%s\")", names[mode]);
    }
    return 0;
}

/* scale, normalize and its figures: both or neither of scale and
 * normalize; the figures that go with the mode, no others. */
static int nnrt_meta_inputs(const NnrtJson *j, const NnrtStHeader *h, NnrtCkptMeta *m, int keep)
{
    const char *mode = nnrt_st_meta(h, "normalize"), *scale = nnrt_st_meta(h, "scale");
    char q[80];
    if (!mode && !scale)
        return nnrt_meta_norm_keys(j, h, -1);
    if (!mode || !scale)
        return nnrt_meta_fail(j, mode ? "scale" : "normalize", "is missing (scale and "
                              "normalize come together)");
    m->has_inputs = 1;
    if (strcmp(mode, "none") == 0)
        m->normalize = NNRT_NORM_NONE;
    else if (strcmp(mode, "all") == 0)
        m->normalize = NNRT_NORM_ALL;
    else if (strcmp(mode, "column") == 0)
        m->normalize = NNRT_NORM_COLUMN;
    else
        return nnrt_meta_fail(j, "normalize", "is '%s', not none, all or column",
                              nnrt_st_q(mode, q, sizeof q));
    if (nnrt_meta_float(j, h, "scale", 0, &m->scale) < 0)
        return -1;
    if (m->scale == 0.0f)
        return nnrt_meta_fail(j, "scale", "is 0");
    if (nnrt_meta_norm_keys(j, h, m->normalize) < 0)
        return -1;
    if (m->normalize == NNRT_NORM_ALL)
        return nnrt_meta_float(j, h, "mean", 0, &m->mean) < 0 ? -1
               : nnrt_meta_float(j, h, "std", 1, &m->std);
    if (m->normalize == NNRT_NORM_COLUMN)
        return nnrt_meta_columns(j, h, m, keep);
    return 0;
}

static int nnrt_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names, NULL-free, are distinct: sorted copies, neighbours compared. */
static int nnrt_meta_distinct(const NnrtJson *j, char **names, size_t n)
{
    char **sorted = malloc((n ? n : 1) * sizeof *sorted), q[80];
    if (!sorted)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: out of memory", j->path);
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, nnrt_cmp_str);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            rc = nnrt_meta_fail(j, "class_names", "names '%s' twice",
                                nnrt_st_q(sorted[i], q, sizeof q));
    free(sorted);
    return rc;
}

/* names = '[' string { ',' string } ']' inside the value text (unescaped
 * in place: the header buffer is ours), at most max names, copied. */
static int nnrt_meta_names_parse(NnrtJson *v, size_t max, char ***names, size_t *n)
{
    size_t cap = 0;
    if (nnrt_json_expect(v, '[', "'['") < 0)
        return -1;
    for (int first = 1; !nnrt_json_peek(v, ']'); first = 0) {
        char *name, *copy;
        if ((!first && nnrt_json_expect(v, ',', "','") < 0) || nnrt_json_string(v, &name) < 0)
            return -1;
        if (*n >= max)
            return 1;
        size_t len = strlen(name);
        if (nnrt_st_grow((void **)names, &cap, *n, sizeof **names) < 0 || !(copy = malloc(len + 1)))
            return 2;
        memcpy(copy, name, len + 1);
        (*names)[(*n)++] = copy;
    }
    v->p++;
    nnrt_json_ws(v);
    return v->p < v->end || *n == 0 ? -1 : 0;
}

/* class_names, when there: a JSON array of 1..max distinct strings. */
static int nnrt_meta_names(const NnrtJson *j, const NnrtStHeader *h, NnrtCkptMeta *m)
{
    char *text = nnrt_st_meta(h, "class_names"), err[8];
    if (!text)
        return 0;
    size_t max = m->max_classes ? m->max_classes : (size_t)1 << 24;
    NnrtJson v = { text, text + strlen(text), text, j->path, err, sizeof err, NULL, "" };
    int rc = nnrt_meta_names_parse(&v, max, &m->class_names, &m->n_class_names);
    if (rc == 1)
        return nnrt_meta_fail(j, "class_names", "has more than %zu names, the model's class "
                              "count", max);
    if (rc == 2)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: out of memory", j->path);
    if (rc < 0)
        return nnrt_meta_fail(j, "class_names", "is not a JSON array of one or more strings "
                              "(trouble at character %zu of its value)", (size_t)(v.p - text) + 1);
    return nnrt_meta_distinct(j, m->class_names, m->n_class_names);
}

void nnrt_ckpt_meta_of(const NnrtData *d, NnrtCkptMeta *m)
{
    memset(m, 0, sizeof *m);
    m->in_dim = d->in_dim;
    m->has_inputs = 1;
    m->scale = d->x_scale;
    m->normalize = d->normalized;
    m->mean = d->x_mean;
    m->std = d->x_std;
    m->col_mean = d->col_mean;
    m->col_std = d->col_std;
    m->class_names = d->class_names;
    m->n_class_names = d->n_class_names;
}

/* The names a class id can have: the class count for argmax, 2 (0/1) for
 * a threshold, no limit (0) where nothing is judged. */
static size_t nnrt_meta_classes(const NnrtModel *m)
{
    if (m->acc_kind == NNRT_ACC_THRESHOLD)
        return 2;
    if (m->acc_kind != NNRT_ACC_ARGMAX)
        return 0;
    return m->label_kind == NNRT_LABEL_CLASS ? nnrt_model_classes(m) : m->label_dim;
}

void nnrt_ckpt_meta_want(const NnrtModel *m, NnrtCkptMeta *meta)
{
    memset(meta, 0, sizeof *meta);
    meta->in_dim = m->in_dim;
    meta->max_classes = nnrt_meta_classes(m);
}

void nnrt_ckpt_meta_free(NnrtCkptMeta *m)
{
    free(m->col_mean);
    free(m->col_std);
    for (size_t i = 0; i < m->n_class_names; i++)
        free(m->class_names[i]);
    free(m->class_names);
    m->col_mean = m->col_std = NULL;
    m->class_names = NULL;
    m->n_class_names = 0;
    m->has_inputs = 0;
}

/* The figures into out (in_dim and max_classes set by the caller; NULL:
 * checked, not kept).  On failure out holds nothing. */
static int nnrt_st_read_meta(const NnrtJson *j, const NnrtStHeader *h, NnrtCkptMeta *out)
{
    NnrtCkptMeta m;
    memset(&m, 0, sizeof m);
    if (out && out->in_dim == 0)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: the model's input width is 0", j->path);
    m.in_dim = out ? out->in_dim : 0;
    m.max_classes = out ? out->max_classes : 0;
    int rc = nnrt_meta_inputs(j, h, &m, out != NULL);
    if (rc == 0)
        rc = nnrt_meta_names(j, h, &m);
    if (rc < 0 || !out)
        nnrt_ckpt_meta_free(&m);
    else
        *out = m;
    return rc;
}

/* Checks model name and metadata, then reads every tensor into s->tmp. */
static int nnrt_st_read_all(const char *model, NnrtStFile *s, NnrtTensor *const sets[2],
                            const int counts[2], long meta[3], NnrtCkptMeta *figures)
{
    NnrtJson *j = &s->j;
    const char *name = nnrt_st_meta(&s->h, "model");
    char q[80];
    if (!name)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s has no model name in __metadata__", j->path);
    if (strcmp(name, model) != 0)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s was written by model '%s', not '%s'",
                         j->path, nnrt_st_q(name, q, sizeof q), model);
    if (nnrt_st_long(nnrt_st_meta(&s->h, "epoch"), &meta[0]) < 0 ||
        nnrt_st_long(nnrt_st_meta(&s->h, "step"), &meta[1]) < 0 ||
        nnrt_st_long(nnrt_st_meta(&s->h, "batch"), &meta[2]) < 0)
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: epoch, step and batch must be whole "
                         "numbers", j->path);
    if (nnrt_st_read_meta(j, &s->h, figures) < 0)
        return -1;
    size_t total = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < counts[k]; i++)
            total += sets[k][i].numel;
    if (!(s->tmp = malloc((total ? total : 1) * sizeof(float))))
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: out of memory", j->path);
    float *dst = s->tmp;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < counts[k]; i++) {
            const NnrtTensor *t = &sets[k][i];
            const NnrtStEntry *e = nnrt_st_find(&s->h, t->name);
            if (nnrt_st_match(j, e, t) < 0 || !e)
                return -1;
            /* inside the file, whose size ftell gave as a long */
            if (nnrt_read_f32le(s->f, (long)(8 + s->hlen + e->begin), dst, t->numel) < 0)
                return nnrt_errf(j->err, j->errlen, "cannot read checkpoint %s: %s", j->path,
                                 feof(s->f) ? "file shrank while reading" : strerror(errno));
            dst += t->numel;
        }
    }
    return 0;
}

int nnrt_ckpt_load(const char *path, const char *model, long *epoch, long *step,
                   NnrtCkptMeta *figures, NnrtTensor *params, int n_params,
                   NnrtTensor *state, int n_state, char *err, size_t errlen)
{
    NnrtStFile s;
    memset(&s, 0, sizeof s);
    s.j.path = path;
    s.j.err = err;
    s.j.errlen = errlen;
    NnrtTensor *const sets[2] = { params, state };
    const int counts[2] = { n_params, n_state };
    long meta[3] = { 0, 0, 0 };
    NnrtCkptMeta got;
    memset(&got, 0, sizeof got);
    if (figures) {
        got.in_dim = figures->in_dim;
        got.max_classes = figures->max_classes;
    }
    int rc = nnrt_st_open(path, &s);
    if (rc == 0)
        rc = nnrt_st_read_all(model, &s, sets, counts, meta, figures ? &got : NULL);
    got.batch = meta[2];
    if (rc == 0 && figures)
        *figures = got;
    else
        nnrt_ckpt_meta_free(&got);
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

/* ---- params only, from any safetensors file (--init-from) ------------------------ *
 * The file is checked whole (nnrt_st_open), but neither a model name nor
 * __metadata__ is asked for: a file written by another program (PyTorch's
 * safetensors.torch.save_file) names the params and nothing else need
 * agree.  Each param must be there under its name, with its shape, as F32
 * or as F64, F16 or BF16, converted to f32 here; the other tensors are
 * left alone and listed in a note.  As with nnrt_ckpt_load, everything is
 * read into temporary memory first and a failed load changes nothing. */

/* IEEE half h as f32 (exact: every half is a float). */
static float nnrt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (uint32_t)(h >> 10) & 0x1F, man = h & 0x3FFu;
    uint32_t bits;
    float v;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31)  /* inf or NaN, its payload kept */
        bits = sign | 0x7F800000u | man << 13;
    else            /* rebias the exponent: 15 -> 127 */
        bits = sign | (exp + 112) << 23 | man << 13;
    memcpy(&v, &bits, 4);
    return v;
}

/* e's dtype is the one called name */
static int nnrt_st_dtype_is(const NnrtStEntry *e, const char *name)
{
    return strcmp(nnrt_st_dtypes[e->dtype].name, name) == 0;
}

/* One little-endian element of k bytes at b (F32, F64, F16 or BF16) as f32;
 * -1 for an F64 value outside f32's range. */
static int nnrt_st_elem(const NnrtStEntry *e, const unsigned char *b, unsigned k, float *out)
{
    uint64_t u = 0;
    for (unsigned i = k; i-- > 0;)
        u = u << 8 | b[i];
    if (k == 2 && nnrt_st_dtype_is(e, "F16")) {
        *out = nnrt_f16_to_f32((uint16_t)u);
        return 0;
    }
    uint32_t w = k == 2 ? (uint32_t)u << 16 : (uint32_t)u; /* BF16: the top half of an f32 */
    if (k != 8) {
        memcpy(out, &w, 4);
        return 0;
    }
    double d;
    memcpy(&d, &u, 8);
    if (isfinite(d) && fabs(d) > (double)FLT_MAX)
        return -1;
    *out = (float)d;
    return 0;
}

/* Entry e's numel elements, converted, into v; -1 with the message. */
static int nnrt_st_read_param(NnrtStFile *s, const NnrtStEntry *e, float *v, size_t numel)
{
    NnrtJson *j = &s->j;
    unsigned char buf[4096];
    unsigned k = nnrt_st_dtypes[e->dtype].bits / 8;
    char q[80];
    /* inside the file, whose size ftell gave as a long */
    if (fseek(s->f, (long)(8 + s->hlen + e->begin), SEEK_SET) != 0)
        return nnrt_errf(j->err, j->errlen, "cannot read checkpoint %s: %s", j->path, strerror(errno));
    for (size_t done = 0; done < numel;) {
        size_t n = numel - done < sizeof buf / k ? numel - done : sizeof buf / k;
        if (fread(buf, k, n, s->f) != n)
            return nnrt_errf(j->err, j->errlen, "cannot read checkpoint %s: %s", j->path,
                             feof(s->f) ? "file shrank while reading" : strerror(errno));
        for (size_t i = 0; i < n; i++)
            if (nnrt_st_elem(e, buf + k * i, k, &v[done + i]) < 0)
                return nnrt_errf(j->err, j->errlen, "checkpoint %s: tensor '%s': element %zu, "
                                 "an F64 value, is outside f32's range", j->path,
                                 nnrt_st_q(e->name, q, sizeof q), done + i);
        done += n;
    }
    return 0;
}

/* ", name [2,3], name2 [3]": the file's tensors that no param takes, the
 * first max of them by name, then " and N more"; returns how many there
 * are.  (The scan stops after max + n_params entries: a header of a
 * million tensors costs no more than a small one.) */
static size_t nnrt_st_others(const NnrtStHeader *h, const NnrtTensor *params, int n_params,
                             size_t max, char *buf, size_t len)
{
    size_t taken = 0, listed = 0, u = 0;
    for (int p = 0; p < n_params; p++)
        taken += nnrt_st_find(h, params[p].name) != NULL;
    size_t count = h->n - taken;
    buf[0] = '\0';
    for (size_t i = 0; i < h->n && listed < max && listed < count; i++) {
        const NnrtStEntry *e = h->byname[i];
        int is_param = 0;
        for (int p = 0; p < n_params && !is_param; p++)
            is_param = strcmp(params[p].name, e->name) == 0;
        if (is_param)
            continue;
        if (u >= len)
            break;
        char q[48], shape[48];
        nnrt_shape_str(e->shape, e->rank, shape, sizeof shape);
        u += (size_t)snprintf(buf + u, len - u, "%s%s %s", listed++ ? ", " : "",
                              nnrt_st_q(e->name, q, sizeof q), shape);
    }
    if (count > listed && u < len)
        snprintf(buf + u, len - u, " and %zu more", count - listed);
    return count;
}

/* e (the entry named like param t, or NULL) can be t: a float dtype, t's shape. */
static int nnrt_st_match_param(NnrtStFile *s, const NnrtStEntry *e, const NnrtTensor *t,
                               const NnrtTensor *params, int n_params)
{
    NnrtJson *j = &s->j;
    char want[96], got[96], others[256];
    uint64_t dims[NNRT_MAX_RANK];
    for (int i = 0; i < t->rank; i++)
        dims[i] = (uint64_t)t->shape[i];
    nnrt_shape_str(dims, t->rank, want, sizeof want);
    if (!e) {
        size_t n = nnrt_st_others(&s->h, params, n_params, 4, others, sizeof others);
        return nnrt_errf(j->err, j->errlen, "checkpoint %s has no tensor '%s' for the model's "
                         "param %s %s (%s%s); tensors are matched to params by name", j->path,
                         t->name, t->name, want, n ? "the file's other tensors: " : "the file has "
                         "no other tensors", n ? others : "");
    }
    if (!nnrt_st_dtype_is(e, "F32") && !nnrt_st_dtype_is(e, "F64") &&
        !nnrt_st_dtype_is(e, "F16") && !nnrt_st_dtype_is(e, "BF16"))
        return nnrt_errf(j->err, j->errlen, "checkpoint %s: tensor '%s' is %s; the param %s needs "
                         "floats (F32, or F64, F16, BF16, which are converted)", j->path, t->name,
                         nnrt_st_dtypes[e->dtype].name, t->name);
    int same = e->rank == t->rank, transposed = e->rank == 2 && t->rank == 2;
    for (int i = 0; i < t->rank && i < e->rank; i++) {
        same = same && e->shape[i] == dims[i];
        transposed = transposed && e->shape[i] == dims[t->rank - 1 - i];
    }
    if (same)
        return 0;
    nnrt_shape_str(e->shape, e->rank, got, sizeof got);
    return nnrt_errf(j->err, j->errlen, "checkpoint %s: tensor '%s' has shape %s, the model's "
                     "param %s is %s%s", j->path, t->name, got, t->name, want,
                     transposed ? " (its transpose: a PyTorch nn.Linear weight is [out, in], "
                     "a dense W is [in, out]: save weight.T)" : "");
}

/* Every param matched and read into s->tmp, in order. */
static int nnrt_st_read_params(NnrtStFile *s, const NnrtTensor *params, int n_params)
{
    size_t total = 0;
    for (int i = 0; i < n_params; i++)
        total += params[i].numel;
    if (!(s->tmp = malloc((total ? total : 1) * sizeof(float))))
        return nnrt_errf(s->j.err, s->j.errlen, "checkpoint %s: out of memory", s->j.path);
    float *dst = s->tmp;
    for (int i = 0; i < n_params; i++) {
        const NnrtStEntry *e = nnrt_st_find(&s->h, params[i].name);
        if (nnrt_st_match_param(s, e, &params[i], params, n_params) < 0 || !e ||
            nnrt_st_read_param(s, e, dst, params[i].numel) < 0)
            return -1;
        dst += params[i].numel;
    }
    return 0;
}

int nnrt_ckpt_load_params(const char *path, NnrtTensor *params, int n_params, char *note,
                          size_t notelen, char *err, size_t errlen)
{
    NnrtStFile s;
    memset(&s, 0, sizeof s);
    s.j.path = path;
    s.j.err = err;
    s.j.errlen = errlen;
    if (note && notelen)
        note[0] = '\0';
    int rc = nnrt_st_open(path, &s);
    if (rc == 0)
        rc = nnrt_st_read_params(&s, params, n_params);
    if (rc == 0) { /* everything checked out: now change the model */
        const float *src = s.tmp;
        for (int i = 0; i < n_params; i++) {
            memcpy(params[i].data, src, params[i].numel * sizeof(float));
            src += params[i].numel;
        }
        char others[768];
        size_t n = nnrt_st_others(&s.h, params, n_params, 10, others, sizeof others);
        if (n && note && notelen)
            snprintf(note, notelen, "checkpoint %s: %zu tensor%s of the model, not loaded: %s",
                     path, n, n == 1 ? " is not a param" : "s are not params", others);
    }
    nnrt_st_close(&s);
    return rc;
}

int nnrt_init_from(const NnrtModel *m, const char *path, FILE *warn, char *err, size_t errlen)
{
    char note[1024];
    if (nnrt_ckpt_load_params(path, m->params, m->n_params, note, sizeof note, err, errlen) < 0)
        return -1;
    if (note[0] && warn)
        fprintf(warn, "nnrt: warning: %s\n", note);
    return 0;
}
