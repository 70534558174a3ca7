#!/usr/bin/env python3
"""iris_figures.py CSV CHECKPOINT: the per-column figures and class names a
checkpoint keeps, against the CSV file read independently.

The file is read with Python's csv module (RFC 4180 quoting), its header
skipped, the last column taken as the label; each input column's mean and
population standard deviation come from the statistics module, and the
class names in order of first appearance.  The checkpoint's __metadata__
(safetensors: u64 header length, JSON) must hold normalize "column",
col_mean and col_std within 1e-5 relative of those figures, and exactly
those class names.  Prints one line of figures; exit 1 on a mismatch.
"""
import csv
import json
import statistics
import struct
import sys


def main():
    with open(sys.argv[1], newline="") as f:
        rows = list(csv.reader(f))[1:]
    cols = list(zip(*[[float(v) for v in r[:-1]] for r in rows]))
    mean = [statistics.fmean(c) for c in cols]
    std = [statistics.pstdev(c) for c in cols]
    names = list(dict.fromkeys(r[-1] for r in rows))
    with open(sys.argv[2], "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n))["__metadata__"]
    got_mean = [float(v) for v in meta["col_mean"].split(",")]
    got_std = [float(v) for v in meta["col_std"].split(",")]
    got_names = json.loads(meta["class_names"])
    worst = max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(got_mean + got_std, mean + std))
    ok = (meta["normalize"] == "column" and len(got_mean) == len(mean) and len(got_std) == len(std)
          and worst <= 1e-5 and got_names == names)
    print("%d rows: col_mean %s, col_std %s (worst relative difference %.2g), class names %s"
          % (len(rows), ",".join("%.4g" % v for v in mean), ",".join("%.4g" % v for v in std),
             worst, json.dumps(got_names)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
