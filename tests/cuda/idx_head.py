"""tests/cuda/idx_head.py IN OUT COUNT: the first COUNT items of an IDX
file (raw or gzip) as a raw IDX file, so that tests can train on a small
part of Fashion-MNIST.  The header keeps its magic and dimensions, with
the first dimension set to COUNT."""
import gzip
import struct
import sys


def main():
    src, dst, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(src, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    ndims = data[3]
    dims = list(struct.unpack(">%dI" % ndims, data[4:4 + 4 * ndims]))
    item = 1
    for d in dims[1:]:
        item *= d
    count = min(count, dims[0])
    body = data[4 + 4 * ndims:4 + 4 * ndims + count * item]
    with open(dst, "wb") as f:
        f.write(data[:4] + struct.pack(">%dI" % ndims, count, *dims[1:]) + body)


if __name__ == "__main__":
    main()
