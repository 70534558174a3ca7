#!/usr/bin/env python3
"""svg_check.py: is a --plot chart well formed, and is it drawn?

    svg_check.py SVG PNG TITLE PANELS LEFT RIGHT

SVG is the trainer's chart and PNG the same chart rendered (rsvg-convert).
Checked, with the standard library only:
  - SVG parses as XML (xml.etree), its root is an SVG <svg> element whose
    width is PANELS times 460 units;
  - its <title> and its largest text are TITLE;
  - it has the axis titles ("epoch" per panel, "loss", and "accuracy" when
    PANELS is 2) and at least 3 numeric tick labels per panel;
  - the legend labels are those of the curves asked for;
  - the PNG (decoded here: zlib and the five PNG row filters) is not blank,
    and in each panel's plot area (the left and the right half of the
    picture, between the top and bottom axes: legends do not count) at
    least 30 pixels have each colour asked for: LEFT and RIGHT are comma
    lists of "label=rrggbb" (RIGHT "-" for none).

Prints one line of figures; exit 0, or 1 after one line naming what failed.
"""
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

SVG = "{http://www.w3.org/2000/svg}"


class Bad(Exception):
    pass


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def png_pixels(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB(A) PNG."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"\x89PNG\r\n\x1a\n":
        raise Bad("%s is not a PNG" % path)
    pos, idat, ihdr = 8, b"", None
    while pos < len(blob):
        (n,) = struct.unpack(">I", blob[pos:pos + 4])
        kind, body = blob[pos + 4:pos + 8], blob[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise Bad("%s: PNG of depth %d, colour type %d, interlace %d: not decoded here"
                  % (path, depth, ctype, interlace))
    bpp = 4 if ctype == 6 else 3
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + (0, a, b, (a + b) // 2, paeth(a, b, c))[ftype]) & 0xFF
        pixels = []
        for x in range(w):
            p = line[x * bpp:x * bpp + bpp]
            alpha = p[3] if bpp == 4 else 255  # over white
            pixels.append(tuple((v * alpha + 255 * (255 - alpha)) // 255 for v in p[:3]))
        rows.append(pixels)
        prev = line
    return w, h, rows


def near(p, q, tol=24):
    return all(abs(a - b) <= tol for a, b in zip(p, q))


def colours(spec):
    if spec == "-":
        return []
    out = []
    for item in spec.split(","):
        label, hexa = item.split("=")
        out.append((label, tuple(int(hexa[i:i + 2], 16) for i in (0, 2, 4))))
    return out


def number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def check(svg, png, title, panels, left, right):
    root = ET.parse(svg).getroot()  # raises on malformed XML
    if root.tag != SVG + "svg":
        raise Bad("the root element is %s, not svg" % root.tag)
    if float(root.get("width")) != 460 * panels:
        raise Bad("width %s, want %d for %d panel(s)" % (root.get("width"), 460 * panels, panels))
    t = root.find(SVG + "title")
    if t is None or t.text != title:
        raise Bad("<title> is %r, want %r" % (None if t is None else t.text, title))
    texts = [(e.text or "", e.get("font-size"), float(e.get("x", "0") or 0)) for e in root.iter(SVG + "text")]
    words = [x[0] for x in texts]
    if not any(s == title and f == "16" for s, f, _ in texts):
        raise Bad("no heading %r" % title)
    want = ["epoch"] * panels + ["loss"] + (["accuracy"] if panels == 2 else [])
    for w in set(want):
        if words.count(w) < want.count(w):
            raise Bad("axis title %r appears %d times, want %d" % (w, words.count(w), want.count(w)))
    half = 460.0
    for k in range(panels):
        ticks = [s for s, _, x in texts if number(s) and k * half <= x < (k + 1) * half]
        if len(ticks) < 6:
            raise Bad("panel %d has %d numeric tick labels, want at least 6 (3 per axis)" % (k + 1, len(ticks)))
        legend = sorted(set(s for s, _, x in texts if s in ("train", "test", "val")
                            and k * half <= x < (k + 1) * half))
        asked = sorted(set(lab for lab, _ in (left if k == 0 else right)))
        if legend != asked:
            raise Bad("panel %d's legend is %s, want %s" % (k + 1, legend, asked))
    w, h, rows = png_pixels(png)
    inked = sum(1 for r in rows for p in r if not near(p, (255, 255, 255), 8))
    if inked < w * h // 100:
        raise Bad("the PNG is blank: %d of %d pixels differ from white" % (inked, w * h))
    figures = ["%dx%d, %d inked" % (w, h, inked)]
    plot_rows = rows[52 * h // 390:302 * h // 390 + 1]  # the plot areas, not the legends
    for k, wanted in enumerate((left, right)[:panels]):
        x0, x1 = k * w // panels, (k + 1) * w // panels
        for label, rgb in wanted:
            n = sum(1 for r in plot_rows for p in r[x0:x1] if near(p, rgb))
            if n < 30:
                raise Bad("panel %d: %d pixels of %s's colour %02x%02x%02x in the plot area, "
                          "want at least 30" % (k + 1, n, label, *rgb))
            figures.append("panel %d %s %d px" % (k + 1, label, n))
    return ", ".join(figures)


def main(argv):
    if len(argv) != 7:
        print("usage: svg_check.py SVG PNG TITLE PANELS LEFT RIGHT", file=sys.stderr)
        return 2
    try:
        print(check(argv[1], argv[2], argv[3], int(argv[4]), colours(argv[5]), colours(argv[6])))
    except (Bad, ET.ParseError, OSError, zlib.error, struct.error, TypeError) as e:
        print("svg_check: %s: %s" % (argv[1], e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
