#!/usr/bin/env python3
"""gen_iris_like.py: writes tests/e2e/iris_like.csv and iris_like_test.csv.

An iris-like table made up here (not the iris data): three species, each
a Gaussian cloud in four measurements on very different scales (two in
centimetres, one in millimetres, one in grams), so that per-column
normalization matters.  The species column holds names, one of them with
a comma and quotes inside (written with its quotes doubled), and some
rows quote their numbers, as spreadsheets do.  The training file lists
the species in one order of first appearance, the test file in another,
so the test labels must be read through the training names.

    python3 tests/e2e/gen_iris_like.py      (from the repository root)

The output is fixed by the seed below; run_e2e.sh trains on it.
"""
import os
import random

SPECIES = ["setosa", "versicolor", 'virginica, "tall"']
#           sepal cm     width cm    petal mm      weight g
MEANS = [(5.0, 3.4, 14.0, 120.0), (5.9, 2.8, 42.0, 410.0), (6.6, 3.0, 55.0, 700.0)]
SDS = (0.45, 0.35, 8.0, 130.0)


def field(text):
    """RFC 4180: quote a field holding a comma or a quote, doubling quotes."""
    if "," in text or '"' in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def rows(rng, per_class, order):
    out = []
    for k in order:
        for _ in range(per_class):
            out.append(([rng.gauss(m, s) for m, s in zip(MEANS[k], SDS)], k))
    rng.shuffle(out)
    # first appearance in the order asked for: put one row of each up front
    firsts = []
    for k in order:
        i = next(i for i, r in enumerate(out) if r[1] == k)
        firsts.append(out.pop(i))
    return firsts + out


def write(path, data, rng):
    with open(path, "w", newline="") as f:
        f.write('"sepal length, cm","sepal width, cm","petal length, mm",weight_g,species\r\n')
        for x, k in data:
            nums = ["%.2f" % v for v in x]
            if rng.random() < 0.3:
                nums = ['"%s"' % v for v in nums]
            f.write(",".join(nums + [field(SPECIES[k])]) + "\r\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    rng = random.Random(20261206)
    write(os.path.join(here, "iris_like.csv"), rows(rng, 50, [1, 0, 2]), rng)
    write(os.path.join(here, "iris_like_test.csv"), rows(rng, 20, [2, 1, 0]), rng)


if __name__ == "__main__":
    main()
