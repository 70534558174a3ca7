/* idx.c: the IDX format of MNIST and Fashion-MNIST, raw or gzip.
 *
 *   bytes 0-1   0x00 0x00
 *   byte  2     element type: 0x08 = unsigned byte (the only one we take)
 *   byte  3     ND, the number of dimensions (3 for images, 1 for labels)
 *   ND x 4      each dimension, a big-endian uint32 (count first)
 *   the rest    count * prod(other dims) bytes, row-major
 *
 * zlib's gzread reads gzip (magic 1f 8b) and passes plain files through,
 * so one path serves both.  The bytes are kept as bytes; data.c converts
 * them to floats a batch at a time.  Every failure names the file.
 */
#include "nnrt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Largest data block we accept (16 GiB): a guard against absurd headers. */
#define NNRT_IDX_MAX_BYTES ((uint64_t)1 << 34)

/* Reads up to len bytes (in chunks gzread's int result can count); returns
 * the number read, or -1 after writing the zlib error into err. */
static long long nnrt_gz_read(gzFile g, void *buf, size_t len, const char *path,
                              char *err, size_t errlen)
{
    size_t got = 0;
    while (got < len) {
        size_t want = len - got;
        unsigned chunk = want > (1u << 30) ? (1u << 30) : (unsigned)want;
        int n = gzread(g, (unsigned char *)buf + got, chunk);
        if (n < 0) {
            int zerr = 0;
            const char *msg = gzerror(g, &zerr);
            if (zerr == Z_ERRNO)
                msg = strerror(errno);
            nnrt_errf(err, errlen, "cannot read %s: %s", path, msg);
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (long long)got;
}

static uint32_t nnrt_be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

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

/* The dimensions: count = dims[0], item = product of the rest. */
static int nnrt_idx_dims(gzFile g, NnrtIdx *out, const char *path, char *err, size_t errlen)
{
    unsigned char b[16];
    size_t len = 4 * (size_t)out->ndims;
    long long got = nnrt_gz_read(g, b, len, path, err, errlen);
    if (got < 0)
        return -1;
    if ((size_t)got < len)
        return nnrt_errf(err, errlen, "%s: truncated IDX header (%lld of %zu dimension bytes)",
                         path, got, len);
    uint64_t item = 1;
    for (int i = 0; i < out->ndims; i++) {
        out->dims[i] = nnrt_be32(b + 4 * i);
        if (i > 0)
            item = nnrt_idx_mul(item, out->dims[i]);
    }
    uint64_t total = nnrt_idx_mul(item, out->dims[0]);
    if (total > NNRT_IDX_MAX_BYTES)
        return nnrt_errf(err, errlen, "%s: IDX dimensions too large (over 2^34 bytes)", path);
    out->count = out->dims[0];
    out->item = (size_t)item;
    return 0;
}

/* "60000x28x28" */
static void nnrt_idx_dims_str(const NnrtIdx *x, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < x->ndims && used < len; i++) {
        int n = snprintf(buf + used, len - used, i ? "x%u" : "%u", (unsigned)x->dims[i]);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}

/* Magic, dims, then exactly count*item data bytes. */
static int nnrt_idx_body(gzFile g, int ndims, NnrtIdx *out, const char *path, char *err,
                         size_t errlen)
{
    unsigned char m[4];
    long long got = nnrt_gz_read(g, m, 4, path, err, errlen);
    if (got < 0 || nnrt_idx_magic(m, got, ndims, path, err, errlen) < 0)
        return -1;
    out->ndims = ndims;
    if (nnrt_idx_dims(g, out, path, err, errlen) < 0)
        return -1;
    size_t total = out->count * out->item;
    out->bytes = malloc(total ? total : 1);
    if (!out->bytes)
        return nnrt_errf(err, errlen, "%s: out of memory for %zu bytes", path, total);
    got = nnrt_gz_read(g, out->bytes, total, path, err, errlen);
    if (got < 0)
        return -1;
    if ((size_t)got < total) {
        char dims[64];
        nnrt_idx_dims_str(out, dims, sizeof dims);
        return nnrt_errf(err, errlen, "%s: truncated file (%lld of %zu data bytes for %s)",
                         path, got, total, dims);
    }
    return 0;
}

int nnrt_idx_read(const char *path, int ndims, NnrtIdx *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (ndims < 1 || ndims > 4)
        return nnrt_errf(err, errlen, "%s: IDX files with %d dimensions are not supported",
                         path, ndims);
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return nnrt_errf(err, errlen, "cannot open %s: %s", path,
                         errno ? strerror(errno) : "out of memory");
    int rc = nnrt_idx_body(g, ndims, out, path, err, errlen);
    gzclose(g);
    if (rc < 0)
        nnrt_idx_free(out);
    return rc;
}

void nnrt_idx_free(NnrtIdx *idx)
{
    free(idx->bytes);
    memset(idx, 0, sizeof *idx);
}
