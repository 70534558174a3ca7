#!/usr/bin/env python3
"""ref.py: an independent check of what an emitted trainer's --predict writes.

It knows nothing of nnc or its runtime: it reads the checkpoint by the
safetensors format rules (struct + json), takes the input transforms from
its __metadata__ as docs/language.md describes them, runs the model's
forward pass by hand in double, and compares every value and class of the
program's output with its own.

    ref.py check CKPT INPUT OUTPUT --layers W1,b1,tanh/W2,b2,none --in-dim 4
           [--header] [--label-col K] [--acc argmax|threshold=T|none]
           [--scale S]
        INPUT is IDX images (magic 0x803, raw or gzip) or CSV; --header: its
        first line is a header; --label-col K: column K (negative from the
        end) is the label, not an input.  Each layer of --layers is
        act(x W + b) with act tanh, sigmoid, relu or none.  The inputs are
        x = (raw * scale - mean) / std with the metadata's figures (or
        --scale S and nothing else where the checkpoint has none).  OUTPUT
        must be a header y0,...[,class] and a row per input row: every
        value within 1e-5 of ours, relative to the largest output of its
        row (an output near 0 among large ones is a sum that cancels, whose
        float rounding is the large terms'; absolute below 1e-3), the
        class the argmax (or y >= T, per output), written as its name where
        the metadata has class_names (CSV quoting undone by Python's csv).
        Prints "ref: N rows, M values, max error E" and exits 0, or one
        line "ref: FAIL ..." and exits 1.

    ref.py meta CKPT OUT [KEY=VALUE | -KEY]...
        OUT is CKPT with __metadata__ changed (a key set, or removed), the
        tensors as they were: hand-built checkpoints for the tests.

    ref.py idx CSV OUT ROWS COLS [--gzip]
        an IDX images file (0x803, count x ROWS x COLS bytes) from the first
        ROWS*COLS columns of CSV (a header line skipped), each value rounded
        to a byte.
"""
import csv
import gzip
import json
import math
import struct
import sys

TOL = 1e-5


class Fail(Exception):
    pass


def read_st(path):
    """(metadata, {name: (shape, [floats])}, raw header dict, data bytes)"""
    with open(path, "rb") as f:
        b = f.read()
    (n,) = struct.unpack("<Q", b[:8])
    head = json.loads(b[8:8 + n].decode("utf-8"))
    data = b[8 + n:]
    meta = head.pop("__metadata__", {})
    tensors = {}
    for name, e in head.items():
        lo, hi = e["data_offsets"]
        if e["dtype"] != "F32":
            continue
        vals = list(struct.unpack("<%df" % ((hi - lo) // 4), data[lo:hi]))
        tensors[name] = (e["shape"], vals)
    return meta, tensors, head, data


def write_st(path, meta, head, data):
    h = dict(head)
    full = {"__metadata__": meta}
    full.update(h)
    text = json.dumps(full, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def read_rows(path, in_dim, header, label_col):
    with open(path, "rb") as f:
        b = f.read()
    if b[:2] == b"\x1f\x8b":
        b = gzip.decompress(b)
    if b[:4] == b"\x00\x00\x08\x03":
        count, r, c = struct.unpack(">III", b[4:16])
        if r * c != in_dim:
            raise Fail("%s: images of %dx%d, the model has %d inputs" % (path, r, c, in_dim))
        px = b[16:]
        return [[float(v) for v in px[i * in_dim:(i + 1) * in_dim]] for i in range(count)]
    rows = []
    lines = [ln for ln in b.decode("utf-8").splitlines() if ln.strip()]
    for k, ln in enumerate(lines[1:] if header else lines):
        fields = next(csv.reader([ln]))
        if label_col is not None:
            del fields[label_col]
        if len(fields) != in_dim:
            raise Fail("%s: row %d has %d inputs, want %d" % (path, k + 1, len(fields), in_dim))
        rows.append([float(v) for v in fields])
    return rows


def transforms(meta, fallback_scale, in_dim):
    """(scale, [mean] * in_dim, [std] * in_dim) from the metadata."""
    if "normalize" not in meta:
        return fallback_scale, [0.0] * in_dim, [1.0] * in_dim
    scale = float(meta["scale"])
    mode = meta["normalize"]
    if mode == "none":
        return scale, [0.0] * in_dim, [1.0] * in_dim
    if mode == "all":
        return scale, [float(meta["mean"])] * in_dim, [float(meta["std"])] * in_dim
    return scale, [float(v) for v in meta["col_mean"].split(",")], [float(v) for v in meta["col_std"].split(",")]


ACTS = {"tanh": math.tanh, "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-v)),
        "relu": lambda v: max(v, 0.0), "none": lambda v: v}


def forward(tensors, layers, x):
    for wname, bname, act in layers:
        (k, n), w = tensors[wname]
        _, bias = tensors[bname]
        x = [ACTS[act](sum(x[i] * w[i * n + j] for i in range(k)) + bias[j]) for j in range(n)]
    return x


def classes(y, acc):
    """the expected class ids, and whether each is a near tie (either side
    may win in float)."""
    if acc == "none":
        return []
    if acc == "argmax":
        best = max(range(len(y)), key=lambda j: (y[j], -j))
        second = max((y[j] for j in range(len(y)) if j != best), default=-math.inf)
        return [(best, y[best] - second < 1e-5 * max(1.0, abs(y[best])))]
    t = float(acc.split("=")[1])
    return [(1 if v >= t else 0, abs(v - t) < 1e-5) for v in y]


def check(args):
    ckpt, inp, outp = args[:3]
    opts = args[3:]
    layers, in_dim, header, label_col, acc, fallback = [], 0, False, None, "argmax", 1.0
    i = 0
    while i < len(opts):
        o = opts[i]
        if o == "--header":
            header = True
            i += 1
            continue
        v = opts[i + 1]
        i += 2
        if o == "--layers":
            layers = [tuple(l.split(",")) for l in v.split("/")]
        elif o == "--in-dim":
            in_dim = int(v)
        elif o == "--label-col":
            label_col = int(v)
        elif o == "--acc":
            acc = v
        elif o == "--scale":
            fallback = float(v)
        else:
            raise Fail("unknown option " + o)
    meta, tensors, _, _ = read_st(ckpt)
    names = json.loads(meta["class_names"]) if "class_names" in meta else []
    scale, mean, std = transforms(meta, fallback, in_dim)
    rows = read_rows(inp, in_dim, header, label_col)
    with open(outp, newline="") as f:
        got = list(csv.reader(f))
    if not got:
        raise Fail("%s is empty" % outp)
    worst, values = 0.0, 0
    for r, raw in enumerate(rows):
        x = [(raw[j] * scale - mean[j]) / std[j] for j in range(in_dim)]
        y = forward(tensors, layers, x)
        want_cls = classes(y, acc)
        if r == 0:
            hdr = ["y%d" % j for j in range(len(y))]
            hdr += ["class"] if len(want_cls) == 1 else ["class%d" % j for j in range(len(want_cls))]
            if got[0] != hdr:
                raise Fail("header %r, want %r" % (got[0], hdr))
        if r + 1 >= len(got):
            raise Fail("%s has %d rows, want %d" % (outp, len(got) - 1, len(rows)))
        line = got[r + 1]
        if len(line) != len(y) + len(want_cls):
            raise Fail("row %d: %d fields, want %d: %r" % (r + 1, len(line), len(y) + len(want_cls), line))
        row_max = max(abs(v) for v in y)
        for j, v in enumerate(y):
            g = float(line[j])
            err = abs(g - v) / max(abs(g), abs(v), row_max, 1e-3)
            worst = max(worst, err)
            values += 1
            if not err <= TOL:
                raise Fail("row %d: y%d is %s, ref %.9g (error %.3g)" % (r + 1, j, line[j], v, err))
        for k, (cid, tie) in enumerate(want_cls):
            g = line[len(y) + k]
            want = names[cid] if cid < len(names) else str(cid)
            if g != want and not tie:
                raise Fail("row %d: class %r, ref %r (outputs %r)" % (r + 1, g, want, line[:len(y)]))
    if len(got) != len(rows) + 1:
        raise Fail("%s has %d rows, want %d" % (outp, len(got) - 1, len(rows)))
    print("ref: %d rows, %d values, max error %.2g" % (len(rows), values, worst))


def meta_cmd(args):
    ckpt, out = args[:2]
    meta, _, head, data = read_st(ckpt)
    for a in args[2:]:
        if a.startswith("-"):
            meta.pop(a[1:], None)
        else:
            k, v = a.split("=", 1)
            meta[k] = v
    write_st(out, meta, head, data)


def idx_cmd(args):
    src, out, r, c = args[0], args[1], int(args[2]), int(args[3])
    with open(src) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()][1:]
    px = bytearray()
    for ln in lines:
        px += bytes(max(0, min(255, round(float(v)))) for v in ln.split(",")[:r * c])
    b = b"\x00\x00\x08\x03" + struct.pack(">III", len(lines), r, c) + bytes(px)
    if "--gzip" in args:
        b = gzip.compress(b, mtime=0)
    with open(out, "wb") as f:
        f.write(b)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        {"check": check, "meta": meta_cmd, "idx": idx_cmd}[cmd](args)
    except Fail as e:
        print("ref: FAIL %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
