#!/usr/bin/env python3
"""gen_runtime_corpus.py: writes the seeds of fuzz_runtime (tests/fuzz/corpus/runtime/)
and its hand-made regression inputs (tests/fuzz/regress/runtime/).

Every seed is a valid (or nearly valid) input for one target of
tests/fuzz/fuzz_runtime.c: byte 0 the target ('0'..'5'), byte 1 the flags,
then the payload; fuzz_runtime.c's top comment says what the flags mean.
The regression inputs are ones the harness must pass through without a
report (tests/run_libfuzzer.sh replays them before fuzzing).  The files are
checked in; run this again after changing the input layout:

    python3 tests/fuzz/gen_runtime_corpus.py
"""
import gzip
import json
import os
import struct
import sys


def idx(dims, data):
    """An IDX file of unsigned bytes: 00 00 08 ND, the dims (big-endian u32), the bytes."""
    head = bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return head + bytes(data)


def gz(b):
    return gzip.compress(b, mtime=0)


def safetensors(model, tensors, epoch=3, step=12, framed=False, meta=None):
    """A checkpoint as nnrt_ckpt_save writes it: tensors is [(name, shape, floats)].
    framed: target 5's framed payload instead (JSON, NUL, data; the harness
    writes the length and pads).  meta: more __metadata__ (the figures)."""
    head = {"__metadata__": {"model": model, "epoch": str(epoch), "step": str(step)}}
    head["__metadata__"].update(meta or {})
    data, off = b"", 0
    for name, shape, vals in tensors:
        blob = struct.pack("<%df" % len(vals), *vals)
        head[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(blob)]}
        data += blob
        off += len(blob)
    h = json.dumps(head, separators=(",", ":")).encode()
    if framed:
        return h + b"\0" + data
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def seed(target, flags, payload):
    return bytes([ord("0") + target, flags]) + payload


def split(images, labels, classes=3):
    """Target 3's payload: the images file's length (u16 little-endian), the
    model's class count (a byte), images, labels."""
    return struct.pack("<HB", len(images), classes) + images + labels


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    labels = idx([6], [0, 1, 2, 1, 0, 2])
    images = idx([6, 2, 2], range(0, 240, 10))      # 6 images of 2x2 (in_dim 4)
    seeds = {
        # 0: nnrt_idx_read on the file as it is; ndims = 1 + flags % 4, row size flags >> 2
        "idx_labels": seed(0, 0, labels),
        "idx_labels_item": seed(0, 0 | 1 << 2, labels),
        "idx_images": seed(0, 2 | 4 << 2, images),
        "idx_images_any": seed(0, 2, images),
        "idx_2d": seed(0, 1 | 5 << 2, idx([3, 5], range(15))),
        "idx_4d": seed(0, 3 | 8 << 2, idx([2, 2, 2, 2], range(16))),
        "idx_empty": seed(0, 0, idx([0], [])),
        "idx_labels_gz": seed(0, 0, gz(labels)),
        "idx_images_gz": seed(0, 2 | 4 << 2, gz(images)),
        # 1: the payload gzip-compressed by the harness; bits 2-3 mangle the stream
        "gz_labels": seed(1, 0, labels),
        "gz_images": seed(1, 2 | 0x80, images),
        "gz_two_members": seed(1, 0x0e, images),
        # 2: nnrt_csv_read; bit 0 header, label column (flags >> 2 & 7) - 4,
        #    bit 1 class ids below 1 + (flags >> 5) (8: 2^24)
        "csv_header_ids": seed(2, 1 | 2 | 3 << 2 | 2 << 5, b"a,b,label\n1,2,0\n3.5,-4e1,1\n 5 , 6 ,2.0\n"),
        "csv_crlf_blank": seed(2, 0 | 2 | 3 << 2 | 1 << 5, b"1,2,1\r\n\r\n3,4,0\r\n"),
        "csv_label_first": seed(2, 1 | 4 << 2, b"y,x1,x2,x3\n0.5,1,2,3\n-1,4,5,6\n"),
        "csv_floats": seed(2, 0 | 3 << 2, b"1e-3,.5,2.\n-0,1E+2,0.25\n"),
        "csv_big_label": seed(2, 2 | 3 << 2 | 7 << 5, b"1,16777215\n2,16777217\n"),
        #    quoted fields (RFC 4180) and label columns of class names
        "csv_quoted": seed(2, 1 | 2 | 3 << 2 | 2 << 5,
                           b'"a, b","say ""hi""",label\n"1.5", 2 ,"0"\n 3 ,"4e-1",2\n'),
        "csv_names": seed(2, 1 | 2 | 3 << 2 | 2 << 5,
                          b'x1,x2,species\n1,2,setosa\n3,4,"Iris virginica"\n5,6, setosa \n'),
        "csv_names_quoted": seed(2, 2 | 3 << 2 | 3 << 5, b'1,"a, ""b"""\n2,c\n3,"a, ""b"""\n'),
        "csv_names_too_many": seed(2, 2 | 3 << 2 | 1 << 5, b"1,cat\n2,dog\n3,emu\n"),
        "csv_quote_open": seed(2, 2 | 3 << 2 | 2 << 5, b'1,"2\n3,4\n'),
        # 3: nnrt_data_load(idx); in_dim 1 + (flags & 15), labels flags >> 4 & 3,
        #    bit 6 normalize, bit 7 gzip both files; class count in the payload
        "data_idx_class": seed(3, 3, split(images, labels)),
        "data_idx_float1": seed(3, 3 | 1 << 4, split(images, idx([6], [0, 1, 1, 0, 1, 0])),),
        "data_idx_onehot3": seed(3, 3 | 2 << 4 | 0x40, split(images, labels)),
        "data_idx_onehot4_gz": seed(3, 3 | 3 << 4 | 0x80, split(images, labels)),
        "data_idx_norm_gz": seed(3, 3 | 0x40 | 0x80, split(images, labels)),
        "data_idx_mnistlike": seed(3, 15, split(idx([3, 4, 4], range(48)), idx([3], [9, 0, 4]), 10)),
        "data_idx_1based": seed(3, 3, split(images, idx([6], [1, 2, 3, 1, 2, 3]))),
        # 4: nnrt_data_load(csv); in_dim 1 + (flags & 7), labels flags >> 3 & 3,
        #    bit 5 header, bit 6 label column 0 (else -1), bit 7 normalize;
        #    payload byte 0 the class count (bit 7: per column)
        "data_csv_class": seed(4, 2 | 0x20, b"\x03a,b,c,t\n1,2,3,0\n4,5,6,2\n7,8,9,1\n"),
        "data_csv_float": seed(4, 1 | 1 << 3 | 0x80, b"\x02" b"0.1,0.2,1\n0.3,0.4,0\n"),
        "data_csv_onehot": seed(4, 1 | 2 << 3 | 0x40 | 0x20, b"\x03t,x,y\n2,0.5,0.5\n0,1,1\n1,-1,2\n"),
        "data_csv_onehot4": seed(4, 0 | 3 << 3, b"\x04" b"1,3\n2,0\n"),
        "data_csv_3_classes_of_2": seed(4, 1, b"\x02" b"0.5,2\n0.1,1\n"),
        "data_csv_columns": seed(4, 1 | 0x20 | 0x80, b"\x84" b'a,"b, c",t\n1,10,0\n2,10,1\n3,10,2\n4,10,a\n'),
        "data_csv_names": seed(4, 0 | 0x20, b"\x03" b'x,"y"\n0.5,"b, c"\n0.1,a\n0.2,"b, c"\n'),
        # 5: nnrt_ckpt_load into "fuzz": W [3,2], b [2]; bit 0 also opt.W.m, opt.b.m
        "ckpt_params": seed(5, 0, safetensors("fuzz", [("W", [3, 2], [0.5] * 6), ("b", [2], [1, 2])])),
        "ckpt_state": seed(5, 1, safetensors("fuzz", [
            ("W", [3, 2], [1, 2, 3, 4, 5, 6]), ("b", [2], [7, 8]),
            ("opt.W.m", [3, 2], [0] * 6), ("opt.b.m", [2], [0, 0])], epoch=9, step=90)),
        "ckpt_extra_tensor": seed(5, 0, safetensors("fuzz", [
            ("b", [2], [1, 2]), ("W", [3, 2], [0] * 6), ("extra", [1], [3])])),
        "ckpt_other_model": seed(5, 0, safetensors("other", [("W", [3, 2], [0] * 6), ("b", [2], [1, 2])])),
        #    bit 1: framed (JSON, NUL, data), bit 2: header padded to 8
        "ckpt_framed": seed(5, 2 | 4, safetensors("fuzz", [("W", [3, 2], [0.5] * 6), ("b", [2], [1, 2])],
                                                  framed=True)),
        "ckpt_framed_state": seed(5, 1 | 2 | 4, safetensors("fuzz", [
            ("W", [3, 2], [1, 2, 3, 4, 5, 6]), ("b", [2], [7, 8]),
            ("opt.W.m", [3, 2], [0] * 6), ("opt.b.m", [2], [0, 0])], framed=True)),
        "ckpt_framed_unpadded": seed(5, 2, safetensors("fuzz", [("b", [2], [1, 2]), ("W", [3, 2], [9] * 6)],
                                                       framed=True)),
        #    the figures prediction needs (in_dim 3; bit 3: at most 2 class names)
        "ckpt_meta_all": seed(5, 8, safetensors("fuzz", [("W", [3, 2], [0.5] * 6), ("b", [2], [1, 2])], meta={
            "scale": "0.00392156886", "normalize": "all", "mean": "0.13", "std": "0.31",
            "class_names": json.dumps(["no", "yes, \"sure\""])})),
        "ckpt_meta_column": seed(5, 2 | 4, safetensors("fuzz", [("W", [3, 2], [0.5] * 6), ("b", [2], [1, 2])],
                                                       framed=True, meta={
            "scale": "1", "normalize": "column", "col_mean": "0.5,-1e-3,3.40282347e+38",
            "col_std": "1,1.40129846e-45,2"})),
    }
    regress = {
        # a gzip IDX file whose CRC/length trailer is cut by 4 bytes, and one
        # with text after the stream: both must be refused
        "gz_cut_trailer": seed(1, 0x04 | 0x30, labels),
        "gz_extra_bytes": seed(1, 0x08, labels),
        # headers that claim gigabytes in a few bytes: refused before any
        # large allocation (once malloc'd 4 GiB, 16 GiB, 4 GiB, 4 GiB)
        "idx_huge_raw": seed(0, 0, idx([0xFFFFFFFF], [])),
        "idx_huge_images_raw": seed(0, 2, idx([1 << 20, 128, 128], [1, 2, 3])),
        "idx_huge_gz": seed(1, 2, idx([1 << 24, 16, 16], range(64))),
        "data_idx_huge": seed(3, 3, split(idx([1 << 30, 2, 2], []), labels)),
        # CSV: a first row of 20,000 fields, then 40,000 blank lines (once
        # lines x fields x 4 bytes = 3.2 GB asked for up front)
        "csv_wide_then_blank": seed(2, 0, b"0," * 19999 + b"0\n" + b"\n" * 40000),
    }
    for sub, files in (("corpus", seeds), ("regress", regress)):
        out = os.path.join(here, sub, "runtime")
        os.makedirs(out, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
        print("gen_runtime_corpus: %d files in %s" % (len(files), os.path.relpath(out)))


if __name__ == "__main__":
    main()
