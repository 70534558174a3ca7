#!/usr/bin/env python3
"""st_read.py: an independent reader of the checkpoints nnc's trainers write.

It knows nothing of nnc or its runtime, only the safetensors format rules:

    8 bytes   little-endian u64 N, the length of the JSON header
    N bytes   a JSON object: "__metadata__" (a map of strings to strings)
              and, for every tensor, {"dtype", "shape", "data_offsets"}
    data      the tensors' bytes; data_offsets [begin, end) are relative to
              the first byte after the header

It checks that the header parses, that every tensor has a known dtype, a
shape of non-negative integers, and offsets whose length is the shape's
element count times the dtype's size, and that the tensors, taken in order
of their offsets, tile the data exactly (no gap, no overlap, nothing left
over).  Then it prints the metadata and every tensor's values:

    st_read.py FILE
        meta model xor
        meta epoch 5000
        tensor h1.W F32 [2,8] 0.12345679 -1.5 ...

    st_read.py --mlp-bce h1,h2,h3,p --gate xor FILE
        also runs the checkpoint's sigmoid MLP (layer L is sigmoid(x @ L.W +
        L.b)) on the 4 rows of the logic table, in double, and prints
        "eval loss L acc A" with the mean binary cross-entropy (p clipped to
        [1e-7, 1 - 1e-7]) and the fraction of rows right (p >= 0.5), and
        one "row x0 x1 t p" line per row.

Exit status 0, or 1 after one line "st_read: FILE: PROBLEM" on stderr.
Standard library only (struct and json), so a checkpoint loads with nothing
but the format rules.
"""
import json
import math
import struct
import sys

DTYPES = {"F32": ("<f", 4), "F64": ("<d", 8), "I32": ("<i", 4),
          "F16": (None, 2), "BF16": (None, 2), "I64": ("<q", 8), "U8": ("<B", 1)}
GATES = {"and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "nand": [1, 1, 1, 0], "xor": [0, 1, 1, 0]}


class FormatError(Exception):
    pass


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def check_tensor(name, info):
    """The (dtype, shape, begin, end) of one header entry, checked."""
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise FormatError("tensor %s: want exactly dtype, shape and data_offsets, got %r" % (name, info))
    dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in DTYPES:
        raise FormatError("tensor %s: unknown dtype %r" % (name, dtype))
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise FormatError("tensor %s: shape %r is not a list of non-negative integers" % (name, shape))
    if (not isinstance(offs, list) or len(offs) != 2
            or not all(isinstance(o, int) and o >= 0 for o in offs) or offs[0] > offs[1]):
        raise FormatError("tensor %s: data_offsets %r are not [begin, end]" % (name, offs))
    want = numel(shape) * DTYPES[dtype][1]
    if offs[1] - offs[0] != want:
        raise FormatError("tensor %s: data_offsets %r hold %d bytes, shape %r of %s needs %d"
                          % (name, offs, offs[1] - offs[0], shape, dtype, want))
    return dtype, shape, offs[0], offs[1]


def read(path):
    """(metadata, [(name, dtype, shape, values)]) in header order."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise FormatError("%d bytes: shorter than the 8-byte header length" % len(blob))
    (hlen,) = struct.unpack("<Q", blob[:8])
    if 8 + hlen > len(blob):
        raise FormatError("header length %d runs past the end of the file (%d bytes)" % (hlen, len(blob)))
    try:
        header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError("the header is not JSON: %s" % e)
    if not isinstance(header, dict):
        raise FormatError("the header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise FormatError("__metadata__ is not a map of strings")
    data = blob[8 + hlen:]
    entries = [(name,) + check_tensor(name, info) for name, info in header.items()]
    pos = 0
    for name, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != pos:
            raise FormatError("tensor %s starts at %d, the previous one ends at %d (%s)"
                              % (name, begin, pos, "gap" if begin > pos else "overlap"))
        pos = end
    if pos != len(data):
        raise FormatError("the tensors cover %d data bytes, the file holds %d" % (pos, len(data)))
    tensors = []
    for name, dtype, shape, begin, end in entries:
        fmt, size = DTYPES[dtype]
        if fmt is None:
            raise FormatError("tensor %s: dtype %s is not read by this reader" % (name, dtype))
        count = (end - begin) // size
        values = list(struct.unpack("<%d%s" % (count, fmt[1]), data[begin:end]))
        tensors.append((name, dtype, shape, values))
    return meta, tensors


def fmt_value(v):
    return "%.9g" % v if isinstance(v, float) else str(v)


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def eval_mlp_bce(tensors, layers, gate):
    """Mean BCE and accuracy of the sigmoid MLP on the gate's 4 rows."""
    byname = {name: (shape, values) for name, _, shape, values in tensors}
    rows, total, right = [], 0.0, 0
    for i in range(4):
        x, t = [float(i >> 1), float(i & 1)], GATES[gate][i]
        h = x
        for layer in layers:
            (wshape, w), (_, b) = byname[layer + ".W"], byname[layer + ".b"]
            if len(wshape) != 2 or wshape[0] != len(h):
                raise FormatError("%s.W has shape %r, the layer input has %d values" % (layer, wshape, len(h)))
            k, m = wshape
            h = [sigmoid(sum(h[a] * w[a * m + j] for a in range(k)) + b[j]) for j in range(m)]
        p = min(max(h[0], 1e-7), 1 - 1e-7)
        total += -(t * math.log(p) + (1 - t) * math.log(1 - p))
        right += (h[0] >= 0.5) == (t == 1)
        rows.append((x, t, h[0]))
    return total / 4, right / 4.0, rows


def main(argv):
    args, layers, gate = argv[1:], None, "xor"
    while args and args[0].startswith("--"):
        if args[0] == "--mlp-bce" and len(args) > 1:
            layers, args = args[1].split(","), args[2:]
        elif args[0] == "--gate" and len(args) > 1 and args[1] in GATES:
            gate, args = args[1], args[2:]
        else:
            sys.stderr.write("usage: st_read.py [--mlp-bce L1,L2,.. [--gate and|or|nand|xor]] FILE\n")
            return 2
    if len(args) != 1:
        sys.stderr.write("usage: st_read.py [--mlp-bce L1,L2,.. [--gate and|or|nand|xor]] FILE\n")
        return 2
    path = args[0]
    try:
        meta, tensors = read(path)
        for key in sorted(meta):
            print("meta %s %s" % (key, meta[key]))
        for name, dtype, shape, values in tensors:
            print("tensor %s %s [%s] %s" % (name, dtype, ",".join(map(str, shape)),
                                            " ".join(fmt_value(v) for v in values)))
        if layers:
            loss, acc, rows = eval_mlp_bce(tensors, layers, gate)
            print("eval loss %.6f acc %.4f" % (loss, acc))
            for x, t, p in rows:
                print("row %g %g %d %.6f" % (x[0], x[1], t, p))
    except (OSError, FormatError, KeyError) as e:
        sys.stderr.write("st_read: %s: %s\n" % (path, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
