/* idx.c: the IDX format of MNIST and Fashion-MNIST, raw or gzip.
 *
 *   bytes 0-1   0x00 0x00
 *   byte  2     element type: 0x08 = unsigned byte (the only one we take)
 *   byte  3     ND, the number of dimensions (3 for images, 1 for labels)
 *   ND x 4      each dimension, a big-endian uint32 (count first)
 *   the rest    count * prod(other dims) bytes, row-major, and nothing after
 *
 * A file that starts with 1f 8b is gzip (RFC 1952) and is inflated here
 * with zlib's inflate, member after member, to the very end of the file:
 * zlib checks each member's CRC-32 and length trailer, a stream cut
 * anywhere (the trailer included) is "truncated", and bytes after the last
 * member that do not start another one are refused.  Any other file is
 * read raw.  The bytes are kept as bytes; data.c converts them to floats a
 * batch at a time.
 *
 * Every size in the header is hostile until checked, and is checked
 * before memory is spent on it:
 *   1. count x item in 64 bits, at most NNRT_IDX_MAX_BYTES (2^34);
 *   2. item (a row's bytes) against what the caller wants (the model's
 *      input), right after the header;
 *   3. a raw regular file must be exactly 4 + 4 ND + count x item bytes
 *      long (fstat), before the data buffer is allocated;
 *   4. a gzip file cannot inflate to more than 1032 times its size
 *      (deflate's largest ratio), so a larger claim is refused at once;
 *      and the buffer starts at most a few times the file's size and
 *      doubles only as data actually comes out.
 * Errors are one line naming the file, with the byte offset where it helps.
 */
#include "nnrt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Largest data block we accept (16 GiB): a guard against absurd headers. */
#define NNRT_IDX_MAX_BYTES ((uint64_t)1 << 34)
/* deflate never inflates by more than 1032:1 (zlib's technical notes). */
#define NNRT_DEFLATE_MAX_RATIO 1032u
/* A gzip file's first buffer: its size times this, plus 1 MiB. */
#define NNRT_GZ_FIRST_RATIO 4u
#define NNRT_GZ_FIRST_EXTRA ((size_t)1 << 20)

/* An open IDX file: raw bytes from f, or inflated from it (gz). */
typedef struct NnrtIdxIn {
    FILE *f;
    const char *path;
    int gz, z_live;             /* gzip; inflateInit2 done */
    int sized;                  /* a regular file: size is its length */
    uint64_t size;              /* the file's length in bytes */
    uint64_t fed;               /* compressed bytes handed to zlib so far */
    int eof, ended;             /* f is exhausted; the last member ended */
    unsigned char pre[2];       /* raw: the bytes read to tell gzip apart */
    size_t npre, used_pre;      /*      (a pipe cannot be rewound) */
    z_stream z;
    unsigned char in[1 << 16];  /* compressed bytes not yet inflated */
    char *err; size_t errlen;
} NnrtIdxIn;

static uint32_t nnrt_be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* ---- reading: raw, or gzip to the end of the stream --------------------- */

/* Offset in the file of the next compressed byte zlib has not taken. */
static uint64_t nnrt_gz_offset(const NnrtIdxIn *r)
{
    return r->fed - r->z.avail_in;
}

/* More compressed bytes: keeps what zlib has not used, appends up to the
 * buffer's end.  At the end of the file sets eof. */
static int nnrt_gz_fill(NnrtIdxIn *r)
{
    size_t keep = r->z.avail_in;
    if (r->eof)
        return 0;
    memmove(r->in, r->z.next_in ? r->z.next_in : r->in, keep);
    size_t n = fread(r->in + keep, 1, sizeof r->in - keep, r->f);
    if (ferror(r->f))
        return nnrt_errf(r->err, r->errlen, "cannot read %s: %s", r->path, strerror(errno));
    r->eof = n < sizeof r->in - keep;
    r->z.next_in = r->in;
    r->z.avail_in = (uInt)(keep + n);
    r->fed += n;
    return 0;
}

/* After a member's trailer: the file ends, or another member starts. */
static int nnrt_gz_member_end(NnrtIdxIn *r)
{
    if (r->z.avail_in < 2 && nnrt_gz_fill(r) < 0)
        return -1;
    if (r->z.avail_in == 0) {
        r->ended = 1;
        return 0;
    }
    uint64_t at = nnrt_gz_offset(r);
    if (r->z.avail_in >= 2 && r->z.next_in[0] == 0x1f && r->z.next_in[1] == 0x8b)
        return inflateReset(&r->z) == Z_OK ? 0
               : nnrt_errf(r->err, r->errlen, "%s: cannot restart zlib at byte %llu", r->path,
                           (unsigned long long)at);
    if (r->sized)
        return nnrt_errf(r->err, r->errlen, "%s: %llu bytes of trailing data after the gzip "
                         "stream ends at byte %llu (a damaged or appended file?)", r->path,
                         (unsigned long long)(r->size - at), (unsigned long long)at);
    return nnrt_errf(r->err, r->errlen, "%s: trailing data after the gzip stream ends at "
                     "byte %llu (a damaged or appended file?)", r->path, (unsigned long long)at);
}

/* zlib's verdict on the stream, as one line. */
static int nnrt_gz_fail(NnrtIdxIn *r, int zr)
{
    unsigned long long at = (unsigned long long)nnrt_gz_offset(r);
    if (zr == Z_BUF_ERROR)
        return nnrt_errf(r->err, r->errlen, "%s: truncated gzip stream: the file ends at byte %llu "
                         "inside compressed data or the CRC/length trailer (a partial download?)",
                         r->path, at);
    if (zr == Z_MEM_ERROR)
        return nnrt_errf(r->err, r->errlen, "%s: out of memory for zlib", r->path);
    const char *why = r->z.msg ? r->z.msg : "corrupt data";
    const char *hint = strstr(why, "data check") || strstr(why, "length check")
                       ? " (the data does not match the CRC/length trailer: a damaged file)"
                       : " (a damaged file?)";
    return nnrt_errf(r->err, r->errlen, "%s: corrupt gzip stream near byte %llu: %s%s", r->path,
                     at, why, hint);
}

/* Up to len inflated bytes into buf; fewer only where the stream ends. */
static long long nnrt_gz_read(NnrtIdxIn *r, unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len && !r->ended) {
        if (r->z.avail_in == 0 && nnrt_gz_fill(r) < 0)
            return -1;
        size_t want = len - got > (1u << 30) ? (1u << 30) : len - got;
        r->z.next_out = buf + got;
        r->z.avail_out = (uInt)want;
        int zr = inflate(&r->z, Z_NO_FLUSH);
        got += want - r->z.avail_out;
        if (zr == Z_STREAM_END) {
            if (nnrt_gz_member_end(r) < 0)
                return -1;
        } else if (zr == Z_BUF_ERROR && r->z.avail_in == 0 && !r->eof) {
            continue; /* zlib wants more input: the next turn reads it */
        } else if (zr != Z_OK) {
            return nnrt_gz_fail(r, zr);
        }
    }
    return (long long)got;
}

/* Up to len bytes of the (inflated) file; fewer only at its end. */
static long long nnrt_in_read(NnrtIdxIn *r, unsigned char *buf, size_t len)
{
    if (r->gz)
        return nnrt_gz_read(r, buf, len);
    size_t n = 0;
    while (r->used_pre < r->npre && n < len)
        buf[n++] = r->pre[r->used_pre++];
    n += fread(buf + n, 1, len - n, r->f);
    if (n < len && ferror(r->f))
        return nnrt_errf(r->err, r->errlen, "cannot read %s: %s", r->path, strerror(errno));
    return (long long)n;
}

/* Opens path; a gzip file is recognised by its first two bytes. */
static int nnrt_in_open(NnrtIdxIn *r, const char *path, char *err, size_t errlen)
{
    struct stat st;
    memset(r, 0, offsetof(NnrtIdxIn, in));
    r->path = path;
    r->err = err;
    r->errlen = errlen;
    errno = 0;
    if (!(r->f = fopen(path, "rb")))
        return nnrt_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode)) {
        r->sized = 1;
        r->size = (uint64_t)st.st_size;
    }
    int c0 = getc(r->f), c1 = c0 == EOF ? EOF : getc(r->f);
    r->gz = c0 == 0x1f && c1 == 0x8b;
    if (!r->gz) {
        r->pre[0] = (unsigned char)c0;
        r->pre[1] = (unsigned char)c1;
        r->npre = c0 == EOF ? 0 : c1 == EOF ? 1 : 2;
        return 0;
    }
    r->in[0] = 0x1f;
    r->in[1] = 0x8b;
    r->z.next_in = r->in;
    r->z.avail_in = 2;
    r->fed = 2;
    if (inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK) /* 16: gzip wrapper only */
        return nnrt_errf(err, errlen, "%s: out of memory for zlib", path);
    r->z_live = 1;
    return 0;
}

static void nnrt_in_close(NnrtIdxIn *r)
{
    if (r->z_live)
        inflateEnd(&r->z);
    if (r->f)
        fclose(r->f);
    r->z_live = 0;
    r->f = NULL;
}

/* ---- the header ------------------------------------------------------------ */

/* The 4-byte magic: 00 00 08 ND with ND == ndims. */
static int nnrt_idx_magic(const unsigned char m[4], long long got, int ndims, const char *path,
                          char *err, size_t errlen)
{
    uint32_t want = 0x800u | (uint32_t)ndims;
    const char *what = ndims == 1 ? "labels" : "images";
    if (got < 4)
        return nnrt_errf(err, errlen, "%s: not an IDX file (only %lld bytes)", path, got);
    uint32_t magic = nnrt_be32(m);
    if (m[0] != 0 || m[1] != 0)
        return nnrt_errf(err, errlen, "%s: not an IDX file (magic 0x%08x, want 0x%08x)",
                         path, magic, want);
    if (m[2] != 0x08)
        return nnrt_errf(err, errlen,
                         "%s: IDX element type 0x%02x is not supported (magic 0x%08x; "
                         "only unsigned bytes, 0x08)", path, m[2], magic);
    if (m[3] != ndims)
        return nnrt_errf(err, errlen, "%s: wrong IDX magic 0x%08x (want 0x%08x for %s)",
                         path, magic, want, what);
    return 0;
}

/* a * b, saturated to UINT64_MAX once it passes NNRT_IDX_MAX_BYTES. */
static uint64_t nnrt_idx_mul(uint64_t a, uint64_t b)
{
    if (a > NNRT_IDX_MAX_BYTES || (b != 0 && a > NNRT_IDX_MAX_BYTES / b))
        return UINT64_MAX;
    return a * b;
}

/* "60000x28x28", or from dimension `from` on ("28x28"). */
static void nnrt_idx_dims_str(const NnrtIdx *x, int from, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = from; i < x->ndims && used < len; i++) {
        int n = snprintf(buf + used, len - used, i > from ? "x%u" : "%u", (unsigned)x->dims[i]);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}

/* The dimensions: count = dims[0], item = product of the rest. */
static int nnrt_idx_dims(NnrtIdxIn *r, NnrtIdx *out)
{
    unsigned char b[16];
    size_t len = 4 * (size_t)out->ndims;
    long long got = nnrt_in_read(r, b, len);
    if (got < 0)
        return -1;
    if ((size_t)got < len)
        return nnrt_errf(r->err, r->errlen, "%s: truncated IDX header (%lld of %zu dimension bytes)",
                         r->path, got, len);
    uint64_t item = 1;
    for (int i = 0; i < out->ndims; i++) {
        out->dims[i] = nnrt_be32(b + 4 * i);
        if (i > 0)
            item = nnrt_idx_mul(item, out->dims[i]);
    }
    uint64_t total = nnrt_idx_mul(item, out->dims[0]);
    if (total > NNRT_IDX_MAX_BYTES)
        return nnrt_errf(r->err, r->errlen, "%s: IDX dimensions too large (over 2^34 bytes)", r->path);
    out->count = out->dims[0];
    out->item = (size_t)item;
    return 0;
}

/* 2. the row size the caller wants (0: any). */
static int nnrt_idx_check_item(const NnrtIdxIn *r, const NnrtIdx *x, size_t item)
{
    if (item == 0 || x->item == item)
        return 0;
    char dims[64];
    nnrt_idx_dims_str(x, 1, dims, sizeof dims);
    return nnrt_errf(r->err, r->errlen, "%s: image size %s=%zu does not match the model's input %zu",
                     r->path, dims, x->item, item);
}

/* 3 and 4: the claimed data against what the file can hold. */
static int nnrt_idx_check_size(const NnrtIdxIn *r, const NnrtIdx *x)
{
    uint64_t head = 4 + 4 * (uint64_t)x->ndims, total = (uint64_t)x->count * x->item;
    char dims[64];
    nnrt_idx_dims_str(x, 0, dims, sizeof dims);
    if (!r->sized || r->size < head)
        return 0;
    if (!r->gz && r->size < head + total)
        return nnrt_errf(r->err, r->errlen, "%s: truncated file (%llu of %llu data bytes for %s): "
                         "cut short, or a wrong count in the header?", r->path,
                         (unsigned long long)(r->size - head), (unsigned long long)total, dims);
    if (!r->gz && r->size > head + total)
        return nnrt_errf(r->err, r->errlen, "%s: %llu bytes after the data (the header says %s, "
                         "%llu data bytes from byte %llu): a wrong count, or not an IDX file?",
                         r->path, (unsigned long long)(r->size - head - total), dims,
                         (unsigned long long)total, (unsigned long long)head);
    if (r->gz && (head + total) / NNRT_DEFLATE_MAX_RATIO > r->size)
        return nnrt_errf(r->err, r->errlen, "%s: the header says %s (%llu data bytes), more than a "
                         "gzip file of %llu bytes can hold (deflate inflates at most 1032:1): a "
                         "damaged header or a truncated file", r->path, dims,
                         (unsigned long long)total, (unsigned long long)r->size);
    return 0;
}

/* ---- the data ---------------------------------------------------------------- */

/* The first buffer for total bytes: all of it when the file's size
 * vouches for it (raw) or it is small, else a few times the gzip file. */
static size_t nnrt_idx_first_cap(const NnrtIdxIn *r, size_t total)
{
    if (r->sized && !r->gz)
        return total;
    uint64_t cap = NNRT_GZ_FIRST_EXTRA;
    if (r->sized)
        cap += r->size * NNRT_GZ_FIRST_RATIO;
    return cap < total ? (size_t)cap : total;
}

/* Exactly total bytes into out->bytes, the buffer growing (doubling) as
 * data actually arrives. */
static int nnrt_idx_data(NnrtIdxIn *r, NnrtIdx *out, size_t total)
{
    size_t cap = nnrt_idx_first_cap(r, total), got = 0;
    out->bytes = malloc(cap ? cap : 1);
    while (out->bytes) {
        long long n = nnrt_in_read(r, out->bytes + got, cap - got);
        if (n < 0)
            return -1;
        got += (size_t)n;
        if (got < cap || cap == total)
            break;
        cap = cap > total / 2 ? total : cap * 2;
        uint8_t *bigger = realloc(out->bytes, cap);
        if (!bigger)
            break;
        out->bytes = bigger;
    }
    if (!out->bytes || (got == cap && cap < total))
        return nnrt_errf(r->err, r->errlen, "%s: out of memory for %zu bytes", r->path, total);
    if (got < total) {
        char dims[64];
        nnrt_idx_dims_str(out, 0, dims, sizeof dims);
        return nnrt_errf(r->err, r->errlen, "%s: truncated file (%zu of %zu data bytes for %s): "
                         "cut short, or a wrong count in the header?", r->path, got, total, dims);
    }
    return 0;
}

/* After the data: the end of the file (gzip: of the stream, every trailer
 * checked).  A raw regular file's length was checked already. */
static int nnrt_idx_end(NnrtIdxIn *r, const NnrtIdx *x)
{
    unsigned char scratch[4096];
    long long n = nnrt_in_read(r, scratch, sizeof scratch);
    if (n <= 0)
        return (int)n;
    char dims[64];
    nnrt_idx_dims_str(x, 0, dims, sizeof dims);
    return nnrt_errf(r->err, r->errlen, "%s: more data after the %zu data bytes the header (%s) "
                     "announces: a wrong count, or not an IDX file?", r->path, x->count * x->item,
                     dims);
}

/* Magic, dims and their checks, then exactly count*item data bytes. */
static int nnrt_idx_body(NnrtIdxIn *r, int ndims, size_t item, NnrtIdx *out)
{
    unsigned char m[4];
    long long got = nnrt_in_read(r, m, 4);
    if (got < 0 || nnrt_idx_magic(m, got, ndims, r->path, r->err, r->errlen) < 0)
        return -1;
    out->ndims = ndims;
    out->gzip = r->gz;
    if (nnrt_idx_dims(r, out) < 0 || nnrt_idx_check_item(r, out, item) < 0 ||
        nnrt_idx_check_size(r, out) < 0)
        return -1;
    if (nnrt_idx_data(r, out, out->count * out->item) < 0)
        return -1;
    return nnrt_idx_end(r, out);
}

int nnrt_idx_read(const char *path, int ndims, size_t item, NnrtIdx *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (ndims < 1 || ndims > 4)
        return nnrt_errf(err, errlen, "%s: IDX files with %d dimensions are not supported",
                         path, ndims);
    NnrtIdxIn *r = malloc(sizeof *r);
    if (!r)
        return nnrt_errf(err, errlen, "%s: out of memory", path);
    int rc = nnrt_in_open(r, path, err, errlen);
    if (rc == 0)
        rc = nnrt_idx_body(r, ndims, item, out);
    nnrt_in_close(r);
    free(r);
    if (rc < 0)
        nnrt_idx_free(out);
    return rc;
}

void nnrt_idx_free(NnrtIdx *idx)
{
    free(idx->bytes);
    memset(idx, 0, sizeof *idx);
}
