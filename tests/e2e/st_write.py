#!/usr/bin/env python3
"""st_write.py: safetensors files laid out as PyTorch's
safetensors.torch.save_file lays them out, with the standard library only.

That writer (the safetensors library's serializer) makes:

    8 bytes   little-endian u64 N
    N bytes   compact JSON (no spaces, non-ASCII written as UTF-8, control
              characters escaped): "__metadata__" first when metadata is
              given (save_file's default None writes none), then one entry
              per tensor, {"dtype":..,"shape":[..],"data_offsets":[b,e]},
              in the order of the data; padded with spaces to a multiple
              of 8 bytes
    data      the tensors back to back, little-endian, row-major, in order
              of dtype (the library's dtype list taken from its end: U64,
              I64, F64, C64, F32, U32, I32, BF16, F16, ...) and, within a
              dtype, of name (by bytes); offsets start at 0 and are
              contiguous

so each tensor starts at a multiple of its element size.  save(path,
tensors, metadata) writes such a file; tensors maps a name to (dtype,
shape, values), values a flat list of numbers (row-major) or bytes.

    st_write.py --self-check
        checks the writer against serialized bytes the library's own tests
        give (one F32 tensor "attn.0" of shape [1,2,3]; an empty file with
        and without metadata) and exits 0, or 1 naming the first
        difference.
"""
import json
import struct
import sys

# The library's dtype list in its order; files hold the later ones first.
ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
         "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64"]
PACK = {"F32": "<f", "F64": "<d", "F16": "<e", "I64": "<q", "I32": "<i", "I16": "<h",
        "U8": "<B", "I8": "<b", "BOOL": "<?", "U64": "<Q", "U32": "<I", "U16": "<H"}


def bf16(v):
    """bf16 bytes of v: the top half of its f32, rounded to nearest even."""
    (u,) = struct.unpack("<I", struct.pack("<f", v))
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return struct.pack("<H", u & 0xFFFF)


def tensor_bytes(dtype, values):
    if isinstance(values, (bytes, bytearray)):
        return bytes(values)
    if dtype == "BF16":
        return b"".join(bf16(v) for v in values)
    return b"".join(struct.pack(PACK[dtype], v) for v in values)


def serialize(tensors, metadata=None):
    """The file's bytes."""
    names = sorted(tensors, key=lambda n: (-ORDER.index(tensors[n][0]), n.encode("utf-8")))
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = []
    offset = 0
    for name in names:
        dtype, shape, values = tensors[name]
        b = tensor_bytes(dtype, values)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        data.append(b)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(data)


def save(path, tensors, metadata=None):
    with open(path, "wb") as f:
        f.write(serialize(tensors, metadata))


def self_check():
    """The library's own test vectors, byte for byte."""
    attn = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'
    floats = b"".join(struct.pack("<f", v) for v in [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    cases = [
        ("one F32 tensor", serialize({"attn.0": ("F32", [1, 2, 3], [0, 1, 2, 3, 4, 5])}),
         struct.pack("<Q", 64) + attn.encode() + floats),
        ("one F32 tensor, padded", serialize({"attn0": ("F32", [1, 1, 2, 3], [0, 1, 2, 3, 4, 5])}),
         struct.pack("<Q", 72) + attn.replace("attn.0", "attn0").replace("[1,2,3]", "[1,1,2,3]").encode()
         + b" " * 7 + floats),
        ("no tensors", serialize({}), struct.pack("<Q", 8) + b"{}" + b" " * 6),
        ("no tensors, metadata", serialize({}, {"framework": "pt"}),
         struct.pack("<Q", 40) + b'{"__metadata__":{"framework":"pt"}}' + b" " * 5),
    ]
    for label, got, want in cases:
        if got != want:
            print("st_write: %s: wrote %r, the library writes %r" % (label, got, want), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-check"]:
        sys.exit(self_check())
    print("usage: st_write.py --self-check (else import it)", file=sys.stderr)
    sys.exit(2)
